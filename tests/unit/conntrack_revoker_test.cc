// Conntrack revocation against hand-built snapshots and entries: the pure
// decision (EntryJudge), the plan (which zones are examined) and Revoke
// against the in-memory backend (exactly which entries survive).
#include "agent/conntrack_revoker.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "policy/validate.h"
#include "tests/fakes/fake_ct_backend.h"

namespace vfguard::agent {
namespace {

using netlink::CtEntry;
using policy::Direction;
using policy::IpAddr;
using policy::MacAddr;
using policy::SecurityGroupRule;
using policy::Snapshot;
using ::testing::HasSubstr;

MacAddr Mac(const char* s) { return *MacAddr::Parse(s); }
IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

CtEntry Flow(uint16_t zone, uint8_t proto, const char* src, uint16_t sport, const char* dst,
             uint16_t dport) {
  CtEntry e;
  e.zone = zone;
  e.orig.src = ToCtAddress(Ip(src));
  e.orig.dst = ToCtAddress(Ip(dst));
  e.orig.proto = proto;
  e.orig.src_port = sport;
  e.orig.dst_port = dport;
  e.reply = e.orig;
  std::swap(e.reply.src, e.reply.dst);
  std::swap(e.reply.src_port, e.reply.dst_port);
  e.status = 0xe;  // SEEN_REPLY | ASSURED | CONFIRMED
  e.timeout = 300;
  return e;
}
CtEntry Tcp(uint16_t zone, const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  return Flow(zone, IPPROTO_TCP, src, sport, dst, dport);
}
CtEntry Ping(uint16_t zone, const char* src, const char* dst, bool v6 = false) {
  CtEntry e = Flow(zone, v6 ? uint8_t{IPPROTO_ICMPV6} : uint8_t{IPPROTO_ICMP}, src, 0, dst, 0);
  e.orig.icmp_type = v6 ? 128 : 8;
  e.orig.icmp_id = 77;
  e.reply.icmp_type = v6 ? 129 : 0;
  e.reply.icmp_id = 77;
  return e;
}

SecurityGroupRule Rule(Direction d, std::optional<uint8_t> proto,
                       std::optional<uint16_t> port = std::nullopt,
                       policy::EtherType et = policy::EtherType::kIPv4) {
  SecurityGroupRule r;
  r.direction = d;
  r.protocol = proto;
  r.ethertype = et;
  if (port) r.ports = policy::PortRange{*port, *port};
  return r;
}

// Network "flat": a (10.0.0.10, fd00::a; group web), b (10.0.0.11) and
// c (10.0.0.12) in group admins, p (10.0.0.13, pair 10.0.9.0/24 with its own
// MAC; no group). Network "v10" (vlan 10): v (10.1.0.1; group web).
// web: ingress tcp 80 from anywhere (rule 0), ingress tcp 22 from members of
// admins (rule 1), ingress icmp (rule 2), egress any IPv4 (rule 3), ingress
// icmpv6 (rule 4), egress any IPv6 (rule 5).
// admins: egress any IPv4, ingress tcp 22 from anywhere.
class RevokerTest : public ::testing::Test {
 protected:
  RevokerTest() {
    s_.networks["flat"] = policy::Network{"flat", policy::Segmentation::kFlat, 0};
    s_.networks["v10"] = policy::Network{"v10", policy::Segmentation::kVlan, 10};
    AddPort("a", "flat", "02:00:00:00:00:0a", {"10.0.0.10", "fd00::a"}, {"web"});
    AddPort("b", "flat", "02:00:00:00:00:0b", {"10.0.0.11"}, {"admins"});
    AddPort("c", "flat", "02:00:00:00:00:0c", {"10.0.0.12"}, {"admins"});
    AddPort("p", "flat", "02:00:00:00:00:0d", {"10.0.0.13"}, {});
    s_.ports["p"].allowed_address_pairs = {
        {*policy::IpPrefix::Parse("10.0.9.0/24"), Mac("02:aa:00:00:00:0d")}};
    AddPort("v", "v10", "02:00:00:00:01:01", {"10.1.0.1"}, {"web"});
    policy::SecurityGroup web{"web", true, {}};
    web.rules.push_back(Rule(Direction::kIngress, policy::kProtoTcp, 80));
    SecurityGroupRule ssh = Rule(Direction::kIngress, policy::kProtoTcp, 22);
    ssh.remote_group_id = "admins";
    web.rules.push_back(ssh);
    web.rules.push_back(Rule(Direction::kIngress, policy::kProtoIcmp));
    web.rules.push_back(Rule(Direction::kEgress, std::nullopt));
    web.rules.push_back(
        Rule(Direction::kIngress, policy::kProtoIcmpv6, std::nullopt, policy::EtherType::kIPv6));
    web.rules.push_back(
        Rule(Direction::kEgress, std::nullopt, std::nullopt, policy::EtherType::kIPv6));
    s_.security_groups["web"] = web;
    policy::SecurityGroup admins{"admins", true, {}};
    admins.rules.push_back(Rule(Direction::kEgress, std::nullopt));
    admins.rules.push_back(Rule(Direction::kIngress, policy::kProtoTcp, 22));
    s_.security_groups["admins"] = admins;
    slots_ = Slots(s_, {});
  }

