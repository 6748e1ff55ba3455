#include "cni/config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"
#include "cni/pci.h"

namespace vfguard::cni {
namespace {

using agentctl::Field;

// Keys of the conflist entry vfguard reads, and the spec's keys a runtime may
// put beside them (ignored).
const std::set<std::string, std::less<>>& KnownKeys() {
  static const auto* keys = new std::set<std::string, std::less<>>{"cniVersion",
                                                                   "name",
                                                                   "type",
                                                                   "socket",
                                                                   "network",
                                                                   "securityGroups",
                                                                   "portSecurity",
                                                                   "vips",
                                                                   "allowedAddressPairs",
                                                                   "deviceID",
                                                                   "vfIndex",
                                                                   "representor",
                                                                   "installTimeoutSeconds",
                                                                   "stateDir",
                                                                   "runtimeConfig",
                                                                   "args",
                                                                   "prevResult",
                                                                   "cni.dev/valid-attachments",
                                                                   "capabilities",
                                                                   "ipam",
                                                                   "dns",
                                                                   "ipMasq"};
  return *keys;
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return CniStatus(kInvalidConfig, absl::StrCat(path, ": ", what));
}

absl::Status GetString(const Json& obj, std::string_view key, absl::string_view path,
                       std::string& out, bool required = false) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return required ? Invalid(path, "required") : absl::OkStatus();
  if (v->kind_case() != Json::kStringValue) return Invalid(path, "must be a string");
  if (required && v->string_value().empty()) return Invalid(path, "must not be empty");
  out = v->string_value();
  return absl::OkStatus();
}

absl::Status GetStringList(const Json& obj, std::string_view key, absl::string_view path,
                           std::optional<std::vector<std::string>>& out) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Json::kListValue) return Invalid(path, "must be a list of strings");
  std::vector<std::string> items;
  for (int i = 0; i < v->list_value().values_size(); ++i) {
    const Json& item = v->list_value().values(i);
    if (item.kind_case() != Json::kStringValue || item.string_value().empty()) {
      return Invalid(absl::StrCat(path, "[", i, "]"), "must be a non-empty string");
    }
    items.push_back(item.string_value());
  }
  out = std::move(items);
  return absl::OkStatus();
}

absl::Status GetAddressPairs(const Json& obj, std::string_view key, absl::string_view path,
                             std::optional<std::vector<AddressPair>>& out) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Json::kListValue) return Invalid(path, "must be a list of objects");
  std::vector<AddressPair> pairs;
  for (int i = 0; i < v->list_value().values_size(); ++i) {
    const Json& item = v->list_value().values(i);
    std::string at = absl::StrCat(path, "[", i, "]");
    if (item.kind_case() != Json::kStructValue) {
      return Invalid(at, R"(must be an object {"ipAddress": ..., "macAddress": ...})");
    }
    for (const auto& [k, unused] : item.struct_value().fields()) {
      if (k != "ipAddress" && k != "macAddress") {
        return Invalid(absl::StrCat(at, ".", k), "unknown field (ipAddress, macAddress)");
      }
    }
    AddressPair pair;
    if (absl::Status s = GetString(item, "ipAddress", at + ".ipAddress", pair.ip_address, true);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = GetString(item, "macAddress", at + ".macAddress", pair.mac_address);
        !s.ok()) {
      return s;
    }
    pairs.push_back(std::move(pair));
  }
  out = std::move(pairs);
  return absl::OkStatus();
}

absl::Status CheckState(absl::string_view path, const std::string& state) {
  if (state == "active" || state == "pending-activation" || state == "inactive") {
    return absl::OkStatus();
  }
  return Invalid(
      path, absl::StrCat("\"", state, "\" is not one of active, pending-activation, inactive"));
}

