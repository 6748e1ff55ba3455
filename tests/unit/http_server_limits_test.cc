// HttpServer limits that keep one client from hurting the others: transfer
// codings, the event streams' own cap, queue bound, stall and lifetime, and
// the accept backoff. A real server on a unix socket, the fake service.
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_service.h"
#include "tests/unit/api_test_client.h"

namespace vfguard::api {
namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using testing::Call;
using ::testing::HasSubstr;
using testing::Reply;

constexpr char kNetwork[] = R"({"segmentation": "flat"})";

class LimitsTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options) {
    char tmpl[] = "/tmp/vfguard-limits-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/s";
    options.socket_path = path_;
    handlers_ = std::make_unique<ApiHandlers>(service_);
    server_ = std::make_unique<HttpServer>(io_, options, handlers_->AsHandler(), &registry_, &log_);
    ASSERT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      OnReactor([this] { server_->Stop(); });
      work_.reset();
      thread_.join();
    }
    std::filesystem::remove_all(dir_);
  }

  void OnReactor(std::function<void()> f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  template <typename T>
  T Read(std::function<T()> f) {
    T out{};
    OnReactor([&] { out = f(); });
    return out;
  }

  // Waits (up to 2 s) until `pred` holds on the reactor.
  bool WaitFor(std::function<bool()> pred) {
    for (int i = 0; i < 200; ++i) {
      if (Read<bool>(pred)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Opens an event stream on a fresh connection and waits for its subscription.
  std::unique_ptr<local::socket> OpenStream(size_t subscribers_after) {
    auto s = std::make_unique<local::socket>(client_io_);
    s->connect(local::endpoint(path_));
    std::string request = "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(*s, asio::buffer(request));
    EXPECT_TRUE(WaitFor([&] { return service_.subscribers() == subscribers_after; }));
    return s;
  }

  // Sends raw bytes and reads until the server closes.
  std::string RawExchange(const std::string& bytes) {
    local::socket s(client_io_);
    s.connect(local::endpoint(path_));
    asio::write(s, asio::buffer(bytes));
    return ReadAll(s);
  }

  static std::string ReadAll(local::socket& s) {
    std::string got;
    char buf[4096];
    boost::system::error_code ec;
    while (!ec) got.append(buf, s.read_some(asio::buffer(buf), ec));
    return got;
  }

  void EmitBig(int count, size_t size) {
    OnReactor([&] {
      agent::Event event;
      event.kind = "reconcile";
      event.fields["pad"] = std::string(size, 'x');
      for (int i = 0; i < count; ++i) service_.Emit(event);
    });
  }

  double Ended(const std::string& reason) {
    return Read<double>([&] {
      for (absl::string_view piece : absl::StrSplit(registry_.Render(), '\n')) {
        std::string line(piece);
        std::string prefix =
            absl::StrCat("vfguard_api_streams_ended_total{reason=\"", reason, "\"} ");
        if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
      }
      return 0.0;
    });
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  asio::io_context client_io_;
  std::ostringstream log_text_;
  common::Logger log_{log_text_};
  common::metrics::Registry registry_;
  FakeAgentService service_;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::string dir_, path_;
};

std::string Chunked(const std::string& te, const std::string& body) {
  return absl::StrCat("PUT /v1/networks/n1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                      "Transfer-Encoding: ", te, "\r\n\r\n", absl::Hex(body.size()), "\r\n", body,
                      "\r\n0\r\n\r\n");
}

TEST_F(LimitsTest, ChunkedWithAnotherCodingIs501AndChangesNothing) {
  Start(HttpServerOptions{});
  for (const char* te : {"gzip, chunked", "deflate,chunked", "chunked, chunked"}) {
    SCOPED_TRACE(te);
    std::string got = RawExchange(Chunked(te, kNetwork));
    EXPECT_EQ(got.rfind("HTTP/1.1 501 ", 0), 0u) << got;
    EXPECT_THAT(got, HasSubstr(R"("code":"not_implemented")"));
    EXPECT_THAT(got, HasSubstr(absl::StrCat(R"(Transfer-Encoding \")", te,
                                            R"(\" is not supported (only chunked))")));
  }
  EXPECT_EQ(Call(path_, "GET", "/v1/networks/n1").status, 404u);
  EXPECT_EQ(Read<size_t>([&] { return service_.mutations(); }), 0u);
  // Plain chunked is decoded and applied (so the 501 above is about the coding).
  std::string ok = RawExchange(Chunked(" Chunked ", kNetwork));
  EXPECT_EQ(ok.rfind("HTTP/1.1 201 ", 0), 0u) << ok;
}

// Error messages echo the client's bytes; ill-formed UTF-8 becomes U+FFFD so
// the body stays JSON (and protobuf has nothing to log).
TEST_F(LimitsTest, ErrorBodiesAreUtf8) {
  Start(HttpServerOptions{});
  Reply r = Call(path_, "GET", "/v1/ports/%ff%c3%a9");
  EXPECT_EQ(r.status, 404u);
  EXPECT_THAT(r.body, HasSubstr("port \xef\xbf\xbd\xc3\xa9 does not exist")) << r.body;
}

TEST_F(LimitsTest, StreamsHaveTheirOwnCapAndLeaveWritersTheirSlots) {
  HttpServerOptions options;
  options.max_connections = 2;
  options.max_streams = 3;
  Start(options);
  std::vector<std::unique_ptr<local::socket>> streams;
  for (size_t i = 1; i <= 3; ++i) streams.push_back(OpenStream(i));
  EXPECT_EQ(Read<size_t>([&] { return server_->streams(); }), 3u);
  // A fourth stream is refused, on its own connection, with a reason.
  Reply fourth = Call(path_, "GET", "/v1/events");
  EXPECT_EQ(fourth.status, 503u);
  EXPECT_THAT(fourth.body, HasSubstr("too many event streams (3 open)"));
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 3; }));  // its client left
  // Writers still get both ordinary slots.
  local::socket held(client_io_);
  held.connect(local::endpoint(path_));
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 4; }));
  EXPECT_EQ(Call(path_, "PUT", "/v1/networks/n1", kNetwork).status, 201u);
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 4; }));
  // Both ordinary slots taken: the next connection is 503 (the cap is real).
  local::socket held2(client_io_);
  held2.connect(local::endpoint(path_));
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 5; }));
  EXPECT_EQ(Call(path_, "GET", "/healthz").status, 503u);
  // A stream that ends frees its stream slot.
  streams[0]->close();
  EXPECT_TRUE(WaitFor([&] { return server_->streams() == 2; }));
  EXPECT_EQ(service_.subscribers(), 2u);
}

