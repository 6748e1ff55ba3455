// Each acceptance rule of the mlx5 model: the filter it refuses (errno and
// extack), and the nearest filter it takes, so a rule that refused too much
// would fail as well.
#include "offload/hw_model.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::DeviceRef;
using policy::Filter;
using Kind = policy::Action::Kind;

Filter Base() {
  Filter f;
  f.chain = 1;
  f.prio = 1;
  f.handle = 1;
  f.protocol = policy::kEthIPv4;
  f.actions = {Action{Kind::kDrop}};
  return f;
}

Action Goto(uint32_t chain) {
  Action a{Kind::kGoto};
  a.chain = chain;
  return a;
}

Action Mirred(Kind kind, DeviceRef dev) {
  Action a{kind};
  a.device = std::move(dev);
  return a;
}

Action Ct(uint16_t zone, bool commit = false) {
  Action a{Kind::kCt};
  a.zone = zone;
  a.commit = commit;
  return a;
}

Action VlanPush(uint16_t id) {
  Action a{Kind::kVlanPush};
  a.vlan_id = id;
  return a;
}

policy::Masked<uint16_t> CtState(uint16_t value, uint16_t mask) { return {value, mask}; }

void ExpectRejected(const Filter& f, HwCapabilities caps, int err, const std::string& msg) {
  absl::Status st = HardwareModel(caps).Accepts(f);
  EXPECT_EQ(ErrnoOf(st), err) << st;
  EXPECT_EQ(st.message(), msg);
}

void ExpectAccepted(const Filter& f, HwCapabilities caps = {}) {
  absl::Status st = HardwareModel(caps).Accepts(f);
  EXPECT_TRUE(st.ok()) << st;
}

TEST(HardwareModel, AcceptsPlainL2L3L4WithIndevAndRedirect) {
  Filter f = Base();
  f.match.Mutable().indev = DeviceRef::OfPort("a");
  f.match.Mutable().src_mac = policy::Masked<policy::MacAddr>{};
  f.match.Mutable().ip_proto = policy::kProtoTcp;
  f.match.Mutable().dst_port = policy::Masked<uint16_t>{0x50, 0xfff0};  // partial masks are fine
  f.match.Mutable().src_ip = policy::IpPrefix::Parse("10.0.0.0/24");
  f.match.Mutable().ct_zone = 3;
  f.actions = {Mirred(Kind::kMirredRedirect, DeviceRef::OfPort("b"))};
  ExpectAccepted(f);
}

TEST(HardwareModel, RejectsArpKeysButNotProtocolArp) {
  Filter f = Base();
  f.protocol = policy::kEthArp;
  f.match.Mutable().arp_sip = policy::IpPrefix::Parse("10.0.0.1");
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Unsupported key");
  f.match.Mutable().arp_sip.reset();
  f.match.Mutable().arp_op = 1;
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Unsupported key");
  f.match.Mutable().arp_op.reset();
  ExpectAccepted(f);
}

TEST(HardwareModel, IndevRefusedByBlockPeersOnlyWhenConfigured) {
  Filter f = Base();
  f.match.Mutable().indev = DeviceRef::OfPort("a");
  HwCapabilities caps;
  caps.skip_sw_indev_refused_by_peers = true;
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Can't match on the ingress filter port");
  ExpectAccepted(f);
  f.match.Mutable().indev.reset();
  ExpectAccepted(f, caps);
}

TEST(HardwareModel, L4PortsOnlyWithTcpOrUdp) {
  Filter f = Base();
  f.match.Mutable().ip_proto = policy::kProtoSctp;
  f.match.Mutable().dst_port = policy::Masked<uint16_t>{80, 0xffff};
  ExpectRejected(f, {}, EINVAL,
                 "mlx5_core: Only UDP and TCP transports are supported for L4 matching");
  f.match.Mutable().ip_proto = policy::kProtoUdp;
  ExpectAccepted(f);
  f.match.Mutable().ip_proto = policy::kProtoSctp;
  f.match.Mutable().dst_port.reset();
  ExpectAccepted(f);  // SCTP without ports is fine
}

