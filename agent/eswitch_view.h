// Finds the netdevs of the uplink and of the desired ports' representors,
// from the configuration and the links the kernel has right now.
//
// map mode: the uplink and VF representors are named in the configuration
// (VF index -> netdev); a port may also name its representor netdev itself.
// devlink mode: the uplink is the netdev whose phys_port_name is "p0" and
// VF N's representor the one named "pf0vfN" with the same phys_switch_id, as
// mlx5 representors identify themselves (this is what devlink's port dump
// reports as well, without a devlink round trip per link event).
#ifndef VFGUARD_AGENT_ESWITCH_VIEW_H_
#define VFGUARD_AGENT_ESWITCH_VIEW_H_

#include <map>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/reconciler.h"
#include "netlink/link_monitor.h"
#include "policy/model.h"

namespace vfguard::agent {

struct ResolvedEswitch {
  EswitchView view;
  // Port id -> the representor netdev name it should have (empty when even
  // the name is unknown), for ports whose representor is missing now.
  std::map<std::string, std::string> missing;
  std::string uplink_name;  // what the uplink should be called, for messages
};

ResolvedEswitch ResolveEswitch(const EswitchConfig& config, const policy::Snapshot& desired,
                               const std::map<int, netlink::Link>& links);

// The representor netdev name the port names or maps to; empty if unknown.
std::string RepresentorName(const EswitchConfig& config, const policy::Port& port,
                            const std::map<int, netlink::Link>& links);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_ESWITCH_VIEW_H_
