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

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "agent/installed_set.h"
#include "agent/tc_backend.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

// One filter a pass wants: its identity as the installed set would hold it,
// and the kernel filter when the pass kept its translation. A filter of an
// IR part that did not change since the last pass is not translated again
// (agent/reconciler.h). A pass over every filter keeps none of its
// translations (only their entries): it translates again what it writes,
// when it writes it, so it never holds the translations of a whole block at
// once (docs/performance.md, "A pass holds one chunk of kernel filters").
struct WantedFilter {
  InstalledEntry entry;
  std::unique_ptr<netlink::FlowerFilter> filter;  // null: translate `placed` when written
  size_t placed = 0;                              // index into the placement's filters
  bool translated = false;  // by this pass (else its entry is the installed one)
};
using WantedFilters = std::map<FilterKey, WantedFilter>;
// A tc prio: (owner, chain, prio). flower keeps one protocol and mask set per
// prio, which is why the plan works prio by prio.
using PrioKey = std::tuple<netlink::FilterOwner, uint32_t, uint16_t>;
PrioKey PrioOf(const FilterKey& k);

// One write of a plan. A create or replace names the wanted filter it
// writes; its kernel filter is made when the write is sent.
struct PlannedWrite {
  TcOp::Kind kind = TcOp::Kind::kCreateFilter;  // a filter op
  FilterKey key;
  uint16_t protocol = 0;           // a delete: the installed filter's
  WantedFilter* wanted = nullptr;  // a create or replace: an element of the plan's `want`
};

struct FilterPlan {
  std::vector<PlannedWrite> ops;
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

// `scope`: null for a whole plan (every installed filter is compared). The
// plan points into `want`, which must outlive it.
FilterPlan PlanFilterWrites(WantedFilters& want, const InstalledSet& have,
                            const PlanScope* scope = nullptr);

// A delete of an installed filter: what the kernel needs to find it.
TcOp DeleteOp(const FilterKey& key, uint16_t protocol);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_FILTER_PLAN_H_
