#include "offload/bpf_status.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vfguard::offload {

int BpfErrno(int ret) { return ret < 0 ? -ret : (errno != 0 ? errno : EINVAL); }

absl::Status BpfError(absl::string_view what, int err, absl::string_view detail) {
  std::string message =
      absl::StrCat(what, ": ", strerrorname_np(err) ? strerrorname_np(err) : "errno", " (", err,
                   "): ", std::strerror(err));
  if (err == EPERM || err == EACCES) {
    absl::StrAppend(&message, " (loading BPF needs CAP_BPF and CAP_NET_ADMIN, or root)");
  }
  if (!detail.empty()) absl::StrAppend(&message, "; ", detail);
  return absl::Status(absl::ErrnoToStatusCode(err), message);
}

std::string VerifierLogTail(const std::vector<char>& log) {
  std::string text(log.data(), strnlen(log.data(), log.size()));
  constexpr size_t kKeep = 1500;
  if (text.size() > kKeep) text = "..." + text.substr(text.size() - kKeep);
  return text.empty() ? "" : absl::StrCat("verifier log: ", text);
}

absl::StatusOr<bpf_object*> LoadEmbeddedObject(const unsigned char* data, size_t size,
                                               const char* program, absl::string_view what,
                                               int* prog_fd) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = program);
  errno = 0;
  bpf_object* object = bpf_object__open_mem(data, size, &open_opts);
  if (object == nullptr) {
    return BpfError(absl::StrCat("opening the embedded ", what, " BPF object"), BpfErrno(-errno));
  }
  bpf_program* prog = bpf_object__find_program_by_name(object, program);
  if (prog == nullptr) {
    bpf_object__close(object);
    return absl::InternalError(absl::StrCat("embedded BPF object has no program ", program));
  }
  // Log level 0 with a buffer: libbpf loads without a log and only on a
  // rejection loads again with one (a full log would itself fail the load
  // with ENOSPC on 6.1: the ND check's verified log is larger than 64 KiB).
  std::vector<char> log(256 * 1024, '\0');
  bpf_program__set_log_buf(prog, log.data(), log.size());
  if (int ret = bpf_object__load(object); ret != 0) {
    bpf_object__close(object);
    return BpfError(absl::StrCat("loading the ", what, " BPF program"), BpfErrno(ret),
                    VerifierLogTail(log));
  }
  bpf_program__set_log_buf(prog, nullptr, 0);
  *prog_fd = bpf_program__fd(prog);
  return object;
}

}  // namespace vfguard::offload
