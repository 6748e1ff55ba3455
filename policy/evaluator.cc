// docs/semantics.md as code, read from the text alone (never from the IR or
// the compiler). Section numbers in comments refer to that document.
#include "policy/evaluator.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vfguard::policy {
namespace {

bool IsUdp(const Packet& p, uint16_t sport, uint16_t dport) {
  return p.IsIp() && p.ip_proto == kProtoUdp && p.src_port == sport && p.dst_port == dport;
}
bool IsIcmpv6Type(const Packet& p, uint8_t type) {
  return p.eth_type == kEthIPv6 && p.ip_proto == kProtoIcmpv6 && p.icmp_type == type;
}
bool IsVrrp(const Packet& p) { return p.IsIp() && p.ip_proto == kProtoVrrp; }
bool HasAddress(const std::vector<IpAddr>& list, const IpAddr& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}
std::string Hex(uint16_t v) { return absl::StrCat("0x", absl::Hex(v, absl::kZeroPad4)); }

// "allow tcp 80", "deny udp 1000-2000 from 10.0.0.0/24", "allow icmp type 8 code 0".
std::string DescribeRule(const SecurityGroupRule& r) {
  std::string out = absl::StrCat(ToString(r.action), " ",
                                 r.protocol ? ProtocolName(*r.protocol) : std::string("any"));
  if (r.ports) {
    absl::StrAppend(&out, " ", r.ports->min);
    if (r.ports->max != r.ports->min) absl::StrAppend(&out, "-", r.ports->max);
  }
  if (r.icmp) {
    absl::StrAppend(&out, " type ", r.icmp->type);
    if (r.icmp->code) absl::StrAppend(&out, " code ", *r.icmp->code);
  }
  const char* side = r.direction == Direction::kIngress ? " from " : " to ";
  if (r.remote_prefix) absl::StrAppend(&out, side, r.remote_prefix->ToString());
  if (r.remote_group_id) absl::StrAppend(&out, side, "members of ", *r.remote_group_id);
  if (r.remote_address_group_id) {
    absl::StrAppend(&out, side, "address group ", *r.remote_address_group_id);
  }
  absl::StrAppend(&out, ", priority ", r.priority);
  return out;
}

class Evaluator {
 public:
  Evaluator(const Snapshot& s, const SlotAssignment& slots, ConntrackModel& ct, Verdict& v)
      : snap_(s), slots_(slots), ct_(ct), v_(v) {}

  void Run(const Packet& p) {
    if (p.in.kind == DeviceRef::Kind::kUplink) {
      FromUplink(p);
    } else {
      FromPort(p);
    }
  }

 private:
  void Note(std::string s) { v_.trace.push_back(std::move(s)); }
  void Drop(const std::string& why) { Note(absl::StrCat(why, ": dropped")); }
  void Deliver(const DeviceRef& out, std::optional<uint16_t> vlan, const std::string& why) {
    v_.deliveries.insert(Delivery{out, vlan});
    Note(absl::StrCat(why, ": delivered to ", out.ToString(),
                      vlan ? absl::StrCat(" tagged vlan ", *vlan) : std::string()));
  }

  // The active port of `network` whose MAC is `mac` (the MAC table).
  const Port* MacTableLookup(const std::string& network, const MacAddr& mac) const {
    for (const auto& [id, port] : snap_.ports) {
      if (port.network_id == network && port.state == PortState::kActive && port.mac == mac) {
        return &port;
      }
    }
    return nullptr;
  }

  // §1
  void FromUplink(const Packet& p) {
    const Network* net = nullptr;
    for (const auto& [id, n] : snap_.networks) {
      bool mine = p.vlan ? (n.segmentation == Segmentation::kVlan && n.vlan_id == *p.vlan)
                         : n.segmentation == Segmentation::kFlat;
      if (mine) net = &n;
    }
    if (net == nullptr) {
      return Drop(p.vlan ? absl::StrCat("uplink: no network has vlan ", *p.vlan)
                         : std::string("uplink: untagged frame and no flat network"));
    }
    Note(absl::StrCat("uplink: network ", net->id));
    if (p.dst_mac.IsMulticast()) {
      Note("uplink: broadcast/multicast, flooded to the network's ports (never back)");
      Flood(p, net->id, nullptr);
      return;
    }
    const Port* q = MacTableLookup(net->id, p.dst_mac);
    if (q == nullptr) {
      return Drop(absl::StrCat("uplink: unicast to ", p.dst_mac.ToString(),
                               ", no active port of network ", net->id, " has it"));
    }
    ToPort(p, *q);
  }

