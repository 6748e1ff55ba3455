// The reconciler: makes the kernel's tc state equal to what the desired
// state compiles to, with the fewest writes, in an order that never leaves a
// port unprotected.
//
// One pass (Run) is the same code for cold start, restart and steady state:
//   desired snapshot -> effective snapshot (ports whose representor is
//   present) -> pipeline IR (incremental compiler) -> placement (hardware +
//   slow path, offers answered from the offer book or by the kernel) ->
//   kernel filters (offload/tc_translate) -> diff against the installed set
//   (agent/installed_set.h: what the reconciler's own acknowledged writes
//   put in the kernel, as hashes) -> writes: qdiscs first, then creates and
//   replaces, then deletes, each in jump-graph order (agent/filter_plan.h,
//   agent/write_order.h).
//
// Cost: a pass with nothing to change dumps nothing and writes nothing; a
// change costs its own writes. CPU too, on a block that cannot offload (the
// probe says so; veth, hw-tc-offload off): only new or changed filters are
// placed (offload::PlaceWithoutHardware) and translated, and after a pass
// that converged (every write and translation succeeded, no audit pending)
// the plan compares only the keys that changed (ReconcileReport::placed,
// ::planned). What stays O(filters) per pass is linear and cheap: the
// compiler's assembly, copying the placement and the translations' merge
// walk. A block that can offload places every filter each pass (Place: its
// traps and hand-over rules are global). Only an audit dumps: the clsact qdiscs, the
// block and the egress hook of every representor in the view, compared by
// hash; drift is repaired and the installed set rebuilt from the dump. A
// pass audits when it is the first, after RequestAudit() (the agent asks on
// ENOBUFS, on a tc event its writes did not cause, and every tenth periodic
// resync), and after a write whose outcome left the installed set unsure.
// Contract: a filter or qdisc someone else changes is NOT seen by passes in
// between; it is put back by the next audit. A restart either trusts the
// installed record after a cheap check (SetRecord; the audit is then due)
// or audits once (the new process knows nothing) and, with an unchanged
// desired state, writes nothing.
//
// Offers: first a probe per device set (one skip_sw filter): a block with a
// device that cannot offload refuses it before any driver is asked, and then
// every filter gets that answer without being sent. Otherwise a filter is
// offered to the hardware once (created with skip_sw at
// its hardware handle, and deleted again if it was taken); the answer is
// kept in the offer book, which the agent checkpoints, so a restart does not
// offer again. A filter placement puts in hardware is then installed once
// without skip flags (software and hardware); every other filter skip_hw,
// and traps skip_sw.
//
// Set lookups (SetSetMatch; docs/performance.md, "Remote groups"): a rule
// whose remote is a group or an address group compiles to kSetMatch filters
// (cls_bpf, never offered to the hardware) whose members live in BPF maps.
// Each pass hands them and the sets to the hook before any flower write, so
// a set's maps and filters are complete before a goto to their chain is
// written; a filter it deletes there was an allow that is going anyway (it
// only narrows what passes until the flower writes catch up).
#ifndef VFGUARD_AGENT_RECONCILER_H_
#define VFGUARD_AGENT_RECONCILER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/checkpoint.h"
#include "agent/filter_plan.h"
#include "agent/installed_record.h"
#include "agent/installed_set.h"
#include "agent/nd_check_hook.h"
#include "agent/set_match_hook.h"
#include "agent/tc_backend.h"
#include "agent/tc_event.h"
#include "common/log.h"
#include "offload/placement.h"
#include "offload/tc_translate.h"
#include "policy/compiler.h"
#include "policy/model.h"
#include "policy/slots.h"

namespace vfguard::agent {

// The eswitch as it is right now: the uplink and the representors of the
// desired ports that exist.
struct EswitchView {
  std::optional<offload::Netdev> uplink;
  std::map<std::string, offload::Netdev> port_representors;  // port id -> netdev
};

// Offer answers by filter key (the hardware copy's description):
// error_number 0 = the hardware took it.
class OfferBook {
 public:
  OfferBook() = default;
  explicit OfferBook(const std::vector<HardwareRejection>& entries);
  std::vector<HardwareRejection> Entries() const;
  const HardwareRejection* Find(const std::string& key) const;
  void Record(HardwareRejection entry) { entries_[entry.filter_key] = std::move(entry); }
  // Drops answers for keys not in `live` (filters that no longer exist).
  void Retain(const std::set<std::string>& live);

