#include "policy/model.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {

std::vector<IpPrefix> PortAddressPrefixes(const Port& port) {
  std::vector<IpPrefix> out;
  out.reserve(port.fixed_ips.size() + port.vips.size() + port.allowed_address_pairs.size());
  for (const IpAddr& ip : port.fixed_ips) out.push_back(IpPrefix::Host(ip));
  for (const IpAddr& ip : port.vips) out.push_back(IpPrefix::Host(ip));
  for (const AllowedAddressPair& pair : port.allowed_address_pairs) out.push_back(pair.prefix);
  return out;
}

std::vector<IpPrefix> GroupMemberPrefixes(const Snapshot& s, const std::string& group_id) {
  std::set<IpPrefix> members;
  auto is_member = [&](const std::vector<std::string>& groups) {
    return std::find(groups.begin(), groups.end(), group_id) != groups.end();
  };
  for (const auto& [id, port] : s.ports) {
    if (!is_member(port.security_group_ids)) continue;
    for (const IpPrefix& prefix : PortAddressPrefixes(port)) members.insert(prefix);
  }
  for (const auto& [id, remote] : s.remote_ports) {
    if (is_member(remote.security_group_ids)) {
      members.insert(remote.addresses.begin(), remote.addresses.end());
    }
  }
  return std::vector<IpPrefix>(members.begin(), members.end());
}

const char* ToString(Direction d) { return d == Direction::kIngress ? "ingress" : "egress"; }

const char* ToString(EtherType e) { return e == EtherType::kIPv4 ? "IPv4" : "IPv6"; }

const char* ToString(RuleAction a) { return a == RuleAction::kAllow ? "allow" : "deny"; }

const char* ToString(PortState s) {
  switch (s) {
    case PortState::kActive:
      return "active";
    case PortState::kPendingActivation:
      return "pending-activation";
    case PortState::kInactive:
      return "inactive";
  }
  return "unknown";
}

namespace {
struct NamedProtocol {
  std::string_view name;
  uint8_t number;
};
constexpr NamedProtocol kNamedProtocols[] = {
    {"icmp", kProtoIcmp},     {"tcp", kProtoTcp},   {"udp", kProtoUdp},
    {"icmpv6", kProtoIcmpv6}, {"vrrp", kProtoVrrp}, {"sctp", kProtoSctp},
};
}  // namespace

std::string ProtocolName(uint8_t proto) {
  for (const NamedProtocol& p : kNamedProtocols) {
    if (p.number == proto) return std::string(p.name);
  }
  return absl::StrCat(proto);
}

std::optional<uint8_t> ProtocolFromName(std::string_view name) {
  for (const NamedProtocol& p : kNamedProtocols) {
    if (p.name == name) return p.number;
  }
  if (name.empty() || name.size() > 3) return std::nullopt;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (name.size() > 1 && name[0] == '0') return std::nullopt;
  int v = 0;
  for (char c : name) v = v * 10 + (c - '0');
  if (v > 255) return std::nullopt;
  return static_cast<uint8_t>(v);
}

}  // namespace vfguard::policy
