// Hand-written cases for the reference evaluator, section by section of
// docs/semantics.md, with the deliveries worked out from the text.
#include "policy/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "policy/nd_check.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

using ::testing::HasSubstr;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }
IpPrefix Pfx(const char* s) { return *IpPrefix::Parse(s); }
MacAddr Mac(const char* s) { return *MacAddr::Parse(s); }

const MacAddr kMacA = Mac("02:00:00:00:00:0a");
const MacAddr kMacB = Mac("02:00:00:00:00:0b");
const MacAddr kMacC = Mac("02:00:00:00:00:0c");
const MacAddr kMacD = Mac("02:00:00:00:00:0d");
const MacAddr kMacE = Mac("02:00:00:00:00:0e");
const MacAddr kMacV = Mac("02:00:00:00:00:10");
const MacAddr kMacW = Mac("02:00:00:00:00:11");
const MacAddr kPairMac = Mac("02:aa:00:00:00:0a");
const MacAddr kOutside = Mac("02:99:00:00:00:01");

SecurityGroupRule Rule(Direction d, std::optional<uint8_t> proto,
                       RuleAction action = RuleAction::kAllow,
                       uint16_t priority = kMaxRulePriority) {
  SecurityGroupRule r;
  r.direction = d;
  r.protocol = proto;
  r.action = action;
  r.priority = priority;
  return r;
}

// Network "flat" (untagged) with ports
//   a: 10.0.0.10, fd00::a, VIP 10.0.0.100, pairs 10.0.5.0/24 (no MAC) and
//      10.0.6.1 with kPairMac; group web (stateful)
//   b: 10.0.0.11; group db (stateful)      c: port security off
//   d: port security on, no group          e: pending activation, 10.0.0.14
//   s: 10.0.0.15; group cold (stateless)
// Network "v10" (vlan 10): v (10.1.0.1, no group), w (10.1.0.2, inactive, member of db).
class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() {
    s_.networks["flat"] = Network{"flat", Segmentation::kFlat, 0};
    s_.networks["v10"] = Network{"v10", Segmentation::kVlan, 10};
    AddPort("a", "flat", kMacA, {"10.0.0.10", "fd00::a"});
    s_.ports["a"].vips = {Ip("10.0.0.100")};
    s_.ports["a"].allowed_address_pairs = {{Pfx("10.0.5.0/24"), std::nullopt},
                                           {Pfx("10.0.6.1"), kPairMac}};
    s_.ports["a"].security_group_ids = {"web"};
    AddPort("b", "flat", kMacB, {"10.0.0.11"});
    s_.ports["b"].security_group_ids = {"db"};
    AddPort("c", "flat", kMacC, {"10.0.0.12"});
    s_.ports["c"].port_security = false;
    AddPort("d", "flat", kMacD, {"10.0.0.13"});
    AddPort("e", "flat", kMacE, {"10.0.0.14"});
    s_.ports["e"].state = PortState::kPendingActivation;
    AddPort("s", "flat", Mac("02:00:00:00:00:0f"), {"10.0.0.15"});
    s_.ports["s"].security_group_ids = {"cold"};
    AddPort("v", "v10", kMacV, {"10.1.0.1"});
    AddPort("w", "v10", kMacW, {"10.1.0.2"});
    s_.ports["w"].state = PortState::kInactive;
    s_.ports["w"].security_group_ids = {"db"};