 private:
  std::map<std::string, HardwareRejection> entries_;
};

struct ReconcileReport {
  absl::Status status;   // first error, if any (the pass still did what it could)
  bool audited = false;  // dumped and compared the kernel's state (see above)
  int dumps = 0;         // dump requests made (audits only)
  int writes = 0;        // kernel writes, offers included (set-match filters apart)
  int errors = 0;        // writes that failed
  int offers = 0;        // filters offered to the hardware in this pass
  int translated = 0;    // filters translated (and hashed) in this pass; the others were known
  // Filters translated again to be written: a whole pass keeps no
  // translation but its traps' (Reconciler::WritePlan).
  int translated_to_send = 0;
  // Filters placed afresh in this pass (the others kept their placement
  // from the last pass), and wanted filters the plan compared against the
  // installed set (an incremental pass: only those of the prios it touched).
  int placed = 0;
  int planned = 0;
  int filters = 0;                        // filters in the block after the pass (desired)
  std::vector<std::string> absent_ports;  // desired ports without a representor
  uint64_t nd_map_writes = 0;             // ND check map writes/deletes (not tc writes)
  // The set-match hook's cls_bpf filter writes (creates, replaces, deletes:
  // tc writes, counted apart because each process loads its own program and
  // rewrites them once) and its map writes (a member change is one).
  int set_filter_writes = 0;
  uint64_t set_map_writes = 0;
  // The first pass trusted the persisted record (SetRecord) instead of a
  // full audit; the audit is then due (audit_due()) for the agent to run soon.
  bool trusted_record = false;
  absl::Duration took;
  // Where `took` went (agent_bench prints it): the incremental compiler and
  // assembling the IR; the audit's dumps (netlink receive and decode) and
  // rebuilding the installed set from them (hashing); qdiscs, probe, offers,
  // placement and the ND check; translation and hashing of the wanted
  // filters; planning and the writes.
  struct Times {
    absl::Duration compile, audit_dump, audit_hash, place, translate, write;
  } times;
};

class Reconciler {
 public:
  Reconciler(TcBackend& tc, common::Logger& log, uint32_t block_index);

  // The most filter ops a pass hands the backend at once (WritePlan): ~0.5
  // MB of TcOps and their actions, a few percent of a 250-port pass's
  // filters; each chunk waits for its acks, so fewer, larger chunks keep
  // both write lanes busier (docs/performance.md, "A pass holds one chunk
  // of kernel filters").
  static constexpr size_t kWriteChunk = 1024;

  // The ND check (semantics §3.3) in the kernel; null (the default) when BPF
  // is unavailable. Each pass syncs it (attach once, map = the pipeline's ND
  // entries) before writing filters. Until it is attached, the ND chain's
  // per-port filters are left out, so NS/NA of secured ports reach no
  // filter there and are dropped: fail closed, never unchecked.
  void SetNdCheck(NdCheckHook* nd) { nd_ = nd; }
  // Set lookups in the kernel (see above); null (the default) compiles those
  // rules to flower filters, one per member prefix. Call before the first
  // pass: it starts the compiler afresh with CompileOptions::set_lookups.
  void SetSetMatch(SetMatchHook* hook);
  bool set_lookups() const { return set_match_ != nullptr; }

  // One pass toward `desired` over the devices of `view` (ports without a
  // representor there wait: ReconcileReport::absent_ports).
  ReconcileReport Run(const policy::Snapshot& desired, const policy::SlotAssignment& slots,
                      const EswitchView& view, OfferBook& offers);
  // The same without copying `desired` when every port's representor is
  // present: it becomes effective() as it is, shared with the caller (the
  // daemon's reactor holds the same immutable snapshot). A copy is made
  // only to leave absent ports out. `desired` must not be null.
  ReconcileReport Run(std::shared_ptr<const policy::Snapshot> desired,
                      const policy::SlotAssignment& slots, const EswitchView& view,
                      OfferBook& offers);

