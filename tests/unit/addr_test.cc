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

TEST(IpAddr, V6EdgeCases) {
  EXPECT_EQ(IpAddr::Parse("2001:DB8:0:0:0:0:0:1")->ToString(), "2001:db8::1");
  EXPECT_EQ(IpAddr::Parse("1:2:3:4:5:6:7::")->ToString(), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(IpAddr::Parse("::")->ToString(), "::");
  EXPECT_TRUE(IpAddr::Parse("::")->IsUnspecified());
  EXPECT_EQ(IpAddr::Parse("::ffff:10.0.0.1")->family, IpFamily::kV6);
  for (const char* bad : {" ::1", "::1 ", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "::ffff:010.0.0.1",
                          "::ffff:1.2.3", "0:0:0:0:0:0:0:0:", ":", "12345::1"}) {
    EXPECT_FALSE(IpAddr::Parse(bad)) << bad;
  }
  // inet_pton would stop at the NUL and accept the "::1" before it.
  EXPECT_FALSE(IpAddr::Parse(std::string_view("::1\0zz", 6)));
  EXPECT_FALSE(IpAddr::Parse(std::string_view("10.0.0.1\0", 9)));
}

TEST(IpAddr, V4RoundTripsThroughHostOrder) {
  for (uint32_t v : {0u, 1u, 0x0a000001u, 0x7fffffffu, 0x80000000u, 0xe0000012u, 0xffffffffu}) {
    IpAddr a = IpAddr::V4(v);
    EXPECT_EQ(a.V4HostOrder(), v);
    EXPECT_EQ(IpAddr::Parse(a.ToString()), a) << a.ToString();
  }
  EXPECT_EQ(IpAddr::V4(0x0a000001u).ToString(), "10.0.0.1");
  EXPECT_TRUE(IpAddr::Parse("239.255.255.255")->IsMulticast());
  EXPECT_FALSE(IpAddr::Parse("223.255.255.255")->IsMulticast());
}

TEST(IpAddr, LinkLocalFlipsTheUniversalLocalBit) {
  // A locally administered MAC (bit set) gives a cleared bit, and back.
  EXPECT_EQ(IpAddr::LinkLocalFromMac(*MacAddr::Parse("02:00:00:00:00:01")).ToString(),
            "fe80::ff:fe00:1");
  EXPECT_EQ(IpAddr::LinkLocalFromMac(*MacAddr::Parse("00:00:00:00:00:01")).ToString(),
            "fe80::200:ff:fe00:1");
  IpAddr ll = IpAddr::LinkLocalFromMac(*MacAddr::Parse("ff:ff:ff:ff:ff:ff"));
  EXPECT_EQ(ll.ToString(), "fe80::fdff:ffff:feff:ffff");
  EXPECT_TRUE(IpPrefix::Parse("fe80::/64")->Contains(ll));
}

TEST(IpPrefix, MasksAndEdgeLengths) {
  EXPECT_EQ(IpPrefix::Parse("0.0.0.0/0")->Mask().ToString(), "0.0.0.0");
  EXPECT_EQ(IpPrefix::Parse("128.0.0.0/1")->Mask().ToString(), "128.0.0.0");
  EXPECT_EQ(IpPrefix::Parse("10.0.0.2/31")->Mask().ToString(), "255.255.255.254");
  EXPECT_EQ(IpPrefix::Parse("fd00::/127")->Mask().ToString(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
  EXPECT_EQ(IpPrefix::Parse("fd00::1")->length, 128);
  EXPECT_EQ(IpPrefix::Parse("fd00::1/128")->ToString(), "fd00::1/128");
  EXPECT_FALSE(IpPrefix::Parse("fd00::/129"));
  EXPECT_FALSE(IpPrefix::Parse("::/0")->Contains(*IpAddr::Parse("10.0.0.1")));
  EXPECT_TRUE(IpPrefix::Parse("::/0")->Contains(*IpAddr::Parse("fd00::1")));
  EXPECT_TRUE(IpPrefix::Parse("10.0.0.2/31")->Contains(*IpAddr::Parse("10.0.0.3")));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.2/31")->Contains(*IpAddr::Parse("10.0.0.4")));
  EXPECT_EQ(IpPrefix::Host(*IpAddr::Parse("fd00::9")).ToString(), "fd00::9/128");
  for (const char* bad : {"10.0.0.0/+8", "10.0.0.0/ 8", "/8", "10.0.0.0/8/8", "10.0.0.0/-1",
                          "10.0.0.300/8", "10.0.0.0/1000"}) {
    EXPECT_FALSE(IpPrefix::Parse(bad)) << bad;
  }
  EXPECT_TRUE(IpPrefix::Parse("fd00::/64", /*strict=*/true));
  EXPECT_FALSE(IpPrefix::Parse("fd00::1/64", /*strict=*/true));
}

TEST(MacAddr, Predicates) {
  EXPECT_TRUE(MacAddr{}.IsZero());
  EXPECT_FALSE(MacAddr{}.IsMulticast());
  EXPECT_TRUE(MacAddr::Parse("33:33:00:00:00:01")->IsMulticast());
  EXPECT_FALSE(MacAddr::Parse("02:00:00:00:00:00")->IsMulticast());
  EXPECT_EQ(MacAddr::Broadcast().ToString(), "ff:ff:ff:ff:ff:ff");
  EXPECT_LT(*MacAddr::Parse("02:00:00:00:00:01"), *MacAddr::Parse("02:00:00:00:01:00"));
}

}  // namespace
}  // namespace vfguard::policy
