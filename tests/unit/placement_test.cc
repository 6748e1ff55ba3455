// Placement cases: prio groups, trap construction and fallbacks, chain traps,
// chains the hardware cannot hold, and no effect before a trap.
#include "offload/placement.h"

#include <gtest/gtest.h>

#include "offload/hw_model.h"
#include "policy/chain_builder.h"
#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::DeviceRef;
using policy::Filter;
using Kind = policy::Action::Kind;

Filter Make(uint32_t chain, uint16_t prio, uint32_t handle, std::vector<Action> actions) {
  Filter f;
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = policy::kEthArp;
  f.match.Mutable().indev = DeviceRef::OfPort("a");
  f.actions = std::move(actions);
  return f;
}

Action Goto(uint32_t chain) {
  Action a{Kind::kGoto};
  a.chain = chain;
  return a;
}

Action Mirror(const std::string& port) {
  Action a{Kind::kMirredMirror};
  a.device = DeviceRef::OfPort(port);
  return a;
}

// A copy to the uplink: an effect the hardware may hold (a copy to a port
// never is, see NeverInHardware).
Action MirrorUplink() {
  Action a{Kind::kMirredMirror};
  a.device = DeviceRef::Uplink();
  return a;
}

Action Drop() { return Action{Kind::kDrop}; }
Action Ok() { return Action{Kind::kOk}; }

// A filter the mlx5 model refuses (ARP key).
Filter Refused(uint32_t chain, uint16_t prio, uint32_t handle, std::vector<Action> actions) {
  Filter f = Make(chain, prio, handle, std::move(actions));
  f.match.Mutable().arp_sip = policy::IpPrefix::Parse("10.0.0." + std::to_string(handle));
  return f;
}

OfferFn ModelOffer(HwCapabilities caps = {}) {
  return [caps](const Filter& f) { return HardwareModel(caps).Accepts(f); };
}

bool IsTrap(const Filter& f) { return f.actions == std::vector<Action>{Action{Kind::kTrap}}; }

TEST(Placement, AcceptedGroupsGoToHardware) {
  policy::Pipeline p{{Make(0, 1, 1, {Goto(5)}), Make(5, 1, 1, {Drop()})}};
  PlacementResult r = Place(p, ModelOffer());
  ASSERT_EQ(r.filters.size(), 2u);
  EXPECT_EQ(r.filters[0].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[1].placement, Placement::kHardware);
  EXPECT_TRUE(r.traps.empty());
  EXPECT_EQ(r.HardwarePipeline(), p);
  EXPECT_EQ(r.SlowPathPipeline(), p);
}

TEST(Placement, RefusedFilterTrapsItsWholePrioGroupWithOneSharedTrap) {
  Filter a = Refused(5, 2, 1, {Ok()});
  Filter b = Refused(5, 2, 2, {Ok()});
  Filter c = Make(5, 3, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{a, b, c}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kTrap);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  EXPECT_EQ(r.HwStatus(r.filters[0]).message(), "mlx5_core: Unsupported key");
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
  ASSERT_EQ(r.traps.size(), 1u);  // deduped: one trap for the group
  ASSERT_NE(r.TrapOf(r.filters[0]), nullptr);
  EXPECT_EQ(*r.TrapOf(r.filters[0]), r.traps[0]);
  ASSERT_NE(r.TrapOf(r.filters[1]), nullptr);
  EXPECT_EQ(*r.TrapOf(r.filters[1]), r.traps[0]);
  policy::Pipeline hw = r.HardwarePipeline();
  ASSERT_EQ(hw.filters.size(), 2u);
  const Filter& trap = hw.filters[0];
  EXPECT_EQ(trap.Key(), std::make_tuple(5u, uint16_t{2}, 1u));
  EXPECT_EQ(trap.protocol, policy::kEthArp);
  EXPECT_EQ(trap.match->indev, DeviceRef::OfPort("a"));  // shared key kept
  EXPECT_FALSE(trap.match->arp_sip);                     // refused key dropped
  EXPECT_TRUE(IsTrap(trap));
  EXPECT_EQ(hw.filters[1], c);
}