  // Keeps the persisted record of what is installed at `path`
  // (agent/installed_record.h): written after a pass that wrote or audited
  // while no audit is due, removed before any write and when an audit is
  // requested. The first pass loads it and, if the kernel agrees (the clsact
  // qdiscs bound to the block, and chain 0 of the block by content hash),
  // takes the installed set from it instead of dumping everything, and its
  // translations too when the pass's inputs have the record's digest; the
  // full audit is then due. A record written under another `identity` is
  // not trusted (the agent passes its binary and the boot). Empty `path`:
  // no record, the first pass audits.
  void SetRecord(std::string path, std::string identity);

  // Makes the next pass an audit (see above).
  void RequestAudit();
  bool audit_due() const { return installed_.audit_needed(); }

  // True when `event` is what the reconciler's own writes of the last pass
  // caused (a created or replaced filter whose hash the installed set holds,
  // a deleted filter it does not hold or holds with other content (a
  // reshape), an offer it made and took back, a
  // clsact it created or removed), or concerns nothing the reconciler
  // manages (another classifier, another block or device, other objects).
  // Anything else is drift, for the agent to audit.
  bool ExplainsEvent(const TcEvent& event) const;
  // The same for a batch of compact notes (agent/tc_note_queue.h): true
  // when every one is explained.
  bool ExplainsEvents(absl::Span<const TcNote> notes) const;

  // Of the last pass: the ports that were compiled, the IR and its placement.
  // The shared forms are immutable: the agent hands them to the reactor
  // while the next pass builds new ones.
  const policy::Snapshot& effective() const { return *effective_; }
  // The IR (a copy: the reconciler's placement refers to the compiler's).
  policy::Pipeline pipeline() const { return placement_->SlowPathPipeline(); }
  const offload::PlacementResult& placement() const { return *placement_; }
  std::shared_ptr<const policy::Snapshot> shared_effective() const { return effective_; }
  std::shared_ptr<const offload::PlacementResult> shared_placement() const { return placement_; }
  const EswitchView& view() const { return view_; }
  uint32_t block_index() const { return block_; }
  // Per filter of placement().filters: whether the kernel holds its slow-path
  // copy exactly as translated, as far as the reconciler's own acknowledged
  // writes tell (the installed set; drift shows after the next audit).
  std::vector<bool> Settled() const;

  // The filters the reconciler manages (the block, the egress hooks of the
  // representors of the last pass) as the kernel holds them now, by key,
  // with counters. A dump: for queries, not passes.
  absl::StatusOr<std::map<FilterKey, netlink::FlowerFilter>> DumpInstalled() const;
  // The IR filters of the last pass that the kernel holds exactly as
  // translated (a failed or lost write leaves its filter out), for tracing
  // what the kernel will really do.
  absl::StatusOr<policy::Pipeline> InstalledPipeline() const;

