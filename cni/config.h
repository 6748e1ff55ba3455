// The plugin's network configuration as the runtime passes it on stdin: the
// conflist entry (`{"type": "vfguard", "network": "flat", ...}`) plus what
// the runtime injects (cniVersion, name, runtimeConfig, args, prevResult,
// cni.dev/valid-attachments). ParseConfig checks types and shapes and names
// the field of the first problem (`securityGroups[1]: must be a string`);
// what the values mean (is 10.0.0.300 an IP, does group "web" exist) is the
// agent's to judge, and its answer names the field too.
//
// Per-pod overrides come from args.cni (Multus copies the `cni-args` of the
// pod's network-selection annotation there): securityGroups, vips,
// allowedAddressPairs and state replace the config's values. Unknown keys in
// args.cni and runtimeConfig are ignored (they may be meant for other plugins
// of the chain); unknown top-level keys are refused (a typo such as
// "securityGroup" must not silently open a port).
#ifndef VFGUARD_CNI_CONFIG_H_
#define VFGUARD_CNI_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::cni {

using agentctl::Json;

inline constexpr absl::string_view kNewestVersion = "1.1.0";
// CNI specification versions this plugin implements.
const std::vector<std::string>& SupportedVersions();

struct AddressPair {
  std::string ip_address;
  std::string mac_address;  // may be empty
  bool operator==(const AddressPair&) const = default;
};

struct AttachmentKey {
  std::string container_id;
  std::string ifname;
  bool operator==(const AttachmentKey&) const = default;
};

struct PluginConfig {
  std::string cni_version;
  std::string name;  // the network (conflist) name
  std::string type;
  std::string socket = "/run/vfguard/agent.sock";
  std::string network;  // the agent's network id
  std::vector<std::string> security_groups;
  bool port_security = true;
  std::vector<std::string> vips;
  std::vector<AddressPair> allowed_address_pairs;
  std::string state = "active";  // or "pending-activation", "inactive"
  // How the VF is found: a PCI address (runtimeConfig.deviceID wins over
  // deviceID), or an explicit VF index or representor netdev. At most one.
  std::string device_id;
  std::optional<uint32_t> vf_index;
  std::string representor;
  absl::Duration install_timeout = absl::Seconds(30);
  std::string state_dir = "/var/lib/cni/vfguard";
  std::optional<Json> prev_result;
  // GC only: cni.dev/valid-attachments.
  std::optional<std::vector<AttachmentKey>> valid_attachments;
};

// Parses stdin. Errors carry CNI codes (cni_status.h): 6 for text that is
// not a JSON object, 1 for an unsupported cniVersion, 7 for everything else;
// messages start with the field path.
absl::StatusOr<PluginConfig> ParseConfig(absl::string_view text);

// Best effort: the cniVersion of `text`, for the error object of a config
// that did not parse; the newest supported version otherwise.
std::string CniVersionOf(absl::string_view text);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_CONFIG_H_
