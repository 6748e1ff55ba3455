// The JSON API tests' fixture: HttpServer + ApiHandlers + FakeAgentService
// on a real unix socket in a temporary directory, the reactor on its own
// thread, a seeded state and helpers to read replies. Shared by
// api_http_test.cc (writes and validation), api_http_queries_test.cc
// (reads, status, trace, events, metrics) and api_http_transport_test.cc
// (HTTP-level behaviour, limits and access control).
#ifndef VFGUARD_TESTS_UNIT_API_HTTP_FIXTURE_H_
#define VFGUARD_TESTS_UNIT_API_HTTP_FIXTURE_H_

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "api/api.pb.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "common/json_message.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_service.h"
#include "tests/unit/api_test_client.h"

namespace vfguard::api::testing {

inline constexpr char kNetwork[] = R"({"segmentation": "flat"})";
inline constexpr char kGroup[] =
    R"({"rules": [{"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}]})";
inline constexpr char kPortA[] =
    R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0a", "fixed_ips": ["10.0.0.5"], "vf_index": 1, "security_group_ids": ["web"]})";
inline constexpr char kPortB[] =
    R"({"network_id": "n1", "mac_address": "02:00:00:00:00:0b", "fixed_ips": ["10.0.0.7"], "vf_index": 2})";

inline v1::ErrorDetail ErrorOf(const Reply& reply) {
  v1::ErrorResponse error;
  EXPECT_TRUE(common::ParseJsonMessage(reply.body, &error).ok()) << reply.body;
  return error.error();
}

template <typename M>
inline M As(const Reply& reply) {
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

}  // namespace vfguard::api::testing

#endif  // VFGUARD_TESTS_UNIT_API_HTTP_FIXTURE_H_
