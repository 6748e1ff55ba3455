// Placement: which IR filters the hardware holds, which only the slow path.
//
// Every IR filter is installed in the slow path (skip_hw), so the kernel's
// verdict never depends on the NIC. Every filter is also offered to the
// hardware (`offer`), and the hardware gets:
//
// 1. Prio groups. flower keeps one mask per (chain, prio, protocol), so a
//    trap with a coarser mask cannot sit beside accepted filters of the same
//    prio. Placement therefore decides per group (all filters of one chain
//    and prio): if the hardware accepts every filter of the group, all go to
//    hardware; if it refuses any, none of them does, and the hardware gets
//    one trap at that (chain, prio) instead.
// 2. The trap's match covers every filter of the group: protocol plus the
//    keys mlx5 always takes (indev, MACs, VLAN id and inner type, eth_type,
//    ip_proto, ct_zone) that every member has with the same value. If the
//    hardware refuses that, it is tried with indev + protocol, then with
//    protocol only. If it refuses even that, the whole chain is trapped: a
//    match-all trap (protocol all) at the chain's first prio (or prio 1,
//    except in chain 0, whose prio 1 is the agent's activation hook),
//    and no other filter of the chain is offloaded. If the hardware cannot
//    hold even that, the chain is left out of the hardware, and every group
//    that jumps to it is trapped instead (so the hardware never enters it).
//    If that happens to chain 0, the hardware holds nothing: every frame
//    misses and goes to the slow path (`hardware_bypassed`).
// 3. No effect before a trap. The slow path re-runs a trapped frame as it
//    arrived, from chain 0. A hardware filter that sends a copy (mirred
//    mirror), edits the frame (vlan push/pop) or commits a connection (ct
//    commit) and then continues (goto, continue) on a path that may reach a
//    trap would have that effect twice, or the slow path would see an
//    edited frame. Such a group is trapped too, to a fixpoint.
//
// 4. What the hardware must never hold, whatever it would accept (not
//    offered; see NeverInHardware): a port's egress-hook filters (mlx5
//    offloads ingress blocks on representors, not egress), and a filter
//    that mirrors to a port's representor (in hardware the copy would reach
//    the VF without passing that port's egress hook, so split horizon and
//    admission would be skipped). Egress-hook filters are kSlowPathOnly with
//    no trap; mirroring filters are refused like a rejection, so their
//    group is trapped. A BPF filter (the ND check, policy::Classifier::
//    kNdCheck) is never offered either, and its whole chain is left out of
//    the hardware: every group with a goto to it is trapped, so NS/NA from
//    ports reach the ND check through the slow path. A set-match filter
//    (kSetMatch, cls_bpf too) is never offered and refused like a
//    rejection: its group gets a trap, at the free prio the compiler leaves
//    before it (a flower trap cannot share a cls_bpf prio), and the chain's
//    earlier prios (the established-connection stage) stay in hardware.
//
// Invariant (property-tested in tests/unit/placement_property_test.cc): for
// any pipeline, frame and set of rejections, running the hardware pipeline
// and handing trapped frames to the slow path delivers what the slow path
// alone delivers. docs/offload.md says how real mlx5 hands frames over and
// why this placement is safe under both hand-over behaviours.
#ifndef VFGUARD_OFFLOAD_PLACEMENT_H_
#define VFGUARD_OFFLOAD_PLACEMENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/ir.h"

namespace vfguard::offload {

enum class Placement : uint8_t {
  kHardware,      // the hardware holds this filter
  kTrap,          // the hardware refused it; a trap sends its frames to the slow path
  kSlowPathOnly,  // the hardware would take it but does not hold it (see HwStatus)
};
const char* PlacementName(Placement p);  // "hw", "trap", "sw"

// One IR filter's placement: 16 bytes, since the agent keeps one per
// installed filter (docs/performance.md, "Daemon RSS per filter"). What
// many filters share (the hardware's answer or why the filter stays out,
// the covering trap) is held once in the PlacementResult and named here by
// index: read it with PlacementResult::HwStatus and PlacementResult::TrapOf,
// on the result the PlacedFilter belongs to.
struct PlacedFilter {
  static constexpr uint32_t kNoTrap = UINT32_MAX;
  static constexpr uint32_t kMaxStatuses = uint32_t{1} << 24;
  // The IR filter (installed skip_hw in the slow path): the compiler's own
  // copy, shared and immutable, kept alive by PlacementResult::owners (a
  // placement copies no IR filter).
  const policy::Filter* filter = nullptr;
  Placement placement = Placement::kHardware;
  // Index into PlacementResult::statuses (0: OK).
  uint32_t status : 24 = 0;
  // Index into PlacementResult::traps of the trap that covers this filter's
  // frames (kTrap and kSlowPathOnly, unless the hardware is bypassed), or
  // kNoTrap. One trap per group or chain, not a copy per filter.
  uint32_t trap = kNoTrap;
};
static_assert(sizeof(PlacedFilter) == 16, "one per installed filter: keep it small");

struct PlacementResult {
  std::vector<PlacedFilter> filters;  // one per IR filter, same order
  // What `filters[i].filter` point into (the compiler's parts, or the
  // pipeline Place was given): copies of the result share them.
  std::vector<std::shared_ptr<const void>> owners;
  std::vector<policy::Filter> traps;  // each hardware trap once, by (chain, prio)
  // Each distinct hardware status of `filters` once; [0] is OK. A filter's
  // status: kHardware OK; kTrap the offer's answer (errno via ErrnoOf,
  // extack as the message); kSlowPathOnly FailedPrecondition saying why.
  // Fewer than PlacedFilter::kMaxStatuses (at most one per filter and per
  // trapped group; past that, the last one says the table is full).
  std::vector<absl::Status> statuses = {absl::OkStatus()};
  // Chain 0 cannot hold even a match-all trap: the hardware holds nothing.
  bool hardware_bypassed = false;
  // The pipeline's set prefixes (policy::Pipeline::sets), for the slow path.
  std::map<std::string, std::vector<policy::IpPrefix>> sets;

