#include "api/http_server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <deque>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_quote.h"

namespace vfguard::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

PeerCred ReadPeerCred(int fd) {
  PeerCred peer;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  }
#ifdef SO_PEERGROUPS
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t glen = groups.size() * sizeof(gid_t);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE) break;
    groups.resize(glen / sizeof(gid_t) + 1);
  }
#endif
  return peer;
}

bool IsMember(const PeerCred& peer, gid_t gid) {
  if (peer.gid == gid) return true;
  for (gid_t g : peer.groups) {
    if (g == gid) return true;
  }
  return false;
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr std::string_view kStreamHeader =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/x-ndjson\r\n"
    "Cache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n";

}  // namespace

Access AccessFor(const AccessConfig& config, const PeerCred& peer) {
  if (peer.uid == 0) return Access::kWrite;
  if (config.write_gid && IsMember(peer, *config.write_gid)) return Access::kWrite;
  if (config.read_gid && IsMember(peer, *config.read_gid)) return Access::kRead;
  return Access::kNone;
}

std::string ErrorBody(std::string_view code, std::string_view message, std::string_view field) {
  std::string out = absl::StrCat("{\"error\":{\"code\":", common::JsonQuoted(code),
                                 ",\"message\":", common::JsonQuoted(message));
  if (!field.empty()) absl::StrAppend(&out, ",\"field\":", common::JsonQuoted(field));
  out += "}}\n";
  return out;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(HttpServer* server, local::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        lifetime_(socket_.get_executor()) {}

  void Start() {
    peer_ = ReadPeerCred(socket_.native_handle());
    Read();
  }

  // The server is going away: no more calls into it.
  void Detach() { server_ = nullptr; }

  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    lifetime_.cancel();
    if (streaming_ && server_ != nullptr) --server_->streams_;
    StopSubscription();
    beast::error_code ignored;
    socket_.shutdown(local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (server_ != nullptr) server_->sessions_.erase(shared_from_this());
  }

 private:
  void ArmTimer() {
    timer_.expires_after(server_->options_.idle_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Close();  // idle too long
    });
  }

  void Read() {
    if (closed_ || server_ == nullptr) return;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options_.header_limit));
    parser_->body_limit(server_->options_.body_limit);
    ArmTimer();
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // curl sends "Expect: 100-continue" before larger bodies and waits a second
  // for the go-ahead; give it at once (a body over the limit has already
  // failed the header read, so it is answered 413 without one).
  void OnHeader(beast::error_code ec) {
    if (ec || closed_ || server_ == nullptr) {
      OnRead(ec);
      return;
    }
    // Beast decodes the chunked framing and passes any other coding through
    // undecoded; a gzip body read as JSON would be wrong, so RFC 9112 6.1's
    // 501 for a coding the server does not understand.
    auto te = parser_->get()[http::field::transfer_encoding];
    std::string_view coding = Trimmed(std::string_view(te.data(), te.size()));
    if (!coding.empty() &&
        !beast::iequals(beast::string_view(coding.data(), coding.size()), "chunked")) {
      started_ = std::chrono::steady_clock::now();
      Fail(501, "not_implemented",
           absl::StrCat("Transfer-Encoding \"", absl::CEscape(Sv(coding)),
                        "\" is not supported (only chunked)"));
      return;
    }
    auto read_body = [self = shared_from_this()] {
      http::async_read(self->socket_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, size_t) { self->OnRead(ec); });
    };
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue") ||
        parser_->is_done()) {
      read_body();
      return;
    }
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), read_body](beast::error_code ec, size_t) {
                        if (ec) {
                          self->Close();
                          return;
                        }
                        read_body();
                      });
  }

  void OnRead(beast::error_code ec) {
    timer_.cancel();
    if (closed_ || server_ == nullptr) return;
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      Close();
      return;
    }
    started_ = std::chrono::steady_clock::now();
    if (ec == http::error::body_limit) {
      Fail(413, "payload_too_large",
           absl::StrCat("request body exceeds ", server_->options_.body_limit, " bytes"));
      return;
    }
    if (ec == http::error::header_limit) {
      Fail(431, "headers_too_large",
           absl::StrCat("request headers exceed ", server_->options_.header_limit, " bytes"));
      return;
    }
    if (ec) {
      Fail(400, "bad_request", absl::StrCat("malformed HTTP request: ", ec.message()));
      return;
    }
    auto& msg = parser_->get();
    HttpRequest request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    request.path = request.target.substr(0, request.target.find('?'));
    request.body = std::move(msg.body());
    request.content_type = std::string(msg[http::field::content_type]);
    request.peer = peer_;
    keep_alive_ = msg.keep_alive();

    HttpResponse response;
    Access access = AccessFor(server_->options_.access, peer_);
    bool read_only = request.method == "GET" || request.method == "HEAD";
    if (access == Access::kNone || (access == Access::kRead && !read_only)) {
      response.status = 403;
      response.body =
          ErrorBody("permission_denied",
                    absl::StrFormat("uid %d (gid %d) may not %s this socket", peer_.uid, peer_.gid,
                                    access == Access::kNone ? "use" : "write through"));
    } else {
      try {
        response = server_->handler_(request);
      } catch (const std::exception& e) {
        response = HttpResponse{};
        response.status = 500;
        response.body = ErrorBody("internal", absl::StrCat("handler failed: ", e.what()));
      }
    }
    if (response.stream && server_->streams_ >= server_->options_.max_streams) {
      response = HttpResponse{};
      response.status = 503;
      response.route = "/v1/events";
      response.body = ErrorBody(
          "unavailable", absl::StrCat("too many event streams (", server_->options_.max_streams,
                                      " open); close one or retry later"));
    }
    Record(response);
    if (response.stream) {
      StartStream(*response.stream);
      return;
    }
    Respond(std::move(response), keep_alive_);
  }

  void Record(const HttpResponse& response) {
    if (server_ == nullptr) return;
    std::string route = response.route.empty() ? "other" : response.route;
    if (server_->requests_ != nullptr) {
      server_->requests_->Inc({route, absl::StrCat(response.status)});
    }
    if (server_->latency_ != nullptr) {
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - started_;
      server_->latency_->Observe({route}, took.count());
    }
  }

  // An error the server itself answers; the connection closes after it, as
  // the rest of the request may still be unread.
  void Fail(unsigned status, std::string_view code, const std::string& message) {
    HttpResponse response;
    response.status = status;
    response.body = ErrorBody(code, message);
    Record(response);
    Respond(std::move(response), false);
  }

  void Respond(HttpResponse response, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    res->set(http::field::server, "vfguard");
    res->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    ArmTimer();
    http::async_write(socket_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        self->timer_.cancel();
                        if (ec) {
                          self->Close();
                          return;
                        }
                        if (!keep_alive) {
                          self->Linger();
                          return;
                        }
                        self->Read();
                      });
  }

  // Closing with unread input makes the kernel reset the connection, and a
  // client still sending (a body past the limit) would lose our answer. So
  // stop sending, read and discard what still comes (bounded by the idle
  // timeout and 64 MiB), then close.
  void Linger() {
    beast::error_code ignored;
    socket_.shutdown(local::socket::shutdown_send, ignored);
    if (server_ != nullptr) ArmTimer();
    Drain();
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(sink_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (64u << 20) || self->closed_) {
                                self->Close();
                                return;
                              }
                              self->Drain();
                            });
  }

  void StartStream(const StreamStart& stream) {
    streaming_ = true;
    ++server_->streams_;
    lifetime_.expires_after(server_->options_.stream_lifetime);
    lifetime_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->EndStream();
    });
    Queue(std::string(kStreamHeader));
    std::weak_ptr<Session> weak = shared_from_this();
    stop_stream_ = stream.start([weak](const std::string& chunk) {
      auto self = weak.lock();
      if (!self || self->closed_ || self->ending_ || chunk.empty()) return;
      self->Queue(absl::StrCat(absl::Hex(chunk.size()), "\r\n", chunk, "\r\n"));
    });
    if (!stop_stream_) stop_stream_ = [] {};
    // The client sends nothing more; a read completes when it goes away.
    socket_.async_read_some(asio::buffer(sink_), [self = shared_from_this()](
                                                     beast::error_code, size_t) { self->Close(); });
  }

  void Queue(std::string data) {
    if (closed_) return;
    if (server_ != nullptr && queued_ + data.size() > server_->options_.stream_queue_limit) {
      Drop("slow_client");
      return;
    }
    queued_ += data.size();
    out_.push_back(std::move(data));
    if (out_.size() == 1) WriteNext();
  }

  // The stream's lifetime is over: no more events, the last chunk, close.
  void EndStream() {
    if (closed_ || ending_) return;
    ending_ = true;
    if (server_ != nullptr) server_->StreamEnded("lifetime", peer_, queued_);
    StopSubscription();
    static constexpr std::string_view kLast = "0\r\n\r\n";
    out_.emplace_back(kLast);
    queued_ += kLast.size();
    if (out_.size() == 1) WriteNext();
  }

  void Drop(std::string_view reason) {
    if (server_ != nullptr) server_->StreamEnded(reason, peer_, queued_);
    Close();
  }

  void StopSubscription() {
    if (!stop_stream_) return;
    auto stop = std::move(stop_stream_);
    stop_stream_ = nullptr;
    stop();
  }

  // A write that does not finish within the idle timeout means a client that
  // stopped reading with the socket buffer full: dropped like a slow one.
  void WriteNext() {
    if (server_ != nullptr) {
      timer_.expires_after(server_->options_.idle_timeout);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && !self->closed_) self->Drop("write_stalled");
      });
    }
    asio::async_write(socket_, asio::buffer(out_.front()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->timer_.cancel();
                        if (ec || self->closed_) {
                          self->Close();
                          return;
                        }
                        self->queued_ -= self->out_.front().size();
                        self->out_.pop_front();
                        if (!self->out_.empty()) {
                          self->WriteNext();
                        } else if (self->ending_) {
                          self->Close();
                        }
                      });
  }

  HttpServer* server_;
  local::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer lifetime_;  // of a stream
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  PeerCred peer_;
  bool keep_alive_ = true;
  bool closed_ = false;
  std::chrono::steady_clock::time_point started_;
  std::function<void()> stop_stream_;
  std::deque<std::string> out_;
  size_t queued_ = 0;  // bytes in out_
  bool streaming_ = false;
  bool ending_ = false;  // the last chunk is queued
  char sink_[16384];
  size_t drained_ = 0;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler,
                       common::metrics::Registry* metrics, common::Logger* log)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      log_(log),
      accept_timer_(io) {
  if (metrics != nullptr) {
    auto requests =
        metrics->AddCounter("vfguard_api_requests_total",
                            "API requests by route and HTTP status code.", {"route", "code"});
    if (requests.ok()) requests_ = *requests;
    auto latency = metrics->AddHistogram("vfguard_api_request_duration_seconds",
                                         "API request handling time by route.", {"route"});
    if (latency.ok()) latency_ = *latency;
    auto ended = metrics->AddCounter(
        "vfguard_api_streams_ended_total",
        "Event streams the server ended: slow_client (queue limit), write_stalled, lifetime.",
        {"reason"});
    if (ended.ok()) streams_ended_ = *ended;
    auto accept_errors = metrics->AddCounter(
        "vfguard_api_accept_errors_total",
        "Failed accepts on the API socket (each re-armed after a backoff).", {});
    if (accept_errors.ok()) accept_errors_total_ = *accept_errors;
  }
}