    SecurityGroup web{"web", true, {}};
    SecurityGroupRule http = Rule(Direction::kIngress, kProtoTcp);
    http.ports = PortRange{80, 80};
    web.rules.push_back(http);                                    // rule 0
    web.rules.push_back(Rule(Direction::kEgress, std::nullopt));  // rule 1: egress any IPv4
    s_.security_groups["web"] = web;
    SecurityGroup db{"db", true, {}};
    SecurityGroupRule sql = Rule(Direction::kIngress, kProtoTcp);
    sql.ports = PortRange{5432, 5432};
    sql.remote_group_id = "web";
    db.rules.push_back(sql);
    s_.security_groups["db"] = db;
    SecurityGroup cold{"cold", false, {}};
    cold.rules.push_back(Rule(Direction::kIngress, kProtoUdp));
    cold.rules.push_back(Rule(Direction::kEgress, kProtoUdp));
    s_.security_groups["cold"] = cold;
  }

  void AddPort(const std::string& id, const std::string& net, MacAddr mac,
               std::vector<const char*> ips) {
    Port p;
    p.id = id;
    p.network_id = net;
    p.mac = mac;
    for (const char* ip : ips) p.fixed_ips.push_back(Ip(ip));
    p.representor.ref = static_cast<uint32_t>(s_.ports.size());
    s_.ports[id] = p;
  }

  Verdict Eval(const Packet& p) {
    absl::Status valid = Validate(s_);
    EXPECT_TRUE(valid.ok()) << valid;
    absl::StatusOr<SlotAssignment> slots = AssignSlots(s_, {});
    EXPECT_TRUE(slots.ok());
    slots_ = *slots;
    Verdict v = Evaluate(s_, slots_, p, ct_);
    last_trace_ = absl::StrJoin(v.trace, "\n");
    return v;
  }

  static Packet Tcp(DeviceRef in, MacAddr src, MacAddr dst, const char* sip, const char* dip,
                    uint16_t sport, uint16_t dport) {
    Packet p;
    p.in = std::move(in);
    p.src_mac = src;
    p.dst_mac = dst;
    p.src_ip = Ip(sip);
    p.dst_ip = Ip(dip);
    p.eth_type = p.src_ip.family == IpFamily::kV4 ? kEthIPv4 : kEthIPv6;
    p.ip_proto = kProtoTcp;
    p.src_port = sport;
    p.dst_port = dport;
    return p;
  }
  static Packet Udp(DeviceRef in, MacAddr src, MacAddr dst, const char* sip, const char* dip,
                    uint16_t sport, uint16_t dport) {
    Packet p = Tcp(std::move(in), src, dst, sip, dip, sport, dport);
    p.ip_proto = kProtoUdp;
    return p;
  }
  static Packet Icmp6(DeviceRef in, MacAddr src, MacAddr dst, const char* sip, const char* dip,
                      uint8_t type) {
    Packet p = Tcp(std::move(in), src, dst, sip, dip, 0, 0);
    p.ip_proto = kProtoIcmpv6;
    p.icmp_type = type;
    return p;
  }
  static Packet Arp(DeviceRef in, MacAddr src, MacAddr dst, MacAddr sha, const char* sip,
                    const char* tip) {
    Packet p;
    p.in = std::move(in);
    p.src_mac = src;
    p.dst_mac = dst;
    p.eth_type = kEthArp;
    p.arp_sha = sha;
    p.arp_sip = Ip(sip);
    p.arp_tip = Ip(tip);
    return p;
  }
  static DeviceRef From(const char* port) { return DeviceRef::OfPort(port); }
  static Delivery To(const char* port) { return Delivery{DeviceRef::OfPort(port), std::nullopt}; }
  static Delivery Up(std::optional<uint16_t> vlan = std::nullopt) {
    return Delivery{DeviceRef::Uplink(), vlan};
  }
  static std::set<Delivery> None() { return {}; }

  Snapshot s_;
  SlotAssignment slots_;
  ConntrackModel ct_;
  std::string last_trace_;
};

// §1 Frames from the uplink.
TEST_F(EvaluatorTest, UplinkUntaggedUnicastGoesToThatPortsIngressRules) {
  Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacA, "8.8.8.8", "10.0.0.10", 40000, 80);
  Verdict v = Eval(p);
  EXPECT_EQ(v.deliveries, std::set<Delivery>{To("a")});
  EXPECT_THAT(v.trace.back(),
              HasSubstr("port a ingress: security group web rule 0 (allow tcp 80, priority 16384) "
                        "allowed, committed in zone"));
  p.dst_port = 81;
  Verdict denied = Eval(p);
  EXPECT_TRUE(denied.Dropped());
  EXPECT_THAT(denied.trace.back(),
              HasSubstr("port a ingress: no rule of security group web matched"));
}

TEST_F(EvaluatorTest, UplinkTagPicksTheVlanNetwork) {
  Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacV, "8.8.8.8", "10.1.0.1", 1, 22);
  p.vlan = 10;
  EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{To("v")});
  p.vlan.reset();  // untagged = flat network, where v does not live
  EXPECT_TRUE(Eval(p).Dropped());
  p.vlan = 99;
  Verdict v = Eval(p);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("no network has vlan 99"));
}

TEST_F(EvaluatorTest, UplinkUntaggedWithoutFlatNetworkIsDropped) {
  s_.networks.erase("flat");
  for (auto it = s_.ports.begin(); it != s_.ports.end();) {
    it = it->second.network_id == "flat" ? s_.ports.erase(it) : std::next(it);
  }
  s_.security_groups.clear();
  s_.ports["w"].security_group_ids.clear();
  Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacV, "8.8.8.8", "10.1.0.1", 1, 22);
  EXPECT_TRUE(Eval(p).Dropped());
}

