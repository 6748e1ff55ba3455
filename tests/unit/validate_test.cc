// Every validation error path, with its exact message, plus acceptance of a
// rich valid snapshot.
#include "policy/validate.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"

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
  s.remote_ports["bastion-1"] =
      RemotePort{"bastion-1", {Prefix("192.0.2.10"), Prefix("2001:db8::10")}, {"web"}};
  s.address_groups["office"] =
      AddressGroup{"office", {Prefix("198.51.100.0/24"), Prefix("2001:db8:1::/48")}};
  SecurityGroupRule office;
  office.protocol = kProtoTcp;
  office.remote_address_group_id = "office";
  s.security_groups["raw"].rules.push_back(office);
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
    {"RemoteAndAddressGroup", [](Snapshot& s) { Rule(s, 1).remote_address_group_id = "office"; },
     "security_groups[web].rules[1].remote_address_group_id: remote_address_group_id and "
     "remote_group_id are mutually exclusive"},
    {"PrefixAndAddressGroup", [](Snapshot& s) { Rule(s, 0).remote_address_group_id = "office"; },
     "security_groups[web].rules[0].remote_address_group_id: remote_address_group_id and "
     "remote_ip_prefix are mutually exclusive"},
    {"AddressGroupUnknown",
     [](Snapshot& s) { s.security_groups["raw"].rules[0].remote_address_group_id = "nope"; },
     "security_groups[raw].rules[0].remote_address_group_id: \"nope\" is not a known address "
     "group"},
    {"RemotePortIdMismatch", [](Snapshot& s) { s.remote_ports["bastion-1"].id = "b2"; },
     "remote_ports[bastion-1].id: \"b2\" does not match its key \"bastion-1\""},
    {"RemotePortGroupUnknown",
     [](Snapshot& s) { s.remote_ports["bastion-1"].security_group_ids.push_back("nope"); },
     "remote_ports[bastion-1].security_group_ids[1]: \"nope\" is not a known security group"},
    {"RemotePortGroupTwice",
     [](Snapshot& s) { s.remote_ports["bastion-1"].security_group_ids.push_back("web"); },
     "remote_ports[bastion-1].security_group_ids[1]: \"web\" is listed twice"},
    {"RemotePortAddressTwice",
     [](Snapshot& s) { s.remote_ports["bastion-1"].addresses.push_back(Prefix("192.0.2.10")); },
     "remote_ports[bastion-1].addresses[2]: 192.0.2.10/32 is listed twice"},
    {"RemotePortMulticast",
     [](Snapshot& s) { s.remote_ports["bastion-1"].addresses[0] = Prefix("239.1.1.1"); },
     "remote_ports[bastion-1].addresses[0]: 239.1.1.1/32 is multicast"},
    {"RemotePortHostBits",
     [](Snapshot& s) {
       s.remote_ports["bastion-1"].addresses[0] = IpPrefix{Ip("192.0.2.10"), 24};
     },
     "remote_ports[bastion-1].addresses[0]: 192.0.2.10/24 has host bits set"},
    {"AddressGroupIdBad",
     [](Snapshot& s) {
       s.address_groups["bad id"] = AddressGroup{"bad id", {}};
     },
     "address_groups[bad id].id: \"bad id\" is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"},
    {"AddressGroupCidrTooLong",
     [](Snapshot& s) { s.address_groups["office"].cidrs[1].length = 129; },
     "address_groups[office].cidrs[1]: 2001:db8:1::/129 has a prefix length above 128"},
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
    {"RepresentorNameDuplicate",
     [](Snapshot& s) { s.ports["a"].representor.ref = std::string("eth5"); },
     "ports[b].representor_name: representor already used by port \"a\""},
    {"RepresentorNameEmpty", [](Snapshot& s) { s.ports["b"].representor.ref = std::string(); },
     "ports[b].representor_name: \"\" is not a valid netdev name (1-15 characters)"},
    {"RepresentorNameDotDot", [](Snapshot& s) { s.ports["b"].representor.ref = std::string(".."); },
     "ports[b].representor_name: \"..\" is not a valid netdev name (1-15 characters)"},
    {"RepresentorNameColon",
     [](Snapshot& s) { s.ports["b"].representor.ref = std::string("eth5:1"); },
     "ports[b].representor_name: \"eth5:1\" is not a valid netdev name (1-15 characters)"},
    {"RepresentorNameWhitespaceEscaped",
     [](Snapshot& s) { s.ports["b"].representor.ref = std::string("vf\r1"); },
     "ports[b].representor_name: \"vf\\r1\" is not a valid netdev name (1-15 characters)"},
    {"VfIndexRange", [](Snapshot& s) { s.ports["a"].representor.ref = uint32_t{65536}; },
     "ports[a].vf_index: 65536 is out of range 0-65535"},
    {"GroupIdBad",
     [](Snapshot& s) {
       s.security_groups["a b"] = SecurityGroup{"a b", true, {}};
     },
     "security_groups[a b].id: \"a b\" is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"},
    {"IdTooLong",
     [](Snapshot& s) {
       std::string id(64, 'n');
       s.networks[id] = Network{id, Segmentation::kVlan, 20};
     },
     "networks[nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn].id: "
     "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\" is not a valid id (1-63 "
     "of A-Z a-z 0-9 . _ : -)"},
    {"IdControlCharEscaped",
     [](Snapshot& s) {
       Port p = s.ports["a"];
       p.id = "p\n1";
       s.ports[p.id] = p;
     },
     "ports[p\\n1].id: \"p\\n1\" is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"},
    {"DotDotId",
     [](Snapshot& s) {
       Port p = s.ports["a"];
       p.id = "..";
       s.ports.erase("a");
       s.ports[p.id] = p;
     },
     "ports[..].id: \"..\" is not a valid id (. and .. are path segments)"},
    {"DotId",
     [](Snapshot& s) {
       s.networks["."] = Network{".", Segmentation::kVlan, 20};
     },
     "networks[.].id: \".\" is not a valid id (. and .. are path segments)"},
    {"PortKeyMismatch", [](Snapshot& s) { s.ports["a"].id = "b"; },
     "ports[a].id: \"b\" does not match its key \"a\""},
    {"SegmentationJunk",
     [](Snapshot& s) { s.networks["flat"].segmentation = static_cast<Segmentation>(7); },
     "networks[flat].segmentation: 7 is not flat or vlan"},
    {"PortStateJunk", [](Snapshot& s) { s.ports["a"].state = static_cast<PortState>(9); },
     "ports[a].state: 9 is not active, pending-activation or inactive"},
    {"DirectionJunk", [](Snapshot& s) { Rule(s, 0).direction = static_cast<Direction>(2); },
     "security_groups[web].rules[0].direction: 2 is not ingress or egress"},
    {"EtherTypeJunk", [](Snapshot& s) { Rule(s, 0).ethertype = static_cast<EtherType>(255); },
     "security_groups[web].rules[0].ethertype: 255 is not IPv4 or IPv6"},
    {"ActionJunk", [](Snapshot& s) { Rule(s, 0).action = static_cast<RuleAction>(3); },
     "security_groups[web].rules[0].action: 3 is not allow or deny"},
    {"PairMacZero", [](Snapshot& s) { s.ports["a"].allowed_address_pairs[0].mac = MacAddr{}; },
     "ports[a].allowed_address_pairs[0].mac_address: 00:00:00:00:00:00 is all zeros"},
    {"VipUnspecified", [](Snapshot& s) { s.ports["a"].vips[0] = Ip("::"); },
     "ports[a].vips[0]: :: is unspecified"},
    {"AddressFamilyJunk",
     [](Snapshot& s) { s.ports["a"].fixed_ips[0].family = static_cast<IpFamily>(9); },
     "ports[a].fixed_ips[0]: address family 9 is neither 4 (IPv4) nor 6 (IPv6)"},
    {"V4WithTrailingBytes", [](Snapshot& s) { s.ports["a"].vips[0].bytes[15] = 1; },
     "ports[a].vips[0]: 10.0.0.100 has bytes set beyond its 4 IPv4 bytes"},
    {"PairPrefixTooLong",
     [](Snapshot& s) { s.ports["a"].allowed_address_pairs[0].prefix.length = 40; },
     "ports[a].allowed_address_pairs[0].ip_address: 10.0.2.0/40 has a prefix length above 32"},
    {"PairHostBits",
     [](Snapshot& s) {
       s.ports["a"].allowed_address_pairs[0].prefix = IpPrefix{Ip("10.0.2.1"), 24};
     },
     "ports[a].allowed_address_pairs[0].ip_address: 10.0.2.1/24 has host bits set"},
    {"RemotePrefixHostBits",
     [](Snapshot& s) {
       Rule(s, 0).remote_prefix = IpPrefix{Ip("10.1.2.3"), 8};
     },
     "security_groups[web].rules[0].remote_ip_prefix: 10.1.2.3/8 has host bits set"},
    {"RemotePrefixV6TooLong", [](Snapshot& s) { Rule(s, 2).remote_prefix->length = 129; },
     "security_groups[web].rules[2].remote_ip_prefix: fd00::/129 has a prefix length above 128"},
    {"TooManyV6ForTheNdCheck",
     [](Snapshot& s) {
       Port& a = s.ports["a"];
       a.vips.clear();
       a.allowed_address_pairs.clear();
       a.fixed_ips.clear();
       for (int i = 1; i <= 64; ++i) {
         a.fixed_ips.push_back(*IpAddr::Parse(absl::StrCat("fd00:1::", i)));
       }
     },
     "ports[a]: 65 IPv6 fixed IPs, VIPs and allowed-pair prefixes with the link-local; the ND "
     "check holds at most 64"},
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