void HttpServer::StreamEnded(std::string_view reason, const PeerCred& peer, size_t queued) {
  if (streams_ended_ != nullptr) streams_ended_->Inc({std::string(reason)});
  if (log_ != nullptr) {
    log_->Log(reason == "lifetime" ? common::LogLevel::kInfo : common::LogLevel::kWarn,
              "api_stream_ended",
              {{"reason", reason}, {"pid", peer.pid}, {"uid", peer.uid}, {"queued_bytes", queued}});
  }
}

HttpServer::~HttpServer() {
  // Closing sockets can throw (boost::system::system_error); a destructor
  // must not.
  try {
    Stop();
  } catch (...) {
  }
}

size_t HttpServer::connections() const { return sessions_.size(); }

absl::Status HttpServer::Start() {
  const std::string& path = options_.socket_path;
  auto fail = [&](std::string_view step, const beast::error_code& ec) {
    return absl::InternalError(
        absl::StrCat("api socket ", path, ": ", Sv(step), ": ", ec.message()));
  };
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("api socket ", path, ": exists and is not a socket"));
    }
    // Refuse to steal the socket of a live agent; remove a stale one.
    local::socket probe(io_);
    beast::error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("api socket ", path, ": another process is listening on it"));
    }
    ::unlink(path.c_str());
  }
  auto acceptor = std::make_unique<local::acceptor>(io_);
  beast::error_code ec;
  acceptor->open(local(), ec);
  if (ec) return fail("socket", ec);
  acceptor->bind(local::endpoint(path), ec);
  if (ec) return fail("bind", ec);
  if (::chmod(path.c_str(), options_.socket_mode) != 0) {
    return absl::InternalError(absl::StrCat("api socket ", path, ": chmod: ", strerror(errno)));
  }
  if (options_.access.write_gid &&
      ::chown(path.c_str(), static_cast<uid_t>(-1), *options_.access.write_gid) != 0) {
    return absl::InternalError(absl::StrCat("api socket ", path, ": chown to group ",
                                            *options_.access.write_gid, ": ", strerror(errno)));
  }
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen", ec);
  acceptor_ = std::move(acceptor);
  running_ = true;
  Accept();
  return absl::OkStatus();
}

