// The JSON API end to end over a real unix socket: HttpServer + ApiHandlers
// + FakeAgentService (which validates through the real policy codec).
#include <grp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "api/api.pb.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "common/json_message.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_service.h"
#include "tests/unit/api_test_client.h"

namespace vfguard::api {
namespace {

using testing::Call;
using ::testing::HasSubstr;
using testing::Reply;

constexpr char kNetwork[] = R"({"segmentation": "flat"})";
constexpr char kGroup[] =
    R"({"rules": [{"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}]})";
constexpr char kPortA[] =
    R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0a", "fixed_ips": ["10.0.0.5"], "vf_index": 1, "security_group_ids": ["web"]})";
constexpr char kPortB[] =
    R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0b", "fixed_ips": ["10.0.0.7"], "vf_index": 2})";

v1::ErrorDetail ErrorOf(const Reply& reply) {
  v1::ErrorResponse error;
  EXPECT_TRUE(common::ParseJsonMessage(reply.body, &error).ok()) << reply.body;
  return error.error();
}

template <typename M>
M As(const Reply& reply) {
  M message;
  absl::Status s = common::ParseJsonMessage(reply.body, &message);
  EXPECT_TRUE(s.ok()) << s << "\n" << reply.body;
  return message;
}

class ApiHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(HttpServerOptions{}); }

  void StartServer(HttpServerOptions options) {
    char tmpl[] = "/tmp/vfguard-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(chmod(tmpl, 0755), 0);  // peers of other uids must reach the socket
    path_ = dir_ + "/agent.sock";
    options.socket_path = path_;
    handlers_ = std::make_unique<ApiHandlers>(service_);
    server_ = std::make_unique<HttpServer>(io_, options, handlers_->AsHandler(), &registry_);
    ASSERT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    RunOnReactor([this] { server_->Stop(); });
    work_.reset();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  // Runs `f` on the server's thread and waits for it.
  void RunOnReactor(std::function<void()> f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  Reply Do(const std::string& method, const std::string& target, const std::string& body = "") {
    return Call(path_, method, target, body);
  }

  void Seed() {
    ASSERT_EQ(Do("PUT", "/v1/networks/n1", kNetwork).status, 201u);
    ASSERT_EQ(Do("PUT", "/v1/security-groups/web", kGroup).status, 201u);
    ASSERT_EQ(Do("PUT", "/v1/ports/a", kPortA).status, 201u);
    ASSERT_EQ(Do("PUT", "/v1/ports/b", kPortB).status, 201u);
  }

  std::string DesiredJson() {
    std::string out;
    RunOnReactor([&] { out = service_.Desired().DebugString(); });
    return out;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  common::metrics::Registry registry_;
  FakeAgentService service_;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::string dir_, path_;
};

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

TEST_F(ApiHttpTest, RoutesAndMethods) {
  EXPECT_EQ(Do("GET", "/v2/ports").status, 404u);
  EXPECT_EQ(Do("GET", "/v1/nothing").status, 404u);
  Reply r = Do("POST", "/v1/ports");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.allow, "GET");
  EXPECT_EQ(ErrorOf(r).code(), "method_not_allowed");
  EXPECT_EQ(Do("PATCH", "/v1/networks/n1", "{}").status, 405u);
  EXPECT_EQ(Do("GET", "/v1/trace").status, 405u);
  EXPECT_EQ(Do("GET", "/healthz").status, 200u);
}

TEST_F(ApiHttpTest, ReadyzFollowsStatus) {
  EXPECT_EQ(Do("GET", "/readyz").status, 200u);
  RunOnReactor([&] { service_.status().ready = false; });
  EXPECT_EQ(Do("GET", "/readyz").status, 503u);
  EXPECT_EQ(Do("GET", "/healthz").status, 200u);
}

TEST_F(ApiHttpTest, CheckpointFailureIs500) {
  RunOnReactor([&] { service_.set_fail_checkpoint(true); });
  Reply r = Do("PUT", "/v1/networks/n1", kNetwork);
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(ErrorOf(r).code(), "internal");
  EXPECT_EQ(Do("GET", "/v1/networks/n1").status, 404u);
}

TEST_F(ApiHttpTest, HugeBodyIs413AndHugeHeaderIs431) {
  std::string huge = R"({"segmentation": ")" + std::string(2 << 20, 'x') + "\"}";
  Reply r = Do("PUT", "/v1/networks/n1", huge);
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(ErrorOf(r).code(), "payload_too_large");
  EXPECT_EQ(Do("GET", "/v1/networks/n1").status, 404u);
  EXPECT_EQ(Do("GET", "/v1/networks/" + std::string(10 << 10, 'a')).status, 431u);
}

