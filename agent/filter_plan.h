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
using Materialize = std::function<std::optional<netlink::FlowerFilter>(const WantedFilter&)>;

struct FilterPlan {
  std::vector<TcOp> ops;
  bool cyclic = false;  // a jump cycle: part of the plan fell back to chain order
};

FilterPlan PlanFilterWrites(const WantedFilters& want, const InstalledSet& have,
                            const Materialize& materialize);

// A delete of an installed filter: what the kernel needs to find it.
TcOp DeleteOp(const FilterKey& key, uint16_t protocol);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_FILTER_PLAN_H_
