#include "agent/policy_codec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::agent {
namespace {

namespace pb = ::vfguard::api::v1;

// Every field kind: VLAN and flat networks, v4 and v6, vf_index 0 (a oneof
// member equal to the default), representor names, pairs with and without
// MAC, stateless groups, port ranges, ICMP with and without code, remote
// prefix and group, deny, explicit priority, every port state.
constexpr char kFullPolicy[] = R"json({
  "networks": [
    {"id": "flat", "segmentation": "flat"},
    {"id": "v10", "segmentation": "vlan", "vlan_id": 10, "generation": "7"}
  ],
  "security_groups": [
    {"id": "web", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 443,
       "remote_ip_prefix": "10.0.0.0/8"},
      {"direction": "ingress", "ethertype": "IPv6", "protocol": "icmpv6", "icmp_type": 128},
      {"direction": "egress", "protocol": "icmp", "icmp_type": 3, "icmp_code": 4,
       "action": "deny", "priority": 10},
      {"direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53,
       "remote_group_id": "web"},
      {"direction": "egress", "protocol": "47"}
    ]},
    {"id": "raw", "stateful": false, "rules": [{"direction": "ingress"}]}
  ],
  "ports": [
    {"id": "web-1", "network_id": "v10", "mac_address": "02:00:00:00:00:01",
     "fixed_ips": ["10.0.0.5", "fd00::5"], "vips": ["10.0.0.100"],
     "allowed_address_pairs": [{"ip_address": "192.168.0.0/24"},
                               {"ip_address": "10.1.1.1", "mac_address": "02:00:00:00:00:aa"}],
     "security_group_ids": ["web"], "vf_index": 0},
    {"id": "raw-1", "networkId": "flat", "macAddress": "02:00:00:00:00:02",
     "securityGroupIds": ["raw"], "representorName": "eth9", "state": "pending-activation"},
    {"id": "open", "network_id": "flat", "mac_address": "02:00:00:00:00:03",
     "port_security_enabled": false, "vf_index": 7, "state": "inactive"}
  ]
})json";

policy::Snapshot MustLoad(const std::string& json) {
  absl::StatusOr<pb::Policy> p = PolicyFromJson(json);
  EXPECT_TRUE(p.ok()) << p.status();
  absl::StatusOr<policy::Snapshot> s = SnapshotFromPolicy(p.value_or(pb::Policy()));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.value_or(policy::Snapshot());
}

// Snapshot -> Policy -> JSON -> Policy -> Snapshot.
policy::Snapshot ThroughJson(const policy::Snapshot& s) {
  std::string json = PolicyToJson(PolicyFromSnapshot(s));
  return MustLoad(json);
}

TEST(PolicyCodec, ReadsEveryFieldKind) {
  policy::Snapshot s = MustLoad(kFullPolicy);
  ASSERT_EQ(s.networks.size(), 2u);
  EXPECT_EQ(s.networks.at("v10").segmentation, policy::Segmentation::kVlan);
  EXPECT_EQ(s.networks.at("v10").vlan_id, 10);
  const policy::Port& web = s.ports.at("web-1");
  EXPECT_EQ(web.mac.ToString(), "02:00:00:00:00:01");
  ASSERT_EQ(web.fixed_ips.size(), 2u);
  EXPECT_EQ(web.fixed_ips[1].ToString(), "fd00::5");
  EXPECT_EQ(std::get<uint32_t>(web.representor.ref), 0u);
  ASSERT_EQ(web.allowed_address_pairs.size(), 2u);
  EXPECT_FALSE(web.allowed_address_pairs[0].mac.has_value());
  EXPECT_EQ(web.allowed_address_pairs[1].prefix.length, 32);
  EXPECT_TRUE(web.port_security);
  EXPECT_EQ(web.state, policy::PortState::kActive);
  const policy::Port& raw = s.ports.at("raw-1");
  EXPECT_EQ(std::get<std::string>(raw.representor.ref), "eth9");
  EXPECT_EQ(raw.state, policy::PortState::kPendingActivation);
  EXPECT_FALSE(s.ports.at("open").port_security);
  EXPECT_FALSE(s.security_groups.at("raw").stateful);
  const auto& rules = s.security_groups.at("web").rules;
  ASSERT_EQ(rules.size(), 5u);
  EXPECT_EQ(rules[0].ports, (policy::PortRange{80, 443}));
  EXPECT_EQ(rules[0].priority, policy::kMaxRulePriority);
  EXPECT_EQ(rules[1].icmp->type, 128);
  EXPECT_FALSE(rules[1].icmp->code.has_value());
  EXPECT_EQ(rules[2].icmp->code, 4);
  EXPECT_EQ(rules[2].action, policy::RuleAction::kDeny);
  EXPECT_EQ(rules[2].priority, 10);
  EXPECT_EQ(rules[3].remote_group_id, "web");
  EXPECT_EQ(rules[4].protocol, 47);
  EXPECT_FALSE(s.security_groups.at("raw").rules[0].protocol.has_value());
}

