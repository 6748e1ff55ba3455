#include "daemon/process_memory.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

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

}  // namespace
}  // namespace vfguard::daemon
