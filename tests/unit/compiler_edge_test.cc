// Hand-written edge cases of docs/semantics.md, each with the deliveries the
// document demands written out by hand, checked on the compiled pipeline
// (Simulate(Compile(s))) and on the reference evaluator. The property tests
// compare the two against each other; these pin both to the text, including
// cases the random generator rarely builds (pair MACs with fixed IPs, NA from
// ::, RS to a port, GARP for a pair prefix, /0 remote-group members, a flood
// list longer than one filter in a VLAN network).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/nd_check.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

MacAddr Mac(const std::string& s) { return *MacAddr::Parse(s); }
IpAddr Ip(const std::string& s) { return *IpAddr::Parse(s); }
IpPrefix Prefix(const std::string& s) { return *IpPrefix::Parse(s); }

// "port:q", "uplink" or "uplink/100" per delivery.
std::set<std::string> Names(const Verdict& v) {
  std::set<std::string> out;
  for (const Delivery& d : v.deliveries) {
    std::string name = d.out.ToString();
    if (d.vlan) absl::StrAppend(&name, "/", *d.vlan);
    out.insert(name);
  }
  return out;
}

using Deliveries = std::set<std::string>;
const Deliveries kDropped;

// A snapshot, its slots and pipeline, and one conntrack table per side.
class Bench {
 public:
  explicit Bench(Snapshot s) : s_(std::move(s)) {
    absl::Status valid = Validate(s_);
    EXPECT_TRUE(valid.ok()) << valid;
    slots_ = *AssignSlots(s_, {});
    auto p = Compile(s_, slots_);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) pipeline_ = *std::move(p);
  }

  // Runs `packet` through both; expects both to give `want`.
  void Expect(const Packet& packet, const Deliveries& want, const std::string& what) {
    Verdict sim = Simulate(pipeline_, packet, sim_ct_);
    Verdict eval = Evaluate(s_, slots_, packet, eval_ct_);
    EXPECT_EQ(Names(sim), want) << what << ": compiled pipeline\n  " << packet.ToString() << "\n"
                                << sim.ToString();
    EXPECT_EQ(Names(eval), want) << what << ": reference evaluator\n  " << packet.ToString() << "\n"
                                 << eval.ToString();
  }

  const Snapshot& snapshot() const { return s_; }
  const Pipeline& pipeline() const { return pipeline_; }

 private:
  Snapshot s_;
  SlotAssignment slots_;
  Pipeline pipeline_;
  ConntrackModel sim_ct_;
  ConntrackModel eval_ct_;
};

Port MakePort(const std::string& id, const std::string& net, const std::string& mac,
              const std::string& ip) {
  Port p;
  p.id = id;
  p.network_id = net;
  p.mac = Mac(mac);
  if (!ip.empty()) p.fixed_ips = {Ip(ip)};
  p.representor.ref = id;
  return p;
}

SecurityGroupRule Rule(Direction d, EtherType e, std::optional<uint8_t> proto,
                       RuleAction action = RuleAction::kAllow, uint16_t priority = 100) {
  SecurityGroupRule r;
  r.direction = d;
  r.ethertype = e;
  r.protocol = proto;
  r.action = action;
  r.priority = priority;
  return r;
}