TEST(Placement, FiltersShareOneStatusPerDistinctAnswerOrReason) {
  // Two groups refused with the same answer, an accepted filter kept out by
  // each: one answer, two reasons (one per group), and OK.
  Filter a = Refused(5, 2, 1, {Ok()});
  Filter b = Make(5, 2, 2, {Ok()});
  Filter c = Make(5, 2, 3, {Ok()});
  Filter d = Refused(5, 3, 1, {Ok()});
  Filter e = Make(5, 3, 2, {Ok()});
  Filter f = Make(5, 4, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{a, b, c, d, e, f}}, ModelOffer());
  ASSERT_EQ(r.filters.size(), 6u);
  EXPECT_EQ(r.filters[0].status, r.filters[3].status);  // the same refusal
  EXPECT_EQ(r.filters[1].status, r.filters[2].status);  // the same group's reason
  EXPECT_NE(r.filters[1].status, r.filters[4].status);  // another group's
  EXPECT_EQ(r.filters[5].status, 0u);
  EXPECT_EQ(r.statuses.size(), 4u);
  EXPECT_NE(r.HwStatus(r.filters[4]).message().find("prio 3"), std::string::npos);
  EXPECT_NE(r.filters[0].trap, r.filters[3].trap);  // one trap per group
  EXPECT_EQ(r.filters[0].trap, r.filters[2].trap);
}

TEST(Placement, AcceptedFilterSharingAPrioWithARefusedOneStaysInSlowPath) {
  Filter a = Make(5, 2, 1, {Ok()});
  Filter b = Refused(5, 2, 2, {Ok()});
  PlacementResult r = Place(policy::Pipeline{{a, b}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.HwStatus(r.filters[0]).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.HwStatus(r.filters[0]).message().find("Unsupported key"), std::string::npos);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  // One mask per prio: the hardware holds only the trap at prio 2.
  policy::Pipeline hw = r.HardwarePipeline();
  ASSERT_EQ(hw.filters.size(), 1u);
  EXPECT_TRUE(IsTrap(hw.filters[0]));
}

TEST(Placement, TrapKeepsOnlyKeysEveryMemberShares) {
  Filter a = Refused(5, 2, 1, {Ok()});
  Filter b = Refused(5, 2, 2, {Ok()});
  b.match.Mutable().indev = DeviceRef::OfPort("b");
  std::optional<Filter> trap = TrapForGroup({&a, &b}, ModelOffer());
  ASSERT_TRUE(trap);
  EXPECT_FALSE(trap->match->indev);
  EXPECT_EQ(trap->match, policy::FlowerMatch{});
}

TEST(Placement, TrapFallsBackToIndevThenProtocol) {
  Filter a = Make(5, 2, 1, {Ok()});
  a.protocol = policy::kEthIPv4;
  a.match.Mutable().ip_proto = 6;
  OfferFn no_ip_proto = [](const Filter& f) -> absl::Status {
    if (f.match->ip_proto) return absl::UnimplementedError("no ip_proto");
    return absl::OkStatus();
  };
  std::optional<Filter> trap = TrapForGroup({&a}, no_ip_proto);
  ASSERT_TRUE(trap);
  EXPECT_FALSE(trap->match->ip_proto);
  EXPECT_EQ(trap->match->indev, DeviceRef::OfPort("a"));
  OfferFn no_keys = [](const Filter& f) -> absl::Status {
    if (!(f.match == policy::FlowerMatch{})) return absl::UnimplementedError("no keys");
    return absl::OkStatus();
  };
  trap = TrapForGroup({&a}, no_keys);
  ASSERT_TRUE(trap);
  EXPECT_EQ(trap->match, policy::FlowerMatch{});
  EXPECT_EQ(trap->protocol, policy::kEthIPv4);
  OfferFn nothing = [](const Filter&) { return absl::UnimplementedError("no"); };
  EXPECT_FALSE(TrapForGroup({&a}, nothing));
}

TEST(Placement, ChainIsTrappedWholeWhenNoGroupTrapIsAccepted) {
  // Without ignore_flow_level prio 20 is out of range for any filter, traps
  // included, so chain 2 gets one match-all trap at its first prio.
  HwCapabilities caps;
  caps.ignore_flow_level = false;
  Filter first = Make(2, 3, 1, {Drop()});
  Filter late = Make(2, 20, 1, {Drop()});
  Filter other = Make(3, 1, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{first, late, other}}, ModelOffer(caps));
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  EXPECT_EQ(r.HwStatus(r.filters[1]).message(),
            "mlx5_core: Requested priority is out of supported range");
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
  ASSERT_EQ(r.traps.size(), 1u);
  const Filter& trap = r.traps[0];
  EXPECT_EQ(trap.Key(), std::make_tuple(2u, uint16_t{3}, 1u));
  EXPECT_EQ(trap.protocol, policy::kEthAll);
  EXPECT_EQ(trap.match, policy::FlowerMatch{});
  ASSERT_NE(r.TrapOf(r.filters[0]), nullptr);
  EXPECT_EQ(*r.TrapOf(r.filters[0]), trap);
  ASSERT_NE(r.TrapOf(r.filters[1]), nullptr);
  EXPECT_EQ(*r.TrapOf(r.filters[1]), trap);
  EXPECT_EQ(r.HardwarePipeline().filters, (std::vector<Filter>{trap, other}));
}