TEST(PolicyCodec, RoundTripIsIdentityOnFullPolicy) {
  policy::Snapshot s = MustLoad(kFullPolicy);
  EXPECT_EQ(ThroughJson(s), s);
  // And the printed form is a fixed point.
  std::string json = PolicyToJson(PolicyFromSnapshot(s));
  EXPECT_EQ(PolicyToJson(PolicyFromSnapshot(MustLoad(json))), json);
}

TEST(PolicyCodec, RoundTripIsIdentityOnRandomSnapshots) {
  int nonempty = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    testing::RandomPolicy gen(seed);
    policy::Snapshot s = gen.Snapshot();
    nonempty += !s.ports.empty();
    policy::Snapshot back = ThroughJson(s);
    ASSERT_EQ(back, s) << "seed " << seed << "\n" << testing::Describe(s);
  }
  EXPECT_GT(nonempty, 1000);  // the generator really produced ports
}

TEST(PolicyCodec, DefaultsAreLeftOutWhenWriting) {
  policy::Snapshot s = MustLoad(kFullPolicy);
  pb::Policy p = PolicyFromSnapshot(s);
  const pb::Port* web = nullptr;
  for (const pb::Port& port : p.ports()) {
    if (port.id() == "web-1") web = &port;
  }
  ASSERT_NE(web, nullptr);
  EXPECT_FALSE(web->has_port_security_enabled());
  EXPECT_EQ(web->representor_case(), pb::Port::kVfIndex);
  // Lists come out in id order whatever order they went in.
  EXPECT_EQ(p.ports(0).id(), "open");
  EXPECT_EQ(p.ports(2).id(), "web-1");
}

std::string Error(const std::string& json) {
  absl::StatusOr<pb::Policy> p = PolicyFromJson(json);
  if (!p.ok()) return std::string(p.status().message());
  absl::StatusOr<policy::Snapshot> s = SnapshotFromPolicy(*p);
  if (!s.ok()) {
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.status().message());
  }
  return "OK";
}

// A valid one-network, one-port policy with `port` spliced into the port.
std::string WithPort(const std::string& port_fields) {
  return R"({"networks": [{"id": "n", "segmentation": "flat"}],
             "security_groups": [{"id": "g"}],
             "ports": [{"network_id": "n", "mac_address": "02:00:00:00:00:01", "vf_index": 1)" +
         std::string(port_fields.empty() ? "" : ", ") + port_fields + "}]}";
}

std::string WithRule(const std::string& rule) {
  return R"({"security_groups": [{"id": "web", "rules": [{"direction": "ingress"}, )" + rule +
         "]}]}";
}

TEST(PolicyCodecErrors, PortsAreAddressedByIdElseByIndex) {
  EXPECT_EQ(Error(WithPort(R"("id": "web-1", "fixed_ips": ["10.0.0.1", "10.0.0.300"])")),
            "ports[web-1].fixed_ips[1]: 10.0.0.300 is not an IP");
  EXPECT_EQ(Error(WithPort("")), "ports[0].id: is missing");
  EXPECT_EQ(Error(R"({"networks": [{"id": "a", "segmentation": "flat"}, {"vlan_id": 3}]})"),
            "networks[1].id: is missing");
}

TEST(PolicyCodecErrors, TextFields) {
  EXPECT_EQ(Error(WithPort(R"("id": "p", "vips": ["fd00::zz"])")),
            "ports[p].vips[0]: fd00::zz is not an IP");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "mac_address": "02:00:00:00:00")")),
            "ports[p].mac_address: 02:00:00:00:00 is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(
      Error(WithPort(R"("id": "p", "allowed_address_pairs": [{"ip_address": "10.0.0.1/24"}])")),
      "ports[p].allowed_address_pairs[0].ip_address: 10.0.0.1/24 has host bits set (did you "
      "mean 10.0.0.0/24?)");
  EXPECT_EQ(
      Error(WithPort(
          R"("id": "p", "allowed_address_pairs": [{"ip_address": "10.0.0.1", "mac_address": "x"}])")),
      "ports[p].allowed_address_pairs[0].mac_address: x is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "state": "gone")")),
            "ports[p].state: \"gone\" is not one of active, pending-activation, inactive");
  EXPECT_EQ(Error(R"({"networks": [{"id": "n", "segmentation": "vxlan"}]})"),
            "networks[n].segmentation: \"vxlan\" is not one of flat, vlan");
  EXPECT_EQ(Error(WithRule(R"({"direction": "in"})")),
            "security_groups[web].rules[1].direction: \"in\" is not one of ingress, egress");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "protocol": "gre"})")),
            "security_groups[web].rules[1].protocol: gre is not a protocol (any, tcp, udp, icmp, "
            "icmpv6, sctp, vrrp or 0-255)");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "ethertype": "ipv4"})")),
            "security_groups[web].rules[1].ethertype: \"ipv4\" is not one of IPv4, IPv6");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "action": "reject"})")),
            "security_groups[web].rules[1].action: \"reject\" is not one of allow, deny");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "remote_ip_prefix": "10.0.0.0/40"})")),
            "security_groups[web].rules[1].remote_ip_prefix: 10.0.0.0/40 is not an IP or CIDR");
}

