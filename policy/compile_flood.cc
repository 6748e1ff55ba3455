// Flooding of broadcast/multicast frames (docs/semantics.md §5, §6.3): per
// source, one filter list per frame class, mirroring a copy to each admitted
// port and (from ports) to the uplink.
#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compile_parts.h"

namespace vfguard::policy {
namespace {

// Frame classes, in evaluation order; the last of each family catches the rest.
enum class FloodClass { kArp, kDhcp, kVrrp4, kIp4, kDhcp6, kNd, kVrrp6, kIp6, kOther };

bool Admits(const Port& q, FloodClass c) {
  if (!q.port_security) return true;
  switch (c) {
    case FloodClass::kArp:
    case FloodClass::kDhcp:
    case FloodClass::kDhcp6:
    case FloodClass::kNd:
      return true;
    case FloodClass::kVrrp4:
    case FloodClass::kVrrp6:
      return !q.vips.empty() || q.security_group_ids.empty();
    case FloodClass::kIp4:
    case FloodClass::kIp6:
      return q.security_group_ids.empty();
    case FloodClass::kOther:
      return false;
  }
  return false;
}

struct ClassMatch {
  FloodClass cls;
  uint16_t protocol;
  FlowerMatch match;
  const char* name;
};

std::vector<ClassMatch> ClassMatches() {
  std::vector<ClassMatch> out;
  out.push_back({FloodClass::kArp, kEthArp, {}, "ARP"});
  FlowerMatch dhcp;
  dhcp.ip_proto = kProtoUdp;
  dhcp.src_port = ExactPort(67);
  dhcp.dst_port = ExactPort(68);
  out.push_back({FloodClass::kDhcp, kEthIPv4, dhcp, "DHCP server reply"});
  FlowerMatch vrrp;
  vrrp.ip_proto = kProtoVrrp;
  out.push_back({FloodClass::kVrrp4, kEthIPv4, vrrp, "VRRP"});
  out.push_back({FloodClass::kIp4, kEthIPv4, {}, "other IPv4"});
  FlowerMatch dhcp6;
  dhcp6.ip_proto = kProtoUdp;
  dhcp6.src_port = ExactPort(547);
  dhcp6.dst_port = ExactPort(546);
  out.push_back({FloodClass::kDhcp6, kEthIPv6, dhcp6, "DHCPv6 server reply"});
  for (uint8_t type : {uint8_t{134}, uint8_t{135}, uint8_t{136}}) {
    FlowerMatch nd;
    nd.ip_proto = kProtoIcmpv6;
    nd.icmp_type = type;
    out.push_back({FloodClass::kNd, kEthIPv6, nd, "neighbour discovery"});
  }
  out.push_back({FloodClass::kVrrp6, kEthIPv6, vrrp, "VRRP"});
  out.push_back({FloodClass::kIp6, kEthIPv6, {}, "other IPv6"});
  out.push_back({FloodClass::kOther, kEthAll, {}, "other ethertype"});
  return out;
}

// Adds the filters of one class: copies to `recipients`, then `tail`
// (uplink redirect or drop), split over filters of at most 32 actions joined
// by `continue`.
void AddClass(ChainBuilder& b, const ClassMatch& c, const std::vector<DeviceRef>& recipients,
              const std::vector<Action>& tail, const std::string& origin) {
  std::vector<Action> actions;
  actions.reserve(recipients.size() + tail.size());
  for (const DeviceRef& r : recipients) actions.push_back(Mirror(r));
  actions.insert(actions.end(), tail.begin(), tail.end());
  size_t i = 0;
  while (true) {
    std::vector<Action> chunk;
    size_t left = actions.size() - i;
    if (left <= kMaxActionsPerFilter) {
      chunk.assign(actions.begin() + i, actions.end());
      b.Add(c.protocol, c.match, chunk, origin);
      b.NextStage();
      return;
    }
    // Never split a vlan push from its redirect: chunks carry mirrors only.
    size_t take = kMaxActionsPerFilter - 1;
    chunk.assign(actions.begin() + i, actions.begin() + i + take);
    chunk.push_back(Continue());
    b.Add(c.protocol, c.match, chunk, origin + " (continued)");
    b.NextStage();
    i += take;
  }
}

absl::Status CompileFlood(const CompileContext& ctx, const std::string& network_id,
                          const Port* source, uint32_t chain, std::vector<Filter>& out) {
  const Network& net = ctx.snap.networks.at(network_id);
  std::vector<Action> tail;
  if (source != nullptr) {
    if (net.segmentation == Segmentation::kVlan) tail.push_back(VlanPush(net.vlan_id));
    tail.push_back(Redirect(DeviceRef::Uplink()));
  } else {
    tail.push_back(Drop());
  }
  std::string who = source != nullptr ? absl::StrCat("port ", source->id, ": flood ")
                                      : absl::StrCat("uplink in network ", network_id, ": flood ");
  ChainBuilder b(chain);
  const std::vector<const Port*>& ports = ctx.PortsOf(network_id);
  for (const ClassMatch& c : ClassMatches()) {
    std::vector<DeviceRef> recipients;
    for (const Port* q : ports) {
      if (q->state != PortState::kActive) continue;
      if (source != nullptr && q->id == source->id) continue;
      if (Admits(*q, c.cls)) recipients.push_back(DeviceRef::OfPort(q->id));
    }
    AddClass(b, c, recipients, tail, who + c.name);
  }
  return b.Finish(out);
}

}  // namespace

absl::Status CompilePortFlood(const CompileContext& ctx, const Port& port,
                              std::vector<Filter>& out) {
  return CompileFlood(ctx, port.network_id, &port, Chains::Flood(ctx.slots.port_slot.at(port.id)),
                      out);
}

absl::Status CompileUplinkFlood(const CompileContext& ctx, const Network& net,
                                std::vector<Filter>& out) {
  return CompileFlood(ctx, net.id, nullptr,
                      Chains::FloodFromUplink(ctx.slots.network_slot.at(net.id)), out);
}

}  // namespace vfguard::policy