TEST_F(EvaluatorTest, UplinkBroadcastFloodsToAdmittedActivePortsNeverBack) {
  Packet arp =
      Arp(DeviceRef::Uplink(), kOutside, MacAddr::Broadcast(), kOutside, "10.0.0.1", "10.0.0.10");
  // ARP is base traffic for every port; e is pending, v is on another network.
  EXPECT_EQ(Eval(arp).deliveries,
            (std::set<Delivery>{To("a"), To("b"), To("c"), To("d"), To("s")}));
}

TEST_F(EvaluatorTest, UplinkUnknownUnicastAndInactivePortsAreDropped) {
  Packet p =
      Tcp(DeviceRef::Uplink(), kOutside, Mac("02:99:00:00:00:77"), "8.8.8.8", "10.0.0.10", 1, 80);
  EXPECT_TRUE(Eval(p).Dropped());
  p.dst_mac = kMacE;  // pending: not in the MAC table
  EXPECT_TRUE(Eval(p).Dropped());
}

// §2 Frames from a port.
TEST_F(EvaluatorTest, PendingPortSendsOnlyRarpAndOwnGarp) {
  Packet rarp;
  rarp.in = From("e");
  rarp.src_mac = kMacE;
  rarp.dst_mac = MacAddr::Broadcast();
  rarp.eth_type = kEthRarp;
  rarp.arp_op = 3;
  // Broadcast: uplink copy, and RARP is admitted only where port security is off.
  EXPECT_EQ(Eval(rarp).deliveries, (std::set<Delivery>{Up(), To("c")}));

  Packet garp = Arp(From("e"), kMacE, MacAddr::Broadcast(), kMacE, "10.0.0.14", "10.0.0.14");
  EXPECT_EQ(Eval(garp).deliveries,
            (std::set<Delivery>{Up(), To("a"), To("b"), To("c"), To("d"), To("s")}));
  Packet other = garp;
  other.arp_sip = other.arp_tip = Ip("10.0.0.99");  // not its own address
  EXPECT_TRUE(Eval(other).Dropped());
  Packet spoofed_sha = garp;
  spoofed_sha.arp_sha = kOutside;
  EXPECT_TRUE(Eval(spoofed_sha).Dropped());
  Packet request = garp;
  request.arp_tip = Ip("10.0.0.10");  // a normal request is not an announcement
  EXPECT_TRUE(Eval(request).Dropped());
  Packet ip = Tcp(From("e"), kMacE, kMacA, "10.0.0.14", "10.0.0.10", 1, 80);
  Verdict v = Eval(ip);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("port e is pending-activation"));
}

TEST_F(EvaluatorTest, InactivePortWithoutPortSecurityAnnouncesFromAnyMac) {
  s_.ports["e"].port_security = false;
  Packet garp = Arp(From("e"), kOutside, MacAddr::Broadcast(), kOutside, "10.0.0.14", "10.0.0.14");
  EXPECT_FALSE(Eval(garp).Dropped());
}

TEST_F(EvaluatorTest, PortSecurityOffForwardsAnythingWithoutChecks) {
  Packet p = Tcp(From("c"), kOutside, kMacA, "6.6.6.6", "10.0.0.10", 1, 80);
  EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{To("a")});
  p.eth_type = 0x88cc;  // LLDP, not even IP: to the uplink as unknown unicast
  p.dst_mac = kOutside;
  EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{Up()});
}

// §3 Port security.
TEST_F(EvaluatorTest, SourceMacMustBeThePortsOrAPairs) {
  Packet p = Tcp(From("a"), kOutside, kMacB, "10.0.0.10", "10.0.0.11", 1, 5432);
  Verdict v = Eval(p);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(),
              HasSubstr("port a port-security: source MAC 02:99:00:00:00:01 not allowed"));
}

TEST_F(EvaluatorTest, AllowedSourcesDependOnTheSourceMac) {
  // Own MAC: fixed IPs, VIPs, pairs without a MAC, link-local.
  for (const char* src : {"10.0.0.10", "10.0.0.100", "10.0.5.77"}) {
    Packet p = Tcp(From("a"), kMacA, kOutside, src, "8.8.8.8", 1, 443);
    EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{Up()}) << src << "\n" << last_trace_;
  }
  Packet ll = Tcp(From("a"), kMacA, kOutside, "fe80::ff:fe00:a", "fd00::99", 1, 443);
  ll.src_ip = IpAddr::LinkLocalFromMac(kMacA);
  // Egress rule 1 is IPv4 only: the link-local source passes port security
  // and then finds no IPv6 egress rule.
  Verdict v6 = Eval(ll);
  EXPECT_TRUE(v6.Dropped());
  EXPECT_THAT(v6.trace.back(), HasSubstr("port a egress: no rule"));
  // The pair's own address with the own MAC is not allowed (the pair has a MAC).
  EXPECT_TRUE(Eval(Tcp(From("a"), kMacA, kOutside, "10.0.6.1", "8.8.8.8", 1, 443)).Dropped());
  // With the pair's MAC: only that pair's prefix.
  EXPECT_FALSE(Eval(Tcp(From("a"), kPairMac, kOutside, "10.0.6.1", "8.8.8.8", 1, 443)).Dropped());
  Verdict bad = Eval(Tcp(From("a"), kPairMac, kOutside, "10.0.0.10", "8.8.8.8", 1, 443));
  EXPECT_TRUE(bad.Dropped());
  EXPECT_THAT(bad.trace.back(), HasSubstr("source IP 10.0.0.10 not allowed"));
}

