// Shared values in the IR (policy/shared.h, origin.h, interner.h): sharing
// storage changes memory only, never what a filter compares equal to.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/chain_builder.h"
#include "policy/interner.h"
#include "policy/ir.h"

namespace vfguard::policy {
namespace {

TEST(Shared, DefaultHasTheDefaultValueAndCopiesShareStorage) {
  Shared<std::vector<Action>> none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none, std::vector<Action>{});
  Shared<std::vector<Action>> a = {Drop()};
  Shared<std::vector<Action>> b = a;
  EXPECT_TRUE(a.SameStorage(b));
  EXPECT_FALSE(a.Unique());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].kind, Action::Kind::kDrop);
}

TEST(Shared, MutableCopiesASharedValueFirst) {
  Shared<FlowerMatch> a = FlowerMatch{};
  Shared<FlowerMatch> b = a;
  b.Mutable().ip_proto = 6;
  EXPECT_FALSE(a->ip_proto.has_value()) << "the other holder saw the change";
  EXPECT_EQ(b->ip_proto, 6);
  EXPECT_FALSE(a.SameStorage(b));
  EXPECT_TRUE(b.Unique());
  const FlowerMatch* before = &b.get();
  b.Mutable().ip_proto = 17;  // sole holder: changed in place
  EXPECT_EQ(&b.get(), before);
  EXPECT_EQ(b->ip_proto, 17);
}

TEST(Shared, ComparesValuesNotStorage) {
  FlowerMatch m;
  m.dst_port = ExactPort(80);
  Shared<FlowerMatch> a = m;
  Shared<FlowerMatch> b = m;
  EXPECT_FALSE(a.SameStorage(b));
  EXPECT_EQ(a, b);
  FlowerMatch n = m;
  n.dst_port = ExactPort(81);
  Shared<FlowerMatch> c = n;
  EXPECT_NE(a, c);
  EXPECT_EQ(a < c, m < n);
  EXPECT_EQ(c < a, n < m);
}

TEST(Origin, TextIsTheSameWhateverTheSplit) {
  const std::string text = "port p1: ingress sg web rule 3";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Origin split(Shared<std::string>(text.substr(0, cut)), Shared<std::string>(text.substr(cut)));
    EXPECT_EQ(split, Origin(text)) << cut;
    EXPECT_EQ(split, text) << cut;
    EXPECT_EQ(split.str(), text);
    EXPECT_EQ(split.size(), text.size());
    EXPECT_TRUE(split.StartsWith("port p1: ing")) << cut;
    EXPECT_TRUE(split.StartsWith(text)) << cut;
    EXPECT_FALSE(split.StartsWith("port p2")) << cut;
    EXPECT_FALSE(split.StartsWith(text + "x")) << cut;
  }
  EXPECT_TRUE(Origin().empty());
  EXPECT_FALSE(Origin("x").empty());
}

TEST(Origin, OrdersAsItsText) {
  const std::vector<std::string> texts = {"",      "a",    "ab",    "abc",  "b",
                                          "port ", "port", "a\xff", "a\x01"};
  for (const std::string& x : texts) {
    for (const std::string& y : texts) {
      for (size_t cx = 0; cx <= x.size(); ++cx) {
        for (size_t cy = 0; cy <= y.size(); ++cy) {
          Origin ox(Shared<std::string>(x.substr(0, cx)), Shared<std::string>(x.substr(cx)));
          Origin oy(Shared<std::string>(y.substr(0, cy)), Shared<std::string>(y.substr(cy)));
          EXPECT_EQ(ox <=> oy, x <=> y) << "'" << x << "' vs '" << y << "'";
          EXPECT_EQ(ox == oy, x == y);
        }
      }
    }
  }
}

Filter RuleFilter(const std::string& port, uint16_t dport) {
  Filter f;
  f.protocol = kEthIPv4;
  FlowerMatch m;
  m.ip_proto = 6;
  m.dst_port = ExactPort(dport);
  f.match = m;
  f.actions = {GotoChain(7)};
  f.origin = "port " + port + ": ingress sg web rule 0";
  return f;
}

TEST(Interner, EqualValuesShareOneCopyAndFiltersStayEqual) {
  Filter a = RuleFilter("p1", 80);
  Filter b = RuleFilter("p2", 80);
  Filter c = RuleFilter("p1", 443);
  const Filter a0 = a, b0 = b, c0 = c;
  EXPECT_FALSE(a.match.SameStorage(b.match));
  Interner in;
  in.Intern(a);
  in.Intern(b);
  in.Intern(c);
  EXPECT_EQ(a, a0);
  EXPECT_EQ(b, b0);
  EXPECT_EQ(c, c0);
  EXPECT_TRUE(a.match.SameStorage(b.match));
  EXPECT_FALSE(a.match.SameStorage(c.match));
  EXPECT_TRUE(a.actions.SameStorage(c.actions));
  // The origin is split after the owner: the rule's text is shared by the
  // ports, the owner by the filters of one port.
  EXPECT_EQ(*a.origin.head(), "port p1: ");
  EXPECT_EQ(*a.origin.tail(), "ingress sg web rule 0");
  EXPECT_TRUE(a.origin.tail().SameStorage(b.origin.tail()));
  EXPECT_TRUE(a.origin.head().SameStorage(c.origin.head()));
  EXPECT_FALSE(a.origin.head().SameStorage(b.origin.head()));
}

TEST(Interner, PruneForgetsOnlyWhatNoFilterHolds) {
  Interner in;
  Filter kept = RuleFilter("p1", 80);
  in.Intern(kept);
  {
    Filter gone = RuleFilter("p2", 443);
    in.Intern(gone);
  }
  const size_t before = in.size();
  in.Prune();
  // "gone" held its match and its owner piece alone; the rest is kept's.
  EXPECT_EQ(in.size(), before - 2);
  Filter again = RuleFilter("p3", 80);
  in.Intern(again);
  EXPECT_TRUE(again.match.SameStorage(kept.match)) << "a value still held was forgotten";
}

}  // namespace
}  // namespace vfguard::policy
