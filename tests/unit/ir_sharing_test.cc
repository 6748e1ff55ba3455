// Shared values in the IR (policy/shared.h, origin.h, interner.h): sharing
// storage changes memory only, never what a filter compares equal to.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/chain_builder.h"
#include "policy/interner.h"
#include "policy/ir.h"
#include "policy/shared_text.h"

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

TEST(SharedText, HoldsItsTextAndCopiesShareIt) {
  SharedText none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(*none, "");
  EXPECT_TRUE(none.SameStorage(SharedText("")));
  const std::string long_text(100, 'x');
  SharedText a(long_text);
  EXPECT_EQ(*a, long_text);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_TRUE(a.Unique());
  SharedText b = a;
  EXPECT_TRUE(b.SameStorage(a));
  EXPECT_FALSE(a.Unique());
  SharedText c("x");
  EXPECT_FALSE(c.SameStorage(a));
  EXPECT_NE(c, a);
  EXPECT_EQ(SharedText(long_text), a) << "compares texts, not storage";
  c = std::move(b);
  EXPECT_TRUE(c.SameStorage(a));
  EXPECT_TRUE(b.empty());
}

TEST(Origin, TextIsTheSameWhateverTheSplit) {
  const std::string text = "port p1: ingress sg web rule 3";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Origin split(SharedText(text.substr(0, cut)), SharedText(text.substr(cut)));
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
          Origin ox(SharedText(x.substr(0, cx)), SharedText(x.substr(cx)));
          Origin oy(SharedText(y.substr(0, cy)), SharedText(y.substr(cy)));
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
  f.SetOrigin("port " + port + ": ingress sg web rule 0");
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
  EXPECT_EQ(*a.origin().head(), "port p1: ");
  EXPECT_EQ(*a.origin().tail(), "ingress sg web rule 0");
  EXPECT_TRUE(a.origin().tail().SameStorage(b.origin().tail()));
  EXPECT_TRUE(a.origin().head().SameStorage(c.origin().head()));
  EXPECT_FALSE(a.origin().head().SameStorage(b.origin().head()));
  // The head is the context's: one per port.
  EXPECT_TRUE(a.rare().SameStorage(c.rare()));
  EXPECT_FALSE(a.rare().SameStorage(b.rare()));
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
  // "gone" held its match, its owner piece and the context holding that
  // piece alone; the rest is kept's.
  EXPECT_EQ(in.size(), before - 3);
  Filter again = RuleFilter("p3", 80);
  in.Intern(again);
  EXPECT_TRUE(again.match.SameStorage(kept.match)) << "a value still held was forgotten";
}

// A filter of port `port`'s egress hook: its id appears in the match, a
// mirred action and the hook.
Filter HookFilter(const std::string& port, uint32_t handle) {
  Filter f;
  f.chain = 0x10000001;
  f.prio = 1;
  f.handle = handle;
  FlowerMatch m;
  m.indev = DeviceRef::OfPort(port);
  f.match = m;
  Action mirror;
  mirror.kind = Action::Kind::kMirredMirror;
  mirror.device = DeviceRef::OfPort(port);
  f.actions = {mirror, Drop()};
  f.MutableRare().egress_of = DeviceRef::OfPort(port);
  f.SetOrigin("port " + port + ": egress hook");
  return f;
}

TEST(Interner, PortIdsAndRareFieldsShareOneCopy) {
  Filter a = HookFilter("p1", 1);
  Filter b = HookFilter("p1", 2);
  b.match.Mutable().ip_proto = 6;  // a match of its own, same port
  const Filter a0 = a, b0 = b;
  Interner in;
  in.Intern(a);
  in.Intern(b);
  EXPECT_EQ(a, a0);
  EXPECT_EQ(b, b0);
  EXPECT_TRUE(a.rare().SameStorage(b.rare()));
  EXPECT_FALSE(a.match.SameStorage(b.match));
  const Shared<std::string>& id = a.rare()->egress_of->port_id;
  EXPECT_EQ(*id, "p1");
  EXPECT_TRUE(a.match->indev->port_id.SameStorage(id));
  EXPECT_TRUE(b.match->indev->port_id.SameStorage(id));
  EXPECT_TRUE(a.actions[0].device.port_id.SameStorage(id));
  EXPECT_FALSE(a.actions[1].device.port_id.HasStorage()) << "not a port: no id to hold";
}

TEST(Interner, AdoptSharesPortIdsWithItsOwnTexts) {
  Interner other;
  Filter f = HookFilter("p1", 1);
  other.Intern(f);
  Interner in;
  Filter mine = HookFilter("p1", 2);
  in.Intern(mine);
  Interner::Memo memo;
  in.Adopt(f, memo);
  EXPECT_TRUE(f.rare().SameStorage(mine.rare()));
  EXPECT_TRUE(f.match->indev->port_id.SameStorage(mine.match->indev->port_id));
}

