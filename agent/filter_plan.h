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
#include <vector>

#include "agent/installed_set.h"
#include "agent/tc_backend.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

struct FilterPlan {
  std::vector<TcOp> ops;
  bool cyclic = false;  // a jump cycle: part of the plan fell back to chain order
};

FilterPlan PlanFilterWrites(const std::map<FilterKey, netlink::FlowerFilter>& want,
                            const InstalledSet& have);

// A delete of an installed filter: what the kernel needs to find it.
TcOp DeleteOp(const FilterKey& key, uint16_t protocol);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_FILTER_PLAN_H_
