#include "agent/config.h"

#include <cctype>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/config.pb.h"
#include "common/file_io.h"
#include "common/json_message.h"
#include "common/status_macros.h"

namespace vfguard::agent {
namespace {

namespace pb = ::vfguard::api::v1;

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", std::string(s), "\""); }

absl::StatusOr<EswitchMode> ParseMode(const std::string& field, std::string_view text) {
  if (text == "devlink") return EswitchMode::kDevlink;
  if (text == "map") return EswitchMode::kMap;
  return Invalid(field, absl::StrCat(Quote(text), " is not one of devlink, map"));
}

absl::StatusOr<uint16_t> Zone(const std::string& field, uint64_t value) {
  if (value > UINT16_MAX) return Invalid(field, absl::StrCat(value, " is out of range 1-65535"));
  return static_cast<uint16_t>(value);
}

// Decimal, or hex with a 0x prefix; the whole text, no sign, no overflow.
std::optional<uint64_t> ParseNumber(std::string_view text, uint64_t max) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c))) {
      digit = std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (value > (max - digit) / base) return std::nullopt;
    value = value * base + digit;
  }
  return value;
}

absl::StatusOr<uint64_t> FlagNumber(const std::string& flag, std::string_view text, uint64_t max) {
  std::optional<uint64_t> n = ParseNumber(text, max);
  if (!n) {
    return Invalid(flag, absl::StrCat(Quote(text), " is not a number in range 0-", max));
  }
  return *n;
}

bool ValidNetdevName(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || std::isspace(c) || c < ' ' || c == 0x7f) return false;
  }
  return true;
}

bool HexRun(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (unsigned char c : s) {
    if (!std::isxdigit(c)) return false;
  }
  return true;
}

// "pci/DDDD:BB:DD.F" (domain 4-8 hex digits, function 0-7).
bool ValidDevlinkPciHandle(std::string_view h) {
  if (h.substr(0, 4) != "pci/") return false;
  h.remove_prefix(4);
  size_t c1 = h.find(':');
  if (c1 == std::string_view::npos || !HexRun(h.substr(0, c1), 4, 8)) return false;
  h.remove_prefix(c1 + 1);
  return h.size() == 7 && HexRun(h.substr(0, 2), 2, 2) && h[2] == ':' &&
         HexRun(h.substr(3, 2), 2, 2) && h[5] == '.' && h[6] >= '0' && h[6] <= '7';
}

