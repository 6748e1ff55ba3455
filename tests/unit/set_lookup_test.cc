// CompileOptions::set_lookups (docs/performance.md, "Remote groups"): a rule
// whose remote is a set compiles to one set-match filter per destination-port
// mask, the simulator agrees with the evaluator on members and others,
// placement keeps the filter out of hardware behind a trap at its prio, and
// issue 14's cost targets hold: installed filters equal the one-prefix
// baseline, and a member change writes no filter, only one set entry. The
// snapshots are tests/support/remote_group_snapshot.h's.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "offload/hw_model.h"
#include "offload/placement.h"
#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"
#include "tests/support/remote_group_snapshot.h"

namespace vfguard::policy {
namespace {

using test_support::FilterWrites;
using test_support::SetWrites;

constexpr CompileOptions kSets{.set_lookups = true};

IpPrefix Prefix(const char* t) { return *IpPrefix::Parse(t); }

// tcp/22, and tcp/8000-8001 (two port masks), from the remote.
const std::vector<PortRange> kSshAndAlt = {{22, 22}, {8000, 8001}};

Snapshot SshFrom(int ports, bool address_group) {
  return test_support::SshFrom(
      ports, address_group ? test_support::SshRemote::kAdmins : test_support::SshRemote::kBastion,
      kSshAndAlt);
}

Packet FromUplink(const Snapshot& s, const char* src, uint16_t dport) {
  return test_support::TcpFromUplinkToP0(s, src, dport);
}

// (evaluator, simulator of the set-lookup pipeline, slow path after
// placement) deliver the frame to p0.
std::tuple<bool, bool, bool> Delivered(const Snapshot& s, const Packet& p) {
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline pipeline = *Compile(s, slots, kSets);
  offload::PlacementResult placed = offload::Place(pipeline, [](const Filter& f) {
    return offload::HardwareModel(offload::HwCapabilities{}).Accepts(f);
  });
  ConntrackModel ct_eval, ct_sim, ct_slow;
  std::set<Delivery> want{Delivery{DeviceRef::OfPort("p0"), {}}};
  return {Evaluate(s, slots, p, ct_eval).deliveries == want,
          Simulate(pipeline, p, ct_sim).deliveries == want,
          Simulate(placed.SlowPathPipeline(), p, ct_slow).deliveries == want};
}

class SetLookup : public ::testing::TestWithParam<bool> {};

TEST_P(SetLookup, AdmitsOnlyTheSetsAddresses) {
  Snapshot s = SshFrom(2, GetParam());
  ASSERT_TRUE(Validate(s).ok()) << Validate(s);
  const auto yes = std::make_tuple(true, true, true);
  const auto no = std::make_tuple(false, false, false);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 22)), yes);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 8001)), yes);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 8002)), no);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.11", 22)), no);
  if (GetParam()) {
    s.address_groups["admins"].cidrs.clear();
  } else {
    s.remote_ports.clear();
  }
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 22)), no);
}

INSTANTIATE_TEST_SUITE_P(MemberOrAddressGroup, SetLookup, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "AddressGroup" : "Member"; });

