// What the kernel and the semantics need of every compiled filter that
// neither the simulator nor compiler_test's mask check sees:
// - flower refuses a second filter with the same masked key in one
//   (chain, prio) (EEXIST), so keys are unique after masking;
// - action lists are well formed: exactly one terminal action (goto,
//   redirect, drop, ok, continue, trap), and it is the last one, so no action
//   is silently unreachable and `ct commit` is never last;
// - copies to ports leave before any `vlan push` (ports get frames untagged),
//   a pushed tag is the VLAN of the network the filter serves and is followed
//   by the redirect to the uplink;
// - frames go only to active ports of the snapshot (pending and inactive
//   ports receive nothing) and conntrack zones are the owning port's zone.
// Checked over random snapshots, with remote groups and networks large
// enough to split flood lists.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::policy {
namespace {

using Kind = Action::Kind;

bool Terminal(Kind k) {
  return k == Kind::kOk || k == Kind::kDrop || k == Kind::kContinue || k == Kind::kTrap ||
         k == Kind::kGoto || k == Kind::kMirredRedirect;
}

MacAddr MaskMac(const Masked<MacAddr>& m) {
  MacAddr out;
  for (int i = 0; i < 6; ++i) out.bytes[i] = m.value.bytes[i] & m.mask.bytes[i];
  return out;
}

IpPrefix MaskPrefix(const IpPrefix& p) {
  IpPrefix out = p;
  IpAddr mask = p.Mask();
  for (size_t i = 0; i < out.addr.bytes.size(); ++i) out.addr.bytes[i] &= mask.bytes[i];
  return out;
}

// The key flower hashes: every present field with its mask applied.
FlowerMatch MaskedKey(FlowerMatch m) {
  auto mac = [](std::optional<Masked<MacAddr>>& f) {
    if (f) f->value = MaskMac(*f);
  };
  auto u16 = [](std::optional<Masked<uint16_t>>& f) {
    if (f) f->value &= f->mask;
  };
  auto pfx = [](std::optional<IpPrefix>& f) {
    if (f) f = MaskPrefix(*f);
  };
  mac(m.src_mac);
  mac(m.dst_mac);
  mac(m.arp_sha);
  mac(m.arp_tha);
  pfx(m.src_ip);
  pfx(m.dst_ip);
  pfx(m.arp_sip);
  pfx(m.arp_tip);
  u16(m.src_port);
  u16(m.dst_port);
  u16(m.ct_state);
  if (m.ct_mark) m.ct_mark->value &= m.ct_mark->mask;
  return m;
}

// Port owning a chain below the network range (docs/pipeline.md: 16 * slot).
std::map<uint32_t, const Port*> PortsBySlot(const Snapshot& s, const SlotAssignment& slots) {
  std::map<uint32_t, const Port*> out;
  for (const auto& [id, p] : s.ports) out[slots.port_slot.at(id)] = &p;
  return out;
}

std::map<uint32_t, const Network*> NetworksBySlot(const Snapshot& s, const SlotAssignment& slots) {
  std::map<uint32_t, const Network*> out;
  for (const auto& [id, n] : s.networks) out[slots.network_slot.at(id)] = &n;
  return out;
}

void CheckPipeline(const Snapshot& s, const SlotAssignment& slots, const Pipeline& p,
                   const std::string& label) {
  constexpr uint32_t kNetBase = 1u << 27;
  auto ports = PortsBySlot(s, slots);
  auto networks = NetworksBySlot(s, slots);
  std::map<std::tuple<uint32_t, uint16_t, uint16_t>, std::set<FlowerMatch>> keys;
  for (const Filter& f : p.filters) {
    std::string where = absl::StrCat(label, ": chain ", f.chain, " prio ", f.prio, " handle ",
                                     f.handle, " \"", f.origin().str(), "\"");
    EXPECT_FALSE(f.origin().empty()) << where;
    auto& in_prio = keys[std::make_tuple(f.chain, f.prio, f.protocol)];
    EXPECT_TRUE(in_prio.insert(MaskedKey(f.match)).second)
        << "two filters with one masked key (EEXIST): " << where;

    ASSERT_FALSE(f.actions.empty()) << where;
    for (size_t i = 0; i + 1 < f.actions.size(); ++i) {
      EXPECT_FALSE(Terminal(f.actions[i].kind)) << "action " << i << " (" << f.actions[i].ToString()
                                                << ") ends the filter early: " << where;
    }
    EXPECT_TRUE(Terminal(f.actions.back().kind)) << "last action must end the filter: " << where;

    // Which port or network this chain belongs to.
    const Port* owner = nullptr;
    const Network* net = nullptr;
    if (Chains::IsEgressHook(f.chain)) {
      auto it = ports.find(f.chain - Chains::EgressHook(0));
      ASSERT_NE(it, ports.end()) << "egress hook of no port: " << where;
      EXPECT_EQ(f.rare()->egress_of, DeviceRef::OfPort(it->second->id)) << where;
      owner = it->second;
    } else if (f.rare()->egress_of) {
      ADD_FAILURE() << "egress hook filter in a block chain: " << where;
    } else if (f.chain == Chains::kNd) {
      // The ND chain: the check itself, then one entry per port (handle =
      // slot) that continues to that port's post chain.
      if (f.prio == Chains::kNdCheckPrio) {
        EXPECT_EQ(f.classifier, Classifier::kNdCheck) << where;
      } else {
        auto it = ports.find(f.handle);
        ASSERT_NE(it, ports.end()) << "ND entry of no port: " << where;
        EXPECT_EQ(f.match->indev, DeviceRef::OfPort(it->second->id)) << where;
        EXPECT_FALSE(f.rare()->nd_allowed.empty()) << where;
        owner = it->second;
      }
    } else if (f.chain != 0 && f.chain < kNetBase) {
      auto it = ports.find(f.chain >> 4);
      ASSERT_NE(it, ports.end()) << "chain of no port: " << where;
      owner = it->second;
      net = &s.networks.at(owner->network_id);
    } else if (f.chain >= kNetBase) {
      auto it = networks.find((f.chain - kNetBase) >> 4);
      ASSERT_NE(it, networks.end()) << "chain of no network: " << where;
      net = it->second;
    }
    bool pushed = false;
    for (size_t i = 0; i < f.actions.size(); ++i) {
      const Action& a = f.actions[i];
      if (a.kind == Kind::kCt && !a.clear) {
        ASSERT_NE(owner, nullptr) << "conntrack outside a port chain: " << where;
        EXPECT_EQ(a.zone, slots.port_zone.at(owner->id)) << "zone of another port: " << where;
      }
      if (a.kind == Kind::kVlanPush) {
        ASSERT_NE(net, nullptr) << where;
        EXPECT_EQ(net->segmentation, Segmentation::kVlan) << where;
        EXPECT_EQ(a.vlan_id, net->vlan_id) << where;
        ASSERT_LT(i + 1, f.actions.size()) << where;
        EXPECT_EQ(f.actions[i + 1].kind, Kind::kMirredRedirect) << where;
        EXPECT_EQ(f.actions[i + 1].device, DeviceRef::Uplink()) << where;
        pushed = true;
      }
      if (a.kind == Kind::kMirredMirror || a.kind == Kind::kMirredRedirect) {
        if (a.device.kind == DeviceRef::Kind::kPort) {
          EXPECT_FALSE(pushed) << "copy to a port after vlan push: " << where;
          auto q = s.ports.find(a.device.port_id);
          ASSERT_NE(q, s.ports.end()) << "to an unknown port: " << where;
          EXPECT_EQ(q->second.state, PortState::kActive) << "to a port not active: " << where;
          if (net != nullptr) {
            EXPECT_EQ(q->second.network_id, net->id) << "across networks: " << where;
          }
        } else if (net != nullptr && net->segmentation == Segmentation::kVlan) {
          EXPECT_TRUE(pushed) << "untagged to the uplink from a VLAN network: " << where;
        }
      }
    }
  }
}

void AddRemoteGroups(Snapshot& s, std::mt19937_64& rng) {
  std::vector<std::string> ids;
  for (const auto& [id, g] : s.security_groups) ids.push_back(id);
  if (ids.empty()) return;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  for (auto& [id, g] : s.security_groups) {
    for (SecurityGroupRule& r : g.rules) {
      if (pick(3) != 0) continue;
      r.remote_prefix.reset();
      r.remote_address_group_id.reset();
      r.remote_group_id = ids[pick(ids.size())];
    }
  }
}

TEST(CompilerStructure, RandomSmallSnapshots) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    testing::RandomPolicy gen(seed);
    Snapshot s = gen.Snapshot();
    if (seed % 2 == 0) AddRemoteGroups(s, gen.rng());
    ASSERT_TRUE(Validate(s).ok()) << seed;
    SlotAssignment slots = *AssignSlots(s, {});
    auto p = Compile(s, slots);
    ASSERT_TRUE(p.ok()) << p.status();
    CheckPipeline(s, slots, *p, absl::StrCat("seed ", seed));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(CompilerStructure, RandomLargeNetworks) {
  testing::RandomPolicyOptions big;
  big.max_networks = 2;
  big.max_ports = 80;
  big.max_groups = 6;
  big.max_rules_per_group = 10;
  size_t continued = 0;  // flood lists split over several filters
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    testing::RandomPolicy gen(seed, big);
    Snapshot s = gen.Snapshot();
    AddRemoteGroups(s, gen.rng());
    ASSERT_TRUE(Validate(s).ok()) << seed;
    SlotAssignment slots = *AssignSlots(s, {});
    auto p = Compile(s, slots);
    ASSERT_TRUE(p.ok()) << p.status();
    CheckPipeline(s, slots, *p, absl::StrCat("large seed ", seed));
    if (::testing::Test::HasFailure()) return;
    for (const Filter& f : p->filters) continued += f.actions.back().kind == Kind::kContinue;
  }
  EXPECT_GT(continued, 0u) << "no flood list was long enough to split";
}

// The checks themselves catch what they claim to (else they prove nothing).
TEST(CompilerStructure, ChecksCatchBrokenPipelines) {
  testing::RandomPolicy gen(7);
  Snapshot s = gen.Snapshot();
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline good = *Compile(s, slots);
  auto fails = [&](Pipeline p) {
    ::testing::TestPartResultArray results;
    {
      ::testing::ScopedFakeTestPartResultReporter reporter(
          ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
      CheckPipeline(s, slots, p, "mutant");
    }
    return results.size() > 0;
  };
  ASSERT_FALSE(fails(good));
  Pipeline dup = good;
  dup.filters.push_back(dup.filters.front());
  dup.filters.back().handle += 1000;
  EXPECT_TRUE(fails(dup)) << "duplicate key";
  Pipeline unreachable = good;
  unreachable.filters.front().actions.Mutable().push_back(Action{Kind::kDrop});
  EXPECT_TRUE(fails(unreachable)) << "action after a terminal one";
  Pipeline commit_last = good;
  Action commit{Kind::kCt};
  commit.zone = 1;
  commit.commit = true;
  commit_last.filters.front().actions = {commit};
  EXPECT_TRUE(fails(commit_last)) << "ct commit last";
}

}  // namespace
}  // namespace vfguard::policy