  void AddPort(const char* id, const char* net, const char* mac, std::vector<const char*> ips,
               std::vector<std::string> groups) {
    policy::Port p;
    p.id = id;
    p.network_id = net;
    p.mac = Mac(mac);
    for (const char* ip : ips) p.fixed_ips.push_back(Ip(ip));
    p.security_group_ids = std::move(groups);
    p.representor.ref = std::string("rep_") + id;
    s_.ports[id] = p;
  }

  static policy::SlotAssignment Slots(const Snapshot& s, const policy::SlotAssignment& prev) {
    EXPECT_TRUE(policy::Validate(s).ok()) << policy::Validate(s);
    auto slots = policy::AssignSlots(s, prev, 100, 199);
    EXPECT_TRUE(slots.ok()) << slots.status();
    return *slots;
  }

  uint16_t Z(const std::string& port) const { return slots_.port_zone.at(port); }

  void Seed(const std::vector<CtEntry>& entries) {
    for (const CtEntry& e : entries) ASSERT_TRUE(ct_.Create(e).ok());
  }

  // Revoke from s_ to `next`; returns the report and makes `next` current.
  RevokeReport Apply(const Snapshot& next) {
    policy::SlotAssignment next_slots = Slots(next, slots_);
    absl::StatusOr<RevokeReport> r = Revoke(s_, next, slots_, next_slots, ct_);
    EXPECT_TRUE(r.ok()) << r.status();
    s_ = next;
    slots_ = next_slots;
    return r.ok() ? *r : RevokeReport{};
  }

  Snapshot s_;
  policy::SlotAssignment slots_;
  FakeCtBackend ct_;
};

// --- the pure decision ---

TEST_F(RevokerTest, IngressFromOutsideIsJudgedByTheIngressRules) {
  EntryDecision http =
      DecideEntry(s_, slots_, "a", Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80));
  EXPECT_TRUE(http.keep) << http.reason;
  ASSERT_TRUE(http.packet.has_value());
  EXPECT_EQ(http.packet->in, policy::DeviceRef::Uplink());
  EXPECT_EQ(http.packet->dst_mac, s_.ports["a"].mac);
  EXPECT_FALSE(http.packet->vlan.has_value()) << "flat network: untagged";

  EntryDecision other =
      DecideEntry(s_, slots_, "a", Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 8080));
  EXPECT_FALSE(other.keep);
  EXPECT_THAT(other.reason, HasSubstr("no longer allowed"));
  EXPECT_THAT(other.reason, HasSubstr("10.0.0.10:8080"));
}

TEST_F(RevokerTest, EgressIsJudgedByTheEgressRulesAndGoesToTheUplink) {
  CtEntry out = Tcp(Z("a"), "10.0.0.10", 40000, "198.51.100.1", 443);
  EntryDecision d = DecideEntry(s_, slots_, "a", out);
  EXPECT_TRUE(d.keep) << d.reason;
  ASSERT_TRUE(d.packet.has_value());
  EXPECT_EQ(d.packet->in, policy::DeviceRef::OfPort("a"));
  EXPECT_EQ(d.packet->src_mac, s_.ports["a"].mac);
  for (const auto& [id, p] : s_.ports) EXPECT_NE(d.packet->dst_mac, p.mac) << id;
  EXPECT_FALSE(d.packet->dst_mac.IsMulticast());

  Snapshot no_egress = s_;
  auto& rules = no_egress.security_groups["web"].rules;
  rules.erase(rules.begin() + 3);
  EntryDecision gone = DecideEntry(no_egress, slots_, "a", out);
  EXPECT_FALSE(gone.keep);
  EXPECT_THAT(gone.reason, HasSubstr("from port a"));
}

