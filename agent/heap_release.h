// Giving a pass's freed heap back to the kernel once the worker is idle,
// with glibc malloc (docs/performance.md, "A pass holds one chunk of kernel
// filters; the idle worker trims its arena").
//
// malloc_trim(0) releases the free pages inside every arena's free chunks
// and the main arena's top, but never the top of a thread's arena; glibc
// trims that only in a free() of 64 KiB or more, and only above
// M_TRIM_THRESHOLD, which it raises to twice the largest mmapped block freed
// so far (MBs after a large pass). The worker's arena is a thread arena, and
// the last transients of a pass end up at its top: ~800 kB stayed resident
// after a 250-port install (47 B per filter). A fixed low threshold trims
// it, but trims (madvise) throughout every pass, which slowed the cold
// install under TCG. So passes run with thresholds that never trim and a
// fixed mmap threshold, and the idle worker trims once.
//
// And at most kMallocArenas arenas: the reactor's (main) arena and one
// more, which the worker shares with the compiler's helper threads and the
// write lanes. Those are short-lived threads; by default each gets an arena
// of its own (up to 8 per core) whose top nothing trims: 544-580 kB after a
// 100-port install, 79 B per filter.
#ifndef VFGUARD_AGENT_HEAP_RELEASE_H_
#define VFGUARD_AGENT_HEAP_RELEASE_H_

#include <cstddef>

#include "absl/status/status.h"

namespace vfguard::agent {

// Blocks at least this large are mmapped (and unmapped when freed); smaller
// ones come from the arenas, where the next pass reuses them.
inline constexpr size_t kMmapThresholdBytes = size_t{4} << 20;
// What the idle trim leaves at an arena's top (glibc's top pad is added).
inline constexpr size_t kIdleTrimThresholdBytes = size_t{128} << 10;

inline constexpr int kMallocArenas = 2;

// Process-wide, once at startup, before any thread exists: kMallocArenas,
// the fixed mmap threshold, and a trim threshold that no free() in a pass
// reaches. An error names the setting glibc refused (the rest still apply).
absl::Status ConfigureHeapForPasses();

// On the worker thread, when it is idle: trims its own arena's top, then
// malloc_trim(0) for the free pages of every arena and the main arena's top.
void ReleaseFreeHeap();

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_HEAP_RELEASE_H_