// The chain trap falls back to prio 1, except in chain 0: its prio 1 is the
// activation hook's (policy::Chains::kHookPrio), which a trap must not take.
TEST(Placement, ChainTrapFallsBackToPrioOneButNeverTakesTheHookSlotOfChainZero) {
  OfferFn only_prio_one = [](const Filter& f) -> absl::Status {
    return f.prio == 1 ? absl::OkStatus() : absl::ResourceExhaustedError("out of range");
  };
  std::optional<Filter> in5 = TrapForChain(5, 9, only_prio_one);
  ASSERT_TRUE(in5.has_value());
  EXPECT_EQ(in5->Key(), std::make_tuple(5u, uint16_t{1}, 1u));
  EXPECT_FALSE(TrapForChain(0, 9, only_prio_one).has_value());
}

TEST(Placement, ChainThatCannotHoldATrapIsNeverEntered) {
  OfferFn offer = [](const Filter& f) -> absl::Status {
    if (f.chain == 7) return absl::ResourceExhaustedError("table full");
    return absl::OkStatus();
  };
  Filter jump = Make(0, 1, 1, {Goto(7)});
  Filter other = Make(0, 2, 1, {Goto(8)});
  Filter in7 = Make(7, 1, 1, {Drop()});
  Filter in8 = Make(8, 1, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{jump, other, in7, in8}}, offer);
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_NE(r.HwStatus(r.filters[0]).message().find("chain 7"), std::string::npos);
  EXPECT_EQ(r.filters[1].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[2].placement, Placement::kTrap);
  EXPECT_EQ(ErrnoOf(r.HwStatus(r.filters[2])), ENOSPC);
  EXPECT_FALSE(r.TrapOf(r.filters[2]));
  EXPECT_EQ(r.filters[3].placement, Placement::kHardware);
  for (const Filter& f : r.HardwarePipeline().filters) EXPECT_NE(f.chain, 7u);
  EXPECT_FALSE(r.hardware_bypassed);
}

