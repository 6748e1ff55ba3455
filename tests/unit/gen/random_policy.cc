#include "tests/unit/gen/random_policy.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/nd_check.h"

namespace vfguard::testing {

using policy::AllowedAddressPair;
using policy::IpAddr;
using policy::IpPrefix;
using policy::MacAddr;
using policy::Port;
using policy::SecurityGroupRule;

namespace {

IpAddr Ip(const char* text) { return *IpAddr::Parse(text); }
IpPrefix Prefix(const char* text) { return *IpPrefix::Parse(text); }
MacAddr Mac(const char* text) { return *MacAddr::Parse(text); }

const std::vector<const char*> kV4Pool = {"10.0.0.1",   "10.0.0.2",   "10.0.0.3", "10.0.0.4",
                                          "10.0.0.5",   "10.0.0.100", "10.0.1.5", "10.0.2.7",
                                          "10.0.2.200", "8.8.8.8"};
const std::vector<const char*> kV6Pool = {"fd00::1", "fd00::2",  "fd00::3",   "fd00::4",
                                          "fd00::5", "fd00::64", "fd00:1::5", "2001:db8::1"};
const std::vector<const char*> kV4Prefixes = {"10.0.0.0/24", "10.0.0.2/32", "10.0.0.0/30",
                                              "10.0.1.0/25", "0.0.0.0/0",   "10.0.2.0/24"};
const std::vector<const char*> kV6Prefixes = {"fd00::/64", "fd00::2/128", "fd00:1::/48", "::/0"};
const std::vector<uint16_t> kPorts = {67,  68,   546,  547,  22,   79,   80,   81,
                                      443, 1000, 1023, 1024, 1999, 2000, 8080, 65535};
const std::vector<std::pair<uint16_t, uint16_t>> kRanges = {
    {80, 80}, {22, 22},   {1, 65535}, {1000, 2000}, {1024, 65535},
    {79, 81}, {443, 443}, {1, 1023},  {8000, 8080}};

}  // namespace

RandomPolicy::RandomPolicy(uint64_t seed, RandomPolicyOptions options)
    : rng_(seed), options_(options) {}

int RandomPolicy::Uniform(int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng_);
}
bool RandomPolicy::Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

IpAddr RandomPolicy::PoolIp(bool v6) { return Ip(v6 ? Pick(kV6Pool) : Pick(kV4Pool)); }

SecurityGroupRule RandomPolicy::Rule(const std::vector<std::string>& group_ids,
                                     const std::vector<std::string>& address_group_ids) {
  SecurityGroupRule r;
  r.direction = Chance(0.5) ? policy::Direction::kIngress : policy::Direction::kEgress;
  bool v6 = Chance(0.35);
  r.ethertype = v6 ? policy::EtherType::kIPv6 : policy::EtherType::kIPv4;
  switch (Uniform(0, 7)) {
    case 0:
    case 1:
      break;  // any
    case 2:
    case 3:
      r.protocol = policy::kProtoTcp;
      break;
    case 4:
      r.protocol = policy::kProtoUdp;
      break;
    case 5:
      r.protocol = v6 ? policy::kProtoIcmpv6 : policy::kProtoIcmp;
      break;
    case 6:
      r.protocol = policy::kProtoSctp;
      break;
    default:
      r.protocol = Chance(0.5) ? policy::kProtoVrrp : uint8_t{47};
  }
  if (r.protocol &&
      (*r.protocol == policy::kProtoTcp || *r.protocol == policy::kProtoUdp ||
       *r.protocol == policy::kProtoSctp) &&
      Chance(0.7)) {
    auto [lo, hi] = Pick(kRanges);
    if (Chance(0.2)) {
      lo = static_cast<uint16_t>(Uniform(1, 65535));
      hi = static_cast<uint16_t>(Uniform(lo, 65535));
    }
    r.ports = policy::PortRange{lo, hi};
  }
  if (r.protocol && (*r.protocol == policy::kProtoIcmp || *r.protocol == policy::kProtoIcmpv6) &&
      Chance(0.6)) {
    policy::IcmpMatch m;
    m.type = v6 ? Pick(std::vector<uint8_t>{128, 129, 1}) : Pick(std::vector<uint8_t>{8, 0, 3});
    if (Chance(0.4)) m.code = static_cast<uint8_t>(Uniform(0, 1));
    r.icmp = m;
  }
  int remote = Uniform(0, 6);
  if (remote == 2 || remote == 3) {
    r.remote_prefix = Prefix(v6 ? Pick(kV6Prefixes) : Pick(kV4Prefixes));
  } else if (remote == 4 && !group_ids.empty()) {
    r.remote_group_id = Pick(group_ids);
  } else if (remote == 5 && !address_group_ids.empty()) {
    r.remote_address_group_id = Pick(address_group_ids);
  }
  r.priority = Pick(std::vector<uint16_t>{1, 10, 10, 100, 16384, 16384});
  r.action = Chance(0.8) ? policy::RuleAction::kAllow : policy::RuleAction::kDeny;
  return r;
}

