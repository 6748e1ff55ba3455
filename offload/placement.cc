#include "offload/placement.h"

#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;
using policy::FlowerMatch;

// Keeps field `f` of `into` only if every match of the group has the same value.
template <typename T>
void KeepIfShared(std::optional<T> FlowerMatch::*f, const std::vector<const Filter*>& group,
                  FlowerMatch& into) {
  const std::optional<T>& first = group.front()->match.*f;
  for (const Filter* g : group) {
    if (!(g->match.*f == first)) {
      into.*f = std::nullopt;
      return;
    }
  }
  into.*f = first;
}

using GroupKey = std::pair<uint32_t, uint16_t>;  // (chain, prio)

}  // namespace

Filter TrapForGroup(const std::vector<const Filter*>& group, const OfferFn& offer) {
  Filter trap;
  trap.chain = group.front()->chain;
  trap.prio = group.front()->prio;
  trap.handle = 1;
  trap.protocol = group.front()->protocol;
  trap.actions = {Action{Action::Kind::kTrap}};
  trap.origin = absl::StrCat("hardware trap for chain ", trap.chain, " prio ", trap.prio, " (",
                             group.size(), " filter(s) not offloaded)");
  FlowerMatch& m = trap.match;
  // Keys the mlx5 model always takes; everything else is left to the slow path.
  KeepIfShared(&FlowerMatch::indev, group, m);
  KeepIfShared(&FlowerMatch::src_mac, group, m);
  KeepIfShared(&FlowerMatch::dst_mac, group, m);
  KeepIfShared(&FlowerMatch::vlan_id, group, m);
  KeepIfShared(&FlowerMatch::vlan_eth_type, group, m);
  KeepIfShared(&FlowerMatch::eth_type, group, m);
  KeepIfShared(&FlowerMatch::ip_proto, group, m);
  KeepIfShared(&FlowerMatch::ct_zone, group, m);
  if (offer(trap).ok()) return trap;
  FlowerMatch coarse;
  coarse.indev = m.indev;
  trap.match = coarse;
  if (offer(trap).ok()) return trap;
  trap.match = FlowerMatch{};
  if (offer(trap).ok()) return trap;
  trap.protocol = policy::kEthAll;
  return trap;  // match-all trap: the chain from this prio on is slow path only
}

PlacementResult Place(const policy::Pipeline& pipeline, const OfferFn& offer) {
  PlacementResult result;
  std::map<GroupKey, std::vector<size_t>> groups;
  std::map<GroupKey, absl::Status> group_status;
  for (size_t i = 0; i < pipeline.filters.size(); ++i) {
    const Filter& f = pipeline.filters[i];
    GroupKey key{f.chain, f.prio};
    groups[key].push_back(i);
    PlacedFilter placed{f, Placement::kHardware, offer(f), std::nullopt};
    if (!placed.hw_status.ok() && !group_status.count(key)) group_status[key] = placed.hw_status;
    result.filters.push_back(std::move(placed));
  }
  std::set<GroupKey> trapped;
  for (const auto& [key, status] : group_status) trapped.insert(key);

  // Hardware copies must not precede a trap on the same path (see header).
  auto chain_has_trap_from = [&](uint32_t chain, uint16_t after_prio) {
    for (const GroupKey& k : trapped) {
      if (k.first == chain && k.second > after_prio) return true;
    }
    return false;
  };
  bool changed = true;
  while (changed) {
    changed = false;
    for (const auto& [key, members] : groups) {
      if (trapped.count(key)) continue;
      for (size_t i : members) {
        const Filter& f = pipeline.filters[i];
        bool mirrors = false;
        bool unsafe = false;
        for (const Action& a : f.actions) {
          if (a.kind == Action::Kind::kMirredMirror) mirrors = true;
          if (!mirrors) continue;
          if (a.kind == Action::Kind::kContinue || a.kind == Action::Kind::kPipe) {
            // Later handles of the same prio are in this untrapped group, so
            // only later prios can hold a trap.
            unsafe |= chain_has_trap_from(f.chain, f.prio);
          }
          if (a.kind == Action::Kind::kGoto) unsafe |= chain_has_trap_from(a.chain, 0);
        }
        if (unsafe) {
          trapped.insert(key);
          group_status.emplace(key, absl::FailedPreconditionError(
                                        "mirrors a copy before a filter the hardware does not "
                                        "hold; kept in the slow path"));
          changed = true;
          break;
        }
      }
    }
  }

  for (const GroupKey& key : trapped) {
    std::vector<const Filter*> members;
    for (size_t i : groups[key]) members.push_back(&pipeline.filters[i]);
    Filter trap = TrapForGroup(members, offer);
    bool first = true;
    for (size_t i : groups[key]) {
      PlacedFilter& placed = result.filters[i];
      placed.placement = placed.hw_status.ok() ? Placement::kSlowPathOnly : Placement::kTrap;
      if (placed.hw_status.ok()) placed.hw_status = group_status[key];
      if (first) placed.trap = trap;  // one trap per group, carried by its first filter
      first = false;
    }
  }
  return result;
}

policy::Pipeline PlacementResult::HardwarePipeline() const {
  policy::Pipeline p;
  for (const PlacedFilter& placed : filters) {
    if (placed.placement == Placement::kHardware) p.filters.push_back(placed.filter);
    if (placed.trap) p.filters.push_back(*placed.trap);
  }
  return p;
}

policy::Pipeline PlacementResult::SlowPathPipeline() const {
  policy::Pipeline p;
  for (const PlacedFilter& placed : filters) p.filters.push_back(placed.filter);
  return p;
}

}  // namespace vfguard::offload
