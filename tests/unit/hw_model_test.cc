// Each acceptance rule of the mlx5 model, with the errno and message.
#include "offload/hw_model.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;

Filter Base() {
  Filter f;
  f.chain = 1;
  f.prio = 1;
  f.handle = 1;
  f.protocol = policy::kEthIPv4;
  f.actions = {Action{Action::Kind::kDrop}};
  return f;
}

void ExpectRejected(const Filter& f, HwCapabilities caps, int err, const std::string& msg) {
  absl::Status st = HardwareModel(caps).Accepts(f);
  EXPECT_EQ(ErrnoOf(st), err) << st;
  EXPECT_EQ(st.message(), msg);
}

TEST(HardwareModel, AcceptsPlainL3L4) {
  Filter f = Base();
  f.match.ip_proto = policy::kProtoTcp;
  f.match.dst_port = policy::Masked<uint16_t>{80, 0xffff};
  f.match.src_ip = policy::IpPrefix::Parse("10.0.0.0/24");
  f.match.indev = policy::DeviceRef::OfPort("a");
  EXPECT_TRUE(HardwareModel().Accepts(f).ok());
}

TEST(HardwareModel, RejectsArpKeys) {
  Filter f = Base();
  f.protocol = policy::kEthArp;
  f.match.arp_sip = policy::IpPrefix::Parse("10.0.0.1");
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: ARP keys are not supported");
  f.match.arp_sip.reset();
  EXPECT_TRUE(HardwareModel().Accepts(f).ok()) << "protocol arp alone is fine";
}

TEST(HardwareModel, RejectsSctpPorts) {
  Filter f = Base();
  f.match.ip_proto = policy::kProtoSctp;
  f.match.dst_port = policy::Masked<uint16_t>{80, 0xffff};
  ExpectRejected(f, {}, EOPNOTSUPP,
                 "mlx5_core: Only UDP and TCP transports are supported for L4 matching");
}

TEST(HardwareModel, IcmpNeedsFlexParser) {
  Filter f = Base();
  f.match.ip_proto = policy::kProtoIcmp;
  f.match.icmp_type = 8;
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: ICMP type/code matching requires the flex parser");
  HwCapabilities caps;
  caps.icmp_flex_parser = true;
  EXPECT_TRUE(HardwareModel(caps).Accepts(f).ok());
}

TEST(HardwareModel, RejectsCtRelatedInvalid) {
  Filter f = Base();
  f.match.ct_state = policy::Masked<uint16_t>{policy::kCtTracked | policy::kCtRelated,
                                              policy::kCtTracked | policy::kCtRelated};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: only ct_state trk, est, new and rpl are supported");
  f.match.ct_state = policy::Masked<uint16_t>{policy::kCtTracked | policy::kCtEstablished,
                                              policy::kCtTracked | policy::kCtEstablished};
  EXPECT_TRUE(HardwareModel().Accepts(f).ok());
}

TEST(HardwareModel, RejectsCommitAsLastAction) {
  Filter f = Base();
  Action ct{Action::Kind::kCt};
  ct.zone = 5;
  ct.commit = true;
  f.actions = {ct};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: ct commit as the last action is not supported");
  Action go{Action::Kind::kGoto};
  go.chain = 7;
  f.actions = {ct, go};
  EXPECT_TRUE(HardwareModel().Accepts(f).ok());
}

TEST(HardwareModel, RejectsContinue) {
  Filter f = Base();
  f.actions = {Action{Action::Kind::kContinue}};
  ExpectRejected(f, {}, EOPNOTSUPP, "mlx5_core: The action is not supported");
}

TEST(HardwareModel, ChainRangeWithoutIgnoreFlowLevel) {
  HwCapabilities caps;
  caps.ignore_flow_level = false;
  Filter f = Base();
  f.chain = 3;
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Requested chain/prio is out of supported range");
  f.chain = 2;
  f.prio = 17;
  ExpectRejected(f, caps, EOPNOTSUPP, "mlx5_core: Requested chain/prio is out of supported range");
  f.prio = 16;
  EXPECT_TRUE(HardwareModel(caps).Accepts(f).ok());
  f.chain = 100000;
  EXPECT_TRUE(HardwareModel().Accepts(f).ok());
}

TEST(HardwareModel, LimitsForwardDestinations) {
  Filter f = Base();
  f.actions.clear();
  for (int i = 0; i < kMaxForwardDestinations + 1; ++i) {
    Action a{Action::Kind::kMirredMirror};
    a.device = policy::DeviceRef::OfPort(std::to_string(i));
    f.actions.push_back(a);
  }
  ExpectRejected(f, {}, EINVAL, "mlx5_core: The number of forward destinations exceeds the limit");
  f.actions.pop_back();
  EXPECT_TRUE(HardwareModel().Accepts(f).ok());
}

}  // namespace
}  // namespace vfguard::offload
