// Statuses for tc operations in the form the TcBackend contract promises:
// exactly what netlink::DecodeAck builds from a kernel NLMSG_ERROR, so that
// netlink::ErrnoFromStatus / ExtackFromStatus read errno and extack back the
// same way whichever backend produced them.
#ifndef VFGUARD_AGENT_TC_ERRNO_STATUS_H_
#define VFGUARD_AGENT_TC_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

// The status DecodeAck gives for an NLMSG_ERROR carrying -`err` and the
// extack message `extack` (may be empty). err == 0 is OK.
absl::Status TcErrnoStatus(int err, absl::string_view extack);

// A netlink socket's per-request result in that form (the socket formats its
// own message; errno and extack are carried over).
absl::Status TcStatusFromResult(const netlink::RequestResult& result);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_ERRNO_STATUS_H_
