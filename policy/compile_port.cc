// Per-port chains: port security, base traffic, group rules, forwarding
// hand-off (docs/semantics.md §2-4, §7; layout in docs/pipeline.md).
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compile_parts.h"
#include "policy/nd_check.h"

namespace vfguard::policy {
namespace {

FlowerMatch UdpPorts(uint16_t sport, uint16_t dport) {
  FlowerMatch m;
  m.ip_proto = kProtoUdp;
  m.src_port = ExactPort(sport);
  m.dst_port = ExactPort(dport);
  return m;
}

FlowerMatch Icmp6(uint8_t type) {
  FlowerMatch m;
  m.ip_proto = kProtoIcmpv6;
  m.icmp_type = type;
  return m;
}

FlowerMatch Proto(uint8_t proto) {
  FlowerMatch m;
  m.ip_proto = proto;
  return m;
}

// (MAC, prefix) pairs a port may source from: allowed(P, M) of the semantics.
std::vector<std::pair<MacAddr, IpPrefix>> AllowedSources(const Port& p) {
  std::vector<std::pair<MacAddr, IpPrefix>> out;
  for (const IpAddr& a : p.fixed_ips) out.emplace_back(p.mac, IpPrefix::Host(a));
  for (const IpAddr& a : p.vips) out.emplace_back(p.mac, IpPrefix::Host(a));
  out.emplace_back(p.mac, IpPrefix::Host(IpAddr::LinkLocalFromMac(p.mac)));
  for (const AllowedAddressPair& pair : p.allowed_address_pairs) {
    out.emplace_back(pair.mac.value_or(p.mac), pair.prefix);
  }
  return out;
}

std::vector<MacAddr> AllowedMacs(const Port& p) {
  std::set<MacAddr> macs{p.mac};
  for (const AllowedAddressPair& pair : p.allowed_address_pairs) {
    if (pair.mac) macs.insert(*pair.mac);
  }
  return {macs.begin(), macs.end()};
}

class PortCompiler {
 public:
  PortCompiler(const CompileContext& ctx, const Port& p)
      : ctx_(ctx),
        p_(p),
        slot_(ctx.slots.port_slot.at(p.id)),
        zone_(ctx.slots.port_zone.at(p.id)),
        self_(DeviceRef::OfPort(p.id)),
        head_(ctx.interner->Text(absl::StrCat("port ", p.id, ": "))) {
    if (!p.security_group_ids.empty()) {
      stateful_ = ctx.snap.security_groups.at(p.security_group_ids.front()).stateful;
    }
  }

  absl::Status Compile(std::vector<Filter>& out) {
    absl::Status st = CompilePortDispatch(ctx_, p_, out);
    if (!st.ok()) return st;
    ChainBuilder from(*ctx_.interner, Chains::From(slot_));
    from.SetOriginHead(head_);
    if (p_.state != PortState::kActive) {
      FromInactive(from);
    } else if (!p_.port_security) {
      from.Add(kEthAll, {}, {GotoChain(Chains::Post(slot_))}, "port security off");
    } else {
      FromPortSecurity(from);
    }
    st = from.Finish(out);
    if (!st.ok()) return st;
    if (p_.state == PortState::kActive && p_.port_security) {
      st = EgressChains(out);
      if (!st.ok()) return st;
      st = NdEntry(out);
      if (!st.ok()) return st;
    }
    st = PostChain(out);
    if (!st.ok()) return st;
    st = ToChains(out);
    if (!st.ok()) return st;
    return CompilePortEgressHook(ctx_, p_, out);
  }

 private:
  // §2.1: only RARP and GARP for one of the port's own addresses.
  void FromInactive(ChainBuilder& b) {
    b.Add(kEthRarp, {}, {GotoChain(Chains::Post(slot_))}, "not active: RARP announcement");
    std::vector<IpAddr> own = p_.fixed_ips;
    own.insert(own.end(), p_.vips.begin(), p_.vips.end());
    for (const IpAddr& a : own) {
      if (a.family != IpFamily::kV4) continue;
      FlowerMatch m;
      m.arp_sip = IpPrefix::Host(a);
      m.arp_tip = IpPrefix::Host(a);
      if (p_.port_security) {
        m.src_mac = ExactMac(p_.mac);
        m.arp_sha = ExactMac(p_.mac);
      }
      b.Add(kEthArp, m, {GotoChain(Chains::Post(slot_))},
            absl::StrCat("not active: gratuitous ARP for ", a.ToString()));
    }
    b.NextStage();
    b.Add(kEthAll, {}, {Drop()}, "not active: drop");
  }