TEST_F(EvaluatorTest, ArpChecksSenderMacAndIp) {
  Packet ok = Arp(From("a"), kMacA, MacAddr::Broadcast(), kMacA, "10.0.0.10", "10.0.0.11");
  EXPECT_EQ(Eval(ok).deliveries, (std::set<Delivery>{Up(), To("b"), To("c"), To("d"), To("s")}));
  Packet vip = ok;
  vip.arp_sip = Ip("10.0.0.100");
  EXPECT_FALSE(Eval(vip).Dropped());
  Packet probe = ok;
  probe.arp_sip = Ip("0.0.0.0");
  EXPECT_FALSE(Eval(probe).Dropped());
  Packet wrong_sha = ok;
  wrong_sha.arp_sha = kMacB;
  Verdict v = Eval(wrong_sha);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("ARP sender MAC 02:00:00:00:00:0b"));
  Packet wrong_ip = ok;
  wrong_ip.arp_sip = Ip("10.0.0.11");
  EXPECT_TRUE(Eval(wrong_ip).Dropped());
  Packet pair = Arp(From("a"), kPairMac, kMacB, kPairMac, "10.0.6.1", "10.0.0.11");
  EXPECT_EQ(Eval(pair).deliveries, std::set<Delivery>{To("b")});  // ARP is base to b
}

TEST_F(EvaluatorTest, DhcpServerFromAPortIsDroppedClientMayUseZeroSource) {
  Packet server =
      Udp(From("d"), kMacD, MacAddr::Broadcast(), "10.0.0.13", "255.255.255.255", 67, 68);
  Verdict v = Eval(server);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("DHCP server"));
  Packet client = Udp(From("a"), kMacA, MacAddr::Broadcast(), "0.0.0.0", "255.255.255.255", 68, 67);
  // Base traffic: skips a's egress rules; flooded IP reaches ports without
  // groups (d) and without port security (c) only.
  EXPECT_EQ(Eval(client).deliveries, (std::set<Delivery>{Up(), To("c"), To("d")}));
  Packet zero = client;
  zero.dst_port = 68;  // not DHCP: the zero source is spoofed
  EXPECT_TRUE(Eval(zero).Dropped());
}

TEST_F(EvaluatorTest, Ipv6GuardsRaDhcpv6ServerAndDadSources) {
  Packet ra = Icmp6(From("d"), kMacD, Mac("33:33:00:00:00:01"), "fe80::ff:fe00:d", "ff02::1", 134);
  ra.src_ip = IpAddr::LinkLocalFromMac(kMacD);
  EXPECT_TRUE(Eval(ra).Dropped());
  Packet dhcp6 = Udp(From("d"), kMacD, kOutside, "fe80::1", "fe80::2", 547, 546);
  dhcp6.src_ip = IpAddr::LinkLocalFromMac(kMacD);
  EXPECT_TRUE(Eval(dhcp6).Dropped());
  Packet dad = Icmp6(From("a"), kMacA, Mac("33:33:ff:00:00:0a"), "::", "ff02::1:ff00:a", 135);
  dad.nd_body = NdBody(Ip("fd00::a"), {});
  EXPECT_FALSE(Eval(dad).Dropped());
  Packet rs = dad;
  rs.icmp_type = 133;
  EXPECT_FALSE(Eval(rs).Dropped());
  Packet na = dad;  // NA from :: is not a DAD exception
  na.icmp_type = 136;
  EXPECT_TRUE(Eval(na).Dropped());
  Packet ns_spoofed = dad;
  ns_spoofed.src_ip = Ip("fd00::99");
  EXPECT_TRUE(Eval(ns_spoofed).Dropped());
  // NS from the own address is base traffic: no egress rule needed.
  Packet ns = dad;
  ns.src_ip = Ip("fd00::a");
  EXPECT_THAT(Eval(ns).deliveries, ::testing::Contains(Up()));
}

