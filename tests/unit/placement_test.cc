#include "offload/placement.h"

#include <gtest/gtest.h>

#include "offload/hw_model.h"
#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;

Filter Make(uint32_t chain, uint16_t prio, uint32_t handle, std::vector<Action> actions) {
  Filter f;
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = policy::kEthArp;
  f.match.indev = policy::DeviceRef::OfPort("a");
  f.actions = std::move(actions);
  return f;
}

Action Goto(uint32_t chain) {
  Action a{Action::Kind::kGoto};
  a.chain = chain;
  return a;
}

OfferFn ModelOffer() {
  return [](const Filter& f) { return HardwareModel().Accepts(f); };
}

TEST(Placement, AcceptedGroupGoesToHardware) {
  policy::Pipeline p{{Make(0, 1, 1, {Goto(5)}), Make(5, 1, 1, {Action{Action::Kind::kDrop}})}};
  PlacementResult r = Place(p, ModelOffer());
  ASSERT_EQ(r.filters.size(), 2u);
  EXPECT_EQ(r.filters[0].placement, Placement::kHardware);
  EXPECT_EQ(r.HardwarePipeline(), p);
  EXPECT_EQ(r.SlowPathPipeline(), p);
}

TEST(Placement, RejectedFilterTrapsItsWholePrioGroup) {
  Filter a = Make(5, 2, 1, {Action{Action::Kind::kOk}});
  a.match.arp_sip = policy::IpPrefix::Parse("10.0.0.1");
  Filter b = Make(5, 2, 2, {Action{Action::Kind::kOk}});
  b.match.arp_sip = policy::IpPrefix::Parse("10.0.0.2");
  Filter c = Make(5, 3, 1, {Action{Action::Kind::kDrop}});
  PlacementResult r = Place(policy::Pipeline{{a, b, c}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kTrap);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  EXPECT_EQ(r.filters[0].hw_status.message(), "mlx5_core: ARP keys are not supported");
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
  policy::Pipeline hw = r.HardwarePipeline();
  ASSERT_EQ(hw.filters.size(), 2u);
  const Filter& trap = hw.filters[0];
  EXPECT_EQ(trap.prio, 2);
  EXPECT_EQ(trap.protocol, policy::kEthArp);
  EXPECT_EQ(trap.match.indev, policy::DeviceRef::OfPort("a"));  // shared key kept
  EXPECT_FALSE(trap.match.arp_sip);                             // differing key dropped
  EXPECT_EQ(trap.actions, std::vector<Action>{Action{Action::Kind::kTrap}});
}

TEST(Placement, AcceptedFilterSharingAPrioWithARejectedOneIsNotOffloaded) {
  Filter a = Make(5, 2, 1, {Action{Action::Kind::kOk}});
  Filter b = Make(5, 2, 2, {Action{Action::Kind::kOk}});
  b.match.arp_sip = policy::IpPrefix::Parse("10.0.0.2");
  PlacementResult r = Place(policy::Pipeline{{a, b}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
}

TEST(Placement, MirrorBeforeATrapIsKeptInSlowPath) {
  Action mirror{Action::Kind::kMirredMirror};
  mirror.device = policy::DeviceRef::OfPort("b");
  Filter flood1 = Make(9, 1, 1, {mirror, Goto(10)});
  Filter later = Make(10, 1, 1, {Action{Action::Kind::kDrop}});
  later.match.arp_sip = policy::IpPrefix::Parse("10.0.0.9");  // rejected by the model
  Filter other = Make(11, 1, 1, {mirror, Goto(12)});
  PlacementResult r = Place(policy::Pipeline{{flood1, later, other}}, ModelOffer());
  EXPECT_EQ(r.filters[0].placement, Placement::kSlowPathOnly);
  EXPECT_EQ(r.filters[0].hw_status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.filters[1].placement, Placement::kTrap);
  EXPECT_EQ(r.filters[2].placement, Placement::kHardware);
}

TEST(Placement, TrapFallsBackToCoarserMatch) {
  Filter a = Make(5, 2, 1, {Action{Action::Kind::kOk}});
  a.match.ip_proto = 6;
  // An offer that refuses any trap with ip_proto set.
  OfferFn offer = [](const Filter& f) -> absl::Status {
    if (f.match.ip_proto) return absl::UnimplementedError("no");
    return absl::OkStatus();
  };
  Filter trap = TrapForGroup({&a}, offer);
  EXPECT_FALSE(trap.match.ip_proto);
  EXPECT_EQ(trap.match.indev, policy::DeviceRef::OfPort("a"));
}

}  // namespace
}  // namespace vfguard::offload
