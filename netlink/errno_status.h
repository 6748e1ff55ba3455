// The one errno -> absl::Status mapping of netlink/: kernel answers
// (NLMSG_ERROR, a failed dump's NLMSG_DONE), socket calls and the in-memory
// backends' answers all become statuses of this one form, so a caller reads
// the errno and the kernel's extack back the same way wherever a status came
// from (hw_errno reporting, the reconciler's retry decisions, conntrack's
// "already there").
//
// Form: absl::ErrnoToStatusCode's code (EOPNOTSUPP Unimplemented, EINVAL
// InvalidArgument, ENOENT/ENODEV NotFound, EEXIST AlreadyExists,
// EPERM/EACCES PermissionDenied, ENOSPC/ENOMEM/ENOBUFS ResourceExhausted,
// EBUSY/EAGAIN Unavailable, ...), the message
//   "EEXIST (errno 17): File exists[: <context>][; kernel says: <extack>]"
// and the errno and extack as payloads (ErrnoFromStatus, ExtackFromStatus).
#ifndef VFGUARD_NETLINK_ERRNO_STATUS_H_
#define VFGUARD_NETLINK_ERRNO_STATUS_H_

#include <linux/netlink.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vfguard::netlink {

// OK for err == 0; otherwise the status above for the positive errno `err`.
// `extack` is the kernel's extended ack message, `context` what failed
// ("sendmsg", "bind"); either may be empty.
absl::Status ErrnoStatus(int err, absl::string_view extack = {}, absl::string_view context = {});

// The errno an ErrnoStatus carries, or 0 (OK, or a status not made by it).
int ErrnoFromStatus(const absl::Status& status);
// The kernel's extack an ErrnoStatus carries, or "".
std::string ExtackFromStatus(const absl::Status& status);

// The kernel's answer in an NLMSG_ERROR (an ack, or a refusal with its
// extack TLVs after the echoed request) or in the NLMSG_DONE of a dump (its
// negative errno, extack TLVs after it), `h.nlmsg_len` bytes readable: OK
// for an ack or a clean end, else ErrnoStatus(errno, extack). The TLVs are
// read with the one attribute parser (tc_wire::AttrIndex). InvalidArgument
// for a message of another type, one too short for its header, or an errno
// outside 1..4095.
absl::Status KernelAnswerStatus(const nlmsghdr& h);

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_ERRNO_STATUS_H_
