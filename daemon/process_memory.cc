#include "daemon/process_memory.h"

#include <sys/prctl.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vfguard::daemon {

absl::Status KeepAnonymousMemoryInSmallPages() {
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
    return absl::UnavailableError(
        absl::StrCat("prctl(PR_SET_THP_DISABLE): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

bool HugePagesDisabled() { return prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1; }

}  // namespace vfguard::daemon
