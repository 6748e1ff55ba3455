// What a reconciler pass places, wants and plans (agent/reconciler.h):
// placement, the wanted filters as all of them or as what changed since the
// last pass, and the plan over them.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/filter_hash.h"
#include "agent/filter_plan.h"
#include "agent/reconciler.h"

namespace vfguard::agent {

using netlink::FlowerFilter;
using offload::Copy;

bool Reconciler::PlaceFilters(const offload::PlacementResult* before, OfferBook& offers,
                              ReconcileReport& report) {
  bool kept = false;
  if (block_refuses_offload_) {
    // Every offer is the probe's refusal: each filter's placement depends on
    // itself alone, so only new filters are placed, and none when no part
    // changed.
    kept = placed_without_hw_ && placement_current_;
    if (!kept) {
      size_t afresh = 0;
      placement_ = std::make_shared<const offload::PlacementResult>(
          offload::PlaceWithoutHardware(compiler_.AssembleShared(), BlockWideAnswer(),
                                        placed_without_hw_ ? before : nullptr, &afresh));
      report.placed = static_cast<int>(afresh);
    }
  } else {
    // The compiler's own filters: the placement refers to them, nothing is copied.
    policy::SharedPipeline pipeline = compiler_.AssembleShared();
    PreOffer(pipeline, devices_, offers, report);
    placement_ = std::make_shared<const offload::PlacementResult>(
        offload::Place(std::move(pipeline), MakeOffer(devices_, offers, report)));
    report.placed = static_cast<int>(placement_->filters.size());
  }
  placed_without_hw_ = block_refuses_offload_;
  placement_current_ = true;
  return kept;
}

std::optional<FilterKey> Reconciler::KernelKey(const offload::PlacedFilter& p,
                                               const offload::DeviceResolver& devices) const {
  absl::StatusOr<FlowerFilter> id =
      offload::KernelIdentity(*p.filter, block_, Copy::kSlowPath, devices);
  if (!id.ok()) return std::nullopt;
  return KeyOf(*id);
}

std::optional<std::string> Reconciler::KernelIndev(const policy::Filter& f) const {
  if (!f.match->indev) return std::nullopt;
  std::optional<offload::Netdev> dev = devices_(*f.match->indev);
  if (!dev) return std::nullopt;
  return dev->name;
}

bool Reconciler::WantInstalled(const offload::PlacedFilter& p, size_t i, const TranslatedFilter& t,
                               WantedFilters& want) const {
  const std::optional<FilterKey> key = KernelKey(p, devices_);
  if (!key) return false;
  const std::optional<InstalledEntry> entry = installed_.Find(*key);
  if (!entry || !t.Holds(entry->content)) return false;
  want[*key] = WantedFilter{*entry, nullptr, i, false};
  return true;
}

Reconciler::WantedChange Reconciler::Wanted(bool reuse, bool delta,
                                            const offload::PlacementResult* before,
                                            const offload::DeviceResolver& before_devices,
                                            ReconcileReport& report) {
  WantedChange out;
  const std::vector<offload::PlacedFilter>& placed = placement_->filters;
  // The last pass's translations are looked up by a merge walk, so both
  // lists must be in IR key order (the compiler's Pipeline order).
  reuse = reuse && std::is_sorted(placed.begin(), placed.end(), [](const auto& a, const auto& b) {
            return a.filter->Key() < b.filter->Key();
          });
  // The placement translated_ was made for: the last one, or (a trusted
  // record of the same inputs, `before` null) this one.
  const std::vector<offload::PlacedFilter>& made_for =
      before != nullptr ? before->filters : placement_->filters;
  if (made_for.size() != translated_.size()) reuse = false;
  out.delta = delta && reuse;
  auto gone = [&](size_t j) {
    if (!out.delta || !translated_[j].valid) return;
    // Its devices resolved when it was translated, under the same view.
    if (std::optional<FilterKey> key = KernelKey(made_for[j], before_devices)) {
      out.gone.push_back(*key);
    } else {
      log_.Warn("gone_key_unknown",
                {{"filter", made_for[j].filter->origin()}, {"effect", "audit next pass"}});
      RequestAudit();
    }
  };
  std::vector<Translated> next(placed.size());
  size_t j = 0;
  for (size_t i = 0; i < placed.size(); ++i) {
    const offload::PlacedFilter& p = placed[i];
    Translated& t = next[i];
    const auto ir = p.filter->Key();
    std::optional<size_t> old;
    bool same_filter = false;
    if (reuse) {
      while (j < translated_.size() && made_for[j].filter->Key() < ir) gone(j++);
      if (j < translated_.size() && made_for[j].filter->Key() == ir) {
        // The compiler replaces a part, never edits it: the same object is
        // the same filter, and a recompiled part's unchanged filters are
        // equal ones (compared: cheaper than a translation and its hash).
        same_filter =
            before == nullptr || made_for[j].filter == p.filter || *made_for[j].filter == *p.filter;
        old = j++;
      }
    }
    if (!InstallsAsFlower(*p.filter)) {
      if (old) gone(*old);
      continue;
    }
    const bool hardware = p.placement == offload::Placement::kHardware;
    if (old && same_filter && translated_[*old].valid && translated_[*old].hardware == hardware) {
      if (out.delta) {
        t = translated_[*old];
        ++out.count;
        continue;
      }
      if (WantInstalled(p, i, translated_[*old], out.want)) {
        t = translated_[*old];
        ++out.count;
        continue;
      }
    }
    if (old) gone(*old);
    std::optional<FlowerFilter> k = Translate(p, report);
    if (!k) continue;
    const InstalledEntry entry = EntryOf(*k);
    t = TranslatedFilter::Of(entry.content, hardware);
    ++out.count;
    // A delta keeps what it translated (a few filters); a whole pass keeps
    // only the entry and translates again what it writes (WritePlan).
    const FilterKey key = KeyOf(*k);
    std::unique_ptr<FlowerFilter> kept;
    if (out.delta) kept = std::make_unique<FlowerFilter>(*std::move(k));
    out.want[key] = WantedFilter{entry, std::move(kept), i, true};
  }
  while (reuse && j < translated_.size()) gone(j++);
  translated_ = std::move(next);
  std::map<FilterKey, InstalledEntry> traps;
  for (const policy::Filter& trap : placement_->traps) {
    ++report.translated;
    absl::StatusOr<FlowerFilter> k = offload::ToKernelFilter(trap, block_, Copy::kTrap, devices_);
    if (!k.ok()) {
      ++report.errors;
      if (report.status.ok()) report.status = k.status();
      log_.Warn("translate_failed", {{"filter", trap.origin()}, {"status", k.status()}});
      continue;
    }
    FilterKey key = KeyOf(*k);
    const InstalledEntry entry = EntryOf(*k);
    traps[key] = entry;
    auto before_trap = trap_entries_.find(key);
    if (out.delta && before_trap != trap_entries_.end() && before_trap->second == entry) continue;
    // Kept: a trap is not a placed filter to translate again.
    out.want[key] = WantedFilter{entry, std::make_unique<FlowerFilter>(*std::move(k)), 0, true};
  }
  if (out.delta) {
    for (const auto& [key, entry] : trap_entries_) {
      auto now = traps.find(key);
      if (now == traps.end() || now->second != entry) out.gone.push_back(key);
    }
  }
  out.count += static_cast<int>(traps.size());
  trap_entries_ = std::move(traps);
  return out;
}

FilterPlan Reconciler::PlanChange(WantedChange& wanted, ReconcileReport& report) {
  PlanScope scope;
  std::set<PrioKey> prios;
  for (const FilterKey& key : wanted.gone) scope.keys.insert(key);
  for (const auto& [key, w] : wanted.want) scope.keys.insert(key);
  for (const FilterKey& key : scope.keys) prios.insert(PrioOf(key));
  // What else is wanted in those prios is what the last pass wanted there
  // (the installed set, converged_) less what is gone: only its shapes matter.
  for (const PrioKey& p : prios) {
    const auto& [owner, chain, prio] = p;
    std::set<uint64_t> shapes;
    for (auto it = installed_.filters().lower_bound(FilterKey{owner, chain, prio, 0});
         it != installed_.filters().end() && PrioOf(it->key()) == p; ++it) {
      if (!scope.keys.contains(it->key())) shapes.insert(it->entry().shape);
    }
    // A prio nothing is wanted in has no shapes at all (not an empty set).
    if (!shapes.empty()) scope.kept_shapes.emplace(p, std::move(shapes));
  }
  report.planned = static_cast<int>(scope.keys.size());
  return PlanFilterWrites(wanted.want, installed_, &scope);
}

FilterPlan Reconciler::PlanWrites(WantedChange& wanted, ReconcileReport& report) {
  if (wanted.delta) return PlanChange(wanted, report);
  report.planned = static_cast<int>(wanted.want.size());
  return PlanFilterWrites(wanted.want, installed_);
}

std::optional<TcOp> Reconciler::Materialize(const PlannedWrite& w, ReconcileReport& report) const {
  if (w.wanted == nullptr) return DeleteOp(w.key, w.protocol);
  TcOp op;
  op.kind = w.kind;
  if (w.wanted->filter) {
    op.filter = std::move(*w.wanted->filter);
    w.wanted->filter.reset();
    return op;
  }
  // Translated when wanted, unless its entry was taken from the installed
  // set (WantInstalled): then this is the first translation of the pass.
  std::optional<FlowerFilter> k =
      Translate(placement_->filters[w.wanted->placed], report, w.wanted->translated);
  if (!k) return std::nullopt;
  op.filter = *std::move(k);
  return op;
}

void Reconciler::WritePlan(const FilterPlan& plan, const std::vector<TcOp>& late_deletes,
                           ReconcileReport& report) {
  std::vector<TcOp> chunk;
  chunk.reserve(kWriteChunk);
  std::vector<InstalledChange> changes;
  changes.reserve(plan.ops.size());
  auto flush = [&] {
    RecordResults(chunk, ApplyCounted(chunk, report), report, &changes);
    chunk.clear();
  };
  for (const PlannedWrite& w : plan.ops) {
    if (std::optional<TcOp> op = Materialize(w, report)) chunk.push_back(*std::move(op));
    if (chunk.size() == kWriteChunk) flush();
  }
  flush();
  chunk = {};
  installed_.Apply(std::move(changes));
  // After the set took the plan's changes: a clsact delete erases its
  // device's filters from the set.
  RecordResults(late_deletes, ApplyCounted(late_deletes, report), report);
}

}  // namespace vfguard::agent
