#include "agent/tc_op_encode.h"

#include "netlink/qdisc_codec.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {

absl::StatusOr<size_t> EncodeTcOp(const TcOp& op, uint32_t seq, absl::Span<uint8_t> out) {
  switch (op.kind) {
    case TcOp::Kind::kCreateClsact:
      return netlink::EncodeNewClsact(op.qdisc, netlink::CreateMode::kCreateExclusive, seq, out);
    case TcOp::Kind::kDeleteClsact:
      return netlink::EncodeDelClsact(op.qdisc.ifindex, seq, out);
    case TcOp::Kind::kCreateFilter:
      return netlink::EncodeNewFilter(op.filter, netlink::CreateMode::kCreateExclusive, seq, out);
    case TcOp::Kind::kReplaceFilter:
      return netlink::EncodeNewFilter(op.filter, netlink::CreateMode::kReplaceOnly, seq, out);
    case TcOp::Kind::kDeleteFilter:
      return netlink::EncodeDelFilter(op.filter, seq, out);
  }
  return absl::InvalidArgumentError("kind: unknown tc op kind");
}

}  // namespace vfguard::agent
