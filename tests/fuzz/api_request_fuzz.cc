// libFuzzer target: the API's request path. The input is what a client sends
// on one connection: it goes through a socketpair into the real HttpServer
// (Beast's parser with the server's limits, transfer-coding and Expect
// handling, keep-alive, access control), ApiHandlers (routing, body parsing
// with the strict JSON kinds) and the FakeAgentService, whose Mutate runs
// the real policy codec and validation. Each input starts from the same
// seeded state.
//
// Properties checked (abort on violation):
// - the desired state is always one that validates: no input, however bad,
//   gets an invalid state accepted;
// - an input that was answered only with errors changed nothing;
// - what the server sent is a sequence of well-formed HTTP/1.1 responses
//   (the last may be cut short: an event stream open at EOF), none 500
//   (a handler failure: the fake never fails a checkpoint);
// - every session ends once the client has gone (io_context runs dry).
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "agent/policy_codec.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "tests/fakes/fake_service.h"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
using vfguard::api::v1::Policy;

constexpr char kSeed[] = R"({
  "networks": [{"id": "n1", "segmentation": "flat"},
               {"id": "v10", "segmentation": "vlan", "vlan_id": 10}],
  "security_groups": [{"id": "web", "rules": [{"direction": "ingress", "protocol": "tcp",
                        "port_range_min": 80, "port_range_max": 80}]}],
  "ports": [{"id": "a", "network_id": "n1", "mac_address": "02:00:00:00:00:0a",
             "fixed_ips": ["10.0.0.5"], "vf_index": 1, "security_group_ids": ["web"]},
            {"id": "b", "network_id": "v10", "mac_address": "02:00:00:00:00:0b",
             "fixed_ips": ["10.0.0.7"], "vf_index": 2}]
})";

const Policy& SeedPolicy() {
  static const Policy* policy = [] {
    auto p = vfguard::agent::PolicyFromJson(kSeed);
    if (!p.ok() || !vfguard::agent::SnapshotFromPolicy(*p).ok()) abort();
    return new Policy(*p);
  }();
  return *policy;
}

// Parses `out` as consecutive responses; false on a malformed one or a 500.
// Sets `any_success` when one is 2xx.
bool ResponsesWellFormed(const std::string& out, bool* any_success) {
  boost::beast::flat_buffer buffer;
  auto dest = buffer.prepare(out.size());
  buffer.commit(asio::buffer_copy(dest, asio::buffer(out)));
  while (buffer.size() > 0) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    boost::system::error_code ec;
    // 100 Continue is an interim response of its own.
    while (!parser.is_done()) {
      size_t n = parser.put(buffer.data(), ec);
      if (ec == http::error::need_more) return true;  // cut short at EOF
      if (ec) return false;
      if (n == 0) return true;
      buffer.consume(n);
    }
    unsigned status = parser.get().result_int();
    if (status < 100 || status > 599 || status == 500) return false;
    if (status / 100 == 2) *any_success = true;
  }
  return true;
}

}  // namespace

// One server for the whole run (building the io_context, server and
// service per input cost most of an execution); the service is reset to the
// seed for each input, so every input starts from the same state.
struct World {
  asio::io_context io;
  vfguard::api::FakeAgentService service;
  vfguard::api::ApiHandlers handlers{service};
  vfguard::api::HttpServer server{io, Options(), handlers.AsHandler()};

  static vfguard::api::HttpServerOptions Options() {
    vfguard::api::HttpServerOptions options;
    options.body_limit = 64 << 10;  // inputs are small; keep the limit reachable
    return options;
  }
};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  asio::io_context& io = world->io;
  vfguard::api::FakeAgentService& service = world->service;
  service.Reset(SeedPolicy());

  local::socket client(io), served(io);
  asio::local::connect_pair(client, served);
  world->server.Serve(std::move(served));

  std::string input(reinterpret_cast<const char*>(data), size);
  std::string out;
  char chunk[4096];
  std::function<void()> read_more = [&] {
    client.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
      out.append(chunk, n);
      if (!ec) read_more();
    });
  };
  read_more();
  asio::async_write(client, asio::buffer(input), [&](boost::system::error_code, size_t) {
    boost::system::error_code ignored;
    client.shutdown(local::socket::shutdown_send, ignored);
  });
  io.restart();
  io.run();  // returns once every session has closed and the reply is read
  if (world->server.connections() != 0 || service.subscribers() != 0) abort();

  bool any_success = false;
  if (!ResponsesWellFormed(out, &any_success)) abort();
  if (service.mutations() == 0) {
    // Nothing accepted: the state must be the seed, byte for byte.
    if (service.Desired().SerializeAsString() != SeedPolicy().SerializeAsString()) abort();
  } else {
    if (!any_success) abort();  // a write was accepted but answered as an error
    if (!vfguard::agent::SnapshotFromPolicy(service.Desired()).ok()) abort();
  }
  return 0;
}