TEST_F(ApiHttpTest, StatusRulesAndPortStatus) {
  Seed();
  RunOnReactor([&] {
    service_.status().reconciles = 3;
    service_.status().ports_by_state["active"] = 2;
    agent::RuleStatus rule;
    rule.chain = 0;
    rule.prio = 1;
    rule.placement = "sw";
    rule.packets = 5;
    service_.shared_rules().push_back(rule);
  });
  v1::AgentStatus status = As<v1::AgentStatus>(Do("GET", "/v1/status"));
  EXPECT_TRUE(status.ready());
  EXPECT_EQ(status.reconciles(), 3u);
  EXPECT_EQ(status.ports_by_state().at("active"), 2);
  EXPECT_EQ(status.started(), "2023-11-14T22:13:20+00:00");
  v1::RuleList rules = As<v1::RuleList>(Do("GET", "/v1/rules"));
  ASSERT_EQ(rules.items_size(), 1);
  EXPECT_EQ(rules.items(0).packets(), 5u);
  EXPECT_EQ(rules.items(0).placement(), "sw");
  Reply ps = Do("GET", "/v1/ports/b/status");
  ASSERT_EQ(ps.status, 200u) << ps.body;
  EXPECT_THAT(ps.body, HasSubstr("\"representor_present\": true"));
  EXPECT_THAT(ps.body, HasSubstr("\"installed\": true"));
  v1::PortStatus port = As<v1::PortStatus>(ps);
  EXPECT_EQ(port.zone(), 2u);
  EXPECT_EQ(port.representor(), "pf0vf2");
  EXPECT_EQ(port.rules(0).actions(), "drop");
  EXPECT_EQ(Do("GET", "/v1/ports/zz/status").status, 404u);
}

TEST_F(ApiHttpTest, ConntrackImportThenList) {
  Seed();
  Reply imported = Do("POST", "/v1/ports/b/conntrack", R"({"entries": [
      {"orig": {"src": "10.0.0.5", "dst": "10.0.0.7", "proto": 6, "src_port": 1234, "dst_port": 80},
       "reply": {"src": "10.0.0.7", "dst": "10.0.0.5", "proto": 6, "src_port": 80, "dst_port": 1234},
       "status": 14, "timeout": 300, "tcp_state": 3}]})");
  ASSERT_EQ(imported.status, 200u) << imported.body;
  EXPECT_EQ(As<v1::ConntrackImportResult>(imported).created(), 1u);
  v1::ConntrackList list = As<v1::ConntrackList>(Do("GET", "/v1/ports/b/conntrack"));
  EXPECT_EQ(list.zone(), 2u);
  ASSERT_EQ(list.entries_size(), 1);
  EXPECT_EQ(list.entries(0).orig().dst(), "10.0.0.7");
  EXPECT_EQ(list.entries(0).reply().src_port(), 80u);
  EXPECT_EQ(list.entries(0).tcp_state(), 3u);

  Reply bad = Do("POST", "/v1/ports/b/conntrack",
                 R"({"entries": [{"orig": {"src": "10.0.0.5", "dst": "nope"}, "reply": {}}]})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(ErrorOf(bad).field(), "entries[0].orig.dst");
  Reply port_too_big =
      Do("POST", "/v1/ports/b/conntrack",
         R"({"entries": [{"orig": {"src": "10.0.0.5", "dst": "10.0.0.7", "src_port": 70000},
                              "reply": {"src": "10.0.0.7", "dst": "10.0.0.5"}}]})");
  EXPECT_EQ(ErrorOf(port_too_big).field(), "entries[0].orig.src_port");
  EXPECT_EQ(As<v1::ConntrackList>(Do("GET", "/v1/ports/b/conntrack")).entries_size(), 1);
  EXPECT_EQ(Do("GET", "/v1/ports/zz/conntrack").status, 404u);
}

