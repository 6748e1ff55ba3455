// Structural invariants of compiled pipelines (the semantics are checked by
// the property tests): determinism, tc's one-mask-per-prio rule, the action
// limit, port-range covers, incremental == full, slot assignment.
#include "policy/compiler.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "policy/port_range_masks.h"
#include "policy/slots.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::policy {
namespace {

std::string MaskShape(const Filter& f) {
  // Reuse of the builder's notion is intentional not to be trusted here:
  // compare the raw presence and masks field by field.
  const FlowerMatch& m = f.match;
  auto mac = [](const std::optional<Masked<MacAddr>>& x) {
    return x ? x->mask.ToString() : std::string("-");
  };
  auto pfx = [](const std::optional<IpPrefix>& x) {
    return x ? std::to_string(x->length) + "/" + std::to_string(int(x->addr.family)) : "-";
  };
  auto u16 = [](const std::optional<Masked<uint16_t>>& x) {
    return x ? std::to_string(x->mask) : std::string("-");
  };
  return std::to_string(f.protocol) + (m.indev ? "i" : "-") + mac(m.src_mac) + mac(m.dst_mac) +
         (m.vlan_id ? "v" : "-") + pfx(m.src_ip) + pfx(m.dst_ip) + (m.ip_proto ? "p" : "-") +
         u16(m.src_port) + u16(m.dst_port) + (m.icmp_type ? "t" : "-") + (m.icmp_code ? "c" : "-") +
         pfx(m.arp_sip) + pfx(m.arp_tip) + mac(m.arp_sha) + u16(m.ct_state);
}

TEST(Compiler, RandomPipelinesKeepTcStructuralRules) {
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    testing::RandomPolicy gen(seed);
    Snapshot s = gen.Snapshot();
    auto slots = AssignSlots(s, {});
    ASSERT_TRUE(slots.ok());
    auto a = Compile(s, *slots);
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = Compile(s, *slots);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(*a, *b) << "compilation is deterministic";
    std::map<std::pair<uint32_t, uint16_t>, std::string> shape;
    std::set<std::tuple<uint32_t, uint16_t, uint32_t>> keys;
    std::set<uint32_t> chains;
    for (const Filter& f : a->filters) chains.insert(f.chain);
    for (const Filter& f : a->filters) {
      auto [it, inserted] = shape.emplace(std::make_pair(f.chain, f.prio), MaskShape(f));
      EXPECT_EQ(it->second, MaskShape(f)) << "one mask per (chain, prio): " << f.origin;
      EXPECT_TRUE(keys.insert(f.Key()).second) << "unique (chain, prio, handle)";
      EXPECT_GE(f.prio, 1);
      EXPECT_GE(f.handle, 1u);
      EXPECT_FALSE(f.actions.empty());
      EXPECT_LE(f.actions.size(), kMaxActionsPerFilter) << f.origin;
      for (const Action& act : f.actions) {
        if (act.kind == Action::Kind::kGoto) {
          EXPECT_TRUE(chains.count(act.chain)) << "goto to an empty chain: " << f.origin;
        }
      }
      if (f.actions.back().kind == Action::Kind::kCt) {
        EXPECT_FALSE(f.actions.back().commit) << "commit is never the last action";
      }
    }
  }
}

// The goto graph between chains has no cycle (a frame cannot loop).
bool Acyclic(const Pipeline& p) {
  std::map<uint32_t, std::set<uint32_t>> edges;
  for (const Filter& f : p.filters) {
    for (const Action& a : f.actions) {
      if (a.kind == Action::Kind::kGoto) edges[f.chain].insert(a.chain);
    }
  }
  std::map<uint32_t, int> state;  // 1 = on stack, 2 = done
  std::function<bool(uint32_t)> visit = [&](uint32_t c) {
    if (state[c] == 1) return false;
    if (state[c] == 2) return true;
    state[c] = 1;
    for (uint32_t next : edges[c]) {
      if (!visit(next)) return false;
    }
    state[c] = 2;
    return true;
  };
  for (const auto& [c, e] : edges) {
    if (!visit(c)) return false;
  }
  return true;
}

TEST(Compiler, ChainGraphIsAcyclic) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    testing::RandomPolicy gen(seed);
    Snapshot s = gen.Snapshot();
    auto slots = AssignSlots(s, {});
    auto p = Compile(s, *slots);
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(Acyclic(*p)) << "seed " << seed;
  }
}

TEST(Compiler, FloodListsSplitAt32Actions) {
  Snapshot s;
  s.networks["n"] = Network{"n", Segmentation::kVlan, 7};
  for (int i = 0; i < 70; ++i) {
    Port p;
    p.id = "p" + std::to_string(100 + i);
    p.network_id = "n";
    p.mac = MacAddr{{0x02, 0, 0, 0, static_cast<uint8_t>(i / 256), static_cast<uint8_t>(i)}};
    p.fixed_ips = {IpAddr::V4(0x0a000100 + i)};
    p.representor.ref = static_cast<uint32_t>(i);
    s.ports[p.id] = p;
  }
  auto slots = AssignSlots(s, {});
  auto pipe = Compile(s, *slots);
  ASSERT_TRUE(pipe.ok());
  int continued = 0;
  for (const Filter& f : pipe->filters) {
    ASSERT_LE(f.actions.size(), kMaxActionsPerFilter);
    if (f.actions.back().kind == Action::Kind::kContinue) ++continued;
    // A vlan push is always immediately followed by the uplink redirect.
    for (size_t i = 0; i < f.actions.size(); ++i) {
      if (f.actions[i].kind == Action::Kind::kVlanPush) {
        ASSERT_LT(i + 1, f.actions.size());
        EXPECT_EQ(f.actions[i + 1].kind, Action::Kind::kMirredRedirect);
      }
    }
  }
  EXPECT_GT(continued, 70) << "every port's ARP flood (69 copies + uplink) needs continuations";
}

