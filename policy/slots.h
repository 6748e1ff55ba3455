// Stable slot and conntrack-zone assignment for ports and networks.
#ifndef VFGUARD_POLICY_SLOTS_H_
#define VFGUARD_POLICY_SLOTS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "policy/model.h"

namespace vfguard::policy {

// Stable small integers assigned by the agent (and checkpointed), so that
// chain numbers and conntrack zones never depend on arrival order.
struct SlotAssignment {
  std::map<std::string, uint32_t> port_slot;     // port id -> slot, 1..kMaxPortSlot
  std::map<std::string, uint16_t> port_zone;     // port id -> conntrack zone, 1..65535
  std::map<std::string, uint32_t> network_slot;  // network id -> slot, 1..kMaxNetworkSlot
  auto operator<=>(const SlotAssignment&) const = default;
};

inline constexpr uint32_t kMaxPortSlot = 1u << 20;
inline constexpr uint32_t kMaxNetworkSlot = 1u << 16;

// Assigns slots/zones to ports and networks of `snapshot` that lack one,
// keeping every existing assignment; drops assignments of removed objects.
// New objects get the lowest free value, in id order. Zones come from
// [zone_min, zone_max]; fails if the range is exhausted. A previous value
// outside its range (the zone range was narrowed) or held twice (a damaged
// checkpoint; the first id in order keeps it) is reassigned like a new one.
absl::StatusOr<SlotAssignment> AssignSlots(const Snapshot& snapshot, const SlotAssignment& previous,
                                           uint16_t zone_min = 1, uint16_t zone_max = 65535);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_SLOTS_H_