// §3.3: the ND payload of NS/NA from a port with port security.
TEST_F(EvaluatorTest, NdPayloadOfNsAndNaIsChecked) {
  const IpAddr ll = IpAddr::LinkLocalFromMac(kMacA);
  auto na = [&](const char* target, std::vector<NdOption> options) {
    Packet p = Icmp6(From("a"), kMacA, Mac("33:33:00:00:00:01"), "fd00::a", "ff02::1", 136);
    p.nd_body = NdBody(Ip(target), options, 0x20);
    return p;
  };
  auto ns = [&](const char* src, std::vector<NdOption> options) {
    Packet p = Icmp6(From("a"), kMacA, Mac("33:33:ff:00:00:0b"), src, "ff02::1:ff00:b", 135);
    p.nd_body = NdBody(Ip("fd00::b"), options);
    return p;
  };
  const NdOption tlla{kNdOptTargetLla, 1, kMacA};
  const NdOption slla{kNdOptSourceLla, 1, kMacA};
  EXPECT_THAT(Eval(na("fd00::a", {tlla})).deliveries, ::testing::Contains(Up()));
  EXPECT_THAT(Eval(na(ll.ToString().c_str(), {})).deliveries, ::testing::Contains(Up()));
  EXPECT_TRUE(Eval(na("fd00::b", {tlla})).Dropped()) << "spoofed target";
  EXPECT_THAT(last_trace_, HasSubstr("target fd00::b not allowed"));
  EXPECT_TRUE(Eval(na("fd00::a", {{kNdOptTargetLla, 1, kMacB}})).Dropped()) << "wrong TLLA";
  EXPECT_THAT(last_trace_, HasSubstr("target link-layer address 02:00:00:00:00:0b"));
  // A VIP is a target only while the port has it.
  EXPECT_TRUE(Eval(na("fd00::100", {tlla})).Dropped());
  s_.ports["a"].vips.push_back(Ip("fd00::100"));
  EXPECT_FALSE(Eval(na("fd00::100", {tlla})).Dropped());
  // A source link-layer option in an NA is not checked; several options are.
  EXPECT_FALSE(Eval(na("fd00::a", {{kNdOptSourceLla, 1, kMacB}, tlla})).Dropped());
  EXPECT_TRUE(Eval(na("fd00::a", {tlla, {kNdOptTargetLla, 1, kMacB}})).Dropped());

  EXPECT_FALSE(Eval(ns("fd00::a", {slla})).Dropped());
  EXPECT_TRUE(Eval(ns("fd00::a", {{kNdOptSourceLla, 1, kMacB}})).Dropped()) << "wrong SLLA";
  EXPECT_FALSE(Eval(ns("::", {})).Dropped()) << "DAD";
  EXPECT_TRUE(Eval(ns("::", {slla})).Dropped()) << "DAD with SLLA";
  EXPECT_THAT(last_trace_, HasSubstr("(DAD)"));

  Packet hop = ns("fd00::a", {slla});
  hop.hop_limit = 254;
  EXPECT_TRUE(Eval(hop).Dropped());
  Packet zero = ns("fd00::a", {{kNdOptSourceLla, 0, kMacA}});
  EXPECT_TRUE(Eval(zero).Dropped());
  EXPECT_THAT(last_trace_, HasSubstr("length 0"));
  Packet full = na("fd00::a", {tlla});
  for (size_t len = 0; len < full.nd_body.size(); ++len) {
    Packet cut = full;
    cut.nd_body.resize(len);
    // Cut right after the target, it is a whole NA without options.
    EXPECT_EQ(Eval(cut).Dropped(), len != kNdFixedBytes) << len;
  }
  std::vector<NdOption> nine(9, NdOption{14, 1, MacAddr{}});  // nonce options
  EXPECT_TRUE(Eval(na("fd00::a", nine)).Dropped());
  nine.pop_back();
  EXPECT_FALSE(Eval(na("fd00::a", nine)).Dropped());

  // No port security: no checks. Frames to a port are unchanged.
  Packet open = na("fd00::b", {{kNdOptTargetLla, 1, kMacB}});
  open.in = From("c");
  open.src_mac = kMacC;
  EXPECT_FALSE(Eval(open).Dropped());
  Packet in = na("fd00::b", {});
  in.in = DeviceRef::Uplink();
  in.src_mac = kOutside;
  EXPECT_THAT(Eval(in).deliveries, ::testing::Contains(To("a")));
}

