// Structural invariants of compiled pipelines (the semantics are checked by
// the property tests): determinism, tc's one-mask-per-prio rule, the action
// limit, port-range covers, incremental == full, slot assignment.
#include "policy/compiler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "policy/port_range_masks.h"
#include "policy/slots.h"
#include "policy/validate.h"
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
      EXPECT_EQ(it->second, MaskShape(f)) << "one mask per (chain, prio): " << f.origin();
      EXPECT_TRUE(keys.insert(f.Key()).second) << "unique (chain, prio, handle)";
      EXPECT_GE(f.prio, 1);
      EXPECT_GE(f.handle, 1u);
      EXPECT_FALSE(f.actions.empty());
      EXPECT_LE(f.actions.size(), kMaxActionsPerFilter) << f.origin();
      for (const Action& act : f.actions) {
        if (act.kind == Action::Kind::kGoto) {
          EXPECT_TRUE(chains.count(act.chain)) << "goto to an empty chain: " << f.origin();
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
  int copies = 0;
  for (const Filter& f : pipe->filters) {
    ASSERT_LE(f.actions.size(), kMaxActionsPerFilter);
    if (f.actions.back().kind == Action::Kind::kContinue && f.classifier == Classifier::kFlower) {
      ++continued;  // the ND check (cls_bpf) continues too; it is not a flood chunk
    }
    for (const Action& a : f.actions) copies += a.kind == Action::Kind::kMirredMirror;
    // A vlan push is always immediately followed by the uplink redirect.
    for (size_t i = 0; i < f.actions.size(); ++i) {
      if (f.actions[i].kind == Action::Kind::kVlanPush) {
        ASSERT_LT(i + 1, f.actions.size());
        EXPECT_EQ(f.actions[i + 1].kind, Action::Kind::kMirredRedirect);
      }
    }
  }
  // One list for the network: 70 copies in runs of 31 slots.
  EXPECT_EQ(copies, 70);
  EXPECT_EQ(continued, 3);
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
    EXPECT_TRUE(key == "port:zz" || key.rfind("net:", 0) == 0 || key.rfind("port:", 0) == 0) << key;
  }
  EXPECT_EQ(inc.Assemble(), *Compile(*next, *slots));
}

