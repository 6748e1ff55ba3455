#include "offload/tc_translate.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vfguard::offload {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoSctp = 132;
// TC_ACT_EXT_VAL_MASK: gact's goto carries the chain in 28 bits.
constexpr uint32_t kMaxChain = (1u << 28) - 1;

using netlink::Exact;
using netlink::FlowerKeys;
using netlink::Ipv4Addr;
using netlink::Ipv6Addr;

absl::Status Invalid(const policy::Filter& f, absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("chain ", f.chain, " prio ", f.prio, " handle ",
                                                 f.handle, ": ", field, ": ", why));
}

absl::StatusOr<Netdev> Resolve(const policy::Filter& f, absl::string_view field,
                               const policy::DeviceRef& ref, const DeviceResolver& devices) {
  std::optional<Netdev> dev = devices ? devices(ref) : std::nullopt;
  if (!dev) {
    return absl::NotFoundError(absl::StrCat("chain ", f.chain, " prio ", f.prio, " handle ",
                                            f.handle, ": ", field, ": device ", ref.ToString(),
                                            " is not present"));
  }
  return *dev;
}

netlink::MacAddr ToMac(const policy::MacAddr& m) { return m.bytes; }

// MAC keys: an all-zero mask is a wildcard, which the kernel leaves out of its
// dumps, so it is left unset here (the encoder refuses it otherwise).
std::optional<netlink::Masked<netlink::MacAddr>> ToMaskedMac(
    const std::optional<policy::Masked<policy::MacAddr>>& m) {
  if (!m || m->mask.IsZero()) return std::nullopt;
  netlink::MacAddr value = ToMac(m->value);
  const netlink::MacAddr mask = ToMac(m->mask);
  for (size_t i = 0; i < value.size(); ++i) value[i] &= mask[i];
  return netlink::Masked<netlink::MacAddr>{value, mask};
}

template <typename T>
std::optional<netlink::Masked<T>> ToMaskedInt(const std::optional<policy::Masked<T>>& m) {
  if (!m || m->mask == 0) return std::nullopt;
  return netlink::Masked<T>{static_cast<T>(m->value & m->mask), m->mask};
}

// The kernel keeps keys as value & mask; sending them that way makes the dump
// equal to the request.
Ipv4Addr V4Bytes(const policy::IpAddr& a) {
  return {a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]};
}

netlink::Masked<Ipv4Addr> V4Masked(const policy::IpPrefix& p) {
  Ipv4Addr value = V4Bytes(p.addr);
  const Ipv4Addr mask = V4Bytes(p.Mask());
  for (size_t i = 0; i < value.size(); ++i) value[i] &= mask[i];
  return {value, mask};
}

netlink::Masked<Ipv6Addr> V6Masked(const policy::IpPrefix& p) {
  Ipv6Addr value = p.addr.bytes;
  const Ipv6Addr mask = p.Mask().bytes;
  for (size_t i = 0; i < value.size(); ++i) value[i] &= mask[i];
  return {value, mask};
}

// The L3 ethertype a translated filter's keys imply (the inner one for VLAN
// matches), or nullopt for "any".
std::optional<uint16_t> L3Of(const FlowerKeys& k) {
  if (k.eth_type == policy::kEth8021Q) return k.vlan_eth_type;
  return k.eth_type;
}

absl::Status PutIp(const policy::Filter& f, absl::string_view field,
                   const std::optional<policy::IpPrefix>& prefix, FlowerKeys& keys,
                   std::optional<netlink::Masked<Ipv4Addr>>& v4,
                   std::optional<netlink::Masked<Ipv6Addr>>& v6) {
  if (!prefix || prefix->length == 0) return absl::OkStatus();  // /0: a wildcard
  const std::optional<uint16_t> l3 = L3Of(keys);
  if (prefix->addr.family == policy::IpFamily::kV4) {
    if (l3 != policy::kEthIPv4) return Invalid(f, field, "an IPv4 prefix needs protocol IPv4");
    if (prefix->length > 32) return Invalid(f, field, "IPv4 prefix length above 32");
    v4 = V4Masked(*prefix);
  } else {
    if (l3 != policy::kEthIPv6) return Invalid(f, field, "an IPv6 prefix needs protocol IPv6");
    if (prefix->length > 128) return Invalid(f, field, "IPv6 prefix length above 128");
    v6 = V6Masked(*prefix);
  }
  return absl::OkStatus();
}