  // §2
  void FromPort(const Packet& p) {
    auto it = snap_.ports.find(p.in.port_id);
    if (it == snap_.ports.end()) return Drop(absl::StrCat("unknown port ", *p.in.port_id));
    const Port& P = it->second;
    std::string who = absl::StrCat("port ", P.id);
    if (P.state != PortState::kActive) {
      // §2.1: announcements of a port that is not active yet (live migration).
      if (p.eth_type == kEthRarp) {
        Note(absl::StrCat(who, " (", ToString(P.state), "): RARP announcement goes on"));
        return Forward(p, P);
      }
      if (IsOwnGarp(P, p)) {
        Note(absl::StrCat(who, " (", ToString(P.state), "): gratuitous ARP for own address ",
                          p.arp_sip.ToString(), " goes on"));
        return Forward(p, P);
      }
      return Drop(absl::StrCat(who, " is ", ToString(P.state),
                               ": only RARP and gratuitous ARP for its own addresses"));
    }
    if (!P.port_security) {
      Note(absl::StrCat(who, ": port security off, no checks"));
      return Forward(p, P);
    }
    if (!PassesPortSecurity(P, p)) return;
    if (p.IsNd() && !PassesNdCheck(P, p)) return;
    if (!IsBaseFromPort(P, p)) {
      std::string decision;
      if (!GroupRulesAllow(P, Direction::kEgress, p, &decision)) return;
      Note(decision);
    }
    Forward(p, P);
  }

  // §2.1: sender IP = target IP = one of P's fixed IPs or VIPs (ARP carries
  // IPv4 only); with port security on, source MAC and sender MAC are P.mac.
  static bool IsOwnGarp(const Port& P, const Packet& p) {
    if (p.eth_type != kEthArp || p.arp_sip != p.arp_tip) return false;
    if (p.arp_sip.family != IpFamily::kV4) return false;
    if (P.port_security && (p.src_mac != P.mac || p.arp_sha != P.mac)) return false;
    return HasAddress(P.fixed_ips, p.arp_sip) || HasAddress(P.vips, p.arp_sip);
  }

  // allowed(P, M) contains `ip`.
  static bool SourceAllowed(const Port& P, const MacAddr& mac, const IpAddr& ip) {
    if (mac == P.mac) {
      if (HasAddress(P.fixed_ips, ip) || HasAddress(P.vips, ip)) return true;
      if (ip.family == IpFamily::kV6 && ip == IpAddr::LinkLocalFromMac(P.mac)) return true;
      for (const AllowedAddressPair& pair : P.allowed_address_pairs) {
        if ((!pair.mac || *pair.mac == P.mac) && pair.prefix.Contains(ip)) return true;
      }
    }
    for (const AllowedAddressPair& pair : P.allowed_address_pairs) {
      if (pair.mac && *pair.mac == mac && pair.prefix.Contains(ip)) return true;
    }
    return false;
  }

  // §3.1: P.mac or the MAC of one of P's allowed address pairs.
  static bool MacAllowed(const Port& P, const MacAddr& mac) {
    if (mac == P.mac) return true;
    for (const AllowedAddressPair& pair : P.allowed_address_pairs) {
      if (pair.mac && *pair.mac == mac) return true;
    }
    return false;
  }