TEST_F(EvaluatorTest, OtherEthertypesFromASecuredPortAreDropped) {
  Packet p = Arp(From("d"), kMacD, kOutside, kMacD, "10.0.0.13", "10.0.0.1");
  for (uint16_t type : {kEthRarp, kEth8021Q, uint16_t{0x88cc}}) {
    p.eth_type = type;
    Verdict v = Eval(p);
    EXPECT_TRUE(v.Dropped()) << type;
    EXPECT_THAT(v.trace.back(), HasSubstr("ethertype"));
  }
}

TEST_F(EvaluatorTest, VrrpIsBaseOnlyForPortsWithAVip) {
  Packet vrrp = Tcp(From("a"), kMacA, Mac("01:00:5e:00:00:12"), "10.0.0.10", "224.0.0.18", 0, 0);
  vrrp.ip_proto = kProtoVrrp;
  vrrp.src_port = vrrp.dst_port = 0;
  s_.security_groups["web"].rules.pop_back();  // no egress rule at all
  EXPECT_EQ(Eval(vrrp).deliveries, (std::set<Delivery>{Up(), To("c"), To("d")}));
  s_.ports["a"].vips.clear();
  EXPECT_TRUE(Eval(vrrp).Dropped());  // now it meets a's (empty) egress rules
}

// §4 To-port processing.
TEST_F(EvaluatorTest, ToPortBaseTrafficSkipsRulesOtherEthertypesDrop) {
  Packet dhcp = Udp(DeviceRef::Uplink(), kOutside, kMacB, "10.0.0.1", "10.0.0.11", 67, 68);
  EXPECT_EQ(Eval(dhcp).deliveries, std::set<Delivery>{To("b")});
  Packet ra = Icmp6(DeviceRef::Uplink(), kOutside, kMacB, "fe80::1", "fe80::2", 134);
  EXPECT_EQ(Eval(ra).deliveries, std::set<Delivery>{To("b")});
  Packet lldp = dhcp;
  lldp.eth_type = 0x88cc;
  EXPECT_TRUE(Eval(lldp).Dropped());
  lldp.dst_mac = kMacC;  // port security off: anything
  EXPECT_EQ(Eval(lldp).deliveries, std::set<Delivery>{To("c")});
  Packet tcp = Tcp(DeviceRef::Uplink(), kOutside, kMacD, "8.8.8.8", "10.0.0.13", 1, 9);
  EXPECT_EQ(Eval(tcp).deliveries, std::set<Delivery>{To("d")});  // no group: allowed
}

// §5 Flood admission.
TEST_F(EvaluatorTest, FloodedIpReachesOnlyPortsWithoutGroupsOrPortSecurity) {
  Packet p = Udp(DeviceRef::Uplink(), kOutside, Mac("01:00:5e:00:00:fb"), "10.0.0.1", "224.0.0.251",
                 5353, 5353);
  EXPECT_EQ(Eval(p).deliveries, (std::set<Delivery>{To("c"), To("d")}));
  Packet vrrp = p;
  vrrp.ip_proto = kProtoVrrp;
  EXPECT_EQ(Eval(vrrp).deliveries, (std::set<Delivery>{To("a"), To("c"), To("d")}));
}

// §6 Forwarding.
TEST_F(EvaluatorTest, HairpinDropped) {
  Verdict v = Eval(Tcp(From("d"), kMacD, kMacD, "10.0.0.13", "10.0.0.13", 1, 2));
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("hairpin"));
}

TEST_F(EvaluatorTest, VlanNetworkTagsUplinkCopies) {
  Packet bcast = Arp(From("v"), kMacV, MacAddr::Broadcast(), kMacV, "10.1.0.1", "10.1.0.9");
  EXPECT_EQ(Eval(bcast).deliveries, std::set<Delivery>{Up(10)});  // w is inactive
  Packet unknown = Tcp(From("v"), kMacV, kOutside, "10.1.0.1", "8.8.8.8", 1, 80);
  EXPECT_EQ(Eval(unknown).deliveries, std::set<Delivery>{Up(10)});
  unknown.dst_mac = kMacA;  // a lives on another network: not local to v
  EXPECT_EQ(Eval(unknown).deliveries, std::set<Delivery>{Up(10)});
}

