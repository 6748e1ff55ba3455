#include "agent/conntrack_revoker.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/ir.h"

namespace vfguard::agent {
namespace {

using policy::DeviceRef;
using policy::IpAddr;
using policy::IpFamily;
using policy::IpPrefix;
using policy::MacAddr;
using policy::Packet;
using policy::Port;
using policy::Snapshot;

bool Contains(const std::vector<IpAddr>& list, const IpAddr& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

// The source MAC port `p` would use for source address `a` (semantics'
// allowed(P, M)), or nullopt when `a` is not one of p's addresses.
std::optional<MacAddr> SourceMacFor(const Port& p, const IpAddr& a) {
  if (Contains(p.fixed_ips, a) || Contains(p.vips, a)) return p.mac;
  if (a.family == IpFamily::kV6 && a == IpAddr::LinkLocalFromMac(p.mac)) return p.mac;
  std::optional<MacAddr> pair_mac;
  for (const policy::AllowedAddressPair& pair : p.allowed_address_pairs) {
    if (!pair.prefix.Contains(a)) continue;
    if (!pair.mac || *pair.mac == p.mac) return p.mac;
    if (!pair_mac) pair_mac = *pair.mac;
  }
  return pair_mac;
}

// The active port of `network` (other than `except`) that owns `a`: an exact
// fixed IP or VIP first, then an allowed-pair prefix, in id order.
const Port* LocalOwner(const Snapshot& s, const std::string& network, const IpAddr& a,
                       const std::string& except) {
  const Port* by_pair = nullptr;
  for (const auto& [id, q] : s.ports) {
    if (id == except || q.network_id != network || q.state != policy::PortState::kActive) {
      continue;
    }
    if (Contains(q.fixed_ips, a) || Contains(q.vips, a)) return &q;
    if (!by_pair && SourceMacFor(q, a)) by_pair = &q;
  }
  return by_pair;
}

// A locally administered unicast MAC that no port and no allowed pair of the
// snapshot uses: frames to it go to the uplink, frames from it are "from
// outside".
MacAddr UnownedMac(const Snapshot& s) {
  std::set<MacAddr> used;
  for (const auto& [id, p] : s.ports) {
    used.insert(p.mac);
    for (const auto& pair : p.allowed_address_pairs) {
      if (pair.mac) used.insert(*pair.mac);
    }
  }
  MacAddr m{{0x06, 0x76, 0x66, 0x00, 0x00, 0x01}};
  while (used.contains(m)) {
    for (int i = 5; i >= 2 && ++m.bytes[i] == 0; --i) {
    }
  }
  return m;
}

std::string TupleText(const netlink::CtTuple& t) {
  auto addr = [](const netlink::CtAddress& a) {
    std::optional<IpAddr> ip = ToIpAddr(a);
    return ip ? ip->ToString() : std::string("?");
  };
  std::string out = absl::StrCat(policy::ProtocolName(t.proto), " ", addr(t.src));
  if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP || t.proto == IPPROTO_SCTP) {
    absl::StrAppend(&out, ":", t.src_port, " -> ", addr(t.dst), ":", t.dst_port);
  } else {
    absl::StrAppend(&out, " -> ", addr(t.dst));
    if (t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6) {
      absl::StrAppend(&out, " type ", t.icmp_type, " code ", t.icmp_code);
    }
  }
  return out;
}

std::string LastStep(const policy::Verdict& v) {
  return v.trace.empty() ? std::string("no step recorded") : v.trace.back();
}

}  // namespace

std::optional<IpAddr> ToIpAddr(const netlink::CtAddress& a) {
  IpAddr out;
  if (a.family == AF_INET) {
    out.family = IpFamily::kV4;
    std::copy_n(a.bytes.begin(), 4, out.bytes.begin());
    return out;
  }
  if (a.family == AF_INET6) {
    out.family = IpFamily::kV6;
    out.bytes = a.bytes;
    return out;
  }
  return std::nullopt;
}

netlink::CtAddress ToCtAddress(const IpAddr& a) {
  netlink::CtAddress out;
  out.family = a.family == IpFamily::kV4 ? AF_INET : AF_INET6;
  if (a.family == IpFamily::kV4) {
    std::copy_n(a.bytes.begin(), 4, out.bytes.begin());
  } else {
    out.bytes = a.bytes;
  }
  return out;
}

EntryJudge::EntryJudge(const Snapshot& snapshot, const policy::SlotAssignment& slots,
                       std::string port_id)
    : snapshot_(snapshot), slots_(slots), port_id_(std::move(port_id)) {
  auto it = snapshot_.ports.find(port_id_);
  if (it == snapshot_.ports.end()) return;
  port_ = &it->second;
  if (port_->state != policy::PortState::kActive) {
    as_active_ = snapshot_;
    as_active_->ports[port_id_].state = policy::PortState::kActive;
  }
  unowned_mac_ = UnownedMac(snapshot_);
}

EntryDecision EntryJudge::Decide(const netlink::CtEntry& entry) const {
  EntryDecision d;
  const std::string what = absl::StrCat("zone ", entry.zone, " ", TupleText(entry.orig));
  if (port_ == nullptr) {
    d.reason = absl::StrCat(what, ": port ", port_id_, " is gone");
    return d;
  }
  auto zone = slots_.port_zone.find(port_id_);
  if (zone == slots_.port_zone.end() || zone->second != entry.zone) {
    d.reason = absl::StrCat(what, ": port ", port_id_, " now has ",
                            zone == slots_.port_zone.end() ? std::string("no zone")
                                                           : absl::StrCat("zone ", zone->second));
    return d;
  }
  auto net = snapshot_.networks.find(port_->network_id);
  std::optional<IpAddr> src = ToIpAddr(entry.orig.src);
  std::optional<IpAddr> dst = ToIpAddr(entry.orig.dst);
  if (!src || !dst || src->family != dst->family) {
    d.reason = absl::StrCat(what, ": unknown address family");
    return d;
  }
  if (net == snapshot_.networks.end()) {
    d.reason = absl::StrCat(what, ": network ", port_->network_id, " is gone");
    return d;
  }

  Packet p;
  p.eth_type = src->family == IpFamily::kV4 ? policy::kEthIPv4 : policy::kEthIPv6;
  p.src_ip = *src;
  p.dst_ip = *dst;
  p.ip_proto = entry.orig.proto;
  if (p.HasPorts()) {
    p.src_port = entry.orig.src_port;
    p.dst_port = entry.orig.dst_port;
  } else if (p.IsIcmp()) {
    p.icmp_type = entry.orig.icmp_type;
    p.icmp_code = entry.orig.icmp_code;
  }

  const Snapshot& eval = as_active_ ? *as_active_ : snapshot_;
  const DeviceRef self = DeviceRef::OfPort(port_id_);
  bool egress = false;
  if (std::optional<MacAddr> mac = SourceMacFor(*port_, *src)) {
    egress = true;
    p.in = self;
    p.src_mac = *mac;
    const Port* to = LocalOwner(eval, port_->network_id, *dst, port_id_);
    p.dst_mac = to ? to->mac : unowned_mac_;
  } else if (SourceMacFor(*port_, *dst)) {
    if (const Port* from = LocalOwner(eval, port_->network_id, *src, port_id_)) {
      p.in = DeviceRef::OfPort(from->id);
      p.src_mac = *SourceMacFor(*from, *src);
    } else {
      p.in = DeviceRef::Uplink();
      p.src_mac = unowned_mac_;
      if (net->second.segmentation == policy::Segmentation::kVlan) p.vlan = net->second.vlan_id;
    }
    p.dst_mac = port_->mac;
  } else {
    d.reason = absl::StrCat(what, ": neither address belongs to port ", port_id_);
    return d;
  }

  // An empty conntrack: the question is whether a NEW connection would pass.
  policy::ConntrackModel fresh;
  policy::Verdict v = policy::Evaluate(eval, slots_, p, fresh);
  if (egress) {
    d.keep = !v.Dropped();
  } else {
    d.keep = v.deliveries.contains(policy::Delivery{self, std::nullopt});
  }
  d.reason = absl::StrCat(what, " (", egress ? "from" : "to", " port ", port_id_,
                          d.keep ? "): still allowed: " : "): no longer allowed: ", LastStep(v));
  d.packet = p;
  return d;
}

EntryDecision DecideEntry(const Snapshot& snapshot, const policy::SlotAssignment& slots,
                          std::string_view port_id, const netlink::CtEntry& entry) {
  return EntryJudge(snapshot, slots, std::string(port_id)).Decide(entry);
}

namespace {

// Port fields that decide what its zone's entries mean; state (migration)
// and representor (where the VF is) do not.
Port Relevant(Port p) {
  p.state = policy::PortState::kActive;
  p.representor = policy::Representor{};
  return p;
}

std::string PortChanges(const Port& a, const Port& b) {
  std::vector<std::string> what;
  if (a.fixed_ips != b.fixed_ips || a.vips != b.vips ||
      a.allowed_address_pairs != b.allowed_address_pairs) {
    what.push_back("addresses");
  }
  if (a.mac != b.mac) what.push_back("MAC");
  if (a.network_id != b.network_id) what.push_back("network");
  if (a.port_security != b.port_security) what.push_back("port security");
  if (a.security_group_ids != b.security_group_ids) what.push_back("security groups");
  return absl::StrJoin(what, ", ");
}

// group id -> addresses(M) of every member M, as remote groups expand them.
std::map<std::string, std::set<IpPrefix>> MemberAddresses(const Snapshot& s) {
  std::map<std::string, std::set<IpPrefix>> out;
  for (const auto& [id, p] : s.ports) {
    std::vector<IpPrefix> addrs = policy::PortAddressPrefixes(p);
    for (const std::string& g : p.security_group_ids) {
      std::set<IpPrefix>& set = out[g];
      set.insert(addrs.begin(), addrs.end());
    }
  }
  for (const auto& [id, r] : s.remote_ports) {
    for (const std::string& g : r.security_group_ids) {
      out[g].insert(r.addresses.begin(), r.addresses.end());
    }
  }
  return out;
}

// The CIDRs of address group `id`, none when it does not exist.
std::vector<IpPrefix> AddressGroupCidrs(const Snapshot& s, const std::string& id) {
  auto it = s.address_groups.find(id);
  return it == s.address_groups.end() ? std::vector<IpPrefix>{} : it->second.cidrs;
}

const policy::SecurityGroup* FindGroup(const Snapshot& s, const std::string& id) {
  auto it = s.security_groups.find(id);
  return it == s.security_groups.end() ? nullptr : &it->second;
}

// Why each group's meaning changed between the snapshots: its own rules or
// statefulness, or the members of a remote group its rules reference.
std::map<std::string, std::string> ChangedGroups(const Snapshot& old_s, const Snapshot& new_s) {
  std::map<std::string, std::set<IpPrefix>> old_members = MemberAddresses(old_s);
  std::map<std::string, std::set<IpPrefix>> new_members = MemberAddresses(new_s);
  auto members_changed = [&](const std::string& g) {
    auto a = old_members.find(g);
    auto b = new_members.find(g);
    const std::set<IpPrefix> none;
    return (a == old_members.end() ? none : a->second) !=
           (b == new_members.end() ? none : b->second);
  };
  std::set<std::string> ids;
  for (const auto& [id, g] : old_s.security_groups) ids.insert(id);
  for (const auto& [id, g] : new_s.security_groups) ids.insert(id);
  std::map<std::string, std::string> out;
  for (const std::string& id : ids) {
    const policy::SecurityGroup* a = FindGroup(old_s, id);
    const policy::SecurityGroup* b = FindGroup(new_s, id);
    if (!a || !b || *a != *b) {
      out[id] = absl::StrCat("rules of group ", id, " changed");
      continue;
    }
    for (const policy::SecurityGroupRule& r : b->rules) {
      if (r.remote_group_id && members_changed(*r.remote_group_id)) {
        out[id] = absl::StrCat("members of remote group ", *r.remote_group_id, " (used by group ",
                               id, ") changed");
        break;
      }
      if (r.remote_address_group_id && AddressGroupCidrs(old_s, *r.remote_address_group_id) !=
                                           AddressGroupCidrs(new_s, *r.remote_address_group_id)) {
        out[id] = absl::StrCat("CIDRs of address group ", *r.remote_address_group_id,
                               " (used by group ", id, ") changed");
        break;
      }
    }
  }
  return out;
}

std::map<uint16_t, std::string> Owners(const policy::SlotAssignment& slots) {
  std::map<uint16_t, std::string> out;
  for (const auto& [id, zone] : slots.port_zone) out.emplace(zone, id);
  return out;
}

absl::Status Covers(const Snapshot& s, const policy::SlotAssignment& slots, const char* which) {
  for (const auto& [id, p] : s.ports) {
    if (!slots.port_zone.contains(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("conntrack revoke: port ", id, " of the ", which, " state has no zone"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<ZonePlan> PlanRevocation(const Snapshot& old_snapshot, const Snapshot& new_snapshot,
                                     const policy::SlotAssignment& slots_old,
                                     const policy::SlotAssignment& slots_new) {
  std::vector<ZonePlan> plans;
  if (old_snapshot == new_snapshot && slots_old.port_zone == slots_new.port_zone) return plans;
  const std::map<std::string, std::string> changed_groups =
      ChangedGroups(old_snapshot, new_snapshot);
  const std::map<uint16_t, std::string> old_owner = Owners(slots_old);
  const std::map<uint16_t, std::string> new_owner = Owners(slots_new);

  std::set<uint16_t> zones;
  for (const auto& [z, id] : old_owner) zones.insert(z);
  for (const auto& [z, id] : new_owner) zones.insert(z);
  for (uint16_t z : zones) {
    auto o = old_owner.find(z);
    auto n = new_owner.find(z);
    if (n == new_owner.end() || !new_snapshot.ports.contains(n->second)) {
      const std::string& id = o != old_owner.end() ? o->second : n->second;
      auto moved = slots_new.port_zone.find(id);
      plans.push_back(ZonePlan{z, id, true,
                               moved != slots_new.port_zone.end() && new_snapshot.ports.contains(id)
                                   ? absl::StrCat("port ", id, " moved to zone ", moved->second)
                                   : absl::StrCat("port ", id, " removed")});
      continue;
    }
    const std::string& id = n->second;
    const Port& now = new_snapshot.ports.at(id);
    if (o == old_owner.end() || o->second != id || !old_snapshot.ports.contains(id)) {
      plans.push_back(ZonePlan{z, id, false, absl::StrCat("zone newly held by port ", id)});
      continue;
    }
    const Port& before = old_snapshot.ports.at(id);
    std::string why;
    if (Relevant(before) != Relevant(now)) {
      why = absl::StrCat("port ", id, " changed: ", PortChanges(before, now));
    } else {
      auto na = old_snapshot.networks.find(now.network_id);
      auto nb = new_snapshot.networks.find(now.network_id);
      if ((na == old_snapshot.networks.end()) != (nb == new_snapshot.networks.end()) ||
          (na != old_snapshot.networks.end() && na->second != nb->second)) {
        why = absl::StrCat("network ", now.network_id, " changed");
      }
    }
    if (why.empty()) {
      std::vector<std::string> groups = now.security_group_ids;
      groups.insert(groups.end(), before.security_group_ids.begin(),
                    before.security_group_ids.end());
      for (const std::string& g : groups) {
        if (auto it = changed_groups.find(g); it != changed_groups.end()) {
          why = it->second;
          break;
        }
      }
    }
    if (!why.empty()) plans.push_back(ZonePlan{z, id, false, std::move(why)});
  }
  return plans;
}

bool RevokeReport::ok() const {
  return std::all_of(zones.begin(), zones.end(),
                     [](const ZoneRevocation& z) { return z.status.ok(); });
}

absl::Status RevokeReport::FirstError() const {
  for (const ZoneRevocation& z : zones) {
    if (!z.status.ok()) {
      return absl::Status(z.status.code(), absl::StrCat("conntrack zone ", z.plan.zone, " (port ",
                                                        z.plan.port_id, "): ", z.status.message()));
    }
  }
  return absl::OkStatus();
}

size_t RevokeReport::TotalDeleted() const {
  size_t n = 0;
  for (const ZoneRevocation& z : zones) n += z.deleted;
  return n;
}

absl::StatusOr<RevokeReport> Revoke(const Snapshot& old_snapshot, const Snapshot& new_snapshot,
                                    const policy::SlotAssignment& slots_old,
                                    const policy::SlotAssignment& slots_new, CtBackend& backend) {
  if (absl::Status st = Covers(old_snapshot, slots_old, "old"); !st.ok()) return st;
  if (absl::Status st = Covers(new_snapshot, slots_new, "new"); !st.ok()) return st;
  RevokeReport report;
  std::vector<ZonePlan> plans = PlanRevocation(old_snapshot, new_snapshot, slots_old, slots_new);
  if (plans.empty()) return report;

  std::set<uint16_t> zones;
  for (const ZonePlan& p : plans) zones.insert(p.zone);
  std::map<uint16_t, absl::StatusOr<std::vector<netlink::CtEntry>>> dumped;
  ++report.dump_calls;
  absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> all = backend.DumpZones(zones);
  if (all.ok()) {
    for (auto& [z, entries] : *all) dumped.emplace(z, std::move(entries));
  } else {
    // Retry zone by zone so that one failing zone does not hold up the rest.
    for (uint16_t z : zones) {
      ++report.dump_calls;
      dumped.emplace(z, backend.DumpZone(z));
    }
  }

  std::vector<netlink::CtEntry> to_delete;
  std::vector<std::pair<size_t, std::string>> owner_and_reason;  // zone index, reason
  for (ZonePlan& plan : plans) {
    ZoneRevocation& zr = report.zones.emplace_back();
    zr.plan = std::move(plan);
    const size_t index = report.zones.size() - 1;
    auto it = dumped.find(zr.plan.zone);
    if (it == dumped.end()) {
      zr.status = absl::InternalError("the backend's dump left this zone out");
      continue;
    }
    if (!it->second.ok()) {
      zr.status = it->second.status();
      continue;
    }
    const std::vector<netlink::CtEntry>& entries = *it->second;
    zr.dumped = entries.size();
    std::optional<EntryJudge> judge;
    if (!zr.plan.flush) judge.emplace(new_snapshot, slots_new, zr.plan.port_id);
    for (const netlink::CtEntry& e : entries) {
      if (e.zone != zr.plan.zone) continue;  // a backend breaking its contract
      std::string reason;
      if (zr.plan.flush) {
        reason = absl::StrCat("zone ", e.zone, " ", TupleText(e.orig), ": ", zr.plan.why);
      } else {
        EntryDecision d = judge->Decide(e);
        if (d.keep) {
          ++zr.kept;
          continue;
        }
        reason = std::move(d.reason);
      }
      to_delete.push_back(e);
      owner_and_reason.emplace_back(index, std::move(reason));
    }
  }

  std::vector<absl::Status> results = backend.DeleteBatch(to_delete);
  for (size_t i = 0; i < to_delete.size(); ++i) {
    ZoneRevocation& zr = report.zones[owner_and_reason[i].first];
    absl::Status st = i < results.size()
                          ? results[i]
                          : absl::InternalError("the backend returned too few delete results");
    std::string reason = std::move(owner_and_reason[i].second);
    if (st.ok()) {
      ++zr.deleted;
    } else if (absl::IsNotFound(st)) {
      ++zr.vanished;
      absl::StrAppend(&reason, " (already gone)");
    } else {
      if (zr.status.ok()) zr.status = st;
      absl::StrAppend(&reason, " (delete failed: ", st.message(), ")");
    }
    zr.deletions.emplace_back(to_delete[i], std::move(reason));
  }
  return report;
}

}  // namespace vfguard::agent
