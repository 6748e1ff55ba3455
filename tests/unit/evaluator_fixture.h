// The reference evaluator's test fixture: a snapshot with two networks and
// ports in every state docs/semantics.md distinguishes, and packet builders.
// Shared by evaluator_test.cc (where frames go) and
// evaluator_security_test.cc (what port security and group rules allow).
#ifndef VFGUARD_TESTS_UNIT_EVALUATOR_FIXTURE_H_
#define VFGUARD_TESTS_UNIT_EVALUATOR_FIXTURE_H_

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "policy/evaluator.h"
#include "policy/validate.h"

namespace vfguard::policy::evaltest {

inline IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }
inline IpPrefix Pfx(const char* s) { return *IpPrefix::Parse(s); }
inline MacAddr Mac(const char* s) { return *MacAddr::Parse(s); }

inline const MacAddr kMacA = Mac("02:00:00:00:00:0a");
inline const MacAddr kMacB = Mac("02:00:00:00:00:0b");
inline const MacAddr kMacC = Mac("02:00:00:00:00:0c");
inline const MacAddr kMacD = Mac("02:00:00:00:00:0d");
inline const MacAddr kMacE = Mac("02:00:00:00:00:0e");
inline const MacAddr kMacV = Mac("02:00:00:00:00:10");
inline const MacAddr kMacW = Mac("02:00:00:00:00:11");
inline const MacAddr kPairMac = Mac("02:aa:00:00:00:0a");
inline const MacAddr kOutside = Mac("02:99:00:00:00:01");

inline SecurityGroupRule Rule(Direction d, std::optional<uint8_t> proto,
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

}  // namespace vfguard::policy::evaltest

#endif  // VFGUARD_TESTS_UNIT_EVALUATOR_FIXTURE_H_