policy::Snapshot RandomPolicy::Snapshot() {
  policy::Snapshot s;
  int networks = Uniform(1, options_.max_networks);
  bool flat_used = false;
  for (int i = 0; i < networks; ++i) {
    policy::Network n;
    n.id = absl::StrCat("net", i);
    if (!flat_used && Chance(0.5)) {
      flat_used = true;
    } else {
      n.segmentation = policy::Segmentation::kVlan;
      n.vlan_id = static_cast<uint16_t>(10 * (i + 1));
    }
    s.networks[n.id] = n;
  }
  int groups = Uniform(0, options_.max_groups);
  std::vector<std::string> group_ids;
  for (int i = 0; i < groups; ++i) group_ids.push_back(absl::StrCat("sg", i));
  std::vector<std::string> address_group_ids;
  for (int i = 0, n = Uniform(0, options_.max_address_groups); i < n; ++i) {
    policy::AddressGroup ag;
    ag.id = absl::StrCat("ag", i);
    std::set<IpPrefix> cidrs;
    for (int k = 0, m = Uniform(0, 4); k < m; ++k) {
      int c = Uniform(0, 3);
      bool v6 = Chance(0.3);
      cidrs.insert(c == 0 ? Prefix(v6 ? Pick(kV6Prefixes) : Pick(kV4Prefixes))
                          : IpPrefix::Host(PoolIp(v6)));
    }
    ag.cidrs.assign(cidrs.begin(), cidrs.end());
    address_group_ids.push_back(ag.id);
    s.address_groups[ag.id] = ag;
  }
  std::vector<std::string> stateful_ids, stateless_ids;
  for (const std::string& id : group_ids) {
    policy::SecurityGroup g;
    g.id = id;
    g.stateful = Chance(0.75);
    int rules = Uniform(0, options_.max_rules_per_group);
    for (int r = 0; r < rules; ++r) g.rules.push_back(Rule(group_ids, address_group_ids));
    (g.stateful ? stateful_ids : stateless_ids).push_back(id);
    s.security_groups[id] = g;
  }
  int ports = Uniform(1, options_.max_ports);
  for (int i = 0; i < ports; ++i) {
    Port p;
    p.id = absl::StrCat("p", i);
    p.network_id = absl::StrCat("net", Uniform(0, networks - 1));
    p.mac = MacAddr{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)}};
    p.fixed_ips.push_back(IpAddr::V4(0x0a000001 + i));  // 10.0.0.(i+1)
    if (Chance(0.5)) p.fixed_ips.push_back(Ip(absl::StrCat("fd00::", i + 1).c_str()));
    if (Chance(0.25)) p.vips.push_back(Ip("10.0.0.100"));
    if (Chance(0.1)) p.vips.push_back(Ip("fd00::64"));
    if (Chance(0.25)) {
      AllowedAddressPair pair;
      pair.prefix = Prefix(Chance(0.5) ? "10.0.2.0/24" : "10.0.1.5");
      if (Chance(0.5)) pair.mac = MacAddr{{0x02, 0xaa, 0, 0, 0, static_cast<uint8_t>(i + 1)}};
      p.allowed_address_pairs.push_back(pair);
    }
    p.port_security = Chance(0.85);
    int state = Uniform(0, 24);
    p.state = state < 23 ? policy::PortState::kActive
                         : (state == 23 ? policy::PortState::kPendingActivation
                                        : policy::PortState::kInactive);
    p.representor.ref = static_cast<uint32_t>(i);
    const std::vector<std::string>& pool = Chance(0.7) ? stateful_ids : stateless_ids;
    if (!pool.empty()) {
      int n = Uniform(0, std::min<int>(2, pool.size()));
      std::set<std::string> chosen;
      for (int k = 0; k < n; ++k) chosen.insert(Pick(pool));
      p.security_group_ids.assign(chosen.begin(), chosen.end());
    }
    s.ports[p.id] = p;
  }
  // Remote members: pool addresses (which uplink frames source), sometimes
  // siblings of each other or of local ports' addresses so that aggregation
  // merges them, and CIDRs.
  for (int i = 0, n = group_ids.empty() ? 0 : Uniform(0, options_.max_remote_ports); i < n; ++i) {
    policy::RemotePort r;
    r.id = absl::StrCat("r", i);
    std::set<IpPrefix> addrs;
    for (int k = 0, m = Uniform(0, 3); k < m; ++k) {
      int c = Uniform(0, 5);
      if (c == 0) {
        addrs.insert(Prefix(Chance(0.5) ? "10.0.2.0/24" : "10.0.0.4/30"));
      } else {
        addrs.insert(IpPrefix::Host(PoolIp(c == 5)));
      }
    }
    r.addresses.assign(addrs.begin(), addrs.end());
    std::set<std::string> chosen;
    for (int k = 0, m = Uniform(1, 2); k < m; ++k) chosen.insert(Pick(group_ids));
    r.security_group_ids.assign(chosen.begin(), chosen.end());
    s.remote_ports[r.id] = r;
  }
  return s;
}