// §7 Group rules.
TEST_F(EvaluatorTest, FirstMatchByPriorityThenDenyBeforeAllow) {
  SecurityGroup& web = s_.security_groups["web"];
  SecurityGroupRule allow_all = Rule(Direction::kIngress, std::nullopt, RuleAction::kAllow, 10);
  SecurityGroupRule deny_tcp = Rule(Direction::kIngress, kProtoTcp, RuleAction::kDeny, 20);
  web.rules = {deny_tcp, allow_all};
  Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacA, "8.8.8.8", "10.0.0.10", 1, 22);
  EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{To("a")});
  web.rules[0].priority = 10;  // equal priority: deny first, whatever the order
  ct_ = ConntrackModel();
  Verdict v = Eval(p);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(),
              HasSubstr("security group web rule 0 (deny tcp, priority 10) denied"));
  // Across groups too.
  web.rules = {allow_all};
  s_.security_groups["extra"] = SecurityGroup{"extra", true, {web.rules[0]}};
  s_.security_groups["extra"].rules[0].action = RuleAction::kDeny;
  s_.ports["a"].security_group_ids = {"extra", "web"};
  ct_ = ConntrackModel();
  EXPECT_TRUE(Eval(p).Dropped());
}

TEST_F(EvaluatorTest, PortRangeEdgesAndIcmpTypeCode) {
  SecurityGroup& web = s_.security_groups["web"];
  web.rules[0].ports = PortRange{1000, 2000};
  web.stateful = false;  // no conntrack: every frame meets the rules
  web.rules[1].protocol = kProtoUdp;
  for (auto [port, want] : std::vector<std::pair<uint16_t, bool>>{
           {999, false}, {1000, true}, {1500, true}, {2000, true}, {2001, false}}) {
    Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacA, "8.8.8.8", "10.0.0.10", 1, port);
    EXPECT_EQ(Eval(p).Dropped(), !want) << port;
  }
  SecurityGroupRule ping = Rule(Direction::kIngress, kProtoIcmp);
  ping.icmp = IcmpMatch{8, 0};
  web.rules = {ping};
  Packet echo = Tcp(DeviceRef::Uplink(), kOutside, kMacA, "8.8.8.8", "10.0.0.10", 0, 0);
  echo.ip_proto = kProtoIcmp;
  echo.icmp_type = 8;
  EXPECT_FALSE(Eval(echo).Dropped());
  echo.icmp_code = 1;
  EXPECT_TRUE(Eval(echo).Dropped());
  web.rules[0].icmp->code.reset();  // any code
  EXPECT_FALSE(Eval(echo).Dropped());
  echo.icmp_type = 0;
  EXPECT_TRUE(Eval(echo).Dropped());
}

TEST_F(EvaluatorTest, RemotePrefixIsSourceOnIngressDestinationOnEgress) {
  SecurityGroup& web = s_.security_groups["web"];
  web.stateful = false;
  web.rules[0].remote_prefix = Pfx("8.8.0.0/16");
  web.rules[1].remote_prefix = Pfx("9.9.9.0/24");
  Packet in = Tcp(DeviceRef::Uplink(), kOutside, kMacA, "8.8.4.4", "10.0.0.10", 1, 80);
  EXPECT_FALSE(Eval(in).Dropped());
  in.src_ip = Ip("9.9.9.9");
  EXPECT_TRUE(Eval(in).Dropped());
  Packet out = Tcp(From("a"), kMacA, kOutside, "10.0.0.10", "9.9.9.9", 1, 80);
  EXPECT_FALSE(Eval(out).Dropped());
  out.dst_ip = Ip("8.8.4.4");
  EXPECT_TRUE(Eval(out).Dropped());
}

TEST_F(EvaluatorTest, RemoteGroupMeansEveryMembersAddressesAnyStateAnyNetwork) {
  // db admits tcp 5432 from members of web: a's fixed IPs, VIP and pairs.
  for (const char* src : {"10.0.0.10", "10.0.0.100", "10.0.5.3", "10.0.6.1"}) {
    Packet p = Tcp(DeviceRef::Uplink(), kOutside, kMacB, src, "10.0.0.11", 1, 5432);
    EXPECT_EQ(Eval(p).deliveries, std::set<Delivery>{To("b")}) << src << "\n" << last_trace_;
  }
  Packet stranger = Tcp(DeviceRef::Uplink(), kOutside, kMacB, "10.0.0.12", "10.0.0.11", 1, 5432);
  EXPECT_TRUE(Eval(stranger).Dropped());
  // An inactive port on another network that joins web counts as well.
  s_.ports["w"].security_group_ids = {"web"};
  Packet from_w = Tcp(DeviceRef::Uplink(), kOutside, kMacB, "10.1.0.2", "10.0.0.11", 1, 5432);
  EXPECT_EQ(Eval(from_w).deliveries, std::set<Delivery>{To("b")});
}