TEST_F(RevokerTest, LocalPeersAreTheSourceOrDestinationDevice) {
  // b -> a:22 in a's zone comes in from b's representor with b's MAC.
  EntryDecision in = DecideEntry(s_, slots_, "a", Tcp(Z("a"), "10.0.0.11", 50000, "10.0.0.10", 22));
  EXPECT_TRUE(in.keep) << in.reason;
  EXPECT_EQ(in.packet->in, policy::DeviceRef::OfPort("b"));
  EXPECT_EQ(in.packet->src_mac, s_.ports["b"].mac);
  // The same flow in b's zone leaves b towards a's MAC.
  EntryDecision out =
      DecideEntry(s_, slots_, "b", Tcp(Z("b"), "10.0.0.11", 50000, "10.0.0.10", 22));
  EXPECT_TRUE(out.keep) << out.reason;
  EXPECT_EQ(out.packet->dst_mac, s_.ports["a"].mac);
  // b -> a:23 is refused by a's ingress; for b's zone it counts as dropped.
  EXPECT_FALSE(DecideEntry(s_, slots_, "b", Tcp(Z("b"), "10.0.0.11", 50000, "10.0.0.10", 23)).keep);
}

TEST_F(RevokerTest, AllowedPairSourceUsesThePairMac) {
  EntryDecision d = DecideEntry(s_, slots_, "p", Tcp(Z("p"), "10.0.9.7", 1000, "198.51.100.1", 80));
  EXPECT_TRUE(d.keep) << d.reason;
  EXPECT_EQ(d.packet->src_mac, Mac("02:aa:00:00:00:0d"));
  // From a to the pair address: a's egress, delivered to p (no groups).
  EntryDecision to_pair =
      DecideEntry(s_, slots_, "p", Tcp(Z("p"), "10.0.0.10", 1000, "10.0.9.7", 80));
  EXPECT_TRUE(to_pair.keep) << to_pair.reason;
  EXPECT_EQ(to_pair.packet->in, policy::DeviceRef::OfPort("a"));
}

TEST_F(RevokerTest, VlanNetworkTrafficFromTheUplinkIsTagged) {
  EntryDecision d = DecideEntry(s_, slots_, "v", Tcp(Z("v"), "203.0.113.9", 40000, "10.1.0.1", 80));
  EXPECT_TRUE(d.keep) << d.reason;
  EXPECT_EQ(d.packet->vlan, std::optional<uint16_t>(10));
  EXPECT_FALSE(
      DecideEntry(s_, slots_, "v", Tcp(Z("v"), "203.0.113.9", 40000, "10.1.0.1", 81)).keep);
}

TEST_F(RevokerTest, IcmpAndIpv6UseTypeAndFamily) {
  EXPECT_TRUE(DecideEntry(s_, slots_, "a", Ping(Z("a"), "203.0.113.5", "10.0.0.10")).keep);
  EXPECT_TRUE(DecideEntry(s_, slots_, "a", Ping(Z("a"), "2001:db8::5", "fd00::a", true)).keep);
  EXPECT_FALSE(DecideEntry(s_, slots_, "a", Tcp(Z("a"), "2001:db8::5", 4000, "fd00::a", 80)).keep)
      << "no IPv6 tcp ingress rule";
  EXPECT_TRUE(DecideEntry(s_, slots_, "a", Tcp(Z("a"), "fd00::a", 4000, "2001:db8::5", 80)).keep)
      << "IPv6 egress any";
}