MacAddr RandomPolicy::PickSrcMac(const policy::Snapshot& s, const Port* sender) {
  int c = Uniform(0, 9);
  if (sender != nullptr && c < 8) return sender->mac;
  if (sender != nullptr && c < 7 && !sender->allowed_address_pairs.empty() &&
      sender->allowed_address_pairs[0].mac) {
    return *sender->allowed_address_pairs[0].mac;
  }
  if (c < 9 && !s.ports.empty()) {
    auto it = s.ports.begin();
    std::advance(it, Uniform(0, s.ports.size() - 1));
    return it->second.mac;
  }
  return Mac("02:99:00:00:00:01");
}

MacAddr RandomPolicy::PickDstMac(const policy::Snapshot& s, const Port* sender) {
  int c = Uniform(0, 9);
  if (c < 5 && !s.ports.empty()) {
    // Prefer another port than the sender.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto it = s.ports.begin();
      std::advance(it, Uniform(0, s.ports.size() - 1));
      if (sender == nullptr || it->second.id != sender->id || attempt == 2) return it->second.mac;
    }
  }
  if (c == 5) return MacAddr::Broadcast();
  if (c == 6) return Mac("01:00:5e:00:00:12");
  if (c == 7) return Mac("33:33:00:00:00:01");
  if (c == 8 && sender != nullptr && Chance(0.3)) return sender->mac;
  return Mac("02:99:00:00:00:02");
}

