// tc netlink codec: builds RTM_NEWQDISC / RTM_{NEW,DEL,GET}TFILTER requests for
// clsact and flower, and decodes flower filters from dumps and events.
//
// Encoders write one message into a caller-provided, 4-byte aligned buffer
// and return its aligned length, so a caller can pack many messages back to
// back and send them with one sendmsg. A message that does not fit returns
// RESOURCE_EXHAUSTED and the buffer contents past the start are unspecified.
// Every request carries NLM_F_REQUEST | NLM_F_ACK (dumps: NLM_F_DUMP) plus the
// caller's creation flags.
//
// Decoders accept arbitrary bytes: malformed input yields an error status
// naming what is wrong, never a crash or an out-of-bounds read.
#ifndef VFGUARD_NETLINK_TC_CODEC_H_
#define VFGUARD_NETLINK_TC_CODEC_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "netlink/errno_status.h"  // ErrnoFromStatus, ExtackFromStatus
#include "netlink/tc_types.h"

namespace vfguard::netlink {

// NLM_F_* creation semantics for new objects.
enum class CreateMode : uint16_t {
  kCreateExclusive,  // NLM_F_CREATE | NLM_F_EXCL: fail with EEXIST if present ("tc add")
  kCreateOrReplace,  // NLM_F_CREATE (+ NLM_F_REPLACE for qdiscs): replace if present ("tc replace")
  kReplaceOnly,      // no flags: fail with ENOENT if absent ("tc change")
};

// RTM_NEWQDISC for clsact on `qdisc.ifindex`, binding its ingress hook to
// `qdisc.ingress_block` when non-zero.
absl::StatusOr<size_t> EncodeNewClsact(const ClsactQdisc& qdisc, CreateMode mode, uint32_t seq,
                                       absl::Span<uint8_t> out);

// RTM_NEWTFILTER: the whole filter (keys, flags, actions). Validates first;
// invalid filters return INVALID_ARGUMENT naming the field and write nothing
// meaningful.
absl::StatusOr<size_t> EncodeNewFilter(const FlowerFilter& filter, CreateMode mode, uint32_t seq,
                                       absl::Span<uint8_t> out);

// RTM_DELTFILTER for the filter identified by (owner, chain, prio, protocol,
// handle); keys and actions are not sent (the kernel ignores them on delete).
// prio 0 deletes every filter of the chain; handle 0 every filter of the prio.
absl::StatusOr<size_t> EncodeDelFilter(const FlowerFilter& filter, uint32_t seq,
                                       absl::Span<uint8_t> out);

// RTM_GETTFILTER dump of all filters on `owner`, or of one chain.
absl::StatusOr<size_t> EncodeDumpFilters(const FilterOwner& owner, std::optional<uint32_t> chain,
                                         uint32_t seq, absl::Span<uint8_t> out);

// Decodes one RTM_NEWTFILTER / RTM_DELTFILTER message (header included).
// Returns nullopt for the per-(chain, prio, protocol) records a dump
// interleaves with the filters (they carry no handle and no options).
// A filter of another kind than flower is an error naming the kind.
absl::StatusOr<std::optional<FlowerFilter>> DecodeFilterMessage(absl::Span<const uint8_t> msg);

// Decodes a buffer of back-to-back messages as received from a dump: filter
// messages are collected, NLMSG_DONE ends the dump, NLMSG_ERROR is returned as
// the error it carries (see DecodeAck).
absl::StatusOr<std::vector<FlowerFilter>> DecodeFilterDump(absl::Span<const uint8_t> buffer);

// Decodes an NLMSG_ERROR message: OK for an ACK (error 0); otherwise the
// status netlink/errno_status.h builds (KernelAnswerStatus: the errno and
// the kernel's extack, read back with ErrnoFromStatus / ExtackFromStatus).
absl::Status DecodeAck(absl::Span<const uint8_t> msg);

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_TC_CODEC_H_
