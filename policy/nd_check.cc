// Mirrors offload/bpf/nd_check.bpf.c: the same reads in the same order, so
// that the simulator gives the verdict the kernel gives.
#include "policy/nd_check.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

MacAddr MacAt(const std::vector<uint8_t>& b, size_t off) {
  MacAddr m;
  std::copy(b.begin() + off, b.begin() + off + 6, m.bytes.begin());
  return m;
}

NdCheckResult Bad(std::string why) { return NdCheckResult{false, std::move(why)}; }

bool TargetAllowed(const std::vector<NdAllowed>& allowed, const MacAddr& mac, const IpAddr& t) {
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const NdAllowed& a) { return a.mac == mac && a.prefix.Contains(t); });
}

}  // namespace

std::vector<uint8_t> NdBody(const IpAddr& target, const std::vector<NdOption>& options,
                            uint8_t flags) {
  std::vector<uint8_t> b = {flags, 0, 0, 0};
  b.insert(b.end(), target.bytes.begin(), target.bytes.end());
  for (const NdOption& o : options) {
    size_t start = b.size();
    b.push_back(o.type);
    b.push_back(o.length);
    b.insert(b.end(), o.mac.bytes.begin(), o.mac.bytes.end());
    b.resize(start + std::max<size_t>(1, o.length) * 8, 0);
  }
  return b;
}

NdCheckResult CheckNdMessage(const Packet& p, const std::vector<NdAllowed>& allowed) {
  const bool na = p.icmp_type == kIcmp6NeighborAdvertisement;
  const char* what = na ? "NA" : "NS";
  if (p.hop_limit != 255) return Bad(absl::StrCat(what, " with hop limit ", p.hop_limit));
  if (p.icmp_code != 0) return Bad(absl::StrCat(what, " with code ", p.icmp_code));
  const std::vector<uint8_t>& b = p.nd_body;
  if (b.size() < kNdFixedBytes) {
    return Bad(absl::StrCat(what, " truncated: ", b.size() + 4, " bytes"));
  }
  IpAddr target;
  target.family = IpFamily::kV6;
  std::copy(b.begin() + 4, b.begin() + 20, target.bytes.begin());
  size_t off = kNdFixedBytes;
  for (int i = 0; i < kNdMaxOptions && off < b.size(); ++i) {
    if (b.size() - off < 8) return Bad(absl::StrCat(what, " option truncated at byte ", off + 4));
    uint8_t type = b[off];
    uint8_t len = b[off + 1];
    if (len == 0) return Bad(absl::StrCat(what, " option of length 0"));
    if (b.size() - off < size_t{len} * 8) {
      return Bad(absl::StrCat(what, " option runs past the message"));
    }
    MacAddr lla = MacAt(b, off + 2);
    if (!na && type == kNdOptSourceLla) {
      if (p.src_ip.IsUnspecified()) return Bad("DAD NS (from ::) with a source link-layer option");
      if (lla != p.src_mac) {
        return Bad(absl::StrCat("NS source link-layer address ", lla.ToString(),
                                " is not the source MAC ", p.src_mac.ToString()));
      }
    }
    if (na && type == kNdOptTargetLla && lla != p.src_mac) {
      return Bad(absl::StrCat("NA target link-layer address ", lla.ToString(),
                              " is not the source MAC ", p.src_mac.ToString()));
    }
    off += size_t{len} * 8;
  }
  if (off < b.size()) return Bad(absl::StrCat(what, " with more than ", kNdMaxOptions, " options"));
  if (na && !TargetAllowed(allowed, p.src_mac, target)) {
    return Bad(absl::StrCat("NA target ", target.ToString(), " not allowed with MAC ",
                            p.src_mac.ToString()));
  }
  return NdCheckResult{true,
                       na ? absl::StrCat("NA for ", target.ToString(), " passes the ND check")
                          : absl::StrCat("NS for ", target.ToString(), " passes the ND check")};
}

std::vector<NdAllowed> NdAllowedOf(const MacAddr& port_mac, const std::vector<IpAddr>& fixed_ips,
                                   const std::vector<IpAddr>& vips,
                                   const std::vector<std::pair<MacAddr, IpPrefix>>& pairs) {
  std::vector<NdAllowed> out;
  auto add = [&](const MacAddr& mac, const IpPrefix& prefix) {
    if (prefix.addr.family != IpFamily::kV6) return;
    NdAllowed a{mac, prefix};
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  for (const IpAddr& a : fixed_ips) add(port_mac, IpPrefix::Host(a));
  for (const IpAddr& a : vips) add(port_mac, IpPrefix::Host(a));
  add(port_mac, IpPrefix::Host(IpAddr::LinkLocalFromMac(port_mac)));
  for (const auto& [mac, prefix] : pairs) add(mac, prefix);
  return out;
}

}  // namespace vfguard::policy