void HttpServer::Accept() {
  acceptor_->async_accept(
      [this, acceptor = acceptor_.get()](beast::error_code ec, local::socket socket) {
        // After Stop() the acceptor is closed and this completes with
        // operation_aborted; `this` may be gone then, so look at nothing else.
        if (ec == asio::error::operation_aborted) return;
        if (!running_ || acceptor_.get() != acceptor) return;
        if (ec) {
          AcceptFailed(ec);
          return;
        }
        accept_backoff_ = std::chrono::milliseconds(0);
        Admit(std::move(socket));
        Accept();
      });
}

// Streams do not count here: they have their own cap (max_streams).
void HttpServer::Admit(local::socket socket) {
  if (sessions_.size() - streams_ < options_.max_connections) {
    auto session = std::make_shared<Session>(this, std::move(socket));
    sessions_.insert(session);
    session->Start();
    return;
  }
  std::string body = ErrorBody("unavailable", "too many connections");
  auto canned = std::make_shared<std::string>(
      absl::StrCat("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                   "Connection: close\r\nContent-Length: ",
                   body.size(), "\r\n\r\n", body));
  auto s = std::make_shared<local::socket>(std::move(socket));
  asio::async_write(*s, asio::buffer(*canned), [s, canned](beast::error_code, size_t) {
    beast::error_code ignored;
    s->close(ignored);
  });
}

