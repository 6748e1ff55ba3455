#include "policy/slots.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

// Keeps assignments of ids still present; gives new ids the lowest free value
// in [lo, hi]. Ids are visited in sorted order, so the result does not depend
// on the order objects arrived in. One merge pass over the sorted maps and a
// bitmap of used values: the agent calls this on every change.
template <typename Id, typename T, typename Objects>
absl::Status Assign(const Objects& objects, const std::map<Id, T>& previous, uint32_t lo,
                    uint32_t hi, const char* what, std::map<Id, T>& out) {
  std::vector<bool> used(hi - lo + 1);
  std::vector<const Id*> fresh;
  auto prev = previous.begin();
  for (const auto& [id, object] : objects) {
    while (prev != previous.end() && prev->first < id) ++prev;
    if (prev != previous.end() && prev->first == id && prev->second >= lo && prev->second <= hi &&
        !used[prev->second - lo]) {
      out.emplace_hint(out.end(), id, prev->second);
      used[prev->second - lo] = true;
    } else {
      fresh.push_back(&id);
    }
  }
  uint32_t next = lo;
  for (const Id* id : fresh) {
    while (next <= hi && used[next - lo]) ++next;
    if (next > hi) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no free ", what, " for ", *id, " (range ", lo, "-", hi, " exhausted)"));
    }
    out.emplace(*id, static_cast<T>(next));
    used[next - lo] = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SlotAssignment> AssignSlots(const Snapshot& snapshot, const SlotAssignment& previous,
                                           uint16_t zone_min, uint16_t zone_max) {
  if (zone_min == 0 || zone_min > zone_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("ct zone range ", zone_min, "-", zone_max, " is empty or includes 0"));
  }
  SlotAssignment out;
  absl::Status st =
      Assign(snapshot.ports, previous.port_slot, 1, kMaxPortSlot, "port slot", out.port_slot);
  if (!st.ok()) return st;
  st = Assign(snapshot.ports, previous.port_zone, zone_min, zone_max, "conntrack zone",
              out.port_zone);
  if (!st.ok()) return st;
  st = Assign(snapshot.networks, previous.network_slot, 1, kMaxNetworkSlot, "network slot",
              out.network_slot);
  if (!st.ok()) return st;
  return out;
}

}  // namespace vfguard::policy
