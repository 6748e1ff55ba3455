// The JSON API end to end over a real unix socket: routes, readiness,
// status, conntrack, trace, the event stream and the request metrics. The
// fixture is api_http_fixture.h.
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/api_http_fixture.h"

namespace vfguard::api::testing {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace vfguard::api::testing