// Every limit's last accepted value is accepted (the error cases above use the
// first refused one).
TEST(Validate, AcceptsBoundaries) {
  Snapshot s = Valid();
  std::string long_id(63, 'L');
  s.networks.erase("v10");
  s.networks[long_id] = Network{long_id, Segmentation::kVlan, 4094};
  s.networks["v1"] = Network{"v1", Segmentation::kVlan, 1};
  s.ports["b"].network_id = long_id;
  s.ports["b"].representor.ref = std::string("abcdefghijklmno");  // 15 characters
  s.ports["b"].state = PortState::kInactive;
  s.ports["b"].port_security = false;
  s.ports["a"].representor.ref = uint32_t{65535};
  Port c = s.ports["a"];
  c.id = "c.d_e:f-0";
  c.network_id = "v1";
  c.representor.ref = uint32_t{0};
  c.fixed_ips = {Ip("fe80::1"), Ip("10.255.255.255")};
  c.vips = {Ip("fd00::ff")};
  c.allowed_address_pairs = {AllowedAddressPair{Prefix("0.0.0.0/0"), std::nullopt},
                             AllowedAddressPair{Prefix("::/0"), Mac("02:00:00:00:00:09")}};
  c.security_group_ids = {};
  s.ports[c.id] = c;
  // Dots are id characters; only the two dot segments are refused.
  Port dots = c;
  dots.id = "...";
  dots.mac = Mac("02:00:00:00:00:0e");
  dots.fixed_ips = {};
  dots.vips = {};
  dots.allowed_address_pairs = {};
  dots.representor.ref = uint32_t{9};
  s.ports[dots.id] = dots;
  std::vector<SecurityGroupRule>& rules = s.security_groups["web"].rules;
  rules.push_back(
      SecurityGroupRule{.protocol = kProtoUdp, .ports = PortRange{1, 65535}, .priority = 1});
  rules.push_back(SecurityGroupRule{.protocol = kProtoSctp,
                                    .ports = PortRange{65535, 65535},
                                    .remote_prefix = Prefix("0.0.0.0/0"),
                                    .priority = kMaxRulePriority});
  rules.push_back(SecurityGroupRule{.ethertype = EtherType::kIPv6,
                                    .protocol = kProtoIcmpv6,
                                    .icmp = IcmpMatch{255, 255},
                                    .remote_prefix = Prefix("::/0")});
  // A remote group the port is not a member of.
  rules.push_back(SecurityGroupRule{.protocol = 0, .remote_group_id = "raw"});
  rules.push_back(SecurityGroupRule{.protocol = 255, .remote_prefix = Prefix("10.0.0.1/32")});
  absl::Status st = Validate(s);
  EXPECT_TRUE(st.ok()) << st;
}

