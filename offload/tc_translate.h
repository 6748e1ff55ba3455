// Translation of placed IR filters (policy types) into kernel tc objects
// (netlink types) for the shared block, and the handle scheme that lets the
// slow-path copy, the hardware copy and a trap of one (chain, prio) live side
// by side in one block.
//
// Handles: the IR handle h (1..2^24-1) is the slow-path copy (skip_hw); the
// hardware copy of the same filter is h | kHardwareHandleBit (skip_sw); the
// trap of a (chain, prio) group is kTrapHandle (skip_sw). Decoding a dumped
// filter's handle tells which of the three it is, so the reconciler can diff
// without remembering anything.
#ifndef VFGUARD_OFFLOAD_TC_TRANSLATE_H_
#define VFGUARD_OFFLOAD_TC_TRANSLATE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "netlink/tc_types.h"
#include "policy/ir.h"

namespace vfguard::offload {

inline constexpr uint32_t kHardwareHandleBit = 1u << 30;
inline constexpr uint32_t kTrapHandle = 0x7fffffffu;
inline constexpr uint32_t kMaxIrHandle = (1u << 24) - 1;

// A resolved netdev.
struct Netdev {
  uint32_t ifindex = 0;
  std::string name;
  auto operator<=>(const Netdev&) const = default;
};

// Resolves the IR's abstract devices (uplink, port:<id>) to netdevs; nullopt
// when the device is not present right now.
using DeviceResolver = std::function<std::optional<Netdev>(const policy::DeviceRef&)>;

enum class Copy : uint8_t {
  kSlowPath,  // skip_hw, handle = IR handle
  kHardware,  // skip_sw, handle = IR handle | kHardwareHandleBit
  kTrap,      // skip_sw, handle = kTrapHandle (the filter is a trap from placement)
};

// The kernel filter for one IR filter in block `block` (or, for a filter
// with `egress_of`, on chain 0 of that representor's clsact egress). Fails (NotFound,
// naming the device) when a device the filter names cannot be resolved, and
// (InvalidArgument) when the IR cannot be expressed (e.g. a handle above
// kMaxIrHandle).
absl::StatusOr<netlink::FlowerFilter> ToKernelFilter(const policy::Filter& filter, uint32_t block,
                                                     Copy copy, const DeviceResolver& devices);

// What ToKernelFilter gives `filter` for owner, chain, prio, handle,
// protocol and skip flags (keys and actions left empty), without
// translating the rest: the reconciler keeps only hashes of a filter it
// translated before and rebuilds its key from this. The same errors for
// those fields as ToKernelFilter.
absl::StatusOr<netlink::FlowerFilter> KernelIdentity(const policy::Filter& filter, uint32_t block,
                                                     Copy copy, const DeviceResolver& devices);

// Which copy a dumped filter's handle denotes, and the IR handle it belongs to
// (0 for traps).
struct HandleInfo {
  Copy copy = Copy::kSlowPath;
  uint32_t ir_handle = 0;
};
HandleInfo ClassifyHandle(uint32_t kernel_handle);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_TC_TRANSLATE_H_