// "host:port" or "[v6]:port".
absl::Status CheckListen(const std::string& field, const std::string& listen) {
  std::string_view host, port;
  std::string_view text(listen);
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Invalid(field, absl::StrCat(Quote(listen), " is not [address]:port"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Invalid(field, absl::StrCat(Quote(listen), " is not host:port"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Invalid(field, absl::StrCat(Quote(listen),
                                         " needs brackets around an IPv6 address ([::1]:port)"));
    }
  }
  if (host.empty()) return Invalid(field, absl::StrCat(Quote(listen), " has no host"));
  std::optional<uint64_t> p = ParseNumber(port, 65535);
  if (!p || *p == 0 || port.substr(0, 2) == "0x") {
    return Invalid(field, absl::StrCat(Quote(listen), " has no valid port (1-65535)"));
  }
  return absl::OkStatus();
}

absl::Status CheckAbsolute(const std::string& field, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(field, absl::StrCat(Quote(path), " is not an absolute path"));
  }
  return absl::OkStatus();
}
// Octal permission bits, e.g. "0660".
absl::StatusOr<uint32_t> SocketMode(const std::string& field, std::string_view v) {
  uint32_t mode = 0;
  bool ok = !v.empty() && v.size() <= 4;
  for (char ch : v) {
    if (ch < '0' || ch > '7') ok = false;
    mode = mode * 8 + static_cast<uint32_t>(ch - '0');
  }
  if (!ok || mode > 0777) {
    return Invalid(field, absl::StrCat(Quote(v), " is not an octal file mode (e.g. 0660)"));
  }
  return mode;
}

absl::StatusOr<AgentConfig> FromProto(const pb::AgentConfig& in) {
  AgentConfig out;
  if (!in.state_dir().empty()) out.state_dir = in.state_dir();
  out.policy_file = in.policy_file();
  if (!in.eswitch().mode().empty()) {
    VFG_ASSIGN_OR_RETURN(out.eswitch.mode, ParseMode("eswitch.mode", in.eswitch().mode()));
  }
  out.eswitch.devlink_device = in.eswitch().devlink_device();
  out.eswitch.uplink = in.eswitch().uplink();
  out.eswitch.representors.insert(in.eswitch().representors().begin(),
                                  in.eswitch().representors().end());
  if (in.has_block_index()) out.block_index = in.block_index();
  if (in.has_ct_zone_min()) {
    VFG_ASSIGN_OR_RETURN(out.ct_zone_min, Zone("ct_zone_min", in.ct_zone_min()));
  }
  if (in.has_ct_zone_max()) {
    VFG_ASSIGN_OR_RETURN(out.ct_zone_max, Zone("ct_zone_max", in.ct_zone_max()));
  }
  if (!in.api_socket().empty()) out.api_socket = in.api_socket();
  if (!in.metrics_listen().empty()) out.metrics_listen = in.metrics_listen();
  out.api_write_group = in.api_write_group();
  out.api_read_group = in.api_read_group();
  if (!in.api_socket_mode().empty()) {
    VFG_ASSIGN_OR_RETURN(out.api_socket_mode, SocketMode("api_socket_mode", in.api_socket_mode()));
  }
  if (!in.log_level().empty()) {
    absl::StatusOr<common::LogLevel> level = common::ParseLogLevel(in.log_level());
    if (!level.ok()) return Invalid("log_level", std::string(level.status().message()));
    out.log_level = *level;
  }
  return out;
}

// A flag's effect on the config; `flag` is "--name" for error messages.
using FlagSetter =
    std::function<absl::Status(AgentConfig&, const std::string& flag, std::string_view value)>;

struct Flag {
  const char* name;
  const char* help;
  FlagSetter set;
};

FlagSetter SetString(std::string AgentConfig::*field) {
  return [field](AgentConfig& c, const std::string&, std::string_view v) {
    c.*field = std::string(v);
    return absl::OkStatus();
  };
}

FlagSetter SetZone(uint16_t AgentConfig::*field) {
  return [field](AgentConfig& c, const std::string& flag, std::string_view v) -> absl::Status {
    VFG_ASSIGN_OR_RETURN(uint64_t n, FlagNumber(flag, v, UINT16_MAX));
    c.*field = static_cast<uint16_t>(n);
    return absl::OkStatus();
  };
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> kFlags = {
      {"state_dir", "directory for the checkpoint (default /var/lib/vfguard)",
       SetString(&AgentConfig::state_dir)},
      {"policy_file",
       "JSON desired state, applied at start, on SIGHUP and when it changes (see docs/api.md)",
       SetString(&AgentConfig::policy_file)},
      {"eswitch_mode", "devlink (discover by --devlink_device) or map (--uplink, --representor)",
       [](AgentConfig& c, const std::string& flag, std::string_view v) -> absl::Status {
         VFG_ASSIGN_OR_RETURN(c.eswitch.mode, ParseMode(flag, v));
         return absl::OkStatus();
       }},
      {"devlink_device", "devlink handle of the eswitch, e.g. pci/0000:03:00.0",
       [](AgentConfig& c, const std::string&, std::string_view v) {
         c.eswitch.devlink_device = std::string(v);
         return absl::OkStatus();
       }},
      {"uplink", "uplink representor netdev (map mode)",
       [](AgentConfig& c, const std::string&, std::string_view v) {
         c.eswitch.uplink = std::string(v);
         return absl::OkStatus();
       }},
      {"representor", "VF=NETDEV, repeatable (map mode); replaces the file's map", nullptr},
      {"block_index", "shared tc block index, decimal or 0x hex (default 0x766667)",
       [](AgentConfig& c, const std::string& flag, std::string_view v) -> absl::Status {
         VFG_ASSIGN_OR_RETURN(uint64_t n, FlagNumber(flag, v, UINT32_MAX));
         c.block_index = static_cast<uint32_t>(n);
         return absl::OkStatus();
       }},
      {"ct_zone_min", "first conntrack zone for ports (default 1)",
       SetZone(&AgentConfig::ct_zone_min)},
      {"ct_zone_max", "last conntrack zone for ports (default 65535)",
       SetZone(&AgentConfig::ct_zone_max)},
      {"api_socket", "unix socket of the JSON API (default /run/vfguard/agent.sock)",
       SetString(&AgentConfig::api_socket)},
      {"api_write_group", "group whose members may write through the API (default: root only)",
       SetString(&AgentConfig::api_write_group)},
      {"api_read_group", "group whose members may read through the API (default: none)",
       SetString(&AgentConfig::api_read_group)},
      {"api_socket_mode", "octal mode of the API socket file (default 0660)",
       [](AgentConfig& c, const std::string& flag, std::string_view v) -> absl::Status {
         VFG_ASSIGN_OR_RETURN(c.api_socket_mode, SocketMode(flag, v));
         return absl::OkStatus();
       }},
      {"metrics_listen", "host:port of the Prometheus listener (default 127.0.0.1:9477)",
       SetString(&AgentConfig::metrics_listen)},
      {"log_level", "debug, info, warn or error (default info)",
       [](AgentConfig& c, const std::string& flag, std::string_view v) -> absl::Status {
         absl::StatusOr<common::LogLevel> level = common::ParseLogLevel(v);
         if (!level.ok()) return Invalid(flag, std::string(level.status().message()));
         c.log_level = *level;
         return absl::OkStatus();
       }},
  };
  return kFlags;
}

absl::Status AddRepresentor(AgentConfig& c, const std::string& flag, std::string_view v) {
  size_t eq = v.find('=');
  std::optional<uint64_t> vf =
      eq == std::string_view::npos ? std::nullopt : ParseNumber(v.substr(0, eq), UINT32_MAX);
  if (!vf || v.substr(0, 2) == "0x") {
    return Invalid(flag, absl::StrCat(Quote(v), " is not VF=NETDEV (e.g. 3=pf0vf3)"));
  }
  auto [it, inserted] =
      c.eswitch.representors.emplace(static_cast<uint32_t>(*vf), std::string(v.substr(eq + 1)));
  if (!inserted) return Invalid(flag, absl::StrCat("VF ", *vf, " is given twice"));
  return absl::OkStatus();
}

struct ParsedArg {
  std::string flag;  // "--name"
  std::string name;
  std::string value;
};

absl::StatusOr<std::vector<ParsedArg>> SplitArgs(const std::vector<std::string>& args) {
  std::vector<ParsedArg> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", Quote(a)));
    }
    ParsedArg p;
    size_t eq = a.find('=');
    p.name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    p.flag = "--" + p.name;
    if (eq != std::string::npos) {
      p.value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size()) return Invalid(p.flag, "needs a value");
      p.value = args[++i];
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Where a merged field came from, for validation messages.
std::string Field(const char* file_path, const char* flag) {
  return absl::StrCat(file_path, " (--", flag, ")");
}

}  // namespace