// A value new to the adopting interner is copied, not taken over: the
// filters keep nothing the other (a compiler thread's) interner allocated.
TEST(Interner, AdoptCopiesValuesNewToIt) {
  Interner other;
  Filter f = RuleFilter("p1", 80);
  other.Intern(f);
  const Filter theirs = f;
  Interner in;
  Interner::Memo memo;
  in.Adopt(f, memo);
  EXPECT_EQ(f, theirs);
  EXPECT_FALSE(f.match.SameStorage(theirs.match));
  EXPECT_FALSE(f.actions.SameStorage(theirs.actions));
  EXPECT_FALSE(f.origin().tail().SameStorage(theirs.origin().tail()));
  EXPECT_FALSE(f.rare().SameStorage(theirs.rare())) << "the context holds the head";
  EXPECT_FALSE(f.origin().head().SameStorage(theirs.origin().head()));
  EXPECT_EQ(f.origin().head(), theirs.origin().head());
  // A second filter with the same values gets the adopted copies.
  Filter again = theirs;
  in.Adopt(again, memo);
  EXPECT_TRUE(again.match.SameStorage(f.match));
  EXPECT_TRUE(again.origin().tail().SameStorage(f.origin().tail()));
}

// The rare fields moved behind a pointer; filters order as they did when
// each was a member in declaration order: egress_of first, nd_allowed and
// set_match last.
TEST(Filter, OrdersAsBeforeTheRareFieldsMoved) {
  Filter block = RuleFilter("p1", 80);
  block.chain = 9;
  Filter hook = block;
  hook.chain = 1;
  hook.MutableRare().egress_of = DeviceRef::Uplink();
  EXPECT_LT(block, hook) << "an unset egress_of orders first, before the chain";
  Filter nd = block;
  nd.MutableRare().nd_allowed = {NdAllowed{}};
  Filter later_origin = block;
  later_origin.SetOrigin("port p1: z");
  EXPECT_LT(block, nd);
  EXPECT_LT(nd, later_origin) << "the origin orders before nd_allowed";
  Filter set = block;
  set.MutableRare().set_match = SetMatch{"group:g", true};
  EXPECT_LT(set, nd) << "nd_allowed orders before set_match";
  EXPECT_NE(block, nd);
  Filter same = block;
  same.MutableRare() = FilterRare{};
  EXPECT_EQ(block, same) << "an empty rare value equals none";
}

// The origin's head is held in the context (Filter::rare), its tail in the
// filter; equality and order are those of the whole text, however split.
TEST(Filter, ComparesOriginsAsTextsAcrossContexts) {
  Filter whole = RuleFilter("p1", 80);  // built as one text: an empty head
  Filter split = whole;
  Interner in;
  in.Intern(split);
  EXPECT_EQ(*split.rare()->origin_head, "port p1: ");
  EXPECT_EQ(*split.origin().tail(), "ingress sg web rule 0");
  EXPECT_FALSE(whole.rare().HasStorage());
  EXPECT_EQ(whole, split);
  EXPECT_EQ(whole <=> split, std::strong_ordering::equal);
  Filter other = whole;
  other.SetOrigin(Origin(SharedText("port p1: "), SharedText("ingress sg web rule 1")));
  EXPECT_LT(split, other);
  EXPECT_LT(whole, other);
  EXPECT_NE(split, other);
  // The same head with other rare fields: not equal, and the head is kept.
  Filter hook = split;
  hook.MutableRare().egress_of = DeviceRef::OfPort("p1");
  EXPECT_NE(hook, split);
  EXPECT_EQ(hook.origin(), split.origin());
  EXPECT_FALSE(split.rare()->egress_of) << "the change copied the shared context";
}

// The compiler sets origins through the interner: a port's filters with
// the same fields share one context, other fields get one of their own
// with the same head.
TEST(Interner, SetOriginSharesOneContextPerOwnerAndFields) {
  Interner in;
  const SharedText head = in.Text("port p1: ");
  Filter a, b, hook, bare;
  in.SetOrigin(a, in.OriginOf(head, "rule a"));
  in.SetOrigin(b, in.OriginOf(head, "rule b"));
  in.SetOrigin(hook, in.OriginOf(head, "hook"), FilterRare{.egress_of = DeviceRef::OfPort("p1")});
  in.SetOrigin(bare, in.OriginOf("no owner"));
  EXPECT_EQ(a.origin(), "port p1: rule a");
  EXPECT_EQ(b.origin(), "port p1: rule b");
  EXPECT_EQ(hook.origin(), "port p1: hook");
  EXPECT_EQ(bare.origin(), "no owner");
  EXPECT_TRUE(a.rare().SameStorage(b.rare()));
  EXPECT_TRUE(a.rare()->origin_head.SameStorage(head));
  EXPECT_FALSE(hook.rare().SameStorage(a.rare()));
  EXPECT_TRUE(hook.rare()->origin_head.SameStorage(head));
  EXPECT_EQ(hook.rare()->egress_of, DeviceRef::OfPort("p1"));
  EXPECT_FALSE(bare.rare().HasStorage()) << "no head, no fields: no context value";
  // Found again by value after another value came between.
  Filter c;
  in.SetOrigin(c, in.OriginOf(head, "rule c"));
  EXPECT_TRUE(c.rare().SameStorage(a.rare()));
}

TEST(Filter, StaysSmall) {
  // One Filter is kept per installed filter (docs/performance.md, memory).
  EXPECT_LE(sizeof(Filter), 48u);
  EXPECT_LE(sizeof(DeviceRef), 16u);
}

}  // namespace
}  // namespace vfguard::policy