TEST(PortRangeMasks, ExactCoverForManyRanges) {
  std::vector<std::pair<int, int>> ranges = {
      {1, 65535}, {80, 80},       {1, 1023}, {1024, 65535},  {1000, 2000},
      {79, 81},   {65535, 65535}, {2, 3},    {32767, 32769}, {5, 65534}};
  for (int i = 0; i < 40; ++i) {
    int lo = 1 + (i * 7919) % 65535;
    int hi = lo + (i * 104729) % (65536 - lo);
    ranges.emplace_back(lo, hi);
  }
  for (auto [lo, hi] : ranges) {
    auto masks = PortRangeToMasks(lo, hi);
    EXPECT_LE(masks.size(), 30u);
    for (int port = 0; port <= 65535; ++port) {
      int hits = 0;
      for (const auto& m : masks) hits += (port & m.mask) == (m.value & m.mask);
      ASSERT_EQ(hits, (port >= lo && port <= hi) ? 1 : 0)
          << "port " << port << " in range " << lo << "-" << hi;
    }
  }
  EXPECT_EQ(PortRangeToMasks(80, 80).size(), 1u);
  EXPECT_EQ(PortRangeToMasks(1024, 65535).size(), 6u);
}

TEST(IncrementalCompiler, EqualsFullCompileAcrossRandomChanges) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testing::RandomPolicy gen(seed);
    IncrementalCompiler inc;
    SlotAssignment slots;
    for (int step = 0; step < 4; ++step) {
      // Each step: a new random snapshot derived from the same generator, so
      // ports, groups and networks appear, change and disappear.
      auto snap = std::make_shared<Snapshot>(gen.Snapshot());
      auto next = AssignSlots(*snap, slots);
      ASSERT_TRUE(next.ok());
      slots = *next;
      auto changed = inc.Update(snap, slots);
      ASSERT_TRUE(changed.ok()) << changed.status();
      auto full = Compile(*snap, slots);
      ASSERT_TRUE(full.ok());
      EXPECT_EQ(inc.Assemble(), *full) << "seed " << seed << " step " << step;
    }
  }
}

TEST(IncrementalCompiler, OnePortChangeRecompilesOnlyItsNeighbourhood) {
  testing::RandomPolicy gen(42, testing::RandomPolicyOptions{1, 6, 2, 3});
  auto snap = std::make_shared<Snapshot>(gen.Snapshot());
  Port extra;
  extra.id = "zz";
  extra.network_id = snap->networks.begin()->first;
  extra.mac = *MacAddr::Parse("02:77:00:00:00:01");
  extra.representor.ref = uint32_t{999};
  snap->ports["zz"] = extra;
  auto slots = AssignSlots(*snap, {});
  IncrementalCompiler inc;
  ASSERT_TRUE(inc.Update(snap, *slots).ok());
  auto next = std::make_shared<Snapshot>(*snap);
  next->ports["zz"].fixed_ips.push_back(*IpAddr::Parse("10.9.9.9"));
  auto changed = inc.Update(next, *slots);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->count("port:zz"));
  EXPECT_FALSE(changed->count("dispatch"));
  for (const std::string& key : *changed) {
    EXPECT_TRUE(key == "port:zz" || key.rfind("flood:", 0) == 0 || key.rfind("net:", 0) == 0 ||
                key.rfind("port:", 0) == 0)
        << key;
  }
  EXPECT_EQ(inc.Assemble(), *Compile(*next, *slots));
}

TEST(AssignSlots, KeepsExistingAndFillsLowestFree) {
  Snapshot s;
  s.networks["n"] = Network{"n"};
  for (const char* id : {"a", "b", "c"}) {
    Port p;
    p.id = id;
    p.network_id = "n";
    s.ports[id] = p;
  }
  auto first = AssignSlots(s, {}, 100, 200);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->port_slot.at("a"), 1u);
  EXPECT_EQ(first->port_zone.at("c"), 102);
  s.ports.erase("a");
  Port d = s.ports["b"];
  d.id = "d";
  s.ports["d"] = d;
  auto second = AssignSlots(s, *first, 100, 200);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->port_slot.at("b"), 2u) << "kept";
  EXPECT_EQ(second->port_slot.at("d"), 1u) << "reuses the freed slot";
  EXPECT_FALSE(second->port_slot.count("a"));
  auto full = AssignSlots(s, {}, 5, 6);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AssignSlots(s, {}, 0, 6).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vfguard::policy