IpAddr RandomPolicy::PickSrcIp(const policy::Snapshot& s, const Port* sender, bool v6) {
  int c = Uniform(0, 19);
  if (sender != nullptr && c < 15) {
    std::vector<IpAddr> own;
    for (const IpAddr& a : sender->fixed_ips) {
      if ((a.family == policy::IpFamily::kV6) == v6) own.push_back(a);
    }
    for (const IpAddr& a : sender->vips) {
      if ((a.family == policy::IpFamily::kV6) == v6) own.push_back(a);
    }
    if (v6) own.push_back(IpAddr::LinkLocalFromMac(sender->mac));
    if (!own.empty()) return Pick(own);
  }
  if (c == 15) return v6 ? IpAddr::AnyV6() : IpAddr::AnyV4();
  return PoolIp(v6);
}

policy::Packet RandomPolicy::Packet(const policy::Snapshot& s) {
  policy::Packet p;
  const Port* sender = nullptr;
  if (Chance(0.3) || s.ports.empty()) {
    p.in = policy::DeviceRef::Uplink();
    std::vector<uint16_t> vlans;
    for (const auto& [id, n] : s.networks) {
      if (n.segmentation == policy::Segmentation::kVlan) vlans.push_back(n.vlan_id);
    }
    int v = Uniform(0, 9);
    if (v < 6 && !vlans.empty()) p.vlan = Pick(vlans);
    if (v == 9) p.vlan = Pick(std::vector<uint16_t>{10, 20, 30, 99});
  } else {
    auto it = s.ports.begin();
    std::advance(it, Uniform(0, s.ports.size() - 1));
    sender = &it->second;
    p.in = policy::DeviceRef::OfPort(sender->id);
  }
  p.src_mac = PickSrcMac(s, sender);
  p.dst_mac = PickDstMac(s, sender);
  int kind = Uniform(0, 99);
  if (kind < 20) {
    p.eth_type = policy::kEthArp;
    p.arp_op = Chance(0.7) ? 1 : 2;
    p.arp_sha = Chance(0.85) ? p.src_mac : Mac("02:99:00:00:00:03");
    p.arp_sip = Chance(0.15) ? IpAddr::AnyV4() : PickSrcIp(s, sender, false);
    p.arp_tip = Chance(0.25) ? p.arp_sip : PoolIp(false);
    p.arp_tha = Chance(0.5) ? MacAddr{} : p.dst_mac;
    return p;
  }
  if (kind < 25) {
    p.eth_type = policy::kEthRarp;
    p.arp_op = 3;
    p.arp_sha = p.src_mac;
    p.arp_tha = p.src_mac;
    return p;
  }
  if (kind < 28) {
    // A tagged frame can only come from a port here; from the uplink the tag
    // is Packet::vlan.
    p.eth_type = (sender != nullptr && Chance(0.5)) ? policy::kEth8021Q : uint16_t{0x88cc};
    return p;
  }
  bool v6 = kind >= 70;
  p.eth_type = v6 ? policy::kEthIPv6 : policy::kEthIPv4;
  p.src_ip = PickSrcIp(s, sender, v6);
  p.dst_ip = PoolIp(v6);
  if (Chance(0.1)) p.dst_ip = v6 ? Ip("ff02::1") : Ip("224.0.0.18");
  int proto = Uniform(0, 11);
  if (proto < 4) {
    p.ip_proto = policy::kProtoTcp;
  } else if (proto < 7) {
    p.ip_proto = policy::kProtoUdp;
  } else if (proto < 9) {
    p.ip_proto = v6 ? policy::kProtoIcmpv6 : policy::kProtoIcmp;
  } else if (proto == 9) {
    p.ip_proto = policy::kProtoSctp;
  } else if (proto == 10) {
    p.ip_proto = policy::kProtoVrrp;
  } else {
    p.ip_proto = 47;
  }
  if (p.HasPorts()) {
    p.src_port = Chance(0.8) ? Pick(kPorts) : static_cast<uint16_t>(Uniform(1, 65535));
    p.dst_port = Chance(0.8) ? Pick(kPorts) : static_cast<uint16_t>(Uniform(1, 65535));
    if (p.ip_proto == policy::kProtoUdp && Chance(0.3)) {
      int d = Uniform(0, 3);
      uint16_t pairs[4][2] = {{68, 67}, {67, 68}, {546, 547}, {547, 546}};
      p.src_port = pairs[d][0];
      p.dst_port = pairs[d][1];
    }
  }
  if (p.IsIcmp()) {
    p.icmp_type = v6 ? Pick(std::vector<uint8_t>{128, 129, 1, 133, 134, 135, 136})
                     : Pick(std::vector<uint8_t>{8, 0, 3, 11});
    p.icmp_code = static_cast<uint8_t>(Uniform(0, 1));
  }
  if (v6 && sender != nullptr && Chance(0.25)) {  // ND from ports, for the ND check
    p.ip_proto = policy::kProtoIcmpv6;
    p.icmp_type = Chance(0.5) ? 135 : 136;
  }
  if (p.IsNd()) RandomNd(s, sender, p);
  return p;
}

