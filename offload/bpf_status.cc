#include "offload/bpf_status.h"

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

}  // namespace vfguard::offload