TEST(PolicyCodecErrors, ValuesTheModelCannotHold) {
  EXPECT_EQ(Error(R"({"networks": [{"id": "n", "segmentation": "vlan", "vlan_id": 70000}]})"),
            "networks[n].vlan_id: 70000 is out of range 1-4094");
  EXPECT_EQ(Error(R"({"networks": [{"id": "n", "segmentation": "flat", "vlan_id": 70000}]})"),
            "networks[n].vlan_id: 70000 is set on a flat network");
  EXPECT_EQ(
      Error(WithRule(
          R"({"direction": "egress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 65536})")),
      "security_groups[web].rules[1].port_range_max: 65536 is out of range 1-65535");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "protocol": "tcp", "port_range_min": 80})")),
            "security_groups[web].rules[1].port_range_max: is missing (port_range_min is set)");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "protocol": "tcp", "port_range_max": 80})")),
            "security_groups[web].rules[1].port_range_min: is missing (port_range_max is set)");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "protocol": "icmp", "icmp_code": 1})")),
            "security_groups[web].rules[1].icmp_code: is set without icmp_type");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "protocol": "icmp", "icmp_type": 256})")),
            "security_groups[web].rules[1].icmp_type: 256 is out of range 0-255");
  EXPECT_EQ(
      Error(WithRule(
          R"({"direction": "egress", "protocol": "icmp", "icmp_type": 3, "icmp_code": 999})")),
      "security_groups[web].rules[1].icmp_code: 999 is out of range 0-255");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "priority": 70000})")),
            "security_groups[web].rules[1].priority: 70000 is out of range 1-16384");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "priority": 16385})")),
            "security_groups[web].rules[1].priority: 16385 is out of range 1-16384");
}

TEST(PolicyCodecErrors, StructuralProblems) {
  EXPECT_EQ(
      Error(R"({"ports": [{"id": "p", "network_id": "n", "mac_address": "02:00:00:00:00:01"}]})"),
      "ports[p].vf_index: is missing (a port needs vf_index or representor_name)");
  EXPECT_EQ(Error(R"({"ports": [{"id": "p", "vf_index": 1}]})"),
            "ports[p].mac_address: is missing");
  EXPECT_EQ(Error(R"({"security_groups": [{"id": "g"}, {"id": "h"}, {"id": "g"}]})"),
            "security_groups[g].id: \"g\" is listed twice");
}

TEST(PolicyCodecErrors, ValidationRunsOnTheResult) {
  EXPECT_EQ(Error(R"({"ports": [{"id": "p", "network_id": "mars",
                                "mac_address": "02:00:00:00:00:01", "vf_index": 1}]})"),
            "ports[p].network_id: \"mars\" is not a known network");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ips": ["0.0.0.0"])")),
            "ports[p].fixed_ips[0]: 0.0.0.0 is unspecified");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "priority": 0})")),
            "security_groups[web].rules[1].priority: 0 is out of range 1-16384");
}

