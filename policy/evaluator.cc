// docs/semantics.md as code. Section numbers in comments refer to it.
#include "policy/evaluator.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

bool Udp(const Packet& p, uint16_t sport, uint16_t dport) {
  return p.ip_proto == kProtoUdp && p.src_port == sport && p.dst_port == dport;
}
bool Icmp6Type(const Packet& p, uint8_t type) {
  return p.eth_type == kEthIPv6 && p.ip_proto == kProtoIcmpv6 && p.icmp_type == type;
}
bool IsGarp(const Packet& p) { return p.eth_type == kEthArp && p.arp_sip == p.arp_tip; }

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
  void Drop(const std::string& why) { Note(absl::StrCat("drop: ", why)); }

  const Port* FindPort(const std::string& id) const {
    auto it = snap_.ports.find(id);
    return it == snap_.ports.end() ? nullptr : &it->second;
  }

  // Active port of `network` whose MAC is `mac`.
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
      if (p.vlan ? (n.segmentation == Segmentation::kVlan && n.vlan_id == *p.vlan)
                 : n.segmentation == Segmentation::kFlat) {
        net = &n;
      }
    }
    if (net == nullptr) return Drop("uplink frame matches no network");
    Note(absl::StrCat("uplink: network ", net->id));
    if (p.dst_mac.IsMulticast()) return Flood(p, net->id, nullptr);
    const Port* q = MacTableLookup(net->id, p.dst_mac);
    if (q == nullptr) return Drop("unknown unicast from the uplink");
    ToPort(p, *q);
  }

  // §2
  void FromPort(const Packet& p) {
    const Port* port = FindPort(p.in.port_id);
    if (port == nullptr) return Drop("frame from an unknown port");
    const Port& P = *port;
    if (P.state != PortState::kActive) {
      if (p.eth_type == kEthRarp || IsOwnGarp(P, p)) {
        Note(absl::StrCat("port ", P.id, " (not active): announcement forwarded"));
        return Forward(p, P);
      }
      return Drop(absl::StrCat("port ", P.id, " is not active"));
    }
    if (!P.port_security) {
      Note(absl::StrCat("port ", P.id, ": port security off"));
      return Forward(p, P);
    }
    if (!PassesPortSecurity(P, p)) return;
    if (!IsEgressBase(P, p)) {
      if (!GroupRulesAllow(P, Direction::kEgress, p)) return;
    }
    Forward(p, P);
  }

  // §2.1: a gratuitous ARP for one of the port's fixed IPs or VIPs; with
  // port security, sent from and claiming the port's own MAC.
  static bool IsOwnGarp(const Port& P, const Packet& p) {
    if (!IsGarp(p)) return false;
    if (P.port_security && (p.src_mac != P.mac || p.arp_sha != P.mac)) return false;
    for (const IpAddr& a : P.fixed_ips) {
      if (a == p.arp_sip) return true;
    }
    for (const IpAddr& a : P.vips) {
      if (a == p.arp_sip) return true;
    }
    return false;
  }

  // allowed(P, M) of the document.
  bool SourceAllowed(const Port& P, const MacAddr& mac, const IpAddr& ip) const {
    if (mac == P.mac) {
      for (const IpAddr& a : P.fixed_ips) {
        if (a == ip) return true;
      }
      for (const IpAddr& a : P.vips) {
        if (a == ip) return true;
      }
      if (ip == IpAddr::LinkLocalFromMac(P.mac)) return true;
    }
    for (const AllowedAddressPair& pair : P.allowed_address_pairs) {
      MacAddr pair_mac = pair.mac.value_or(P.mac);
      if (pair_mac == mac && pair.prefix.Contains(ip)) return true;
    }
    return false;
  }

  bool MacAllowed(const Port& P, const MacAddr& mac) const {
    if (mac == P.mac) return true;
    for (const AllowedAddressPair& pair : P.allowed_address_pairs) {
      if (pair.mac && *pair.mac == mac) return true;
    }
    return false;
  }

  // §3.1 and §3.2. Notes the reason on failure.
  bool PassesPortSecurity(const Port& P, const Packet& p) {
    if (!MacAllowed(P, p.src_mac)) {
      Drop(absl::StrCat("port ", P.id, " port-security: source MAC ", p.src_mac.ToString(),
                        " not allowed"));
      return false;
    }
    switch (p.eth_type) {
      case kEthArp:
        if (p.arp_sha != p.src_mac) {
          Drop(absl::StrCat("port ", P.id, " port-security: ARP sender MAC ", p.arp_sha.ToString(),
                            " differs from source MAC"));
          return false;
        }
        if (p.arp_sip.family != IpFamily::kV4 ||
            (!p.arp_sip.IsUnspecified() && !SourceAllowed(P, p.src_mac, p.arp_sip))) {
          Drop(absl::StrCat("port ", P.id, " port-security: ARP sender IP ", p.arp_sip.ToString(),
                            " not allowed"));
          return false;
        }
        Note(absl::StrCat("port ", P.id, " port-security: ARP allowed"));
        return true;
      case kEthIPv4:
        if (Udp(p, 67, 68)) {
          Drop(absl::StrCat("port ", P.id, " port-security: DHCP server traffic from a port"));
          return false;
        }
        if (SourceAllowed(P, p.src_mac, p.src_ip) || (p.src_ip.IsUnspecified() && Udp(p, 68, 67))) {
          return true;
        }
        Drop(absl::StrCat("port ", P.id, " port-security: source IP ", p.src_ip.ToString(),
                          " not allowed"));
        return false;
      case kEthIPv6:
        if (Udp(p, 547, 546)) {
          Drop(absl::StrCat("port ", P.id, " port-security: DHCPv6 server traffic from a port"));
          return false;
        }
        if (Icmp6Type(p, 134)) {
          Drop(absl::StrCat("port ", P.id, " port-security: router advertisement from a port"));
          return false;
        }
        if (SourceAllowed(P, p.src_mac, p.src_ip) ||
            (p.src_ip.IsUnspecified() && (Icmp6Type(p, 133) || Icmp6Type(p, 135)))) {
          return true;
        }
        Drop(absl::StrCat("port ", P.id, " port-security: source IP ", p.src_ip.ToString(),
                          " not allowed"));
        return false;
      default:
        Drop(absl::StrCat("port ", P.id, " port-security: ethertype 0x", absl::Hex(p.eth_type),
                          " not allowed"));
        return false;
    }
  }

  // §3.2 base traffic from a port (after port security passed).
  bool IsEgressBase(const Port& P, const Packet& p) {
    bool base = false;
    if (p.eth_type == kEthArp) base = true;
    if (p.eth_type == kEthIPv4) {
      base = Udp(p, 68, 67) || (p.ip_proto == kProtoVrrp && !P.vips.empty());
    }
    if (p.eth_type == kEthIPv6) {
      base = Udp(p, 546, 547) || Icmp6Type(p, 133) || Icmp6Type(p, 135) || Icmp6Type(p, 136) ||
             (p.ip_proto == kProtoVrrp && !P.vips.empty());
    }
    if (base) Note(absl::StrCat("port ", P.id, ": base traffic allowed"));
    return base;
  }

  // §4.2 base traffic to a port.
  static bool IsIngressBase(const Port& Q, const Packet& p) {
    if (p.eth_type == kEthArp) return true;
    if (p.eth_type == kEthIPv4) {
      return Udp(p, 67, 68) || (p.ip_proto == kProtoVrrp && !Q.vips.empty());
    }
    if (p.eth_type == kEthIPv6) {
      return Udp(p, 547, 546) || Icmp6Type(p, 134) || Icmp6Type(p, 135) || Icmp6Type(p, 136) ||
             (p.ip_proto == kProtoVrrp && !Q.vips.empty());
    }
    return false;
  }

  // §6
  void Forward(const Packet& p, const Port& P) {
    const Network& net = snap_.networks.at(P.network_id);
    std::optional<uint16_t> tag;
    if (net.segmentation == Segmentation::kVlan) tag = net.vlan_id;
    if (p.dst_mac.IsMulticast()) {
      v_.deliveries.insert(Delivery{DeviceRef::Uplink(), tag});
      Note("flood: copy to the uplink");
      return Flood(p, net.id, &P);
    }
    if (p.dst_mac == P.mac) return Drop(absl::StrCat("hairpin to port ", P.id));
    const Port* q = MacTableLookup(net.id, p.dst_mac);
    if (q == nullptr) {
      v_.deliveries.insert(Delivery{DeviceRef::Uplink(), tag});
      Note("unknown unicast: to the uplink");
      return;
    }
    ToPort(p, *q);
  }

  // §4
  void ToPort(const Packet& p, const Port& Q) {
    auto deliver = [&](const std::string& why) {
      v_.deliveries.insert(Delivery{DeviceRef::OfPort(Q.id), std::nullopt});
      Note(absl::StrCat("deliver to port ", Q.id, ": ", why));
    };
    if (!Q.port_security) return deliver("port security off");
    if (IsIngressBase(Q, p)) return deliver("base traffic");
    if (!p.IsIp()) {
      return Drop(absl::StrCat("port ", Q.id, ": ethertype 0x", absl::Hex(p.eth_type),
                               " not allowed to a port"));
    }
    if (GroupRulesAllow(Q, Direction::kIngress, p)) deliver("security group");
  }

  // §5
  void Flood(const Packet& p, const std::string& network, const Port* source) {
    for (const auto& [id, Q] : snap_.ports) {
      if (Q.network_id != network || Q.state != PortState::kActive) continue;
      if (source != nullptr && source->id == Q.id) continue;
      bool admitted =
          !Q.port_security || IsIngressBase(Q, p) || (p.IsIp() && Q.security_group_ids.empty());
      if (admitted) {
        v_.deliveries.insert(Delivery{DeviceRef::OfPort(Q.id), std::nullopt});
        Note(absl::StrCat("flood: copy to port ", Q.id));
      }
    }
  }

  bool RuleMatches(const SecurityGroupRule& r, Direction d, const Packet& p) const {
    EtherType et = p.eth_type == kEthIPv4 ? EtherType::kIPv4 : EtherType::kIPv6;
    if (r.direction != d || r.ethertype != et) return false;
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
    if (r.remote_group_id) {
      bool member = false;
      for (const auto& [id, M] : snap_.ports) {
        if (std::find(M.security_group_ids.begin(), M.security_group_ids.end(),
                      *r.remote_group_id) == M.security_group_ids.end()) {
          continue;
        }
        for (const IpPrefix& prefix : PortAddressPrefixes(M)) {
          if (prefix.Contains(remote)) member = true;
        }
      }
      if (!member) return false;
    }
    return true;
  }

  // §7. Notes the decision.
  bool GroupRulesAllow(const Port& X, Direction d, const Packet& p) {
    std::string who = absl::StrCat("port ", X.id, " ", ToString(d));
    if (X.security_group_ids.empty()) {
      Note(absl::StrCat(who, ": no security group, allowed"));
      return true;
    }
    bool stateful = snap_.security_groups.at(X.security_group_ids.front()).stateful;
    uint16_t zone = 0;
    if (stateful) {
      zone = slots_.port_zone.at(X.id);
      uint16_t state = ct_.Lookup(zone, p);
      if (state & kCtEstablished) {
        Note(absl::StrCat(who, ": established connection in zone ", zone, ", allowed"));
        return true;
      }
    }
    // (priority, deny first, group, index) of the first matching rule.
    std::optional<std::tuple<uint16_t, int, std::string, size_t>> best;
    const SecurityGroupRule* best_rule = nullptr;
    for (const std::string& gid : X.security_group_ids) {
      const SecurityGroup& g = snap_.security_groups.at(gid);
      for (size_t i = 0; i < g.rules.size(); ++i) {
        const SecurityGroupRule& r = g.rules[i];
        if (!RuleMatches(r, d, p)) continue;
        auto key = std::make_tuple(r.priority, r.action == RuleAction::kDeny ? 0 : 1, gid, i);
        if (!best || key < *best) {
          best = key;
          best_rule = &r;
        }
      }
    }
    if (best_rule == nullptr) {
      Drop(absl::StrCat(who, ": no security group rule matched"));
      return false;
    }
    std::string rule_name =
        absl::StrCat("security group ", std::get<2>(*best), " rule ", std::get<3>(*best), " (",
                     ToString(best_rule->action), ", priority ", best_rule->priority, ")");
    if (best_rule->action == RuleAction::kDeny) {
      Drop(absl::StrCat(who, ": ", rule_name));
      return false;
    }
    if (stateful) ct_.Commit(zone, p);
    Note(absl::StrCat(who, ": ", rule_name,
                      stateful ? absl::StrCat(", committed in zone ", zone) : std::string()));
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