TEST_F(ApiHttpTest, TraceFillsMacsAndReportsBothVerdicts) {
  Seed();
  agent::TraceResult result;
  result.reference.deliveries.insert(policy::Delivery{policy::DeviceRef::OfPort("b"), {}});
  result.reference.trace = {"port a egress: allowed", "port b ingress: allowed"};
  RunOnReactor([&] { service_.set_trace_result(result); });
  Reply r =
      Do("POST", "/v1/trace",
         R"({"in_port": "a", "packet": "tcp 10.0.0.5:1234 -> 10.0.0.7:80", "established": true})");
  ASSERT_EQ(r.status, 200u) << r.body;
  v1::TraceResponse trace = As<v1::TraceResponse>(r);
  EXPECT_EQ(trace.verdict(), "delivered");
  ASSERT_EQ(trace.deliveries_size(), 1);
  EXPECT_EQ(trace.deliveries(0).out(), "port:b");
  EXPECT_EQ(trace.trace_size(), 2);
  EXPECT_EQ(trace.installed().verdict(), "dropped");
  std::optional<policy::Packet> seen;
  bool established = false;
  RunOnReactor([&] {
    seen = service_.last_trace_packet();
    established = service_.last_trace_established();
  });
  ASSERT_TRUE(seen.has_value());
  EXPECT_TRUE(established);
  EXPECT_EQ(seen->in, policy::DeviceRef::OfPort("a"));
  EXPECT_EQ(seen->src_mac.ToString(), "02:00:00:00:00:0a");
  EXPECT_EQ(seen->dst_mac.ToString(), "02:00:00:00:00:0b");
  EXPECT_EQ(seen->dst_port, 80);

  Reply from_uplink =
      Do("POST", "/v1/trace",
         R"({"in": "uplink", "vlan": 5, "packet": "udp 10.0.0.9:5 -> 10.0.0.99:53"})");
  ASSERT_EQ(from_uplink.status, 200u) << from_uplink.body;
  RunOnReactor([&] { seen = service_.last_trace_packet(); });
  EXPECT_EQ(seen->in, policy::DeviceRef::Uplink());
  EXPECT_EQ(seen->vlan, std::optional<uint16_t>(5));
  EXPECT_FALSE(seen->dst_mac.IsMulticast());  // unknown unicast

  Reply bad_packet = Do("POST", "/v1/trace", R"({"in_port": "a", "packet": "tcp 10.0.0.5 => x"})");
  EXPECT_EQ(bad_packet.status, 400u);
  EXPECT_EQ(ErrorOf(bad_packet).field(), "packet");
  EXPECT_EQ(
      Do("POST", "/v1/trace", R"({"in_port": "zz", "packet": "tcp 1.1.1.1 -> 2.2.2.2"})").status,
      404u);
  EXPECT_EQ(ErrorOf(Do("POST", "/v1/trace", R"({"packet": "tcp 1.1.1.1 -> 2.2.2.2"})")).field(),
            "in_port");
}

