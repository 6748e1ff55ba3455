// The one-line packet description of /v1/trace and `agentctl trace`:
//
//   PROTO SRC[:PORT] -> DST[:PORT] [type N [code N]] [ND...]
//
// PROTO is tcp, udp, sctp, icmp, icmpv6 (case-insensitive) or a protocol
// number 0-255; ports (0-65535) only with tcp/udp/sctp, where they are
// optional (absent = 0); `type`/`code` (0-255) only with icmp/icmpv6 (absent
// type = echo request: 8 for icmp, 128 for icmpv6). IPv6 addresses are
// written in brackets when a port follows (`[2001:db8::1]:80`) and may be
// bracketed without one. ND (icmpv6 type 135 NS or 136 NA only): `target
// ADDR` (default: an NA's source, an NS's destination), `tlla MAC` / `slla
// MAC` (a target/source link-layer address option each, in order) and
// `hlim N` (hop limit, default 255) build the message the ND check reads.
// Both addresses must be of one family, and icmp needs IPv4, icmpv6 IPv6.
// Examples:
//   tcp 10.0.0.5:1234 -> 10.0.0.7:80
//   icmp 10.0.0.5 -> 10.0.0.7 type 0 code 0
//   udp [fe80::1]:546 -> [ff02::1:2]:547
//   icmpv6 fd00::11 -> ff02::1 type 136 target fd00::12 tlla 52:54:00:00:00:11
//
// The result has only the L3/L4 fields set (eth_type, addresses, protocol,
// ports, ICMP type/code); the caller fills in the ingress device and MACs.
// Errors are InvalidArgument, start with `packet: ` and quote the offending
// token, so an API error can name the field.
#ifndef VFGUARD_AGENT_PACKET_TEXT_H_
#define VFGUARD_AGENT_PACKET_TEXT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "policy/packet.h"

namespace vfguard::agent {

absl::StatusOr<policy::Packet> ParsePacketText(std::string_view text);

// The inverse for the fields ParsePacketText sets (canonical spelling).
std::string PacketToText(const policy::Packet& packet);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_PACKET_TEXT_H_
