#include "policy/compiler.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <latch>
#include <span>
#include <system_error>
#include <thread>

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
  return CompilePortChains(ctx, ctx.snap.ports.at(id), out);
}

std::set<std::string> AllPartKeys(const Snapshot& s) {
  std::set<std::string> keys{"dispatch"};
  for (const auto& [id, n] : s.networks) keys.insert("net:" + id);
  for (const auto& [id, p] : s.ports) keys.insert("port:" + id);
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

// Calls f(id, before-or-null, after-or-null) for every key of two maps
// sorted by id, in one pass (no per-key lookups: updates must stay cheap at
// thousands of ports).
template <typename V, typename F>
void ForEachPair(const std::map<std::string, V>& before, const std::map<std::string, V>& after,
                 F f) {
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      f(b->first, &b->second, static_cast<const V*>(nullptr));
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      f(a->first, static_cast<const V*>(nullptr), &a->second);
      ++a;
    } else {
      f(a->first, &b->second, &a->second);
      ++a;
      ++b;
    }
  }
}

// Whether every object of `objects` has an entry in `assigned`.
template <typename V, typename T>
bool Covers(const std::map<std::string, T>& assigned, const std::map<std::string, V>& objects,
            std::string* missing) {
  auto it = assigned.begin();
  for (const auto& [id, object] : objects) {
    while (it != assigned.end() && it->first < id) ++it;
    if (it == assigned.end() || it->first != id) {
      *missing = id;
      return false;
    }
  }
  return true;
}

absl::Status CheckSlots(const Snapshot& s, const SlotAssignment& slots) {
  std::string id;
  if (!Covers(slots.port_slot, s.ports, &id) || !Covers(slots.port_zone, s.ports, &id)) {
    return absl::FailedPreconditionError("no slot/zone assigned to port " + id);
  }
  if (!Covers(slots.network_slot, s.networks, &id)) {
    return absl::FailedPreconditionError("no slot assigned to network " + id);
  }
  return absl::OkStatus();
}

// Whether a port or network present in both snapshots got another slot or
// zone. New objects' slots only matter to parts that AffectedParts already
// recompiles (their own and their network's), so adding or removing a
// port stays incremental even though the assignment maps change.
template <typename V, typename T>
bool RetainedChanged(const std::map<std::string, V>& before_objects,
                     const std::map<std::string, V>& after_objects,
                     const std::map<std::string, T>& old_map,
                     const std::map<std::string, T>& new_map) {
  bool changed = false;
  ForEachPair(old_map, new_map, [&](const std::string& id, const T* o, const T* n) {
    if (changed || (o != nullptr && n != nullptr && *o == *n)) return;
    // A slot came, went or moved: it matters only for an object in both.
    changed = before_objects.count(id) > 0 && after_objects.count(id) > 0;
  });
  return changed;
}

bool RetainedSlotsChanged(const Snapshot& before, const SlotAssignment& old_slots,
                          const Snapshot& after, const SlotAssignment& new_slots) {
  return RetainedChanged(before.ports, after.ports, old_slots.port_slot, new_slots.port_slot) ||
         RetainedChanged(before.ports, after.ports, old_slots.port_zone, new_slots.port_zone) ||
         RetainedChanged(before.networks, after.networks, old_slots.network_slot,
                         new_slots.network_slot);
}

// What the flood list and forwarding chains of a network see of a port
// (admission is in the port's own egress hook).
auto NeighbourView(const Port& p) {
  return std::make_tuple(std::cref(p.network_id), p.mac, p.state);
}

// What remote-group expansions see of a port: its addresses and groups.
bool SameMemberView(const Port& a, const Port& b) {
  return a.fixed_ips == b.fixed_ips && a.vips == b.vips &&
         a.allowed_address_pairs == b.allowed_address_pairs &&
         a.security_group_ids == b.security_group_ids;
}

