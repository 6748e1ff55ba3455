// Parallel application of an ordered op vector (docs/performance.md, "Two
// write lanes"): the reconciler's op vector is in a valid write order
// (agent/write_order.h); SplitIntoWaves cuts it into waves whose ops may be
// written in any interleaving of its lanes, and ApplyInWaves writes them
// wave after wave, each wave's lanes concurrently.
//
// Why this is worth it: the kernel does a filter write in the sender's
// context, and RTM_NEWTFILTER / RTM_DELTFILTER run without rtnl_lock for an
// unlocked classifier (flower) on a shared block or on clsact
// (QDISC_CLASS_OPS_DOIT_UNLOCKED), so two sockets written from two threads
// are two CPUs of kernel work. Qdisc changes take rtnl_lock: they go alone.
//
// What a wave keeps (i < j in the vector):
//   - ops of one (owner, chain, prio) stay in one lane, in vector order;
//   - if j jumps to the chain i writes, or i jumps to the chain j writes
//     (same owner), j is in a later wave than i: a chain is complete before
//     a jump names it, whichever way the vector had it;
//   - qdisc ops and filter deletes (a delete does not carry the jump of the
//     filter it removes, so its constraints cannot be seen here) are
//     barriers: they share a wave only with barriers adjacent to them, in
//     one lane, and every op before them is in an earlier wave, every op
//     after them in a later one.
// So any interleaving of a wave's lanes is an order the sequential vector
// could have had, as far as the jump graph is concerned.
#ifndef VFGUARD_AGENT_WRITE_WAVES_H_
#define VFGUARD_AGENT_WRITE_WAVES_H_

#include <cstddef>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "agent/tc_backend.h"

namespace vfguard::agent {

struct WriteWave {
  // Indices into the op vector; each lane ascending. Empty lanes are left
  // out, so a barrier wave has exactly one lane.
  std::vector<std::vector<size_t>> lanes;
  size_t size() const;
};

// `lanes` >= 1. Lanes of a wave are balanced by op count, (owner, chain,
// prio) groups kept whole.
std::vector<WriteWave> SplitIntoWaves(const std::vector<TcOp>& ops, size_t lanes);

// Writes `ops` (indices into the caller's op vector) of one lane, in that
// order, on lane `lane`'s connection; one status per index, in order.
using LaneWriter =
    std::function<std::vector<absl::Status>(size_t lane, const std::vector<size_t>& ops)>;

// Writes the waves one after the other (a wave starts once every op of the
// previous one is answered). A wave of at least `min_parallel` ops runs its
// lanes concurrently: lane 0 on the calling thread, lane k > 0 on a thread
// of its own calling `write(k, ...)`; a smaller wave goes as one lane 0
// (its lanes concatenated). Returns one status per op of `op_count`, mapped
// back by index; an index no wave names stays OK.
std::vector<absl::Status> ApplyInWaves(size_t op_count, const std::vector<WriteWave>& waves,
                                       size_t min_parallel, const LaneWriter& write);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_WRITE_WAVES_H_