absl::Status PutArpIp(const policy::Filter& f, absl::string_view field,
                      const std::optional<policy::IpPrefix>& prefix,
                      std::optional<netlink::Masked<Ipv4Addr>>& out) {
  if (!prefix || prefix->length == 0) return absl::OkStatus();
  if (prefix->addr.family != policy::IpFamily::kV4 || prefix->length > 32) {
    return Invalid(f, field, "ARP addresses are IPv4 prefixes");
  }
  out = V4Masked(*prefix);
  return absl::OkStatus();
}

absl::StatusOr<FlowerKeys> ToKeys(const policy::Filter& f, const DeviceResolver& devices) {
  const policy::FlowerMatch& m = f.match;
  FlowerKeys k;
  if (m.indev) {
    absl::StatusOr<Netdev> dev = Resolve(f, "indev", *m.indev, devices);
    if (!dev.ok()) return dev.status();
    k.indev = dev->name;
  }
  k.eth_src = ToMaskedMac(m.src_mac);
  k.eth_dst = ToMaskedMac(m.dst_mac);

  // flower's eth_type key is what makes the kernel parse L3/L4 keys; iproute2
  // sends the filter protocol as eth_type, and so does this.
  const bool vlan = m.vlan_id.has_value() || m.vlan_eth_type.has_value();
  if (vlan) {
    if (f.protocol != policy::kEth8021Q) {
      return Invalid(f, m.vlan_id ? "vlan_id" : "vlan_eth_type",
                     "VLAN keys need filter protocol 802.1Q");
    }
    if (m.eth_type) return Invalid(f, "eth_type", "cannot be combined with VLAN keys");
    if (m.vlan_id && *m.vlan_id > 4095) return Invalid(f, "vlan_id", "exceeds 4095");
    k.eth_type = policy::kEth8021Q;
    k.vlan_id = m.vlan_id;
    k.vlan_eth_type = m.vlan_eth_type;
  } else if (m.eth_type) {
    if (f.protocol != policy::kEthAll && f.protocol != *m.eth_type) {
      return Invalid(f, "eth_type",
                     absl::StrCat("0x", absl::Hex(*m.eth_type), " contradicts filter protocol 0x",
                                  absl::Hex(f.protocol)));
    }
    // A bare 802.1Q eth_type is not dumped back (see below): leave it out.
    if (*m.eth_type != policy::kEth8021Q) k.eth_type = m.eth_type;
  } else if (f.protocol != policy::kEthAll && f.protocol != policy::kEth8021Q) {
    // A bare 802.1Q eth_type key sets nothing in the kernel (it only opens
    // the VLAN keys) and is not dumped back; the filter protocol does the
    // matching, so it is left out to keep dump == request.
    k.eth_type = f.protocol;
  }
  const std::optional<uint16_t> l3 = L3Of(k);

  if (absl::Status s = PutIp(f, "src_ip", m.src_ip, k, k.ipv4_src, k.ipv6_src); !s.ok()) return s;
  if (absl::Status s = PutIp(f, "dst_ip", m.dst_ip, k, k.ipv4_dst, k.ipv6_dst); !s.ok()) return s;
  if (k.ipv4_src && k.ipv6_dst) return Invalid(f, "dst_ip", "family differs from src_ip");
  if (k.ipv6_src && k.ipv4_dst) return Invalid(f, "dst_ip", "family differs from src_ip");

  if (m.ip_proto) {
    if (l3 != policy::kEthIPv4 && l3 != policy::kEthIPv6) {
      return Invalid(f, "ip_proto", "needs protocol IPv4 or IPv6");
    }
    k.ip_proto = m.ip_proto;
  }
  const auto src_port = ToMaskedInt(m.src_port);
  const auto dst_port = ToMaskedInt(m.dst_port);
  if (src_port || dst_port) {
    const char* field = src_port ? "src_port" : "dst_port";
    switch (m.ip_proto.value_or(0)) {
      case kProtoTcp:
        k.tcp_src = src_port;
        k.tcp_dst = dst_port;
        break;
      case kProtoUdp:
        k.udp_src = src_port;
        k.udp_dst = dst_port;
        break;
      case kProtoSctp:
        k.sctp_src = src_port;
        k.sctp_dst = dst_port;
        break;
      default:
        return Invalid(f, field, "needs ip_proto tcp, udp or sctp");
    }
  }
  if (m.icmp_type || m.icmp_code) {
    const char* field = m.icmp_type ? "icmp_type" : "icmp_code";
    auto exact = [](const std::optional<uint8_t>& v) {
      return v ? std::optional(Exact(*v)) : std::nullopt;
    };
    if (l3 == policy::kEthIPv4 && m.ip_proto == kProtoIcmp) {
      k.icmpv4_type = exact(m.icmp_type);
      k.icmpv4_code = exact(m.icmp_code);
    } else if (l3 == policy::kEthIPv6 && m.ip_proto == kProtoIcmpv6) {
      k.icmpv6_type = exact(m.icmp_type);
      k.icmpv6_code = exact(m.icmp_code);
    } else {
      return Invalid(f, field, "needs IPv4 + ip_proto icmp or IPv6 + ip_proto icmpv6");
    }
  }

  const bool arp = m.arp_op || m.arp_sip || m.arp_tip || m.arp_sha || m.arp_tha;
  if (arp) {
    if (l3 != policy::kEthArp && l3 != policy::kEthRarp) {
      return Invalid(f, "arp_*", "ARP keys need protocol ARP or RARP");
    }
    if (m.arp_op) {
      if (*m.arp_op > 0xff) {
        return Invalid(f, "arp_op", absl::StrCat(*m.arp_op, " does not fit flower's 8-bit opcode"));
      }
      k.arp_op = Exact(static_cast<uint8_t>(*m.arp_op));
    }
    if (absl::Status s = PutArpIp(f, "arp_sip", m.arp_sip, k.arp_sip); !s.ok()) return s;
    if (absl::Status s = PutArpIp(f, "arp_tip", m.arp_tip, k.arp_tip); !s.ok()) return s;
    k.arp_sha = ToMaskedMac(m.arp_sha);
    k.arp_tha = ToMaskedMac(m.arp_tha);
  }

  k.ct_state = ToMaskedInt(m.ct_state);
  if (m.ct_zone) k.ct_zone = Exact(*m.ct_zone);
  k.ct_mark = ToMaskedInt(m.ct_mark);
  return k;
}