// Validation of arbitrary in-memory values: no crash, no other status than
// OK or InvalidArgument, a message that starts with a field path, and the
// same answer twice. Mostly-valid values with rare corruption per field, so
// that both outcomes and many different checks are exercised.
class WeirdSnapshots {
 public:
  explicit WeirdSnapshots(uint32_t seed) : rng_(seed) {}

  Snapshot Next() {
    Snapshot s;
    for (int n = Below(4); n > 0; --n) {
      Network net;
      net.id = Id();
      net.segmentation =
          Odd() ? static_cast<Segmentation>(Below(256)) : Pick({kFlat, kVlan, kVlan, kVlan});
      net.vlan_id = net.segmentation == kFlat ? 0 : Pick<uint16_t>({1, 2, 3, 4094});
      if (Odd())
        net.vlan_id = Pick<uint16_t>({0, 4095, 65535, static_cast<uint16_t>(Below(65536))});
      s.networks[Odd() ? Id() : net.id] = net;
    }
    for (int n = Below(4); n > 0; --n) {
      SecurityGroup g;
      g.id = Id();
      g.stateful = Below(2) == 0;
      for (int r = Below(5); r > 0; --r) g.rules.push_back(Rule());
      s.security_groups[Odd() ? Id() : g.id] = g;
    }
    for (int n = Below(5); n > 0; --n) {
      Port p;
      p.id = Id();
      p.network_id = Id();
      p.mac.bytes[0] = Odd() ? static_cast<uint8_t>(Below(256)) : 0x02;
      p.mac.bytes[5] = static_cast<uint8_t>(Below(4));
      for (int i = Below(3); i > 0; --i) p.fixed_ips.push_back(Addr());
      for (int i = Below(3); i > 0; --i) p.vips.push_back(Addr());
      for (int i = Below(3); i > 0; --i) {
        AllowedAddressPair pair{Prefix(), std::nullopt};
        if (Below(2)) pair.mac = MacAddr{{Odd() ? uint8_t{0x01} : uint8_t{0x02}, 0, 0, 0, 0, 7}};
        p.allowed_address_pairs.push_back(pair);
      }
      for (int i = Below(3); i > 0; --i) p.security_group_ids.push_back(Id());
      p.port_security = Below(2) == 0;
      if (Below(2)) {
        p.representor.ref = Odd() ? uint32_t{65536} + Below(1000) : static_cast<uint32_t>(Below(4));
      } else {
        p.representor.ref = Pick<std::string>(
            {"eth0", "eth1", "", "..", "a/b", "x y", std::string("n\0l", 3), std::string(16, 'r')});
      }
      p.state = Odd() ? static_cast<PortState>(Below(256)) : PortState::kActive;
      s.ports[Odd() ? Id() : p.id] = p;
    }
    return s;
  }