TEST(HardwareModel, IcmpNeedsFlexParser) {
  Filter f = Base();
  f.match.Mutable().ip_proto = policy::kProtoIcmp;
  f.match.Mutable().icmp_type = 8;
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Match on Flex protocols for ICMP is not supported");
  f.protocol = policy::kEthIPv6;
  f.match.Mutable().ip_proto = policy::kProtoIcmpv6;
  f.match.Mutable().icmp_type = 135;
  ExpectRejected(f, {}, EOPNOTSUPP,
                 "mlx5_core: Match on Flex protocols for ICMPV6 is not supported");
  HwCapabilities caps;
  caps.icmp_flex_parser = true;
  ExpectAccepted(f, caps);
  f.match.Mutable().icmp_type.reset();
  ExpectAccepted(f);  // ip_proto icmpv6 alone needs no flex parser
}

TEST(HardwareModel, CtStateRelInvNewRejectedOnlyWhenSet) {
  Filter f = Base();
  f.match.Mutable().ct_state =
      CtState(policy::kCtTracked | policy::kCtRelated, policy::kCtTracked | policy::kCtRelated);
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: matching on ct_state +rel isn't supported");
  f.match.Mutable().ct_state =
      CtState(policy::kCtTracked | policy::kCtInvalid, policy::kCtTracked | policy::kCtInvalid);
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: matching on ct_state +inv isn't supported");
  f.match.Mutable().ct_state =
      CtState(policy::kCtTracked | policy::kCtNew, policy::kCtTracked | policy::kCtNew);
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: matching on ct_state +new isn't supported");
  // -rel, -inv, -new and +trk+est+rpl are offloadable.
  uint16_t all = policy::kCtTracked | policy::kCtEstablished | policy::kCtReply |
                 policy::kCtRelated | policy::kCtInvalid | policy::kCtNew;
  f.match.Mutable().ct_state =
      CtState(policy::kCtTracked | policy::kCtEstablished | policy::kCtReply, all);
  ExpectAccepted(f);
  f.match.Mutable().ct_state = CtState(0, 1 << 6);  // a flag outside the six (e.g. dnat)
  ExpectRejected(f, {}, EOPNOTSUPP,
                 "mlx5_core: only ct_state trk, est, new and rpl are supported for offload");
}

TEST(HardwareModel, ContinueAndPipeCannotBeDescribedToDrivers) {
  Filter f = Base();
  f.actions = {Action{Kind::kContinue}};
  ExpectRejected(f, {}, EOPNOTSUPP, "act_gact: Offload of \"continue\" action is not supported");
  f.actions = {Action{Kind::kPipe}, Action{Kind::kDrop}};
  ExpectRejected(f, {}, EOPNOTSUPP, "act_gact: Offload of \"pipe\" action is not supported");
}