// Parts whose inputs differ between two snapshots (docs/pipeline.md).
std::set<std::string> AffectedParts(const Snapshot& before, const Snapshot& after) {
  std::set<std::string> out;
  std::set<std::string> networks;  // networks whose membership or settings changed
  std::set<std::string> groups;    // groups whose membership or member addresses changed
  bool topology = false;           // networks (uplink dispatch) changed
  ForEachPair(before.ports, after.ports, [&](const std::string& id, const Port* b, const Port* a) {
    if (b != nullptr && a != nullptr && *b == *a) return;
    if (a != nullptr) out.insert("port:" + id);
    if (b == nullptr || a == nullptr) {
      const Port* p = a != nullptr ? a : b;
      networks.insert(p->network_id);
      groups.insert(p->security_group_ids.begin(), p->security_group_ids.end());
      return;
    }
    if (NeighbourView(*b) != NeighbourView(*a)) {
      networks.insert(a->network_id);
      networks.insert(b->network_id);
    }
    if (!SameMemberView(*b, *a)) {
      groups.insert(a->security_group_ids.begin(), a->security_group_ids.end());
      groups.insert(b->security_group_ids.begin(), b->security_group_ids.end());
    }
  });
  ForEachPair(before.networks, after.networks,
              [&](const std::string& id, const Network* b, const Network* a) {
                if (b != nullptr && a != nullptr && *b == *a) return;
                topology = true;
                if (a != nullptr) networks.insert(id);
              });
  ForEachPair(before.remote_ports, after.remote_ports,
              [&](const std::string&, const RemotePort* b, const RemotePort* a) {
                if (b != nullptr && a != nullptr && *b == *a) return;
                for (const RemotePort* r : {b, a}) {
                  if (r) groups.insert(r->security_group_ids.begin(), r->security_group_ids.end());
                }
              });
  std::set<std::string> address_groups;  // CIDRs changed
  ForEachPair(before.address_groups, after.address_groups,
              [&](const std::string& id, const AddressGroup* b, const AddressGroup* a) {
                if (b == nullptr || a == nullptr || !(*b == *a)) address_groups.insert(id);
              });
  std::set<std::string> changed_groups;  // rule content changed: their members recompile
  ForEachPair(before.security_groups, after.security_groups,
              [&](const std::string& id, const SecurityGroup* b, const SecurityGroup* a) {
                if (b == nullptr || a == nullptr || !(*b == *a)) changed_groups.insert(id);
              });
  if (topology) out.insert("dispatch");
  for (const std::string& n : networks) {
    if (after.networks.count(n)) out.insert("net:" + n);
  }
  // Groups referenced as remote groups by each group's rules.
  std::set<std::string> referencing;  // groups whose rules mention a changed-membership group
  for (const auto& [id, g] : after.security_groups) {
    for (const SecurityGroupRule& r : g.rules) {
      if ((r.remote_group_id && groups.count(*r.remote_group_id)) ||
          (r.remote_address_group_id && address_groups.count(*r.remote_address_group_id))) {
        referencing.insert(id);
      }
    }
  }
  if (changed_groups.empty() && referencing.empty()) return out;
  for (const auto& [id, p] : after.ports) {
    for (const std::string& gid : p.security_group_ids) {
      if (changed_groups.count(gid) || referencing.count(gid)) {
        out.insert("port:" + id);
        break;
      }
    }
  }
  return out;
}

// Adds the prefixes of the set a kSetMatch filter names. A member change
// changes only these, not a filter.
void FillSets(const CompileContext& ctx, const Filter& f,
              std::map<std::string, std::vector<IpPrefix>>& sets) {
  if (f.rare()->set_match && !sets.contains(f.rare()->set_match->set)) {
    sets.emplace(f.rare()->set_match->set, ctx.SetPrefixes(f.rare()->set_match->set));
  }
}

size_t ThreadsFor(const CompileOptions& options, size_t parts) {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t wanted = options.threads != 0 ? options.threads : std::min<size_t>(cores, 2);
  const size_t per_thread = std::max<size_t>(1, options.parts_per_thread);
  return std::max<size_t>(1, std::min(wanted, parts / per_thread));
}

