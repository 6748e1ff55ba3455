// Hand-written cases for the reference evaluator, section by section of
// docs/semantics.md, with the deliveries worked out from the text: where
// frames go (§1 uplink, §2 from a port, §4 to a port, §5 flood admission,
// §6 forwarding) and the conntrack model. Port security (§3) and group
// rules (§7) are in evaluator_security_test.cc.
#include "policy/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/evaluator_fixture.h"

namespace vfguard::policy::evaltest {
namespace {

using ::testing::HasSubstr;

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
}  // namespace vfguard::policy::evaltest
