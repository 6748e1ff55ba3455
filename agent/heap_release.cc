#include "agent/heap_release.h"

#include <malloc.h>

#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"

namespace vfguard::agent {
namespace {

// Above any arena's top: no free() during a pass trims.
constexpr int kPassTrimThreshold = std::numeric_limits<int>::max();
// glibc calls its arena trim from free() of a block this large or larger
// (FASTBIN_CONSOLIDATION_THRESHOLD), below the mmap threshold.
constexpr size_t kTrimNudgeBytes = size_t{64} << 10;

}  // namespace

absl::Status ConfigureHeapForPasses() {
  absl::Status status;
  auto set = [&status](int option, int value, const char* name) {
    if (mallopt(option, value) != 1 && status.ok()) {
      status = absl::UnavailableError(absl::StrCat("mallopt(", name, ", ", value, ") refused"));
    }
  };
  set(M_ARENA_MAX, kMallocArenas, "M_ARENA_MAX");
  set(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes), "M_MMAP_THRESHOLD");
  set(M_TRIM_THRESHOLD, kPassTrimThreshold, "M_TRIM_THRESHOLD");
  return status;
}

void ReleaseFreeHeap() {
  // The threshold is process-wide: a free() on another thread in this
  // window may trim its arena too, which is harmless.
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kIdleTrimThresholdBytes));
  // Freed at once: its free() trims this thread's arena top down to the
  // pad. Volatile: a malloc/free pair with no use may be elided.
  void* volatile nudge = std::malloc(kTrimNudgeBytes);
  std::free(nudge);
  mallopt(M_TRIM_THRESHOLD, kPassTrimThreshold);
  malloc_trim(0);
}

}  // namespace vfguard::agent
