// How the BPF loaders (activation_monitor, nd_check_program,
// set_match_program) turn libbpf's answers into statuses, in one place so
// they report alike, and how the cls_bpf programs' embedded objects load.
#ifndef VFGUARD_OFFLOAD_BPF_STATUS_H_
#define VFGUARD_OFFLOAD_BPF_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct bpf_object;

namespace vfguard::offload {

// libbpf returns -errno (and sets errno); either way, the positive errno.
int BpfErrno(int ret);

// "<what>: <ENAME> (<n>): <strerror>[ (capabilities hint)][; <detail>]",
// with the status code of the errno.
absl::Status BpfError(absl::string_view what, int err, absl::string_view detail = "");

// The tail of a verifier log (where the rejection reason is), prefixed
// "verifier log: ", or "" when the log is empty.
std::string VerifierLogTail(const std::vector<char>& log);

// Opens an object embedded in the binary (offload/bpf/embed_object.py) and
// loads it, with a verifier log kept only for a rejection. On success the
// caller owns the object (bpf_object__close) and `*prog_fd` is the fd of
// its program `program`. `what` names it in errors ("the ND check").
absl::StatusOr<bpf_object*> LoadEmbeddedObject(const unsigned char* data, size_t size,
                                               const char* program, absl::string_view what,
                                               int* prog_fd);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_BPF_STATUS_H_
