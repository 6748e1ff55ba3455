// A placed kSetMatch IR filter (policy/ir.h) as the set-match hook's input
// (offload::SetMatchFilter): where the cls_bpf filter goes and what it runs
// come from ToKernelFilter (the same owner, chain, prio, handle, protocol
// and actions a flower filter there would have), what it matches from the
// IR's L4 keys and its set.
#ifndef VFGUARD_OFFLOAD_SET_MATCH_TRANSLATE_H_
#define VFGUARD_OFFLOAD_SET_MATCH_TRANSLATE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "offload/set_match_plan.h"
#include "offload/tc_translate.h"
#include "policy/ir.h"

namespace vfguard::offload {

// Errors: InvalidArgument (naming the filter's chain, prio, handle and field) for a
// filter that is not kSetMatch, has no set, has a protocol other than IPv4
// or IPv6, or matches on a key the program does not read (anything besides
// ip_proto, dst_port, icmp_type and icmp_code); ToKernelFilter's errors for
// its place and actions (e.g. NotFound for a device that is not present).
absl::StatusOr<SetMatchFilter> ToSetMatchFilter(const policy::Filter& filter, uint32_t block,
                                                const DeviceResolver& devices);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_SET_MATCH_TRANSLATE_H_