// One small change at a time (the way the agent sees them), slots carried
// over: the assembled pipeline equals a full compile after every step, and
// parts of ports the change cannot affect are left alone.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  // Applies one random change; returns a short name of what it did.
  std::string Mutate(Snapshot& s) {
    switch (Uniform(0, 14)) {
      case 0:
        return AddPort(s);
      case 12:
        return ChangeRemotePort(s);
      case 13: {
        std::string id = absl::StrCat("ag", Uniform(0, 2));
        AddressGroup& g = s.address_groups[id];
        g.id = id;
        IpPrefix c = IpPrefix::Host(IpAddr::V4(0x0a000000 + Uniform(1, 12)));
        auto it = std::find(g.cidrs.begin(), g.cidrs.end(), c);
        it == g.cidrs.end() ? g.cidrs.push_back(c) : (void)g.cidrs.erase(it);
        return "change address group";
      }
      case 14: {
        if (s.security_groups.empty() || s.address_groups.empty()) return "nothing";
        SecurityGroupRule r;
        r.direction = Uniform(0, 1) ? Direction::kIngress : Direction::kEgress;
        r.protocol = kProtoTcp;
        r.remote_address_group_id = PickKey(s.address_groups);
        r.priority = static_cast<uint16_t>(Uniform(1, 20));
        s.security_groups.at(PickKey(s.security_groups)).rules.push_back(r);
        return "add address-group rule";
      }
      case 1:
        if (s.ports.size() > 1) {
          s.ports.erase(PickKey(s.ports));
          return "remove port";
        }
        return AddPort(s);
      case 2:
        PickPort(s).fixed_ips.push_back(IpAddr::V4(0x0a010000 + Uniform(1, 5000)));
        return "add fixed ip";
      case 3: {
        Port& p = PickPort(s);
        p.state = p.state == PortState::kActive ? PortState::kInactive : PortState::kActive;
        return "toggle state";
      }
      case 4:
        PickPort(s).port_security ^= true;
        return "toggle port security";
      case 5: {
        Port& p = PickPort(s);
        p.vips.empty() ? p.vips.push_back(IpAddr::V4(0x0a0000c8)) : p.vips.clear();
        return "toggle vip";
      }
      case 6: {
        Port& p = PickPort(s);
        p.network_id = PickKey(s.networks);
        p.mac.bytes[4] = static_cast<uint8_t>(Uniform(100, 255));  // stays unique
        return "move port";
      }
      case 7: {
        Port& p = PickPort(s);
        if (s.security_groups.empty()) return "nothing";
        std::string gid = PickKey(s.security_groups);
        bool stateful = s.security_groups.at(gid).stateful;
        for (const std::string& other : p.security_group_ids) {
          if (s.security_groups.at(other).stateful != stateful) p.security_group_ids.clear();
        }
        if (std::find(p.security_group_ids.begin(), p.security_group_ids.end(), gid) ==
            p.security_group_ids.end()) {
          p.security_group_ids.push_back(gid);
          std::sort(p.security_group_ids.begin(), p.security_group_ids.end());
        } else {
          p.security_group_ids.clear();
        }
        return "change membership";
      }
      case 8:
      case 9: {
        if (s.security_groups.empty()) return "nothing";
        SecurityGroup& g = s.security_groups.at(PickKey(s.security_groups));
        SecurityGroupRule r;
        r.direction = Uniform(0, 1) ? Direction::kIngress : Direction::kEgress;
        r.protocol = kProtoTcp;
        r.ports = PortRange{static_cast<uint16_t>(Uniform(1, 100)), 200};
        r.remote_group_id = PickKey(s.security_groups);
        r.priority = static_cast<uint16_t>(Uniform(1, 20));
        r.action = Uniform(0, 3) ? RuleAction::kAllow : RuleAction::kDeny;
        g.rules.push_back(r);
        return "add remote-group rule";
      }
      case 10: {
        Network& n = s.networks.at(PickKey(s.networks));
        if (n.segmentation == Segmentation::kVlan)
          n.vlan_id = static_cast<uint16_t>(n.vlan_id + 1000);
        return "change vlan";
      }
      default: {  // 11
        std::string id = absl::StrCat("extra-net", counter_++);
        s.networks[id] = Network{id, Segmentation::kVlan, static_cast<uint16_t>(3000 + counter_)};
        return "add network";
      }
    }
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename Map>
  std::string PickKey(const Map& m) {
    auto it = m.begin();
    std::advance(it, Uniform(0, static_cast<int>(m.size()) - 1));
    return it->first;
  }
  Port& PickPort(Snapshot& s) { return s.ports.at(PickKey(s.ports)); }
  // Adds, removes or renumbers a remote member (addresses next to local
  // ports' 10.0.0.x, so that aggregation merges and splits).
  std::string ChangeRemotePort(Snapshot& s) {
    if (s.security_groups.empty()) return "nothing";
    std::string id = absl::StrCat("r", Uniform(0, 3));
    if (s.remote_ports.count(id) && Uniform(0, 2) == 0) {
      s.remote_ports.erase(id);
      return "change remote port";
    }
    RemotePort& r = s.remote_ports[id];
    r.id = id;
    r.addresses = {IpPrefix::Host(IpAddr::V4(0x0a000000 + Uniform(1, 12)))};
    r.security_group_ids = {PickKey(s.security_groups)};
    return "change remote port";
  }

  std::string AddPort(Snapshot& s) {
    Port p;
    p.id = absl::StrCat("new", counter_++);
    p.network_id = PickKey(s.networks);
    p.mac = MacAddr{
        {0x02, 0x55, 0, 0, static_cast<uint8_t>(counter_ >> 8), static_cast<uint8_t>(counter_)}};
    p.fixed_ips = {IpAddr::V4(0x0a020000 + counter_)};
    p.representor.ref = std::string(absl::StrCat("rep", counter_));
    s.ports[p.id] = p;
    return "add port";
  }

  std::mt19937_64 rng_;
  int counter_ = 0;
};

