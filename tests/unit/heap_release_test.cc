// The idle worker's heap release (agent/heap_release.h): a thread arena's
// top, which malloc_trim leaves, is given back. Each case runs in a child
// process: the malloc settings are process-wide.
#include "agent/heap_release.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/in_child.h"

namespace vfguard::agent {
namespace {

using test_support::InChild;

// Under AddressSanitizer malloc is the sanitizer's allocator: glibc's
// arenas, thresholds and malloc_info do not describe it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

// malloc_info(3) as text.
std::string MallocInfo() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  std::fclose(out);
  std::string info(text, size);
  std::free(text);
  return info;
}

// The largest "system current" of the thread arenas malloc_info reports
// (heap nr >= 1), in bytes.
size_t LargestThreadArenaBytes() {
  const std::string info = MallocInfo();
  const char* text = info.c_str();
  size_t largest = 0;
  bool thread_arena = false;
  for (const char* p = text; *p != '\0'; ++p) {
    if (std::strncmp(p, "<heap nr=\"", 10) == 0) thread_arena = std::atoi(p + 10) >= 1;
    constexpr char kCurrent[] = "<system type=\"current\" size=\"";
    if (thread_arena && std::strncmp(p, kCurrent, sizeof kCurrent - 1) == 0) {
      largest = std::max<size_t>(largest, std::strtoull(p + sizeof kCurrent - 1, nullptr, 10));
      thread_arena = false;
    }
  }
  return largest;
}

constexpr int kNotConfigured = 250;
constexpr int kNoThreadArena = 251;

// On a thread of its own (a thread arena): a pass's worth of small blocks,
// freed, then `release`; how much of the arena it gave back, in 64 kB units
// (an exit status holds it), or one of the codes above.
template <typename Release>
int UnitsGivenBack(Release release) {
  if (!ConfigureHeapForPasses().ok()) return kNotConfigured;
  size_t before = 0, after = 0;
  std::thread([&] {
    std::vector<std::unique_ptr<char[]>> blocks;
    blocks.reserve(40000);
    for (int i = 0; i < 40000; ++i) blocks.push_back(std::make_unique<char[]>(200));
    blocks.clear();
    blocks.shrink_to_fit();
    before = LargestThreadArenaBytes();
    release();
    after = LargestThreadArenaBytes();
  }).join();
  if (before < (size_t{4} << 20)) return -1;             // the blocks did not grow a thread arena
  return static_cast<int>((before - after) >> 10) / 64;  // in 64 kB units: fits an exit status
}

// The number of arenas malloc_info reports (one <heap nr=...> each).
int MallocArenas() {
  const std::string info = MallocInfo();
  int n = 0;
  for (size_t at = info.find("<heap nr="); at != std::string::npos;
       at = info.find("<heap nr=", at + 1)) {
    ++n;
  }
  return n;
}

// Threads that allocate at the same time: without the limit each would get
// an arena of its own.
int ArenasAfterBusyThreads() {
  std::vector<std::thread> threads;
  threads.reserve(6);
  std::latch all_allocated(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&all_allocated] {
      std::vector<std::unique_ptr<char[]>> blocks;
      blocks.reserve(64);
      for (int i = 0; i < 64; ++i) blocks.push_back(std::make_unique<char[]>(4096));
      all_allocated.arrive_and_wait();  // all hold their blocks at once
    });
  }
  for (std::thread& t : threads) t.join();
  return MallocArenas();
}

TEST(HeapRelease, ThreadsShareTwoMallocArenas) {
  if (!kGlibcMalloc) GTEST_SKIP() << "malloc is the sanitizer's, not glibc's";
  // Without the limit the check itself sees more: it can fail.
  EXPECT_GT(InChild([] { return ArenasAfterBusyThreads(); }), kMallocArenas);
  const int limited = InChild([] {
    if (!ConfigureHeapForPasses().ok()) return 100;
    return ArenasAfterBusyThreads();
  });
  EXPECT_GE(limited, 1);
  EXPECT_LE(limited, kMallocArenas);
}

TEST(HeapRelease, TheIdleWorkerGivesBackItsArenasTop) {
  if (!kGlibcMalloc) GTEST_SKIP() << "malloc is the sanitizer's, not glibc's";
  // malloc_trim alone keeps a thread arena's top (this could fail: it is
  // why ReleaseFreeHeap exists).
  const int trim_only = InChild([] { return UnitsGivenBack([] { malloc_trim(0); }); });
  const int released = InChild([] { return UnitsGivenBack(ReleaseFreeHeap); });
  ASSERT_NE(trim_only, kNotConfigured);
  ASSERT_NE(trim_only, kNoThreadArena) << "the test's blocks did not land in a thread arena";
  ASSERT_NE(released, kNotConfigured);
  ASSERT_NE(released, kNoThreadArena);
  EXPECT_EQ(trim_only, 0);
  EXPECT_GE(released, 4 * 1024 / 64) << "at least 4 MB of the ~8 MB freed given back";
}

}  // namespace
}  // namespace vfguard::agent
