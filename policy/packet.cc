#include "policy/packet.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/model.h"

namespace vfguard::policy {

bool Packet::HasPorts() const {
  return IsIp() && (ip_proto == kProtoTcp || ip_proto == kProtoUdp || ip_proto == kProtoSctp);
}

bool Packet::IsIcmp() const {
  return (eth_type == kEthIPv4 && ip_proto == kProtoIcmp) ||
         (eth_type == kEthIPv6 && ip_proto == kProtoIcmpv6);
}

bool Packet::IsNd() const {
  return eth_type == kEthIPv6 && ip_proto == kProtoIcmpv6 && (icmp_type == 135 || icmp_type == 136);
}

Packet Packet::Reply(const DeviceRef& reply_in) const {
  Packet r = *this;
  r.in = reply_in;
  std::swap(r.src_mac, r.dst_mac);
  std::swap(r.src_ip, r.dst_ip);
  std::swap(r.src_port, r.dst_port);
  if (eth_type == kEthArp) {
    // A request is answered by the target: sender and target trade places,
    // and the answer names the replier's MAC as sender.
    std::swap(r.arp_sip, r.arp_tip);
    if (arp_op == 1) r.arp_op = 2;
    r.arp_sha = r.src_mac;
    r.arp_tha = r.dst_mac;
  } else {
    std::swap(r.arp_sip, r.arp_tip);
    std::swap(r.arp_sha, r.arp_tha);
  }
  if (IsIcmp()) {
    // Echo request -> echo reply keeps the flow; other types are left as is.
    if (eth_type == kEthIPv4 && icmp_type == 8) r.icmp_type = 0;
    if (eth_type == kEthIPv6 && icmp_type == 128) r.icmp_type = 129;
  }
  return r;
}

std::string Packet::ToString() const {
  std::string head =
      absl::StrCat("in=", in.ToString(), " ", src_mac.ToString(), " > ", dst_mac.ToString());
  if (vlan) absl::StrAppend(&head, " vlan ", *vlan);
  if (eth_type == kEthArp || eth_type == kEthRarp) {
    return absl::StrCat(head, eth_type == kEthArp ? " arp" : " rarp", " op ", arp_op, " sha ",
                        arp_sha.ToString(), " sip ", arp_sip.ToString(), " tha ",
                        arp_tha.ToString(), " tip ", arp_tip.ToString());
  }
  if (!IsIp()) return absl::StrCat(head, " ethertype 0x", absl::Hex(eth_type));
  std::string l4 = ProtocolName(ip_proto);
  if (HasPorts()) {
    return absl::StrCat(head, " ", l4, " ", src_ip.ToString(), ":", src_port, " -> ",
                        dst_ip.ToString(), ":", dst_port);
  }
  if (IsIcmp()) {
    std::string out = absl::StrCat(head, " ", l4, " ", src_ip.ToString(), " -> ", dst_ip.ToString(),
                                   " type ", icmp_type, " code ", icmp_code);
    if (IsNd()) {
      absl::StrAppend(&out, " hlim ", hop_limit, " nd [");
      for (uint8_t b : nd_body) absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
      absl::StrAppend(&out, "]");
    }
    return out;
  }
  return absl::StrCat(head, " ", l4, " ", src_ip.ToString(), " -> ", dst_ip.ToString());
}

std::string Verdict::ToString() const {
  if (deliveries.empty()) return "drop";
  std::vector<std::string> outs;
  for (const Delivery& d : deliveries) {
    outs.push_back(d.vlan ? absl::StrCat(d.out.ToString(), "(vlan ", *d.vlan, ")")
                          : d.out.ToString());
  }
  return absl::StrCat("deliver to ", absl::StrJoin(outs, ", "));
}

}  // namespace vfguard::policy
