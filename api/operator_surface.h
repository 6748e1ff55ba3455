// The agent's operator surface as one object the daemon starts: the JSON API
// on the unix socket (handlers over the AgentService) and the Prometheus
// listener (refreshing the agent's gauges before each scrape).
#ifndef VFGUARD_API_OPERATOR_SURFACE_H_
#define VFGUARD_API_OPERATOR_SURFACE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/service.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "api/metrics_server.h"
#include "boost/asio/io_context.hpp"
#include "common/log.h"
#include "common/metrics.h"

namespace vfguard::api {

// Where the two listeners bind (the daemon fills this from its config file,
// whose fields have the same names).
struct OperatorSurfaceOptions {
  std::string api_socket;  // empty: no API
  uint32_t api_socket_mode = 0660;
  std::string api_write_group;  // group name; empty: root only
  std::string api_read_group;   // group name; empty: none
  std::string metrics_listen;   // "host:port"; empty: no metrics listener
};

class OperatorSurface {
 public:
  // Binds the API socket (creating its directory) and the metrics listener
  // named by `options` (an empty value turns that listener off). `collect`
  // runs before each scrape.
  static absl::StatusOr<std::unique_ptr<OperatorSurface>> Start(
      boost::asio::io_context& io, const OperatorSurfaceOptions& config,
      agent::AgentService& service, common::metrics::Registry& registry, common::Logger& log,
      std::function<void()> collect);
  ~OperatorSurface();

 private:
  OperatorSurface() = default;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<MetricsServer> metrics_;
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_OPERATOR_SURFACE_H_