// Compiles the parts `keys` into `out` (as many, same order, keys already
// set), each interned with `interner` and shrunk to fit, with a context of
// its own (its lazily built indexes are not shared with other threads);
// stops at the first key that fails.
absl::Status CompileRange(const Snapshot& s, const SlotAssignment& slots, CompileOptions options,
                          std::span<const std::string> keys, std::span<PipelinePart> out,
                          Interner& interner) {
  CompileContext ctx(s, slots, options, &interner);
  for (size_t i = 0; i < keys.size(); ++i) {
    // Built interned with `interner` (every filter's match, actions and
    // origin: ChainBuilder and the few filters built apart make them with
    // ctx.interner), so nothing is interned again here.
    absl::Status st = CompilePart(ctx, keys[i], out[i].filters);
    if (!st.ok()) return st;
    out[i].filters.shrink_to_fit();  // the parts are kept; growth slack is not
  }
  return absl::OkStatus();
}

// The parts `keys` (in order), interned with `interner`, compiled by up to
// ThreadsFor(options) threads, each a contiguous run of keys: the caller's
// (the first) interned with `interner`, the others' with an Interner of
// their own; `interner` then adopts copies of their filters (in key order,
// so values are first seen in the same order as by one thread); the error
// is that of the first key that fails, as if compiled one after another.
//
// What is kept is allocated by the caller, and what a helper thread
// allocated is freed by that thread: glibc gives each thread an arena, and
// a block freed by another thread goes to that thread's cache, pinning a
// page of the helper's arena after it exits (measured: ~200 kB resident for
// 8 kB so cached at 100 ports; in the VM the helpers' arena went from ~230
// to ~115 kB at 100 ports).
absl::StatusOr<std::vector<PipelinePart>> CompileParts(const Snapshot& s,
                                                       const SlotAssignment& slots,
                                                       CompileOptions options,
                                                       const std::vector<std::string>& keys,
                                                       Interner& interner) {
  std::vector<PipelinePart> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) out[i].key = keys[i];
  const size_t n = ThreadsFor(options, keys.size());
  if (n == 1) {
    absl::Status st = CompileRange(s, slots, options, keys, out, interner);
    if (!st.ok()) return st;
    return out;
  }
  std::vector<absl::Status> status(n);
  std::vector<Interner> local(n);  // [0] unused: the caller's run interns with `interner`
  auto begin_of = [&](size_t t) { return keys.size() * t / n; };
  auto run = [&](size_t t) {
    const size_t begin = begin_of(t);
    const size_t count = begin_of(t + 1) - begin;
    status[t] = CompileRange(s, slots, options, std::span(keys).subspan(begin, count),
                             std::span(out).subspan(begin, count), t == 0 ? interner : local[t]);
  };
  std::latch compiled(static_cast<std::ptrdiff_t>(n - 1));
  std::latch adopted(1);
  auto help = [&](size_t t) {
    run(t);
    compiled.count_down();
    adopted.wait();  // the caller has copied what it keeps
    for (size_t i = begin_of(t); i < begin_of(t + 1); ++i)
      std::vector<Filter>().swap(out[i].filters);
    local[t] = Interner();
  };
  std::vector<std::vector<Filter>> kept(out.size());
  {
    std::vector<std::jthread> workers;
    for (size_t t = 1; t < n; ++t) {
      try {
        workers.emplace_back(help, t);
      } catch (const std::system_error&) {
        run(t);  // no thread to be had: the same work here
        compiled.count_down();
      }
    }
    run(0);
    compiled.wait();
    if (std::all_of(status.begin(), status.end(), [](const absl::Status& st) { return st.ok(); })) {
      for (size_t t = 1; t < n; ++t) interner.ReserveFor(local[t]);
      Interner::Memo memo;
      for (size_t i = begin_of(1); i < out.size(); ++i) {
        kept[i] = out[i].filters;
        for (Filter& f : kept[i]) interner.Adopt(f, memo);
      }
    }
    adopted.count_down();
  }  // joins the workers
  for (const absl::Status& st : status) {
    if (!st.ok()) return st;
  }
  for (size_t i = begin_of(1); i < out.size(); ++i) out[i].filters = std::move(kept[i]);
  return out;
}

}  // namespace