absl::StatusOr<netlink::TcAction> ToAction(const policy::Filter& f, size_t index,
                                           const policy::Action& a, const DeviceResolver& devices) {
  using Verdict = netlink::GactAction::Verdict;
  auto gact = [](Verdict v, uint32_t chain = 0) {
    return netlink::TcAction{netlink::GactAction{v, chain}, {}};
  };
  switch (a.kind) {
    case policy::Action::Kind::kOk:
      return gact(Verdict::kOk);
    case policy::Action::Kind::kDrop:
      return gact(Verdict::kDrop);
    case policy::Action::Kind::kPipe:
      return gact(Verdict::kPipe);
    case policy::Action::Kind::kContinue:
      return gact(Verdict::kContinue);
    case policy::Action::Kind::kTrap:
      return gact(Verdict::kTrap);
    case policy::Action::Kind::kGoto:
      if (a.chain > kMaxChain) {
        return Invalid(
            f, absl::StrCat("actions[", index, "]"),
            absl::StrCat("goto chain ", a.chain, " exceeds the kernel's limit ", kMaxChain));
      }
      return gact(Verdict::kGotoChain, a.chain);
    case policy::Action::Kind::kCt: {
      netlink::CtAction ct;
      if (a.clear) {
        ct.clear = true;
      } else {
        ct.zone = a.zone;
        ct.commit = a.commit;
      }
      return netlink::TcAction{ct, {}};
    }
    case policy::Action::Kind::kMirredRedirect:
    case policy::Action::Kind::kMirredMirror: {
      absl::StatusOr<Netdev> dev =
          Resolve(f, absl::StrCat("actions[", index, "] mirred"), a.device, devices);
      if (!dev.ok()) return dev.status();
      netlink::MirredAction mirred;
      mirred.mode = a.kind == policy::Action::Kind::kMirredRedirect
                        ? netlink::MirredAction::Mode::kRedirect
                        : netlink::MirredAction::Mode::kMirror;
      mirred.ifindex = dev->ifindex;
      return netlink::TcAction{mirred, {}};
    }
    case policy::Action::Kind::kVlanPush: {
      if (a.vlan_id == 0 || a.vlan_id > 4094) {
        return Invalid(f, absl::StrCat("actions[", index, "]"),
                       absl::StrCat("vlan push id ", a.vlan_id, " outside 1..4094"));
      }
      netlink::VlanAction v;
      v.op = netlink::VlanAction::Op::kPush;
      v.vlan_id = a.vlan_id;
      return netlink::TcAction{v, {}};
    }
    case policy::Action::Kind::kVlanPop: {
      netlink::VlanAction v;
      v.op = netlink::VlanAction::Op::kPop;
      return netlink::TcAction{v, {}};
    }
  }
  return Invalid(f, absl::StrCat("actions[", index, "]"), "unknown action kind");
}

}  // namespace