void RandomPolicy::RandomNd(const policy::Snapshot& s, const Port* sender, policy::Packet& p) {
  p.icmp_code = Chance(0.08) ? 1 : 0;
  if (Chance(0.08)) p.hop_limit = static_cast<uint8_t>(Uniform(0, 254));
  if (p.icmp_type == policy::kIcmp6NeighborSolicitation && Chance(0.25)) {
    p.src_ip = IpAddr::AnyV6();  // DAD
  }
  std::vector<IpAddr> targets = {PoolIp(true)};
  auto add_port = [&](const Port& port) {
    for (const IpAddr& a : port.fixed_ips) targets.push_back(a);
    for (const IpAddr& a : port.vips) targets.push_back(a);
    targets.push_back(IpAddr::LinkLocalFromMac(port.mac));
    for (const policy::AllowedAddressPair& pair : port.allowed_address_pairs) {
      targets.push_back(pair.prefix.addr);
    }
  };
  if (sender != nullptr && Chance(0.7)) {
    add_port(*sender);
  } else if (!s.ports.empty()) {
    auto it = s.ports.begin();
    std::advance(it, Uniform(0, s.ports.size() - 1));
    add_port(it->second);
  }
  std::vector<IpAddr> v6_targets;
  for (const IpAddr& a : targets) {
    if (a.family == policy::IpFamily::kV6) v6_targets.push_back(a);
  }
  std::vector<policy::NdOption> options;
  for (int n = Chance(0.1) ? Uniform(0, 10) : Uniform(0, 2); n > 0; --n) {
    policy::NdOption o;
    o.type = Pick(std::vector<uint8_t>{1, 2, 1, 2, 14});
    o.length = Chance(0.9) ? 1 : static_cast<uint8_t>(Pick(std::vector<int>{0, 2}));
    o.mac = Chance(0.75) ? p.src_mac : PickSrcMac(s, sender);
    options.push_back(o);
  }
  p.nd_body = policy::NdBody(Pick(v6_targets), options, Chance(0.5) ? 0x20 : 0x60);
  if (Chance(0.08)) p.nd_body.resize(Uniform(0, static_cast<int>(p.nd_body.size())));
}

std::vector<policy::Packet> RandomPolicy::Exchange(const policy::Snapshot& s, int max_len) {
  std::vector<policy::Packet> out;
  int n = Uniform(1, max_len);
  for (int i = 0; i < n; ++i) {
    if (!out.empty() && Chance(0.5)) {
      const policy::Packet& prev = Pick(out);
      // The reply enters where the original's destination lives.
      policy::DeviceRef reply_in = policy::DeviceRef::Uplink();
      for (const auto& [id, port] : s.ports) {
        if (port.mac == prev.dst_mac) reply_in = policy::DeviceRef::OfPort(id);
      }
      policy::Packet r = prev.Reply(reply_in);
      if (reply_in.kind == policy::DeviceRef::Kind::kPort) {
        r.vlan.reset();
      } else if (prev.in.kind == policy::DeviceRef::Kind::kPort) {
        // The reply comes back on the sender's network, tagged if it is a VLAN.
        const policy::Network& net = s.networks.at(s.ports.at(prev.in.port_id).network_id);
        r.vlan.reset();
        if (net.segmentation == policy::Segmentation::kVlan) r.vlan = net.vlan_id;
      }
      // A tag is Packet::vlan on the uplink, never a bare 0x8100 ethertype.
      if (reply_in.kind == policy::DeviceRef::Kind::kUplink && r.eth_type == policy::kEth8021Q) {
        r.eth_type = 0x88cc;
      }
      out.push_back(r);
    } else {
      out.push_back(Packet(s));
    }
  }
  return out;
}