  // §3.
  void FromPortSecurity(ChainBuilder& b) {
    const uint32_t post = Chains::Post(slot_);
    const uint32_t egress = Chains::Egress(slot_);
    b.Add(kEthIPv4, UdpPorts(67, 68), {Drop()}, "port-security: DHCP server from a port");
    b.Add(kEthIPv6, UdpPorts(547, 546), {Drop()}, "port-security: DHCPv6 server from a port");
    b.Add(kEthIPv6, Icmp6(134), {Drop()}, "port-security: router advertisement");
    b.NextStage();
    for (const MacAddr& mac : AllowedMacs(p_)) {
      FlowerMatch probe;
      probe.src_mac = ExactMac(mac);
      probe.arp_sha = ExactMac(mac);
      probe.arp_sip = IpPrefix::Host(IpAddr::AnyV4());
      b.Add(kEthArp, probe, {GotoChain(post)}, "port-security: ARP probe");
      FlowerMatch dhcp = UdpPorts(68, 67);
      dhcp.src_mac = ExactMac(mac);
      dhcp.src_ip = IpPrefix::Host(IpAddr::AnyV4());
      b.Add(kEthIPv4, dhcp, {GotoChain(post)}, "port-security: DHCP client from 0.0.0.0");
      for (uint8_t type : {uint8_t{133}, uint8_t{135}}) {
        FlowerMatch dad = Icmp6(type);
        dad.src_mac = ExactMac(mac);
        dad.src_ip = IpPrefix::Host(IpAddr::AnyV6());
        b.Add(kEthIPv6, dad, {GotoChain(type == 135 ? Chains::kNd : post)},
              absl::StrCat("port-security: ICMPv6 ", type, " from ::"));
      }
    }
    for (const auto& [mac, prefix] : AllowedSources(p_)) {
      if (prefix.addr.family == IpFamily::kV4) {
        FlowerMatch arp;
        arp.src_mac = ExactMac(mac);
        arp.arp_sha = ExactMac(mac);
        arp.arp_sip = prefix;
        b.Add(kEthArp, arp, {GotoChain(post)},
              absl::StrCat("port-security: ARP from ", prefix.ToString()));
      }
      FlowerMatch ip;
      ip.src_mac = ExactMac(mac);
      ip.src_ip = prefix;
      b.Add(prefix.addr.family == IpFamily::kV4 ? kEthIPv4 : kEthIPv6, ip, {GotoChain(egress)},
            absl::StrCat("port-security: source ", mac.ToString(), " ", prefix.ToString()));
    }
    b.NextStage();
    b.Add(kEthAll, {}, {Drop()}, "port-security: drop everything else");
  }

  // The port's filter in the ND chain: checked NS/NA go on to post(P); it
  // carries the port's ND map entry (§3.3).
  absl::Status NdEntry(std::vector<Filter>& out) {
    std::vector<std::pair<MacAddr, IpPrefix>> pairs;
    for (const AllowedAddressPair& pair : p_.allowed_address_pairs) {
      pairs.emplace_back(pair.mac.value_or(p_.mac), pair.prefix);
    }
    Filter f;
    f.chain = Chains::kNd;
    f.prio = Chains::kNdPortPrio;
    f.handle = slot_;
    f.protocol = kEthIPv6;
    FlowerMatch from_self;
    from_self.indev = self_;
    f.match = ctx_.interner->Match(from_self);
    f.actions = ctx_.interner->Actions({GotoChain(Chains::Post(slot_))});
    FilterRare rare;
    rare.nd_allowed = NdAllowedOf(p_.mac, p_.fixed_ips, p_.vips, pairs);
    if (rare.nd_allowed.size() > kNdMaxAllowed) {
      return absl::InvalidArgumentError(
          absl::StrCat("port ", p_.id, ": ", rare.nd_allowed.size(),
                       " IPv6 (MAC, prefix) pairs for the ND check, at most ", kNdMaxAllowed));
    }
    ctx_.interner->SetOrigin(f, ctx_.interner->OriginOf(head_, "nd-check passed"), rare);
    out.push_back(std::move(f));
    return absl::OkStatus();
  }

  // Base traffic from the port, then group rules (§3.2, §7).
  absl::Status EgressChains(std::vector<Filter>& out) {
    const uint32_t post = Chains::Post(slot_);
    ChainBuilder b(*ctx_.interner, Chains::Egress(slot_));
    b.SetOriginHead(head_);
    b.Add(kEthIPv4, UdpPorts(68, 67), {GotoChain(post)}, "base: DHCP client");
    b.Add(kEthIPv6, UdpPorts(546, 547), {GotoChain(post)}, "base: DHCPv6 client");
    b.Add(kEthIPv6, Icmp6(133), {GotoChain(post)}, "base: ICMPv6 133");
    for (uint8_t type : {uint8_t{135}, uint8_t{136}}) {
      b.Add(kEthIPv6, Icmp6(type), {GotoChain(Chains::kNd)},
            absl::StrCat("base: ICMPv6 ", type, " -> nd-check"));
    }
    if (!p_.vips.empty()) {
      b.Add(kEthIPv4, Proto(kProtoVrrp), {GotoChain(post)}, "base: VRRP (port has VIPs)");
      b.Add(kEthIPv6, Proto(kProtoVrrp), {GotoChain(post)}, "base: VRRP (port has VIPs)");
    }
    b.NextStage();
    AddGroupEntry(b, GotoChain(post), Chains::EgressRules(slot_));
    absl::Status st = b.Finish(out);
    if (!st.ok()) return st;
    if (p_.security_group_ids.empty()) return absl::OkStatus();
    return CompileRuleChain(ctx_, p_, Direction::kEgress, Chains::EgressRules(slot_), stateful_,
                            zone_, {GotoChain(post)}, out);
  }