 private:
  absl::Status Audit(const EswitchView& view, ReconcileReport& report);
  // The first pass with a record: whether the kernel agrees with it (clsact
  // qdiscs bound to the block, chain 0 of the block); if so the installed
  // set is restored from it (its filters moved out). A failed dump is an error.
  absl::StatusOr<bool> TrustRecord(InstalledRecord& record, ReconcileReport& report);
  // Loads the record and TrustRecord; nullopt when there is none or the
  // kernel disagrees (then the pass audits).
  absl::StatusOr<std::optional<InstalledRecord>> LoadTrustedRecord(ReconcileReport& report);
  // Digest of what the pass's pipeline and translations are computed from.
  // A record saved by a pass with errors carries kUnsettledInputs instead,
  // which no digest is taken to be: its translations are not reused.
  static constexpr uint64_t kUnsettledInputs = 0;
  uint64_t InputsDigest(const policy::SlotAssignment& slots, const OfferBook& offers) const;
  // Writes the record (when enabled and the set is known); logs a failure.
  void SaveRecord(uint64_t inputs);
  void DropRecord();
  absl::Status SyncQdiscs(const EswitchView& view, ReconcileReport& report,
                          std::vector<TcOp>& late_deletes);
  // Places the compiler's filters (placement_); true when the last
  // placement (`before`) was kept whole: no part changed on a block that
  // refuses offload.
  bool PlaceFilters(const offload::PlacementResult* before, OfferBook& offers,
                    ReconcileReport& report);
  // What a pass wants: every filter, or (`delta`) what changed since the
  // last pass.
  struct WantedChange {
    bool delta = false;
    WantedFilters want;  // all wanted filters; delta: those translated in this pass
    // delta: keys the last pass wanted that this one does not want as they were
    std::vector<FilterKey> gone;
    int count = 0;  // filters wanted in all
  };
  // The filters of the pass: translated when `reuse` is false, when the
  // placed filter is not the object the last pass placed at that IR key
  // (`before`, the last placement; null: trust the IR key, as for the
  // installed record's translations), or when their placement changed; the
  // others are taken from the last pass (translated_). `delta` (with
  // `reuse`): only what changed is listed; the keys of what is gone are
  // rebuilt with `before_devices` (the last pass's view), as translated.
  WantedChange Wanted(bool reuse, bool delta, const offload::PlacementResult* before,
                      const offload::DeviceResolver& before_devices, ReconcileReport& report);
  // A filter of the whole set wanted (not a delta) whose last translation
  // `t` is reused: wanted (as filter `i` of the placement) with the
  // installed set's entry at its kernel key when that entry holds `t`'s
  // content (its shape and jump are then the translation's, which `t` does
  // not keep); false when there is none or it differs (a filter the last
  // pass did not write, a trusted record that disagrees outside chain 0):
  // the filter has to be written, so the caller translates it, and every
  // filter the plan writes carries the jump of a fresh translation.
  bool WantInstalled(const offload::PlacedFilter& p, size_t i, const TranslatedFilter& t,
                     WantedFilters& want) const;
  // The writes of an incremental pass: the plan over what changed
  // (`wanted`, a delta), the installed set standing for the rest of what is
  // wanted (it holds exactly what the last pass wanted: converged_).
  FilterPlan PlanChange(WantedChange& wanted, ReconcileReport& report);
  // The plan of a pass: PlanChange for a delta, else the whole plan.
  FilterPlan PlanWrites(WantedChange& wanted, ReconcileReport& report);
  // The op a planned write sends: a kept translation (moved out of the
  // plan's `want`), or the placed filter translated now; nullopt when it
  // does not translate (counted and logged by Translate).
  std::optional<TcOp> Materialize(const PlannedWrite& w, ReconcileReport& report) const;
  // Sends the plan, then `late_deletes`, in order, in chunks of
  // kWriteChunk ops, each made just before it is sent and recorded when
  // answered: a pass holds one chunk of kernel filters, not the whole
  // block's (a multi-MB transient a thread's malloc arena keeps). The kernel
  // sees the same writes in the same order; only the batches are smaller.
  void WritePlan(const FilterPlan& plan, const std::vector<TcOp>& late_deletes,
                 ReconcileReport& report);
  // The device name a placed filter's kernel copy matches as indev
  // (FlowerKeys::indev), resolved under this pass's view.
  std::optional<std::string> KernelIndev(const policy::Filter& f) const;
  // The block-wide refusal (the probe's answer) as the offers give it.
  static absl::Status BlockWideAnswer();
  // The slow-path (or hardware-and-software) kernel filter of a placed filter; counted.
  // The key of a placed filter's slow-path copy without translating it
  // (offload::KernelIdentity), its devices resolved by `devices`; nullopt
  // when one does not resolve.
  std::optional<FilterKey> KernelKey(const offload::PlacedFilter& p,
                                     const offload::DeviceResolver& devices) const;
  // `again`: a filter this pass translated before, counted in
  // translated_to_send instead of translated.
  std::optional<netlink::FlowerFilter> Translate(const offload::PlacedFilter& p,
                                                 ReconcileReport& report, bool again = false) const;
  // Whether every device of the last pass that `next` still has resolves the same.
  bool SameDevices(const EswitchView& next) const;
  // The ND check's map from the pipeline, written (and the program attached)
  // before the filters of the pass.
  void SyncNdCheck(ReconcileReport& report);
  // The set-match hook's filters and maps from the placement, synced before
  // the flower writes of the pass, except filters whose (owner, chain, prio)
  // still holds flower filters, or set-match filters of another protocol
  // (tc keeps one classifier kind and protocol per prio; a stage that
  // moved): then the whole want is returned, to sync after the flower
  // writes (and the first sync's deletes) have cleared those prios.
  std::optional<offload::SetMatchWant> SyncSetMatch(ReconcileReport& report);
  // Syncs the hook to `want`; `complete`: `want` lacks nothing of the pass.
  void SyncSetMatchWant(const offload::SetMatchWant& want, bool complete, ReconcileReport& report);
  // A filter of the pipeline the reconciler installs as flower (not the ND
  // check itself, nor the ND chain's port filters while it is not attached).
  bool InstallsAsFlower(const policy::Filter& f) const;
  // Updates the installed set from the answers to `ops`; counts and logs
  // failures. With `changes`, the filters' changes are added there (for
  // InstalledSet::Apply) instead of made to the set.
  void RecordResults(const std::vector<TcOp>& ops, const std::vector<absl::Status>& results,
                     ReconcileReport& report, std::vector<InstalledChange>* changes = nullptr);
  // Takes back offers (deletes), remembering them for ExplainsEvent.
  void Undo(const std::vector<TcOp>& deletes, ReconcileReport& report);
  // The block and the egress hooks of the representors in `view`.
  std::vector<netlink::FilterOwner> ManagedOwners(const EswitchView& view) const;
  offload::OfferFn MakeOffer(const offload::DeviceResolver& devices, OfferBook& offers,
                             ReconcileReport& report);
  void PreOffer(const policy::SharedPipeline& pipeline, const offload::DeviceResolver& devices,
                OfferBook& offers, ReconcileReport& report);
  bool ProbeBlockRefusesOffload(const EswitchView& view, OfferBook& offers,
                                ReconcileReport& report);
  std::vector<absl::Status> ApplyCounted(const std::vector<TcOp>& ops, ReconcileReport& report);

