// IR filter -> kernel FlowerFilter: hand-written expectations for every match
// key and action, the three copies' handles and flags, the handle scheme's
// inverse, unresolvable devices, and that everything the compiler produces for
// a sample snapshot translates and encodes.
#include "offload/tc_translate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <map>

#include "netlink/tc_codec.h"
#include "offload/placement.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::offload {
namespace {

using netlink::Exact;
using netlink::FlowerFilter;
using netlink::GactAction;
using netlink::TcAction;
using policy::DeviceRef;
using testing::HasSubstr;

constexpr uint32_t kBlock = 7;

policy::MacAddr Mac(const char* s) { return *policy::MacAddr::Parse(s); }
policy::IpPrefix Prefix(const char* s) { return *policy::IpPrefix::Parse(s); }

// uplink -> (2, "p0"), port:<id> -> (10 + id length, "rep_<id>"); "gone" is absent.
std::optional<Netdev> Devices(const DeviceRef& ref) {
  if (ref.kind == DeviceRef::Kind::kUplink) return Netdev{2, "p0"};
  if (ref.port_id == "gone") return std::nullopt;
  return Netdev{static_cast<uint32_t>(10 + ref.port_id.size()), "rep_" + *ref.port_id};
}

policy::Filter Base(uint16_t protocol) {
  policy::Filter f;
  f.chain = 3;
  f.prio = 12;
  f.handle = 5;
  f.protocol = protocol;
  f.actions = {policy::Action{policy::Action::Kind::kOk}};
  f.SetOrigin("test");
  return f;
}

FlowerFilter Expected(uint16_t protocol) {
  FlowerFilter k;
  k.owner = netlink::TcBlock{kBlock};
  k.chain = 3;
  k.prio = 12;
  k.handle = 5;
  k.protocol = protocol;
  k.skip_hw = true;
  k.actions = {TcAction{GactAction{GactAction::Verdict::kOk}, {}}};
  return k;
}

void ExpectEncodes(const FlowerFilter& f) {
  std::array<uint8_t, 8192> buf{};
  absl::StatusOr<size_t> n =
      netlink::EncodeNewFilter(f, netlink::CreateMode::kCreateExclusive, 1, absl::MakeSpan(buf));
  EXPECT_TRUE(n.ok()) << n.status() << "\n" << netlink::DebugString(f);
}

FlowerFilter Translate(const policy::Filter& f, Copy copy = Copy::kSlowPath) {
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, copy, Devices);
  EXPECT_TRUE(k.ok()) << k.status();
  if (!k.ok()) return {};
  ExpectEncodes(*k);
  return *k;
}

TEST(TcTranslate, Ipv4TcpKeysAndMacMasks) {
  policy::Filter f = Base(policy::kEthIPv4);
  f.match.Mutable().indev = DeviceRef::OfPort("a");
  f.match.Mutable().src_mac =
      policy::Masked<policy::MacAddr>{Mac("02:00:00:00:00:0a"), Mac("ff:ff:ff:ff:ff:ff")};
  f.match.Mutable().dst_mac =
      policy::Masked<policy::MacAddr>{Mac("01:00:00:00:00:00"), Mac("01:00:00:00:00:00")};
  f.match.Mutable().src_ip = Prefix("10.0.0.0/24");
  f.match.Mutable().dst_ip = Prefix("192.168.1.7/32");
  f.match.Mutable().ip_proto = policy::kProtoTcp;
  f.match.Mutable().src_port = policy::Masked<uint16_t>{1024, 0xfc00};
  f.match.Mutable().dst_port = policy::Masked<uint16_t>{80, 0xffff};
  f.match.Mutable().ct_state = policy::Masked<uint16_t>{policy::kCtTracked | policy::kCtNew,
                                                        policy::kCtTracked | policy::kCtNew};
  f.match.Mutable().ct_zone = 9;
  f.match.Mutable().ct_mark = policy::Masked<uint32_t>{0x10, 0xf0};

  FlowerFilter want = Expected(policy::kEthIPv4);
  want.keys.indev = "rep_a";
  want.keys.eth_src = Exact(netlink::MacAddr{2, 0, 0, 0, 0, 0x0a});
  want.keys.eth_dst = netlink::Masked<netlink::MacAddr>{{1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}};
  want.keys.eth_type = 0x0800;
  want.keys.ipv4_src = netlink::Masked<netlink::Ipv4Addr>{{10, 0, 0, 0}, {255, 255, 255, 0}};
  want.keys.ipv4_dst = Exact(netlink::Ipv4Addr{192, 168, 1, 7});
  want.keys.ip_proto = 6;
  want.keys.tcp_src = netlink::Masked<uint16_t>{1024, 0xfc00};
  want.keys.tcp_dst = Exact<uint16_t>(80);
  want.keys.ct_state = netlink::Masked<uint16_t>{0x9, 0x9};
  want.keys.ct_zone = Exact<uint16_t>(9);
  want.keys.ct_mark = netlink::Masked<uint32_t>{0x10, 0xf0};
  EXPECT_EQ(Translate(f), want);
}

