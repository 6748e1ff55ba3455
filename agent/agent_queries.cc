// The read side of AgentService: status, rules with placement and counters,
// trace, conntrack, and the metrics refreshed before a scrape.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/ct_entry_proto.h"
#include "netlink/conntrack.h"
#include "offload/hw_model.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"

namespace vfguard::agent {
namespace {

bool OwnedByAnyPort(const std::string& origin) { return origin.rfind("port ", 0) == 0; }

// The port an origin names ("port <id>: ..." or "port <id> ..."), or "".
// Ids may hold ':', so the longest known id that the origin starts with wins.
std::string OwnerOf(const std::string& origin, const std::map<std::string, policy::Port>& ports) {
  if (!OwnedByAnyPort(origin)) return "";
  std::string owner;
  for (size_t end = origin.find_first_of(": ", 5); end != std::string::npos;
       end = origin.find_first_of(": ", end + 1)) {
    std::string id = origin.substr(5, end - 5);
    if (ports.contains(id)) owner = std::move(id);
  }
  return owner;
}

bool IsDrop(const policy::Filter& f) {
  return !f.actions.empty() && f.actions.back().kind == policy::Action::Kind::kDrop;
}

std::string ErrnoName(int e) {
  switch (e) {
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case EINVAL:
      return "EINVAL";
    case ENOSPC:
      return "ENOSPC";
    case EEXIST:
      return "EEXIST";
    case ENOENT:
      return "ENOENT";
    default:
      return absl::StrCat("errno ", e);
  }
}

const char* StateName(policy::PortState s) { return policy::ToString(s); }

// An exported entry made importable. A connection act_ct has put in its flow
// table (IPS_OFFLOAD) is dumped without its timeout and protocol state
// (ctnetlink leaves them out), and IPS_OFFLOAD / IPS_HW_OFFLOAD cannot be
// created from user space; such an entry created as exported would expire at
// once. So: clear those bits, give a missing timeout the kernel's default for
// the protocol, and a TCP entry that saw a reply the established state.
netlink::CtEntry Importable(netlink::CtEntry e) {
  constexpr uint32_t kSeenReply = 1u << 1;   // IPS_SEEN_REPLY
  constexpr uint32_t kOffload = 1u << 14;    // IPS_OFFLOAD
  constexpr uint32_t kHwOffload = 1u << 15;  // IPS_HW_OFFLOAD
  constexpr uint8_t kTcpEstablished = 3;     // TCP_CONNTRACK_ESTABLISHED
  e.status &= ~(kOffload | kHwOffload);
  if (e.orig.proto == policy::kProtoTcp && !e.tcp_state && (e.status & kSeenReply)) {
    e.tcp_state = kTcpEstablished;
  }
  if (e.timeout == 0) {
    switch (e.orig.proto) {
      case policy::kProtoTcp:
        e.timeout = e.tcp_state == kTcpEstablished ? 432000 : 120;  // nf_conntrack_tcp_timeout_*
        break;
      case policy::kProtoUdp:
        e.timeout = (e.status & kSeenReply) ? 120 : 30;  // udp_timeout_stream / udp_timeout
        break;
      default:
        e.timeout = 30;  // icmp and generic
    }
  }
  return e;
}

}  // namespace

std::vector<RuleStatus> Agent::RulesWhere(
    const std::function<bool(const offload::PlacedFilter&)>& pick) const {
  RefreshCounters();  // for the next query: this one reads what is cached
  const PassView& view = *view_;
  const CounterView& counters = *counters_;
  const offload::DeviceResolver devices =
      [&view](const policy::DeviceRef& ref) -> std::optional<offload::Netdev> {
    if (ref.kind == policy::DeviceRef::Kind::kUplink) return view.eswitch.uplink;
    auto it = view.eswitch.port_representors.find(ref.port_id);
    if (it == view.eswitch.port_representors.end()) return std::nullopt;
    return it->second;
  };
  std::vector<RuleStatus> out;
  for (size_t i = 0; i < view.placement->filters.size(); ++i) {
    const offload::PlacedFilter& p = view.placement->filters[i];
    if (!pick(p)) continue;
    RuleStatus r;
    r.chain = p.filter->chain;
    r.prio = p.filter->prio;
    r.handle = p.filter->handle;
    r.origin = p.filter->origin();
    r.placement = offload::PlacementName(p.placement);
    if (const absl::Status& hw = view.placement->HwStatus(p); !hw.ok()) {
      // FailedPrecondition is placement's own reason (never offered, or kept
      // out because of another filter): no errno came from the hardware.
      if (!absl::IsFailedPrecondition(hw)) r.hw_errno = offload::ErrnoOf(hw);
      r.hw_error = std::string(hw.message());
    }
    std::vector<std::string> actions;
    for (const policy::Action& a : p.filter->actions) actions.push_back(a.ToString());
    r.actions = absl::StrJoin(actions, ", ");
    absl::StatusOr<netlink::FlowerFilter> kernel =
        offload::ToKernelFilter(*p.filter, view.block, offload::Copy::kSlowPath, devices);
    const bool settled = i < view.settled.size() && view.settled[i];
    if (p.filter->classifier == policy::Classifier::kNdCheck) {
      r.match = settled ? "(cls_bpf nd_check program)" : "(not installed)";
    } else {
      r.match = kernel.ok() && settled ? netlink::DebugString(kernel->keys) : "(not installed)";
    }
    if (kernel.ok()) {
      auto c = counters.filters.find(KeyOf(*kernel));
      if (c != counters.filters.end()) {
        r.packets = c->second.packets;
        r.bytes = c->second.bytes;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

AgentStatus Agent::Status() const {
  AgentStatus s;
  s.ready = ready_;
  s.version = kAgentVersion;
  s.started = started_;
  s.last_reconcile = last_reconcile_;
  s.last_reconcile_duration = last_report_.took;
  s.last_reconcile_status = last_report_.status;
  s.reconciles = reconciles_;
  s.resyncs = resyncs_;
  s.block_index = config_.block_index;
  for (const auto& [id, port] : desired_->snapshot()->ports) {
    ++s.ports_by_state[StateName(port.state)];
  }
  for (const offload::PlacedFilter& p : view_->placement->filters) {
    ++s.rules_by_placement[offload::PlacementName(p.placement)];
  }
  return s;
}

absl::StatusOr<PortStatus> Agent::Port(const std::string& port_id) const {
  const auto& ports = desired_->snapshot()->ports;
  auto it = ports.find(port_id);
  if (it == ports.end()) return absl::NotFoundError(absl::StrCat("no port ", port_id));
  PortStatus s;
  s.id = port_id;
  s.state = StateName(it->second.state);
  static const std::map<int, netlink::Link> kNoLinks;  // before Start
  s.representor = RepresentorName(config_.eswitch, it->second, links_ ? links_->links() : kNoLinks);
  s.representor_present = view_->effective->ports.contains(port_id);
  if (view_->installed_desired != nullptr && s.representor_present) {
    auto done = view_->installed_desired->ports.find(port_id);
    s.installed = done != view_->installed_desired->ports.end() && done->second == it->second;
  }
  const policy::SlotAssignment& slots = desired_->slots();
  if (auto z = slots.port_zone.find(port_id); z != slots.port_zone.end()) s.zone = z->second;
  if (auto sl = slots.port_slot.find(port_id); sl != slots.port_slot.end()) s.slot = sl->second;
  const auto& installed_ports = view_->effective->ports;
  auto owned = [&](const offload::PlacedFilter& p) {
    return OwnerOf(p.filter->origin(), installed_ports) == port_id;
  };
  s.rules = RulesWhere(owned);
  s.counters_as_of = counters_->taken;
  for (size_t i = 0, j = 0; i < view_->placement->filters.size(); ++i) {
    const offload::PlacedFilter& p = view_->placement->filters[i];
    if (!owned(p)) continue;
    if (IsDrop(*p.filter)) s.dropped_packets += s.rules[j].packets;
    ++j;
  }
  return s;
}

std::vector<RuleStatus> Agent::SharedRules() const {
  return RulesWhere(
      [](const offload::PlacedFilter& p) { return !OwnedByAnyPort(p.filter->origin()); });
}

absl::StatusOr<TraceResult> Agent::TracePacket(const policy::Packet& packet, bool established) {
  const policy::Snapshot& effective = *view_->effective;
  const policy::SlotAssignment& slots = desired_->slots();
  if (packet.in.kind == policy::DeviceRef::Kind::kPort &&
      !effective.ports.contains(packet.in.port_id)) {
    return absl::NotFoundError(
        absl::StrCat("port ", *packet.in.port_id, " is not installed (unknown or no representor)"));
  }
  policy::ConntrackModel ref_ct, sim_ct;
  if (established) {
    // As a packet of a connection every zone has already committed.
    for (const auto& [port, zone] : slots.port_zone) {
      ref_ct.Commit(zone, packet);
      sim_ct.Commit(zone, packet);
    }
  }
  const policy::Pipeline installed = view_->InstalledPipeline();
  TraceResult out;
  out.reference = policy::Evaluate(effective, slots, packet, ref_ct);
  out.installed = policy::Simulate(installed, packet, sim_ct);
  return out;
}

absl::StatusOr<std::vector<netlink::CtEntry>> Agent::ZoneEntries(const std::string& port_id) {
  if (ct_ == nullptr) return absl::UnavailableError("conntrack is not available to this agent");
  auto z = desired_->slots().port_zone.find(port_id);
  if (z == desired_->slots().port_zone.end()) {
    return absl::NotFoundError(absl::StrCat("no port ", port_id));
  }
  return ct_->DumpZone(z->second);
}

absl::StatusOr<size_t> Agent::ImportEntries(const std::string& port_id,
                                            const std::vector<netlink::CtEntry>& entries) {
  if (ct_ == nullptr) return absl::UnavailableError("conntrack is not available to this agent");
  auto z = desired_->slots().port_zone.find(port_id);
  if (z == desired_->slots().port_zone.end()) {
    return absl::NotFoundError(absl::StrCat("no port ", port_id));
  }
  size_t created = 0;
  for (const netlink::CtEntry& given : entries) {
    netlink::CtEntry e = Importable(given);
    e.zone = z->second;
    absl::Status s = ct_->Create(e);
    if (s.ok()) {
      ++created;
    } else if (!absl::IsAlreadyExists(s)) {
      return absl::Status(s.code(), absl::StrCat("after creating ", created, " of ", entries.size(),
                                                 " entries: ", s.message()));
    }
  }
  log_.Info(
      "conntrack_imported",
      {{"port", port_id}, {"zone", z->second}, {"created", created}, {"given", entries.size()}});
  Publish("conntrack_imported", {{"port", port_id}, {"created", absl::StrCat(created)}});
  return created;
}

absl::StatusOr<api::v1::TraceResponse> Agent::Trace(const api::v1::TraceRequest& request) {
  absl::StatusOr<policy::Packet> packet = PacketFromTraceRequest(Desired(), request);
  if (!packet.ok()) return packet.status();
  absl::StatusOr<TraceResult> result = TracePacket(*packet, request.established());
  if (!result.ok()) return result.status();
  return TraceResponseFrom(*result, *packet);
}

absl::StatusOr<std::vector<api::v1::CtEntry>> Agent::Conntrack(const std::string& port_id) {
  absl::StatusOr<std::vector<netlink::CtEntry>> entries = ZoneEntries(port_id);
  if (!entries.ok()) return entries.status();
  std::vector<api::v1::CtEntry> out;
  out.reserve(entries->size());
  for (const netlink::CtEntry& e : *entries) out.push_back(CtEntryToProto(e));
  return out;
}

absl::StatusOr<size_t> Agent::ImportConntrack(const std::string& port_id,
                                              const api::v1::ConntrackImport& import) {
  absl::StatusOr<std::vector<netlink::CtEntry>> entries = CtEntriesFromProto(import);
  if (!entries.ok()) return entries.status();
  return ImportEntries(port_id, *entries);
}

void Agent::CollectMetrics() {
  RefreshCounters();  // for the next scrape: this one reads what is cached
  const PassView& view = *view_;
  const CounterView& counters = *counters_;
  const AgentStatus status = Status();
  if (m_.ports) {
    m_.ports->Clear();
    for (const auto& [state, n] : status.ports_by_state) m_.ports->Set({state}, n);
  }
  if (m_.rules) {
    m_.rules->Clear();
    for (const auto& [placement, n] : status.rules_by_placement) m_.rules->Set({placement}, n);
  }
  if (m_.hw_rejections) {
    m_.hw_rejections->Clear();
    std::map<std::string, int> by_reason;
    for (const offload::PlacedFilter& p : view.placement->filters) {
      if (p.placement == offload::Placement::kTrap) {
        ++by_reason[ErrnoName(offload::ErrnoOf(view.placement->HwStatus(p)))];
      }
    }
    for (const auto& [reason, n] : by_reason) m_.hw_rejections->Set({reason}, n);
  }
  if (m_.port_drops && counters.filters_status.ok()) {
    std::map<std::string, uint64_t> drops;
    for (const offload::PlacedFilter& p : view.placement->filters) {
      if (!IsDrop(*p.filter)) continue;
      const std::string id = OwnerOf(p.filter->origin(), view.effective->ports);
      if (id.empty()) continue;
      auto f = counters.filters.find(
          {netlink::TcBlock{view.block}, p.filter->chain, p.filter->prio, p.filter->handle});
      if (f != counters.filters.end()) drops[id] += f->second.packets;
    }
    for (const auto& [id, port] : view.effective->ports) {
      m_.port_drops->SetTotal({id}, static_cast<double>(drops[id]));
    }
  }
  if (m_.conntrack && counters.conntrack_status.ok()) {
    m_.conntrack->Clear();
    for (const auto& [id, zone] : desired_->slots().port_zone) {
      auto n = counters.conntrack_by_zone.find(zone);
      if (n != counters.conntrack_by_zone.end()) {
        m_.conntrack->Set({absl::StrCat(zone), id}, static_cast<double>(n->second));
      }
    }
  }
}

}  // namespace vfguard::agent
