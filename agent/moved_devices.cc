#include "agent/moved_devices.h"

#include <map>
#include <utility>

namespace vfguard::agent {

std::set<std::string> MovedDevices(const EswitchView& last, const EswitchView& next) {
  auto by_name = [](const EswitchView& v) {
    std::map<std::string, uint32_t> out;
    if (v.uplink) out[v.uplink->name] = v.uplink->ifindex;
    for (const auto& [port, dev] : v.port_representors) out[dev.name] = dev.ifindex;
    return out;
  };
  const std::map<std::string, uint32_t> before = by_name(last);
  std::set<std::string> out;
  for (const auto& [name, ifindex] : by_name(next)) {
    auto it = before.find(name);
    if (it != before.end() && it->second != ifindex) out.insert(name);
  }
  return out;
}

void ReplaceMovedIndev(const std::set<std::string>& moved, const WantedFilters& want,
                       InstalledSet& installed, const IndevOf& indev_of) {
  if (moved.empty()) return;
  for (const auto& [key, w] : want) {
    const std::optional<std::string> indev = indev_of(w);
    if (!indev || !moved.contains(*indev)) continue;
    const std::optional<InstalledEntry> have = installed.Find(key);
    if (have && have->content == w.entry.content) installed.MarkStale(key);  // the plan replaces it
  }
}

}  // namespace vfguard::agent