  // §3.1 and §3.2. Notes the reason on failure.
  bool PassesPortSecurity(const Port& P, const Packet& p) {
    std::string who = absl::StrCat("port ", P.id, " port-security: ");
    auto fail = [&](const std::string& why) {
      Drop(who + why);
      return false;
    };
    if (!MacAllowed(P, p.src_mac)) {
      return fail(absl::StrCat("source MAC ", p.src_mac.ToString(), " not allowed"));
    }
    switch (p.eth_type) {
      case kEthArp:
        if (p.arp_sha != p.src_mac) {
          return fail(absl::StrCat("ARP sender MAC ", p.arp_sha.ToString(),
                                   " is not the source MAC ", p.src_mac.ToString()));
        }
        if (p.arp_sip.family != IpFamily::kV4) {
          return fail(absl::StrCat("ARP sender IP ", p.arp_sip.ToString(), " is not IPv4"));
        }
        if (p.arp_sip.IsUnspecified()) {
          Note(who + "ARP probe (sender IP 0.0.0.0) allowed");
          return true;
        }
        if (!SourceAllowed(P, p.src_mac, p.arp_sip)) {
          return fail(absl::StrCat("ARP sender IP ", p.arp_sip.ToString(), " not allowed with MAC ",
                                   p.src_mac.ToString()));
        }
        Note(absl::StrCat(who, "ARP from ", p.arp_sip.ToString(), " allowed"));
        return true;
      case kEthIPv4:
        if (IsUdp(p, 67, 68)) return fail("DHCP server traffic (udp 67 -> 68) from a port");
        if (p.src_ip.IsUnspecified() && IsUdp(p, 68, 67)) {
          Note(who + "DHCP client from 0.0.0.0 allowed");
          return true;
        }
        break;
      case kEthIPv6:
        if (IsUdp(p, 547, 546)) return fail("DHCPv6 server traffic (udp 547 -> 546) from a port");
        if (IsIcmpv6Type(p, 134)) return fail("router advertisement (icmpv6 134) from a port");
        if (p.src_ip.IsUnspecified() && (IsIcmpv6Type(p, 133) || IsIcmpv6Type(p, 135))) {
          Note(absl::StrCat(who, "icmpv6 ", p.icmp_type, " from :: (DAD) allowed"));
          return true;
        }
        break;
      default:
        return fail(absl::StrCat("ethertype ", Hex(p.eth_type), " not allowed"));
    }
    if (!SourceAllowed(P, p.src_mac, p.src_ip)) {
      return fail(absl::StrCat("source IP ", p.src_ip.ToString(), " not allowed with MAC ",
                               p.src_mac.ToString()));
    }
    Note(absl::StrCat(who, "source ", p.src_mac.ToString(), " ", p.src_ip.ToString(), " allowed"));
    return true;
  }

  // §3.3, read from the text: the ND payload of an NS/NA that passed §3.2.
  bool PassesNdCheck(const Port& P, const Packet& p) {
    const bool na = p.icmp_type == 136;
    std::string who = absl::StrCat("port ", P.id, " nd-check: ", na ? "NA" : "NS", " ");
    auto fail = [&](const std::string& why) {
      Drop(who + why);
      return false;
    };
    if (p.hop_limit != 255) return fail(absl::StrCat("hop limit ", p.hop_limit, " is not 255"));
    if (p.icmp_code != 0) return fail(absl::StrCat("code ", p.icmp_code, " is not 0"));
    const std::vector<uint8_t>& m = p.nd_body;
    if (m.size() < 20) return fail("truncated before the end of the target");
    IpAddr target;
    target.family = IpFamily::kV6;
    std::copy(m.begin() + 4, m.begin() + 20, target.bytes.begin());
    // Options: (type, link-layer address), all well-formed and inside the message.
    std::vector<std::pair<uint8_t, MacAddr>> options;
    for (size_t at = 20; at < m.size();) {
      if (m.size() - at < 2) return fail("truncated inside an option header");
      const size_t bytes = size_t{m[at + 1]} * 8;
      if (bytes == 0) return fail("option of length 0");
      if (bytes > m.size() - at) return fail("option runs past the end of the message");
      MacAddr lla;
      std::copy(m.begin() + at + 2, m.begin() + at + 8, lla.bytes.begin());
      options.emplace_back(m[at], lla);
      at += bytes;
    }
    if (options.size() > 8) return fail("more than 8 options");
    for (const auto& [type, lla] : options) {
      if (!na && type == 1 && p.src_ip.IsUnspecified()) {
        return fail("from :: (DAD) carries a source link-layer address option");
      }
      if ((na ? type == 2 : type == 1) && lla != p.src_mac) {
        return fail(absl::StrCat(na ? "target" : "source", " link-layer address ", lla.ToString(),
                                 " differs from the source MAC ", p.src_mac.ToString()));
      }
    }
    if (na && !SourceAllowed(P, p.src_mac, target)) {
      return fail(absl::StrCat("target ", target.ToString(), " not allowed with MAC ",
                               p.src_mac.ToString()));
    }
    Note(absl::StrCat(who, "for ", target.ToString(), " passes"));
    return true;
  }

  // §3.2 base traffic from P (port security already passed).
  bool IsBaseFromPort(const Port& P, const Packet& p) {
    std::string what;
    bool vrrp = IsVrrp(p) && !P.vips.empty();
    if (p.eth_type == kEthArp) {
      what = "ARP";
    } else if (p.eth_type == kEthIPv4) {
      if (IsUdp(p, 68, 67)) what = "DHCP client";
      if (vrrp) what = "VRRP with a VIP";
    } else if (p.eth_type == kEthIPv6) {
      if (IsUdp(p, 546, 547)) what = "DHCPv6 client";
      if (IsIcmpv6Type(p, 133)) what = "router solicitation";
      if (IsIcmpv6Type(p, 135)) what = "neighbor solicitation";
      if (IsIcmpv6Type(p, 136)) what = "neighbor advertisement";
      if (vrrp) what = "VRRP with a VIP";
    }
    if (what.empty()) return false;
    Note(absl::StrCat("port ", P.id, ": base traffic (", what, "), no group rules"));
    return true;
  }