// Network "v" (VLAN 100) with:
//   a: port security, group "web", pair 10.9.0.0/16 with MAC 02:aa, a VIP
//   b: port security, no group
//   c: port security off
//   d: pending activation, port security
//   e: port security, group "web"
// and a flat network "f" with port "z" (no group).
Snapshot Sample() {
  Snapshot s;
  s.networks["v"] = Network{"v", Segmentation::kVlan, 100};
  s.networks["f"] = Network{"f", Segmentation::kFlat, 0};
  SecurityGroup web;
  web.id = "web";
  web.stateful = true;
  SecurityGroupRule http = Rule(Direction::kIngress, EtherType::kIPv4, kProtoTcp);
  http.ports = PortRange{80, 80};
  SecurityGroupRule deny_http = http;
  deny_http.action = RuleAction::kDeny;
  deny_http.remote_prefix = Prefix("10.0.0.66/32");  // same priority: deny wins
  SecurityGroupRule out_all = Rule(Direction::kEgress, EtherType::kIPv4, std::nullopt);
  SecurityGroupRule out_all6 = Rule(Direction::kEgress, EtherType::kIPv6, std::nullopt);
  SecurityGroupRule members = Rule(Direction::kIngress, EtherType::kIPv4, kProtoUdp);
  members.remote_group_id = "peers";
  web.rules = {http, deny_http, out_all, out_all6, members};
  s.security_groups["web"] = web;
  SecurityGroup peers;
  peers.id = "peers";
  peers.stateful = true;
  s.security_groups["peers"] = peers;

  Port a = MakePort("a", "v", "02:00:00:00:00:0a", "10.0.0.10");
  a.vips = {Ip("10.0.0.100")};
  a.allowed_address_pairs = {AllowedAddressPair{Prefix("10.9.0.0/16"), Mac("02:00:00:00:00:aa")}};
  a.security_group_ids = {"web"};
  Port b = MakePort("b", "v", "02:00:00:00:00:0b", "10.0.0.11");
  Port c = MakePort("c", "v", "02:00:00:00:00:0c", "10.0.0.12");
  c.port_security = false;
  Port d = MakePort("d", "v", "02:00:00:00:00:0d", "10.0.0.13");
  d.state = PortState::kPendingActivation;
  d.allowed_address_pairs = {AllowedAddressPair{Prefix("10.0.0.200/32"), std::nullopt}};
  Port e = MakePort("e", "v", "02:00:00:00:00:0e", "10.0.0.14");
  e.security_group_ids = {"web"};
  Port z = MakePort("z", "f", "02:00:00:00:00:1f", "192.168.0.5");
  for (Port* p : {&a, &b, &c, &d, &e, &z}) s.ports[p->id] = *p;
  return s;
}

Packet FromPort(const std::string& port, const std::string& smac, const std::string& dmac) {
  Packet p;
  p.in = DeviceRef::OfPort(port);
  p.src_mac = Mac(smac);
  p.dst_mac = Mac(dmac);
  return p;
}

Packet FromUplink(std::optional<uint16_t> vlan, const std::string& dmac) {
  Packet p;
  p.in = DeviceRef::Uplink();
  p.src_mac = Mac("02:99:00:00:00:01");
  p.dst_mac = Mac(dmac);
  p.vlan = vlan;
  return p;
}

Packet& Ipv4(Packet& p, const std::string& src, const std::string& dst, uint8_t proto,
             uint16_t sport = 0, uint16_t dport = 0) {
  p.eth_type = kEthIPv4;
  p.src_ip = Ip(src);
  p.dst_ip = Ip(dst);
  p.ip_proto = proto;
  p.src_port = sport;
  p.dst_port = dport;
  return p;
}

Packet& Icmp6(Packet& p, const std::string& src, const std::string& dst, uint8_t type) {
  p.eth_type = kEthIPv6;
  p.src_ip = Ip(src);
  p.dst_ip = Ip(dst);
  p.ip_proto = kProtoIcmpv6;
  p.icmp_type = type;
  return p;
}

Packet& Arp(Packet& p, const std::string& sha, const std::string& sip, const std::string& tip) {
  p.eth_type = kEthArp;
  p.arp_sha = Mac(sha);
  p.arp_sip = Ip(sip);
  p.arp_tip = Ip(tip);
  return p;
}

const char* kBcast = "ff:ff:ff:ff:ff:ff";
const char* kMacA = "02:00:00:00:00:0a";
const char* kPairMacA = "02:00:00:00:00:aa";
const char* kMacB = "02:00:00:00:00:0b";
const char* kMacC = "02:00:00:00:00:0c";
const char* kMacD = "02:00:00:00:00:0d";
const char* kMacE = "02:00:00:00:00:0e";