absl::Status ParseVfSelection(const Json& root, PluginConfig& c) {
  if (absl::Status s = GetString(root, "deviceID", "deviceID", c.device_id); !s.ok()) return s;
  std::string where = "deviceID";
  if (const Json* rc = Field(root, "runtimeConfig"); rc != nullptr) {
    if (rc->kind_case() != Json::kStructValue) return Invalid("runtimeConfig", "must be an object");
    if (Field(*rc, "deviceID") != nullptr) {
      where = "runtimeConfig.deviceID";
      if (absl::Status s = GetString(*rc, "deviceID", where, c.device_id); !s.ok()) return s;
    }
  }
  if (!c.device_id.empty() && !IsPciAddress(c.device_id)) {
    return Invalid(where,
                   absl::StrCat("\"", c.device_id, "\" is not a PCI address (like 0000:03:00.2)"));
  }
  if (const Json* v = Field(root, "vfIndex"); v != nullptr) {
    double d = v->number_value();
    if (v->kind_case() != Json::kNumberValue || d < 0 || d > 65535 || d != std::floor(d)) {
      return Invalid("vfIndex", "must be an integer 0-65535");
    }
    c.vf_index = static_cast<uint32_t>(d);
  }
  if (absl::Status s = GetString(root, "representor", "representor", c.representor); !s.ok()) {
    return s;
  }
  int given = (c.device_id.empty() ? 0 : 1) + (c.vf_index.has_value() ? 1 : 0) +
              (c.representor.empty() ? 0 : 1);
  if (given > 1) {
    return Invalid("vfIndex", absl::StrCat("give one of ", where, ", vfIndex and representor"));
  }
  return absl::OkStatus();
}

absl::Status ParseOverrides(const Json& root, PluginConfig& c) {
  const Json* args = Field(root, "args");
  if (args == nullptr) return absl::OkStatus();
  if (args->kind_case() != Json::kStructValue) return Invalid("args", "must be an object");
  const Json* cni = Field(*args, "cni");
  if (cni == nullptr) return absl::OkStatus();
  if (cni->kind_case() != Json::kStructValue) return Invalid("args.cni", "must be an object");
  std::optional<std::vector<std::string>> groups, vips;
  std::optional<std::vector<AddressPair>> pairs;
  if (absl::Status s = GetStringList(*cni, "securityGroups", "args.cni.securityGroups", groups);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = GetStringList(*cni, "vips", "args.cni.vips", vips); !s.ok()) return s;
  if (absl::Status s =
          GetAddressPairs(*cni, "allowedAddressPairs", "args.cni.allowedAddressPairs", pairs);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = GetString(*cni, "state", "args.cni.state", c.state); !s.ok()) return s;
  if (absl::Status s = CheckState("args.cni.state", c.state); !s.ok()) return s;
  if (groups) c.security_groups = *groups;
  if (vips) c.vips = *vips;
  if (pairs) c.allowed_address_pairs = *pairs;
  return absl::OkStatus();
}

absl::Status ParseValidAttachments(const Json& root, PluginConfig& c) {
  constexpr const char* kKey = "cni.dev/valid-attachments";
  const Json* v = Field(root, kKey);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Json::kListValue) return Invalid(kKey, "must be a list of objects");
  std::vector<AttachmentKey> keys;
  for (int i = 0; i < v->list_value().values_size(); ++i) {
    const Json& item = v->list_value().values(i);
    std::string at = absl::StrCat(kKey, "[", i, "]");
    if (item.kind_case() != Json::kStructValue) return Invalid(at, "must be an object");
    AttachmentKey k;
    if (absl::Status s = GetString(item, "containerID", at + ".containerID", k.container_id, true);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = GetString(item, "ifname", at + ".ifname", k.ifname, true); !s.ok()) {
      return s;
    }
    keys.push_back(std::move(k));
  }
  c.valid_attachments = std::move(keys);
  return absl::OkStatus();
}