TEST_F(LimitsTest, SlowStreamClientIsDroppedWithALoggedReason) {
  HttpServerOptions options;
  options.stream_queue_limit = 64 << 10;
  Start(options);
  auto stream = OpenStream(1);
  // Never read: the socket buffer fills, then the queue passes its limit.
  EmitBig(4000, 1000);
  EXPECT_TRUE(WaitFor([&] { return service_.subscribers() == 0; }));
  EXPECT_EQ(Read<size_t>([&] { return server_->streams(); }), 0u);
  EXPECT_EQ(Ended("slow_client"), 1);
  // The client sees the stream cut, not a hang.
  ReadAll(*stream);
  OnReactor([] {});
  EXPECT_THAT(log_text_.str(), HasSubstr("event=api_stream_ended reason=slow_client"));
}

TEST_F(LimitsTest, StalledStreamWriteDropsTheClient) {
  HttpServerOptions options;
  options.stream_queue_limit = 64 << 20;  // the queue bound is not what ends it
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  auto stream = OpenStream(1);
  EmitBig(2000, 1000);  // more than the socket buffer takes
  EXPECT_TRUE(WaitFor([&] { return service_.subscribers() == 0; }));
  EXPECT_EQ(Ended("write_stalled"), 1);
  EXPECT_EQ(Ended("slow_client"), 0);
}

TEST_F(LimitsTest, StreamEndsCleanlyAfterItsLifetime) {
  HttpServerOptions options;
  options.stream_lifetime = std::chrono::milliseconds(300);
  Start(options);
  auto stream = OpenStream(1);
  EmitBig(1, 10);
  std::string got = ReadAll(*stream);  // returns once the server closes
  EXPECT_THAT(got, HasSubstr("\"kind\":\"reconcile\""));
  ASSERT_GE(got.size(), 5u);
  EXPECT_EQ(got.substr(got.size() - 5), "0\r\n\r\n") << got;  // the last chunk
  EXPECT_EQ(Read<size_t>([&] { return service_.subscribers(); }), 0u);
  EXPECT_EQ(Ended("lifetime"), 1);
}

// Out of descriptors, accept fails with EMFILE while the listening socket
// stays readable. With a backoff the failures are few; re-arming at once
// made thousands in the same time. Once descriptors are free, the waiting
// client is served.
TEST_F(LimitsTest, AcceptErrorsBackOffInsteadOfSpinning) {
  HttpServerOptions options;
  options.accept_backoff_min = std::chrono::milliseconds(20);
  options.accept_backoff_max = std::chrono::milliseconds(100);
  Start(options);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  local::socket client(client_io_);
  client.open();
  std::vector<int> filler;
  for (int fd; (fd = dup(0)) >= 0;) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  client.connect(local::endpoint(path_));  // queued in the backlog
  ASSERT_TRUE(WaitFor([&] { return server_->accept_errors() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  uint64_t errors = Read<uint64_t>([&] { return server_->accept_errors(); });
  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  // 20+40+80+100+100+100 ms: about 7 in 500 ms.
  EXPECT_GE(errors, 3u);
  EXPECT_LE(errors, 12u);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(client, asio::buffer(request));
  std::string got = ReadAll(client);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got;
  OnReactor([] {});
  EXPECT_THAT(log_text_.str(), HasSubstr("event=api_accept_failed"));
  EXPECT_THAT(registry_.Render(), HasSubstr("vfguard_api_accept_errors_total "));
}

}  // namespace
}  // namespace vfguard::api