 private:
  static constexpr Segmentation kFlat = Segmentation::kFlat;
  static constexpr Segmentation kVlan = Segmentation::kVlan;

  int Below(int n) { return static_cast<int>(rng_() % n); }
  bool Odd() { return Below(12) == 0; }  // a corrupted field
  template <typename T>
  T Pick(std::initializer_list<T> values) {
    return *(values.begin() + Below(static_cast<int>(values.size())));
  }
  std::string Id() {
    if (Odd()) {
      return Pick<std::string>({"", "a b", std::string(64, 'x'), std::string("n\0l", 3), "\xff\n"});
    }
    return Pick<std::string>({"a", "b", "web", "flat", "v10"});
  }
  IpAddr Addr() {
    IpAddr a;
    a.family = Below(2) ? IpFamily::kV4 : IpFamily::kV6;
    int len = a.family == IpFamily::kV4 ? 4 : 16;
    a.bytes[0] = Pick<uint8_t>({10, 10, 0, 224, 255, 0xfd, 0xff});
    a.bytes[len - 1] = static_cast<uint8_t>(Below(256));
    if (Odd()) a.family = static_cast<IpFamily>(Below(256));
    if (Odd()) a.bytes[15] = 1;
    return a;
  }
  IpPrefix Prefix() {
    IpPrefix p{Addr(), 0};
    p.length = Odd() ? static_cast<uint8_t>(Below(256)) : static_cast<uint8_t>(p.addr.BitLength());
    return p;
  }
  SecurityGroupRule Rule() {
    SecurityGroupRule r;
    r.direction = Odd() ? static_cast<Direction>(Below(256)) : Direction::kEgress;
    r.ethertype =
        Odd() ? static_cast<EtherType>(Below(256)) : Pick({EtherType::kIPv4, EtherType::kIPv6});
    if (Below(4)) r.protocol = Pick<uint8_t>({0, 1, 6, 17, 58, 112, 132, 255});
    if (Below(3) == 0) {
      r.ports = PortRange{Pick<uint16_t>({0, 1, 80, 65535}), Pick<uint16_t>({0, 1, 443, 65535})};
    }
    if (Below(4) == 0) r.icmp = IcmpMatch{static_cast<uint8_t>(Below(256)), std::nullopt};
    if (Below(3) == 0) r.remote_prefix = Prefix();
    if (Below(3) == 0) r.remote_group_id = Id();
    r.priority = Pick<uint16_t>({0, 1, 100, 16384, 16385, 65535, 100, 100});
    r.action = Odd() ? static_cast<RuleAction>(Below(256)) : RuleAction::kDeny;
    return r;
  }

