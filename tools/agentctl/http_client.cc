#include "tools/agentctl/http_client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <utility>

namespace vfguard::agentctl {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// An owned connected socket.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<int> Connect(const std::string& path) {
  auto fail = [&](int err) {
    return absl::UnavailableError("cannot connect to " + path + ": " + strerror(err) +
                                  "; is vfguard-agent running?");
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return fail(ENAMETOOLONG);
  memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return fail(err);
  }
  return fd;
}

// Waits until `fd` is ready for `events`, bounded by `timeout`.
absl::Status Wait(int fd, short events, std::optional<absl::Duration> timeout) {
  pollfd p{.fd = fd, .events = events, .revents = 0};
  int ms = timeout.has_value() ? static_cast<int>(absl::ToInt64Milliseconds(*timeout)) : -1;
  for (;;) {
    int n = poll(&p, 1, ms);
    if (n > 0) return absl::OkStatus();
    if (n == 0) {
      return absl::DeadlineExceededError("the agent did not answer within " +
                                         absl::FormatDuration(*timeout));
    }
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  }
}

absl::Status WriteAll(int fd, std::string_view data, std::optional<absl::Duration> timeout) {
  while (!data.empty()) {
    if (absl::Status s = Wait(fd, POLLOUT, timeout); !s.ok()) return s;
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(std::string("sending the request: ") + strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads what is available; an empty result means end of stream.
absl::StatusOr<std::string> ReadSome(int fd, std::optional<absl::Duration> timeout) {
  char buf[16384];
  for (;;) {
    if (absl::Status s = Wait(fd, POLLIN, timeout); !s.ok()) return s;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n >= 0) return std::string(buf, static_cast<size_t>(n));
    if (errno == EINTR || errno == EAGAIN) continue;
    return absl::UnavailableError(std::string("reading the response: ") + strerror(errno));
  }
}

// Parses the status line and header fields (without the final CRLF CRLF).
absl::Status ParseHead(std::string_view head, HttpResponse& response) {
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12 || status_line[8] != ' ') {
    return absl::DataLossError("malformed HTTP status line: \"" + std::string(status_line) + "\"");
  }
  std::string_view code = status_line.substr(9, 3);
  auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), response.status);
  if (ec != std::errc() || end != code.data() + 3) {
    return absl::DataLossError("malformed HTTP status code: \"" + std::string(code) + "\"");
  }
  response.reason = std::string(Trim(status_line.substr(12)));
  while (eol != std::string_view::npos) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line = head.substr(start, eol == std::string_view::npos ? eol : eol - start);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return absl::DataLossError("malformed HTTP header line: \"" + std::string(line) + "\"");
    }
    response.headers[Lower(Trim(line.substr(0, colon)))] =
        std::string(Trim(line.substr(colon + 1)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ChunkedDecoder::Feed(std::string_view data,
                                  const std::function<void(std::string_view)>& sink) {
  while (!data.empty() && state_ != State::kDone) {
    switch (state_) {
      case State::kSize:
      case State::kTrailer:
      case State::kDataCrlf: {
        size_t nl = data.find('\n');
        line_.append(data.substr(0, nl));
        if (nl == std::string_view::npos) {
          if (line_.size() > 4096) return absl::InvalidArgumentError("chunk line too long");
          return absl::OkStatus();
        }
        data.remove_prefix(nl + 1);
        std::string line = std::move(line_);
        line_.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (state_ == State::kDataCrlf) {
          if (!line.empty()) return absl::InvalidArgumentError("missing CRLF after chunk data");
          state_ = State::kSize;
        } else if (state_ == State::kTrailer) {
          if (line.empty()) state_ = State::kDone;
        } else {
          std::string_view size = Trim(std::string_view(line).substr(0, line.find(';')));
          size_t value = 0;
          auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), value, 16);
          if (size.empty() || ec != std::errc() || end != size.data() + size.size()) {
            return absl::InvalidArgumentError("malformed chunk size \"" + line + "\"");
          }
          remaining_ = value;
          state_ = value == 0 ? State::kTrailer : State::kData;
        }
        break;
      }
      case State::kData: {
        size_t n = std::min(remaining_, data.size());
        sink(data.substr(0, n));
        data.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataCrlf;
        break;
      }
      case State::kDone:
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> UnixHttpClient::Do(std::string_view method, std::string_view target,
                                                std::string_view body) {
  std::string collected;
  absl::StatusOr<HttpResponse> response = Stream(method, target, body, [&](std::string_view data) {
    collected.append(data);
    return true;
  });
  if (response.ok() && response->status < 400) response->body = std::move(collected);
  return response;
}

absl::StatusOr<HttpResponse> UnixHttpClient::Stream(
    std::string_view method, std::string_view target, std::string_view body,
    const std::function<bool(std::string_view)>& on_body) {
  absl::StatusOr<int> fd = Connect(socket_path_);
  if (!fd.ok()) return fd.status();
  Connection conn(*fd);

  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: agentctl\r\n"
                        "Accept: application/json\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request.append(body);
  if (absl::Status s = WriteAll(conn.fd(), request, timeout_); !s.ok()) return s;

  HttpResponse response;
  std::string buffer;
  size_t head_end = std::string::npos;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    absl::StatusOr<std::string> data = ReadSome(conn.fd(), timeout_);
    if (!data.ok()) return data.status();
    if (data->empty()) {
      return absl::DataLossError("the agent closed the connection before answering");
    }
    buffer += *data;
    if (buffer.size() > (1 << 20)) return absl::DataLossError("response header too large");
  }
  if (absl::Status s = ParseHead(std::string_view(buffer).substr(0, head_end), response); !s.ok()) {
    return s;
  }
  buffer.erase(0, head_end + 4);

  bool chunked = Lower(response.headers["transfer-encoding"]).find("chunked") != std::string::npos;
  std::optional<size_t> length;
  if (auto it = response.headers.find("content-length"); !chunked && it != response.headers.end()) {
    size_t value = 0;
    auto [end, ec] =
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    if (ec != std::errc() || end != it->second.data() + it->second.size()) {
      return absl::DataLossError("malformed Content-Length \"" + it->second + "\"");
    }
    length = value;
  }
  if (response.status == 204 || response.status == 304) length = 0;

  ChunkedDecoder decoder;
  size_t received = 0;
  bool keep_going = true;
  std::function<bool(std::string_view)> collect_error = [&](std::string_view data) {
    response.body.append(data);
    return response.body.size() < (1 << 20);
  };
  const auto& sink = response.status >= 400 ? collect_error : on_body;
  auto consume = [&](std::string_view data) -> absl::Status {
    if (chunked) {
      return decoder.Feed(data, [&](std::string_view piece) {
        if (keep_going) keep_going = sink(piece);
      });
    }
    if (length.has_value()) data = data.substr(0, *length - received);
    received += data.size();
    if (!data.empty() && keep_going) keep_going = sink(data);
    return absl::OkStatus();
  };
  auto finished = [&] {
    return !keep_going || (chunked && decoder.done()) ||
           (!chunked && length.has_value() && received >= *length);
  };
  if (absl::Status s = consume(buffer); !s.ok()) return absl::DataLossError(s.message());
  while (!finished()) {
    absl::StatusOr<std::string> data = ReadSome(conn.fd(), timeout_);
    if (!data.ok()) return data.status();
    if (data->empty()) {
      if (chunked || length.has_value()) {
        return absl::DataLossError("the agent closed the connection in the middle of a response");
      }
      break;  // body delimited by the end of the connection
    }
    if (absl::Status s = consume(*data); !s.ok()) return absl::DataLossError(s.message());
  }
  return response;
}

std::string EscapePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace vfguard::agentctl