absl::Status ParseBasics(const Json& root, PluginConfig& c) {
  if (absl::Status s = GetString(root, "cniVersion", "cniVersion", c.cni_version, true); !s.ok()) {
    return s;
  }
  const auto& versions = SupportedVersions();
  if (std::find(versions.begin(), versions.end(), c.cni_version) == versions.end()) {
    return CniStatus(kIncompatibleVersion,
                     absl::StrCat("cniVersion: \"", c.cni_version, "\" is not supported (",
                                  absl::StrJoin(versions, ", "), ")"));
  }
  if (absl::Status s = GetString(root, "name", "name", c.name, true); !s.ok()) return s;
  if (absl::Status s = GetString(root, "type", "type", c.type); !s.ok()) return s;
  if (absl::Status s = GetString(root, "socket", "socket", c.socket); !s.ok()) return s;
  if (c.socket.empty()) return Invalid("socket", "must not be empty");
  if (absl::Status s = GetString(root, "network", "network", c.network, true); !s.ok()) return s;
  if (absl::Status s = GetString(root, "stateDir", "stateDir", c.state_dir); !s.ok()) return s;
  if (c.state_dir.empty() || c.state_dir[0] != '/') {
    return Invalid("stateDir", "must be an absolute path");
  }
  if (const Json* v = Field(root, "portSecurity"); v != nullptr) {
    if (v->kind_case() != Json::kBoolValue) return Invalid("portSecurity", "must be true or false");
    c.port_security = v->bool_value();
  }
  if (const Json* v = Field(root, "installTimeoutSeconds"); v != nullptr) {
    if (v->kind_case() != Json::kNumberValue || !(v->number_value() > 0) ||
        v->number_value() > 600) {
      return Invalid("installTimeoutSeconds",
                     "must be a number of seconds, more than 0, at most 600");
    }
    c.install_timeout = absl::Seconds(v->number_value());
  }
  return absl::OkStatus();
}

absl::Status ParseLists(const Json& root, PluginConfig& c) {
  std::optional<std::vector<std::string>> groups, vips;
  std::optional<std::vector<AddressPair>> pairs;
  if (absl::Status s = GetStringList(root, "securityGroups", "securityGroups", groups); !s.ok()) {
    return s;
  }
  if (absl::Status s = GetStringList(root, "vips", "vips", vips); !s.ok()) return s;
  if (absl::Status s = GetAddressPairs(root, "allowedAddressPairs", "allowedAddressPairs", pairs);
      !s.ok()) {
    return s;
  }
  c.security_groups = groups.value_or(std::vector<std::string>{});
  c.vips = vips.value_or(std::vector<std::string>{});
  c.allowed_address_pairs = pairs.value_or(std::vector<AddressPair>{});
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& SupportedVersions() {
  static const auto* versions = new std::vector<std::string>{"1.0.0", "1.1.0"};
  return *versions;
}

absl::StatusOr<PluginConfig> ParseConfig(absl::string_view text) {
  absl::StatusOr<Json> root = agentctl::ParseJson(std::string_view(text.data(), text.size()));
  if (!root.ok()) {
    return CniStatus(
        kDecodeFailure,
        absl::StrCat("the network configuration on stdin is not JSON: ", root.status().message()));
  }
  if (root->kind_case() != Json::kStructValue) {
    return CniStatus(kDecodeFailure, "the network configuration on stdin is not a JSON object");
  }
  PluginConfig c;
  if (absl::Status s = ParseBasics(*root, c); !s.ok()) return s;
  std::vector<std::string> keys;
  for (const auto& [k, unused] : root->struct_value().fields()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const std::string& k : keys) {
    if (!KnownKeys().contains(k)) {
      return CniStatus(kInvalidConfig, absl::StrCat(k, ": unknown field"),
                       "vfguard reads cniVersion, name, type, socket, network, securityGroups, "
                       "portSecurity, vips, allowedAddressPairs, deviceID, vfIndex, representor, "
                       "installTimeoutSeconds, stateDir, runtimeConfig, args, prevResult");
    }
  }
  if (absl::Status s = ParseLists(*root, c); !s.ok()) return s;
  if (absl::Status s = ParseVfSelection(*root, c); !s.ok()) return s;
  if (absl::Status s = ParseOverrides(*root, c); !s.ok()) return s;
  if (absl::Status s = ParseValidAttachments(*root, c); !s.ok()) return s;
  if (const Json* prev = Field(*root, "prevResult"); prev != nullptr) {
    if (prev->kind_case() != Json::kStructValue) return Invalid("prevResult", "must be an object");
    c.prev_result = *prev;
  }
  return c;
}

std::string CniVersionOf(absl::string_view text) {
  absl::StatusOr<Json> root = agentctl::ParseJson(std::string_view(text.data(), text.size()));
  if (root.ok()) {
    if (const Json* v = Field(*root, "cniVersion");
        v != nullptr && v->kind_case() == Json::kStringValue && !v->string_value().empty()) {
      return v->string_value();
    }
  }
  return std::string(kNewestVersion);
}

}  // namespace vfguard::cni
