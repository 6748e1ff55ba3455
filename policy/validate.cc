#include "policy/validate.h"

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "policy/nd_check.h"

namespace vfguard::policy {
namespace {

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

#define VFG_RETURN_IF_ERROR(expr)      \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (0)

// "." and ".." are dot segments of a URL path (RFC 3986 5.2.4): clients
// remove them before sending, so an object named so could not be addressed.
bool IsDotSegment(const std::string& id) { return id == "." || id == ".."; }

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 63 || IsDotSegment(id)) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// User-supplied text in messages is C-escaped so that control characters in
// a bad id cannot break a log line; valid ids are unchanged by it.
std::string Escaped(const std::string& s) { return absl::CEscape(s); }
// Quotes user-supplied text so that an empty or odd id reads clearly.
std::string Quote(const std::string& s) { return absl::StrCat("\"", Escaped(s), "\""); }

absl::Status CheckId(const std::string& path, const std::string& key, const std::string& id) {
  if (IsDotSegment(id)) {
    return Invalid(absl::StrCat(path, ".id"),
                   absl::StrCat(Quote(id), " is not a valid id (. and .. are path segments)"));
  }
  if (!ValidId(id)) {
    return Invalid(absl::StrCat(path, ".id"),
                   absl::StrCat(Quote(id), " is not a valid id (1-63 of A-Z a-z 0-9 . _ : -)"));
  }
  if (key != id) {
    return Invalid(absl::StrCat(path, ".id"),
                   absl::StrCat(Quote(id), " does not match its key ", Quote(key)));
  }
  return absl::OkStatus();
}

// The kernel's dev_valid_name(): shorter than IFNAMSIZ, not "." or "..", no
// '/', ':' or whitespace (an embedded NUL would truncate the name).
bool ValidNetdevName(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
        c == '\r' || c == '\0') {
      return false;
    }
  }
  return true;
}