TEST(CompilerEdge, UplinkDispatchByVlan) {
  Bench t(Sample());
  Packet p = FromUplink(100, kMacB);
  t.Expect(Ipv4(p, "8.8.8.8", "10.0.0.11", kProtoTcp, 999, 22), {"port:b"},
           "tagged, known vlan, port without group");
  p = FromUplink(101, kMacB);
  t.Expect(Ipv4(p, "8.8.8.8", "10.0.0.11", kProtoTcp, 999, 22), kDropped, "unknown vlan");
  p = FromUplink(std::nullopt, kMacB);
  t.Expect(Ipv4(p, "8.8.8.8", "10.0.0.11", kProtoTcp, 999, 22), kDropped,
           "untagged goes to the flat network, where b is not");
  p = FromUplink(std::nullopt, "02:00:00:00:00:1f");
  t.Expect(Ipv4(p, "8.8.8.8", "192.168.0.5", kProtoTcp, 999, 22), {"port:z"}, "untagged to flat");
  p = FromUplink(100, kMacD);
  t.Expect(Ipv4(p, "8.8.8.8", "10.0.0.13", kProtoTcp, 999, 22), kDropped,
           "pending port is not in the MAC table");
  p = FromUplink(100, "02:00:00:00:00:77");
  t.Expect(Ipv4(p, "8.8.8.8", "10.0.0.77", kProtoTcp, 999, 22), kDropped,
           "unknown unicast from the uplink");
}

TEST(CompilerEdge, UplinkFloodAdmission) {
  Bench t(Sample());
  Packet p = FromUplink(100, kBcast);
  t.Expect(Arp(p, "02:99:00:00:00:01", "10.0.0.1", "10.0.0.10"),
           {"port:a", "port:b", "port:c", "port:e"}, "ARP broadcast: every active port");
  p = FromUplink(100, kBcast);
  t.Expect(Ipv4(p, "10.0.0.1", "10.0.0.255", kProtoUdp, 5000, 5000), {"port:b", "port:c"},
           "plain IPv4 broadcast: ports without groups and without port security");
  p = FromUplink(100, kBcast);
  t.Expect(Ipv4(p, "10.0.0.1", "255.255.255.255", kProtoUdp, 67, 68),
           {"port:a", "port:b", "port:c", "port:e"}, "DHCP server reply is base traffic");
  p = FromUplink(100, "01:00:5e:00:00:12");
  t.Expect(Ipv4(p, "10.0.0.1", "224.0.0.18", kProtoVrrp), {"port:a", "port:b", "port:c"},
           "VRRP: a has a VIP, b has no group, e has neither");
  p = FromUplink(100, "33:33:00:00:00:01");
  t.Expect(Icmp6(p, "fe80::1", "ff02::1", 134), {"port:a", "port:b", "port:c", "port:e"},
           "RA to ports is base traffic");
  p = FromUplink(100, "33:33:00:00:00:02");
  t.Expect(Icmp6(p, "fe80::1", "ff02::2", 133), {"port:b", "port:c"},
           "RS is not base traffic towards a port");
  p = FromUplink(100, kBcast);
  p.eth_type = kEthRarp;
  t.Expect(p, {"port:c"}, "RARP reaches only ports without port security");
}

TEST(CompilerEdge, PortFloodCopiesToUplinkTagged) {
  Bench t(Sample());
  Packet p = FromPort("b", kMacB, kBcast);
  t.Expect(Arp(p, kMacB, "10.0.0.11", "10.0.0.10"), {"uplink/100", "port:a", "port:c", "port:e"},
           "ARP request from b");
  p = FromPort("b", kMacB, kBcast);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.255", kProtoUdp, 5000, 5000), {"uplink/100", "port:c"},
           "IPv4 broadcast from b: a and e have groups");
  p = FromPort("z", "02:00:00:00:00:1f", kBcast);
  t.Expect(Arp(p, "02:00:00:00:00:1f", "192.168.0.5", "192.168.0.1"), {"uplink"},
           "flat network: untagged uplink copy, alone in its network");
  p = FromPort("c", "02:42:42:42:42:42", kBcast);
  p.eth_type = 0x88cc;  // LLDP: port security off forwards anything
  t.Expect(p, {"uplink/100"}, "other ethertype from c: only the uplink and unsecured ports");
}