TEST(TcTranslate, PortsFollowIpProto) {
  for (auto [proto, name] : {std::pair{policy::kProtoUdp, "udp"}, {policy::kProtoSctp, "sctp"}}) {
    policy::Filter f = Base(policy::kEthIPv6);
    f.match.Mutable().ip_proto = proto;
    f.match.Mutable().src_port = policy::Masked<uint16_t>{546, 0xffff};
    f.match.Mutable().dst_port = policy::Masked<uint16_t>{547, 0xffff};
    FlowerFilter want = Expected(policy::kEthIPv6);
    want.keys.eth_type = 0x86dd;
    want.keys.ip_proto = proto;
    if (proto == policy::kProtoUdp) {
      want.keys.udp_src = Exact<uint16_t>(546);
      want.keys.udp_dst = Exact<uint16_t>(547);
    } else {
      want.keys.sctp_src = Exact<uint16_t>(546);
      want.keys.sctp_dst = Exact<uint16_t>(547);
    }
    EXPECT_EQ(Translate(f), want) << name;
  }
  policy::Filter bad = Base(policy::kEthIPv4);
  bad.match.Mutable().ip_proto = policy::kProtoIcmp;
  bad.match.Mutable().dst_port = policy::Masked<uint16_t>{80, 0xffff};
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(bad, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("dst_port"));
}

TEST(TcTranslate, IcmpByFamilyAndIpv6Prefixes) {
  policy::Filter v4 = Base(policy::kEthIPv4);
  v4.match.Mutable().ip_proto = policy::kProtoIcmp;
  v4.match.Mutable().icmp_type = 8;
  v4.match.Mutable().icmp_code = 0;
  FlowerFilter want4 = Expected(policy::kEthIPv4);
  want4.keys.eth_type = 0x0800;
  want4.keys.ip_proto = 1;
  want4.keys.icmpv4_type = Exact<uint8_t>(8);
  want4.keys.icmpv4_code = Exact<uint8_t>(0);
  EXPECT_EQ(Translate(v4), want4);

  policy::Filter v6 = Base(policy::kEthIPv6);
  v6.match.Mutable().src_ip = Prefix("fe80::/64");
  v6.match.Mutable().dst_ip = Prefix("ff02::1/128");
  v6.match.Mutable().ip_proto = policy::kProtoIcmpv6;
  v6.match.Mutable().icmp_type = 134;
  FlowerFilter want6 = Expected(policy::kEthIPv6);
  want6.keys.eth_type = 0x86dd;
  want6.keys.ip_proto = 58;
  netlink::Ipv6Addr fe80{0xfe, 0x80};
  netlink::Ipv6Addr mask64{};
  for (int i = 0; i < 8; ++i) mask64[i] = 0xff;
  want6.keys.ipv6_src = netlink::Masked<netlink::Ipv6Addr>{fe80, mask64};
  netlink::Ipv6Addr ff02{0xff, 0x02};
  ff02[15] = 1;
  want6.keys.ipv6_dst = Exact(ff02);
  want6.keys.icmpv6_type = Exact<uint8_t>(134);
  EXPECT_EQ(Translate(v6), want6);
}

