#include "netlink/tc_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace vfguard::netlink {
namespace {

std::string Hex(absl::Span<const uint8_t> bytes) {
  return absl::StrJoin(bytes, ":",
                       [](std::string* out, uint8_t b) { absl::StrAppendFormat(out, "%02x", b); });
}

template <typename T>
std::string ValueString(const T& v) {
  if constexpr (std::is_integral_v<T>) {
    return absl::StrFormat("0x%x", v);
  } else {
    return Hex(v);
  }
}

template <typename T>
void Append(std::vector<std::string>& parts, const char* name, const std::optional<T>& field) {
  if (!field) return;
  parts.push_back(absl::StrCat(name, "=", ValueString(*field)));
}

template <typename T>
void Append(std::vector<std::string>& parts, const char* name,
            const std::optional<Masked<T>>& field) {
  if (!field) return;
  parts.push_back(
      absl::StrCat(name, "=", ValueString(field->value), "/", ValueString(field->mask)));
}

std::string StatsString(const ActionStats& s) {
  return absl::StrCat(" [", s.packets, " pkts ", s.bytes, " bytes, hw ", s.hw_packets, "/",
                      s.hw_bytes, s.idle_ms ? absl::StrCat(", idle ", *s.idle_ms, "ms") : "", "]");
}

}  // namespace

namespace {
template <typename T>
void KeepMask(std::optional<Masked<T>>& field) {
  if (field) field->value = {};
}
template <typename T>
void KeepPresence(std::optional<T>& field) {
  if (field) field = T{};
}
}  // namespace

FlowerKeys KeyLayout(FlowerKeys k) {
  KeepPresence(k.indev);
  KeepMask(k.eth_dst);
  KeepMask(k.eth_src);
  KeepPresence(k.eth_type);
  KeepPresence(k.vlan_id);
  KeepPresence(k.vlan_eth_type);
  KeepPresence(k.ip_proto);
  KeepMask(k.ipv4_src);
  KeepMask(k.ipv4_dst);
  KeepMask(k.ipv6_src);
  KeepMask(k.ipv6_dst);
  KeepMask(k.tcp_src);
  KeepMask(k.tcp_dst);
  KeepMask(k.udp_src);
  KeepMask(k.udp_dst);
  KeepMask(k.sctp_src);
  KeepMask(k.sctp_dst);
  KeepMask(k.icmpv4_type);
  KeepMask(k.icmpv4_code);
  KeepMask(k.icmpv6_type);
  KeepMask(k.icmpv6_code);
  KeepMask(k.arp_op);
  KeepMask(k.arp_sip);
  KeepMask(k.arp_tip);
  KeepMask(k.arp_sha);
  KeepMask(k.arp_tha);
  KeepMask(k.ct_state);
  KeepMask(k.ct_zone);
  KeepMask(k.ct_mark);
  return k;
}

FlowerFilter WithoutStatus(FlowerFilter f) {
  f.status = FilterStatus{};
  for (TcAction& a : f.actions) a.stats = ActionStats{};
  return f;
}

std::string DebugString(const FlowerKeys& k) {
  std::vector<std::string> parts;
  if (k.indev) parts.push_back(absl::StrCat("indev=", *k.indev));
  Append(parts, "eth_dst", k.eth_dst);
  Append(parts, "eth_src", k.eth_src);
  Append(parts, "eth_type", k.eth_type);
  Append(parts, "vlan_id", k.vlan_id);
  Append(parts, "vlan_eth_type", k.vlan_eth_type);
  Append(parts, "ip_proto", k.ip_proto);
  Append(parts, "ipv4_src", k.ipv4_src);
  Append(parts, "ipv4_dst", k.ipv4_dst);
  Append(parts, "ipv6_src", k.ipv6_src);
  Append(parts, "ipv6_dst", k.ipv6_dst);
  Append(parts, "tcp_src", k.tcp_src);
  Append(parts, "tcp_dst", k.tcp_dst);
  Append(parts, "udp_src", k.udp_src);
  Append(parts, "udp_dst", k.udp_dst);
  Append(parts, "sctp_src", k.sctp_src);
  Append(parts, "sctp_dst", k.sctp_dst);
  Append(parts, "icmpv4_type", k.icmpv4_type);
  Append(parts, "icmpv4_code", k.icmpv4_code);
  Append(parts, "icmpv6_type", k.icmpv6_type);
  Append(parts, "icmpv6_code", k.icmpv6_code);
  Append(parts, "arp_op", k.arp_op);
  Append(parts, "arp_sip", k.arp_sip);
  Append(parts, "arp_tip", k.arp_tip);
  Append(parts, "arp_sha", k.arp_sha);
  Append(parts, "arp_tha", k.arp_tha);
  Append(parts, "ct_state", k.ct_state);
  Append(parts, "ct_zone", k.ct_zone);
  Append(parts, "ct_mark", k.ct_mark);
  return absl::StrJoin(parts, " ");
}

std::string DebugString(const TcAction& action) {
  std::string op;
  if (const auto* g = std::get_if<GactAction>(&action.op)) {
    static constexpr const char* kNames[] = {"ok", "drop", "pipe", "continue", "trap", "goto"};
    op = absl::StrCat("gact ", kNames[static_cast<int>(g->verdict)]);
    if (g->verdict == GactAction::Verdict::kGotoChain) absl::StrAppend(&op, " chain ", g->chain);
  } else if (const auto* ct = std::get_if<CtAction>(&action.op)) {
    op = ct->clear ? "ct clear" : absl::StrCat("ct zone ", ct->zone, ct->commit ? " commit" : "");
    absl::StrAppend(&op, " control ", ct->control);
  } else if (const auto* m = std::get_if<MirredAction>(&action.op)) {
    op = absl::StrCat("mirred egress ",
                      m->mode == MirredAction::Mode::kRedirect ? "redirect" : "mirror", " ifindex ",
                      m->ifindex);
    if (m->control) absl::StrAppend(&op, " control ", *m->control);
  } else if (const auto* v = std::get_if<VlanAction>(&action.op)) {
    op = v->op == VlanAction::Op::kPop
             ? "vlan pop"
             : absl::StrFormat("vlan push id %d protocol 0x%04x", v->vlan_id, v->protocol);
    absl::StrAppend(&op, " control ", v->control);
  }
  return absl::StrCat(op, StatsString(action.stats));
}

std::string DebugString(const FlowerFilter& f) {
  std::string owner;
  if (const auto* b = std::get_if<TcBlock>(&f.owner)) {
    owner = absl::StrCat("block ", b->index);
  } else {
    const auto& d = std::get<TcDevice>(f.owner);
    owner = absl::StrFormat("dev %d parent %08x", d.ifindex, d.parent);
  }
  std::vector<std::string> actions;
  for (const TcAction& a : f.actions) actions.push_back(DebugString(a));
  return absl::StrFormat(
      "%s chain %d prio %d handle %d protocol 0x%04x%s%s {%s} actions [%s] status {in_hw=%d "
      "not_in_hw=%d in_hw_count=%d pkts=%d bytes=%d}",
      owner, f.chain, f.prio, f.handle, f.protocol, f.skip_hw ? " skip_hw" : "",
      f.skip_sw ? " skip_sw" : "", DebugString(f.keys), absl::StrJoin(actions, "; "),
      f.status.in_hw, f.status.not_in_hw, f.status.in_hw_count, f.status.packets, f.status.bytes);
}

}  // namespace vfguard::netlink
