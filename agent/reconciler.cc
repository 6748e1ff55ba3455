#include "agent/reconciler.h"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/filter_hash.h"
#include "agent/filter_plan.h"
#include "agent/moved_devices.h"
#include "netlink/nl_socket.h"
#include "netlink/tc_codec.h"
#include "offload/set_match_translate.h"

namespace vfguard::agent {
namespace {

// Resolves devices through `view` (which must outlive the resolver).
offload::DeviceResolver ResolverOf(const EswitchView& view) {
  return [&view](const policy::DeviceRef& ref) -> std::optional<offload::Netdev> {
    if (ref.kind == policy::DeviceRef::Kind::kUplink) return view.uplink;
    auto it = view.port_representors.find(ref.port_id);
    if (it == view.port_representors.end()) return std::nullopt;
    return it->second;
  };
}

using netlink::FlowerFilter;
using offload::Copy;

const char* OpName(TcOp::Kind k) {
  switch (k) {
    case TcOp::Kind::kCreateClsact:
      return "create_clsact";
    case TcOp::Kind::kDeleteClsact:
      return "delete_clsact";
    case TcOp::Kind::kCreateFilter:
      return "create_filter";
    case TcOp::Kind::kReplaceFilter:
      return "replace_filter";
    case TcOp::Kind::kDeleteFilter:
      return "delete_filter";
  }
  return "?";
}

TcOp QdiscOp(TcOp::Kind kind, uint32_t ifindex, uint32_t block) {
  TcOp op;
  op.kind = kind;
  op.qdisc = netlink::ClsactQdisc{ifindex, block};
  return op;
}

bool IsFilterOp(TcOp::Kind k) {
  return k == TcOp::Kind::kCreateFilter || k == TcOp::Kind::kReplaceFilter ||
         k == TcOp::Kind::kDeleteFilter;
}

// A delete that found nothing (or no device) left what it wanted.
bool IsGone(const absl::Status& s) {
  const int err = netlink::ErrnoFromStatus(s);
  return err == ENOENT || err == ENODEV;
}

}  // namespace

Reconciler::Reconciler(TcBackend& tc, common::Logger& log, uint32_t block_index)
    : tc_(tc), log_(log), block_(block_index) {}

std::vector<absl::Status> Reconciler::ApplyCounted(const std::vector<TcOp>& ops,
                                                   ReconcileReport& report) {
  if (ops.empty()) return {};
  DropRecord();  // the kernel is about to differ from it
  std::vector<absl::Status> results = tc_.Apply(ops);
  report.writes += static_cast<int>(ops.size());
  return results;
}

std::vector<netlink::FilterOwner> Reconciler::ManagedOwners(const EswitchView& view) const {
  std::vector<netlink::FilterOwner> owners = {netlink::TcBlock{block_}};
  for (const auto& [port, dev] : view.port_representors) {
    owners.push_back(netlink::TcDevice{dev.ifindex, netlink::kClsactEgressParent});
  }
  return owners;
}

absl::Status Reconciler::Audit(const EswitchView& view, ReconcileReport& report) {
  const absl::Time start = absl::Now();
  report.audited = true;
  ++report.dumps;
  absl::StatusOr<std::map<uint32_t, uint32_t>> qdiscs = tc_.DumpClsact();
  if (!qdiscs.ok()) return qdiscs.status();
  // Dump everything before touching the set, so a failed dump leaves it as
  // it was (and the audit still due).
  const std::vector<netlink::FilterOwner> owners = ManagedOwners(view);
  std::vector<std::vector<FlowerFilter>> dumps;
  for (const netlink::FilterOwner& owner : owners) {
    ++report.dumps;
    absl::StatusOr<std::vector<FlowerFilter>> d = tc_.DumpFilters(owner);
    if (!d.ok()) return d.status();
    dumps.push_back(*std::move(d));
  }
  const absl::Time dumped = absl::Now();
  report.times.audit_dump += dumped - start;
  installed_.ReplaceClsact(*std::move(qdiscs));
  installed_.ReplaceFilters(dumps);
  installed_.AuditDone();
  report.times.audit_hash += absl::Now() - dumped;
  return absl::OkStatus();
}

absl::Status Reconciler::SyncQdiscs(const EswitchView& view, ReconcileReport& report,
                                    std::vector<TcOp>& late_deletes) {
  const std::map<uint32_t, uint32_t>& current = installed_.clsact();
  std::map<uint32_t, std::string> wanted;  // ifindex -> name
  if (view.uplink) wanted[view.uplink->ifindex] = view.uplink->name;
  for (const auto& [port, dev] : view.port_representors) wanted[dev.ifindex] = dev.name;

  std::vector<TcOp> ops;
  for (const auto& [ifindex, name] : wanted) {
    auto it = current.find(ifindex);
    if (it != current.end() && it->second == block_) continue;
    if (it != current.end()) {
      log_.Warn("clsact_rebound", {{"dev", name}, {"old_block", it->second}, {"block", block_}});
      ops.push_back(QdiscOp(TcOp::Kind::kDeleteClsact, ifindex, 0));
    }
    ops.push_back(QdiscOp(TcOp::Kind::kCreateClsact, ifindex, block_));
  }
  for (const auto& [ifindex, block] : current) {
    if (block == block_ && !wanted.contains(ifindex)) {
      late_deletes.push_back(QdiscOp(TcOp::Kind::kDeleteClsact, ifindex, block_));
    }
  }
  const int errors_before = report.errors;
  std::vector<absl::Status> results = ApplyCounted(ops, report);
  RecordResults(ops, results, report);
  if (report.errors == errors_before) return absl::OkStatus();
  for (const absl::Status& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

void Reconciler::RecordResults(const std::vector<TcOp>& ops,
                               const std::vector<absl::Status>& results, ReconcileReport& report,
                               std::vector<InstalledChange>* changes) {
  // The set changes now, or (`changes`) once the caller has sent everything.
  auto record = [&](const netlink::FlowerFilter& f) {
    if (changes == nullptr) return installed_.Record(f);
    installed_.Collect(f, *changes);
  };
  auto erase = [&](const FilterKey& key) {
    if (changes == nullptr) return installed_.Erase(key);
    // A key the set cannot hold is not in it.
    if (std::optional<InstalledFilter> packed = InstalledFilter::Of(key, {})) {
      changes->push_back({*packed, true});
    }
  };
  for (size_t i = 0; i < results.size(); ++i) {
    const TcOp& op = ops[i];
    const absl::Status& r = results[i];
    const bool del = op.kind == TcOp::Kind::kDeleteFilter || op.kind == TcOp::Kind::kDeleteClsact;
    if (r.ok() || (del && IsGone(r))) {
      switch (op.kind) {
        case TcOp::Kind::kCreateClsact:
          installed_.RecordClsact(op.qdisc.ifindex, op.qdisc.ingress_block);
          break;
        case TcOp::Kind::kDeleteClsact:
          installed_.EraseClsact(op.qdisc.ifindex);
          break;
        case TcOp::Kind::kCreateFilter:
        case TcOp::Kind::kReplaceFilter:
          record(op.filter);
          break;
        case TcOp::Kind::kDeleteFilter:
          erase(KeyOf(op.filter));
          break;
      }
      continue;
    }
    // What the kernel holds there is now unknown: forget it, and let the
    // next pass dump (an audit) and retry from what it finds.
    if (IsFilterOp(op.kind)) erase(KeyOf(op.filter));
    installed_.RequestAudit();
    ++report.errors;
    if (report.status.ok()) report.status = r;
    if (IsFilterOp(op.kind)) {
      log_.Warn("tc_write_failed", {{"op", OpName(op.kind)},
                                    {"chain", op.filter.chain},
                                    {"prio", op.filter.prio},
                                    {"handle", op.filter.handle},
                                    {"status", r}});
    } else {
      log_.Warn("tc_write_failed",
                {{"op", OpName(op.kind)}, {"ifindex", op.qdisc.ifindex}, {"status", r}});
    }
  }
}

bool Reconciler::InstallsAsFlower(const policy::Filter& f) const {
  if (f.classifier != policy::Classifier::kFlower) return false;
  if (!f.rare()->nd_allowed.empty()) return nd_ != nullptr && nd_->attached();
  return true;
}

void Reconciler::SyncNdCheck(ReconcileReport& report) {
  if (nd_ == nullptr) return;
  NdEntries entries;
  for (const offload::PlacedFilter& p : placement_->filters) {
    const policy::Filter& f = *p.filter;
    if (f.rare()->nd_allowed.empty() || !f.match->indev) continue;
    std::optional<offload::Netdev> dev = devices_(*f.match->indev);
    if (dev) entries[dev->ifindex] = f.rare()->nd_allowed;
  }
  const uint64_t before = nd_->map_writes();
  absl::Status s = nd_->Sync(entries);
  report.nd_map_writes += nd_->map_writes() - before;
  if (!s.ok()) {
    ++report.errors;
    if (report.status.ok()) report.status = s;
    log_.Warn("nd_check_sync_failed",
              {{"status", s},
               {"effect", nd_->attached() ? "ports without an entry: NS/NA dropped"
                                          : "NS/NA of secured ports dropped until attached"}});
  }
}

void Reconciler::SetSetMatch(SetMatchHook* hook) {
  set_match_ = hook;
  set_match_synced_ = false;
  compiler_ = policy::IncrementalCompiler(policy::CompileOptions{.set_lookups = hook != nullptr});
}

std::optional<offload::SetMatchWant> Reconciler::SyncSetMatch(ReconcileReport& report) {
  if (set_match_ == nullptr) return std::nullopt;
  offload::SetMatchWant want;
  for (const auto& [name, prefixes] : placement_->sets) {
    want.sets[name].insert(prefixes.begin(), prefixes.end());
  }
  bool complete = true;
  for (const offload::PlacedFilter& p : placement_->filters) {
    if (p.filter->classifier != policy::Classifier::kSetMatch) continue;
    absl::StatusOr<offload::SetMatchFilter> f =
        offload::ToSetMatchFilter(*p.filter, block_, devices_);
    if (!f.ok()) {
      // Left out (an allow the kernel then lacks): fail closed.
      complete = false;
      ++report.errors;
      if (report.status.ok()) report.status = f.status();
      log_.Warn("translate_failed", {{"filter", p.filter->origin()}, {"status", f.status()}});
      continue;
    }
    want.filters.push_back(*std::move(f));
  }
  set_match_translated_ = complete;
  offload::SetMatchWant now;
  now.sets = want.sets;
  for (const offload::SetMatchFilter& f : want.filters) {
    const netlink::BpfFilter& b = f.filter;
    auto it = installed_.filters().lower_bound(FilterKey{b.owner, b.chain, b.prio, 0});
    const bool flower_there = it != installed_.filters().end() && it->key().owner == b.owner &&
                              it->key().chain == b.chain && it->key().prio == b.prio;
    auto before = set_match_prios_.find({b.owner, b.chain, b.prio});
    const bool other_protocol = before != set_match_prios_.end() && before->second != b.protocol;
    if (!flower_there && !other_protocol) now.filters.push_back(f);
  }
  const bool later = now.filters.size() != want.filters.size();
  SyncSetMatchWant(now, complete && !later, report);
  if (!later) return std::nullopt;
  return want;
}

void Reconciler::SyncSetMatchWant(const offload::SetMatchWant& want, bool complete,
                                  ReconcileReport& report) {
  const uint64_t filters_before = set_match_->filter_writes();
  const uint64_t maps_before = set_match_->map_writes();
  absl::Status s = set_match_->Sync(want);
  set_match_prios_.clear();
  for (const offload::SetMatchFilter& f : want.filters) {
    set_match_prios_[{f.filter.owner, f.filter.chain, f.filter.prio}] = f.filter.protocol;
  }
  report.set_filter_writes += static_cast<int>(set_match_->filter_writes() - filters_before);
  report.set_map_writes += set_match_->map_writes() - maps_before;
  set_match_synced_ = complete && s.ok();
  if (!s.ok()) {
    ++report.errors;
    if (report.status.ok()) report.status = s;
    log_.Warn("set_match_sync_failed",
              {{"status", s}, {"effect", "retried by the next pass; until then less is allowed"}});
  }
}

std::optional<FlowerFilter> Reconciler::Translate(const offload::PlacedFilter& p,
                                                  ReconcileReport& report, bool again) const {
  ++(again ? report.translated_to_send : report.translated);
  absl::StatusOr<FlowerFilter> k =
      offload::ToKernelFilter(*p.filter, block_, Copy::kSlowPath, devices_);
  if (!k.ok()) {
    ++report.errors;
    if (report.status.ok()) report.status = k.status();
    log_.Warn("translate_failed", {{"filter", p.filter->origin()}, {"status", k.status()}});
    return std::nullopt;
  }
  // A filter the hardware takes is installed once, without skip flags: in
  // software (so the slow path stays complete) and in hardware. flower
  // keeps one copy of a key per mask, so a skip_sw twin beside the skip_hw
  // filter would be refused with EEXIST.
  if (p.placement == offload::Placement::kHardware) k->skip_hw = false;
  return *std::move(k);
}

bool Reconciler::SameDevices(const EswitchView& next) const {
  if (view_.uplink != next.uplink) return false;
  for (const auto& [port, dev] : next.port_representors) {
    auto it = view_.port_representors.find(port);
    if (it != view_.port_representors.end() && it->second != dev) return false;
  }
  return true;
}

ReconcileReport Reconciler::Run(const policy::Snapshot& desired,
                                const policy::SlotAssignment& slots, const EswitchView& view,
                                OfferBook& offers) {
  return Run(std::make_shared<const policy::Snapshot>(desired), slots, view, offers);
}

namespace {

// `desired` without the ports that have no representor in `view` (appended
// to `absent`); `desired` itself when there are none.
std::shared_ptr<const policy::Snapshot> PresentPorts(
    std::shared_ptr<const policy::Snapshot> desired, const EswitchView& view,
    std::vector<std::string>& absent) {
  for (const auto& [id, port] : desired->ports) {
    if (!view.port_representors.contains(id)) absent.push_back(id);
  }
  if (absent.empty()) return desired;
  auto effective = std::make_shared<policy::Snapshot>(*desired);
  for (const std::string& id : absent) effective->ports.erase(id);
  return effective;
}

}  // namespace

ReconcileReport Reconciler::Run(std::shared_ptr<const policy::Snapshot> desired,
                                const policy::SlotAssignment& slots, const EswitchView& view,
                                OfferBook& offers) {
  const absl::Time start = absl::Now();
  ReconcileReport report;
  auto finish = [&]() {
    report.took = absl::Now() - start;
    return report;
  };

  // Only ports whose representor exists can be wired; the others wait.
  std::shared_ptr<const policy::Snapshot> shared_effective =
      PresentPorts(std::move(desired), view, report.absent_ports);
  if (!view.uplink) {
    report.status = absl::FailedPreconditionError("the uplink is not present; nothing installed");
    return finish();
  }
  absl::Time mark = absl::Now();
  // Adds the time since the last mark to `phase`.
  auto lap = [&mark](absl::Duration& phase) {
    const absl::Time now = absl::Now();
    phase += now - mark;
    mark = now;
  };
  absl::StatusOr<std::set<std::string>> changed = compiler_.Update(shared_effective, slots);
  bool converged_pass = false;  // the last pass converged (converged_)
  // Translations of the last pass stay valid for the filters of unchanged
  // parts while the devices they name and the ND check's state are the same.
  bool reuse = SameDevices(view) && (nd_ != nullptr && nd_->attached()) == nd_attached_;
  if (!changed.ok()) {
    placement_current_ = false;  // the compiler may hold some of the new parts
    report.status = changed.status();
    return finish();
  }
  // A set's members come from the snapshot, not from any part: with set
  // lookups a member change changes no part but the sets.
  if (!changed->empty() || (set_match_ != nullptr && *shared_effective != *effective_)) {
    placement_current_ = false;
  }
  effective_ = std::move(shared_effective);
  converged_pass = std::exchange(converged_, false);  // until this pass has written all
  lap(report.times.compile);

  // The last pass's view: what its translations resolved devices with.
  const EswitchView before_view = std::exchange(view_, view);
  devices_ = ResolverOf(view_);
  const std::set<std::string> moved = MovedDevices(before_view, view_);

  std::optional<InstalledRecord> record;  // trusted by this (first) pass
  if (installed_.audit_needed()) {
    if (first_pass_ && !record_path_.empty()) {
      absl::StatusOr<std::optional<InstalledRecord>> r = LoadTrustedRecord(report);
      if (!r.ok()) {
        report.status = r.status();
        return finish();
      }
      record = *std::move(r);
    }
    if (!record) {
      reuse = false;  // an audit compares everything, translated afresh
      if (absl::Status s = Audit(view, report); !s.ok()) {
        report.status = s;
        return finish();
      }
    }
  }
  first_pass_ = false;
  mark = absl::Now();  // the audit timed itself
  used_offers_.clear();
  transient_.clear();
  std::vector<TcOp> late_deletes;
  absl::Status qdiscs = SyncQdiscs(view, report, late_deletes);
  if (!qdiscs.ok()) report.status = qdiscs;

  block_refuses_offload_ = ProbeBlockRefusesOffload(view, offers, report);
  // The last placement: translated_ is parallel to it.
  const std::shared_ptr<const offload::PlacementResult> before = placement_;
  const bool placement_kept = PlaceFilters(before.get(), offers, report);
  SyncNdCheck(report);
  const std::optional<offload::SetMatchWant> set_match_rest = SyncSetMatch(report);
  if ((nd_ != nullptr && nd_->attached()) != nd_attached_) reuse = false;
  nd_attached_ = nd_ != nullptr && nd_->attached();
  lap(report.times.place);

  // A trusted record of the same inputs holds this pass's translations.
  const bool from_record = record && record->inputs == InputsDigest(slots, offers) &&
                           record->translated.size() == placement_->filters.size();
  if (from_record) translated_ = std::move(record->translated);
  // Only what changed is planned when the installed set holds exactly what
  // the last pass wanted and nothing invalidated its translations. A trusted
  // record of the same inputs was saved by a pass that left the kernel as it
  // wanted (SaveRecord): the installed set it restored is the wanted set, so
  // nothing changed and nothing is planned; the audit the restart leaves due
  // checks the kernel.
  const bool delta = converged_pass && !report.audited && !record && reuse;
  const bool settled = from_record && late_deletes.empty();
  WantedChange wanted;
  if (settled) {
    wanted.delta = true;
    wanted.count = static_cast<int>(installed_.filters().size());
  } else if (delta && placement_kept) {
    wanted.delta = true;  // the same filters, placed and translated the same
    wanted.count = wanted_count_;
  } else {
    wanted = Wanted(reuse || from_record, delta, from_record ? nullptr : before.get(),
                    ResolverOf(before_view), report);
  }
  if (!wanted.delta) {
    ReplaceMovedIndev(moved, wanted.want, installed_, [&](const WantedFilter& w) {
      return w.filter ? w.filter->keys.indev : KernelIndev(*placement_->filters[w.placed].filter);
    });
  }
  lap(report.times.translate);
  // Keep every answer this pass asked for (refused trap candidates too, or
  // the next pass would offer them again), and forget the rest.
  offers.Retain(used_offers_);
  report.filters = wanted.delta ? wanted.count : static_cast<int>(wanted.want.size());
  wanted_count_ = report.filters;

  FilterPlan plan = PlanWrites(wanted, report);
  if (plan.cyclic) log_.Warn("jump_cycle", {{"effect", "written in chain order"}});
  WritePlan(plan, late_deletes, report);
  if (set_match_rest) SyncSetMatchWant(*set_match_rest, set_match_translated_, report);
  if (record) {
    // Trusted, not verified: the full audit is due, soon (the agent asks).
    report.trusted_record = true;
    RequestAudit();
  } else if (!record_path_.empty() && (report.writes > 0 || report.audited || !record_on_disk_)) {
    // Not without a record: the digest hashes the whole snapshot. Only a
    // pass without errors left the kernel as it wanted: the digest then lets
    // a restart skip translating and planning (above).
    SaveRecord(report.errors == 0 ? InputsDigest(slots, offers) : kUnsettledInputs);
  }
  converged_ = report.errors == 0 && report.status.ok() && !installed_.audit_needed();
  lap(report.times.write);
  return finish();
}

bool Reconciler::ExplainsEvent(const TcEvent& event) const {
  const TcNote note = NoteOf(event);
  return ExplainsEvents({&note, 1});
}

bool Reconciler::ExplainsEvents(absl::Span<const TcNote> notes) const {
  std::vector<netlink::FilterOwner> owners = ManagedOwners(view_);
  std::sort(owners.begin(), owners.end());  // a batch can hold every filter of the block
  auto explains = [&](const TcNote& n) {
    switch (n.kind) {
      case TcNote::Kind::kIgnored:
        return true;  // the reconciler neither dumps nor writes these
      case TcNote::Kind::kUndecodable:
      case TcNote::Kind::kPrioGone:
        return false;  // not our way of deleting; what does not decode is drift too
      case TcNote::Kind::kClsact: {
        auto it = installed_.clsact().find(n.ifindex);
        if (n.deleted) return it == installed_.clsact().end();
        return it != installed_.clsact().end() && it->second == n.ingress_block;
      }
      case TcNote::Kind::kFilter:
        break;
    }
    if (!std::binary_search(owners.begin(), owners.end(), n.key.owner)) return true;
    const std::optional<InstalledEntry> entry = installed_.Find(n.key);
    // A delete of what the set no longer holds, or holds with other content
    // (a reshape: deleted and created again in one pass), was ours.
    if (n.deleted) return !entry || entry->content != n.content;
    return (entry && entry->content == n.content) || transient_.contains({n.key, n.content});
  };
  return std::all_of(notes.begin(), notes.end(), explains);
}

absl::StatusOr<policy::Pipeline> Reconciler::InstalledPipeline() const {
  absl::StatusOr<std::map<FilterKey, FlowerFilter>> have = DumpInstalled();
  if (!have.ok()) return have.status();
  policy::Pipeline out;
  out.sets = placement_->sets;
  for (const offload::PlacedFilter& p : placement_->filters) {
    if (p.filter->classifier == policy::Classifier::kNdCheck) {
      if (nd_ != nullptr && nd_->attached()) out.filters.push_back(*p.filter);
      continue;
    }
    if (p.filter->classifier == policy::Classifier::kSetMatch) {
      if (set_match_synced_) out.filters.push_back(*p.filter);
      continue;
    }
    absl::StatusOr<FlowerFilter> want =
        offload::ToKernelFilter(*p.filter, block_, Copy::kSlowPath, devices_);
    if (!want.ok()) continue;
    auto h = have->find(KeyOf(*want));
    if (h == have->end()) continue;
    FlowerFilter got = netlink::WithoutStatus(h->second);
    got.skip_hw = want->skip_hw;  // in hardware too, or not: the software path is the same
    if (got == *want) out.filters.push_back(*p.filter);
  }
  return out;
}

std::vector<bool> Reconciler::Settled() const {
  std::vector<bool> out(translated_.size(), false);
  for (size_t i = 0; i < translated_.size(); ++i) {
    if (placement_->filters[i].filter->classifier == policy::Classifier::kNdCheck) {
      out[i] = nd_ != nullptr && nd_->attached();  // the hook's program, not a written filter
      continue;
    }
    if (placement_->filters[i].filter->classifier == policy::Classifier::kSetMatch) {
      out[i] = set_match_synced_;  // written by the set-match hook, not as flower
      continue;
    }
    if (!translated_[i].valid) continue;
    if (converged_) {  // the installed set holds what the last pass wanted
      out[i] = true;
      continue;
    }
    const std::optional<FilterKey> key = KernelKey(placement_->filters[i], devices_);
    const std::optional<InstalledEntry> e = key ? installed_.Find(*key) : std::nullopt;
    out[i] = e && translated_[i].Holds(e->content);
  }
  return out;
}

absl::StatusOr<std::map<FilterKey, FlowerFilter>> Reconciler::DumpInstalled() const {
  std::map<FilterKey, FlowerFilter> out;
  for (const netlink::FilterOwner& owner : ManagedOwners(view_)) {
    absl::StatusOr<std::vector<FlowerFilter>> dumped = tc_.DumpFilters(owner);
    if (!dumped.ok()) return dumped.status();
    for (FlowerFilter& f : *dumped) {
      const FilterKey key = KeyOf(f);
      out.emplace(key, std::move(f));
    }
  }
  return out;
}

}  // namespace vfguard::agent
