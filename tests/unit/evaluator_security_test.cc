// Hand-written cases for the reference evaluator: what port security
// (docs/semantics.md §3) and security group rules (§7) allow, with the
// deliveries worked out from the text. The fixture is evaluator_fixture.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/evaluator.h"
#include "policy/nd_check.h"
#include "tests/unit/evaluator_fixture.h"

namespace vfguard::policy::evaltest {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace vfguard::policy::evaltest