TEST(TcTranslate, ArpKeys) {
  policy::Filter f = Base(policy::kEthArp);
  f.match.Mutable().arp_op = 1;
  f.match.Mutable().arp_sip = Prefix("10.0.0.10/32");
  f.match.Mutable().arp_tip = Prefix("10.0.0.0/8");
  f.match.Mutable().arp_sha =
      policy::Masked<policy::MacAddr>{Mac("02:00:00:00:00:0a"), Mac("ff:ff:ff:ff:ff:ff")};
  f.match.Mutable().arp_tha =
      policy::Masked<policy::MacAddr>{Mac("00:00:00:00:00:00"), Mac("ff:ff:ff:ff:ff:ff")};
  FlowerFilter want = Expected(policy::kEthArp);
  want.keys.eth_type = 0x0806;
  want.keys.arp_op = Exact<uint8_t>(1);
  want.keys.arp_sip = Exact(netlink::Ipv4Addr{10, 0, 0, 10});
  want.keys.arp_tip = netlink::Masked<netlink::Ipv4Addr>{{10, 0, 0, 0}, {255, 0, 0, 0}};
  want.keys.arp_sha = Exact(netlink::MacAddr{2, 0, 0, 0, 0, 0x0a});
  want.keys.arp_tha = Exact(netlink::MacAddr{});
  EXPECT_EQ(Translate(f), want);

  policy::Filter rarp = Base(policy::kEthAll);
  rarp.match.Mutable().eth_type = policy::kEthRarp;
  rarp.match.Mutable().arp_op = 3;
  FlowerFilter want_rarp = Expected(policy::kEthAll);
  want_rarp.keys.eth_type = 0x8035;
  want_rarp.keys.arp_op = Exact<uint8_t>(3);
  EXPECT_EQ(Translate(rarp), want_rarp);

  policy::Filter wide = Base(policy::kEthArp);
  wide.match.Mutable().arp_op = 256;
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(wide, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("arp_op"));

  policy::Filter not_arp = Base(policy::kEthIPv4);
  not_arp.match.Mutable().arp_op = 1;
  k = ToKernelFilter(not_arp, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("arp"));
}

TEST(TcTranslate, VlanKeysAndEthTypes) {
  policy::Filter f = Base(policy::kEth8021Q);
  f.match.Mutable().indev = DeviceRef::Uplink();
  f.match.Mutable().vlan_id = 100;
  f.match.Mutable().vlan_eth_type = policy::kEthIPv4;
  f.match.Mutable().ip_proto = policy::kProtoUdp;
  FlowerFilter want = Expected(policy::kEth8021Q);
  want.keys.indev = "p0";
  want.keys.eth_type = 0x8100;
  want.keys.vlan_id = 100;
  want.keys.vlan_eth_type = 0x0800;
  want.keys.ip_proto = 17;
  EXPECT_EQ(Translate(f), want);

  policy::Filter untagged_proto = Base(policy::kEthIPv4);
  untagged_proto.match.Mutable().vlan_id = 5;
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(untagged_proto, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("vlan_id"));

  // Protocol 802.1Q without VLAN keys: the protocol matches, no eth_type key
  // (the kernel would not dump one back).
  policy::Filter tagged = Base(policy::kEth8021Q);
  EXPECT_EQ(Translate(tagged).keys, netlink::FlowerKeys{});
  EXPECT_EQ(Translate(tagged).protocol, 0x8100);

  // Protocol all: no eth_type key at all.
  policy::Filter all = Base(policy::kEthAll);
  EXPECT_EQ(Translate(all).keys, netlink::FlowerKeys{});

  policy::Filter contradict = Base(policy::kEthIPv4);
  contradict.match.Mutable().eth_type = policy::kEthArp;
  k = ToKernelFilter(contradict, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("eth_type"));
}

TEST(TcTranslate, WildcardMasksAreLeftOut) {
  policy::Filter f = Base(policy::kEthIPv4);
  f.match.Mutable().src_mac =
      policy::Masked<policy::MacAddr>{Mac("02:00:00:00:00:0a"), Mac("00:00:00:00:00:00")};
  f.match.Mutable().src_ip = Prefix("0.0.0.0/0");
  f.match.Mutable().ct_state = policy::Masked<uint16_t>{0, 0};
  FlowerFilter want = Expected(policy::kEthIPv4);
  want.keys.eth_type = 0x0800;
  EXPECT_EQ(Translate(f), want);
}