TEST_F(RevokerTest, WrongZoneGonePortAndForeignAddressesAreDeleted) {
  EntryDecision wrong =
      DecideEntry(s_, slots_, "a", Tcp(Z("b"), "203.0.113.5", 1, "10.0.0.10", 80));
  EXPECT_FALSE(wrong.keep);
  EXPECT_THAT(wrong.reason, HasSubstr("now has zone"));
  EntryDecision gone =
      DecideEntry(s_, slots_, "nosuch", Tcp(Z("a"), "203.0.113.5", 1, "10.0.0.10", 80));
  EXPECT_FALSE(gone.keep);
  EXPECT_THAT(gone.reason, HasSubstr("is gone"));
  EntryDecision foreign =
      DecideEntry(s_, slots_, "a", Tcp(Z("a"), "203.0.113.5", 1, "203.0.113.6", 80));
  EXPECT_FALSE(foreign.keep);
  EXPECT_THAT(foreign.reason, HasSubstr("neither address"));
}

TEST_F(RevokerTest, PendingPortIsJudgedAsItWillRunAfterActivation) {
  Snapshot pending = s_;
  pending.ports["a"].state = policy::PortState::kPendingActivation;
  EXPECT_TRUE(
      DecideEntry(pending, slots_, "a", Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80)).keep);
  EXPECT_FALSE(
      DecideEntry(pending, slots_, "a", Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 81)).keep);
}

// --- Revoke against the fake backend ---

TEST_F(RevokerTest, RemovedAllowRuleDeletesItsEntriesOnly) {
  CtEntry http = Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80);
  CtEntry ping = Ping(Z("a"), "203.0.113.5", "10.0.0.10");
  CtEntry out = Tcp(Z("a"), "10.0.0.10", 40001, "198.51.100.1", 443);
  CtEntry v_http = Tcp(Z("v"), "203.0.113.5", 40000, "10.1.0.1", 80);
  Seed({http, ping, out, v_http});
  Snapshot next = s_;
  auto& rules = next.security_groups["web"].rules;
  rules.erase(rules.begin());  // ingress tcp 80
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.ok()) << r.FirstError();
  EXPECT_FALSE(ct_.Contains(http.zone, http.orig));
  EXPECT_FALSE(ct_.Contains(v_http.zone, v_http.orig)) << "v uses web too";
  EXPECT_TRUE(ct_.Contains(ping.zone, ping.orig));
  EXPECT_TRUE(ct_.Contains(out.zone, out.orig));
  EXPECT_EQ(r.TotalDeleted(), 2u);
  ASSERT_EQ(r.zones.size(), 2u) << "zones of a and v only";
  for (const ZoneRevocation& z : r.zones) {
    EXPECT_THAT(z.plan.why, HasSubstr("rules of group web changed"));
    ASSERT_EQ(z.deletions.size(), 1u);
    EXPECT_THAT(z.deletions[0].second, HasSubstr("no longer allowed"));
  }
  EXPECT_EQ(r.zones[0].plan.port_id, "a");
  EXPECT_EQ(r.zones[0].dumped, 3u);
  EXPECT_EQ(r.zones[0].kept, 2u);
}

TEST_F(RevokerTest, UnrelatedRuleRemovedKeepsEntries) {
  CtEntry http = Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80);
  CtEntry ssh = Tcp(Z("a"), "10.0.0.11", 50000, "10.0.0.10", 22);
  Seed({http, ssh});
  Snapshot next = s_;
  auto& rules = next.security_groups["web"].rules;
  rules.erase(rules.begin() + 2);  // ingress icmp
  RevokeReport r = Apply(next);
  ASSERT_EQ(r.zones.size(), 2u);    // a and v were examined ...
  EXPECT_EQ(r.TotalDeleted(), 0u);  // ... and nothing was deleted
  EXPECT_EQ(ct_.All().size(), 2u);
  EXPECT_EQ(r.zones[0].kept, 2u);
}

TEST_F(RevokerTest, RemovedRemoteMemberLosesItsEntries) {
  CtEntry from_b = Tcp(Z("a"), "10.0.0.11", 50000, "10.0.0.10", 22);
  CtEntry from_c = Tcp(Z("a"), "10.0.0.12", 50001, "10.0.0.10", 22);
  CtEntry b_side = Tcp(Z("b"), "10.0.0.11", 50000, "10.0.0.10", 22);
  Seed({from_b, from_c, b_side});
  Snapshot next = s_;
  next.ports["b"].security_group_ids = {};  // b leaves admins
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(ct_.Contains(from_b.zone, from_b.orig));
  EXPECT_TRUE(ct_.Contains(from_c.zone, from_c.orig));
  EXPECT_FALSE(ct_.Contains(b_side.zone, b_side.orig))
      << "b's copy of the flow is refused by a's ingress now";
  std::vector<std::string> why;
  for (const ZoneRevocation& z : r.zones) why.push_back(z.plan.port_id + ": " + z.plan.why);
  EXPECT_THAT(why, ::testing::Contains(HasSubstr("a: members of remote group admins")));
  EXPECT_THAT(why, ::testing::Contains(HasSubstr("b: port b changed: security groups")));
  EXPECT_EQ(ct_.CountZone(Z("c")).value(), 0u);
}