  std::mt19937 rng_;
};

TEST(Validate, NeverCrashesOnWeirdValues) {
  const std::regex path_then_text(
      R"(^(networks|ports|security_groups)\[[^\]]*\](\.[a-z_]+(\[[0-9]+\])?)+: .+$)");
  WeirdSnapshots gen(20260524);
  int accepted = 0;
  std::map<std::string, int> rejected_by_field;
  for (int i = 0; i < 20000; ++i) {
    Snapshot s = gen.Next();
    absl::Status st = Validate(s);
    EXPECT_EQ(Validate(s), st) << "case " << i;
    if (st.ok()) {
      ++accepted;
      continue;
    }
    ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << "case " << i << ": " << st;
    std::string message(st.message());
    ASSERT_TRUE(std::regex_match(message, path_then_text)) << "case " << i << ": " << message;
    // The field is the path up to ": " with map keys and list indexes removed.
    std::string field =
        std::regex_replace(message.substr(0, message.find(": ")), std::regex(R"(\[[^\]]*\])"), "");
    ++rejected_by_field[field];
  }
  std::string fields;
  for (const auto& [field, count] : rejected_by_field)
    absl::StrAppend(&fields, field, "=", count, " ");
  std::printf("accepted %d of 20000; rejected by field: %s\n", accepted, fields.c_str());
  EXPECT_GT(accepted, 100);
  EXPECT_GE(rejected_by_field.size(), 24u) << fields;
}

}  // namespace
}  // namespace vfguard::policy