TEST_F(EvaluatorTest, StatefulCommitsInBothZonesAndAdmitsReplies) {
  // a -> b tcp 5432: a's egress (rule 1) and b's ingress (a is in web) both commit.
  Packet p = Tcp(From("a"), kMacA, kMacB, "10.0.0.10", "10.0.0.11", 40000, 5432);
  Verdict v = Eval(p);
  ASSERT_EQ(v.deliveries, std::set<Delivery>{To("b")}) << last_trace_;
  EXPECT_EQ(ct_.CountZone(slots_.port_zone.at("a")), 1u);
  EXPECT_EQ(ct_.CountZone(slots_.port_zone.at("b")), 1u);
  // The reply: b has no egress rule and a no ingress rule for it, but both
  // zones know the connection.
  Packet reply = p.Reply(From("b"));
  Verdict r = Eval(reply);
  EXPECT_EQ(r.deliveries, std::set<Delivery>{To("a")}) << last_trace_;
  EXPECT_THAT(r.trace.back(), HasSubstr("port a ingress: established connection (reply)"));
  // A new connection from b is not admitted by b's egress.
  Packet fresh = Tcp(From("b"), kMacB, kMacA, "10.0.0.11", "10.0.0.10", 5432, 80);
  EXPECT_TRUE(Eval(fresh).Dropped());
}

TEST_F(EvaluatorTest, StatelessGroupsDecideEveryFrame) {
  // s's stateless group admits udp both ways, nothing else; nothing is committed.
  Packet p = Udp(DeviceRef::Uplink(), kOutside, Mac("02:00:00:00:00:0f"), "8.8.8.8", "10.0.0.15",
                 53, 5000);
  Verdict v = Eval(p);
  EXPECT_EQ(v.deliveries, std::set<Delivery>{To("s")});
  EXPECT_THAT(v.trace.back(), HasSubstr("allowed (stateless)"));
  EXPECT_EQ(ct_.CountZone(slots_.port_zone.at("s")), 0u);
  Packet tcp = p;
  tcp.ip_proto = kProtoTcp;
  EXPECT_TRUE(Eval(tcp).Dropped());
}

// Conntrack model (docs/semantics.md, last section).
TEST(ConntrackModelTest, NewEstablishedReplyPerZone) {
  ConntrackModel ct;
  Packet p;
  p.eth_type = kEthIPv4;
  p.ip_proto = kProtoTcp;
  p.src_ip = Ip("10.0.0.1");
  p.dst_ip = Ip("10.0.0.2");
  p.src_port = 1000;
  p.dst_port = 80;
  Packet r = p.Reply(DeviceRef::Uplink());
  EXPECT_EQ(ct.Lookup(7, p), kCtTracked | kCtNew);
  ct.Commit(7, p);
  EXPECT_EQ(ct.Lookup(7, p), kCtTracked | kCtEstablished);
  EXPECT_EQ(ct.Lookup(7, r), kCtTracked | kCtEstablished | kCtReply);
  EXPECT_EQ(ct.Lookup(8, p), kCtTracked | kCtNew);
  ct.Commit(7, r);  // already known in the other direction
  EXPECT_EQ(ct.CountZone(7), 1u);
  Packet other_port = p;
  other_port.dst_port = 81;
  EXPECT_EQ(ct.Lookup(7, other_port), kCtTracked | kCtNew);
  Packet icmp = p;
  icmp.ip_proto = kProtoIcmp;
  icmp.icmp_type = 8;
  ct.Commit(7, icmp);
  Packet echo_reply = icmp.Reply(DeviceRef::Uplink());
  EXPECT_EQ(echo_reply.icmp_type, 0);
  EXPECT_EQ(ct.Lookup(7, echo_reply), kCtTracked | kCtEstablished | kCtReply);
  ct.FlushZone(7);
  EXPECT_EQ(ct.CountZone(7), 0u);
  EXPECT_EQ(ct.Lookup(7, p), kCtTracked | kCtNew);
}

TEST(PacketTest, ArpReplySwapsRolesAndNamesTheReplier) {
  Packet req;
  req.eth_type = kEthArp;
  req.arp_op = 1;
  req.src_mac = kMacA;
  req.dst_mac = kMacB;
  req.arp_sha = kMacA;
  req.arp_sip = Ip("10.0.0.10");
  req.arp_tip = Ip("10.0.0.11");
  Packet rep = req.Reply(DeviceRef::OfPort("b"));
  EXPECT_EQ(rep.arp_op, 2);
  EXPECT_EQ(rep.src_mac, kMacB);
  EXPECT_EQ(rep.arp_sha, kMacB);
  EXPECT_EQ(rep.arp_tha, kMacA);
  EXPECT_EQ(rep.arp_sip, Ip("10.0.0.11"));
  EXPECT_EQ(rep.arp_tip, Ip("10.0.0.10"));
  EXPECT_EQ(rep.in, DeviceRef::OfPort("b"));
}

}  // namespace
}  // namespace vfguard::policy