TEST(CompilerEdge, PendingPortSendsOnlyAnnouncements) {
  Bench t(Sample());
  Packet p = FromPort("d", kMacD, kBcast);
  t.Expect(Arp(p, kMacD, "10.0.0.13", "10.0.0.13"),
           {"uplink/100", "port:a", "port:b", "port:c", "port:e"}, "GARP for its fixed IP");
  p = FromPort("d", kMacD, kBcast);
  t.Expect(Arp(p, kMacD, "10.0.0.200", "10.0.0.200"), kDropped,
           "GARP for an allowed-pair address is not an announcement (semantics 2.1)");
  p = FromPort("d", "02:00:00:00:00:dd", kBcast);
  t.Expect(Arp(p, "02:00:00:00:00:dd", "10.0.0.13", "10.0.0.13"), kDropped,
           "GARP from another MAC with port security on");
  p = FromPort("d", kMacD, kBcast);
  t.Expect(Arp(p, kMacD, "10.0.0.13", "10.0.0.1"), kDropped, "ordinary ARP request");
  p = FromPort("d", kMacD, kBcast);
  p.eth_type = kEthRarp;
  t.Expect(p, {"uplink/100", "port:c"}, "RARP announcement");
  p = FromPort("d", kMacD, kMacB);
  t.Expect(Ipv4(p, "10.0.0.13", "10.0.0.11", kProtoTcp, 1000, 80), kDropped, "IP while pending");
}

TEST(CompilerEdge, PortSecurityPerMac) {
  Bench t(Sample());
  Packet p = FromPort("a", kMacA, kMacB);
  t.Expect(Ipv4(p, "10.0.0.10", "10.0.0.11", kProtoTcp, 1000, 22), {"port:b"}, "fixed IP");
  p = FromPort("a", kMacA, kMacB);
  t.Expect(Ipv4(p, "10.0.0.100", "10.0.0.11", kProtoTcp, 1000, 22), {"port:b"}, "VIP");
  p = FromPort("a", kPairMacA, kMacB);
  t.Expect(Ipv4(p, "10.9.3.4", "10.0.0.11", kProtoTcp, 1000, 22), {"port:b"},
           "pair prefix with the pair's MAC");
  p = FromPort("a", kPairMacA, kMacB);
  t.Expect(Ipv4(p, "10.0.0.10", "10.0.0.11", kProtoTcp, 1000, 22), kDropped,
           "fixed IP with the pair's MAC: allowed(P, M) has only the pair's prefix");
  p = FromPort("a", kMacA, kMacB);
  t.Expect(Ipv4(p, "10.9.3.4", "10.0.0.11", kProtoTcp, 1000, 22), kDropped,
           "pair prefix with the port's own MAC (the pair has a MAC of its own)");
  p = FromPort("a", "02:00:00:00:00:ff", kMacB);
  t.Expect(Ipv4(p, "10.0.0.10", "10.0.0.11", kProtoTcp, 1000, 22), kDropped, "unknown MAC");
  p = FromPort("a", kMacA, kMacB);
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacA)).ToString(), "fe80::2", 128), {"port:b"},
           "EUI-64 link-local of the port's MAC");
  p = FromPort("a", kPairMacA, kMacB);
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacA)).ToString(), "fe80::2", 128), kDropped,
           "link-local with the pair's MAC");
}

TEST(CompilerEdge, ArpChecks) {
  Bench t(Sample());
  Packet p = FromPort("a", kMacA, kBcast);
  t.Expect(Arp(p, kMacA, "0.0.0.0", "10.0.0.10"), {"uplink/100", "port:b", "port:c", "port:e"},
           "ARP probe");
  p = FromPort("a", kMacA, kBcast);
  t.Expect(Arp(p, kPairMacA, "10.0.0.10", "10.0.0.11"), kDropped,
           "sender MAC differs from the source MAC");
  p = FromPort("a", kPairMacA, kBcast);
  t.Expect(Arp(p, kPairMacA, "10.9.0.1", "10.0.0.11"), {"uplink/100", "port:b", "port:c", "port:e"},
           "pair MAC announcing its prefix");
  p = FromPort("a", kPairMacA, kBcast);
  t.Expect(Arp(p, kPairMacA, "10.0.0.100", "10.0.0.11"), kDropped,
           "pair MAC announcing the port's VIP");
  p = FromPort("a", kMacA, kMacB);
  t.Expect(Arp(p, kMacA, "10.0.0.100", "10.0.0.11"), {"port:b"}, "unicast ARP reply from VIP");
}

