// What the reactor may read of the agent's kernel-facing state: immutable
// views built on the worker (agent/pass_worker.h) and swapped in whole on
// the reactor, so queries, status and scrapes never wait for a pass or the
// kernel.
#ifndef VFGUARD_AGENT_PASS_VIEW_H_
#define VFGUARD_AGENT_PASS_VIEW_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/installed_set.h"
#include "agent/reconciler.h"
#include "offload/placement.h"
#include "policy/ir.h"
#include "policy/model.h"

namespace vfguard::agent {

// The outcome of the last finished pass.
struct PassView {
  std::shared_ptr<const policy::Snapshot> effective = std::make_shared<policy::Snapshot>();
  std::shared_ptr<const offload::PlacementResult> placement =
      std::make_shared<offload::PlacementResult>();
  std::vector<bool> settled;  // per placement filter (Reconciler::Settled)
  EswitchView eswitch;
  uint32_t block = 0;
  // The desired state this pass installed whole (null when it failed): a
  // port is "installed" when its desired entry is still equal to this one's.
  std::shared_ptr<const policy::Snapshot> installed_desired;

  // The IR filters the kernel holds as translated: what trace simulates.
  policy::Pipeline InstalledPipeline() const {
    policy::Pipeline out;
    out.sets = placement->sets;  // what the set-match filters look up
    for (size_t i = 0; i < placement->filters.size() && i < settled.size(); ++i) {
      if (settled[i]) out.filters.push_back(*placement->filters[i].filter);
    }
    return out;
  }
};

// Counters read from the kernel by one refresh: at most one block dump and
// one conntrack dump of all zones.
struct CounterView {
  absl::Time taken = absl::InfinitePast();
  absl::Status filters_status = absl::UnavailableError("not read yet");
  struct Counts {
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  std::map<FilterKey, Counts> filters;  // the block's filters
  absl::Status conntrack_status = absl::UnavailableError("not read yet");
  std::map<uint16_t, size_t> conntrack_by_zone;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_PASS_VIEW_H_