  TcBackend& tc_;
  common::Logger& log_;
  uint32_t block_;
  policy::IncrementalCompiler compiler_;
  std::shared_ptr<const policy::Snapshot> effective_ = std::make_shared<policy::Snapshot>();
  NdCheckHook* nd_ = nullptr;
  SetMatchHook* set_match_ = nullptr;
  bool set_match_translated_ = false;  // every set-match filter of the pass translated
  bool set_match_synced_ = false;
  // (owner, chain, prio) -> protocol of the set-match filters last synced.
  std::map<std::tuple<netlink::FilterOwner, uint32_t, uint16_t>, uint16_t>
      set_match_prios_;              // the last pass's hook sync wrote everything it wanted
  EswitchView view_;                 // of the last pass
  offload::DeviceResolver devices_;  // resolves through view_
  std::shared_ptr<const offload::PlacementResult> placement_ =
      std::make_shared<offload::PlacementResult>();
  // Per placement_.filters entry (same order): the hashes of its kernel
  // filter as translated by the last pass, so unchanged filters are not
  // translated again, and Settled() can tell without translating. Its IR
  // key comes from the placement it was made for, its kernel key from
  // KernelKey, its shape and jump from the installed set (WantInstalled):
  // 8 bytes per filter instead of ~64.
  using Translated = TranslatedFilter;  // agent/installed_record.h
  std::vector<Translated> translated_;
  std::string record_path_;      // empty: no record
  std::string record_identity_;  // the agent binary's, for InputsDigest
  bool record_on_disk_ = false;  // a record of the current installed set is on disk
  bool first_pass_ = true;
  bool nd_attached_ = false;  // the ND check's state at the last pass
  InstalledSet installed_;
  // Offers of the last pass (created and taken back): key and content hash.
  std::set<std::pair<FilterKey, uint64_t>> transient_;
  std::set<std::string> used_offers_;   // offer keys asked for in this pass
  bool block_refuses_offload_ = false;  // the probe says: nothing can be offloaded
  // placement_ came from PlaceWithoutHardware (the block refused offload).
  bool placed_without_hw_ = false;
  // placement_ places the compiler's parts and sets as they are: no part
  // changed since (a pass that failed after compiling leaves it false), and
  // with set lookups, no snapshot change either (a set's members come from
  // the snapshot, not from any part).
  bool placement_current_ = false;
  // The installed set holds exactly what the last pass wanted (every write
  // and translation of it succeeded, no audit or record load pending): the
  // next pass may plan only what changed (PlanChange).
  bool converged_ = false;
  std::map<FilterKey, InstalledEntry> trap_entries_;  // the traps the last pass wanted
  int wanted_count_ = 0;                              // filters the last pass wanted
};

// The key under which an offer's answer is kept.
std::string OfferKey(const netlink::FlowerFilter& hardware_copy);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_RECONCILER_H_