TEST(CompilerEdge, ServerAndDiscoveryTraffic) {
  Bench t(Sample());
  Packet p = FromPort("a", kMacA, kBcast);
  t.Expect(Ipv4(p, "0.0.0.0", "255.255.255.255", kProtoUdp, 68, 67),
           {"uplink/100", "port:b", "port:c"}, "DHCP discover from 0.0.0.0 (not base to ports)");
  p = FromPort("b", kMacB, kBcast);
  t.Expect(Ipv4(p, "10.0.0.11", "255.255.255.255", kProtoUdp, 67, 68), kDropped,
           "DHCP server from a port");
  p = FromPort("b", kMacB, "33:33:00:00:00:01");
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "ff02::1", 134), kDropped,
           "router advertisement from a port");
  p = FromPort("b", kMacB, "33:33:00:01:00:02");
  p = Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "ff02::1:2", 0);
  p.ip_proto = kProtoUdp;
  p.src_port = 547;
  p.dst_port = 546;
  t.Expect(p, kDropped, "DHCPv6 server from a port");
  p = FromPort("b", kMacB, "33:33:ff:00:00:01");
  p.nd_body = NdBody(*IpAddr::Parse("fd00::1"), {});
  t.Expect(Icmp6(p, "::", "ff02::1:ff00:1", 135), {"uplink/100", "port:a", "port:c", "port:e"},
           "DAD NS from ::");
  p = FromPort("b", kMacB, "33:33:00:00:00:01");
  t.Expect(Icmp6(p, "::", "ff02::1", 136), kDropped, "NA from :: is not allowed");
  p = FromPort("b", kMacB, "33:33:00:00:00:02");
  t.Expect(Icmp6(p, "::", "ff02::2", 133), {"uplink/100", "port:c"},
           "RS from ::: copies only to ports that take plain IPv6");
  p = FromPort("b", kMacB, kMacA);
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "fe80::a", 133), kDropped,
           "unicast RS to a port with groups goes through its rules (none match)");
  p = FromPort("b", kMacB, kMacA);
  p.nd_body = NdBody(*IpAddr::Parse("fe80::a"), {{kNdOptSourceLla, 1, Mac(kMacB)}});
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "fe80::a", 135), {"port:a"},
           "unicast NS is base traffic");
  p = FromPort("b", kMacB, kMacA);
  p.nd_body = NdBody(*IpAddr::Parse("fe80::a"), {{kNdOptSourceLla, 1, Mac(kMacA)}});
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "fe80::a", 135), kDropped,
           "NS whose source link-layer option is another port's MAC");
  p = FromPort("b", kMacB, "33:33:00:00:00:01");
  p.nd_body = NdBody(IpAddr::LinkLocalFromMac(Mac(kMacB)), {{kNdOptTargetLla, 1, Mac(kMacB)}});
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "ff02::1", 136),
           {"uplink/100", "port:a", "port:c", "port:e"}, "unsolicited NA for its own link-local");
  p = FromPort("b", kMacB, "33:33:00:00:00:01");
  p.nd_body = NdBody(IpAddr::LinkLocalFromMac(Mac(kMacA)), {});
  t.Expect(Icmp6(p, IpAddr::LinkLocalFromMac(Mac(kMacB)).ToString(), "ff02::1", 136), kDropped,
           "NA claiming another port's link-local");
  p = FromPort("b", kMacB, kMacA);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.10", kProtoVrrp), {"port:a"}, "VRRP to a port with a VIP");
  p = FromPort("b", kMacB, kMacE);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.14", kProtoVrrp), kDropped,
           "VRRP to a port without VIP goes through its rules");
}

