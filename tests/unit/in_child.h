// Runs a test body in a child process, for settings that are per process
// (malloc options, prctl flags) and must not leak into the test's own.
#ifndef VFGUARD_TESTS_UNIT_IN_CHILD_H_
#define VFGUARD_TESTS_UNIT_IN_CHILD_H_

#include <sys/wait.h>
#include <unistd.h>

namespace vfguard::test_support {

// `body()`'s value as the child's exit status (0-255); 255 if the child
// did not exit normally.
template <typename F>
int InChild(F body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

}  // namespace vfguard::test_support

#endif  // VFGUARD_TESTS_UNIT_IN_CHILD_H_
