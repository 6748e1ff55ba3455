// Value types for link-layer and IP addresses, with strict parsers.
//
// These are the only address types policy/ uses. They are small, regular
// values (comparable, hashable) so that snapshots and IR can hold them
// directly and compare byte-for-byte.
#ifndef VFGUARD_POLICY_ADDR_H_
#define VFGUARD_POLICY_ADDR_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vfguard::policy {

struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  // Accepts "aa:bb:cc:dd:ee:ff" (case-insensitive). Nothing else.
  static std::optional<MacAddr> Parse(std::string_view text);
  static MacAddr Broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }

  bool IsMulticast() const { return (bytes[0] & 0x01) != 0; }  // includes broadcast
  bool IsZero() const { return bytes == std::array<uint8_t, 6>{}; }
  std::string ToString() const;
  auto operator<=>(const MacAddr&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const MacAddr& m) {
    return H::combine(std::move(h), m.bytes);
  }
};

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

// An IPv4 or IPv6 address. IPv4 uses the first 4 bytes of `bytes`; the rest
// stay zero so that equality and ordering are plain byte comparisons.
struct IpAddr {
  IpFamily family = IpFamily::kV4;
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddr> Parse(std::string_view text);
  static IpAddr V4(uint32_t host_order);
  static IpAddr AnyV4() { return IpAddr{}; }
  static IpAddr AnyV6() { return IpAddr{IpFamily::kV6, {}}; }
  // fe80::/64 address with the modified EUI-64 interface id of `mac`.
  static IpAddr LinkLocalFromMac(const MacAddr& mac);

  int BitLength() const { return family == IpFamily::kV4 ? 32 : 128; }
  bool IsUnspecified() const { return bytes == std::array<uint8_t, 16>{}; }
  bool IsMulticast() const;
  uint32_t V4HostOrder() const;
  std::string ToString() const;
  auto operator<=>(const IpAddr&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpAddr& a) {
    return H::combine(std::move(h), a.family, a.bytes);
  }
};

// An address with a prefix length: "10.0.0.0/24", "fd00::/64"; a bare address
// parses as a host prefix (/32 or /128). Host bits must be zero only when
// `strict` is set; otherwise they are cleared.
struct IpPrefix {
  IpAddr addr;
  uint8_t length = 32;

  static std::optional<IpPrefix> Parse(std::string_view text, bool strict = false);
  static IpPrefix Host(const IpAddr& a) { return IpPrefix{a, static_cast<uint8_t>(a.BitLength())}; }
  bool Contains(const IpAddr& a) const;
  IpAddr Mask() const;  // netmask as an address of the same family
  std::string ToString() const;
  auto operator<=>(const IpPrefix&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpPrefix& p) {
    return H::combine(std::move(h), p.addr, p.length);
  }
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_ADDR_H_
