#include "agent/filter_hash.h"

#include <array>
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
  // KeyLayout leaves placeholder values that would not pass the encoder's
  // prerequisite checks, so the layout is hashed as text.
  const std::string layout = netlink::DebugString(netlink::KeyLayout(f.keys));
  uint64_t h = HashString(layout, 0xcbf29ce484222325ULL);
  const std::array<uint8_t, 4> head = {
      static_cast<uint8_t>(f.protocol >> 8), static_cast<uint8_t>(f.protocol & 0xff),
      static_cast<uint8_t>(f.skip_hw), static_cast<uint8_t>(f.skip_sw)};
  return Finish(HashBytes(head, h));
}

std::string HashHex(uint64_t hash) { return absl::StrFormat("%016x", hash); }

}  // namespace vfguard::agent
