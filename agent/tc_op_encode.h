// The netlink request for one TcOp, as NetlinkTcBackend sends it; the fake
// backend runs the same encoder so that both refuse exactly the same ops
// (InvalidArgument naming the field) before anything reaches a kernel.
//
// kCreateClsact = "tc qdisc add ... clsact" (NLM_F_CREATE|NLM_F_EXCL),
// kDeleteClsact = qdisc_codec's EncodeDelClsact, kCreateFilter = "tc filter
// add" (EEXIST if present), kReplaceFilter = "tc filter change" (no create
// flags: ENOENT if absent, else an atomic swap), kDeleteFilter = "tc filter del".
#ifndef VFGUARD_AGENT_TC_OP_ENCODE_H_
#define VFGUARD_AGENT_TC_OP_ENCODE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/tc_backend.h"

namespace vfguard::agent {

// Writes the request into `out` (4-byte aligned) and returns its length.
absl::StatusOr<size_t> EncodeTcOp(const TcOp& op, uint32_t seq, absl::Span<uint8_t> out);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_OP_ENCODE_H_
