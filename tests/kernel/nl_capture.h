// Writes kernel replies as hex fixtures for the unit tier when the kernel
// tests run with VFGUARD_NL_CAPTURE_DIR set (tests/unit/fixtures/ holds the
// result; see docs/netlink.md, "Tests and fixtures"). Without the variable
// nothing is written.
#ifndef VFGUARD_TESTS_KERNEL_NL_CAPTURE_H_
#define VFGUARD_TESTS_KERNEL_NL_CAPTURE_H_

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "netlink/nl_socket.h"

namespace vfguard::netlink::testing {

// `messages` are written back to back (each carries its own nlmsg_len), 16
// bytes a line, under two comment lines naming the kernel and `what`.
inline void CaptureFixture(const std::string& file, const std::string& what,
                           const std::vector<Message>& messages) {
  const char* dir = getenv("VFGUARD_NL_CAPTURE_DIR");
  if (dir == nullptr || *dir == '\0') return;
  std::string path = std::string(dir) + "/" + file;
  FILE* f = fopen(path.c_str(), "w");
  if (f == nullptr) {
    fprintf(stderr, "capture: cannot write %s\n", path.c_str());
    return;
  }
  utsname u{};
  uname(&u);
  fprintf(f, "# captured from Linux %s by the kernel tier with VFGUARD_NL_CAPTURE_DIR:\n",
          u.release);
  fprintf(f, "# %s (%zu message(s))\n", what.c_str(), messages.size());
  size_t column = 0;
  for (const Message& m : messages) {
    for (uint8_t b : m) {
      fprintf(f, "%02x%s", b, ++column % 16 == 0 ? "\n" : " ");
    }
  }
  if (column % 16 != 0) fprintf(f, "\n");
  fclose(f);
  printf("capture: wrote %s\n", path.c_str());
}

}  // namespace vfguard::netlink::testing

#endif  // VFGUARD_TESTS_KERNEL_NL_CAPTURE_H_
