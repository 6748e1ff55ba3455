#include "policy/addr.h"

#include <arpa/inet.h>

#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vfguard::policy {
namespace {

// Debian's abseil has its own string_view type, so split by hand.
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

std::optional<uint8_t> HexByte(std::string_view s) {
  if (s.size() != 2) return std::nullopt;
  uint8_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v |= c - 'A' + 10;
    } else {
      return std::nullopt;
    }
  }
  return v;
}

// Dotted quad with no leading zeros (so "010.0.0.1" is not silently octal
// somewhere else) and every octet 0-255.
std::optional<IpAddr> ParseV4(std::string_view text) {
  std::vector<std::string_view> parts = Split(text, '.');
  if (parts.size() != 4) return std::nullopt;
  IpAddr a;
  for (int i = 0; i < 4; ++i) {
    std::string_view p = parts[i];
    if (p.empty() || p.size() > 3) return std::nullopt;
    if (p.size() > 1 && p[0] == '0') return std::nullopt;
    int v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return std::nullopt;
    a.bytes[i] = static_cast<uint8_t>(v);
  }
  return a;
}

std::optional<IpAddr> ParseV6(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  // inet_pton stops at a NUL, so "::1\0junk" would otherwise pass as ::1.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::string copy(text);
  in6_addr raw{};
  if (inet_pton(AF_INET6, copy.c_str(), &raw) != 1) return std::nullopt;
  IpAddr a;
  a.family = IpFamily::kV6;
  for (int i = 0; i < 16; ++i) a.bytes[i] = raw.s6_addr[i];
  return a;
}

}  // namespace

std::optional<MacAddr> MacAddr::Parse(std::string_view text) {
  std::vector<std::string_view> parts = Split(text, ':');
  if (parts.size() != 6) return std::nullopt;
  MacAddr m;
  for (int i = 0; i < 6; ++i) {
    std::optional<uint8_t> b = HexByte(parts[i]);
    if (!b) return std::nullopt;
    m.bytes[i] = *b;
  }
  return m;
}

std::string MacAddr::ToString() const {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                         bytes[4], bytes[5]);
}

std::optional<IpAddr> IpAddr::Parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return ParseV6(text);
  return ParseV4(text);
}

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.bytes[0] = host_order >> 24;
  a.bytes[1] = host_order >> 16;
  a.bytes[2] = host_order >> 8;
  a.bytes[3] = host_order;
  return a;
}

IpAddr IpAddr::LinkLocalFromMac(const MacAddr& mac) {
  IpAddr a;
  a.family = IpFamily::kV6;
  a.bytes[0] = 0xfe;
  a.bytes[1] = 0x80;
  a.bytes[8] = mac.bytes[0] ^ 0x02;  // flip the universal/local bit
  a.bytes[9] = mac.bytes[1];
  a.bytes[10] = mac.bytes[2];
  a.bytes[11] = 0xff;
  a.bytes[12] = 0xfe;
  a.bytes[13] = mac.bytes[3];
  a.bytes[14] = mac.bytes[4];
  a.bytes[15] = mac.bytes[5];
  return a;
}

bool IpAddr::IsMulticast() const {
  if (family == IpFamily::kV4) return (bytes[0] & 0xf0) == 0xe0;
  return bytes[0] == 0xff;
}

uint32_t IpAddr::V4HostOrder() const {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}

std::string IpAddr::ToString() const {
  if (family == IpFamily::kV4) {
    return absl::StrCat(bytes[0], ".", bytes[1], ".", bytes[2], ".", bytes[3]);
  }
  in6_addr raw{};
  for (int i = 0; i < 16; ++i) raw.s6_addr[i] = bytes[i];
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &raw, buf, sizeof(buf));
  return buf;
}

std::optional<IpPrefix> IpPrefix::Parse(std::string_view text, bool strict) {
  size_t slash = text.find('/');
  std::optional<IpAddr> addr = IpAddr::Parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  IpPrefix p{*addr, static_cast<uint8_t>(addr->BitLength())};
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3) return std::nullopt;
    if (len_text.size() > 1 && len_text[0] == '0') return std::nullopt;
    int len = 0;
    for (char c : len_text) {
      if (c < '0' || c > '9') return std::nullopt;
      len = len * 10 + (c - '0');
    }
    if (len > addr->BitLength()) return std::nullopt;
    p.length = static_cast<uint8_t>(len);
  }
  IpAddr masked = p.addr;
  IpAddr mask = p.Mask();
  for (int i = 0; i < 16; ++i) masked.bytes[i] &= mask.bytes[i];
  if (strict && masked != p.addr) return std::nullopt;
  p.addr = masked;
  return p;
}

IpAddr IpPrefix::Mask() const {
  IpAddr m;
  m.family = addr.family;
  int remaining = length;
  for (int i = 0; i < addr.BitLength() / 8; ++i) {
    int bits = remaining >= 8 ? 8 : remaining;
    m.bytes[i] = bits == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    remaining -= bits;
  }
  return m;
}

bool IpPrefix::Contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  IpAddr mask = Mask();
  for (int i = 0; i < 16; ++i) {
    if ((a.bytes[i] & mask.bytes[i]) != addr.bytes[i]) return false;
  }
  return true;
}

std::string IpPrefix::ToString() const { return absl::StrCat(addr.ToString(), "/", length); }

}  // namespace vfguard::policy