// Issue 14: a remote port in admins (another host's bastion) and an address
// group on web's tcp 23 rule; removing the member or the CIDR revokes what
// only it allowed.
TEST_F(RevokerTest, RemovedRemotePortLosesItsEntries) {
  s_.remote_ports["r1"] = policy::RemotePort{
      "r1",
      {*policy::IpPrefix::Parse("203.0.113.7"), *policy::IpPrefix::Parse("203.0.113.8")},
      {"admins"}};
  CtEntry from_r1 = Tcp(Z("a"), "203.0.113.7", 50000, "10.0.0.10", 22);
  CtEntry from_r1_other = Tcp(Z("a"), "203.0.113.8", 50000, "10.0.0.10", 22);
  CtEntry from_b = Tcp(Z("a"), "10.0.0.11", 50001, "10.0.0.10", 22);
  CtEntry http = Tcp(Z("a"), "203.0.113.7", 50002, "10.0.0.10", 80);
  EXPECT_TRUE(DecideEntry(s_, slots_, "a", from_r1).keep) << "a remote member may ssh";
  EXPECT_EQ(DecideEntry(s_, slots_, "a", from_r1).packet->in, policy::DeviceRef::Uplink());
  Seed({from_r1, from_r1_other, from_b, http});
  Snapshot next = s_;
  next.remote_ports["r1"].addresses.pop_back();  // 203.0.113.8 goes
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.ok()) << r.FirstError();
  EXPECT_TRUE(ct_.Contains(from_r1.zone, from_r1.orig));
  EXPECT_FALSE(ct_.Contains(from_r1_other.zone, from_r1_other.orig));
  EXPECT_EQ(r.TotalDeleted(), 1u);
  next = s_;
  next.remote_ports.erase("r1");
  r = Apply(next);
  EXPECT_TRUE(r.ok()) << r.FirstError();
  EXPECT_FALSE(ct_.Contains(from_r1.zone, from_r1.orig));
  EXPECT_TRUE(ct_.Contains(from_b.zone, from_b.orig)) << "b is still a member";
  EXPECT_TRUE(ct_.Contains(http.zone, http.orig)) << "tcp 80 is from anywhere";
  EXPECT_EQ(r.TotalDeleted(), 1u);
  std::vector<std::string> why;
  for (const ZoneRevocation& z : r.zones) why.push_back(z.plan.port_id + ": " + z.plan.why);
  EXPECT_THAT(why, ::testing::Contains(HasSubstr("a: members of remote group admins")));
}

TEST_F(RevokerTest, RemovedAddressGroupCidrLosesItsEntries) {
  s_.address_groups["office"] = policy::AddressGroup{
      "office",
      {*policy::IpPrefix::Parse("198.51.100.0/24"), *policy::IpPrefix::Parse("203.0.113.0/28")}};
  SecurityGroupRule telnet = Rule(Direction::kIngress, policy::kProtoTcp, 23);
  telnet.remote_address_group_id = "office";
  s_.security_groups["web"].rules.push_back(telnet);
  slots_ = Slots(s_, slots_);
  CtEntry from_office = Tcp(Z("a"), "198.51.100.9", 40000, "10.0.0.10", 23);
  CtEntry from_lab = Tcp(Z("a"), "203.0.113.2", 40000, "10.0.0.10", 23);
  CtEntry outside = Tcp(Z("a"), "192.0.2.2", 40000, "10.0.0.10", 23);
  EXPECT_FALSE(DecideEntry(s_, slots_, "a", outside).keep) << "not in office";
  Seed({from_office, from_lab});
  Snapshot next = s_;
  next.address_groups["office"].cidrs.pop_back();  // 203.0.113.0/28 goes
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.ok()) << r.FirstError();
  EXPECT_TRUE(ct_.Contains(from_office.zone, from_office.orig));
  EXPECT_FALSE(ct_.Contains(from_lab.zone, from_lab.orig));
  EXPECT_EQ(r.TotalDeleted(), 1u);
  ASSERT_FALSE(r.zones.empty());
  EXPECT_THAT(r.zones[0].plan.why, HasSubstr("CIDRs of address group office"));
}

