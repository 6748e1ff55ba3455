// Agent configuration: a JSON file (api/config.proto) and command-line flags;
// a flag wins over the file.
//
// Why JSON through a proto message rather than key=value: the policy file is
// already JSON through protobuf, so operators learn one syntax, unknown keys
// are refused by name for free, and the representor map (VF index -> netdev)
// is a plain JSON object instead of an invented key syntax.
//
// Flags (each may be `--name=value` or `--name value`):
//   --config=FILE          the JSON file; without it, defaults + flags only
//   --state_dir, --policy_file, --eswitch_mode, --devlink_device, --uplink,
//   --representor=VF=NETDEV (repeatable; any use replaces the file's whole map),
//   --block_index (decimal or 0x hex), --ct_zone_min, --ct_zone_max,
//   --api_socket, --api_write_group, --api_read_group, --api_socket_mode (octal),
//   --metrics_listen, --log_level
// File fields have the same names, with eswitch_mode, devlink_device, uplink
// and representors nested under "eswitch" (as mode, devlink_device, ...).
//
// Errors name the field: `--block_index: "12x" is not a number`,
// `config /etc/vfguard/agent.json: eswitch.bogus: unknown field`, and, after
// merging, `eswitch.devlink_device (--devlink_device): "pci/3:0" is not a
// devlink PCI handle (pci/DDDD:BB:DD.F)`.
#ifndef VFGUARD_AGENT_CONFIG_H_
#define VFGUARD_AGENT_CONFIG_H_

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/log.h"

namespace vfguard::agent {

inline constexpr char kDefaultStateDir[] = "/var/lib/vfguard";
inline constexpr char kDefaultApiSocket[] = "/run/vfguard/agent.sock";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9477";
// The shared tc block. 0x766667 is "vfg" in ASCII: far from the small numbers
// people pick by hand with `tc qdisc add ... ingress_block N`, and easy to
// recognise in `tc filter show block`. 0 is not a block (it means "private").
inline constexpr uint32_t kDefaultBlockIndex = 0x766667;
// Zone 0 is the kernel's default zone, used by host netfilter; never ours.
inline constexpr uint16_t kDefaultCtZoneMin = 1;
inline constexpr uint16_t kDefaultCtZoneMax = 65535;

enum class EswitchMode : uint8_t {
  kDevlink,  // uplink and VF representors discovered from the devlink device
  kMap,      // uplink and representors named explicitly
};

struct EswitchConfig {
  EswitchMode mode = EswitchMode::kDevlink;
  std::string devlink_device;                    // devlink: "pci/0000:03:00.0"
  std::string uplink;                            // map: uplink representor netdev
  std::map<uint32_t, std::string> representors;  // map: VF index -> representor netdev
  auto operator<=>(const EswitchConfig&) const = default;
};

struct AgentConfig {
  std::string state_dir = kDefaultStateDir;
  std::string policy_file;  // empty: start from the checkpoint or an empty state
  EswitchConfig eswitch;
  uint32_t block_index = kDefaultBlockIndex;
  uint16_t ct_zone_min = kDefaultCtZoneMin;
  uint16_t ct_zone_max = kDefaultCtZoneMax;
  std::string api_socket = kDefaultApiSocket;
  std::string metrics_listen = kDefaultMetricsListen;  // host:port or [v6]:port
  std::string api_write_group;                         // group name; empty: root only
  std::string api_read_group;                          // group name; empty: none
  uint32_t api_socket_mode = 0660;
  common::LogLevel log_level = common::LogLevel::kInfo;
  auto operator<=>(const AgentConfig&) const = default;

  std::string CheckpointPath() const { return state_dir + "/state.pb"; }
  // The reconciler's record of what it installed (agent/installed_record.h).
  std::string InstalledRecordPath() const { return state_dir + "/installed.rec"; }
};

// Parses the command line (without argv[0]), reading the --config file if
// given, and validates the result. Nothing is read besides that file. --help
// is not a flag here: callers check for it and print AgentConfigUsage().
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::vector<std::string>& args);

// A config file's content with defaults for absent fields, not yet validated
// (flags may still fix it). Errors carry no file name.
absl::StatusOr<AgentConfig> AgentConfigFromJson(std::string_view json);

// Checks a merged configuration; the first problem, naming the field.
absl::Status ValidateAgentConfig(const AgentConfig& config);

// One line per flag, for --help.
std::string AgentConfigUsage();

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_CONFIG_H_
