// HTTP/1.1 over a unix stream socket (Boost.Beast) on the caller's
// io_context: the transport of the agent's JSON API.
//
// The server owns what every request shares: the listening socket (mode and
// group set on bind), SO_PEERCRED access control, request limits, the idle
// timeout and the per-route request metrics. What a request means is the
// handler's business. Everything runs on the io_context's thread(s); run it
// from one thread (the agent's reactor), as handlers call the AgentService.
//
// Responses are either whole (body) or a stream: the handler returns a
// StreamStart, the server sends the headers with chunked transfer encoding,
// calls `start` with an `emit` function (each call sends one chunk) and calls
// the returned stop function once the client has gone or the server stops.
#ifndef VFGUARD_API_HTTP_SERVER_H_
#define VFGUARD_API_HTTP_SERVER_H_

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/metrics.h"

namespace vfguard::api {

// Who is on the other end (SO_PEERCRED, SO_PEERGROUPS).
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups, when the kernel tells
};

enum class Access { kNone, kRead, kWrite };

struct AccessConfig {
  // Members (primary or supplementary) may read and write; uid 0 always may.
  std::optional<gid_t> write_gid;
  // Members may read (GET and HEAD).
  std::optional<gid_t> read_gid;
};

// What `peer` may do under `config`.
Access AccessFor(const AccessConfig& config, const PeerCred& peer);

struct HttpServerOptions {
  std::string socket_path = "/run/vfguard/agent.sock";
  // Applied to the socket file after bind. Connecting needs write
  // permission on the file, so a read-only group that is not the file's
  // group needs a wider mode (or an ACL) to reach the server at all.
  uint32_t socket_mode = 0660;
  AccessConfig access;  // the file's group is access.write_gid when set
  size_t body_limit = 1 << 20;
  size_t header_limit = 8 << 10;
  size_t max_connections = 64;
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

struct HttpRequest {
  std::string method;  // "GET", ...
  std::string target;  // path and query as sent
  std::string path;    // target without the query
  std::string body;
  std::string content_type;
  PeerCred peer;
};

struct StreamStart {
  // Called once the headers are on their way. The returned function is called
  // exactly once when the stream ends (client gone, server stopped).
  std::function<std::function<void()>(std::function<void(std::string chunk)> emit)> start;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::optional<StreamStart> stream;  // when set, body is ignored
  // The route pattern for metrics ("/v1/ports/{id}"), so ids do not blow up
  // the label set. Empty = "other".
  std::string route;
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Builds the JSON error body the API uses:
// {"error":{"code":"...","message":"...","field":"..."}}; field left out
// when empty.
std::string ErrorBody(std::string_view code, std::string_view message, std::string_view field = {});

class HttpServer {
 public:
  // `metrics` may be null; otherwise the server registers and records
  // vfguard_api_requests_total{route,code} and
  // vfguard_api_request_duration_seconds{route}.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler,
             agent::metrics::Registry* metrics = nullptr);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Removes a stale socket file, binds, sets mode/group, listens and starts
  // accepting. Errors name the path and the failing step.
  absl::Status Start();
  // Stops accepting, closes every connection (ending streams), removes the
  // socket file. Idempotent.
  void Stop();

  size_t connections() const;  // open right now

  class Session;  // internal

 private:
  friend class Session;
  void Accept();

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  HttpHandler handler_;
  agent::metrics::Counter* requests_ = nullptr;
  agent::metrics::Histogram* latency_ = nullptr;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool running_ = false;
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_HTTP_SERVER_H_
