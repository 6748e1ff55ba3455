// What the runtime passes in the environment (CNI_COMMAND, CNI_CONTAINERID,
// CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH), and the port id the plugin
// derives from it.
#ifndef VFGUARD_CNI_RUNTIME_ENV_H_
#define VFGUARD_CNI_RUNTIME_ENV_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vfguard::cni {

struct RuntimeEnv {
  std::string command;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args;  // CNI_ARGS
  std::string path;  // CNI_PATH
};

// Reads the CNI_* variables through `get` (getenv in the plugin).
RuntimeEnv ReadEnv(const std::function<std::optional<std::string>(const char*)>& get);

// The variables `env.command` needs (ADD/CHECK: CONTAINERID, NETNS, IFNAME;
// DEL: CONTAINERID, IFNAME; VERSION/STATUS/GC: none). CNI code 4 naming the
// first missing one.
absl::Status RequireEnv(const RuntimeEnv& env);

// CNI_ARGS: "K=V;K=V". CNI code 4 for an element without '='.
absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view args);

// The agent's port id for an attachment. With K8S_POD_NAMESPACE and
// K8S_POD_NAME: "NAMESPACE.NAME.IFNAME" (Kubernetes names are DNS labels /
// subdomains, so '.' joins them unambiguously enough and a reader sees the
// pod); else "cni.CONTAINERID.IFNAME". Characters the agent does not allow in
// ids (outside A-Z a-z 0-9 . _ : -) become '_', and an id longer than 63 or
// changed by that replacement keeps its first 54 characters followed by '-'
// and 8 hex digits of a hash of the unreplaced text, so different
// attachments keep different ids. The same inputs always give the same id
// (DEL recomputes it).
std::string PortId(const std::map<std::string, std::string>& cni_args,
                   absl::string_view container_id, absl::string_view ifname);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_RUNTIME_ENV_H_
