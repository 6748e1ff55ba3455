// An abstract frame entering the eswitch, and what became of it.
//
// Shared by the reference evaluator (semantics) and the pipeline simulator
// (IR), so the property tests can compare the two on the same input.
#ifndef VFGUARD_POLICY_PACKET_H_
#define VFGUARD_POLICY_PACKET_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/addr.h"
#include "policy/ir.h"

namespace vfguard::policy {

struct Packet {
  DeviceRef in;  // the uplink, or the representor of the port that sent it
  MacAddr src_mac;
  MacAddr dst_mac;
  std::optional<uint16_t> vlan;  // 802.1Q tag; only frames from the uplink carry one
  uint16_t eth_type = kEthIPv4;  // inner type when tagged

  // ARP/RARP (eth_type kEthArp or kEthRarp)
  uint16_t arp_op = 1;
  IpAddr arp_sip;
  IpAddr arp_tip;
  MacAddr arp_sha;
  MacAddr arp_tha;

  // IPv4/IPv6
  IpAddr src_ip;
  IpAddr dst_ip;
  uint8_t ip_proto = 0;
  uint16_t src_port = 0;  // tcp/udp/sctp
  uint16_t dst_port = 0;
  uint8_t icmp_type = 0;  // icmp/icmpv6
  uint8_t icmp_code = 0;
  uint8_t hop_limit = 255;  // IPv6 hop limit (ND requires 255)
  // ICMPv6 NS (135) / NA (136): the message after the 4-byte ICMPv6 header
  // as on the wire (flags word, 16-byte target, options), cut where the
  // frame's payload ends. Build it with NdBody (policy/nd_check.h).
  std::vector<uint8_t> nd_body;

  bool IsIp() const { return eth_type == kEthIPv4 || eth_type == kEthIPv6; }
  bool HasPorts() const;  // ip with tcp/udp/sctp
  bool IsIcmp() const;    // icmp over IPv4 or icmpv6 over IPv6
  bool IsNd() const;      // ICMPv6 135 (NS) or 136 (NA)
  // The same flow in the other direction (addresses, ports, MACs swapped;
  // an ICMP echo request becomes an echo reply; an ARP request becomes a
  // reply whose sender MAC is the reply's source MAC). The caller fixes the
  // source MAC when the original went to a broadcast/multicast address.
  Packet Reply(const DeviceRef& reply_in) const;
  std::string ToString() const;
  auto operator<=>(const Packet&) const = default;
};

// One copy of the frame leaving the eswitch.
struct Delivery {
  DeviceRef out;                 // uplink or a port's VF
  std::optional<uint16_t> vlan;  // tag on the wire (uplink only)
  auto operator<=>(const Delivery&) const = default;
};

struct Verdict {
  std::set<Delivery> deliveries;  // empty = dropped
  // Human-readable path: each step that mattered, last one decided.
  // Not compared by the property tests.
  std::vector<std::string> trace;

  bool Dropped() const { return deliveries.empty(); }
  std::string ToString() const;
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_PACKET_H_
