#include "agent/eswitch_view.h"

#include <optional>
#include <variant>

#include "absl/strings/str_cat.h"

namespace vfguard::agent {
namespace {

std::optional<offload::Netdev> ByName(const std::map<int, netlink::Link>& links,
                                      const std::string& name) {
  if (name.empty()) return std::nullopt;
  for (const auto& [ifindex, link] : links) {
    if (link.name == name) return offload::Netdev{static_cast<uint32_t>(ifindex), link.name};
  }
  return std::nullopt;
}

// The mlx5-style uplink: phys_port_name "p0".
const netlink::Link* DevlinkUplink(const std::map<int, netlink::Link>& links) {
  for (const auto& [ifindex, link] : links) {
    if (link.phys_port_name == "p0") return &link;
  }
  return nullptr;
}

}  // namespace

std::string RepresentorName(const EswitchConfig& config, const policy::Port& port,
                            const std::map<int, netlink::Link>& links) {
  if (const auto* name = std::get_if<std::string>(&port.representor.ref)) return *name;
  const uint32_t vf = std::get<uint32_t>(port.representor.ref);
  if (config.mode == EswitchMode::kMap) {
    auto it = config.representors.find(vf);
    return it == config.representors.end() ? "" : it->second;
  }
  const netlink::Link* uplink = DevlinkUplink(links);
  const std::string wanted = absl::StrCat("pf0vf", vf);
  for (const auto& [ifindex, link] : links) {
    if (link.phys_port_name == wanted &&
        (uplink == nullptr || link.phys_switch_id == uplink->phys_switch_id)) {
      return link.name;
    }
  }
  return "";
}

ResolvedEswitch ResolveEswitch(const EswitchConfig& config, const policy::Snapshot& desired,
                               const std::map<int, netlink::Link>& links) {
  ResolvedEswitch out;
  if (config.mode == EswitchMode::kMap) {
    out.uplink_name = config.uplink;
  } else if (const netlink::Link* up = DevlinkUplink(links)) {
    out.uplink_name = up->name;
  }
  out.view.uplink = ByName(links, out.uplink_name);
  for (const auto& [id, port] : desired.ports) {
    std::string name = RepresentorName(config, port, links);
    std::optional<offload::Netdev> dev = ByName(links, name);
    // A representor may serve one port only, and never be the uplink.
    if (dev && out.view.uplink && dev->ifindex == out.view.uplink->ifindex) dev.reset();
    if (dev) {
      out.view.port_representors[id] = *dev;
    } else {
      out.missing[id] = name;
    }
  }
  return out;
}

}  // namespace vfguard::agent