std::string Describe(const policy::Snapshot& s) {
  std::string out;
  for (const auto& [id, n] : s.networks) {
    absl::StrAppend(&out, "network ", id,
                    n.segmentation == policy::Segmentation::kFlat
                        ? std::string(" flat")
                        : absl::StrCat(" vlan ", n.vlan_id),
                    "\n");
  }
  for (const auto& [id, g] : s.security_groups) {
    absl::StrAppend(&out, "group ", id, g.stateful ? " stateful" : " stateless", "\n");
    for (size_t i = 0; i < g.rules.size(); ++i) {
      const SecurityGroupRule& r = g.rules[i];
      absl::StrAppend(&out, "  [", i, "] ", policy::ToString(r.direction), " ",
                      policy::ToString(r.ethertype), " proto ",
                      r.protocol ? policy::ProtocolName(*r.protocol) : std::string("any"));
      if (r.ports) absl::StrAppend(&out, " ports ", r.ports->min, "-", r.ports->max);
      if (r.icmp) {
        absl::StrAppend(&out, " icmp ", r.icmp->type);
        if (r.icmp->code) absl::StrAppend(&out, "/", *r.icmp->code);
      }
      if (r.remote_prefix) absl::StrAppend(&out, " remote ", r.remote_prefix->ToString());
      if (r.remote_group_id) absl::StrAppend(&out, " remote-group ", *r.remote_group_id);
      if (r.remote_address_group_id) {
        absl::StrAppend(&out, " remote-address-group ", *r.remote_address_group_id);
      }
      absl::StrAppend(&out, " prio ", r.priority, " ", policy::ToString(r.action), "\n");
    }
  }
  for (const auto& [id, p] : s.ports) {
    std::vector<std::string> ips, vips, pairs;
    for (const IpAddr& a : p.fixed_ips) ips.push_back(a.ToString());
    for (const IpAddr& a : p.vips) vips.push_back(a.ToString());
    for (const AllowedAddressPair& a : p.allowed_address_pairs) {
      pairs.push_back(a.prefix.ToString() + (a.mac ? "@" + a.mac->ToString() : ""));
    }
    absl::StrAppend(&out, "port ", id, " net ", p.network_id, " mac ", p.mac.ToString(), " ips [",
                    absl::StrJoin(ips, " "), "] vips [", absl::StrJoin(vips, " "), "] pairs [",
                    absl::StrJoin(pairs, " "), "] sgs [", absl::StrJoin(p.security_group_ids, " "),
                    "] ", p.port_security ? "ps-on " : "ps-off ", policy::ToString(p.state), "\n");
  }
  for (const auto& [id, r] : s.remote_ports) {
    std::vector<std::string> addrs;
    for (const IpPrefix& a : r.addresses) addrs.push_back(a.ToString());
    absl::StrAppend(&out, "remote port ", id, " addresses [", absl::StrJoin(addrs, " "), "] sgs [",
                    absl::StrJoin(r.security_group_ids, " "), "]\n");
  }
  for (const auto& [id, g] : s.address_groups) {
    std::vector<std::string> cidrs;
    for (const IpPrefix& c : g.cidrs) cidrs.push_back(c.ToString());
    absl::StrAppend(&out, "address group ", id, " [", absl::StrJoin(cidrs, " "), "]\n");
  }
  return out;
}

}  // namespace vfguard::testing
