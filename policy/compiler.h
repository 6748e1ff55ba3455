// Compiles a validated Snapshot into the Pipeline IR (see docs/semantics.md
// for what the rules mean and ARCHITECTURE.md for the chain layout).
//
// Deterministic: chain numbers, prios, handles and zones derive only from the
// snapshot and the stable slot assignment, so compiling the same inputs twice
// gives identical IR.
#ifndef VFGUARD_POLICY_COMPILER_H_
#define VFGUARD_POLICY_COMPILER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/interner.h"
#include "policy/ir.h"
#include "policy/model.h"
#include "policy/slots.h"

namespace vfguard::policy {

// The part of the pipeline that belongs to one port (its dispatch entry,
// from-chains, to-chains, egress hook) or to shared structure (uplink
// dispatch, per-network forwarding chains and flood list). Keys are stable.
struct PipelinePart {
  std::string key;  // "port:<id>" or "net:<id>"
  std::vector<Filter> filters;
  auto operator<=>(const PipelinePart&) const = default;
};

struct CompileOptions {
  // Rules whose remote is a set (remote_group_id, remote_address_group_id)
  // compile to one kSetMatch filter per destination-port mask instead of one
  // flower filter per (mask, member prefix); Pipeline::sets then holds the
  // prefixes (docs/performance.md, "Remote groups"). Off: plain flower.
  bool set_lookups = false;
  // Threads that compile parts at once when there are many (a cold start, a
  // restart, a slot change): 0 = the machine's cores, at most 2 (the agent's
  // host share); 1 = this thread only. Each thread compiles a contiguous run
  // of parts (keys in order) with its own CompileContext; the parts are then
  // interned and kept in key order on the calling thread, so the output
  // (filters, changed keys, errors) is the same for every value.
  unsigned threads = 0;
  // A thread more per this many parts (starting one costs about as much as
  // compiling a few ports); tests lower it to split small snapshots.
  size_t parts_per_thread = 16;
};

// Compiles everything. `slots` must cover every port and network.
absl::StatusOr<Pipeline> Compile(const Snapshot& snapshot, const SlotAssignment& slots,
                                 CompileOptions options = {});

// Incremental compilation: keeps the compiled parts of the previous snapshot
// and recompiles only the parts a change affects. Parts are keyed
// "dispatch" (the uplink's entries in chain 0), "net:<id>" (forwarding and
// the flood list) and "port:<id>" (its chain-0 entry, its own chains and its
// egress hook), so a one-port change touches that port, its network (when
// its MAC, state or network changed), and ports whose rules name one of its
// groups as remote.
class IncrementalCompiler {
 public:
  explicit IncrementalCompiler(CompileOptions options = {}) : options_(options) {}
  // Compiles `snapshot`; returns the keys of the parts that changed (added,
  // recompiled or removed). `slots` must cover the snapshot; it is kept for
  // the next update (pass it with std::move to save the copy). On error
  // nothing changes.
  absl::StatusOr<std::set<std::string>> Update(std::shared_ptr<const Snapshot> snapshot,
                                               SlotAssignment slots);
  // The whole pipeline; equals Compile(snapshot, slots) of the last Update.
  Pipeline Assemble() const;
  // The same without a copy: pointers into the parts, which stay alive (and
  // unchanged: an update replaces a part, never edits it) while the result
  // holds them.
  SharedPipeline AssembleShared() const;
  const std::map<std::string, std::shared_ptr<const PipelinePart>>& parts() const { return parts_; }

 private:
  CompileOptions options_;
  std::shared_ptr<const Snapshot> previous_;
  SlotAssignment previous_slots_;
  std::map<std::string, std::shared_ptr<const PipelinePart>> parts_;
  // Shares equal matches, actions and origin pieces across parts.
  Interner interner_;
  size_t interned_after_prune_ = 0;
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_COMPILER_H_
