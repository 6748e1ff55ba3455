// The order of a pass's filter writes, from the jump graph (DESIGN.md: "a
// jump is installed only after the chain it names is complete, and removed
// before that chain is emptied").
//
// Chain numbers do not give that order: the uplink's forwarding chains
// (>= 2^27) jump down into the port chains, dispatch (chain 0) jumps up.
// So writes are grouped by (owner, chain) and the groups sorted
// topologically over the gact goto edges between them (a goto names a chain
// of the filter's own owner):
//   - creates/replaces: a group that jumps to chain C comes after every
//     pending write of chain C;
//   - deletes: a group that jumps to chain C comes before every pending
//     delete of chain C.
// Among groups free to go, creates take the deepest chain first and deletes
// chain 0 first (the order before the jump graph was used). Inside a group
// the caller's order is kept. tc chains that only jump forward cannot form a
// cycle, but nothing enforces that here: a cycle falls back to the plain
// chain order and is reported, so the caller can log it.
//
// The netlink backend sends a whole op vector on one socket and the kernel
// applies it in order, so the order of the vector is the order of the writes.
#ifndef VFGUARD_AGENT_WRITE_ORDER_H_
#define VFGUARD_AGENT_WRITE_ORDER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "agent/installed_set.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

// The chain a filter's actions jump to (gact goto, or a goto control verdict
// of another action), if any; the last one when there are several (only the
// terminal one is taken for a packet that gets that far).
std::optional<uint32_t> JumpTarget(const netlink::FlowerFilter& f);

// One write to order: where it lives and where it jumps.
struct JumpNode {
  FilterKey key;
  std::optional<uint32_t> target;
};

enum class WriteKind { kUpserts, kDeletes };

struct WriteOrder {
  std::vector<size_t> order;  // a permutation of the nodes' indices
  bool cyclic = false;        // the jump graph had a cycle: plain chain order
};

WriteOrder OrderWrites(const std::vector<JumpNode>& nodes, WriteKind kind);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_WRITE_ORDER_H_