TEST_F(ApiHttpTest, EventsStreamDeliversUntilTheClientGoes) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  socket.connect(asio::local::stream_protocol::endpoint(path_));
  std::string request = "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  // Wait until the server has subscribed, then emit on its thread.
  for (int i = 0; i < 200; ++i) {
    size_t n = 0;
    RunOnReactor([&] { n = service_.subscribers(); });
    if (n == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  RunOnReactor([&] {
    ASSERT_EQ(service_.subscribers(), 1u);
    agent::Event event;
    event.time = absl::FromUnixSeconds(1700000000);
    event.kind = "reconcile";
    event.fields["result"] = "ok";
    service_.Emit(event);
    event.kind = "hw_rejected";
    service_.Emit(event);
  });
  std::string got;
  while (got.find("hw_rejected") == std::string::npos) {
    char buf[512];
    boost::system::error_code ec;
    size_t n = socket.read_some(asio::buffer(buf), ec);
    ASSERT_FALSE(ec) << ec.message() << " after " << got;
    got.append(buf, n);
  }
  EXPECT_THAT(got, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(
      got, HasSubstr(
               R"({"time":"2023-11-14T22:13:20+00:00","kind":"reconcile","fields":{"result":"ok"}})"
               "\n"));
  socket.close();
  // The server notices and unsubscribes.
  size_t n = 1;
  for (int i = 0; i < 200 && n != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    RunOnReactor([&] { n = service_.subscribers(); });
  }
  EXPECT_EQ(n, 0u);
}

TEST_F(ApiHttpTest, RequestMetricsAreRecordedByRoute) {
  Seed();
  Do("GET", "/v1/ports/a");
  Do("GET", "/v1/ports/zz");
  std::string text = registry_.Render();
  EXPECT_THAT(text,
              HasSubstr(R"(vfguard_api_requests_total{route="/v1/ports/{id}",code="200"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(vfguard_api_requests_total{route="/v1/ports/{id}",code="404"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(vfguard_api_request_duration_seconds_count{route="/v1/ports/{id}"} 4)"));
}

TEST_F(ApiHttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  socket.connect(asio::local::stream_protocol::endpoint(path_));
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req(http::verb::get, "/healthz", 11);
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
  }
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(ApiHttpTest, ExpectContinueGetsTheGoAheadBeforeTheBody) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  socket.connect(asio::local::stream_protocol::endpoint(path_));
  std::string body = kNetwork;
  std::string head =
      "PUT /v1/networks/n1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(socket, asio::buffer(head));
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos) {
    char buf[256];
    got.append(buf, socket.read_some(asio::buffer(buf)));
  }
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(socket, asio::buffer(body));
  boost::beast::flat_buffer buffer;
  boost::beast::http::response<boost::beast::http::string_body> res;
  boost::beast::http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 201u) << res.body();
}

// Access control with a real peer of another uid: a child process drops to
// uid 65534 with (only) the read-only group, then tries a read and a write.
class ApiAccessTest : public ApiHttpTest {
 protected:
  static constexpr gid_t kReadGid = 54321;
  static constexpr gid_t kWriteGid = 54322;
  void SetUp() override {
    if (geteuid() != 0) {
      // Without root the test cannot make a peer of another uid; what it
      // can check (this uid is neither root nor in a group) is below.
      root_ = false;
    }
    HttpServerOptions options;
    options.access.read_gid = kReadGid;
    options.access.write_gid = kWriteGid;
    options.socket_mode = 0666;  // so the read-only group can connect at all
    StartServer(options);
  }
  // Status codes the child got for GET and PUT, as its exit code GET*1000+PUT... packed.
  std::pair<unsigned, unsigned> AsChild(std::optional<gid_t> gid) {
    // Prepared before fork: the child only makes system calls.
    std::string get = "GET /v1/networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::string put =
        "PUT /v1/networks/n9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 24\r\n\r\n"
        "{\"segmentation\": \"flat\"}";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    int pipefd[2];
    if (pipe(pipefd) != 0) return {0, 0};
    pid_t pid = fork();
    if (pid == 0) {
      close(pipefd[0]);
      if (root_) {
        gid_t g = gid.value_or(65534);
        if (setgroups(0, nullptr) != 0 || setgid(g) != 0 || setuid(65534) != 0) _exit(2);
      }
      unsigned codes[2] = {0, 0};
      const std::string* requests[2] = {&get, &put};
      for (int i = 0; i < 2; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(3);
        if (write(fd, requests[i]->data(), requests[i]->size()) < 0) _exit(4);
        char buf[64] = {};
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n > 12) codes[i] = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
        close(fd);
      }
      if (write(pipefd[1], codes, sizeof(codes)) < 0) _exit(5);
      _exit(0);
    }
    close(pipefd[1]);
    unsigned codes[2] = {0, 0};
    ssize_t n = read(pipefd[0], codes, sizeof(codes));
    close(pipefd[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    EXPECT_EQ(n, static_cast<ssize_t>(sizeof(codes))) << "child exit " << WEXITSTATUS(wstatus);
    return {codes[0], codes[1]};
  }
  bool root_ = true;
};

TEST_F(ApiAccessTest, OthersGet403ReadGroupReadsOnlyWriteGroupWrites) {
  auto [get, put] = AsChild(std::nullopt);
  EXPECT_EQ(get, 403u);
  EXPECT_EQ(put, 403u);
  if (!root_) {
    std::printf("not root: only the 'others' case is checked (no peer of another uid)\n");
    return;
  }
  auto [rget, rput] = AsChild(kReadGid);
  EXPECT_EQ(rget, 200u);
  EXPECT_EQ(rput, 403u);
  auto [wget, wput] = AsChild(kWriteGid);
  EXPECT_EQ(wget, 200u);
  EXPECT_EQ(wput, 201u);
  // The socket file is the write group's.
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kWriteGid);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
}