TEST(TcTranslate, EveryAction) {
  using K = policy::Action::Kind;
  policy::Filter f = Base(policy::kEthAll);
  policy::Action ct{K::kCt};
  ct.zone = 4;
  ct.commit = true;
  policy::Action ct_plain{K::kCt};
  ct_plain.zone = 4;
  policy::Action ct_clear{K::kCt};
  ct_clear.clear = true;
  policy::Action redirect{K::kMirredRedirect};
  redirect.device = DeviceRef::OfPort("bb");
  policy::Action mirror{K::kMirredMirror};
  mirror.device = DeviceRef::Uplink();
  policy::Action push{K::kVlanPush};
  push.vlan_id = 100;
  policy::Action go{K::kGoto};
  go.chain = 77;
  f.actions = {policy::Action{K::kPipe},
               ct,
               ct_plain,
               ct_clear,
               mirror,
               push,
               policy::Action{K::kVlanPop},
               policy::Action{K::kContinue},
               policy::Action{K::kTrap},
               policy::Action{K::kDrop},
               redirect,
               go,
               policy::Action{K::kOk}};
  using V = GactAction::Verdict;
  FlowerFilter want = Expected(policy::kEthAll);
  netlink::CtAction want_ct{4, true, false};
  netlink::CtAction want_ct_plain{4, false, false};
  netlink::CtAction want_clear;
  want_clear.clear = true;
  netlink::MirredAction want_mirror{netlink::MirredAction::Mode::kMirror, 2, std::nullopt};
  netlink::MirredAction want_redirect{netlink::MirredAction::Mode::kRedirect, 12, std::nullopt};
  netlink::VlanAction want_push;
  want_push.vlan_id = 100;
  netlink::VlanAction want_pop;
  want_pop.op = netlink::VlanAction::Op::kPop;
  want.actions = {
      TcAction{GactAction{V::kPipe}, {}},
      TcAction{want_ct, {}},
      TcAction{want_ct_plain, {}},
      TcAction{want_clear, {}},
      TcAction{want_mirror, {}},
      TcAction{want_push, {}},
      TcAction{want_pop, {}},
      TcAction{GactAction{V::kContinue}, {}},
      TcAction{GactAction{V::kTrap}, {}},
      TcAction{GactAction{V::kDrop}, {}},
      TcAction{want_redirect, {}},
      TcAction{GactAction{V::kGotoChain, 77}, {}},
      TcAction{GactAction{V::kOk}, {}},
  };
  EXPECT_EQ(Translate(f), want);
}

TEST(TcTranslate, CopiesHandlesAndFlags) {
  policy::Filter f = Base(policy::kEthAll);
  f.handle = 0x123456;
  FlowerFilter slow = Translate(f, Copy::kSlowPath);
  EXPECT_EQ(slow.handle, 0x123456u);
  EXPECT_TRUE(slow.skip_hw);
  EXPECT_FALSE(slow.skip_sw);
  FlowerFilter hw = Translate(f, Copy::kHardware);
  EXPECT_EQ(hw.handle, 0x123456u | kHardwareHandleBit);
  EXPECT_FALSE(hw.skip_hw);
  EXPECT_TRUE(hw.skip_sw);
  FlowerFilter trap = Translate(f, Copy::kTrap);
  EXPECT_EQ(trap.handle, kTrapHandle);
  EXPECT_FALSE(trap.skip_hw);
  EXPECT_TRUE(trap.skip_sw);
  // Apart from handle and flags the copies are the same filter.
  for (FlowerFilter* c : {&hw, &trap}) {
    c->handle = slow.handle;
    c->skip_hw = true;
    c->skip_sw = false;
    EXPECT_EQ(*c, slow);
  }

  f.handle = kMaxIrHandle + 1;
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("handle"));
  f.handle = 0;
  EXPECT_FALSE(ToKernelFilter(f, kBlock, Copy::kHardware, Devices).ok());
  // A trap's IR handle does not matter.
  EXPECT_TRUE(ToKernelFilter(f, kBlock, Copy::kTrap, Devices).ok());
}

