#include "bench/tc_batch_text.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <variant>

namespace vfguard::agent {

int PrefixLen(const uint8_t* mask, size_t len) {
  int bits = 0;
  size_t i = 0;
  for (; i < len && mask[i] == 0xff; ++i) bits += 8;
  if (i < len) {
    uint8_t m = mask[i];
    while (m & 0x80) {
      ++bits;
      m = static_cast<uint8_t>(m << 1);
    }
    if (m != 0) return -1;
    for (++i; i < len; ++i) {
      if (mask[i] != 0) return -1;
    }
  }
  return bits;
}

std::string Mac(const netlink::MacAddr& a) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
}

void TcText::Control(int32_t c) {
  if ((c & ~0x0fffffff) == netlink::kTcActGotoChain) {
    out_ += absl::StrCat(" goto chain ", c & 0x0fffffff);
    return;
  }
  switch (c) {
    case netlink::kTcActOk:
      out_ += " pass";
      return;
    case netlink::kTcActShot:
      out_ += " drop";
      return;
    case netlink::kTcActPipe:
      out_ += " pipe";
      return;
    case netlink::kTcActStolen:
      out_ += " stolen";
      return;
    case netlink::kTcActTrap:
      out_ += " trap";
      return;
    case netlink::kTcActUnspec:
      out_ += " continue";
      return;
  }
  Fail(absl::StrCat("control ", c));
}

void TcText::Action(const netlink::TcAction& a) {
  out_ += " action";
  if (const auto* g = std::get_if<netlink::GactAction>(&a.op)) {
    using V = netlink::GactAction::Verdict;
    switch (g->verdict) {
      case V::kOk:
        out_ += " ok";
        break;
      case V::kDrop:
        out_ += " drop";
        break;
      case V::kPipe:
        out_ += " pipe";
        break;
      case V::kContinue:
        out_ += " continue";
        break;
      case V::kTrap:
        out_ += " trap";
        break;
      case V::kGotoChain:
        out_ += absl::StrCat(" goto chain ", g->chain);
        break;
    }
  } else if (const auto* ct = std::get_if<netlink::CtAction>(&a.op)) {
    out_ += " ct";
    if (ct->clear) out_ += " clear";
    if (ct->zone != 0) out_ += absl::StrCat(" zone ", ct->zone);
    if (ct->commit) out_ += " commit";
    Control(ct->control);
  } else if (const auto* m = std::get_if<netlink::MirredAction>(&a.op)) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(m->ifindex, name) == nullptr) return Fail("mirred: unknown ifindex");
    out_ += m->mode == netlink::MirredAction::Mode::kRedirect ? " mirred egress redirect dev "
                                                              : " mirred egress mirror dev ";
    out_ += name;
    if (m->control) Control(*m->control);
  } else if (const auto* v = std::get_if<netlink::VlanAction>(&a.op)) {
    if (v->op == netlink::VlanAction::Op::kPop) {
      out_ += " vlan pop";
    } else {
      out_ += absl::StrFormat(" vlan push id %u protocol %s", v->vlan_id,
                              v->protocol == 0x88a8 ? "802.1ad" : "802.1q");
    }
    Control(v->control);
  }
}

void TcText::Owner(const netlink::FilterOwner& owner) {
  if (const auto* b = std::get_if<netlink::TcBlock>(&owner)) {
    out_ += absl::StrCat(" block ", b->index);
    return;
  }
  const auto& d = std::get<netlink::TcDevice>(owner);
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(d.ifindex, name) == nullptr) return Fail("owner: unknown ifindex");
  if (d.parent == netlink::kClsactIngressParent) {
    out_ += absl::StrCat(" dev ", name, " ingress");
  } else if (d.parent == netlink::kClsactEgressParent) {
    out_ += absl::StrCat(" dev ", name, " egress");
  } else {
    Fail(absl::StrFormat("owner: parent 0x%x is not a clsact hook", d.parent));
  }
}

std::string TcText::Line(const FlowerFilter& f) {
  out_ = "filter add";
  Owner(f.owner);
  out_ += " protocol ";
  out_ += f.protocol == 0x0003 ? std::string("all") : absl::StrFormat("0x%04x", f.protocol);
  out_ += absl::StrFormat(" chain %u prio %u handle 0x%x flower", f.chain, f.prio, f.handle);
  if (f.skip_hw) out_ += " skip_hw";
  if (f.skip_sw) out_ += " skip_sw";
  const netlink::FlowerKeys& k = f.keys;
  if (k.eth_type && *k.eth_type != f.protocol) Fail("eth_type differs from protocol");
  if (k.indev) out_ += " indev " + *k.indev;
  MacKey("dst_mac", k.eth_dst);
  MacKey("src_mac", k.eth_src);
  if (k.vlan_id) out_ += absl::StrCat(" vlan_id ", *k.vlan_id);
  if (k.vlan_eth_type) out_ += absl::StrFormat(" vlan_ethtype 0x%04x", *k.vlan_eth_type);
  if (k.ip_proto) out_ += absl::StrFormat(" ip_proto 0x%x", *k.ip_proto);
  IpKey("src_ip", AF_INET, k.ipv4_src);
  IpKey("dst_ip", AF_INET, k.ipv4_dst);
  IpKey("src_ip", AF_INET6, k.ipv6_src);
  IpKey("dst_ip", AF_INET6, k.ipv6_dst);
  for (const auto* port : {&k.tcp_src, &k.udp_src, &k.sctp_src}) NumKey("src_port", *port, true);
  for (const auto* port : {&k.tcp_dst, &k.udp_dst, &k.sctp_dst}) NumKey("dst_port", *port, true);
  NumKey("type", k.icmpv4_type, false);
  NumKey("code", k.icmpv4_code, false);
  NumKey("type", k.icmpv6_type, false);
  NumKey("code", k.icmpv6_code, false);
  NumKey("arp_op", k.arp_op, false);
  IpKey("arp_sip", AF_INET, k.arp_sip);
  IpKey("arp_tip", AF_INET, k.arp_tip);
  MacKey("arp_sha", k.arp_sha);
  MacKey("arp_tha", k.arp_tha);
  if (k.ct_state) {
    static constexpr std::pair<uint16_t, const char*> kFlags[] = {
        {1, "new"}, {2, "est"}, {4, "rel"}, {8, "trk"}, {16, "inv"}, {32, "rpl"}};
    out_ += " ct_state ";
    for (auto [bit, name] : kFlags) {
      if (k.ct_state->mask & bit) out_ += absl::StrCat(k.ct_state->value & bit ? "+" : "-", name);
    }
  }
  NumKey("ct_zone", k.ct_zone, true);
  NumKey("ct_mark", k.ct_mark, true);
  for (const netlink::TcAction& a : f.actions) Action(a);
  return out_;
}

}  // namespace vfguard::agent
