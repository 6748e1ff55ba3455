// Placement: which IR filters go to hardware, which stay in the slow path.
//
// Every filter is installed in the slow path (skip_hw), so the kernel verdict
// never depends on the NIC. Every filter is also offered to hardware
// (skip_sw). Because flower allows one mask per (chain, prio), placement works
// on prio groups: if the hardware takes every filter of a (chain, prio), they
// all go to hardware; if it rejects any, none of that group is offloaded and
// the hardware instead gets one trap filter at that (chain, prio) whose match
// covers every filter of the group (only keys all of them share, reduced
// further until the hardware accepts it). A frame that could match any filter
// of the group is thus handed to the slow path instead of falling through to
// a later hardware rule.
//
// Hardware copies must not be sent before a trap: a group whose filters
// mirror a copy and then continue (same chain) or goto a chain that holds a
// trap is trapped too, to a fixpoint. Otherwise the slow path, which re-runs
// the original frame from chain 0, would send those copies twice.
//
// Invariant (property-tested in tests/unit/placement_property_test.cc): for
// any pipeline, frame and set of rejections, running the hardware filters and
// handing trapped frames to the slow path gives the slow path's deliveries.
#ifndef VFGUARD_OFFLOAD_PLACEMENT_H_
#define VFGUARD_OFFLOAD_PLACEMENT_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/ir.h"

namespace vfguard::offload {

enum class Placement : uint8_t { kHardware, kTrap, kSlowPathOnly };

struct PlacedFilter {
  policy::Filter filter;               // the IR filter (installed skip_hw in the slow path)
  Placement placement;                 // what the hardware holds for it
  absl::Status hw_status;              // why hardware rejected it (OK when kHardware)
  std::optional<policy::Filter> trap;  // the hardware trap filter (kTrap)
};

struct PlacementResult {
  std::vector<PlacedFilter> filters;  // one per IR filter, same order
  // The filters the hardware holds: accepted IR filters and traps, ordered.
  policy::Pipeline HardwarePipeline() const;
  policy::Pipeline SlowPathPipeline() const;
};

// `offer` answers whether hardware takes a filter: the HardwareModel in tests,
// the kernel's answer to a skip_sw add in the agent.
using OfferFn = std::function<absl::Status(const policy::Filter&)>;

PlacementResult Place(const policy::Pipeline& pipeline, const OfferFn& offer);

// The trap for a prio group: keys present with equal values in every filter
// of `group` (one chain and prio), then reduced (to indev + protocol, then to
// protocol, then to nothing) until `offer` accepts it. Action: kTrap.
policy::Filter TrapForGroup(const std::vector<const policy::Filter*>& group, const OfferFn& offer);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_PLACEMENT_H_
