// Creates or replaces one cls_bpf filter (the activation hook, the ND check,
// the set-match filters)
// over a NETLINK_ROUTE socket and waits for the kernel's answer. `what`
// names the hook in the error, e.g. "the ND check".
#ifndef VFGUARD_AGENT_BPF_FILTER_ATTACH_H_
#define VFGUARD_AGENT_BPF_FILTER_ATTACH_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "netlink/bpf_filter_codec.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

// Errors: the encoder's, or the kernel's refusal with its code and extack,
// prefixed "attaching <what> to block B chain C prio P: ".
absl::Status AttachBpfFilter(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                             absl::string_view what);
// Deletes one cls_bpf filter (owner, chain, prio, protocol, handle); a filter
// that is already gone (ENOENT) is success. Errors prefixed "deleting <what>
// from block B chain C prio P: ".
absl::Status DeleteBpfFilter(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                             absl::string_view what);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_BPF_FILTER_ATTACH_H_
