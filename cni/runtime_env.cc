#include "cni/runtime_env.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"

namespace vfguard::cni {
namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// FNV-1a, 32 bits: stable across builds and hosts (std::hash is not).
uint32_t Fnv1a(absl::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

RuntimeEnv ReadEnv(const std::function<std::optional<std::string>(const char*)>& get) {
  RuntimeEnv env;
  env.command = get("CNI_COMMAND").value_or("");
  env.container_id = get("CNI_CONTAINERID").value_or("");
  env.netns = get("CNI_NETNS").value_or("");
  env.ifname = get("CNI_IFNAME").value_or("");
  env.args = get("CNI_ARGS").value_or("");
  env.path = get("CNI_PATH").value_or("");
  return env;
}

absl::Status RequireEnv(const RuntimeEnv& env) {
  auto need = [&](const std::string& value, absl::string_view name) {
    return value.empty() ? CniStatus(kInvalidEnvironment,
                                     absl::StrCat(name, " is not set (", env.command, " needs it)"))
                         : absl::OkStatus();
  };
  if (env.command == "ADD" || env.command == "CHECK" || env.command == "DEL") {
    if (absl::Status s = need(env.container_id, "CNI_CONTAINERID"); !s.ok()) return s;
    if (env.command != "DEL") {
      if (absl::Status s = need(env.netns, "CNI_NETNS"); !s.ok()) return s;
    }
    if (absl::Status s = need(env.ifname, "CNI_IFNAME"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view args) {
  std::map<std::string, std::string> out;
  for (absl::string_view item : absl::StrSplit(args, ';', absl::SkipEmpty())) {
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return CniStatus(kInvalidEnvironment,
                       absl::StrCat("CNI_ARGS: \"", item, "\" is not KEY=VALUE"));
    }
    out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
  }
  return out;
}

std::string PortId(const std::map<std::string, std::string>& cni_args,
                   absl::string_view container_id, absl::string_view ifname) {
  auto ns = cni_args.find("K8S_POD_NAMESPACE");
  auto pod = cni_args.find("K8S_POD_NAME");
  std::string raw;
  if (ns != cni_args.end() && pod != cni_args.end() && !ns->second.empty() &&
      !pod->second.empty()) {
    raw = absl::StrCat(ns->second, ".", pod->second, ".", ifname);
  } else {
    raw = absl::StrCat("cni.", container_id, ".", ifname);
  }
  std::string id = raw;
  bool replaced = false;
  for (char& c : id) {
    if (!IdChar(c)) {
      c = '_';
      replaced = true;
    }
  }
  if (!replaced && id.size() <= 63) return id;
  return absl::StrFormat("%s-%08x", id.substr(0, 54), Fnv1a(raw));
}

}  // namespace vfguard::cni