TEST(IncrementalCompiler, EqualsFullCompileAcrossSmallChanges) {
  std::map<std::string, int> applied;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    testing::RandomPolicy gen(seed, testing::RandomPolicyOptions{3, 12, 4, 5});
    Mutator mutator(seed);
    auto snap = std::make_shared<Snapshot>(gen.Snapshot());
    SlotAssignment slots = *AssignSlots(*snap, {});
    IncrementalCompiler inc;
    ASSERT_TRUE(inc.Update(snap, slots).ok());
    for (int step = 0; step < 25; ++step) {
      auto next = std::make_shared<Snapshot>(*snap);
      std::string what = mutator.Mutate(*next);
      if (!Validate(*next).ok()) continue;
      auto next_slots = AssignSlots(*next, slots);
      ASSERT_TRUE(next_slots.ok());
      auto changed = inc.Update(next, *next_slots);
      ASSERT_TRUE(changed.ok()) << changed.status();
      auto full = Compile(*next, *next_slots);
      ASSERT_TRUE(full.ok());
      ASSERT_EQ(inc.Assemble(), *full) << "seed " << seed << " step " << step << ": " << what;
      snap = next;
      slots = *next_slots;
      ++applied[what];
    }
  }
  for (const char* what :
       {"add port", "remove port", "add fixed ip", "toggle state", "toggle port security",
        "toggle vip", "move port", "change membership", "add remote-group rule", "change vlan",
        "add network", "change remote port", "change address group", "add address-group rule"}) {
    EXPECT_GT(applied[what], 50) << what << ": too few valid changes of this kind were tried";
  }
}

TEST(IncrementalCompiler, AddingAPortLeavesOtherPortsChainsAlone) {
  testing::RandomPolicy gen(7, testing::RandomPolicyOptions{2, 10, 3, 4});
  auto snap = std::make_shared<Snapshot>(gen.Snapshot());
  SlotAssignment slots = *AssignSlots(*snap, {});
  IncrementalCompiler inc;
  ASSERT_TRUE(inc.Update(snap, slots).ok());
  auto next = std::make_shared<Snapshot>(*snap);
  Port p;
  p.id = "zz-new";
  p.network_id = next->networks.begin()->first;
  p.mac = *MacAddr::Parse("02:77:00:00:00:09");
  p.fixed_ips = {*IpAddr::Parse("10.7.7.7")};
  p.representor.ref = std::string("repzz");
  next->ports[p.id] = p;
  SlotAssignment next_slots = *AssignSlots(*next, slots);
  Pipeline before = inc.Assemble();
  auto changed = inc.Update(next, next_slots);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->count("port:zz-new"));
  EXPECT_TRUE(changed->count("net:" + p.network_id)) << "its MAC entries and flood copy";
  EXPECT_FALSE(changed->count("dispatch")) << "the port's chain-0 entry is in its own part";
  for (const std::string& key : *changed) {
    EXPECT_FALSE(key.rfind("port:", 0) == 0 && key != "port:zz-new") << key << " recompiled";
  }
  Pipeline after = inc.Assemble();
  EXPECT_EQ(after, *Compile(*next, next_slots));
  // Dispatch handles are slots: the new port adds one filter, every other
  // dispatch filter keeps its (chain, prio, handle) and content.
  std::set<std::tuple<uint32_t, uint16_t, uint32_t>> old_dispatch;
  for (const Filter& f : before.filters) {
    if (f.chain == 0) old_dispatch.insert(f.Key());
  }
  int added = 0;
  for (const Filter& f : after.filters) {
    if (f.chain != 0) continue;
    if (!old_dispatch.count(f.Key())) {
      ++added;
      EXPECT_EQ(f.handle, next_slots.port_slot.at("zz-new"));
    }
  }
  EXPECT_EQ(added, 1);
  auto same_dispatch = [&](const Pipeline& pl) {
    std::vector<Filter> out;
    for (const Filter& f : pl.filters) {
      if (f.chain == 0 && f.origin() != "dispatch: from port zz-new") out.push_back(f);
    }
    return out;
  };
  EXPECT_EQ(same_dispatch(before), same_dispatch(after));
}