  // §4.2 base traffic to Q; empty if not base.
  static std::string BaseToPort(const Port& Q, const Packet& p) {
    bool vrrp = IsVrrp(p) && !Q.vips.empty();
    if (p.eth_type == kEthArp) return "ARP";
    if (p.eth_type == kEthIPv4) {
      if (IsUdp(p, 67, 68)) return "DHCP server reply";
      if (vrrp) return "VRRP with a VIP";
    }
    if (p.eth_type == kEthIPv6) {
      if (IsUdp(p, 547, 546)) return "DHCPv6 server reply";
      if (IsIcmpv6Type(p, 134)) return "router advertisement";
      if (IsIcmpv6Type(p, 135)) return "neighbor solicitation";
      if (IsIcmpv6Type(p, 136)) return "neighbor advertisement";
      if (vrrp) return "VRRP with a VIP";
    }
    return "";
  }

  // §6
  void Forward(const Packet& p, const Port& P) {
    const Network& net = snap_.networks.at(P.network_id);
    std::optional<uint16_t> tag;
    if (net.segmentation == Segmentation::kVlan) tag = net.vlan_id;
    if (p.dst_mac == P.mac) {
      return Drop(absl::StrCat("port ", P.id, ": hairpin (destination is its own MAC)"));
    }
    if (p.dst_mac.IsMulticast()) {
      Deliver(DeviceRef::Uplink(), tag,
              absl::StrCat("network ", net.id, ": broadcast/multicast copy"));
      Flood(p, net.id, &P);
      return;
    }
    const Port* q = MacTableLookup(net.id, p.dst_mac);
    if (q == nullptr) {
      return Deliver(DeviceRef::Uplink(), tag,
                     absl::StrCat("network ", net.id, ": unicast to ", p.dst_mac.ToString(),
                                  " is not a local active port"));
    }
    ToPort(p, *q);
  }

  // §4
  void ToPort(const Packet& p, const Port& Q) {
    std::string who = absl::StrCat("port ", Q.id);
    DeviceRef out = DeviceRef::OfPort(Q.id);
    if (!Q.port_security) return Deliver(out, std::nullopt, who + ": port security off");
    std::string base = BaseToPort(Q, p);
    if (!base.empty())
      return Deliver(out, std::nullopt, absl::StrCat(who, ": base traffic (", base, ")"));
    if (!p.IsIp()) {
      return Drop(absl::StrCat(who, ": ethertype ", Hex(p.eth_type), " not allowed to a port"));
    }
    std::string decision;
    if (GroupRulesAllow(Q, Direction::kIngress, p, &decision)) {
      Deliver(out, std::nullopt, decision);
    }
  }

  // §5
  void Flood(const Packet& p, const std::string& network, const Port* source) {
    for (const auto& [id, Q] : snap_.ports) {
      if (Q.network_id != network || Q.state != PortState::kActive) continue;
      if (source != nullptr && source->id == Q.id) continue;
      std::string who = absl::StrCat("flood to port ", Q.id);
      if (!Q.port_security) {
        Deliver(DeviceRef::OfPort(Q.id), std::nullopt, who + " (port security off)");
        continue;
      }
      std::string base = BaseToPort(Q, p);
      if (!base.empty()) {
        Deliver(DeviceRef::OfPort(Q.id), std::nullopt,
                absl::StrCat(who, " (base traffic: ", base, ")"));
      } else if (p.IsIp() && Q.security_group_ids.empty()) {
        Deliver(DeviceRef::OfPort(Q.id), std::nullopt, who + " (no security group)");
      } else {
        Note(absl::StrCat(who, ": not admitted (",
                          p.IsIp() ? "port has security groups; flooded IP is not filtered per port"
                                   : absl::StrCat("ethertype ", Hex(p.eth_type)),
                          ")"));
      }
    }
  }

  // addresses(M) of every member M of `group`, local or remote, contain `a`.
  bool RemoteGroupContains(const std::string& group, const IpAddr& a) const {
    for (const auto& [id, M] : snap_.ports) {
      if (!std::count(M.security_group_ids.begin(), M.security_group_ids.end(), group)) continue;
      for (const IpPrefix& prefix : PortAddressPrefixes(M)) {
        if (prefix.Contains(a)) return true;  // Contains is false across families
      }
    }
    for (const auto& [id, M] : snap_.remote_ports) {
      if (!std::count(M.security_group_ids.begin(), M.security_group_ids.end(), group)) continue;
      for (const IpPrefix& prefix : M.addresses) {
        if (prefix.Contains(a)) return true;
      }
    }
    return false;
  }

