// Qdisc messages the reconciler needs beyond creating clsact (tc_codec.h):
// a dump of every qdisc, deleting a device's clsact, and decoding the dumped
// qdiscs into (ifindex, kind, ingress block).
//
// Encoders follow tc_codec.h: one message into a caller-provided, 4-byte
// aligned buffer, returning its aligned length, RESOURCE_EXHAUSTED when it
// does not fit. Decoders accept arbitrary bytes and name what is malformed.
#ifndef VFGUARD_NETLINK_QDISC_CODEC_H_
#define VFGUARD_NETLINK_QDISC_CODEC_H_

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vfguard::netlink {

// One qdisc as a dump reports it.
struct QdiscInfo {
  uint32_t ifindex = 0;
  uint32_t handle = 0;
  uint32_t parent = 0;
  std::string kind;            // TCA_KIND: "clsact", "noqueue", "mq", ...
  uint32_t ingress_block = 0;  // TCA_INGRESS_BLOCK; 0 when absent (private block)
  auto operator<=>(const QdiscInfo&) const = default;
};

// RTM_GETQDISC dump of the qdiscs of every device.
absl::StatusOr<size_t> EncodeDumpQdiscs(uint32_t seq, absl::Span<uint8_t> out);

// RTM_DELQDISC of the clsact qdisc on `ifindex` ("tc qdisc del dev X clsact",
// but without handle and kind, so that the kernel answers ENOENT, not EINVAL,
// when the device has none; an "ingress" qdisc there goes too). It drops every filter
// of the device's private blocks with it (a shared block lives on while
// another device is bound to it).
absl::StatusOr<size_t> EncodeDelClsact(uint32_t ifindex, uint32_t seq, absl::Span<uint8_t> out);

// Decodes one RTM_NEWQDISC / RTM_DELQDISC message (header included).
absl::StatusOr<QdiscInfo> DecodeQdiscMessage(absl::Span<const uint8_t> msg);

// Decodes back-to-back dump messages: qdisc messages are collected,
// NLMSG_DONE ends the dump, NLMSG_ERROR is returned as its error (DecodeAck).
absl::StatusOr<std::vector<QdiscInfo>> DecodeQdiscDump(absl::Span<const uint8_t> buffer);

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_QDISC_CODEC_H_
