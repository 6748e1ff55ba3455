// ctnetlink (NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK): conntrack entries per
// zone: dump, count, delete (optionally only those involving an address),
// and create (connection handover after a live migration).
//
// Messages are built and parsed here; sending goes through NetlinkSocket.
// Plain conntrack types: no policy type appears.
#ifndef VFGUARD_NETLINK_CONNTRACK_H_
#define VFGUARD_NETLINK_CONNTRACK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "netlink/nl_socket.h"

namespace vfguard::netlink {

struct CtAddress {
  uint8_t family = 2;               // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in the first 4
  auto operator<=>(const CtAddress&) const = default;
};

struct CtTuple {
  CtAddress src;
  CtAddress dst;
  uint8_t proto = 0;
  uint16_t src_port = 0;  // tcp/udp/sctp (host order)
  uint16_t dst_port = 0;
  uint16_t icmp_id = 0;  // icmp/icmpv6 echo
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  auto operator<=>(const CtTuple&) const = default;
};

struct CtEntry {
  CtTuple orig;
  CtTuple reply;
  uint16_t zone = 0;
  uint32_t status = 0;   // IPS_* bits
  uint32_t timeout = 0;  // seconds
  uint32_t mark = 0;
  std::optional<uint8_t> tcp_state;  // TCP_CONNTRACK_*
  auto operator<=>(const CtEntry&) const = default;
};

// IPCTNL_MSG_CT_GET dump of one address family (AF_INET, AF_INET6 or
// AF_UNSPEC for both). With `zone`, the request carries CTA_ZONE, which
// kernels from 6.8 use to filter the dump; older ones ignore it, so callers
// still filter what comes back.
Message EncodeCtDump(uint8_t family, std::optional<uint16_t> zone = std::nullopt);
// IPCTNL_MSG_CT_DELETE of one entry (by its original tuple and zone).
Message EncodeCtDelete(const CtEntry& entry);
// IPCTNL_MSG_CT_NEW creating `entry` (NLM_F_CREATE|NLM_F_EXCL).
Message EncodeCtCreate(const CtEntry& entry);
// One message of a dump; robust against arbitrary bytes.
absl::StatusOr<CtEntry> DecodeCtEntry(absl::Span<const uint8_t> message);

// Convenience over a NETLINK_NETFILTER NetlinkSocket (blocking).
class Conntrack {
 public:
  explicit Conntrack(NetlinkSocket& socket) : socket_(socket) {}
  absl::StatusOr<std::vector<CtEntry>> DumpZone(uint16_t zone);
  absl::StatusOr<size_t> CountZone(uint16_t zone);
  // Deletes the zone's entries; with `address`, only those whose original or
  // reply tuple involves it. Returns how many were deleted (entries that
  // vanished meanwhile are not errors).
  absl::StatusOr<size_t> DeleteZone(uint16_t zone, std::optional<CtAddress> address = {});
  absl::Status Create(const CtEntry& entry);

 private:
  NetlinkSocket& socket_;
};

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_CONNTRACK_H_