  // Without groups everything passes; with groups, IP goes (through ct for
  // stateful groups) to the rules chain.
  void AddGroupEntry(ChainBuilder& b, const Action& pass, uint32_t rules_chain) {
    for (uint16_t proto : {kEthIPv4, kEthIPv6}) {
      if (p_.security_group_ids.empty()) {
        b.Add(proto, {}, {pass}, "no security group: IP allowed");
      } else if (stateful_) {
        b.Add(proto, {}, {Ct(zone_, false), GotoChain(rules_chain)},
              absl::StrCat("conntrack zone ", zone_));
      } else {
        b.Add(proto, {}, {GotoChain(rules_chain)}, "stateless security groups");
      }
    }
    b.NextStage();
    b.Add(kEthAll, {}, {Drop()}, "not IP: drop");
  }

  // After egress: hairpin drop, flood, or forwarding (§6).
  absl::Status PostChain(std::vector<Filter>& out) {
    ChainBuilder b(*ctx_.interner, Chains::Post(slot_));
    b.SetOriginHead(head_);
    FlowerMatch hairpin;
    hairpin.dst_mac = ExactMac(p_.mac);
    b.Add(kEthAll, hairpin, {Drop()}, "hairpin: drop");
    b.NextStage();
    FlowerMatch multi;
    multi.dst_mac = MulticastBit();
    uint32_t net_slot = ctx_.slots.network_slot.at(p_.network_id);
    b.Add(kEthAll, multi, {GotoChain(Chains::Flood(net_slot))},
          absl::StrCat("broadcast/multicast: flood in network ", p_.network_id));
    b.NextStage();
    b.Add(kEthAll, {}, {GotoChain(Chains::ForwardFromPorts(net_slot))},
          absl::StrCat("forward in network ", p_.network_id));
    return b.Finish(out);
  }

  // §4: what reaches the port's VF.
  absl::Status ToChains(std::vector<Filter>& out) {
    ChainBuilder b(*ctx_.interner, Chains::To(slot_));
    b.SetOriginHead(head_);
    Action deliver = Redirect(self_);
    if (p_.state != PortState::kActive) {
      // Not in the MAC table: nothing forwards here. Kept so the chain exists.
      b.Add(kEthAll, {}, {Drop()}, "not active: receives nothing");
      return b.Finish(out);
    }
    if (!p_.port_security) {
      b.Add(kEthAll, {}, {deliver}, "port security off: deliver");
      return b.Finish(out);
    }
    b.Add(kEthArp, {}, {deliver}, "base: ARP");
    b.Add(kEthIPv4, UdpPorts(67, 68), {deliver}, "base: DHCP server reply");
    b.Add(kEthIPv6, UdpPorts(547, 546), {deliver}, "base: DHCPv6 server reply");
    for (uint8_t type : {uint8_t{134}, uint8_t{135}, uint8_t{136}}) {
      b.Add(kEthIPv6, Icmp6(type), {deliver}, absl::StrCat("base: ICMPv6 ", type));
    }
    if (!p_.vips.empty()) {
      b.Add(kEthIPv4, Proto(kProtoVrrp), {deliver}, "base: VRRP (port has VIPs)");
      b.Add(kEthIPv6, Proto(kProtoVrrp), {deliver}, "base: VRRP (port has VIPs)");
    }
    b.NextStage();
    AddGroupEntry(b, deliver, Chains::IngressRules(slot_));
    absl::Status st = b.Finish(out);
    if (!st.ok()) return st;
    if (p_.security_group_ids.empty()) return absl::OkStatus();
    return CompileRuleChain(ctx_, p_, Direction::kIngress, Chains::IngressRules(slot_), stateful_,
                            zone_, {deliver}, out);
  }

  const CompileContext& ctx_;
  const Port& p_;
  uint32_t slot_;
  uint16_t zone_;
  DeviceRef self_;
  // The origin head of the port's filters ("port p1: "): each builder's.
  SharedText head_;
  bool stateful_ = false;
};

}  // namespace

absl::Status CompilePortChains(const CompileContext& ctx, const Port& port,
                               std::vector<Filter>& out) {
  return PortCompiler(ctx, port).Compile(out);
}

}  // namespace vfguard::policy
