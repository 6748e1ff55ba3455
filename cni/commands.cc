#include "cni/commands.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"
#include "cni/pci.h"
#include "cni/prev_result.h"

namespace vfguard::cni {
namespace {

using agentctl::Field;
using agentctl::JsonString;

Json StringList(const std::vector<std::string>& items) {
  Json out;
  auto* list = out.mutable_list_value();
  for (const std::string& s : items) *list->add_values() = JsonString(s);
  return out;
}

std::vector<std::string> Strings(const Json* list) {
  std::vector<std::string> out;
  for (const Json* item : agentctl::Items(list)) out.push_back(agentctl::Text(item, ""));
  return out;
}

std::string Listed(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

// CHECK: one field of the agent's port against what the attachment sets.
absl::Status SameSet(const std::string& port_id, absl::string_view field,
                     const std::vector<std::string>& have, const std::vector<std::string>& want) {
  if (std::set<std::string>(have.begin(), have.end()) ==
      std::set<std::string>(want.begin(), want.end())) {
    return absl::OkStatus();
  }
  return CniStatus(kCheckMismatch,
                   absl::StrCat("port ", port_id, ": ", field, " is ", Listed(have),
                                " at the agent, the attachment sets ", Listed(want)));
}

absl::Status WaitInstalled(const CommandContext& c, const std::string& port_id) {
  const absl::Time deadline = absl::Now() + c.config.install_timeout;
  std::string last = "no status yet";
  for (;;) {
    absl::StatusOr<std::optional<Json>> status = c.agent->PortStatus(port_id);
    if (!status.ok()) return status.status();
    if (!status->has_value()) {
      return CniStatus(kNotInstalled, absl::StrCat("port ", port_id,
                                                   ": deleted by someone else while vfguard "
                                                   "waited for it to be installed"));
    }
    if (agentctl::Truthy(Field(**status, "installed"))) return absl::OkStatus();
    last = absl::StrCat(
        "representor ", agentctl::FieldText(**status, "representor", "(unknown)"),
        agentctl::Truthy(Field(**status, "representor_present")) ? " present" : " absent");
    if (absl::Now() >= deadline) break;
    absl::SleepFor(
        std::min(c.poll_interval, std::max(deadline - absl::Now(), absl::ZeroDuration())));
  }
  return CniStatus(
      kNotInstalled,
      absl::StrCat("port ", port_id, ": the agent did not install it within ",
                   absl::FormatDuration(c.config.install_timeout)),
      absl::StrCat(last, "; see `agentctl port show ", port_id, "` and the agent's log"));
}

}  // namespace

absl::StatusOr<PortSpec> PortSpecFor(const CommandContext& c) {
  if (!c.config.prev_result.has_value()) {
    return CniStatus(kInvalidConfig,
                     "prevResult: required; vfguard is a chained plugin: put it after sriov or "
                     "host-device in the conflist");
  }
  absl::StatusOr<ContainerInterface> itf = FromPrevResult(*c.config.prev_result, c.env.ifname);
  if (!itf.ok()) return itf.status();
  absl::StatusOr<std::map<std::string, std::string>> args = ParseCniArgs(c.env.args);
  if (!args.ok()) return args.status();
  PortSpec spec;
  spec.id = PortId(*args, c.env.container_id, c.env.ifname);
  spec.mac = absl::AsciiStrToLower(itf->mac);
  spec.fixed_ips = itf->ips;
  if (c.config.vf_index.has_value()) {
    spec.vf_index = c.config.vf_index;
  } else if (!c.config.representor.empty()) {
    spec.representor = c.config.representor;
  } else if (!c.config.device_id.empty()) {
    absl::StatusOr<VfLocation> vf = ResolveVf(c.sysfs_root, c.config.device_id);
    if (!vf.ok()) return vf.status();
    spec.vf_index = vf->index;
  } else {
    return CniStatus(kInvalidConfig,
                     "deviceID: required; give deviceID (or runtimeConfig.deviceID, as the SR-IOV "
                     "device plugin passes it), vfIndex or representor");
  }
  return spec;
}

Json PortBody(const PortSpec& spec, const PluginConfig& config) {
  Json body;
  auto& f = *body.mutable_struct_value()->mutable_fields();
  f["network_id"] = JsonString(config.network);
  f["mac_address"] = JsonString(spec.mac);
  f["fixed_ips"] = StringList(spec.fixed_ips);
  f["vips"] = StringList(config.vips);
  f["security_group_ids"] = StringList(config.security_groups);
  f["port_security_enabled"] = agentctl::JsonBool(config.port_security);
  f["state"] = JsonString(config.state);
  Json pairs;
  pairs.mutable_list_value();
  for (const AddressPair& p : config.allowed_address_pairs) {
    Json pair;
    auto& pf = *pair.mutable_struct_value()->mutable_fields();
    pf["ip_address"] = JsonString(p.ip_address);
    if (!p.mac_address.empty()) pf["mac_address"] = JsonString(p.mac_address);
    *pairs.mutable_list_value()->add_values() = pair;
  }
  f["allowed_address_pairs"] = pairs;
  if (spec.vf_index.has_value()) {
    f["vf_index"].set_number_value(*spec.vf_index);
  } else {
    f["representor_name"] = JsonString(spec.representor);
  }
  return body;
}

absl::StatusOr<std::string> RunAdd(const CommandContext& c) {
  absl::StatusOr<PortSpec> spec = PortSpecFor(c);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<Json> stored = c.agent->PutPort(spec->id, PortBody(*spec, c.config));
  if (!stored.ok()) return stored.status();
  // Remembered before waiting: a timed-out ADD is followed by a DEL, and GC
  // must find the port too.
  if (absl::Status s = c.store->Save({c.env.container_id, c.env.ifname, spec->id, spec->mac});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WaitInstalled(c, spec->id); !s.ok()) return s;
  Json result = *c.config.prev_result;
  (*result.mutable_struct_value()->mutable_fields())["cniVersion"] =
      JsonString(c.config.cni_version);
  return agentctl::ToJson(result) + "\n";
}

absl::StatusOr<std::string> RunCheck(const CommandContext& c) {
  absl::StatusOr<PortSpec> spec = PortSpecFor(c);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::optional<Json>> port = c.agent->GetPort(spec->id);
  if (!port.ok()) return port.status();
  if (!port->has_value()) {
    return CniStatus(kCheckMismatch,
                     absl::StrCat("port ", spec->id, ": the agent has no such port"));
  }
  const Json& p = **port;
  const std::string mac = absl::AsciiStrToLower(agentctl::FieldText(p, "mac_address", ""));
  const std::string network = agentctl::FieldText(p, "network_id", "");
  std::vector<absl::Status> checks = {
      SameSet(spec->id, "mac_address", {mac}, {spec->mac}),
      SameSet(spec->id, "network_id", {network}, {c.config.network}),
      SameSet(spec->id, "fixed_ips", Strings(Field(p, "fixed_ips")), spec->fixed_ips),
      SameSet(spec->id, "security_group_ids", Strings(Field(p, "security_group_ids")),
              c.config.security_groups),
      SameSet(spec->id, "vips", Strings(Field(p, "vips")), c.config.vips),
  };
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  const Json* security = Field(p, "port_security_enabled");
  bool enabled = security == nullptr || agentctl::Truthy(security);
  if (enabled != c.config.port_security) {
    return CniStatus(kCheckMismatch,
                     absl::StrCat("port ", spec->id, ": port_security_enabled is ",
                                  enabled ? "true" : "false", " at the agent, the attachment sets ",
                                  c.config.port_security ? "true" : "false"));
  }
  absl::StatusOr<std::optional<Json>> status = c.agent->PortStatus(spec->id);
  if (!status.ok()) return status.status();
  if (!status->has_value() || !agentctl::Truthy(Field(**status, "installed"))) {
    return CniStatus(kNotInstalled,
                     absl::StrCat("port ", spec->id, ": not installed by the agent now"),
                     "see `agentctl port show " + spec->id + "` and the agent's log");
  }
  return std::string();
}

}  // namespace vfguard::cni
