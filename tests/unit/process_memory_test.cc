#include "daemon/process_memory.h"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace vfguard::daemon {
namespace {

// Runs `body` in a child process (the setting is per process, and this
// test's process keeps its own); the child's exit status.
template <typename F>
int InChild(F body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(ProcessMemory, TurnsHugePagesOffForTheProcessAndItsChildrenOnly) {
  const bool before = HugePagesDisabled();
  const int child = InChild([] {
    if (!KeepAnonymousMemoryInSmallPages().ok()) return 1;
    if (!HugePagesDisabled()) return 2;
    // Inherited: a process the daemon forks keeps small pages too.
    return InChild([] { return HugePagesDisabled() ? 0 : 3; }) == 0 ? 0 : 4;
  });
  EXPECT_EQ(child, 0);
  EXPECT_EQ(HugePagesDisabled(), before);  // the parent's setting is its own
}

// The number of arenas malloc_info reports (one <heap nr=...> each).
int MallocArenas() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  std::fclose(out);
  int n = 0;
  for (const char* p = text; (p = std::strstr(p, "<heap nr=")) != nullptr; ++p) ++n;
  std::free(text);
  return n;
}

// Threads that allocate at the same time: without the limit each would get
// an arena of its own.
int ArenasAfterBusyThreads() {
  std::vector<std::thread> threads;
  std::latch all_allocated(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&all_allocated] {
      std::vector<std::unique_ptr<char[]>> blocks;
      for (int i = 0; i < 64; ++i) blocks.push_back(std::make_unique<char[]>(4096));
      all_allocated.arrive_and_wait();  // all hold their blocks at once
    });
  }
  for (std::thread& t : threads) t.join();
  return MallocArenas();
}

TEST(ProcessMemory, ThreadsShareTwoMallocArenas) {
  // Without the limit the check itself would see more: it can fail.
  EXPECT_GT(InChild([] { return ArenasAfterBusyThreads(); }), kMallocArenas);
  const int limited = InChild([] {
    if (!ShareMallocArenas().ok()) return 100;
    return ArenasAfterBusyThreads();
  });
  EXPECT_GE(limited, 1);
  EXPECT_LE(limited, kMallocArenas);
}

}  // namespace
}  // namespace vfguard::daemon
