#include "agent/filter_hash.h"

#include <array>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

// FNV-1a over the bytes, then the splitmix64 finaliser so that filters
// differing in one late byte still spread over all 64 bits.
uint64_t HashBytes(absl::Span<const uint8_t> bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t Finish(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint64_t HashString(const std::string& s, uint64_t seed) {
  return HashBytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}, seed);
}

// Hashes the encoded request in a zeroed buffer (padding bytes included, so
// they must not be left over from another filter).
template <size_t kWords>
bool HashEncoded(const netlink::FlowerFilter& f, uint64_t& out) {
  std::array<uint32_t, kWords> words{};
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), kWords * 4);
  absl::StatusOr<size_t> n =
      netlink::EncodeNewFilter(f, netlink::CreateMode::kCreateExclusive, /*seq=*/0, buf);
  if (!n.ok()) return false;
  out = Finish(HashBytes(buf.first(*n)));
  return true;
}

// The layout of one key: present or not, and for a masked key its mask
// (values are not part of the shape).
template <typename T>
void MixPresence(const std::optional<T>& key, uint64_t& h) {
  const uint8_t present = key.has_value();
  h = HashBytes({&present, 1}, h);
}

template <typename T>
void MixMask(const std::optional<netlink::Masked<T>>& key, uint64_t& h) {
  static_assert(std::has_unique_object_representations_v<T>);
  MixPresence(key, h);
  if (!key) return;
  h = HashBytes({reinterpret_cast<const uint8_t*>(&key->mask), sizeof(T)}, h);
}

}  // namespace

uint64_t ContentHash(const netlink::FlowerFilter& f) {
  uint64_t h = 0;
  // Most filters fit 1 KiB; the largest (32 actions) fit 16 KiB.
  if (HashEncoded<256>(f, h) || HashEncoded<4096>(f, h)) return h;
  // A filter that does not encode is never installed; hash its text so it
  // still has a distinct identity (its write will fail and be reported).
  return Finish(HashString(netlink::DebugString(netlink::WithoutStatus(f)), 0x9e3779b97f4a7c15ULL));
}

uint64_t ShapeHash(const netlink::FlowerFilter& f) {
  // The fields netlink::KeyLayout keeps, hashed directly: the reconciler
  // computes this for every wanted and every dumped filter, so no text.
  const netlink::FlowerKeys& k = f.keys;
  uint64_t h = 0xcbf29ce484222325ULL;
  MixPresence(k.indev, h);
  MixMask(k.eth_dst, h);
  MixMask(k.eth_src, h);
  MixPresence(k.eth_type, h);
  MixPresence(k.vlan_id, h);
  MixPresence(k.vlan_eth_type, h);
  MixPresence(k.ip_proto, h);
  MixMask(k.ipv4_src, h);
  MixMask(k.ipv4_dst, h);
  MixMask(k.ipv6_src, h);
  MixMask(k.ipv6_dst, h);
  MixMask(k.tcp_src, h);
  MixMask(k.tcp_dst, h);
  MixMask(k.udp_src, h);
  MixMask(k.udp_dst, h);
  MixMask(k.sctp_src, h);
  MixMask(k.sctp_dst, h);
  MixMask(k.icmpv4_type, h);
  MixMask(k.icmpv4_code, h);
  MixMask(k.icmpv6_type, h);
  MixMask(k.icmpv6_code, h);
  MixMask(k.arp_op, h);
  MixMask(k.arp_sip, h);
  MixMask(k.arp_tip, h);
  MixMask(k.arp_sha, h);
  MixMask(k.arp_tha, h);
  MixMask(k.ct_state, h);
  MixMask(k.ct_zone, h);
  MixMask(k.ct_mark, h);
  const std::array<uint8_t, 4> head = {
      static_cast<uint8_t>(f.protocol >> 8), static_cast<uint8_t>(f.protocol & 0xff),
      static_cast<uint8_t>(f.skip_hw), static_cast<uint8_t>(f.skip_sw)};
  return Finish(HashBytes(head, h));
}

std::string HashHex(uint64_t hash) { return absl::StrFormat("%016x", hash); }

}  // namespace vfguard::agent