TEST(CompilerEdge, ForwardingBasics) {
  Bench t(Sample());
  Packet p = FromPort("b", kMacB, kMacB);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.11", kProtoTcp, 1, 2), kDropped, "hairpin");
  p = FromPort("b", kMacB, "02:00:00:00:00:77");
  t.Expect(Ipv4(p, "10.0.0.11", "8.8.8.8", kProtoTcp, 1000, 443), {"uplink/100"},
           "unknown unicast to the uplink, tagged");
  p = FromPort("b", kMacB, kMacD);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.13", kProtoTcp, 1000, 443), {"uplink/100"},
           "a pending port's MAC is unknown");
  p = FromPort("b", kMacB, "02:00:00:00:00:1f");
  t.Expect(Ipv4(p, "10.0.0.11", "192.168.0.5", kProtoTcp, 1000, 443), {"uplink/100"},
           "a port of another network is not reachable directly");
  p = FromPort("b", kMacB, kMacA);
  p.eth_type = 0x88b5;
  t.Expect(p, kDropped, "other ethertype from a secured port");
  p = FromPort("c", "02:42:42:42:42:42", kMacB);
  p.eth_type = 0x88b5;
  t.Expect(p, kDropped, "other ethertype to a secured port");
  p = FromPort("c", "02:42:42:42:42:42", kMacB);
  t.Expect(Ipv4(p, "1.2.3.4", "10.0.0.11", kProtoTcp, 1000, 443), {"port:b"},
           "no port security: any source");
}

TEST(CompilerEdge, StatefulRulesInDecisionOrder) {
  Bench t(Sample());
  Packet p = FromPort("b", kMacB, kMacA);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.10", kProtoTcp, 4000, 80), {"port:a"}, "http allowed");
  Packet reply = FromPort("a", kMacA, kMacB);
  t.Expect(Ipv4(reply, "10.0.0.10", "10.0.0.11", kProtoTcp, 80, 4000), {"port:b"},
           "reply (a's egress allows all anyway)");
  p = FromPort("c", "02:42:42:42:42:42", kMacA);
  t.Expect(Ipv4(p, "10.0.0.66", "10.0.0.10", kProtoTcp, 4000, 80), kDropped,
           "deny at the same priority wins over allow");
  p = FromPort("b", kMacB, kMacA);
  t.Expect(Ipv4(p, "10.0.0.11", "10.0.0.10", kProtoTcp, 4000, 81), kDropped, "port 81: no rule");
  // a connects to 10.0.0.66 behind c (no port security); the reply matches
  // no ingress rule of a but is established in a's zone.
  p = FromPort("a", kMacA, kMacC);
  t.Expect(Ipv4(p, "10.0.0.10", "10.0.0.66", kProtoTcp, 5000, 80), {"port:c"}, "a -> c");
  reply = FromPort("c", kMacC, kMacA);
  t.Expect(Ipv4(reply, "10.0.0.66", "10.0.0.10", kProtoTcp, 80, 5000), {"port:a"},
           "established reply bypasses the deny");
  reply = FromPort("c", kMacC, kMacA);
  t.Expect(Ipv4(reply, "10.0.0.66", "10.0.0.10", kProtoTcp, 80, 5001), kDropped,
           "another connection from the same address is not established");
}