TEST(Placement, HardwareBypassedWhenChainZeroHoldsNothing) {
  OfferFn offer = [](const Filter& f) -> absl::Status {
    if (f.chain == 0) return absl::UnimplementedError("no");
    return absl::OkStatus();
  };
  PlacementResult r =
      Place(policy::Pipeline{{Make(0, 1, 1, {Goto(4)}), Make(4, 1, 1, {Drop()})}}, offer);
  EXPECT_TRUE(r.hardware_bypassed);
  EXPECT_TRUE(r.HardwarePipeline().filters.empty());
  EXPECT_EQ(r.filters[1].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.SlowPathPipeline().filters.size(), 2u);
}

TEST(Placement, MirrorBeforeATrapStaysInSlowPathEvenThroughAnotherChain) {
  Filter flood = Make(9, 1, 1, {MirrorUplink(), Goto(10)});
  Filter hop = Make(10, 1, 1, {Goto(11)});  // accepted, no effect
  Filter later = Refused(11, 1, 1, {Drop()});
  Filter safe = Make(12, 1, 1, {MirrorUplink(), Goto(13)});
  Filter end = Make(13, 1, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{flood, hop, later, safe, end}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.HwStatus(r.filters[0]).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.HwStatus(r.filters[0]).message().find("before a possible trap"), std::string::npos);
  EXPECT_EQ(r.filters[1].placement, Placement::kHardware);  // no effect, may go to a trap
  EXPECT_EQ(r.filters[2].placement, Placement::kTrap);
  EXPECT_EQ(r.filters[3].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[4].placement, Placement::kHardware);
}

TEST(Placement, FrameEditsAndCommitsBeforeATrapStayInSlowPathButLookupsDoNot) {
  Action commit{Kind::kCt};
  commit.zone = 4;
  commit.commit = true;
  Action lookup{Kind::kCt};
  lookup.zone = 4;
  Filter pop = Make(1, 1, 1, {Action{Kind::kVlanPop}, Goto(20)});
  Filter commits = Make(2, 1, 1, {commit, Goto(20)});
  Filter looks = Make(3, 1, 1, {lookup, Goto(20)});
  Filter target = Refused(20, 1, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{pop, commits, looks, target}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[1].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[3].placement, Placement::kTrap);
}

TEST(Placement, MirrorTrappedByTheFixpointMakesItsOwnCallersUnsafe) {
  // a mirrors then jumps to b; b mirrors then jumps to c; c is refused.
  // A trap is reachable from a through b, and from b directly.
  Filter a = Make(1, 1, 1, {MirrorUplink(), Goto(2)});
  Filter b = Make(2, 1, 1, {MirrorUplink(), Goto(3)});
  Filter c = Refused(3, 1, 1, {Drop()});
  PlacementResult r = Place(policy::Pipeline{{a, b, c}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[1].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[2].placement, Placement::kTrap);
  EXPECT_EQ(r.traps.size(), 3u);
}

TEST(Placement, CopiesToPortsAndEgressHooksNeverReachTheHardware) {
  int offered = 0;
  OfferFn offer = [&](const Filter& f) {
    if (f.actions.front().kind != Kind::kTrap) ++offered;
    return absl::OkStatus();
  };
  Filter post = Make(3, 1, 1, {Goto(9)});
  Filter flood = Make(9, 2, 1, {Mirror("a"), Mirror("b"), Action{Kind::kContinue}});
  flood.match = policy::FlowerMatch{};
  flood.protocol = policy::kEthAll;
  Filter tail = Make(9, 0xffff, 1, {Drop()});
  Filter hook = Make(0x10000001, 1, 1, {Drop()});
  hook.MutableRare().egress_of = DeviceRef::OfPort("a");
  PlacementResult r = Place(policy::Pipeline{{post, flood, tail, hook}}, offer);
  EXPECT_EQ(offered, 2) << "only post and tail are offered";
  EXPECT_EQ(r.filters[0].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  EXPECT_NE(r.HwStatus(r.filters[1]).message().find("egress hook"), std::string::npos);
  ASSERT_NE(r.TrapOf(r.filters[1]), nullptr);
  // The trap cannot share the list filter's key (EEXIST): the whole chain
  // is trapped at its free prio 1 instead.
  EXPECT_EQ(r.TrapOf(r.filters[1])->Key(), std::make_tuple(9u, uint16_t{1}, 1u));
  EXPECT_EQ(r.TrapOf(r.filters[1])->match, policy::FlowerMatch{});
  EXPECT_EQ(r.filters[3].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.TrapOf(r.filters[3]), nullptr);
  for (const Filter& f : r.HardwarePipeline().filters) {
    EXPECT_FALSE(f.rare()->egress_of.has_value());
    for (const Action& a : f.actions) {
      EXPECT_FALSE(a.kind == Kind::kMirredMirror && a.device.kind == DeviceRef::Kind::kPort);
    }
  }
  EXPECT_EQ(r.SlowPathPipeline().filters.size(), 4u);
}

TEST(Placement, PlacementNames) {
  EXPECT_STREQ(PlacementName(Placement::kHardware), "hw");
  EXPECT_STREQ(PlacementName(Placement::kTrap), "trap");
  EXPECT_STREQ(PlacementName(Placement::kSlowPathOnly), "sw");
}

}  // namespace
}  // namespace vfguard::offload