TEST(AccessFor, Rules) {
  AccessConfig config{.write_gid = 10, .read_gid = 20};
  EXPECT_EQ(AccessFor(config, PeerCred{.uid = 0, .gid = 99}), Access::kWrite);
  EXPECT_EQ(AccessFor(config, PeerCred{.uid = 5, .gid = 10}), Access::kWrite);
  EXPECT_EQ(AccessFor(config, PeerCred{.uid = 5, .gid = 99, .groups = {20}}), Access::kRead);
  EXPECT_EQ(AccessFor(config, PeerCred{.uid = 5, .gid = 99, .groups = {10, 20}}), Access::kWrite);
  EXPECT_EQ(AccessFor(config, PeerCred{.uid = 5, .gid = 99}), Access::kNone);
  EXPECT_EQ(AccessFor(AccessConfig{}, PeerCred{.uid = 5, .gid = 10}), Access::kNone);
}

TEST(ConnectionLimit, ExtraConnectionsGet503) {
  char tmpl[] = "/tmp/vfguard-api-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/s";
  boost::asio::io_context io;
  HttpServerOptions options;
  options.socket_path = path;
  options.max_connections = 1;
  options.idle_timeout = std::chrono::milliseconds(300);
  FakeAgentService service;
  ApiHandlers handlers(service);
  HttpServer server(io, options, handlers.AsHandler());
  ASSERT_TRUE(server.Start().ok());
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  boost::asio::io_context client;
  boost::asio::local::stream_protocol::socket first(client);
  first.connect(boost::asio::local::stream_protocol::endpoint(path));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Reply second = Call(path, "GET", "/healthz");
  EXPECT_EQ(second.status, 503u);
  // The idle one is dropped after the timeout, which frees the slot.
  char c;
  boost::system::error_code ec;
  first.read_some(boost::asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
      << ec.message();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Call(path, "GET", "/healthz").status, 200u);
  boost::asio::post(io, [&] { server.Stop(); });
  guard.reset();
  t.join();
  std::filesystem::remove_all(tmpl);
}

TEST(HttpServerStart, RefusesALiveSocketAndReplacesAStaleOne) {
  char tmpl[] = "/tmp/vfguard-api-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/s";
  boost::asio::io_context io;
  HttpServerOptions options;
  options.socket_path = path;
  FakeAgentService service;
  ApiHandlers handlers(service);
  HttpServer a(io, options, handlers.AsHandler());
  ASSERT_TRUE(a.Start().ok());
  HttpServer b(io, options, handlers.AsHandler());
  absl::Status s = b.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("another process is listening"));
  {
    // A stale socket file (nobody listening) is replaced.
    boost::asio::local::stream_protocol::acceptor stale(io);
    a.Stop();
    stale.open();
    stale.bind(boost::asio::local::stream_protocol::endpoint(path));
  }
  EXPECT_TRUE(b.Start().ok());
  b.Stop();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace vfguard::api
