// Exact prefix aggregation: results cover exactly the input's addresses and
// are minimal for the cases an orchestrator produces (contiguous pools).
#include "policy/prefix_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace vfguard::policy {
namespace {

IpPrefix P(const char* t) { return *IpPrefix::Parse(t); }

std::vector<std::string> Text(const std::vector<IpPrefix>& v) {
  std::vector<std::string> out;
  for (const IpPrefix& p : v) out.push_back(p.ToString());
  return out;
}

TEST(AggregatePrefixes, MergesSiblingsAndDropsContained) {
  EXPECT_EQ(Text(AggregatePrefixes({P("10.0.0.0"), P("10.0.0.1"), P("10.0.0.2"), P("10.0.0.3")})),
            (std::vector<std::string>{"10.0.0.0/30"}));
  EXPECT_EQ(Text(AggregatePrefixes({P("10.0.0.1"), P("10.0.0.2")})),
            (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/32"}));  // not siblings
  EXPECT_EQ(Text(AggregatePrefixes({P("10.0.0.5"), P("10.0.0.0/24"), P("10.1.0.0/16")})),
            (std::vector<std::string>{"10.0.0.0/24", "10.1.0.0/16"}));
  // A cascade: .0/31 and .2/31 make .0/30, which meets .4/30.
  EXPECT_EQ(Text(AggregatePrefixes({P("10.0.0.4/30"), P("10.0.0.2/31"), P("10.0.0.0/31")})),
            (std::vector<std::string>{"10.0.0.0/29"}));
  EXPECT_EQ(Text(AggregatePrefixes({P("0.0.0.0/1"), P("128.0.0.0/1")})),
            (std::vector<std::string>{"0.0.0.0/0"}));
  EXPECT_EQ(Text(AggregatePrefixes({P("fd00::"), P("fd00::1"), P("10.0.0.0"), P("10.0.0.1")})),
            (std::vector<std::string>{"10.0.0.0/31", "fd00::/127"}));
  EXPECT_TRUE(AggregatePrefixes({}).empty());
}

TEST(AggregatePrefixes, ContiguousPoolIsLogarithmic) {
  // 10.8.0.1 .. 10.8.3.232: 1,000 hosts.
  std::vector<IpPrefix> hosts;
  for (uint32_t i = 1; i <= 1000; ++i) hosts.push_back(IpPrefix::Host(IpAddr::V4(0x0a080000 + i)));
  std::vector<IpPrefix> agg = AggregatePrefixes(hosts);
  EXPECT_LE(agg.size(), 2u * 10);
  // .1/32 .2/31 .4/30 ... .0.128/25, .1.0/24, .2.0/24, .3.0/25 ... .3.224/29, .3.232/32
  EXPECT_EQ(agg.size(), 15u);
}

// Random sets over a small space: membership of every address is preserved
// and no two results overlap or are siblings.
TEST(AggregatePrefixes, ExactOnRandomSets) {
  std::mt19937 rng(14);
  for (int round = 0; round < 500; ++round) {
    std::vector<IpPrefix> in;
    int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int i = 0; i < n; ++i) {
      uint32_t len = std::uniform_int_distribution<uint32_t>(25, 32)(rng);
      uint32_t addr = 0x0a000000 + std::uniform_int_distribution<uint32_t>(0, 255)(rng);
      addr &= len == 0 ? 0 : ~((1ull << (32 - len)) - 1);
      in.push_back(IpPrefix{IpAddr::V4(addr), static_cast<uint8_t>(len)});
    }
    std::vector<IpPrefix> out = AggregatePrefixes(in);
    for (uint32_t a = 0x0a000000; a < 0x0a000100; ++a) {
      IpAddr ip = IpAddr::V4(a);
      bool want = false, got = false;
      int covering = 0;
      for (const IpPrefix& p : in) want = want || p.Contains(ip);
      for (const IpPrefix& p : out) {
        if (p.Contains(ip)) ++covering;
      }
      got = covering > 0;
      ASSERT_EQ(want, got) << "round " << round << " address " << ip.ToString();
      ASSERT_LE(covering, 1) << "round " << round << " overlapping results";
    }
    for (size_t i = 1; i < out.size(); ++i) {
      IpPrefix parent{out[i - 1].addr, static_cast<uint8_t>(out[i - 1].length - 1)};
      bool siblings = out[i - 1].length == out[i].length && out[i - 1].length > 0 &&
                      AggregatePrefixes({out[i - 1], out[i]}).size() == 1;
      EXPECT_FALSE(siblings) << "round " << round << ": " << out[i - 1].ToString() << " and "
                             << out[i].ToString() << " should have merged into "
                             << parent.ToString();
    }
  }
}

}  // namespace
}  // namespace vfguard::policy
