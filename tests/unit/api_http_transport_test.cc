// The JSON API's HTTP server over a real unix socket: body and header
// limits, keep-alive, Expect: 100-continue, access control by peer
// credentials, the connection limit and taking over a socket path. The
// fixture is api_http_fixture.h.
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/api_http_fixture.h"

namespace vfguard::api::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiHttpTest, HugeBodyIs413AndHugeHeaderIs431) {
  std::string huge = R"({"segmentation": ")" + std::string(2 << 20, 'x') + "\"}";
  Reply r = Do("PUT", "/v1/networks/n1", huge);
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(ErrorOf(r).code(), "payload_too_large");
  EXPECT_EQ(Do("GET", "/v1/networks/n1").status, 404u);
  EXPECT_EQ(Do("GET", "/v1/networks/" + std::string(10 << 10, 'a')).status, 431u);
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
  // The server may accept the second client before the first on a loaded
  // machine; ask again until the first holds the only slot.
  Reply second;
  for (int attempt = 0; attempt < 40; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    second = Call(path, "GET", "/healthz");
    if (second.status == 503u) break;
  }
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
}  // namespace vfguard::api::testing