absl::StatusOr<netlink::FlowerFilter> KernelIdentity(const policy::Filter& filter, uint32_t block,
                                                     Copy copy, const DeviceResolver& devices) {
  if (block == 0) return Invalid(filter, "block", "the shared block index must be 1..");
  if (filter.prio == 0) return Invalid(filter, "prio", "must be 1..65535");
  // The kernel refuses chain indexes above TC_ACT_EXT_VAL_MASK (a goto could
  // not name them either).
  netlink::FlowerFilter out;
  if (filter.rare()->egress_of) {
    // A port's egress hook: chain 0 of its representor's clsact egress (the
    // IR's pseudo-chain only keeps keys unique); only the slow path has it.
    if (copy != Copy::kSlowPath) {
      return Invalid(filter, "egress_of", "an egress hook has no hardware copy");
    }
    absl::StatusOr<Netdev> dev = Resolve(filter, "egress_of", *filter.rare()->egress_of, devices);
    if (!dev.ok()) return dev.status();
    out.owner = netlink::TcDevice{dev->ifindex, netlink::kClsactEgressParent};
    out.chain = 0;
  } else if (filter.chain > kMaxChain) {
    return Invalid(filter, "chain", absl::StrCat("exceeds the kernel's limit ", kMaxChain));
  } else {
    out.owner = netlink::TcBlock{block};
    out.chain = filter.chain;
  }
  out.prio = filter.prio;
  out.protocol = filter.protocol;
  switch (copy) {
    case Copy::kSlowPath:
    case Copy::kHardware:
      if (filter.handle == 0 || filter.handle > kMaxIrHandle) {
        return Invalid(filter, "handle", absl::StrCat("must be 1..", kMaxIrHandle));
      }
      out.handle = copy == Copy::kSlowPath ? filter.handle : (filter.handle | kHardwareHandleBit);
      out.skip_hw = copy == Copy::kSlowPath;
      out.skip_sw = copy == Copy::kHardware;
      break;
    case Copy::kTrap:
      out.handle = kTrapHandle;
      out.skip_sw = true;
      break;
  }
  return out;
}

absl::StatusOr<netlink::FlowerFilter> ToKernelFilter(const policy::Filter& filter, uint32_t block,
                                                     Copy copy, const DeviceResolver& devices) {
  absl::StatusOr<netlink::FlowerFilter> identity = KernelIdentity(filter, block, copy, devices);
  if (!identity.ok()) return identity.status();
  netlink::FlowerFilter out = *std::move(identity);
  absl::StatusOr<FlowerKeys> keys = ToKeys(filter, devices);
  if (!keys.ok()) return keys.status();
  out.keys = *std::move(keys);
  if (filter.actions.empty() || filter.actions.size() > policy::kMaxActionsPerFilter) {
    return Invalid(filter, "actions",
                   absl::StrCat(filter.actions.size(), " actions; a filter takes 1..",
                                policy::kMaxActionsPerFilter));
  }
  out.actions.reserve(filter.actions.size());
  for (size_t i = 0; i < filter.actions.size(); ++i) {
    absl::StatusOr<netlink::TcAction> action = ToAction(filter, i, filter.actions[i], devices);
    if (!action.ok()) return action.status();
    out.actions.push_back(*std::move(action));
  }
  return out;
}

HandleInfo ClassifyHandle(uint32_t kernel_handle) {
  if (kernel_handle == kTrapHandle) return {Copy::kTrap, 0};
  if (kernel_handle & kHardwareHandleBit) {
    return {Copy::kHardware, kernel_handle & ~kHardwareHandleBit};
  }
  return {Copy::kSlowPath, kernel_handle};
}

}  // namespace vfguard::offload