namespace vfguard::offload {
namespace {

// Issue 11: the ND check is a cls_bpf program. Its chain never goes to the
// hardware, no trap is put there (it would clash with the program's prio),
// and the group that jumps to it is trapped, so NS/NA reach it in software.
TEST(Placement, NdCheckChainStaysInTheSlowPathAndItsEntryIsTrapped) {
  constexpr uint32_t kNd = policy::Chains::kNd;
  Filter entry = Make(0, 2, 1, {Goto(16)});
  entry.protocol = policy::kEthAll;
  Filter ns = Make(16, 1, 1, {Goto(kNd)});
  ns.protocol = policy::kEthIPv6;
  ns.match.Mutable().ip_proto = policy::kProtoIcmpv6;
  ns.match.Mutable().icmp_type = 135;
  Filter other = Make(16, 2, 1, {Drop()});
  other.protocol = policy::kEthAll;
  Filter check = Make(kNd, 1, 1, {Action{Kind::kContinue}});
  check.protocol = policy::kEthIPv6;
  check.match = {};
  check.match.Mutable().ip_proto = policy::kProtoIcmpv6;
  check.classifier = policy::Classifier::kNdCheck;
  Filter pass = Make(kNd, 2, 1, {Ok()});
  pass.protocol = policy::kEthIPv6;
  HwCapabilities caps;
  caps.ignore_flow_level = true;
  caps.icmp_flex_parser = true;  // the hardware would take the NS filter itself
  PlacementResult r = Place(policy::Pipeline{{entry, ns, other, check, pass}}, ModelOffer(caps));
  ASSERT_EQ(r.filters.size(), 5u);
  EXPECT_EQ(r.filters[0].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[1].placement, Placement::kSlowPathOnly);
  EXPECT_NE(r.HwStatus(r.filters[1]).message().find("cannot hold"), std::string::npos)
      << r.HwStatus(r.filters[1]);
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
  EXPECT_EQ(r.filters[3].placement, Placement::kTrap);
  EXPECT_NE(r.HwStatus(r.filters[3]).message().find("BPF"), std::string::npos);
  EXPECT_EQ(r.filters[4].placement, Placement::kSlowPathOnly);
  ASSERT_EQ(r.traps.size(), 1u);
  EXPECT_EQ(r.traps[0].chain, 16u);
  EXPECT_EQ(r.traps[0].prio, 1);
  EXPECT_EQ(r.traps[0].match->ip_proto, policy::kProtoIcmpv6) << "only ICMPv6 goes to software";
  for (const Filter& f : r.HardwarePipeline().filters) EXPECT_NE(f.chain, kNd);
  EXPECT_FALSE(NeverInHardware(check) == std::nullopt);
}

}  // namespace
}  // namespace vfguard::offload
