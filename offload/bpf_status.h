// How the BPF loaders (activation_monitor, nd_check_program) turn libbpf's
// answers into statuses, in one place so both report alike.
#ifndef VFGUARD_OFFLOAD_BPF_STATUS_H_
#define VFGUARD_OFFLOAD_BPF_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vfguard::offload {

// libbpf returns -errno (and sets errno); either way, the positive errno.
int BpfErrno(int ret);

// "<what>: <ENAME> (<n>): <strerror>[ (capabilities hint)][; <detail>]",
// with the status code of the errno.
absl::Status BpfError(absl::string_view what, int err, absl::string_view detail = "");

// The tail of a verifier log (where the rejection reason is), prefixed
// "verifier log: ", or "" when the log is empty.
std::string VerifierLogTail(const std::vector<char>& log);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_BPF_STATUS_H_
