// The CNI commands. Each takes the runtime's environment and the parsed
// config, talks to the agent through AgentClient and returns what goes to
// stdout (or a CNI-coded error, cni_status.h). No process state: main.cc
// wires the real socket, sysfs and state directory; unit tests a fake agent
// behind the same Transport, a fake sysfs tree and a temporary directory.
//
// ADD   prevResult's interface CNI_IFNAME (MAC) and its IPs + the VF (deviceID
//       through sysfs, vfIndex or representor) + the config and args.cni ->
//       PUT /v1/ports/ID; remembers the attachment; waits until the agent's
//       status says `installed` (installTimeoutSeconds); prints prevResult.
// DEL   DELETE /v1/ports/ID; already gone is success; the agent unreachable
//       is an error (code 11) so the runtime retries instead of leaving a
//       port behind; a port the agent now holds with another MAC than this
//       attachment registered (re-created by a newer attachment of the same
//       pod name) is left alone.
// CHECK the agent's port has the MAC, IPs, network, groups, VIPs and port
//       security this attachment would set, and is installed.
// STATUS the agent is reachable and ready (code 50 otherwise).
// GC    every remembered attachment of this network not in
//       cni.dev/valid-attachments: its port is deleted (as DEL) and forgotten.
#ifndef VFGUARD_CNI_COMMANDS_H_
#define VFGUARD_CNI_COMMANDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cni/agent_client.h"
#include "cni/attachments.h"
#include "cni/config.h"
#include "cni/runtime_env.h"

namespace vfguard::cni {

struct CommandContext {
  RuntimeEnv env;
  PluginConfig config;
  AgentClient* agent = nullptr;
  AttachmentStore* store = nullptr;
  std::string sysfs_root = "/sys";
  absl::Duration poll_interval = absl::Milliseconds(100);
};

absl::StatusOr<std::string> RunAdd(const CommandContext& c);
absl::StatusOr<std::string> RunDel(const CommandContext& c);
absl::StatusOr<std::string> RunCheck(const CommandContext& c);
absl::StatusOr<std::string> RunStatus(const CommandContext& c);
absl::StatusOr<std::string> RunGc(const CommandContext& c);
// The VERSION answer for a config of `cni_version`.
std::string VersionJson(const std::string& cni_version);

// The port body ADD puts (exposed for tests): snake_case fields of
// api/vfguard.proto's Port.
struct PortSpec {
  std::string id;
  std::string mac;
  std::vector<std::string> fixed_ips;
  std::optional<uint32_t> vf_index;
  std::string representor;
};
absl::StatusOr<PortSpec> PortSpecFor(const CommandContext& c);
Json PortBody(const PortSpec& spec, const PluginConfig& config);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_COMMANDS_H_
