// What each kernel hook that writes cls_bpf filters (the activation hook,
// the ND check, the set-match filters) sets up in its Create(): its BPF
// program loaded, then its own NETLINK_ROUTE socket on the hook's private
// io_context (the filter requests are short synchronous ones, kept off the
// reactor's socket).
#ifndef VFGUARD_AGENT_BPF_HOOK_SETUP_H_
#define VFGUARD_AGENT_BPF_HOOK_SETUP_H_

#include <linux/netlink.h>

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

// `load()` returns absl::StatusOr<std::unique_ptr<Program>> (e.g.
// &offload::NdCheckProgram::Create). Sets `program` and `socket` only when
// both succeed. Errors: the loader's (no CAP_BPF, no BPF), else
// NetlinkSocket::Open's, unchanged.
template <typename Program, typename Load>
absl::Status SetUpBpfHook(const Load& load, boost::asio::io_context& private_io,
                          std::unique_ptr<Program>& program,
                          std::unique_ptr<netlink::NetlinkSocket>& socket) {
  absl::StatusOr<std::unique_ptr<Program>> loaded = load();
  if (!loaded.ok()) return loaded.status();
  absl::StatusOr<std::unique_ptr<netlink::NetlinkSocket>> opened =
      netlink::NetlinkSocket::Open(private_io, NETLINK_ROUTE);
  if (!opened.ok()) return opened.status();
  program = std::move(*loaded);
  socket = std::move(*opened);
  return absl::OkStatus();
}

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_BPF_HOOK_SETUP_H_