TEST_F(RevokerTest, RemovedPortZoneIsFlushedAndItsMemberEntriesRevoked) {
  CtEntry c_out = Tcp(Z("c"), "10.0.0.12", 50001, "10.0.0.10", 22);
  CtEntry c_other = Tcp(Z("c"), "10.0.0.12", 50002, "198.51.100.1", 443);
  CtEntry from_c = Tcp(Z("a"), "10.0.0.12", 50001, "10.0.0.10", 22);
  CtEntry from_b = Tcp(Z("a"), "10.0.0.11", 50000, "10.0.0.10", 22);
  Seed({c_out, c_other, from_c, from_b});
  const uint16_t zone_c = Z("c");
  Snapshot next = s_;
  next.ports.erase("c");
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(ct_.CountZone(zone_c).value(), 0u);
  EXPECT_FALSE(ct_.Contains(from_c.zone, from_c.orig)) << "c no longer a member";
  EXPECT_TRUE(ct_.Contains(from_b.zone, from_b.orig));
  bool saw_flush = false;
  for (const ZoneRevocation& z : r.zones) {
    if (z.plan.zone != zone_c) continue;
    saw_flush = true;
    EXPECT_TRUE(z.plan.flush);
    EXPECT_EQ(z.plan.why, "port c removed");
    EXPECT_EQ(z.deleted, 2u);
  }
  EXPECT_TRUE(saw_flush);
}

TEST_F(RevokerTest, NoRelevantChangeDumpsNothing) {
  Seed({Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80)});
  RevokeReport same = Apply(s_);
  EXPECT_TRUE(same.zones.empty());
  EXPECT_EQ(same.dump_calls, 0u);
  // State and representor changes, and a group nobody references, are not
  // relevant to any zone either.
  Snapshot next = s_;
  next.ports["a"].state = policy::PortState::kPendingActivation;
  next.ports["b"].representor.ref = uint32_t{7};
  next.security_groups["unused"] = policy::SecurityGroup{"unused", true, {}};
  RevokeReport r = Apply(next);
  EXPECT_TRUE(r.zones.empty());
  EXPECT_EQ(r.dump_calls, 0u);
  EXPECT_EQ(ct_.dump_calls(), 0u);
  EXPECT_EQ(ct_.delete_calls(), 0u);
  EXPECT_EQ(ct_.All().size(), 1u);
}

TEST_F(RevokerTest, AddressChangeRevokesEntriesOfTheOldAddress) {
  CtEntry old_addr = Tcp(Z("a"), "10.0.0.10", 40000, "198.51.100.1", 443);
  CtEntry vip = Tcp(Z("a"), "10.0.0.100", 40001, "198.51.100.1", 443);
  Seed({old_addr, vip});
  Snapshot next = s_;
  next.ports["a"].fixed_ips = {Ip("10.0.0.20"), Ip("fd00::a")};
  next.ports["a"].vips = {Ip("10.0.0.100")};
  RevokeReport r = Apply(next);
  ASSERT_EQ(r.zones.size(), 1u);
  EXPECT_THAT(r.zones[0].plan.why, HasSubstr("addresses"));
  EXPECT_FALSE(ct_.Contains(old_addr.zone, old_addr.orig));
  EXPECT_TRUE(ct_.Contains(vip.zone, vip.orig));
}

