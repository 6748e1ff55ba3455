// Dispatch (chain 0) and per-network forwarding (docs/semantics.md §1, §6).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compile_parts.h"
#include "policy/prefix_set.h"

namespace vfguard::policy {

CompileContext::CompileContext(const Snapshot& s, const SlotAssignment& sl, CompileOptions o,
                               Interner* in)
    : snap(s), slots(sl), options(o), interner(in) {}

const std::vector<const Port*>& CompileContext::PortsOf(const std::string& network_id) const {
  if (!ports_by_network_) {
    ports_by_network_.emplace();
    for (const auto& [id, port] : snap.ports) {
      (*ports_by_network_)[port.network_id].push_back(&port);
    }
  }
  static const std::vector<const Port*> kNone;
  auto it = ports_by_network_->find(network_id);
  return it == ports_by_network_->end() ? kNone : it->second;
}

const std::vector<IpPrefix>& CompileContext::GroupMemberPrefixes(
    const std::string& group_id) const {
  auto it = group_member_prefixes_.find(group_id);
  if (it != group_member_prefixes_.end()) return it->second;
  return group_member_prefixes_[group_id] =
             AggregatePrefixes(policy::GroupMemberPrefixes(snap, group_id));
}

const std::vector<IpPrefix>& CompileContext::AddressGroupPrefixes(
    const std::string& address_group_id) const {
  auto it = address_group_prefixes_.find(address_group_id);
  if (it != address_group_prefixes_.end()) return it->second;
  return address_group_prefixes_[address_group_id] =
             AggregatePrefixes(snap.address_groups.at(address_group_id).cidrs);
}

std::vector<IpPrefix> CompileContext::SetPrefixes(const std::string& set) const {
  constexpr std::string_view kGroup = "group:";
  std::vector<IpPrefix> out = set.starts_with(kGroup)
                                  ? policy::GroupMemberPrefixes(snap, set.substr(kGroup.size()))
                                  : snap.address_groups.at(set.substr(set.find(':') + 1)).cidrs;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::Status CompileNetwork(const CompileContext& ctx, const Network& net,
                            std::vector<Filter>& out) {
  const uint32_t slot = ctx.slots.network_slot.at(net.id);
  std::vector<const Port*> active;
  for (const Port* p : ctx.PortsOf(net.id)) {
    if (p->state == PortState::kActive) active.push_back(p);
  }
  // Origins: "network n1: " and what follows.
  const SharedText head = ctx.interner->Text(absl::StrCat("network ", net.id, ": "));
  // From ports: known MAC -> that port's to-chain; else to the uplink.
  ChainBuilder from_ports(*ctx.interner, Chains::ForwardFromPorts(slot));
  from_ports.SetOriginHead(head);
  for (const Port* q : active) {
    FlowerMatch m;
    m.dst_mac = ExactMac(q->mac);
    const uint32_t q_slot = ctx.slots.port_slot.at(q->id);
    from_ports.Add(kEthAll, m, {GotoChain(Chains::To(q_slot))}, absl::StrCat("to port ", q->id),
                   q_slot);
  }
  from_ports.NextStage();
  std::vector<Action> to_uplink;
  if (net.segmentation == Segmentation::kVlan) to_uplink.push_back(VlanPush(net.vlan_id));
  to_uplink.push_back(Redirect(DeviceRef::Uplink()));
  from_ports.Add(kEthAll, {}, to_uplink, "unknown unicast to the uplink");
  absl::Status st = from_ports.Finish(out);
  if (!st.ok()) return st;

  // From the uplink: known MAC -> to-chain; multicast -> flood; else drop.
  ChainBuilder from_uplink(*ctx.interner, Chains::ForwardFromUplink(slot));
  from_uplink.SetOriginHead(head);
  for (const Port* q : active) {
    FlowerMatch m;
    m.dst_mac = ExactMac(q->mac);
    const uint32_t q_slot = ctx.slots.port_slot.at(q->id);
    from_uplink.Add(kEthAll, m, {GotoChain(Chains::To(q_slot))},
                    absl::StrCat("from uplink to port ", q->id), q_slot);
  }
  from_uplink.NextStage();
  FlowerMatch multi;
  multi.dst_mac = MulticastBit();
  from_uplink.Add(kEthAll, multi, {GotoChain(Chains::Flood(slot))},
                  "broadcast/multicast from the uplink");
  from_uplink.NextStage();
  from_uplink.Add(kEthAll, {}, {Drop()}, "unknown unicast from the uplink: drop");
  st = from_uplink.Finish(out);
  if (!st.ok()) return st;
  return CompileNetworkFlood(ctx, net, out);
}

absl::Status CompileDispatch(const CompileContext& ctx, std::vector<Filter>& out) {
  // Ports' entries (prio 2) are in their own parts (CompilePortDispatch).
  ChainBuilder b(*ctx.interner, Chains::kDispatch, Chains::kDispatchUplinkFirstPrio);
  const Network* flat = nullptr;
  for (const auto& [id, net] : ctx.snap.networks) {
    if (net.segmentation == Segmentation::kFlat) {
      flat = &net;
      continue;
    }
    FlowerMatch m;
    m.indev = DeviceRef::Uplink();
    m.vlan_id = net.vlan_id;
    const uint32_t net_slot = ctx.slots.network_slot.at(id);
    b.Add(kEth8021Q, m, {VlanPop(), GotoChain(Chains::ForwardFromUplink(net_slot))},
          absl::StrCat("dispatch: uplink vlan ", net.vlan_id, " -> network ", id), net_slot);
  }
  b.NextStage();
  FlowerMatch tagged;
  tagged.indev = DeviceRef::Uplink();
  b.Add(kEth8021Q, tagged, {Drop()}, "dispatch: uplink frame with an unknown vlan");
  b.NextStage();
  FlowerMatch uplink;
  uplink.indev = DeviceRef::Uplink();
  if (flat != nullptr) {
    b.Add(kEthAll, uplink,
          {GotoChain(Chains::ForwardFromUplink(ctx.slots.network_slot.at(flat->id)))},
          absl::StrCat("dispatch: untagged uplink frame -> network ", flat->id));
  } else {
    b.Add(kEthAll, uplink, {Drop()}, "dispatch: untagged uplink frame, no flat network");
  }
  b.NextStage();
  b.Add(kEthAll, {}, {Drop()}, "dispatch: unknown input device");
  absl::Status st = b.Finish(out);
  if (!st.ok()) return st;
  // The ND check (§3.3), shared by every port; its map is the ports' part.
  Filter nd;
  nd.chain = Chains::kNd;
  nd.prio = Chains::kNdCheckPrio;
  nd.handle = 1;
  nd.protocol = kEthIPv6;
  FlowerMatch icmpv6;
  icmpv6.ip_proto = kProtoIcmpv6;
  nd.match = ctx.interner->Match(icmpv6);
  nd.actions = ctx.interner->Actions({Continue()});
  nd.classifier = Classifier::kNdCheck;
  ctx.interner->SetOrigin(
      nd,
      ctx.interner->OriginOf("nd-check: NS/NA payload against the input port's ND map (cls_bpf)"));
  out.push_back(std::move(nd));
  return absl::OkStatus();
}

absl::Status CompilePortDispatch(const CompileContext& ctx, const Port& port,
                                 std::vector<Filter>& out) {
  ChainBuilder b(*ctx.interner, Chains::kDispatch, Chains::kDispatchPortPrio);
  FlowerMatch m;
  m.indev = DeviceRef::OfPort(port.id);
  const uint32_t slot = ctx.slots.port_slot.at(port.id);
  b.Add(kEthAll, m, {GotoChain(Chains::From(slot))}, absl::StrCat("dispatch: from port ", port.id),
        slot);
  return b.Finish(out);
}

}  // namespace vfguard::policy
