// IPv6 neighbour discovery checks (docs/semantics.md §3.3) as the ND check
// program runs them: the simulator's model of offload/bpf/nd_check.bpf.c,
// byte for byte over the message, and the helpers that build ND messages for
// tests, generators and agentctl trace. Pure: no I/O.
//
// The reference evaluator does not use CheckNdMessage: it implements §3.3
// from the text on its own, so that the property tests compare two readings.
#ifndef VFGUARD_POLICY_ND_CHECK_H_
#define VFGUARD_POLICY_ND_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "policy/addr.h"
#include "policy/ir.h"
#include "policy/packet.h"

namespace vfguard::policy {

inline constexpr uint8_t kIcmp6NeighborSolicitation = 135;
inline constexpr uint8_t kIcmp6NeighborAdvertisement = 136;
inline constexpr uint8_t kNdOptSourceLla = 1;
inline constexpr uint8_t kNdOptTargetLla = 2;
// The flags/reserved word and the target: the fixed part after the ICMPv6
// header (RFC 4861 4.3, 4.4).
inline constexpr size_t kNdFixedBytes = 20;
// More options than this make a message malformed (the program's bounded
// loop; real NS/NA carry one or two).
inline constexpr int kNdMaxOptions = 8;
// At most this many (MAC, IPv6 prefix) pairs per port fit the map entry.
inline constexpr size_t kNdMaxAllowed = 64;

struct NdOption {
  uint8_t type = kNdOptSourceLla;
  uint8_t length = 1;  // in units of 8 bytes, as on the wire; 0 is malformed
  MacAddr mac;         // the first 6 bytes after the option header
};

// The message after the ICMPv6 header: flags word (NA: R 0x80, S 0x40,
// O 0x20), target, options (each `length` * 8 bytes, zero-padded after the
// MAC; a length-0 option takes 8 bytes so later options stay aligned).
std::vector<uint8_t> NdBody(const IpAddr& target, const std::vector<NdOption>& options,
                            uint8_t flags = 0);

struct NdCheckResult {
  bool ok = true;
  std::string reason;  // why it was dropped, or what was checked
};

// The ND check of a frame from a port whose map entry is `allowed`
// (allowed(P, M) for IPv6, per MAC). `p` must be ICMPv6 135 or 136.
NdCheckResult CheckNdMessage(const Packet& p, const std::vector<NdAllowed>& allowed);

// The map entry of a port: allowed(P, M) restricted to IPv6, for every MAC M
// (fixed IPs, VIPs, the EUI-64 link-local of P.mac, allowed pairs).
std::vector<NdAllowed> NdAllowedOf(const MacAddr& port_mac, const std::vector<IpAddr>& fixed_ips,
                                   const std::vector<IpAddr>& vips,
                                   const std::vector<std::pair<MacAddr, IpPrefix>>& pairs);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_ND_CHECK_H_