TEST(TcTranslate, ClassifyHandleInvertsTheScheme) {
  for (uint32_t h : {1u, 2u, 0x1234u, kMaxIrHandle}) {
    HandleInfo slow = ClassifyHandle(h);
    EXPECT_EQ(slow.copy, Copy::kSlowPath);
    EXPECT_EQ(slow.ir_handle, h);
    HandleInfo hw = ClassifyHandle(h | kHardwareHandleBit);
    EXPECT_EQ(hw.copy, Copy::kHardware);
    EXPECT_EQ(hw.ir_handle, h);
  }
  HandleInfo trap = ClassifyHandle(kTrapHandle);
  EXPECT_EQ(trap.copy, Copy::kTrap);
  EXPECT_EQ(trap.ir_handle, 0u);
}

TEST(TcTranslate, UnresolvedDeviceIsNotFoundNamingIt) {
  policy::Filter f = Base(policy::kEthAll);
  f.match.Mutable().indev = DeviceRef::OfPort("gone");
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(k.status().message(), HasSubstr("port:gone"));
  EXPECT_THAT(k.status().message(), HasSubstr("indev"));

  policy::Filter g = Base(policy::kEthAll);
  policy::Action redirect{policy::Action::Kind::kMirredRedirect};
  redirect.device = DeviceRef::OfPort("gone");
  g.actions = {redirect};
  k = ToKernelFilter(g, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(k.status().message(), HasSubstr("port:gone"));
  EXPECT_THAT(k.status().message(), HasSubstr("actions[0]"));
}

TEST(TcTranslate, ChainsBeyondTheKernelsLimit) {
  policy::Filter f = Base(policy::kEthAll);
  f.chain = (1u << 28) - 1;
  policy::Action go{policy::Action::Kind::kGoto};
  go.chain = (1u << 28) - 1;
  f.actions = {go};
  EXPECT_TRUE(ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices).ok());
  f.chain = 1u << 28;
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("chain"));
  f.chain = 1;
  f.actions.Mutable()[0].chain = 1u << 28;
  k = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("actions[0]"));
}

TEST(TcTranslate, BadBlockAndActionCount) {
  policy::Filter f = Base(policy::kEthAll);
  EXPECT_FALSE(ToKernelFilter(f, 0, Copy::kSlowPath, Devices).ok());
  f.actions.Mutable().clear();
  absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("actions"));
}

// A small snapshot: a VLAN network with a port-security port in a group with
// TCP, a port range, ICMP and a remote group, a VIP, an address pair and a
// pending port, and a flat network with a port-security-off port.
policy::Snapshot Sample() {
  using namespace policy;
  Snapshot s;
  s.networks["v"] = Network{"v", Segmentation::kVlan, 100};
  s.networks["f"] = Network{"f", Segmentation::kFlat, 0};
  SecurityGroup web;
  web.id = "web";
  SecurityGroupRule http;
  http.direction = Direction::kIngress;
  http.protocol = kProtoTcp;
  http.ports = PortRange{80, 80};
  SecurityGroupRule range = http;
  range.ports = PortRange{8000, 8100};
  range.remote_prefix = *IpPrefix::Parse("10.1.0.0/16");
  SecurityGroupRule ping;
  ping.direction = Direction::kIngress;
  ping.protocol = kProtoIcmp;
  ping.icmp = IcmpMatch{8, 0};
  SecurityGroupRule ping6 = ping;
  ping6.ethertype = EtherType::kIPv6;
  ping6.protocol = kProtoIcmpv6;
  ping6.icmp = IcmpMatch{128, std::nullopt};
  SecurityGroupRule out;
  out.direction = Direction::kEgress;
  SecurityGroupRule out6 = out;
  out6.ethertype = EtherType::kIPv6;
  SecurityGroupRule peers_udp;
  peers_udp.protocol = kProtoUdp;
  peers_udp.remote_group_id = "web";
  SecurityGroupRule deny;
  deny.protocol = kProtoSctp;
  deny.ports = PortRange{9, 9};
  deny.action = RuleAction::kDeny;
  deny.priority = 10;
  web.rules = {http, range, ping, ping6, out, out6, peers_udp, deny};
  s.security_groups["web"] = web;

  auto port = [&](const char* id, const char* net, const char* mac, const char* ip) {
    Port p;
    p.id = id;
    p.network_id = net;
    p.mac = *MacAddr::Parse(mac);
    p.fixed_ips = {*IpAddr::Parse(ip)};
    p.representor.ref = id;
    return p;
  };
  Port a = port("a", "v", "02:00:00:00:00:0a", "10.0.0.10");
  a.security_group_ids = {"web"};
  a.vips = {*IpAddr::Parse("10.0.0.100")};
  a.allowed_address_pairs = {
      AllowedAddressPair{*IpPrefix::Parse("10.9.0.0/16"), *MacAddr::Parse("02:00:00:00:00:aa")}};
  Port b = port("b", "v", "02:00:00:00:00:0b", "fd00::b");
  b.security_group_ids = {"web"};
  Port c = port("c", "f", "02:00:00:00:00:0c", "192.168.0.5");
  c.port_security = false;
  Port d = port("d", "v", "02:00:00:00:00:0d", "10.0.0.13");
  d.state = PortState::kPendingActivation;
  for (Port* p : {&a, &b, &c, &d}) s.ports[p->id] = *p;
  return s;
}

