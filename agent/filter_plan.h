// The filter writes of one pass: what takes the installed set (what the
// reconciler believes the kernel holds) to the wanted filters, in the order
// they must be sent.
//
// - Absent filters are created, filters whose content hash differs are
//   replaced, installed filters nobody wants are deleted.
// - A filter whose shape (protocol, skip flags, key layout) changes cannot be
//   replaced: flower refuses a new mask for an existing filter (EINVAL) and
//   keeps one protocol per (chain, prio). Such filters, and installed filters
//   of a prio whose wanted shapes do not include theirs, are deleted first and
//   created again; that is the one place a delete precedes an add. Each such
//   delete goes right before the first write of its (owner, chain, prio).
// - Otherwise creates and replaces all come before deletes (a port is never
//   briefly unprotected), each in jump-graph order (agent/write_order.h).
#ifndef VFGUARD_AGENT_FILTER_PLAN_H_
#define VFGUARD_AGENT_FILTER_PLAN_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "agent/installed_set.h"
#include "agent/tc_backend.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

// One filter a pass wants: its identity as the installed set would hold it,
// and the kernel filter when the pass translated it. A filter of an IR part
// that did not change since the last pass is not translated again
// (agent/reconciler.h); it is translated only if it has to be written.
struct WantedFilter {
  InstalledEntry entry;
  std::optional<netlink::FlowerFilter> filter;  // translated in this pass
  size_t placed = 0;                            // index into the placement's filters
};
using WantedFilters = std::map<FilterKey, WantedFilter>;
// Translates a wanted filter that was not translated in the pass (nullopt:
// it cannot be, and is not written).
using Materialize =
    std::function<std::optional<netlink::FlowerFilter>(const FilterKey&, const WantedFilter&)>;
// A tc prio: (owner, chain, prio). flower keeps one protocol and mask set per
// prio, which is why the plan works prio by prio.
using PrioKey = std::tuple<netlink::FilterOwner, uint32_t, uint16_t>;
PrioKey PrioOf(const FilterKey& k);

struct FilterPlan {
  std::vector<TcOp> ops;
  bool cyclic = false;  // a jump cycle: part of the plan fell back to chain order
};

// What an incremental plan looks at (agent/reconciler.h, PlanChange): the
// keys that changed since a pass after which the installed set held exactly
// what was wanted, and the shapes still wanted in their prios by filters
// that did not change. `want` then holds only the changed wanted filters.
// The plan is the whole plan's: a filter that did not change is wanted as
// installed, so it is neither written nor deleted, and it matters only
// through its shape (a prio whose wanted shapes exclude an installed one's is
// emptied first).
struct PlanScope {
  std::set<FilterKey>
      keys;  // every key of `want`, and the installed keys no longer wanted as they are
  std::map<PrioKey, std::set<uint64_t>> kept_shapes;  // shapes of unchanged wanted filters, by prio
};

// `scope`: null for a whole plan (every installed filter is compared).
FilterPlan PlanFilterWrites(const WantedFilters& want, const InstalledSet& have,
                            const Materialize& materialize, const PlanScope* scope = nullptr);

// A delete of an installed filter: what the kernel needs to find it.
TcOp DeleteOp(const FilterKey& key, uint16_t protocol);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_FILTER_PLAN_H_
