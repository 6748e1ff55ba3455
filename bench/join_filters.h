// What a joining port costs at the least: its own kernel filters, and how
// long `tc -batch` takes to install just those. agent_bench compares the
// daemon's join pass against these (join_own_filters, join_tc_batch_s).
#ifndef VFGUARD_BENCH_JOIN_FILTERS_H_
#define VFGUARD_BENCH_JOIN_FILTERS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/netlink_tc_backend.h"
#include "policy/ir.h"
#include "policy/model.h"
#include "policy/slots.h"

namespace vfguard::agent {

// Definition of join_own_filters: compile `snapshot` (which holds the port)
// with the policy compiler and keep the IR filters whose `origin` starts
// with "port <port_id>:". That prefix is the compiler's convention for the
// filters a port brings (its dispatch, spoofing checks, rules, its own flood
// list), and it stays so for the per-port egress hook; other ports' filters
// that change because of the join (their flood lists) are not counted.
std::optional<std::vector<policy::Filter>> OwnFilters(const policy::Snapshot& snapshot,
                                                      const policy::SlotAssignment& slots,
                                                      const std::string& port_id);

// Seconds of `tc -force -batch` installing `own` (translated as the agent
// does: offload::ToKernelFilter, slow-path copies since veth offloads
// nothing, then bench/tc_batch_text) into `block`, which must be empty; the
// devices in `bound` get their clsact on `block` before the clock starts,
// and the batch itself adds the clsact of `joining` (a join pass creates
// that qdisc too). `devices` resolves the IR's port ids to representor
// names. The block is emptied again afterwards. nullopt on any failure.
std::optional<double> TimeTcBatchOwn(NetlinkTcBackend& tc, uint32_t block,
                                     const std::vector<policy::Filter>& own,
                                     const std::map<std::string, std::string>& devices,
                                     const std::vector<std::string>& bound,
                                     const std::string& joining);

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_JOIN_FILTERS_H_
