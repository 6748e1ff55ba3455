// The agent's API as the plugin uses it: ports and readiness, over a
// Transport (HTTP/1.1 on the unix socket in the plugin, an in-memory agent in
// unit tests). Errors are CNI-coded (cni_status.h): the agent unreachable ->
// 11 (try again later), an answer the request caused (400/409) -> 100 with
// the agent's message, which starts with its field path
// (`ports[default.web-0.net1].security_group_ids[0]: no security group
// "nope"`), any other error answer -> 5.
#ifndef VFGUARD_CNI_AGENT_CLIENT_H_
#define VFGUARD_CNI_AGENT_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/agentctl/http_client.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::cni {

using agentctl::HttpResponse;
using agentctl::Json;

class Transport {
 public:
  virtual ~Transport() = default;
  // One request; an error only when no answer came (HTTP errors are answers).
  virtual absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view target,
                                          std::string_view body) = 0;
  // For messages: where the agent is ("/run/vfguard/agent.sock").
  virtual std::string Where() const = 0;
};

// HTTP/1.1 over the agent's unix socket (tools/agentctl/http_client.h).
std::unique_ptr<Transport> UnixSocketTransport(const std::string& socket_path,
                                               absl::Duration timeout);

class AgentClient {
 public:
  explicit AgentClient(Transport& transport) : transport_(transport) {}

  // PUT /v1/ports/ID: creates or replaces; the stored port.
  absl::StatusOr<Json> PutPort(const std::string& id, const Json& port);
  // GET /v1/ports/ID; nullopt when the agent has no such port.
  absl::StatusOr<std::optional<Json>> GetPort(const std::string& id);
  // GET /v1/ports/ID/status; nullopt when the agent has no such port.
  absl::StatusOr<std::optional<Json>> PortStatus(const std::string& id);
  // DELETE /v1/ports/ID; false when it did not exist (already gone).
  absl::StatusOr<bool> DeletePort(const std::string& id);
  // GET /readyz: true when ready, false on 503 (not yet reconciled).
  absl::StatusOr<bool> Ready();

 private:
  absl::StatusOr<HttpResponse> Call(absl::string_view method, const std::string& target,
                                    absl::string_view body, absl::string_view what);
  absl::StatusOr<std::optional<Json>> GetOptional(const std::string& target,
                                                  absl::string_view what);
  Transport& transport_;
};

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_AGENT_CLIENT_H_