  // `p`'s status (see `statuses`); `p` is one of `filters`.
  const absl::Status& HwStatus(const PlacedFilter& p) const { return statuses[p.status]; }
  // `p`'s covering trap, or null.
  const policy::Filter* TrapOf(const PlacedFilter& p) const {
    return p.trap == PlacedFilter::kNoTrap ? nullptr : &traps[p.trap];
  }
  // The filters the hardware holds: offloaded IR filters and traps, ordered
  // by (chain, prio, handle).
  policy::Pipeline HardwarePipeline() const;
  // Every IR filter (the slow path is always complete).
  policy::Pipeline SlowPathPipeline() const;
};

// Whether the hardware takes a filter offered on its own with skip_sw: the
// HardwareModel in tests, the kernel's answer in the agent. Placement may
// offer a filter more than once and offers trap candidates it then does not
// use, so the function must answer without keeping anything installed.
using OfferFn = std::function<absl::Status(const policy::Filter&)>;

PlacementResult Place(const policy::Pipeline& pipeline, const OfferFn& offer);
// The same, moving the IR filters into the result instead of copying them.
// `pipeline` is left empty.
PlacementResult Place(policy::Pipeline&& pipeline, const OfferFn& offer);
// The same over the compiler's shared parts (IncrementalCompiler::
// AssembleShared): the result refers to them, so the agent holds each IR
// filter once, in the compiler.
PlacementResult Place(policy::SharedPipeline pipeline, const OfferFn& offer);

// The same as Place(pipeline, offer) for an `offer` that refuses every
// filter with `refusal` (a block with a device that cannot offload, where
// the agent's probe answers for every filter): no trap is accepted, so every
// chain is left out of the hardware, and each filter's placement depends on
// that filter alone (equality with Place is property-tested). That is what
// lets a pass place only what changed: a filter of `pipeline` that
// `previous` placed (the same immutable IR filter, or an equal one at the
// same IR key: a recompiled part's unchanged filter) keeps its PlacedFilter
// from there, pointing at the new filter; the others are placed afresh, and
// `placed_afresh` (if given) counts them. `previous` must have
// come from this function (or from Place with the same kind of `offer`).
PlacementResult PlaceWithoutHardware(policy::SharedPipeline pipeline, const absl::Status& refusal,
                                     const PlacementResult* previous = nullptr,
                                     size_t* placed_afresh = nullptr);

// Why `f` must stay out of the hardware whatever it accepts (rule 4 above),
// or nullopt. Callers that offer filters ahead of placement skip these.
std::optional<std::string> NeverInHardware(const policy::Filter& f);

// The trap for one prio group (same chain and prio, non-empty): the covering
// match of step 2 above, coarsened until `offer` accepts it. nullopt when
// even the protocol-only trap is refused. A set-match group's trap is at the
// prio before the group's (the free one the compiler leaves there), since tc
// keeps one classifier kind per (chain, prio).
std::optional<policy::Filter> TrapForGroup(const std::vector<const policy::Filter*>& group,
                                           const OfferFn& offer);

// The match-all trap for a whole chain at `first_prio`, else at prio 1
// (never chain 0 prio 1, the agent's hook slot, policy::Chains::kHookPrio);
// nullopt when the hardware refuses both.
std::optional<policy::Filter> TrapForChain(uint32_t chain, uint16_t first_prio,
                                           const OfferFn& offer);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_PLACEMENT_H_
