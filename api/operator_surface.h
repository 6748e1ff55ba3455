// The agent's operator surface as one object the daemon starts: the JSON API
// on the unix socket (handlers over the AgentService) and the Prometheus
// listener (refreshing the agent's gauges before each scrape).
#ifndef VFGUARD_API_OPERATOR_SURFACE_H_
#define VFGUARD_API_OPERATOR_SURFACE_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/service.h"
#include "api/handlers.h"
#include "api/http_server.h"
#include "api/metrics_server.h"
#include "boost/asio/io_context.hpp"

namespace vfguard::api {

class OperatorSurface {
 public:
  // Binds the API socket (creating its directory) and the metrics listener
  // named by `config` (api_socket, metrics_listen; an empty value turns that
  // listener off). `collect` runs before each scrape.
  static absl::StatusOr<std::unique_ptr<OperatorSurface>> Start(
      boost::asio::io_context& io, const agent::AgentConfig& config, agent::AgentService& service,
      agent::metrics::Registry& registry, agent::Logger& log, std::function<void()> collect);
  ~OperatorSurface();

 private:
  OperatorSurface() = default;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<MetricsServer> metrics_;
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_OPERATOR_SURFACE_H_
