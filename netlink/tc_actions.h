// tc actions <-> TCA_FLOWER_ACT, driven by a table of action kinds
// ("gact", "ct", "mirred", "vlan") in tc_actions.cc.
#ifndef VFGUARD_NETLINK_TC_ACTIONS_H_
#define VFGUARD_NETLINK_TC_ACTIONS_H_

#include <vector>

#include "absl/status/status.h"
#include "netlink/tc_types.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink::tc_actions {

inline constexpr size_t kMaxActions = 32;  // TCA_ACT_MAX_PRIO

// Rejects actions the kernel would refuse or reinterpret. Names the action
// by position.
absl::Status ValidateActions(const std::vector<TcAction>& actions);

// Writes the TCA_FLOWER_ACT nest (`nest_type`), one entry per action in order.
void EncodeActions(const std::vector<TcAction>& actions, uint16_t nest_type,
                   tc_wire::AttrWriter& writer);

// Reads the TCA_FLOWER_ACT nest: actions ordered by their slot, with stats.
// Unsupported kinds or options the types cannot represent (NAT, ct mark,
// random gact, ingress mirred, ...) are errors, never silently dropped.
absl::StatusOr<std::vector<TcAction>> DecodeActions(const nlattr* nest);

}  // namespace vfguard::netlink::tc_actions

#endif  // VFGUARD_NETLINK_TC_ACTIONS_H_