// Filters of `after` that are new or differ from `before`, plus filters of
// `before` that are gone, by Key().
int FiltersChanged(const Pipeline& before, const Pipeline& after,
                   const std::set<std::tuple<uint32_t, uint16_t, uint32_t>>& ignore) {
  std::map<std::tuple<uint32_t, uint16_t, uint32_t>, const Filter*> old;
  for (const Filter& f : before.filters) old[f.Key()] = &f;
  int changed = 0;
  for (const Filter& f : after.filters) {
    if (ignore.count(f.Key())) continue;
    auto it = old.find(f.Key());
    if (it == old.end() || !(*it->second == f)) ++changed;
    if (it != old.end()) old.erase(it);
  }
  for (const auto& [key, f] : old) changed += ignore.count(key) ? 0 : 1;
  return changed;
}

// A port joining a network of N changes its own part plus a constant number
// of shared filters (its MAC entries in both forwarding chains and one chunk
// of the flood list), whatever N is: the flood list is per network, split
// horizon and admission are in each port's egress hook.
TEST(IncrementalCompiler, JoiningANetworkChangesAConstantNumberOfSharedFilters) {
  for (int n : {10, 100, 250}) {
    auto snap = std::make_shared<Snapshot>();
    snap->networks["flat"] = Network{"flat", Segmentation::kFlat, 0};
    SecurityGroup web;
    web.id = "web";
    snap->security_groups["web"] = web;
    auto port = [](int i) {
      Port p;
      p.id = absl::StrCat("p", i);
      p.network_id = "flat";
      p.mac = *MacAddr::Parse(absl::StrFormat("02:00:00:00:%02x:%02x", i / 256, i % 256));
      p.fixed_ips = {*IpAddr::Parse(absl::StrCat("10.1.", i / 256, ".", i % 256))};
      p.security_group_ids = {"web"};
      p.representor.ref = absl::StrCat("rep", i);
      return p;
    };
    for (int i = 1; i <= n; ++i) snap->ports[absl::StrCat("p", i)] = port(i);
    SlotAssignment slots = *AssignSlots(*snap, {});
    IncrementalCompiler inc;
    ASSERT_TRUE(inc.Update(snap, slots).ok());
    Pipeline before = inc.Assemble();
    auto next = std::make_shared<Snapshot>(*snap);
    next->ports[absl::StrCat("p", n + 1)] = port(n + 1);
    SlotAssignment next_slots = *AssignSlots(*next, slots);
    ASSERT_TRUE(inc.Update(next, next_slots).ok());
    Pipeline after = inc.Assemble();
    std::set<std::tuple<uint32_t, uint16_t, uint32_t>> own;
    for (const Filter& f : inc.parts().at(absl::StrCat("port:p", n + 1))->filters) {
      own.insert(f.Key());
    }
    EXPECT_EQ(FiltersChanged(before, after, own), 3) << "n = " << n;
    // And leaving again restores the block exactly.
    ASSERT_TRUE(inc.Update(snap, slots).ok());
    EXPECT_EQ(inc.Assemble(), before) << "n = " << n;
  }
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
  // A narrowed zone range moves zones outside it; a value held twice stays
  // with the first id.
  SlotAssignment damaged = *second;
  damaged.port_slot["d"] = damaged.port_slot.at("b");
  auto third = AssignSlots(s, damaged, 101, 200);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->port_slot.at("b"), 2u);
  EXPECT_EQ(third->port_slot.at("d"), 1u) << "lowest free after b keeps 2";
  EXPECT_EQ(third->port_zone.at("b"), second->port_zone.at("b"));
  for (const auto& [id, zone] : third->port_zone) EXPECT_GE(zone, 101) << id;
  std::set<uint16_t> zones;
  for (const auto& [id, zone] : third->port_zone) EXPECT_TRUE(zones.insert(zone).second);
  auto full = AssignSlots(s, {}, 5, 6);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AssignSlots(s, {}, 0, 6).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vfguard::policy