TEST(PolicyCodecJson, UnknownFieldsAreRefusedByName) {
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ip": ["10.0.0.1"])")),
            "ports[0].fixed_ip: unknown field");
  EXPECT_EQ(Error(R"({"port": []})"), "port: unknown field");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "port": 80})")),
            "security_groups[0].rules[1].port: unknown field");
}

TEST(PolicyCodecJson, WrongTypesNameTheField) {
  std::string bad_bool = Error(WithPort(R"("id": "p", "port_security_enabled": 3)"));
  EXPECT_EQ(bad_bool.rfind("ports[0].port_security_enabled: ", 0), 0u) << bad_bool;
  std::string negative = Error(R"({"ports": [{"id": "p", "vf_index": -1}]})");
  EXPECT_EQ(negative.rfind("ports[0].vf_index: ", 0), 0u) << negative;
  EXPECT_EQ(
      Error(R"({"networks": [{"id": "n", "vlan_id": "ten"}]})").rfind("networks[0].vlan_id: ", 0),
      0u);
}

// Protobuf's own parser takes all of these (a scalar as a one-element list,
// "yes"/"0"/"False" as a bool, "7" as a uint32); the shape check does not.
TEST(PolicyCodecJson, StrictKindsNameTheField) {
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ips": "10.0.0.21")")),
            "ports[0].fixed_ips: expected a list, got the string \"10.0.0.21\"");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "security_group_ids": "g")")),
            "ports[0].security_group_ids: expected a list, got the string \"g\"");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "securityGroupIds": "g")")),
            "ports[0].security_group_ids: expected a list, got the string \"g\"");
  for (std::string text : {"yes", "no", "0", "False", "true"}) {
    std::string field = "\"port_security_enabled\": \"" + text + "\"";
    std::string want =
        "ports[0].port_security_enabled: expected true or false, got the string \"" + text + "\"";
    EXPECT_EQ(Error(WithPort("\"id\": \"p\", " + field)), want);
  }
  EXPECT_EQ(Error(WithPort(R"("id": "p", "port_security_enabled": 0)")),
            "ports[0].port_security_enabled: expected true or false, got the number 0");
  EXPECT_EQ(Error(R"({"security_groups": [{"id": "g", "stateful": "False"}]})"),
            "security_groups[0].stateful: expected true or false, got the string \"False\"");
  EXPECT_EQ(Error(R"({"networks": [{"id": "n", "segmentation": "vlan", "vlan_id": "7"}]})"),
            "networks[0].vlan_id: expected a number, got the string \"7\"");
  EXPECT_EQ(Error(WithRule(R"({"direction": "egress", "priority": "10"})")),
            "security_groups[0].rules[1].priority: expected a number, got the string \"10\"");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "allowed_address_pairs": {"ip_address": "10.0.0.0/8"})")),
            "ports[0].allowed_address_pairs: expected a list, got an object");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ips": ["10.0.0.1", 5])")),
            "ports[0].fixed_ips[1]: expected a string, got the number 5");
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ips": [null])")),
            "ports[0].fixed_ips[0]: expected a string, got null");
  EXPECT_EQ(Error(R"({"ports": {"id": "p"}})"), "ports: expected a list, got an object");
  EXPECT_EQ(Error(R"(["ports"])"), "expected a JSON object, got a list");
  // What the canonical mapping allows stays allowed: null for a default, a
  // decimal string for a 64-bit number (the printer writes them so), and
  // the long string is cut in the message.
  EXPECT_EQ(Error(WithPort(R"("id": "p", "fixed_ips": null, "port_security_enabled": null)")),
            "OK");
  EXPECT_EQ(Error(R"({"networks": [{"id": "n", "segmentation": "flat", "generation": "12"}]})"),
            "OK");
  EXPECT_EQ(Error(absl::StrCat(R"({"networks": [{"id": "n", "vlan_id": ")", std::string(50, 'x'),
                               "\"}]}")),
            absl::StrCat("networks[0].vlan_id: expected a number, got the string \"",
                         std::string(40, 'x'), "...\""));
}

