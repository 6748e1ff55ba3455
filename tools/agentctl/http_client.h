// A minimal HTTP/1.1 client over a unix stream socket, enough to talk to the
// agent's API: one request per connection (Connection: close), bodies framed
// by Content-Length, chunked transfer coding, or the end of the stream.
// Blocking and single-threaded: agentctl does one thing and exits.
#ifndef VFGUARD_TOOLS_AGENTCTL_HTTP_CLIENT_H_
#define VFGUARD_TOOLS_AGENTCTL_HTTP_CLIENT_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vfguard::agentctl {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // decoded (chunking removed)
};

// Incremental decoder of the chunked transfer coding (RFC 9112 section 7.1).
// Chunk extensions and trailers are skipped.
class ChunkedDecoder {
 public:
  // Consumes `data`, passing decoded body bytes to `sink` as they complete.
  // InvalidArgument on a malformed chunk size or missing CRLF.
  absl::Status Feed(std::string_view data, const std::function<void(std::string_view)>& sink);
  // True once the terminating zero-size chunk and its trailer were read.
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataCrlf, kTrailer, kDone };
  State state_ = State::kSize;
  std::string line_;
  size_t remaining_ = 0;
};

class UnixHttpClient {
 public:
  // `timeout` bounds each read and write; nullopt waits forever (streams).
  explicit UnixHttpClient(std::string socket_path,
                          std::optional<absl::Duration> timeout = absl::Seconds(30))
      : socket_path_(std::move(socket_path)), timeout_(timeout) {}

  const std::string& socket_path() const { return socket_path_; }

  // Sends one request and reads the whole response. Errors: Unavailable
  // ("cannot connect to PATH: <strerror>; is vfguard-agent running?") when
  // the socket cannot be reached, DeadlineExceeded on a timeout, DataLoss on
  // a malformed or truncated response. An HTTP error status is not an error
  // here: the caller reads it from the response.
  absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view target,
                                  std::string_view body = {});

  // As Do, but passes body bytes to `on_body` as they arrive and returns once
  // the stream ends (or `on_body` returns false). The returned response has
  // an empty body, except for an HTTP error status (>= 400), whose body is
  // collected there instead of passed on. For long-lived responses such as
  // /v1/events.
  absl::StatusOr<HttpResponse> Stream(std::string_view method, std::string_view target,
                                      std::string_view body,
                                      const std::function<bool(std::string_view)>& on_body);

 private:
  std::string socket_path_;
  std::optional<absl::Duration> timeout_;
};

// Percent-encodes one path segment (everything but RFC 3986 unreserved).
std::string EscapePathSegment(std::string_view segment);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_HTTP_CLIENT_H_
