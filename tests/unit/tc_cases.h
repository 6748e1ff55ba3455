// The filters the tc kernel round-trip test installs, shared with the unit
// test that decodes the kernel's captured replies for them.
#ifndef VFGUARD_TESTS_UNIT_TC_CASES_H_
#define VFGUARD_TESTS_UNIT_TC_CASES_H_

#include <string>
#include <vector>

#include "netlink/tc_types.h"

namespace vfguard::netlink::testing {

inline constexpr MacAddr kMac1 = {0x02, 0, 0, 0, 0, 0x01};
inline constexpr uint16_t kIp = 0x0800, kIpv6 = 0x86dd, kArp = 0x0806, kVlan = 0x8100,
                          kAll = 0x0003;

struct Case {
  std::string name;
  FlowerFilter filter;
};

// A block filter with skip_hw: veths have no hardware, so status is predictable.
inline FlowerFilter TcCaseFilter(uint32_t block, uint32_t chain, uint16_t prio, uint32_t handle,
                                 uint16_t protocol) {
  FlowerFilter f;
  f.owner = TcBlock{block};
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = protocol;
  f.skip_hw = true;
  return f;
}

inline TcAction Gact(GactAction::Verdict v, uint32_t chain = 0) { return {GactAction{v, chain}}; }

// One filter per supported key group and action, as the kernel round-trip
// test installs them: on `block`, matching ingress device `indev`, mirred
// actions towards `mirred_ifindex`.
inline std::vector<Case> TcRoundTripCases(uint32_t block, const std::string& indev,
                                          uint32_t mirred_ifindex) {
  auto OnBlock = [block](uint32_t chain, uint16_t prio, uint32_t handle, uint16_t protocol) {
    return TcCaseFilter(block, chain, prio, handle, protocol);
  };
  std::vector<Case> cases;
  {
    FlowerFilter f = OnBlock(0, 1, 1, kAll);
    f.keys.indev = indev;
    f.keys.eth_dst = Exact(kMac1);
    f.keys.eth_src = Masked<MacAddr>{{0x02, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0, 0, 0}};
    f.actions = {Gact(GactAction::Verdict::kGotoChain, 7)};
    cases.push_back({"l2", f});
  }
  {
    FlowerFilter f = OnBlock(2, 10, 2, kIp);
    f.keys.eth_type = kIp;
    f.keys.ip_proto = 6;
    f.keys.ipv4_src = Masked<Ipv4Addr>{{10, 0, 0, 0}, {255, 0, 0, 0}};
    f.keys.ipv4_dst = Exact(Ipv4Addr{192, 168, 1, 1});
    f.keys.tcp_src = Masked<uint16_t>{1024, 0xfc00};
    f.keys.tcp_dst = Exact<uint16_t>(80);
    f.actions = {{CtAction{.zone = 3}}, Gact(GactAction::Verdict::kGotoChain, 4)};
    cases.push_back({"ipv4_tcp", f});
  }
  {
    FlowerFilter f = OnBlock(3, 20, 3, kIpv6);
    f.keys.eth_type = kIpv6;
    f.keys.ip_proto = 17;
    Ipv6Addr net{0x20, 0x01, 0x0d, 0xb8};
    Ipv6Addr host = net;
    host[15] = 1;
    f.keys.ipv6_src = Masked<Ipv6Addr>{net, {0xff, 0xff, 0xff, 0xff}};
    f.keys.ipv6_dst = Exact(host);
    f.keys.udp_src = Masked<uint16_t>{0, 0xff00};
    f.keys.udp_dst = Exact<uint16_t>(53);
    f.actions = {Gact(GactAction::Verdict::kDrop)};
    cases.push_back({"ipv6_udp", f});
  }
  {
    FlowerFilter f = OnBlock(0, 11, 4, kIp);
    f.keys.eth_type = kIp;
    f.keys.ip_proto = 132;
    f.keys.sctp_src = Exact<uint16_t>(7);
    f.keys.sctp_dst = Masked<uint16_t>{5000, 0xff00};
    f.actions = {Gact(GactAction::Verdict::kPipe), Gact(GactAction::Verdict::kOk)};
    cases.push_back({"sctp", f});
  }
  {
    FlowerFilter f = OnBlock(0, 12, 5, kIp);
    f.keys.eth_type = kIp;
    f.keys.ip_proto = 1;
    f.keys.icmpv4_type = Exact<uint8_t>(8);
    f.keys.icmpv4_code = Exact<uint8_t>(0);
    f.actions = {Gact(GactAction::Verdict::kOk)};
    cases.push_back({"icmp", f});
  }
  {
    FlowerFilter f = OnBlock(0, 13, 6, kIpv6);
    f.keys.eth_type = kIpv6;
    f.keys.ip_proto = 58;
    f.keys.icmpv6_type = Exact<uint8_t>(134);
    f.keys.icmpv6_code = Masked<uint8_t>{0, 0xf0};
    f.actions = {Gact(GactAction::Verdict::kDrop)};
    cases.push_back({"icmpv6", f});
  }
  {
    FlowerFilter f = OnBlock(1, 14, 7, kArp);
    f.keys.eth_type = kArp;
    f.keys.arp_sip = Masked<Ipv4Addr>{{10, 0, 0, 0}, {255, 255, 255, 0}};
    f.keys.arp_tip = Exact(Ipv4Addr{10, 0, 0, 1});
    f.keys.arp_op = Exact<uint8_t>(1);
    f.keys.arp_sha = Exact(kMac1);
    f.keys.arp_tha = Masked<MacAddr>{{}, {0, 0, 0, 0, 0, 0xff}};
    f.actions = {Gact(GactAction::Verdict::kTrap)};
    cases.push_back({"arp", f});
  }
  {
    FlowerFilter f = OnBlock(9, 15, 8, kIp);
    f.keys.eth_type = kIp;
    f.keys.ct_state = Masked<uint16_t>{0x0a, 0x0a};  // +trk+est
    f.keys.ct_zone = Exact<uint16_t>(5);
    f.keys.ct_mark = Masked<uint32_t>{7, 0xff};
    f.actions = {Gact(GactAction::Verdict::kContinue)};
    cases.push_back({"ct", f});
  }
  {
    FlowerFilter f = OnBlock(0, 16, 9, kVlan);
    f.keys.eth_type = kVlan;
    f.keys.vlan_id = 100;
    f.keys.vlan_eth_type = kIp;
    f.actions = {{VlanAction{.op = VlanAction::Op::kPop}},
                 {MirredAction{.mode = MirredAction::Mode::kRedirect, .ifindex = mirred_ifindex}}};
    cases.push_back({"vlan", f});
  }
  {
    FlowerFilter f = OnBlock(0, 17, 10, kAll);
    f.actions = {{VlanAction{.op = VlanAction::Op::kPush, .vlan_id = 10, .protocol = kVlan}},
                 {MirredAction{.mode = MirredAction::Mode::kMirror, .ifindex = mirred_ifindex}},
                 {CtAction{.clear = true}},
                 {CtAction{.zone = 9, .commit = true}},
                 {MirredAction{.mode = MirredAction::Mode::kRedirect, .ifindex = mirred_ifindex}}};
    cases.push_back({"actions", f});
  }
  return cases;
}

}  // namespace vfguard::netlink::testing

#endif  // VFGUARD_TESTS_UNIT_TC_CASES_H_