TEST(PolicyCodecJson, TextThatIsNotUtf8IsMalformed) {
  EXPECT_EQ(Error("{\"networks\": [{\"id\": \"\xff\"}]}"), "1:23: malformed JSON: not UTF-8");
  EXPECT_EQ(Error("{\n\"ports\": [\"\xc0\xaf\"]}"), "2:12: malformed JSON: not UTF-8");  // overlong
  EXPECT_EQ(Error("{\"networks\": [{\"id\": \"\xc3\xa9\"}]}").find("malformed"),
            std::string::npos);  // é is fine (and then no valid id)
}

TEST(Utf8, ValidPrefixAndScrub) {
  EXPECT_EQ(common::Utf8ValidPrefix("abc"), 3u);
  EXPECT_EQ(common::Utf8ValidPrefix("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 10u);
  EXPECT_EQ(common::Utf8ValidPrefix("ab\xed\xa0\x80"), 2u);      // a surrogate
  EXPECT_EQ(common::Utf8ValidPrefix("ab\xf4\x90\x80\x80"), 2u);  // above U+10FFFF
  EXPECT_EQ(common::Utf8ValidPrefix("ab\xe2\x82"), 2u);          // cut short
  EXPECT_EQ(common::Utf8ValidPrefix("\x80"), 0u);
  EXPECT_EQ(common::Utf8Scrubbed("a\xff"
                                 "b\xc3\xa9"),
            "a\xef\xbf\xbd"
            "b\xc3\xa9");
}

TEST(PolicyCodecJson, MalformedJsonHasLineAndColumn) {
  std::string json =
      "{\n  \"networks\": [\n    {\"id\": \"a\" \"segmentation\": \"flat\"}\n  ]\n}\n";
  EXPECT_EQ(Error(json), "3:16: malformed JSON: Expected , or } after key:value pair.");
  EXPECT_EQ(Error("{\"networks\": [] } x"),
            "1:19: malformed JSON: Parsing terminated before end of input.");
  EXPECT_NE(Error("").find("malformed JSON"), std::string::npos) << Error("");
}

TEST(PolicyCodecJson, GenerationIsAcceptedAndIgnored) {
  policy::Snapshot s = MustLoad(kFullPolicy);
  EXPECT_EQ(s.networks.at("v10"), (policy::Network{"v10", policy::Segmentation::kVlan, 10}));
}

// Every one-character deletion or digit/quote substitution of a valid file
// is either accepted (and then round-trips) or refused with InvalidArgument;
// nothing crashes and no other error code leaks out.
TEST(PolicyCodecJson, MutatedInputIsAcceptedOrRefusedCleanly) {
  const std::string base = kFullPolicy;
  int refused = 0;
  int accepted = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    for (int kind = 0; kind < 3; ++kind) {
      std::string m = base;
      if (kind == 0) m.erase(i, 1);
      if (kind == 1) m[i] = '9';
      if (kind == 2) m[i] = '"';
      absl::StatusOr<pb::Policy> p = PolicyFromJson(m);
      absl::Status status = p.status();
      if (p.ok()) {
        absl::StatusOr<policy::Snapshot> s = SnapshotFromPolicy(*p);
        status = s.status();
        if (s.ok()) {
          ++accepted;
          ASSERT_EQ(ThroughJson(*s), *s) << m;
          continue;
        }
      }
      ++refused;
      ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << m;
      ASSERT_FALSE(status.message().empty());
    }
  }
  EXPECT_GT(refused, 1000);
  EXPECT_GT(accepted, 10);
}

class PolicyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/policy_codec_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::remove((dir_ + "/p.json").c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/p.json";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(PolicyFile, LoadsAValidFile) {
  absl::StatusOr<policy::Snapshot> s = LoadPolicyFile(Write(kFullPolicy));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ports.size(), 3u);
}

TEST_F(PolicyFile, ErrorsNameTheFile) {
  std::string path = Write(WithPort(R"("id": "p", "fixed_ips": ["10.0.0.300"])"));
  absl::StatusOr<policy::Snapshot> s = LoadPolicyFile(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "policy " + path + ": ports[p].fixed_ips[0]: 10.0.0.300 is not an IP");
}

TEST_F(PolicyFile, MissingFileIsNotFound) {
  absl::StatusOr<policy::Snapshot> s = LoadPolicyFile(dir_ + "/absent.json");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(),
            "policy: cannot open " + dir_ + "/absent.json: No such file or directory");
}

}  // namespace
}  // namespace vfguard::agent
