// The JSON API end to end over a real unix socket: HttpServer + ApiHandlers
// + FakeAgentService (which validates through the real policy codec). This
// file: writes (create, replace, patch, delete) and what bad input gets.
// Reads are in api_http_queries_test.cc, HTTP-level behaviour in
// api_http_transport_test.cc; the fixture is api_http_fixture.h.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/api_http_fixture.h"

namespace vfguard::api::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiHttpTest, CreateGetListReplaceDelete) {
  Seed();
  Reply got = Do("GET", "/v1/ports/a");
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.content_type, "application/json");
  v1::Port port = As<v1::Port>(got);
  EXPECT_EQ(port.id(), "a");
  EXPECT_EQ(port.generation(), 1u);
  EXPECT_EQ(port.fixed_ips(0), "10.0.0.5");

  v1::PortList list = As<v1::PortList>(Do("GET", "/v1/ports"));
  ASSERT_EQ(list.items_size(), 2);
  EXPECT_EQ(As<v1::NetworkList>(Do("GET", "/v1/networks")).items_size(), 1);
  EXPECT_EQ(As<v1::SecurityGroupList>(Do("GET", "/v1/security-groups")).items(0).id(), "web");

  // Replace: generation bumps by one per accepted write; 200, not 201.
  Reply replaced = Do("PUT", "/v1/ports/b", kPortB);
  ASSERT_EQ(replaced.status, 200u) << replaced.body;
  EXPECT_EQ(As<v1::Port>(replaced).generation(), 2u);

  Reply deleted = Do("DELETE", "/v1/ports/b");
  ASSERT_EQ(deleted.status, 200u) << deleted.body;
  EXPECT_EQ(Do("GET", "/v1/ports/b").status, 404u);
  EXPECT_EQ(As<v1::PortList>(Do("GET", "/v1/ports")).items_size(), 1);
}