TEST(TcTranslate, EveryCompiledFilterTranslatesAndEncodes) {
  policy::Snapshot s = Sample();
  ASSERT_TRUE(policy::Validate(s).ok()) << policy::Validate(s);
  absl::StatusOr<policy::SlotAssignment> slots = policy::AssignSlots(s, {});
  ASSERT_TRUE(slots.ok()) << slots.status();
  absl::StatusOr<policy::Pipeline> pipeline = policy::Compile(s, *slots);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_GT(pipeline->filters.size(), 30u);

  std::map<std::string, int> keys_seen;
  for (const policy::Filter& f : pipeline->filters) {
    for (Copy copy : {Copy::kSlowPath, Copy::kHardware, Copy::kTrap}) {
      absl::StatusOr<FlowerFilter> k = ToKernelFilter(f, kBlock, copy, Devices);
      if (f.rare()->egress_of && copy != Copy::kSlowPath) {
        EXPECT_FALSE(k.ok()) << "an egress hook has no hardware copy: " << f.origin();
        continue;
      }
      if (f.rare()->egress_of && k.ok()) {
        EXPECT_EQ(k->chain, 0u) << f.origin();
        const netlink::FilterOwner hook =
            netlink::TcDevice{Devices(*f.rare()->egress_of)->ifindex, netlink::kClsactEgressParent};
        EXPECT_EQ(k->owner, hook) << f.origin();
      }
      // The kernel's goto chain is 28 bits (TC_ACT_EXT_VAL_MASK); a compiled
      // chain number beyond it cannot be jumped to.
      EXPECT_TRUE(k.ok()) << k.status() << "\n" << f.origin();
      if (!k.ok()) continue;
      ExpectEncodes(*k);
      HandleInfo info = ClassifyHandle(k->handle);
      EXPECT_EQ(info.copy, copy);
      if (copy != Copy::kTrap) {
        EXPECT_EQ(info.ir_handle, f.handle);
      }
    }
    absl::StatusOr<FlowerFilter> translated = ToKernelFilter(f, kBlock, Copy::kSlowPath, Devices);
    if (!translated.ok()) continue;
    const FlowerFilter& k = *translated;
    if (k.keys.indev) ++keys_seen["indev"];
    if (k.keys.vlan_id) ++keys_seen["vlan"];
    if (k.keys.tcp_dst) ++keys_seen["tcp"];
    if (k.keys.icmpv4_type || k.keys.icmpv6_type) ++keys_seen["icmp"];
    if (k.keys.arp_sip) ++keys_seen["arp"];
    if (k.keys.ct_state) ++keys_seen["ct"];
  }
  // The sample reaches the interesting translations.
  for (const char* key : {"indev", "vlan", "tcp", "icmp", "arp", "ct"}) {
    EXPECT_GT(keys_seen[key], 0) << key;
  }

  // Placement's traps translate too.
  PlacementResult placed = Place(*pipeline, [](const policy::Filter& f) {
    return f.match->arp_op || f.match->arp_sip ? absl::UnimplementedError("no ARP keys")
                                               : absl::OkStatus();
  });
  ASSERT_FALSE(placed.traps.empty());
  for (const policy::Filter& t : placed.traps) {
    absl::StatusOr<FlowerFilter> k = ToKernelFilter(t, kBlock, Copy::kTrap, Devices);
    EXPECT_TRUE(k.ok()) << k.status();
    if (!k.ok()) continue;
    ExpectEncodes(*k);
  }
}

}  // namespace
}  // namespace vfguard::offload
