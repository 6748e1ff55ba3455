#include "policy/compiler.h"

#include <algorithm>

#include "policy/compile_parts.h"

namespace vfguard::policy {
namespace {

void SortFilters(std::vector<Filter>& filters) {
  std::sort(filters.begin(), filters.end(),
            [](const Filter& a, const Filter& b) { return a.Key() < b.Key(); });
}

absl::Status CompilePart(const CompileContext& ctx, const std::string& key,
                         std::vector<Filter>& out) {
  if (key == "dispatch") return CompileDispatch(ctx, out);
  size_t colon = key.find(':');
  std::string kind = key.substr(0, colon);
  std::string id = key.substr(colon + 1);
  if (kind == "net") return CompileNetwork(ctx, ctx.snap.networks.at(id), out);
  if (kind == "port") return CompilePortChains(ctx, ctx.snap.ports.at(id), out);
  return CompilePortFlood(ctx, ctx.snap.ports.at(id), out);
}

std::set<std::string> AllPartKeys(const Snapshot& s) {
  std::set<std::string> keys{"dispatch"};
  for (const auto& [id, n] : s.networks) keys.insert("net:" + id);
  for (const auto& [id, p] : s.ports) {
    keys.insert("port:" + id);
    keys.insert("flood:" + id);
  }
  return keys;
}

// Whether part `key` belongs to `s` (without building every key).
bool Wanted(const Snapshot& s, const std::string& key) {
  if (key == "dispatch") return true;
  size_t colon = key.find(':');
  std::string kind = key.substr(0, colon);
  std::string id = key.substr(colon + 1);
  if (kind == "net") return s.networks.count(id) > 0;
  return s.ports.count(id) > 0;
}

absl::Status CheckSlots(const Snapshot& s, const SlotAssignment& slots) {
  for (const auto& [id, p] : s.ports) {
    if (!slots.port_slot.count(id) || !slots.port_zone.count(id)) {
      return absl::FailedPreconditionError("no slot/zone assigned to port " + id);
    }
  }
  for (const auto& [id, n] : s.networks) {
    if (!slots.network_slot.count(id)) {
      return absl::FailedPreconditionError("no slot assigned to network " + id);
    }
  }
  return absl::OkStatus();
}

// Whether a port or network present in both snapshots got another slot or
// zone. New objects' slots only matter to parts that AffectedParts already
// recompiles (their own, their network's, dispatch), so adding or removing a
// port stays incremental even though the assignment maps change.
bool RetainedSlotsChanged(const Snapshot& before, const SlotAssignment& old_slots,
                          const Snapshot& after, const SlotAssignment& new_slots) {
  auto differs = [](const auto& old_map, const auto& new_map, const std::string& id) {
    auto o = old_map.find(id);
    auto n = new_map.find(id);
    return o == old_map.end() || n == new_map.end() || o->second != n->second;
  };
  for (const auto& [id, p] : after.ports) {
    if (!before.ports.count(id)) continue;
    if (differs(old_slots.port_slot, new_slots.port_slot, id) ||
        differs(old_slots.port_zone, new_slots.port_zone, id)) {
      return true;
    }
  }
  for (const auto& [id, n] : after.networks) {
    if (before.networks.count(id) && differs(old_slots.network_slot, new_slots.network_slot, id)) {
      return true;
    }
  }
  return false;
}

// What the flood lists and forwarding chains of a network see of a port.
auto NeighbourView(const Port& p) {
  return std::make_tuple(p.network_id, p.mac, p.state, p.port_security, p.vips.empty(),
                         p.security_group_ids.empty());
}

// Parts whose inputs differ between two snapshots (docs/pipeline.md).
std::set<std::string> AffectedParts(const Snapshot& before, const Snapshot& after) {
  std::set<std::string> out;
  std::set<std::string> networks;  // networks whose membership or settings changed
  std::set<std::string> groups;    // groups whose rules or membership changed
  bool topology = false;           // port/network set or vlan layout changed
  for (const auto& [id, p] : after.ports) {
    auto it = before.ports.find(id);
    if (it != before.ports.end() && it->second == p) continue;
    out.insert("port:" + id);
    groups.insert(p.security_group_ids.begin(), p.security_group_ids.end());
    if (it == before.ports.end()) {
      topology = true;
      networks.insert(p.network_id);
    } else {
      if (NeighbourView(it->second) != NeighbourView(p)) {
        networks.insert(p.network_id);
        networks.insert(it->second.network_id);
      }
      groups.insert(it->second.security_group_ids.begin(), it->second.security_group_ids.end());
    }
  }
  for (const auto& [id, p] : before.ports) {
    if (after.ports.count(id)) continue;
    topology = true;
    networks.insert(p.network_id);
    groups.insert(p.security_group_ids.begin(), p.security_group_ids.end());
  }
  for (const auto& [id, n] : after.networks) {
    auto it = before.networks.find(id);
    if (it == before.networks.end() || !(it->second == n)) {
      networks.insert(id);
      topology = true;
    }
  }
  for (const auto& [id, n] : before.networks) {
    if (!after.networks.count(id)) topology = true;
  }
  std::set<std::string> changed_groups;  // rule content changed: their members recompile
  for (const auto& [id, g] : after.security_groups) {
    auto it = before.security_groups.find(id);
    if (it == before.security_groups.end() || !(it->second == g)) changed_groups.insert(id);
  }
  for (const auto& [id, g] : before.security_groups) {
    if (!after.security_groups.count(id)) changed_groups.insert(id);
  }
  if (topology) out.insert("dispatch");
  for (const std::string& n : networks) {
    if (after.networks.count(n)) out.insert("net:" + n);
  }
  // Groups referenced as remote groups by each group's rules.
  std::set<std::string> referencing;  // groups whose rules mention a changed-membership group
  for (const auto& [id, g] : after.security_groups) {
    for (const SecurityGroupRule& r : g.rules) {
      if (r.remote_group_id && groups.count(*r.remote_group_id)) referencing.insert(id);
    }
  }
  for (const auto& [id, p] : after.ports) {
    if (networks.count(p.network_id)) out.insert("flood:" + id);
    for (const std::string& gid : p.security_group_ids) {
      if (changed_groups.count(gid) || referencing.count(gid)) {
        out.insert("port:" + id);
        break;
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Pipeline> Compile(const Snapshot& snapshot, const SlotAssignment& slots) {
  absl::Status st = CheckSlots(snapshot, slots);
  if (!st.ok()) return st;
  CompileContext ctx(snapshot, slots);
  Pipeline p;
  for (const std::string& key : AllPartKeys(snapshot)) {
    st = CompilePart(ctx, key, p.filters);
    if (!st.ok()) return st;
  }
  SortFilters(p.filters);
  return p;
}

absl::StatusOr<std::set<std::string>> IncrementalCompiler::Update(
    std::shared_ptr<const Snapshot> snapshot, const SlotAssignment& slots) {
  absl::Status st = CheckSlots(*snapshot, slots);
  if (!st.ok()) return st;
  std::set<std::string> todo;
  bool everything =
      previous_ == nullptr || RetainedSlotsChanged(*previous_, previous_slots_, *snapshot, slots);
  if (everything) {
    todo = AllPartKeys(*snapshot);
  } else {
    todo = AffectedParts(*previous_, *snapshot);
  }
  CompileContext ctx(*snapshot, slots);
  std::map<std::string, PipelinePart> fresh;
  for (const std::string& key : todo) {
    if (!Wanted(*snapshot, key)) continue;
    PipelinePart part{key, {}};
    st = CompilePart(ctx, key, part.filters);
    if (!st.ok()) return st;
    fresh.emplace(key, std::move(part));
  }
  std::set<std::string> changed;
  // Parts of removed objects: only ports/networks that left can be stale.
  std::vector<std::string> stale;
  if (previous_ != nullptr) {
    for (const auto& [id, p] : previous_->ports) {
      if (!snapshot->ports.count(id)) {
        stale.push_back("port:" + id);
        stale.push_back("flood:" + id);
      }
    }
    for (const auto& [id, n] : previous_->networks) {
      if (!snapshot->networks.count(id)) stale.push_back("net:" + id);
    }
  }
  for (const std::string& key : stale) {
    if (parts_.erase(key)) changed.insert(key);
  }
  for (auto& [key, part] : fresh) {
    auto it = parts_.find(key);
    if (it != parts_.end() && it->second == part) continue;
    changed.insert(key);
    parts_[key] = std::move(part);
  }
  previous_ = std::move(snapshot);
  previous_slots_ = slots;
  return changed;
}

Pipeline IncrementalCompiler::Assemble() const {
  Pipeline p;
  for (const auto& [key, part] : parts_) {
    p.filters.insert(p.filters.end(), part.filters.begin(), part.filters.end());
  }
  SortFilters(p.filters);
  return p;
}

}  // namespace vfguard::policy