absl::StatusOr<Pipeline> Compile(const Snapshot& snapshot, const SlotAssignment& slots,
                                 CompileOptions options) {
  absl::Status st = CheckSlots(snapshot, slots);
  if (!st.ok()) return st;
  const std::set<std::string> all = AllPartKeys(snapshot);
  Interner interner;
  absl::StatusOr<std::vector<PipelinePart>> parts =
      CompileParts(snapshot, slots, options, {all.begin(), all.end()}, interner);
  if (!parts.ok()) return parts.status();
  const CompileContext ctx(snapshot, slots, options);
  Pipeline p;
  size_t total = 0;
  for (const PipelinePart& part : *parts) total += part.filters.size();
  p.filters.reserve(total);
  for (PipelinePart& part : *parts) {
    std::move(part.filters.begin(), part.filters.end(), std::back_inserter(p.filters));
  }
  SortFilters(p.filters);
  p.filters.shrink_to_fit();  // the pipeline is kept; growth slack is not
  for (const Filter& f : p.filters) FillSets(ctx, f, p.sets);
  return p;
}

absl::StatusOr<std::set<std::string>> IncrementalCompiler::Update(
    std::shared_ptr<const Snapshot> snapshot, SlotAssignment slots) {
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
  std::vector<std::string> keys;
  for (const std::string& key : todo) {
    if (Wanted(*snapshot, key)) keys.push_back(key);
  }
  absl::StatusOr<std::vector<PipelinePart>> fresh =
      CompileParts(*snapshot, slots, options_, keys, interner_);
  if (!fresh.ok()) return fresh.status();
  std::set<std::string> changed;
  // Parts of removed objects: only ports/networks that left can be stale.
  std::vector<std::string> stale;
  if (previous_ != nullptr) {
    for (const auto& [id, p] : previous_->ports) {
      if (!snapshot->ports.count(id)) stale.push_back("port:" + id);
    }
    for (const auto& [id, n] : previous_->networks) {
      if (!snapshot->networks.count(id)) stale.push_back("net:" + id);
    }
  }
  for (const std::string& key : stale) {
    if (parts_.erase(key)) changed.insert(key);
  }
  for (PipelinePart& part : *fresh) {
    auto it = parts_.find(part.key);
    if (it != parts_.end() && *it->second == part) continue;
    const std::string& key = *changed.insert(part.key).first;
    parts_[key] = std::make_shared<const PipelinePart>(std::move(part));
  }
  previous_ = std::move(snapshot);
  previous_slots_ = std::move(slots);
  // Replaced parts leave values only the interner holds; drop them once
  // they could be as many as the live ones (amortized O(1) per value).
  if (interner_.size() > 2 * interned_after_prune_ + 1024) {
    interner_.Prune();
    interned_after_prune_ = interner_.size();
  }
  return changed;
}

Pipeline IncrementalCompiler::Assemble() const {
  SharedPipeline shared = AssembleShared();
  Pipeline p;
  p.filters.reserve(shared.filters.size());
  for (const Filter* f : shared.filters) p.filters.push_back(*f);
  p.sets = std::move(shared.sets);
  return p;
}

SharedPipeline IncrementalCompiler::AssembleShared() const {
  SharedPipeline p;
  size_t total = 0;
  for (const auto& [key, part] : parts_) total += part->filters.size();
  // Sorted by key, the keys packed beside the pointers (comparing through
  // the pointers would touch every filter's memory at each step).
  struct Keyed {
    uint64_t chain_prio;  // chain << 16 | prio
    uint32_t handle;
    const Filter* filter;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(total);
  p.owners.reserve(parts_.size());
  for (const auto& [key, part] : parts_) {
    for (const Filter& f : part->filters) {
      keyed.push_back({uint64_t{f.chain} << 16 | f.prio, f.handle, &f});
    }
    p.owners.push_back(part);
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return a.chain_prio != b.chain_prio ? a.chain_prio < b.chain_prio : a.handle < b.handle;
  });
  p.filters.reserve(total);
  for (const Keyed& k : keyed) p.filters.push_back(k.filter);
  if (previous_ != nullptr) {
    const CompileContext ctx(*previous_, previous_slots_, options_);
    for (const Filter* f : p.filters) FillSets(ctx, *f, p.sets);
  }
  return p;
}

}  // namespace vfguard::policy
