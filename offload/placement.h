// Placement: which IR filters go to hardware, which stay in the slow path.
//
// Every filter is installed in the slow path (skip_hw), so the kernel verdict
// never depends on the NIC. Every filter is also offered to hardware
// (skip_sw). For a filter the hardware rejects, the hardware instead gets a
// trap filter at the same (chain, prio) whose match is coarser and accepted,
// so every frame the rejected filter could match reaches the slow path rather
// than falling through to a later hardware rule. Invariant (property-tested):
// for any pipeline, frame and set of rejections, running the hardware filters
// and handing trapped frames to the slow path gives the slow path's verdict.
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
  policy::Filter filter;    // the IR filter (installed skip_hw in the slow path)
  Placement placement;      // what the hardware holds for it
  absl::Status hw_status;   // why hardware rejected it (OK when kHardware)
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

// The coarsest trap for `rejected` that `offer` accepts: the match reduced to
// the keys the hardware takes (indev, protocol, eth_type, ...), action trap.
// nullopt if even the bare protocol match is rejected (then the whole chain
// must trap; see Place).
std::optional<policy::Filter> TrapFor(const policy::Filter& rejected, const OfferFn& offer);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_PLACEMENT_H_
