#include "api/operator_surface.h"

#include <grp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vfguard::api {
namespace {

// "host:port" or "[v6]:port" (validated by the config already).
absl::StatusOr<MetricsServerOptions> ParseListen(const std::string& listen) {
  MetricsServerOptions o;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen: \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen: \"", listen, "\" has no valid port"));
  }
  o.address = host;
  o.port = static_cast<uint16_t>(port);
  return o;
}

// A group name's gid; nullopt for an empty name.
absl::StatusOr<std::optional<gid_t>> GroupId(const char* field, const std::string& name) {
  if (name.empty()) return std::optional<gid_t>();
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  const int err = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (err != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": no group \"", name, "\"",
                     err != 0 ? absl::StrCat(" (", std::strerror(err), ")") : ""));
  }
  return std::optional<gid_t>(found->gr_gid);
}

absl::Status MakeParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  const std::string dir = path.substr(0, slash);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(
        absl::StrCat("api_socket: cannot create ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OperatorSurface>> OperatorSurface::Start(
    boost::asio::io_context& io, const OperatorSurfaceOptions& config, agent::AgentService& service,
    common::metrics::Registry& registry, common::Logger& log, std::function<void()> collect) {
  std::unique_ptr<OperatorSurface> s(new OperatorSurface());
  if (!config.api_socket.empty()) {
    if (absl::Status st = MakeParentDir(config.api_socket); !st.ok()) return st;
    HttpServerOptions options;
    options.socket_path = config.api_socket;
    options.socket_mode = config.api_socket_mode;
    absl::StatusOr<std::optional<gid_t>> write = GroupId("api_write_group", config.api_write_group);
    if (!write.ok()) return write.status();
    absl::StatusOr<std::optional<gid_t>> read = GroupId("api_read_group", config.api_read_group);
    if (!read.ok()) return read.status();
    options.access.write_gid = *write;
    options.access.read_gid = *read;
    s->handlers_ = std::make_unique<ApiHandlers>(service);
    s->http_ =
        std::make_unique<HttpServer>(io, options, s->handlers_->AsHandler(), &registry, &log);
    if (absl::Status st = s->http_->Start(); !st.ok()) return st;
    log.Info("api_listening", {{"socket", config.api_socket}});
  }
  if (!config.metrics_listen.empty()) {
    absl::StatusOr<MetricsServerOptions> options = ParseListen(config.metrics_listen);
    if (!options.ok()) return options.status();
    s->metrics_ = std::make_unique<MetricsServer>(io, *options, registry, std::move(collect));
    if (absl::Status st = s->metrics_->Start(); !st.ok()) return st;
    log.Info("metrics_listening",
             {{"address", config.metrics_listen}, {"port", s->metrics_->port()}});
  }
  return s;
}

OperatorSurface::~OperatorSurface() {
  if (http_) http_->Stop();
  if (metrics_) metrics_->Stop();
}

}  // namespace vfguard::api