TEST_F(ApiHttpTest, IdInBodyMustMatchPath) {
  Seed();
  Reply r = Do("PUT", "/v1/networks/n2", R"({"id": "other", "segmentation": "flat"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(ErrorOf(r).field(), "id");
  EXPECT_EQ(Do("GET", "/v1/networks/n2").status, 404u);
}

TEST_F(ApiHttpTest, StaleGenerationIs409AndChangesNothing) {
  Seed();
  std::string before = DesiredJson();
  size_t writes = service_.mutations();
  Reply r = Do(
      "PUT", "/v1/ports/a",
      R"({"generation": "7", "network_id": "n1", "mac_address": "02:00:00:00:00:0c", "vf_index": 1})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(ErrorOf(r).code(), "aborted");
  EXPECT_THAT(ErrorOf(r).message(), HasSubstr("stale generation 7 (current 1)"));
  EXPECT_EQ(DesiredJson(), before);
  EXPECT_EQ(service_.mutations(), writes);
  // The current generation is accepted, and bumps it.
  Reply ok = Do(
      "PUT", "/v1/ports/a",
      R"({"generation": 1, "network_id": "n1", "mac_address": "02:00:00:00:00:0c", "vf_index": 1})");
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(As<v1::Port>(ok).generation(), 2u);
  // Stale PATCH and DELETE too.
  EXPECT_EQ(Do("PATCH", "/v1/ports/a", R"({"generation": 1, "vips": ["10.0.0.50"]})").status, 409u);
  EXPECT_EQ(Do("DELETE", "/v1/ports/a", R"({"generation": 1})").status, 409u);
  EXPECT_EQ(Do("GET", "/v1/ports/a").status, 200u);
}

TEST_F(ApiHttpTest, BadRequestsNameTheFieldAndChangeNothing) {
  Seed();
  std::string before = DesiredJson();
  Reply malformed = Do("PUT", "/v1/ports/c", R"({"network_id": )");
  EXPECT_EQ(malformed.status, 400u);
  EXPECT_EQ(ErrorOf(malformed).code(), "invalid_argument");
  EXPECT_THAT(ErrorOf(malformed).message(), HasSubstr("malformed JSON"));
  EXPECT_EQ(ErrorOf(malformed).field(), "");

  Reply unknown = Do("PUT", "/v1/ports/c", R"({"bogus": 1})");
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_EQ(ErrorOf(unknown).field(), "bogus");

  Reply bad_ip = Do(
      "PUT", "/v1/ports/c",
      R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0d", "fixed_ips": ["10.0.0.300"], "vf_index": 3})");
  EXPECT_EQ(bad_ip.status, 400u);
  EXPECT_EQ(ErrorOf(bad_ip).field(), "ports[c].fixed_ips[0]");
  EXPECT_THAT(ErrorOf(bad_ip).message(), HasSubstr("10.0.0.300 is not an IP"));

  Reply missing_group = Do("PATCH", "/v1/ports/a", R"({"security_group_ids": ["nope"]})");
  EXPECT_EQ(missing_group.status, 400u) << missing_group.body;
  EXPECT_THAT(ErrorOf(missing_group).field(), HasSubstr("ports[a].security_group_ids"));
  EXPECT_EQ(DesiredJson(), before);
}

// A scalar for a list and a string for a bool or number: 400 naming the
// field, nothing written (protobuf's parser alone accepts each of these).
TEST_F(ApiHttpTest, StrictKindsAre400NamingTheFieldAndChangeNothing) {
  Seed();
  std::string before = DesiredJson();
  size_t writes = service_.mutations();
  struct Case {
    const char* method;
    const char* target;
    std::string body;
    const char* field;
    std::string message;
  };
  const std::string port =
      R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0a", "vf_index": 1, )";
  std::vector<Case> cases = {
      {"PUT", "/v1/ports/a", port + R"("fixed_ips": "10.0.0.21"})", "fixed_ips",
       "fixed_ips: expected a list, got the string \"10.0.0.21\""},
      {"PUT", "/v1/ports/a", port + R"("security_group_ids": "web"})", "security_group_ids",
       "security_group_ids: expected a list, got the string \"web\""},
      {"PATCH", "/v1/ports/a", R"({"security_group_ids": "web"})", "security_group_ids",
       "security_group_ids: expected a list, got the string \"web\""},
      {"PUT", "/v1/ports/a", port + R"("port_security_enabled": "no"})", "port_security_enabled",
       "port_security_enabled: expected true or false, got the string \"no\""},
      {"PUT", "/v1/security-groups/web", R"({"stateful": "False"})", "stateful",
       "stateful: expected true or false, got the string \"False\""},
      {"PUT", "/v1/networks/n1", R"({"segmentation": "vlan", "vlan_id": "0"})", "vlan_id",
       "vlan_id: expected a number, got the string \"0\""},
      {"PUT", "/v1/security-groups/web",
       R"({"rules": [{"direction": "ingress", "priority": "5"}]})", "rules[0].priority",
       "rules[0].priority: expected a number, got the string \"5\""},
      {"POST", "/v1/trace",
       R"({"in_port": "a", "packet": "tcp 10.0.0.5:1 -> 10.0.0.7:80", "established": "yes"})",
       "established", "established: expected true or false, got the string \"yes\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    Reply r = Do(c.method, c.target, c.body);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(ErrorOf(r).code(), "invalid_argument");
    EXPECT_EQ(ErrorOf(r).field(), c.field);
    EXPECT_EQ(ErrorOf(r).message(), c.message);
  }
  EXPECT_EQ(DesiredJson(), before);
  EXPECT_EQ(service_.mutations(), writes);
}

// "." and ".." are dot segments: clients that normalise paths cannot reach
// them, so they are no ids (docs/validation.md).
TEST_F(ApiHttpTest, DotSegmentIdsAreRefusedNamingTheField) {
  Seed();
  std::string before = DesiredJson();
  for (const char* target : {"/v1/ports/%2e%2e", "/v1/ports/%2E", "/v1/networks/%2e%2e"}) {
    SCOPED_TRACE(target);
    std::string body = std::string(target).find("ports") != std::string::npos
                           ? std::string(kPortB)
                           : std::string(kNetwork);
    Reply r = Do("PUT", target, body);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_THAT(ErrorOf(r).field(), ::testing::MatchesRegex(R"((ports|networks)\[\.\.?\]\.id)"));
    EXPECT_THAT(ErrorOf(r).message(), HasSubstr("is not a valid id (. and .. are path segments)"));
  }
  EXPECT_EQ(DesiredJson(), before);
  // Other ids with dots are ids.
  EXPECT_EQ(Do("PUT", "/v1/networks/...", R"({"segmentation": "vlan", "vlan_id": 9})").status,
            201u);
}

TEST_F(ApiHttpTest, DeletingWhatIsInUseIs409NamingTheUser) {
  Seed();
  Reply net = Do("DELETE", "/v1/networks/n1");
  EXPECT_EQ(net.status, 409u);
  EXPECT_THAT(ErrorOf(net).message(), HasSubstr("used by port a"));
  Reply group = Do("DELETE", "/v1/security-groups/web");
  EXPECT_EQ(group.status, 409u);
  EXPECT_THAT(ErrorOf(group).message(), HasSubstr("used by port a"));
  EXPECT_EQ(Do("DELETE", "/v1/networks/zzz").status, 404u);
}

TEST_F(ApiHttpTest, RemotePortsAndAddressGroups) {
  Seed();
  ASSERT_EQ(Do("PUT", "/v1/security-groups/bastion", "{}").status, 201u);
  std::string before = DesiredJson();
  Reply bad_addr = Do("PUT", "/v1/remote-ports/r1",
                      R"({"addresses": ["192.0.2.300"], "security_group_ids": ["bastion"]})");
  EXPECT_EQ(bad_addr.status, 400u) << bad_addr.body;
  EXPECT_EQ(ErrorOf(bad_addr).field(), "remote_ports[r1].addresses[0]");
  Reply bad_group = Do("PUT", "/v1/remote-ports/r1",
                       R"({"addresses": ["192.0.2.10"], "security_group_ids": ["nope"]})");
  EXPECT_EQ(bad_group.status, 400u) << bad_group.body;
  EXPECT_EQ(ErrorOf(bad_group).field(), "remote_ports[r1].security_group_ids[0]");
  Reply bad_cidr = Do("PUT", "/v1/address-groups/office", R"({"cidrs": ["10.0.0.1/24"]})");
  EXPECT_EQ(bad_cidr.status, 400u) << bad_cidr.body;
  EXPECT_EQ(ErrorOf(bad_cidr).field(), "address_groups[office].cidrs[0]");
  Reply unknown_ag =
      Do("PUT", "/v1/security-groups/web",
         R"({"rules": [{"direction": "ingress", "remote_address_group_id": "office"}]})");
  EXPECT_EQ(unknown_ag.status, 400u) << unknown_ag.body;
  EXPECT_EQ(ErrorOf(unknown_ag).field(), "security_groups[web].rules[0].remote_address_group_id");
  EXPECT_EQ(DesiredJson(), before);

  Reply r1 =
      Do("PUT", "/v1/remote-ports/r1",
         R"({"addresses": ["192.0.2.10", "2001:db8::/64"], "security_group_ids": ["bastion"]})");
  ASSERT_EQ(r1.status, 201u) << r1.body;
  EXPECT_EQ(As<v1::RemotePort>(r1).generation(), 1u);
  ASSERT_EQ(Do("PUT", "/v1/address-groups/office", R"({"cidrs": ["198.51.100.0/24"]})").status,
            201u);
  ASSERT_EQ(
      Do("PUT", "/v1/security-groups/web",
         R"({"rules": [{"direction": "ingress", "protocol": "tcp", "remote_address_group_id": "office"}]})")
          .status,
      200u);
  v1::RemotePortList remotes = As<v1::RemotePortList>(Do("GET", "/v1/remote-ports"));
  ASSERT_EQ(remotes.items_size(), 1);
  EXPECT_EQ(remotes.items(0).addresses(1), "2001:db8::/64");
  EXPECT_EQ(As<v1::AddressGroup>(Do("GET", "/v1/address-groups/office")).cidrs(0),
            "198.51.100.0/24");
  Reply group_in_use = Do("DELETE", "/v1/security-groups/bastion");
  EXPECT_EQ(group_in_use.status, 409u);
  EXPECT_THAT(ErrorOf(group_in_use).message(), HasSubstr("used by remote port r1"));
  Reply ag_in_use = Do("DELETE", "/v1/address-groups/office");
  EXPECT_EQ(ag_in_use.status, 409u);
  EXPECT_THAT(ErrorOf(ag_in_use).message(), HasSubstr("rule of security group web"));
  EXPECT_EQ(Do("DELETE", "/v1/remote-ports/r1", R"({"generation": 1})").status, 200u);
  EXPECT_EQ(Do("GET", "/v1/remote-ports/r1").status, 404u);
  EXPECT_EQ(Do("DELETE", "/v1/security-groups/bastion").status, 200u);
}

TEST_F(ApiHttpTest, RemotePortBatchIsOneAtomicWrite) {
  Seed();
  ASSERT_EQ(Do("PUT", "/v1/security-groups/bastion", "{}").status, 201u);
  ASSERT_EQ(Do("PUT", "/v1/remote-ports/old", R"({"addresses": ["192.0.2.1"]})").status, 201u);
  ASSERT_EQ(Do("PUT", "/v1/remote-ports/keep", R"({"addresses": ["192.0.2.2"]})").status, 201u);
  std::string before = DesiredJson();
  size_t writes = service_.mutations();

  // Refusals change nothing and name the field.
  Reply bad_addr = Do("POST", "/v1/remote-ports:batch", R"({"upserts": [
      {"id": "b1", "addresses": ["192.0.2.10"], "security_group_ids": ["bastion"]},
      {"id": "b2", "addresses": ["192.0.2.300"]}]})");
  EXPECT_EQ(bad_addr.status, 400u) << bad_addr.body;
  EXPECT_EQ(ErrorOf(bad_addr).field(), "remote_ports[b2].addresses[0]");
  Reply twice = Do("POST", "/v1/remote-ports:batch",
                   R"({"upserts": [{"id": "b1"}], "deletes": [{"id": "b1"}]})");
  EXPECT_EQ(twice.status, 400u) << twice.body;
  EXPECT_EQ(ErrorOf(twice).field(), "deletes[0].id");
  Reply no_id = Do("POST", "/v1/remote-ports:batch", R"({"upserts": [{"addresses": []}]})");
  EXPECT_EQ(ErrorOf(no_id).field(), "upserts[0].id");
  Reply replace_and_delete =
      Do("POST", "/v1/remote-ports:batch", R"({"replace": true, "deletes": [{"id": "old"}]})");
  EXPECT_EQ(ErrorOf(replace_and_delete).field(), "deletes");
  Reply missing = Do("POST", "/v1/remote-ports:batch",
                     R"({"upserts": [{"id": "b1"}], "deletes": [{"id": "nope"}]})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
  Reply stale = Do("POST", "/v1/remote-ports:batch",
                   R"({"upserts": [{"id": "b1"}], "deletes": [{"id": "old", "generation": 7}]})");
  EXPECT_EQ(stale.status, 409u) << stale.body;
  EXPECT_THAT(ErrorOf(stale).message(), HasSubstr("remote port old: stale generation 7"));
  Reply unknown = Do("POST", "/v1/remote-ports:batch", R"({"upsert": []})");
  EXPECT_EQ(unknown.status, 400u) << unknown.body;
  EXPECT_EQ(Do("PUT", "/v1/remote-ports:batch", "{}").status, 405u);
  EXPECT_EQ(DesiredJson(), before);
  EXPECT_EQ(service_.mutations(), writes);

  // Two upserts (one new, one replaced) and a delete: one accepted write.
  Reply ok = Do("POST", "/v1/remote-ports:batch", R"({
      "upserts": [{"id": "b1", "addresses": ["192.0.2.10"], "security_group_ids": ["bastion"]},
                  {"id": "keep", "generation": 1, "addresses": ["192.0.2.3"]}],
      "deletes": [{"id": "old", "generation": "1"}]})");
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(service_.mutations(), writes + 1);
  v1::RemotePortBatchResult result = As<v1::RemotePortBatchResult>(ok);
  ASSERT_EQ(result.upserted_size(), 2);
  EXPECT_EQ(result.upserted(0).id(), "b1");
  EXPECT_EQ(result.upserted(0).generation(), 1u);
  EXPECT_EQ(result.upserted(1).generation(), 2u);
  EXPECT_EQ(result.upserted(1).addresses(0), "192.0.2.3");
  ASSERT_EQ(result.deleted_size(), 1);
  EXPECT_EQ(result.deleted(0), "old");
  EXPECT_EQ(Do("GET", "/v1/remote-ports/old").status, 404u);

  // replace: what the batch does not name goes.
  Reply sync = Do("POST", "/v1/remote-ports:batch", R"({"replace": true,
      "upserts": [{"id": "b2", "addresses": ["192.0.2.20"], "security_group_ids": ["bastion"]}]})");
  ASSERT_EQ(sync.status, 200u) << sync.body;
  result = As<v1::RemotePortBatchResult>(sync);
  EXPECT_THAT(std::vector<std::string>(result.deleted().begin(), result.deleted().end()),
              ::testing::ElementsAre("b1", "keep"));
  v1::RemotePortList remotes = As<v1::RemotePortList>(Do("GET", "/v1/remote-ports"));
  ASSERT_EQ(remotes.items_size(), 1);
  EXPECT_EQ(remotes.items(0).id(), "b2");
}

