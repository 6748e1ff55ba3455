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
//
// Limits that keep one client from hurting the others (docs/api.md,
// "Connections and streams"): ordinary connections and event streams have
// separate caps, so read-only clients holding streams cannot take the slots
// writers need; a stream client that does not read is dropped once its
// queue passes a byte limit or a write stalls for the idle timeout (logged
// and counted, never blocking the reactor or growing without bound); a
// stream ends cleanly after a maximum lifetime; accept errors (EMFILE ...)
// re-arm after a growing delay instead of spinning.
#ifndef VFGUARD_API_HTTP_SERVER_H_
#define VFGUARD_API_HTTP_SERVER_H_

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/log.h"
#include "common/metrics.h"

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
  // Open connections other than event streams; more are answered 503.
  size_t max_connections = 64;
  // Also the longest a stream's write may stall before the client is dropped.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  // Event streams open at once, counted apart from max_connections; one more
  // is answered 503 (and the connection stays usable).
  size_t max_streams = 16;
  // Bytes queued for one stream client; an event that would pass it drops the
  // client (reason slow_client) rather than the event, so a client never
  // sees a stream with holes in it: it sees the end and reconnects.
  size_t stream_queue_limit = 1 << 20;
  // A stream ends with the last chunk after this long (reason lifetime).
  std::chrono::milliseconds stream_lifetime = std::chrono::hours(1);
  // After a failed accept (EMFILE, ENFILE, ENOBUFS, ...) the next one waits
  // this long, doubling per consecutive failure up to the max.
  std::chrono::milliseconds accept_backoff_min = std::chrono::milliseconds(10);
  std::chrono::milliseconds accept_backoff_max = std::chrono::seconds(1);
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
  // vfguard_api_requests_total{route,code},
  // vfguard_api_request_duration_seconds{route},
  // vfguard_api_streams_ended_total{reason} (slow_client, write_stalled,
  // lifetime) and vfguard_api_accept_errors_total. `log` may be null; it
  // gets one line per dropped stream and per failed accept.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler,
             common::metrics::Registry* metrics = nullptr, common::Logger* log = nullptr);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Removes a stale socket file, binds, sets mode/group, listens and starts
  // accepting. Errors name the path and the failing step.
  absl::Status Start();
  // Stops accepting, closes every connection (ending streams), removes the
  // socket file (if Start() made one). Idempotent.
  void Stop();

  // Serves a socket that is already connected, as if accepted (subject to
  // the connection limit). Works without Start(): the request-path fuzzer
  // feeds the server through a socketpair this way.
  void Serve(boost::asio::local::stream_protocol::socket socket);

  size_t connections() const;                  // open right now, streams included
  size_t streams() const { return streams_; }  // event streams open right now
  uint64_t accept_errors() const { return accept_errors_; }

  class Session;  // internal

 private:
  friend class Session;
  void Accept();
  void Admit(boost::asio::local::stream_protocol::socket socket);
  void AcceptFailed(const boost::system::error_code& ec);
  void StreamEnded(std::string_view reason, const PeerCred& peer, size_t queued);

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  HttpHandler handler_;
  common::metrics::Counter* requests_ = nullptr;
  common::metrics::Histogram* latency_ = nullptr;
  common::metrics::Counter* streams_ended_ = nullptr;
  common::metrics::Counter* accept_errors_total_ = nullptr;
  common::Logger* log_ = nullptr;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_{0};  // 0: the last accept worked
  uint64_t accept_errors_ = 0;
  std::set<std::shared_ptr<Session>> sessions_;
  size_t streams_ = 0;
  bool running_ = false;
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_HTTP_SERVER_H_