TEST(SetLookupShape, OneFilterPerPortMaskNeverInHardwareTrappedJustBeforeItsPrio) {
  Snapshot s = SshFrom(1, false);
  Pipeline p = *Compile(s, *AssignSlots(s, {}), kSets);
  std::vector<const Filter*> set_filters;
  for (const Filter& f : p.filters) {
    if (f.classifier == Classifier::kSetMatch) set_filters.push_back(&f);
  }
  // tcp/22: one; tcp/8000-8001: one mask (8000/0xfffe).
  ASSERT_EQ(set_filters.size(), 2u);
  for (const Filter* f : set_filters) {
    ASSERT_TRUE(f->rare()->set_match.has_value());
    EXPECT_EQ(f->rare()->set_match->set, "group:bastion");
    EXPECT_TRUE(f->rare()->set_match->remote_is_src);
    EXPECT_FALSE(f->match->src_ip.has_value()) << "members are in the set, not the filter";
    EXPECT_EQ(f->match->ip_proto, kProtoTcp);
  }
  EXPECT_NE(set_filters[0]->prio, set_filters[1]->prio) << "two rules, two stages";
  EXPECT_EQ(p.sets.at("group:bastion"), std::vector<IpPrefix>{Prefix("192.0.2.10/32")});

  offload::PlacementResult placed = offload::Place(p, [](const Filter& f) {
    return offload::HardwareModel(offload::HwCapabilities{}).Accepts(f);
  });
  bool trapped = false;
  for (const offload::PlacedFilter& pf : placed.filters) {
    if (pf.filter->classifier != Classifier::kSetMatch) continue;
    EXPECT_NE(pf.placement, offload::Placement::kHardware) << pf.filter->origin();
  }
  for (const Filter& t : placed.traps) {
    trapped |= t.chain == set_filters[0]->chain && t.prio == set_filters[0]->prio - 1;
    EXPECT_FALSE(t.chain == set_filters[0]->chain && t.prio == set_filters[0]->prio)
        << "tc keeps one classifier kind per prio: no flower trap beside cls_bpf";
  }
  EXPECT_TRUE(trapped) << "the hardware hands the rule's frames over just before its prio";
  // The chain's established stage (prio 1) stays in hardware.
  bool established_in_hw = false;
  for (const offload::PlacedFilter& pf : placed.filters) {
    established_in_hw |= pf.filter->chain == set_filters[0]->chain && pf.filter->prio == 1 &&
                         pf.placement == offload::Placement::kHardware;
  }
  EXPECT_TRUE(established_in_hw);
}

TEST(SetLookupCost, TargetsHoldForPoolAndScatteredMembers) {
  Snapshot one_prefix = test_support::SshFrom(20, test_support::SshRemote::kPool, kSshAndAlt);
  SlotAssignment slots = *AssignSlots(one_prefix, {});
  const size_t base = Compile(one_prefix, slots)->filters.size();
  for (uint32_t step : {1u, 7u}) {
    Snapshot s = SshFrom(20, false);
    test_support::SetBastionMembers(s, step);
    Pipeline before = *Compile(s, slots, kSets);
    EXPECT_EQ(before.filters.size(), base) << "step " << step << ": as with one prefix";
    EXPECT_EQ(before.sets.at("group:bastion").size(), 1000u);
    Snapshot added = s;
    added.remote_ports["new"] = RemotePort{"new", {Prefix("172.16.9.9")}, {"bastion"}};
    Pipeline after_add = *Compile(added, slots, kSets);
    EXPECT_EQ(FilterWrites(before, after_add), 0u);
    EXPECT_EQ(SetWrites(before, after_add), 1u);
    Snapshot removed = s;
    removed.remote_ports.erase("member-500");  // splits a /24 when aggregated: not here
    Pipeline after_remove = *Compile(removed, slots, kSets);
    EXPECT_EQ(FilterWrites(before, after_remove), 0u);
    EXPECT_EQ(SetWrites(before, after_remove), 1u);
  }
}

TEST(SetLookupCost, IncrementalCompilerTracksTheSets) {
  Snapshot s = SshFrom(3, false);
  SlotAssignment slots = *AssignSlots(s, {});
  IncrementalCompiler inc(kSets);
  ASSERT_TRUE(inc.Update(std::make_shared<const Snapshot>(s), slots).ok());
  Snapshot added = s;
  added.remote_ports["b2"] = RemotePort{"b2", {Prefix("192.0.2.77")}, {"bastion"}};
  absl::StatusOr<std::set<std::string>> changed =
      inc.Update(std::make_shared<const Snapshot>(added), slots);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->empty()) << "no part's filters change";
  Pipeline p = inc.Assemble();
  EXPECT_EQ(p, *Compile(added, slots, kSets));
  EXPECT_EQ(p.sets.at("group:bastion").size(), 2u);
}

}  // namespace
}  // namespace vfguard::policy