TEST_F(RevokerTest, NewPortZoneIsRevalidatedAndReusedZoneJudgedForItsNewHolder) {
  // A leftover entry in the zone a new port gets (e.g. the agent lost its
  // checkpoint): judged against the new holder.
  Snapshot next = s_;
  next.ports.erase("p");
  policy::SlotAssignment mid = Slots(next, slots_);
  const uint16_t zone_p = Z("p");
  ASSERT_TRUE(Revoke(s_, next, slots_, mid, ct_).ok());
  s_ = next;
  slots_ = mid;
  AddPort("q", "flat", "02:00:00:00:00:0e", {"10.0.0.14"}, {"web"});
  policy::SlotAssignment with_q = Slots(s_, slots_);
  ASSERT_EQ(with_q.port_zone.at("q"), zone_p) << "lowest free zone is reused";
  ASSERT_TRUE(ct_.Create(Tcp(zone_p, "203.0.113.5", 1, "10.0.0.14", 80)).ok());
  ASSERT_TRUE(ct_.Create(Tcp(zone_p, "203.0.113.5", 1, "10.0.0.13", 80)).ok());
  Snapshot before_q = next;
  auto r = Revoke(before_q, s_, slots_, with_q, ct_);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->zones.size(), 1u);
  EXPECT_EQ(r->zones[0].plan.why, "zone newly held by port q");
  EXPECT_EQ(r->zones[0].kept, 1u);
  EXPECT_EQ(r->zones[0].deleted, 1u);
  EXPECT_EQ(ct_.CountZone(zone_p).value(), 1u);
}

TEST_F(RevokerTest, BackendFailuresAreReportedPerZone) {
  CtEntry http_a = Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80);
  CtEntry http_v = Tcp(Z("v"), "203.0.113.5", 40000, "10.1.0.1", 80);
  Seed({http_a, http_v});
  ct_.FailDumpsOf(Z("a"), absl::UnavailableError("ENOBUFS"));
  Snapshot next = s_;
  next.security_groups["web"].rules.erase(next.security_groups["web"].rules.begin());
  Snapshot old = s_;
  RevokeReport r = Apply(next);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.FirstError().message(), HasSubstr("port a"));
  EXPECT_TRUE(ct_.Contains(http_a.zone, http_a.orig)) << "its dump failed";
  EXPECT_FALSE(ct_.Contains(http_v.zone, http_v.orig)) << "other zones still revoked";
  // Running again with the same arguments once the backend recovers finishes.
  ct_.FailDumpsOf(Z("a"), absl::OkStatus());
  auto again = Revoke(old, s_, slots_, slots_, ct_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok()) << again->FirstError();
  EXPECT_FALSE(ct_.Contains(http_a.zone, http_a.orig));
}

TEST_F(RevokerTest, FailedAndVanishedDeletesAreCounted) {
  CtEntry http = Tcp(Z("a"), "203.0.113.5", 40000, "10.0.0.10", 80);
  CtEntry http2 = Tcp(Z("a"), "203.0.113.5", 40001, "10.0.0.10", 80);
  Seed({http, http2});
  ct_.FailDeleteOf(http.zone, http.orig, absl::NotFoundError("gone"));
  ct_.FailDeleteOf(http2.zone, http2.orig, absl::PermissionDeniedError("EPERM"));
  Snapshot next = s_;
  next.security_groups["web"].rules.erase(next.security_groups["web"].rules.begin());
  RevokeReport r = Apply(next);
  ASSERT_FALSE(r.zones.empty());
  EXPECT_EQ(r.zones[0].vanished, 1u);
  EXPECT_EQ(r.zones[0].deleted, 0u);
  EXPECT_EQ(r.zones[0].status.code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(r.zones[0].deletions.size(), 2u);
  EXPECT_THAT(r.zones[0].deletions[0].second, HasSubstr("already gone"));
  EXPECT_THAT(r.zones[0].deletions[1].second, HasSubstr("delete failed"));
}

TEST_F(RevokerTest, SlotsNotCoveringTheSnapshotAreRefused) {
  policy::SlotAssignment partial = slots_;
  partial.port_zone.erase("a");
  auto r = Revoke(s_, s_, slots_, partial, ct_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ct_.dump_calls(), 0u);
}

TEST(CtAddressTest, RoundTripsBothFamilies) {
  for (const char* text : {"192.0.2.1", "2001:db8::1"}) {
    IpAddr a = Ip(text);
    EXPECT_EQ(ToIpAddr(ToCtAddress(a)), a) << text;
  }
  netlink::CtAddress bad;
  bad.family = 0;
  EXPECT_FALSE(ToIpAddr(bad).has_value());
  EXPECT_EQ(ToCtAddress(Ip("192.0.2.1")).family, AF_INET);
}

}  // namespace
}  // namespace vfguard::agent