absl::StatusOr<AgentConfig> AgentConfigFromJson(std::string_view json) {
  pb::AgentConfig proto;
  VFG_RETURN_IF_ERROR(common::ParseJsonMessage(json, &proto));
  return FromProto(proto);
}

absl::Status ValidateAgentConfig(const AgentConfig& c) {
  VFG_RETURN_IF_ERROR(CheckAbsolute("state_dir", c.state_dir));
  const EswitchConfig& e = c.eswitch;
  if (e.mode == EswitchMode::kDevlink) {
    std::string field = Field("eswitch.devlink_device", "devlink_device");
    if (e.devlink_device.empty()) return Invalid(field, "is required in devlink mode");
    if (!ValidDevlinkPciHandle(e.devlink_device)) {
      return Invalid(field, absl::StrCat(Quote(e.devlink_device),
                                         " is not a devlink PCI handle (pci/DDDD:BB:DD.F)"));
    }
    if (!e.uplink.empty()) {
      return Invalid(Field("eswitch.uplink", "uplink"), "is only used in map mode");
    }
    if (!e.representors.empty()) {
      return Invalid(Field("eswitch.representors", "representor"), "are only used in map mode");
    }
  } else {
    if (!e.devlink_device.empty()) {
      return Invalid(Field("eswitch.devlink_device", "devlink_device"),
                     "is only used in devlink mode");
    }
    std::string field = Field("eswitch.uplink", "uplink");
    if (e.uplink.empty()) return Invalid(field, "is required in map mode");
    if (!ValidNetdevName(e.uplink)) {
      return Invalid(field, absl::StrCat(Quote(e.uplink), " is not a valid netdev name"));
    }
    std::map<std::string, uint32_t> seen;
    for (const auto& [vf, name] : e.representors) {
      std::string rep = absl::StrCat("eswitch.representors[", vf, "] (--representor)");
      if (!ValidNetdevName(name)) {
        return Invalid(rep, absl::StrCat(Quote(name), " is not a valid netdev name"));
      }
      if (name == e.uplink) return Invalid(rep, absl::StrCat(Quote(name), " is the uplink"));
      auto [it, inserted] = seen.emplace(name, vf);
      if (!inserted) {
        return Invalid(rep, absl::StrCat(Quote(name), " is already VF ", it->second));
      }
    }
  }
  if (c.block_index == 0) {
    return Invalid("block_index", "0 is not a shared block (1-4294967295)");
  }
  if (c.ct_zone_min == 0) {
    return Invalid("ct_zone_min", "0 is the host's default zone (use 1-65535)");
  }
  if (c.ct_zone_max < c.ct_zone_min) {
    return Invalid("ct_zone_max",
                   absl::StrCat(c.ct_zone_max, " is below ct_zone_min ", c.ct_zone_min));
  }
  VFG_RETURN_IF_ERROR(CheckAbsolute("api_socket", c.api_socket));
  // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
  if (c.api_socket.size() > 107) {
    return Invalid("api_socket", absl::StrCat("path is ", c.api_socket.size(),
                                              " bytes, a unix socket path holds at most 107"));
  }
  VFG_RETURN_IF_ERROR(CheckListen("metrics_listen", c.metrics_listen));
  return absl::OkStatus();
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::vector<std::string>& args) {
  VFG_ASSIGN_OR_RETURN(std::vector<ParsedArg> parsed, SplitArgs(args));
  AgentConfig config;
  // The file first, wherever --config is on the line, so every flag wins.
  std::string config_path;
  for (const ParsedArg& a : parsed) {
    if (a.name != "config") continue;
    if (!config_path.empty()) return Invalid(a.flag, "is given twice");
    if (a.value.empty()) return Invalid(a.flag, "needs a file name");
    config_path = a.value;
  }
  if (!config_path.empty()) {
    absl::StatusOr<std::string> text = common::ReadFile(config_path);
    if (!text.ok()) {
      return absl::Status(text.status().code(), absl::StrCat("config: ", text.status().message()));
    }
    absl::StatusOr<AgentConfig> from_file = AgentConfigFromJson(*text);
    if (!from_file.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config ", config_path, ": ", from_file.status().message()));
    }
    config = std::move(*from_file);
  }
  bool representors_from_flags = false;
  for (const ParsedArg& a : parsed) {
    if (a.name == "config") continue;
    if (a.name == "representor") {
      if (!representors_from_flags) config.eswitch.representors.clear();
      representors_from_flags = true;
      VFG_RETURN_IF_ERROR(AddRepresentor(config, a.flag, a.value));
      continue;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : Flags()) {
      if (a.name == f.name) flag = &f;
    }
    if (flag == nullptr) return Invalid(a.flag, "unknown flag (see --help)");
    VFG_RETURN_IF_ERROR(flag->set(config, a.flag, a.value));
  }
  VFG_RETURN_IF_ERROR(ValidateAgentConfig(config));
  return config;
}

std::string AgentConfigUsage() {
  std::string out = absl::StrFormat("  --%-16s %s\n", "config=FILE", "JSON configuration file");
  for (const Flag& f : Flags()) absl::StrAppendFormat(&out, "  --%-16s %s\n", f.name, f.help);
  return out;
}

}  // namespace vfguard::agent