TEST_F(ApiHttpTest, PatchReplacesOnlyTheNamedFields) {
  Seed();
  Reply r = Do("PATCH", "/v1/ports/a", R"({"vips": ["10.0.0.50"], "state": "pending-activation"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  v1::Port port = As<v1::Port>(r);
  EXPECT_EQ(port.vips_size(), 1);
  EXPECT_EQ(port.state(), "pending-activation");
  EXPECT_EQ(port.security_group_ids_size(), 1);  // not named: kept
  EXPECT_EQ(port.generation(), 2u);
  // An empty list clears.
  port = As<v1::Port>(Do("PATCH", "/v1/ports/a", R"({"securityGroupIds": []})"));
  EXPECT_EQ(port.security_group_ids_size(), 0);
  EXPECT_EQ(port.vips_size(), 1);
  // Activate.
  Reply act = Do("POST", "/v1/ports/a/activate");
  ASSERT_EQ(act.status, 200u) << act.body;
  EXPECT_EQ(As<v1::Port>(act).state(), "active");
  EXPECT_EQ(As<v1::Port>(act).generation(), 4u);
  EXPECT_EQ(Do("POST", "/v1/ports/zz/activate").status, 404u);
}

TEST_F(ApiHttpTest, CheckpointFailureIs500) {
  RunOnReactor([&] { service_.set_fail_checkpoint(true); });
  Reply r = Do("PUT", "/v1/networks/n1", kNetwork);
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(ErrorOf(r).code(), "internal");
  EXPECT_EQ(Do("GET", "/v1/networks/n1").status, 404u);
}

}  // namespace
}  // namespace vfguard::api::testing