TEST(HardwareModel, TrapOnlyAsSoleAction) {
  Filter f = Base();
  f.actions = {Action{Kind::kTrap}};
  ExpectAccepted(f);
  f.actions = {Mirred(Kind::kMirredMirror, DeviceRef::OfPort("b")), Action{Kind::kTrap}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: action trap is supported as a sole action only");
}

TEST(HardwareModel, OneCtActionPerRuleButCtClearIsExtra) {
  Filter f = Base();
  f.actions = {Ct(1), Ct(2), Goto(5)};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Multiple CT actions are not supported");
  Action clear{Kind::kCt};
  clear.clear = true;
  f.actions = {clear, Ct(2), Goto(5)};
  ExpectAccepted(f);
}

TEST(HardwareModel, CtCommitAsLastActionHasNoDestination) {
  Filter f = Base();
  f.actions = {Ct(5, /*commit=*/true)};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Rule must have at least one forward/drop action");
  f.actions = {Ct(5, /*commit=*/true), Goto(7)};
  ExpectAccepted(f);
  f.actions = {Action{Kind::kVlanPop}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Rule must have at least one forward/drop action");
}

TEST(HardwareModel, ForwardPlusDropRejected) {
  Filter f = Base();
  f.actions = {Mirred(Kind::kMirredMirror, DeviceRef::OfPort("b")), Action{Kind::kDrop}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Rule cannot support forward+drop action");
  f.actions = {Mirred(Kind::kMirredMirror, DeviceRef::OfPort("b")), Goto(4)};
  ExpectAccepted(f);
}

TEST(HardwareModel, AtMostTwoVlanActionsAndPopPushIsARewrite) {
  Filter f = Base();
  f.actions = {Action{Kind::kVlanPop}, Action{Kind::kVlanPop}, Action{Kind::kVlanPop},
               Action{Kind::kOk}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Total vlans used is greater than supported");
  f.actions = {VlanPush(1), VlanPush(2), VlanPush(3), Action{Kind::kOk}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Total vlans used is greater than supported");
  f.actions = {VlanPush(1), VlanPush(2), Action{Kind::kOk}};
  ExpectAccepted(f);
  f.actions = {Action{Kind::kVlanPop}, VlanPush(2), VlanPush(3), Action{Kind::kOk}};
  ExpectAccepted(f);  // pop+push is one rewrite, then one push
}

TEST(HardwareModel, OutputsDistinctAndAtMost32) {
  Filter f = Base();
  f.actions.Mutable().clear();
  for (int i = 0; i < kMaxForwardDestinations + 1; ++i) {
    f.actions.Mutable().push_back(
        Mirred(Kind::kMirredMirror, DeviceRef::OfPort(std::to_string(i))));
  }
  ExpectRejected(f, {}, EOPNOTSUPP,
                 "mlx5_core: can't support more output ports, can't offload forwarding");
  f.actions.Mutable().pop_back();
  ExpectAccepted(f);
  f.actions = {Mirred(Kind::kMirredMirror, DeviceRef::OfPort("b")),
               Mirred(Kind::kMirredRedirect, DeviceRef::OfPort("b"))};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: can't duplicate output to same device");
}

TEST(HardwareModel, NoForwardingFromAVfToItself) {
  Filter f = Base();
  f.match.Mutable().indev = DeviceRef::OfPort("a");
  f.actions = {Mirred(Kind::kMirredRedirect, DeviceRef::OfPort("a"))};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: can't forward from a VF to itself");
  f.actions = {Mirred(Kind::kMirredRedirect, DeviceRef::Uplink())};
  ExpectAccepted(f);
}

TEST(HardwareModel, ChainsAndPriosWithoutIgnoreFlowLevel) {
  HwCapabilities caps;
  caps.ignore_flow_level = false;
  Filter f = Base();
  f.chain = 4;
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Requested chain is out of supported range");
  f.chain = 3;
  f.prio = 17;
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Requested priority is out of supported range");
  f.prio = 16;
  ExpectAccepted(f, caps);
  f.chain = 1;
  f.actions = {Goto(4)};
  ExpectRejected(f, caps, EOPNOTSUPP,
                 "mlx5_core: Requested destination chain is out of supported range");
  f.actions = {Goto(1)};
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Goto lower numbered chain isn't supported");
  f.actions = {Goto(3)};
  ExpectAccepted(f, caps);
}

TEST(HardwareModel, ChainsAndPriosWithIgnoreFlowLevel) {
  Filter f = Base();
  f.chain = 100000;
  f.prio = 60000;
  f.actions = {Goto(7)};  // backwards is fine
  ExpectAccepted(f);
  f.chain = UINT32_MAX;
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: Requested chain is out of supported range");
}

TEST(HardwareModel, ErrnoOfMapsCodes) {
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoOf(absl::UnimplementedError("x")), EOPNOTSUPP);
  EXPECT_EQ(ErrnoOf(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(ErrnoOf(absl::ResourceExhaustedError("x")), ENOSPC);
  EXPECT_EQ(ErrnoOf(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(ErrnoOf(absl::AlreadyExistsError("x")), EEXIST);
  EXPECT_EQ(ErrnoOf(absl::PermissionDeniedError("x")), EPERM);
  EXPECT_EQ(ErrnoOf(absl::InternalError("x")), EIO);
}

}  // namespace
}  // namespace vfguard::offload