TEST(CompilerEdge, RemoteGroupMembersOfAnyStateAndNetwork) {
  Snapshot s = Sample();
  // Members of "peers": z (another network) and d (pending, with a pair).
  s.ports["z"].security_group_ids = {"peers"};
  s.ports["d"].security_group_ids = {"peers"};
  Bench t(s);
  Packet p = FromPort("c", kMacC, kMacA);
  t.Expect(Ipv4(p, "192.168.0.5", "10.0.0.10", kProtoUdp, 9, 53), {"port:a"},
           "source is z's address");
  p = FromPort("c", kMacC, kMacA);
  t.Expect(Ipv4(p, "10.0.0.200", "10.0.0.10", kProtoUdp, 9, 53), {"port:a"},
           "source is d's pair address");
  p = FromPort("c", kMacC, kMacA);
  t.Expect(Ipv4(p, "10.0.0.201", "10.0.0.10", kProtoUdp, 9, 53), kDropped, "not a member");

  // A member with a /0 pair makes the rule match every IPv4 source.
  s.ports["d"].allowed_address_pairs = {AllowedAddressPair{Prefix("0.0.0.0/0"), std::nullopt}};
  Bench wide(s);
  p = FromPort("c", kMacC, kMacA);
  wide.Expect(Ipv4(p, "172.16.1.1", "10.0.0.10", kProtoUdp, 9, 53), {"port:a"}, "/0 member");
  p = FromPort("c", kMacC, kMacA);
  p = Icmp6(p, "fd00::1", "fd00::a", 128);
  p.ip_proto = kProtoUdp;
  p.dst_port = 53;
  wide.Expect(p, kDropped, "the rule is IPv4: an IPv6 /0 would not apply");
}

TEST(CompilerEdge, StatelessPortRangeEdges) {
  Snapshot s = Sample();
  SecurityGroup open;
  open.id = "open";
  open.stateful = false;
  SecurityGroupRule range = Rule(Direction::kIngress, EtherType::kIPv4, kProtoTcp);
  range.ports = PortRange{1000, 2047};
  SecurityGroupRule out = Rule(Direction::kEgress, EtherType::kIPv4, std::nullopt);
  open.rules = {range, out};
  s.security_groups["open"] = open;
  s.ports["b"].security_group_ids = {"open"};
  Bench t(s);
  for (uint16_t port : {999, 1000, 1023, 1024, 2047, 2048}) {
    Packet p = FromPort("c", kMacC, kMacB);
    bool in = port >= 1000 && port <= 2047;
    t.Expect(Ipv4(p, "10.0.0.12", "10.0.0.11", kProtoTcp, 40000, port),
             in ? Deliveries{"port:b"} : kDropped, absl::StrCat("tcp dport ", port));
  }
  Packet reply = FromPort("b", kMacB, kMacC);
  t.Expect(Ipv4(reply, "10.0.0.11", "10.0.0.12", kProtoTcp, 1000, 40000), {"port:c"},
           "stateless egress allows");
  Packet back = FromPort("c", kMacC, kMacB);
  t.Expect(Ipv4(back, "10.0.0.12", "10.0.0.11", kProtoTcp, 40000, 999), kDropped,
           "stateless: nothing is established");
}

TEST(CompilerEdge, LongFloodListInAVlanNetwork) {
  Snapshot s;
  s.networks["big"] = Network{"big", Segmentation::kVlan, 7};
  Deliveries all;
  for (int i = 0; i < 70; ++i) {
    std::string id = absl::StrCat("p", i / 10, i % 10);
    Port p = MakePort(id, "big", absl::StrCat("02:00:00:00:01:", i / 10, i % 10),
                      absl::StrCat("10.1.0.", i + 1));
    s.ports[id] = p;
    all.insert("port:" + id);
  }
  Bench t(s);
  Packet p = FromUplink(7, kBcast);
  t.Expect(Arp(p, "02:99:00:00:00:01", "10.1.0.250", "10.1.0.1"), all, "from the uplink");
  Deliveries from_p00 = all;
  from_p00.erase("port:p00");
  from_p00.insert("uplink/7");
  p = FromPort("p00", "02:00:00:00:01:00", kBcast);
  t.Expect(Arp(p, "02:00:00:00:01:00", "10.1.0.1", "10.1.0.2"), from_p00, "from a port");
  size_t longest = 0;
  for (const Filter& f : t.pipeline().filters) longest = std::max(longest, f.actions.size());
  EXPECT_LE(longest, kMaxActionsPerFilter);
  EXPECT_EQ(longest, kMaxActionsPerFilter) << "70 copies cannot fit one filter";
}

}  // namespace
}  // namespace vfguard::policy
