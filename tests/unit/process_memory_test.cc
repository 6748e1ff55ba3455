#include "daemon/process_memory.h"

#include <cstdlib>

#include "gtest/gtest.h"
#include "tests/unit/in_child.h"

namespace vfguard::daemon {
namespace {

using test_support::InChild;

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
