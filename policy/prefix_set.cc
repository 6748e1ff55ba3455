#include "policy/prefix_set.h"

#include <algorithm>
#include <tuple>

namespace vfguard::policy {
namespace {

// Bit `i` (0 = most significant) of an address.
bool Bit(const IpAddr& a, int i) { return (a.bytes[i / 8] >> (7 - i % 8)) & 1; }

void SetBit(IpAddr& a, int i, bool v) {
  uint8_t m = static_cast<uint8_t>(1u << (7 - i % 8));
  a.bytes[i / 8] = v ? (a.bytes[i / 8] | m) : (a.bytes[i / 8] & ~m);
}

// `a` with every bit from `length` on cleared.
IpAddr Truncate(IpAddr a, int length) {
  for (int i = length; i < a.BitLength(); ++i) SetBit(a, i, false);
  return a;
}

bool Covers(const IpPrefix& outer, const IpPrefix& inner) {
  return outer.addr.family == inner.addr.family && outer.length <= inner.length &&
         Truncate(inner.addr, outer.length) == outer.addr;
}

// `a` and `b` are the two halves of one prefix.
bool Siblings(const IpPrefix& a, const IpPrefix& b) {
  if (a.addr.family != b.addr.family || a.length != b.length || a.length == 0) return false;
  const int bit = a.length - 1;
  if (Bit(a.addr, bit) || !Bit(b.addr, bit)) return false;
  IpAddr b_low = b.addr;
  SetBit(b_low, bit, false);
  return b_low == a.addr;
}

}  // namespace

std::vector<IpPrefix> AggregatePrefixes(std::vector<IpPrefix> prefixes) {
  for (IpPrefix& p : prefixes) p.addr = Truncate(p.addr, p.length);
  // Address order, shorter first at one address: a covering prefix comes
  // before everything it covers.
  std::sort(prefixes.begin(), prefixes.end(), [](const IpPrefix& a, const IpPrefix& b) {
    return std::tie(a.addr, a.length) < std::tie(b.addr, b.length);
  });
  std::vector<IpPrefix> out;
  for (const IpPrefix& p : prefixes) {
    if (!out.empty() && Covers(out.back(), p)) continue;
    out.push_back(p);
    // A merge can make the new parent the sibling of what precedes it.
    while (out.size() >= 2 && Siblings(out[out.size() - 2], out.back())) {
      out.pop_back();
      out.back().length -= 1;
    }
  }
  return out;
}

}  // namespace vfguard::policy
