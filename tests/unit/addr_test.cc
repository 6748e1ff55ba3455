#include "policy/addr.h"

#include <gtest/gtest.h>

namespace vfguard::policy {
namespace {

TEST(MacAddr, ParsesAndPrints) {
  auto m = MacAddr::Parse("02:AB:cd:00:00:ff");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->ToString(), "02:ab:cd:00:00:ff");
  EXPECT_FALSE(m->IsMulticast());
  EXPECT_TRUE(MacAddr::Broadcast().IsMulticast());
}

TEST(MacAddr, RejectsMalformed) {
  for (const char* bad : {"", "02:ab:cd:00:00", "02:ab:cd:00:00:ff:11", "02-ab-cd-00-00-ff",
                          "2:ab:cd:00:00:ff", "02:ab:cd:00:00:fg", " 02:ab:cd:00:00:ff"}) {
    EXPECT_FALSE(MacAddr::Parse(bad)) << bad;
  }
}

TEST(IpAddr, ParsesV4Strictly) {
  EXPECT_EQ(IpAddr::Parse("10.0.0.255")->ToString(), "10.0.0.255");
  for (const char* bad : {"10.0.0.300", "1.2.3", "1.2.3.4.5", "010.0.0.1", "", " 1.2.3.4",
                          "1.2.3.4 ", "1..2.3", "a.b.c.d", "-1.2.3.4"}) {
    EXPECT_FALSE(IpAddr::Parse(bad)) << bad;
  }
}

TEST(IpAddr, ParsesV6) {
  auto a = IpAddr::Parse("FD00::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, IpFamily::kV6);
  EXPECT_EQ(a->ToString(), "fd00::1");
  EXPECT_FALSE(IpAddr::Parse("fd00:::1"));
  EXPECT_FALSE(IpAddr::Parse("fd00::1/64"));
}

TEST(IpAddr, LinkLocalFromMacIsEui64) {
  EXPECT_EQ(IpAddr::LinkLocalFromMac(*MacAddr::Parse("52:54:00:12:34:56")).ToString(),
            "fe80::5054:ff:fe12:3456");
}

TEST(IpAddr, Multicast) {
  EXPECT_TRUE(IpAddr::Parse("224.0.0.18")->IsMulticast());
  EXPECT_TRUE(IpAddr::Parse("ff02::1")->IsMulticast());
  EXPECT_FALSE(IpAddr::Parse("10.0.0.1")->IsMulticast());
}

TEST(IpPrefix, ParsesAndContains) {
  auto p = IpPrefix::Parse("10.0.0.0/24");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->Contains(*IpAddr::Parse("10.0.0.200")));
  EXPECT_FALSE(p->Contains(*IpAddr::Parse("10.0.1.1")));
  EXPECT_FALSE(p->Contains(*IpAddr::Parse("fd00::1")));
  EXPECT_EQ(IpPrefix::Parse("10.0.0.7")->length, 32);
  EXPECT_EQ(IpPrefix::Parse("10.0.0.7/24")->ToString(), "10.0.0.0/24");
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.7/24", /*strict=*/true));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/33"));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/"));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/08"));
  EXPECT_EQ(IpPrefix::Parse("fd00::/64")->Mask().ToString(), "ffff:ffff:ffff:ffff::");
  EXPECT_TRUE(IpPrefix::Parse("0.0.0.0/0")->Contains(*IpAddr::Parse("8.8.8.8")));
}

}  // namespace
}  // namespace vfguard::policy
