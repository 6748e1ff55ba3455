// The Prometheus scrape endpoint: GET /metrics over plain HTTP/1.1 on a TCP
// listener (default 127.0.0.1:9477) on the caller's io_context.
//
// Before each render the server calls `collect`, so the agent can refresh its
// gauges (ports by state, rules by placement, conntrack entries) from its own
// state at scrape time rather than on every change. Any other path is 404,
// any other method 405. One request per connection is enough for a scraper
// (Connection: close); a connection that sends nothing is dropped after the
// idle timeout.
#ifndef VFGUARD_API_METRICS_SERVER_H_
#define VFGUARD_API_METRICS_SERVER_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/metrics.h"

namespace vfguard::api {

struct MetricsServerOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal
  uint16_t port = 9477;               // 0 = any free port (tests)
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(10);
};

class MetricsServer {
 public:
  MetricsServer(boost::asio::io_context& io, MetricsServerOptions options,
                const common::metrics::Registry& registry, std::function<void()> collect = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts accepting; errors name the address and the step.
  absl::Status Start();
  void Stop();
  // The bound port (useful with port 0); 0 before Start.
  uint16_t port() const;

 private:
  void Accept();

  boost::asio::io_context& io_;
  MetricsServerOptions options_;
  const common::metrics::Registry& registry_;
  std::function<void()> collect_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_METRICS_SERVER_H_