  // One of the CIDRs of address group `group` contains `a`.
  bool AddressGroupContains(const std::string& group, const IpAddr& a) const {
    for (const IpPrefix& prefix : snap_.address_groups.at(group).cidrs) {
      if (prefix.Contains(a)) return true;
    }
    return false;
  }

  // §7 rule match (direction and ethertype already selected).
  bool RuleMatches(const SecurityGroupRule& r, Direction d, const Packet& p) const {
    if (r.protocol && *r.protocol != p.ip_proto) return false;
    if (r.ports) {
      if (!p.HasPorts() || p.dst_port < r.ports->min || p.dst_port > r.ports->max) return false;
    }
    if (r.icmp) {
      if (!p.IsIcmp() || p.icmp_type != r.icmp->type) return false;
      if (r.icmp->code && *r.icmp->code != p.icmp_code) return false;
    }
    const IpAddr& remote = d == Direction::kIngress ? p.src_ip : p.dst_ip;
    if (r.remote_prefix && !r.remote_prefix->Contains(remote)) return false;
    if (r.remote_group_id && !RemoteGroupContains(*r.remote_group_id, remote)) return false;
    if (r.remote_address_group_id && !AddressGroupContains(*r.remote_address_group_id, remote)) {
      return false;
    }
    return true;
  }

  // §7. A denial is noted here (and ends the trace); an allowing decision is
  // returned in `decision` for the caller to note with what follows.
  bool GroupRulesAllow(const Port& X, Direction d, const Packet& p, std::string* decision) {
    std::string who = absl::StrCat("port ", X.id, " ", ToString(d));
    if (X.security_group_ids.empty()) {
      *decision = who + ": no security group, allowed";
      return true;
    }
    bool stateful = snap_.security_groups.at(X.security_group_ids.front()).stateful;
    uint16_t zone = 0;
    if (stateful) {
      zone = slots_.port_zone.at(X.id);
      uint16_t state = ct_.Lookup(zone, p);
      if (state & kCtEstablished) {
        *decision =
            absl::StrCat(who, ": established connection", (state & kCtReply) ? " (reply)" : "",
                         " in zone ", zone, ", allowed");
        return true;
      }
    }
    EtherType family = p.eth_type == kEthIPv4 ? EtherType::kIPv4 : EtherType::kIPv6;
    // Order key of the first matching rule: (priority, deny first, group, index).
    std::optional<std::tuple<uint16_t, int, std::string, size_t>> best;
    const SecurityGroupRule* best_rule = nullptr;
    for (const std::string& gid : X.security_group_ids) {
      const SecurityGroup& g = snap_.security_groups.at(gid);
      for (size_t i = 0; i < g.rules.size(); ++i) {
        const SecurityGroupRule& r = g.rules[i];
        if (r.direction != d || r.ethertype != family || !RuleMatches(r, d, p)) continue;
        auto key = std::make_tuple(r.priority, r.action == RuleAction::kDeny ? 0 : 1, gid, i);
        if (!best || key < *best) {
          best = key;
          best_rule = &r;
        }
      }
    }
    if (best_rule == nullptr) {
      Drop(absl::StrCat(who, ": no rule of security group",
                        X.security_group_ids.size() > 1 ? "s " : " ",
                        absl::StrJoin(X.security_group_ids, ", "), " matched"));
      return false;
    }
    std::string rule = absl::StrCat(who, ": security group ", std::get<2>(*best), " rule ",
                                    std::get<3>(*best), " (", DescribeRule(*best_rule), ")");
    if (best_rule->action == RuleAction::kDeny) {
      Note(rule + " denied: dropped");
      return false;
    }
    if (stateful) {
      ct_.Commit(zone, p);
      *decision = absl::StrCat(rule, " allowed, committed in zone ", zone);
    } else {
      *decision = rule + " allowed (stateless)";
    }
    return true;
  }

  const Snapshot& snap_;
  const SlotAssignment& slots_;
  ConntrackModel& ct_;
  Verdict& v_;
};

}  // namespace

Verdict Evaluate(const Snapshot& snapshot, const SlotAssignment& slots, const Packet& packet,
                 ConntrackModel& conntrack) {
  Verdict verdict;
  Evaluator(snapshot, slots, conntrack, verdict).Run(packet);
  return verdict;
}

}  // namespace vfguard::policy
