// Flooding of broadcast/multicast frames (docs/semantics.md §5, §6.3).
//
// One flood list per network mirrors a copy to every active port of the
// network; each recipient's egress hook then applies split horizon (the copy
// of a frame that entered on the recipient's own representor is dropped:
// act_mirred sets skb_iif to the device the mirror ran on, and flower's
// `indev` matches skb_iif) and the recipient's admission per frame class.
// A port joining or leaving a network therefore changes one filter of the
// shared list (its slot's chunk) besides its own hook, instead of every
// other port's list.
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

std::vector<ClassMatch> MakeClassMatches() {
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

// Made once (immutable): every port's egress hook has these classes.
const std::vector<ClassMatch>& ClassMatches() {
  static const std::vector<ClassMatch> kClasses = MakeClassMatches();
  return kClasses;
}

// A filter of the flood list, its values interned with the compile's.
Filter ListFilter(Interner& in, uint32_t chain, uint16_t prio, const FlowerMatch& match,
                  absl::Span<const Action> actions, std::string_view origin) {
  Filter f;
  f.chain = chain;
  f.prio = prio;
  f.handle = 1;
  f.protocol = kEthAll;
  f.match = in.Match(match);
  f.actions = in.Actions(actions);
  in.SetOrigin(f, in.OriginOf(origin));
  return f;
}

}  // namespace

absl::Status CompileNetworkFlood(const CompileContext& ctx, const Network& net,
                                 std::vector<Filter>& out) {
  const uint32_t chain = Chains::Flood(ctx.slots.network_slot.at(net.id));
  const std::string who = absl::StrCat("network ", net.id, ": flood ");
  // Active ports by slot; a chunk of kFloodSlotsPerFilter consecutive slots
  // is one filter, so its mirrors never exceed 31 (plus `continue`).
  std::map<uint32_t, const Port*> by_slot;
  for (const Port* q : ctx.PortsOf(net.id)) {
    if (q->state == PortState::kActive) by_slot.emplace(ctx.slots.port_slot.at(q->id), q);
  }
  std::map<uint16_t, std::vector<Action>> chunks;
  for (const auto& [slot, q] : by_slot) {
    chunks[Chains::FloodChunkPrio(slot)].push_back(Mirror(DeviceRef::OfPort(q->id)));
  }
  for (auto& [prio, actions] : chunks) {
    const uint32_t first_slot = (prio - 2u) * Chains::kFloodSlotsPerFilter + 1;
    actions.push_back(Continue());
    out.push_back(ListFilter(*ctx.interner, chain, prio, {}, actions,
                             absl::StrCat(who, "copies to ports of slots ", first_slot, "..",
                                          first_slot + Chains::kFloodSlotsPerFilter - 1)));
  }
  FlowerMatch from_uplink;
  from_uplink.indev = DeviceRef::Uplink();
  out.push_back(ListFilter(*ctx.interner, chain, Chains::kFloodFromUplinkPrio, from_uplink,
                           {Drop()}, who + "from the uplink: done"));
  std::vector<Action> to_uplink;
  if (net.segmentation == Segmentation::kVlan) to_uplink.push_back(VlanPush(net.vlan_id));
  to_uplink.push_back(Redirect(DeviceRef::Uplink()));
  out.push_back(ListFilter(*ctx.interner, chain, Chains::kFloodToUplinkPrio, {}, to_uplink,
                           who + "from a port: to the uplink"));
  return absl::OkStatus();
}

absl::Status CompilePortEgressHook(const CompileContext& ctx, const Port& port,
                                   std::vector<Filter>& out) {
  const DeviceRef self = DeviceRef::OfPort(port.id);
  ChainBuilder b(*ctx.interner, Chains::EgressHook(ctx.slots.port_slot.at(port.id)));
  b.SetOriginHead(ctx.interner->Text(absl::StrCat("port ", port.id, ": ")));
  // The hook's filters share one context (the head and egress_of).
  b.SetRare(FilterRare{.egress_of = self});
  const std::string who = "egress hook: ";  // after the port's head
  // Unicast reaches the representor only through to(Q), already admitted.
  FlowerMatch unicast;
  unicast.dst_mac = Masked<MacAddr>{MacAddr{}, MulticastBit().mask};
  b.Add(kEthAll, unicast, {Ok()}, who + "unicast: pass");
  b.NextStage();
  FlowerMatch own;
  own.indev = self;
  b.Add(kEthAll, own, {Drop()}, who + "split horizon: own broadcast/multicast: drop");
  b.NextStage();
  if (port.port_security) {
    for (const ClassMatch& c : ClassMatches()) {
      const bool admitted = Admits(port, c.cls);
      b.Add(c.protocol, c.match, {admitted ? Ok() : Drop()},
            absl::StrCat(who, "flooded ", c.name, admitted ? ": pass" : ": drop"));
      b.NextStage();
    }
  }
  return b.Finish(out);
}

}  // namespace vfguard::policy
