// Every validation error path, with its exact message, plus acceptance of a
// rich valid snapshot.
#include "policy/validate.h"

#include <gtest/gtest.h>

#include <functional>

namespace vfguard::policy {
namespace {

IpAddr Ip(const char* t) { return *IpAddr::Parse(t); }
MacAddr Mac(const char* t) { return *MacAddr::Parse(t); }
IpPrefix Prefix(const char* t) { return *IpPrefix::Parse(t); }

Snapshot Valid() {
  Snapshot s;
  s.networks["flat"] = Network{"flat", Segmentation::kFlat, 0};
  s.networks["v10"] = Network{"v10", Segmentation::kVlan, 10};
  SecurityGroup web{"web", true, {}};
  SecurityGroupRule http;
  http.protocol = kProtoTcp;
  http.ports = PortRange{80, 443};
  http.remote_prefix = Prefix("10.0.0.0/8");
  web.rules.push_back(http);
  SecurityGroupRule ping;
  ping.protocol = kProtoIcmp;
  ping.icmp = IcmpMatch{8, 0};
  ping.remote_group_id = "web";
  ping.priority = 10;
  ping.action = RuleAction::kDeny;
  web.rules.push_back(ping);
  SecurityGroupRule v6;
  v6.ethertype = EtherType::kIPv6;
  v6.protocol = kProtoIcmpv6;
  v6.direction = Direction::kEgress;
  v6.remote_prefix = Prefix("fd00::/64");
  web.rules.push_back(v6);
  s.security_groups["web"] = web;
  s.security_groups["raw"] = SecurityGroup{"raw", false, {}};
  Port a;
  a.id = "a";
  a.network_id = "flat";
  a.mac = Mac("02:00:00:00:00:01");
  a.fixed_ips = {Ip("10.0.0.1"), Ip("fd00::1")};
  a.vips = {Ip("10.0.0.100")};
  a.allowed_address_pairs = {AllowedAddressPair{Prefix("10.0.2.0/24"), Mac("02:aa:00:00:00:01")}};
  a.security_group_ids = {"web"};
  a.representor.ref = uint32_t{1};
  s.ports["a"] = a;
  Port b = a;
  b.id = "b";
  b.network_id = "v10";
  b.representor.ref = std::string("eth5");
  b.security_group_ids = {"raw"};
  b.state = PortState::kPendingActivation;
  s.ports["b"] = b;  // same MAC in another network is fine
  return s;
}

TEST(Validate, AcceptsRichSnapshot) { EXPECT_TRUE(Validate(Valid()).ok()) << Validate(Valid()); }

struct Case {
  const char* name;
  std::function<void(Snapshot&)> mutate;
  const char* message;
};

class ValidateError : public ::testing::TestWithParam<Case> {};

TEST_P(ValidateError, RejectsWithExactMessage) {
  Snapshot s = Valid();
  GetParam().mutate(s);
  absl::Status st = Validate(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), GetParam().message);
}

SecurityGroupRule& Rule(Snapshot& s, int i) { return s.security_groups["web"].rules[i]; }

const Case kCases[] = {
    {"BadNetworkId",
     [](Snapshot& s) {
       s.networks["bad id"] = Network{"bad id"};
       s.networks.erase("flat");
     },
     "networks[bad id].id: \"bad id\" is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"},
    {"KeyMismatch", [](Snapshot& s) { s.networks["flat"].id = "other"; },
     "networks[flat].id: \"other\" does not match its key \"flat\""},
    {"FlatWithVlan", [](Snapshot& s) { s.networks["flat"].vlan_id = 5; },
     "networks[flat].vlan_id: 5 is set on a flat network"},
    {"TwoFlat",
     [](Snapshot& s) {
       s.networks["g"] = Network{"g", Segmentation::kFlat, 0};
     },
     "networks[g].segmentation: flat: only one flat network per uplink, already \"flat\""},
    {"VlanZero", [](Snapshot& s) { s.networks["v10"].vlan_id = 0; },
     "networks[v10].vlan_id: 0 is out of range 1-4094"},
    {"Vlan4095", [](Snapshot& s) { s.networks["v10"].vlan_id = 4095; },
     "networks[v10].vlan_id: 4095 is out of range 1-4094"},
    {"VlanDuplicate",
     [](Snapshot& s) {
       s.networks["v11"] = Network{"v11", Segmentation::kVlan, 10};
     },
     "networks[v11].vlan_id: 10 is already used by network \"v10\""},
    {"GroupKeyMismatch", [](Snapshot& s) { s.security_groups["raw"].id = "x"; },
     "security_groups[raw].id: \"x\" does not match its key \"raw\""},
    {"PriorityZero", [](Snapshot& s) { Rule(s, 0).priority = 0; },
     "security_groups[web].rules[0].priority: 0 is out of range 1-16384"},
    {"PriorityHigh", [](Snapshot& s) { Rule(s, 0).priority = 16385; },
     "security_groups[web].rules[0].priority: 16385 is out of range 1-16384"},
    {"IcmpWithV6", [](Snapshot& s) { Rule(s, 1).ethertype = EtherType::kIPv6; },
     "security_groups[web].rules[1].protocol: icmp with ethertype IPv6 (use icmpv6)"},
    {"Icmpv6WithV4", [](Snapshot& s) { Rule(s, 2).ethertype = EtherType::kIPv4; },
     "security_groups[web].rules[2].protocol: icmpv6 with ethertype IPv4 (use icmp)"},
    {"PortsWithoutProtocol", [](Snapshot& s) { Rule(s, 0).protocol.reset(); },
     "security_groups[web].rules[0].port_range_min: a port range needs protocol tcp, udp or sctp, "
     "not any"},
    {"PortsWithIcmp",
     [](Snapshot& s) {
       Rule(s, 1).ports = PortRange{1, 2};
     },
     "security_groups[web].rules[1].port_range_min: a port range needs protocol tcp, udp or sctp, "
     "not icmp"},
    {"PortMinZero", [](Snapshot& s) { Rule(s, 0).ports->min = 0; },
     "security_groups[web].rules[0].port_range_min: 0 is out of range 1-65535"},
    {"PortMaxZero",
     [](Snapshot& s) {
       Rule(s, 0).ports = PortRange{1, 0};
       Rule(s, 0).ports->min = 1;
       Rule(s, 0).ports->max = 0;
     },
     "security_groups[web].rules[0].port_range_max: 0 is out of range 1-65535"},
    {"PortMinAboveMax",
     [](Snapshot& s) {
       Rule(s, 0).ports = PortRange{90, 80};
     },
     "security_groups[web].rules[0].port_range_max: 80 is below port_range_min 90"},
    {"IcmpTypeWithTcp",
     [](Snapshot& s) {
       Rule(s, 0).icmp = IcmpMatch{8, {}};
     },
     "security_groups[web].rules[0].icmp_type: ICMP type/code needs protocol icmp or icmpv6, not "
     "tcp"},
    {"IcmpTypeWithAny", [](Snapshot& s) { Rule(s, 1).protocol.reset(); },
     "security_groups[web].rules[1].icmp_type: ICMP type/code needs protocol icmp or icmpv6, not "
     "any"},
    {"RemoteBoth", [](Snapshot& s) { Rule(s, 1).remote_prefix = Prefix("10.0.0.0/8"); },
     "security_groups[web].rules[1].remote_group_id: remote_ip_prefix and remote_group_id are "
     "mutually exclusive"},
    {"RemoteFamily", [](Snapshot& s) { Rule(s, 0).remote_prefix = Prefix("fd00::/64"); },
     "security_groups[web].rules[0].remote_ip_prefix: fd00::/64 does not match ethertype IPv4"},
    {"RemoteGroupUnknown", [](Snapshot& s) { Rule(s, 1).remote_group_id = "nope"; },
     "security_groups[web].rules[1].remote_group_id: \"nope\" is not a known security group"},
    {"PortIdBad",
     [](Snapshot& s) {
       Port p = s.ports["a"];
       s.ports.erase("a");
       p.id = "";
       s.ports[""] = p;
     },
     "ports[].id: \"\" is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"},
    {"PortNetworkUnknown", [](Snapshot& s) { s.ports["a"].network_id = "mars"; },
     "ports[a].network_id: \"mars\" is not a known network"},
    {"PortMacZero", [](Snapshot& s) { s.ports["a"].mac = MacAddr{}; },
     "ports[a].mac_address: 00:00:00:00:00:00 is all zeros"},
    {"PortMacMulticast", [](Snapshot& s) { s.ports["a"].mac = Mac("01:00:5e:00:00:01"); },
     "ports[a].mac_address: 01:00:5e:00:00:01 is a multicast/broadcast MAC"},
    {"FixedIpUnspecified", [](Snapshot& s) { s.ports["a"].fixed_ips[0] = Ip("0.0.0.0"); },
     "ports[a].fixed_ips[0]: 0.0.0.0 is unspecified"},
    {"FixedIpMulticast", [](Snapshot& s) { s.ports["a"].fixed_ips[1] = Ip("ff02::1"); },
     "ports[a].fixed_ips[1]: ff02::1 is multicast"},
    {"FixedIpBroadcast", [](Snapshot& s) { s.ports["a"].fixed_ips[0] = Ip("255.255.255.255"); },
     "ports[a].fixed_ips[0]: 255.255.255.255 is broadcast"},
    {"FixedIpTwice", [](Snapshot& s) { s.ports["a"].fixed_ips.push_back(Ip("10.0.0.1")); },
     "ports[a].fixed_ips[2]: 10.0.0.1 is listed twice"},
    {"VipMulticast", [](Snapshot& s) { s.ports["a"].vips[0] = Ip("224.0.0.18"); },
     "ports[a].vips[0]: 224.0.0.18 is multicast"},
    {"VipSameAsFixed", [](Snapshot& s) { s.ports["a"].vips[0] = Ip("10.0.0.1"); },
     "ports[a].vips[0]: 10.0.0.1 is listed twice"},
    {"PairMulticast",
     [](Snapshot& s) { s.ports["a"].allowed_address_pairs[0].prefix = Prefix("224.0.0.0/4"); },
     "ports[a].allowed_address_pairs[0].ip_address: 224.0.0.0/4 is multicast"},
    {"PairMacMulticast",
     [](Snapshot& s) { s.ports["a"].allowed_address_pairs[0].mac = Mac("ff:ff:ff:ff:ff:ff"); },
     "ports[a].allowed_address_pairs[0].mac_address: ff:ff:ff:ff:ff:ff is a multicast/broadcast "
     "MAC"},
    {"GroupUnknown", [](Snapshot& s) { s.ports["a"].security_group_ids.push_back("nope"); },
     "ports[a].security_group_ids[1]: \"nope\" is not a known security group"},
    {"GroupTwice", [](Snapshot& s) { s.ports["a"].security_group_ids.push_back("web"); },
     "ports[a].security_group_ids[1]: \"web\" is listed twice"},
    {"GroupMix", [](Snapshot& s) { s.ports["a"].security_group_ids.push_back("raw"); },
     "ports[a].security_group_ids[1]: \"raw\" mixes stateful and stateless security groups"},
    {"RepresentorName", [](Snapshot& s) { s.ports["b"].representor.ref = std::string("a/b"); },
     "ports[b].representor_name: \"a/b\" is not a valid netdev name (1-15 characters)"},
    {"RepresentorNameLong",
     [](Snapshot& s) { s.ports["b"].representor.ref = std::string("abcdefghijklmnop"); },
     "ports[b].representor_name: \"abcdefghijklmnop\" is not a valid netdev name (1-15 "
     "characters)"},
    {"MacDuplicate", [](Snapshot& s) { s.ports["b"].network_id = "flat"; },
     "ports[b].mac_address: 02:00:00:00:00:01 is already used by port \"a\" in network \"flat\""},
    {"RepresentorDuplicate", [](Snapshot& s) { s.ports["b"].representor.ref = uint32_t{1}; },
     "ports[b].vf_index: representor already used by port \"a\""},
};

INSTANTIATE_TEST_SUITE_P(AllPaths, ValidateError, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// A rejected snapshot is rejected whole: Validate has no side effects, and the
// first error in a deterministic walk is reported regardless of map order.
TEST(Validate, FirstErrorIsDeterministic) {
  Snapshot s = Valid();
  s.networks["v10"].vlan_id = 0;
  s.ports["a"].mac = MacAddr{};
  EXPECT_EQ(Validate(s).message(), "networks[v10].vlan_id: 0 is out of range 1-4094");
  Snapshot copy = s;
  (void)Validate(s);
  EXPECT_EQ(s, copy);
}

}  // namespace
}  // namespace vfguard::policy
