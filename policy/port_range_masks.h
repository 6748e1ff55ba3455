// Port ranges as value/mask pairs, because flower (and the NIC) match ports
// with masks, not ranges.
#ifndef VFGUARD_POLICY_PORT_RANGE_MASKS_H_
#define VFGUARD_POLICY_PORT_RANGE_MASKS_H_

#include <cstdint>
#include <vector>

#include "policy/ir.h"

namespace vfguard::policy {

// The minimal set of aligned value/mask blocks whose union is exactly
// [min, max] (inclusive). At most 30 blocks for 16-bit ports; a single port
// gives one exact match, 0-65535 gives one all-zero mask (callers leave the
// key unset then).
std::vector<Masked<uint16_t>> PortRangeToMasks(uint16_t min, uint16_t max);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_PORT_RANGE_MASKS_H_