// Values built in memory (not through the parsers) can hold what no text
// parses to; the compiler relies on these shapes, so they are refused here.
absl::Status CheckAddrShape(const std::string& path, const IpAddr& ip) {
  if (ip.family != IpFamily::kV4 && ip.family != IpFamily::kV6) {
    return Invalid(path, absl::StrCat("address family ", static_cast<int>(ip.family),
                                      " is neither 4 (IPv4) nor 6 (IPv6)"));
  }
  if (ip.family == IpFamily::kV4) {
    for (size_t i = 4; i < ip.bytes.size(); ++i) {
      if (ip.bytes[i] != 0) {
        return Invalid(path, absl::StrCat(ip.ToString(), " has bytes set beyond its 4 IPv4 bytes"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPrefixShape(const std::string& path, const IpPrefix& prefix) {
  VFG_RETURN_IF_ERROR(CheckAddrShape(path, prefix.addr));
  if (prefix.length > prefix.addr.BitLength()) {
    return Invalid(path, absl::StrCat(prefix.ToString(), " has a prefix length above ",
                                      prefix.addr.BitLength()));
  }
  if (!prefix.Contains(prefix.addr)) {  // address & mask != address
    return Invalid(path, absl::StrCat(prefix.ToString(), " has host bits set"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNetworks(const Snapshot& s) {
  std::string flat;
  std::map<uint16_t, std::string> vlans;
  for (const auto& [key, n] : s.networks) {
    std::string path = absl::StrCat("networks[", Escaped(key), "]");
    VFG_RETURN_IF_ERROR(CheckId(path, key, n.id));
    if (n.segmentation != Segmentation::kFlat && n.segmentation != Segmentation::kVlan) {
      return Invalid(path + ".segmentation",
                     absl::StrCat(static_cast<int>(n.segmentation), " is not flat or vlan"));
    }
    if (n.segmentation == Segmentation::kFlat) {
      if (n.vlan_id != 0) {
        return Invalid(path + ".vlan_id", absl::StrCat(n.vlan_id, " is set on a flat network"));
      }
      if (!flat.empty()) {
        return Invalid(
            path + ".segmentation",
            absl::StrCat("flat: only one flat network per uplink, already ", Quote(flat)));
      }
      flat = key;
    } else {
      if (n.vlan_id < 1 || n.vlan_id > 4094) {
        return Invalid(path + ".vlan_id", absl::StrCat(n.vlan_id, " is out of range 1-4094"));
      }
      auto [it, inserted] = vlans.emplace(n.vlan_id, key);
      if (!inserted) {
        return Invalid(path + ".vlan_id",
                       absl::StrCat(n.vlan_id, " is already used by network ", Quote(it->second)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckHostIp(const std::string& path, const IpAddr& ip) {
  VFG_RETURN_IF_ERROR(CheckAddrShape(path, ip));
  if (ip.IsUnspecified()) return Invalid(path, absl::StrCat(ip.ToString(), " is unspecified"));
  if (ip.IsMulticast()) return Invalid(path, absl::StrCat(ip.ToString(), " is multicast"));
  if (ip.family == IpFamily::kV4 && ip.V4HostOrder() == 0xffffffffu) {
    return Invalid(path, absl::StrCat(ip.ToString(), " is broadcast"));
  }
  return absl::OkStatus();
}

absl::Status CheckUnicastMac(const std::string& path, const MacAddr& mac) {
  if (mac.IsZero()) return Invalid(path, absl::StrCat(mac.ToString(), " is all zeros"));
  if (mac.IsMulticast()) {
    return Invalid(path, absl::StrCat(mac.ToString(), " is a multicast/broadcast MAC"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePort(const Snapshot& s, const std::string& key, const Port& p) {
  std::string path = absl::StrCat("ports[", Escaped(key), "]");
  VFG_RETURN_IF_ERROR(CheckId(path, key, p.id));
  if (!s.networks.count(p.network_id)) {
    return Invalid(path + ".network_id",
                   absl::StrCat(Quote(p.network_id), " is not a known network"));
  }
  VFG_RETURN_IF_ERROR(CheckUnicastMac(path + ".mac_address", p.mac));
  std::set<IpAddr> seen;
  for (size_t i = 0; i < p.fixed_ips.size(); ++i) {
    std::string ip_path = absl::StrCat(path, ".fixed_ips[", i, "]");
    VFG_RETURN_IF_ERROR(CheckHostIp(ip_path, p.fixed_ips[i]));
    if (!seen.insert(p.fixed_ips[i]).second) {
      return Invalid(ip_path, absl::StrCat(p.fixed_ips[i].ToString(), " is listed twice"));
    }
  }
  for (size_t i = 0; i < p.vips.size(); ++i) {
    std::string ip_path = absl::StrCat(path, ".vips[", i, "]");
    VFG_RETURN_IF_ERROR(CheckHostIp(ip_path, p.vips[i]));
    if (!seen.insert(p.vips[i]).second) {
      return Invalid(ip_path, absl::StrCat(p.vips[i].ToString(), " is listed twice"));
    }
  }
  for (size_t i = 0; i < p.allowed_address_pairs.size(); ++i) {
    const AllowedAddressPair& pair = p.allowed_address_pairs[i];
    std::string pair_path = absl::StrCat(path, ".allowed_address_pairs[", i, "]");
    VFG_RETURN_IF_ERROR(CheckPrefixShape(pair_path + ".ip_address", pair.prefix));
    if (pair.prefix.addr.IsMulticast()) {
      return Invalid(pair_path + ".ip_address",
                     absl::StrCat(pair.prefix.ToString(), " is multicast"));
    }
    if (pair.mac) VFG_RETURN_IF_ERROR(CheckUnicastMac(pair_path + ".mac_address", *pair.mac));
  }
  // The ND check's map entry holds the port's IPv6 allowed sources, the
  // EUI-64 link-local included (semantics §3.3).
  size_t v6 = 1;
  for (const IpAddr& a : p.fixed_ips) v6 += a.family == IpFamily::kV6;
  for (const IpAddr& a : p.vips) v6 += a.family == IpFamily::kV6;
  for (const AllowedAddressPair& pair : p.allowed_address_pairs) {
    v6 += pair.prefix.addr.family == IpFamily::kV6;
  }
  if (v6 > kNdMaxAllowed) {
    return Invalid(path, absl::StrCat(v6,
                                      " IPv6 fixed IPs, VIPs and allowed-pair prefixes with the "
                                      "link-local; the ND check holds at most ",
                                      kNdMaxAllowed));
  }
  std::optional<bool> stateful;
  std::set<std::string> groups;
  for (size_t i = 0; i < p.security_group_ids.size(); ++i) {
    const std::string& gid = p.security_group_ids[i];
    std::string g_path = absl::StrCat(path, ".security_group_ids[", i, "]");
    auto it = s.security_groups.find(gid);
    if (it == s.security_groups.end()) {
      return Invalid(g_path, absl::StrCat(Quote(gid), " is not a known security group"));
    }
    if (!groups.insert(gid).second) {
      return Invalid(g_path, absl::StrCat(Quote(gid), " is listed twice"));
    }
    if (stateful && *stateful != it->second.stateful) {
      return Invalid(g_path,
                     absl::StrCat(Quote(gid), " mixes stateful and stateless security groups"));
    }
    stateful = it->second.stateful;
  }
  if (const uint32_t* vf = std::get_if<uint32_t>(&p.representor.ref)) {
    // PCI SR-IOV counts VFs in 16 bits (NumVFs), devlink likewise.
    if (*vf > 65535) {
      return Invalid(path + ".vf_index", absl::StrCat(*vf, " is out of range 0-65535"));
    }
  } else if (const std::string* name = std::get_if<std::string>(&p.representor.ref)) {
    if (!ValidNetdevName(*name)) {
      return Invalid(path + ".representor_name",
                     absl::StrCat(Quote(*name), " is not a valid netdev name (1-15 characters)"));
    }
  }
  if (p.state != PortState::kActive && p.state != PortState::kPendingActivation &&
      p.state != PortState::kInactive) {
    return Invalid(path + ".state", absl::StrCat(static_cast<int>(p.state),
                                                 " is not active, pending-activation or inactive"));
  }
  return absl::OkStatus();
}

// Group ids of a port or remote port: known, and each listed once.
absl::Status CheckGroupIds(const Snapshot& s, const std::string& path,
                           const std::vector<std::string>& ids) {
  std::set<std::string> groups;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string g_path = absl::StrCat(path, ".security_group_ids[", i, "]");
    if (!s.security_groups.count(ids[i])) {
      return Invalid(g_path, absl::StrCat(Quote(ids[i]), " is not a known security group"));
    }
    if (!groups.insert(ids[i]).second) {
      return Invalid(g_path, absl::StrCat(Quote(ids[i]), " is listed twice"));
    }
  }
  return absl::OkStatus();
}

// A remote port's addresses are what it may source (host addresses or
// allowed-pair CIDRs, like a local port's, so never multicast); an address
// group's CIDRs are any remote, like remote_ip_prefix.
absl::Status ValidateAddressList(const std::string& path, const char* field,
                                 const std::vector<IpPrefix>& prefixes, bool multicast_ok) {
  std::set<IpPrefix> seen;
  for (size_t i = 0; i < prefixes.size(); ++i) {
    std::string a_path = absl::StrCat(path, ".", field, "[", i, "]");
    VFG_RETURN_IF_ERROR(CheckPrefixShape(a_path, prefixes[i]));
    if (!multicast_ok && prefixes[i].addr.IsMulticast()) {
      return Invalid(a_path, absl::StrCat(prefixes[i].ToString(), " is multicast"));
    }
    if (!seen.insert(prefixes[i]).second) {
      return Invalid(a_path, absl::StrCat(prefixes[i].ToString(), " is listed twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRemotes(const Snapshot& s) {
  for (const auto& [key, r] : s.remote_ports) {
    std::string path = absl::StrCat("remote_ports[", Escaped(key), "]");
    VFG_RETURN_IF_ERROR(CheckId(path, key, r.id));
    VFG_RETURN_IF_ERROR(ValidateAddressList(path, "addresses", r.addresses, false));
    VFG_RETURN_IF_ERROR(CheckGroupIds(s, path, r.security_group_ids));
  }
  for (const auto& [key, g] : s.address_groups) {
    std::string path = absl::StrCat("address_groups[", Escaped(key), "]");
    VFG_RETURN_IF_ERROR(CheckId(path, key, g.id));
    VFG_RETURN_IF_ERROR(ValidateAddressList(path, "cidrs", g.cidrs, true));
  }
  return absl::OkStatus();
}

absl::Status ValidateRule(const Snapshot& s, const std::string& path, const SecurityGroupRule& r) {
  if (r.priority < kMinRulePriority || r.priority > kMaxRulePriority) {
    return Invalid(path + ".priority", absl::StrCat(r.priority, " is out of range 1-16384"));
  }
  if (r.direction != Direction::kIngress && r.direction != Direction::kEgress) {
    return Invalid(path + ".direction",
                   absl::StrCat(static_cast<int>(r.direction), " is not ingress or egress"));
  }
  if (r.ethertype != EtherType::kIPv4 && r.ethertype != EtherType::kIPv6) {
    return Invalid(path + ".ethertype",
                   absl::StrCat(static_cast<int>(r.ethertype), " is not IPv4 or IPv6"));
  }
  if (r.action != RuleAction::kAllow && r.action != RuleAction::kDeny) {
    return Invalid(path + ".action",
                   absl::StrCat(static_cast<int>(r.action), " is not allow or deny"));
  }
  bool v6 = r.ethertype == EtherType::kIPv6;
  if (r.protocol && *r.protocol == kProtoIcmp && v6) {
    return Invalid(path + ".protocol", "icmp with ethertype IPv6 (use icmpv6)");
  }
  if (r.protocol && *r.protocol == kProtoIcmpv6 && !v6) {
    return Invalid(path + ".protocol", "icmpv6 with ethertype IPv4 (use icmp)");
  }
  if (r.ports) {
    bool has_ports = r.protocol && (*r.protocol == kProtoTcp || *r.protocol == kProtoUdp ||
                                    *r.protocol == kProtoSctp);
    if (!has_ports) {
      return Invalid(path + ".port_range_min",
                     absl::StrCat("a port range needs protocol tcp, udp or sctp, not ",
                                  r.protocol ? ProtocolName(*r.protocol) : std::string("any")));
    }
    if (r.ports->min < 1) {
      return Invalid(path + ".port_range_min",
                     absl::StrCat(r.ports->min, " is out of range 1-65535"));
    }
    if (r.ports->max < 1) {
      return Invalid(path + ".port_range_max",
                     absl::StrCat(r.ports->max, " is out of range 1-65535"));
    }
    if (r.ports->min > r.ports->max) {
      return Invalid(path + ".port_range_max",
                     absl::StrCat(r.ports->max, " is below port_range_min ", r.ports->min));
    }
  }
  if (r.icmp) {
    bool icmp = r.protocol && (*r.protocol == kProtoIcmp || *r.protocol == kProtoIcmpv6);
    if (!icmp) {
      return Invalid(path + ".icmp_type",
                     absl::StrCat("ICMP type/code needs protocol icmp or icmpv6, not ",
                                  r.protocol ? ProtocolName(*r.protocol) : std::string("any")));
    }
  }
  if (r.remote_prefix && r.remote_group_id) {
    return Invalid(path + ".remote_group_id",
                   "remote_ip_prefix and remote_group_id are mutually exclusive");
  }
  if (r.remote_address_group_id && (r.remote_prefix || r.remote_group_id)) {
    return Invalid(path + ".remote_address_group_id",
                   absl::StrCat("remote_address_group_id and ",
                                r.remote_prefix ? "remote_ip_prefix" : "remote_group_id",
                                " are mutually exclusive"));
  }
  if (r.remote_address_group_id && !s.address_groups.count(*r.remote_address_group_id)) {
    return Invalid(
        path + ".remote_address_group_id",
        absl::StrCat(Quote(*r.remote_address_group_id), " is not a known address group"));
  }
  if (r.remote_prefix) {
    VFG_RETURN_IF_ERROR(CheckPrefixShape(path + ".remote_ip_prefix", *r.remote_prefix));
  }
  if (r.remote_prefix && (r.remote_prefix->addr.family == IpFamily::kV6) != v6) {
    return Invalid(path + ".remote_ip_prefix",
                   absl::StrCat(r.remote_prefix->ToString(), " does not match ethertype ",
                                ToString(r.ethertype)));
  }
  if (r.remote_group_id && !s.security_groups.count(*r.remote_group_id)) {
    return Invalid(path + ".remote_group_id",
                   absl::StrCat(Quote(*r.remote_group_id), " is not a known security group"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const Snapshot& s) {
  VFG_RETURN_IF_ERROR(ValidateNetworks(s));
  VFG_RETURN_IF_ERROR(ValidateRemotes(s));
  for (const auto& [key, g] : s.security_groups) {
    std::string path = absl::StrCat("security_groups[", Escaped(key), "]");
    VFG_RETURN_IF_ERROR(CheckId(path, key, g.id));
    for (size_t i = 0; i < g.rules.size(); ++i) {
      VFG_RETURN_IF_ERROR(ValidateRule(s, absl::StrCat(path, ".rules[", i, "]"), g.rules[i]));
    }
  }
  std::map<std::pair<std::string, MacAddr>, std::string> macs;
  std::map<Representor, std::string> representors;
  for (const auto& [key, p] : s.ports) {
    VFG_RETURN_IF_ERROR(ValidatePort(s, key, p));
    std::string path = absl::StrCat("ports[", Escaped(key), "]");
    auto [mac_it, mac_new] = macs.emplace(std::make_pair(p.network_id, p.mac), key);
    if (!mac_new) {
      return Invalid(path + ".mac_address",
                     absl::StrCat(p.mac.ToString(), " is already used by port ",
                                  Quote(mac_it->second), " in network ", Quote(p.network_id)));
    }
    auto [rep_it, rep_new] = representors.emplace(p.representor, key);
    if (!rep_new) {
      return Invalid(
          path + (std::holds_alternative<uint32_t>(p.representor.ref) ? ".vf_index"
                                                                      : ".representor_name"),
          absl::StrCat("representor already used by port ", Quote(rep_it->second)));
    }
  }
  return absl::OkStatus();
}

}  // namespace vfguard::policy
