// Writes a TcBackend sent to the kernel (or would have), by op kind. The
// hitless-restart test asserts a restart with unchanged state sends none.
#ifndef VFGUARD_AGENT_TC_WRITE_COUNTS_H_
#define VFGUARD_AGENT_TC_WRITE_COUNTS_H_

#include <array>
#include <cstdint>

#include "agent/tc_backend.h"

namespace vfguard::agent {

struct TcWriteCounts {
  static constexpr size_t kKinds = 5;  // TcOp::Kind values
  std::array<uint64_t, kKinds> by_kind{};

  void Count(TcOp::Kind kind) { ++by_kind[static_cast<size_t>(kind)]; }
  uint64_t Of(TcOp::Kind kind) const { return by_kind[static_cast<size_t>(kind)]; }
  uint64_t Total() const {
    uint64_t total = 0;
    for (uint64_t n : by_kind) total += n;
    return total;
  }
  auto operator<=>(const TcWriteCounts&) const = default;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_WRITE_COUNTS_H_
