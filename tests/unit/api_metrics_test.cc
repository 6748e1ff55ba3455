// The metrics registry's exposition format, and the scrape listener over TCP.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <limits>
#include <thread>

#include "api/metrics_server.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::common::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Metrics, CounterAndGaugeExposition) {
  Registry r;
  Counter* c = *r.AddCounter("vfguard_resyncs_total", "Full resyncs.");
  Gauge* g = *r.AddGauge("vfguard_ports", "Ports by state.", {"state"});
  EXPECT_TRUE(c->Inc());
  EXPECT_TRUE(c->Add({}, 2));
  EXPECT_TRUE(g->Set({"active"}, 3));
  EXPECT_TRUE(g->Set({"inactive"}, 0.5));
  EXPECT_EQ(r.Render(),
            "# HELP vfguard_ports Ports by state.\n"
            "# TYPE vfguard_ports gauge\n"
            "vfguard_ports{state=\"active\"} 3\n"
            "vfguard_ports{state=\"inactive\"} 0.5\n"
            "# HELP vfguard_resyncs_total Full resyncs.\n"
            "# TYPE vfguard_resyncs_total counter\n"
            "vfguard_resyncs_total 3\n"
            "# HELP vfguard_metrics_dropped_samples_total Samples recorded with the wrong number "
            "of label values (a bug in the agent).\n"
            "# TYPE vfguard_metrics_dropped_samples_total counter\n"
            "vfguard_metrics_dropped_samples_total 0\n");
  EXPECT_EQ(c->Value(), 3);
  g->Clear();
  EXPECT_THAT(r.Render(), Not(HasSubstr("state=")));
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInf) {
  Registry r;
  Histogram* h =
      *r.AddHistogram("vfguard_reconcile_duration_seconds", "Reconcile time.", {}, {0.1, 1});
  h->Observe({}, 0.05);
  h->Observe({}, 0.1);  // on the bound: counts in le="0.1"
  h->Observe({}, 0.5);
  h->Observe({}, 7);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE vfguard_reconcile_duration_seconds histogram\n"
                              "vfguard_reconcile_duration_seconds_bucket{le=\"0.1\"} 2\n"
                              "vfguard_reconcile_duration_seconds_bucket{le=\"1\"} 3\n"
                              "vfguard_reconcile_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                              "vfguard_reconcile_duration_seconds_sum 7.65\n"
                              "vfguard_reconcile_duration_seconds_count 4\n"));
  EXPECT_EQ(h->Count(), 4u);
  Histogram* labelled =
      *r.AddHistogram("vfguard_api_request_duration_seconds", "API time.", {"route"}, {1});
  labelled->Observe({"/v1/ports"}, 2);
  EXPECT_THAT(
      r.Render(),
      HasSubstr("vfguard_api_request_duration_seconds_bucket{route=\"/v1/ports\",le=\"1\"} 0\n"
                "vfguard_api_request_duration_seconds_bucket{route=\"/v1/ports\",le=\"+Inf\"} 1\n"
                "vfguard_api_request_duration_seconds_sum{route=\"/v1/ports\"} 2\n"));
}

TEST(Metrics, Escaping) {
  Registry r;
  Gauge* g = *r.AddGauge("x", "line one\nback\\slash \"quoted\"", {"v"});
  g->Set({"a\"b\\c\nd"}, 1);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP x line one\\nback\\\\slash \"quoted\"\n"));
  EXPECT_THAT(text, HasSubstr("x{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(Metrics, Values) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(18446744073709551615.0), "18446744073709551616");
}

TEST(Metrics, RegistrationErrors) {
  Registry r;
  EXPECT_EQ(r.AddCounter("1bad", "h").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("bad-name", "h").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.AddGauge("g", "h", {"__x"}).status().message(), HasSubstr("label name \"__x\""));
  EXPECT_THAT(r.AddGauge("g", "h", {"a", "a"}).status().message(), HasSubstr("repeats"));
  EXPECT_FALSE(r.AddHistogram("h", "h", {"le"}).ok());
  EXPECT_FALSE(r.AddHistogram("h", "h", {}, {1, 1}).ok());
  EXPECT_FALSE(r.AddHistogram("h", "h", {}, {1, std::numeric_limits<double>::infinity()}).ok());
  Counter* c = *r.AddCounter("c", "help", {"a"});
  EXPECT_EQ(*r.AddCounter("c", "help", {"a"}), c);  // same definition: same family
  EXPECT_EQ(r.AddGauge("c", "help", {"a"}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.AddCounter("c", "help", {"b"}).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(Metrics, MisuseRecordsNothingAndIsCounted) {
  Registry r;
  Counter* c = *r.AddCounter("c_total", "h", {"a"});
  EXPECT_FALSE(c->Inc({}));         // wrong number of label values
  EXPECT_FALSE(c->Add({"x"}, -1));  // counters do not go down
  EXPECT_FALSE(c->Add({"x"}, std::nan("")));
  EXPECT_TRUE(c->SetTotal({"x"}, 10));
  EXPECT_FALSE(c->SetTotal({"x"}, 9));
  EXPECT_EQ(c->Value({"x"}), 10);
  EXPECT_THAT(r.Render(), HasSubstr("vfguard_metrics_dropped_samples_total 1\n"));
}

TEST(MetricsServer, ScrapeCallsCollectAndServesTheExposition) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  Registry r;
  Gauge* g = *r.AddGauge("vfguard_ports", "Ports by state.", {"state"});
  int collects = 0;
  asio::io_context io;
  api::MetricsServer server(io, api::MetricsServerOptions{.port = 0}, r, [&] {
    ++collects;
    g->Set({"active"}, collects);
  });
  absl::Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_NE(server.port(), 0);
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto get = [&](const std::string& method, const std::string& target) {
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    http::request<http::empty_body> req(http::string_to_verb(method), target, 11);
    http::write(s, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return res;
  };
  auto res = get("GET", "/metrics");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(res.body(), HasSubstr("vfguard_ports{state=\"active\"} 1\n"));
  EXPECT_THAT(get("GET", "/metrics").body(), HasSubstr("vfguard_ports{state=\"active\"} 2\n"));
  EXPECT_EQ(get("GET", "/other").result_int(), 404u);
  EXPECT_EQ(get("POST", "/metrics").result_int(), 405u);
  asio::post(io, [&] { server.Stop(); });
  guard.reset();
  t.join();
  EXPECT_EQ(collects, 2);
}

}  // namespace
}  // namespace vfguard::common::metrics