// Out of descriptors (EMFILE) the listening socket stays readable, so
// accepting again at once would spin the reactor; wait, doubling the delay.
void HttpServer::AcceptFailed(const boost::system::error_code& ec) {
  ++accept_errors_;
  if (accept_errors_total_ != nullptr) accept_errors_total_->Inc();
  accept_backoff_ = accept_backoff_.count() == 0
                        ? options_.accept_backoff_min
                        : std::min(2 * accept_backoff_, options_.accept_backoff_max);
  if (log_ != nullptr) {
    log_->Warn("api_accept_failed", {{"error", ec.message()},
                                     {"retry_ms", static_cast<int64_t>(accept_backoff_.count())}});
  }
  accept_timer_.expires_after(accept_backoff_);
  accept_timer_.async_wait([this, acceptor = acceptor_.get()](beast::error_code timer_ec) {
    // As in Accept(): after Stop() `this` may be gone; look at nothing else.
    if (timer_ec == asio::error::operation_aborted) return;
    if (!running_ || acceptor_.get() != acceptor) return;
    Accept();
  });
}

void HttpServer::Stop() {
  bool was_running = running_;
  running_ = false;
  beast::error_code ignored;
  accept_timer_.cancel();
  if (acceptor_) acceptor_->close(ignored);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  streams_ = 0;
  for (const auto& session : sessions) {
    session->Detach();
    session->Close();
  }
  if (was_running) ::unlink(options_.socket_path.c_str());
}

void HttpServer::Serve(local::socket socket) { Admit(std::move(socket)); }

}  // namespace vfguard::api
