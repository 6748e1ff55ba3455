#include "policy/port_range_masks.h"

namespace vfguard::policy {

std::vector<Masked<uint16_t>> PortRangeToMasks(uint16_t min, uint16_t max) {
  std::vector<Masked<uint16_t>> out;
  uint32_t lo = min;
  const uint32_t hi = max;
  while (lo <= hi) {
    // Largest aligned block starting at lo that does not pass hi.
    uint32_t size = 1;
    while ((lo & (size * 2 - 1)) == 0 && lo + size * 2 - 1 <= hi && size * 2 <= 65536) size *= 2;
    uint16_t mask = static_cast<uint16_t>(~(size - 1) & 0xffff);
    out.push_back(Masked<uint16_t>{static_cast<uint16_t>(lo), mask});
    lo += size;
  }
  return out;
}

}  // namespace vfguard::policy
