#include "agent/agent.h"

#include <linux/rtnetlink.h>
#include <sys/stat.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/conntrack_revoker.h"
#include "agent/policy_codec.h"
#include "boost/asio/post.hpp"
#include "common/file_io.h"

namespace vfguard::agent {
namespace {

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

constexpr absl::Duration kResyncPeriod = absl::Seconds(60);
// Every tenth periodic resync (~10 min) is an audit: a full dump + compare
// that finds changes made behind the agent's back which raised no event (or
// whose events were lost without ENOBUFS). Passes in between cost only
// their own writes (agent/reconciler.h).
constexpr uint64_t kAuditEveryResyncs = 10;
constexpr size_t kTrimAfterNotes = 1000;
// A counter refresh dumps the whole block (~0.5 KB per decoded filter,
// freed when counted): from this many filters on, the worker trims after it.
constexpr size_t kTrimAfterDumpedFilters = 1000;
constexpr absl::Duration kFilePollPeriod = absl::Seconds(1);
constexpr absl::Duration kMaxRetryDelay = absl::Seconds(30);

// "a+b+c", at most kShownReasons of them (250 representors appearing at
// once are one pass, and one readable log line).
std::string JoinReasons(const std::set<std::string>& reasons) {
  constexpr size_t kShownReasons = 6;
  if (reasons.empty()) return "again";
  std::vector<std::string> shown;
  for (const std::string& r : reasons) {
    if (shown.size() == kShownReasons) break;
    shown.push_back(r);
  }
  std::string out = absl::StrJoin(shown, "+");
  if (reasons.size() > kShownReasons) {
    absl::StrAppend(&out, "+", reasons.size() - kShownReasons, "_more");
  }
  return out;
}

// Tells this agent binary and boot from others: the installed record is
// trusted only by the process kind that wrote it, in the same boot (the
// kernel's tc state does not survive a reboot).
std::string WriterIdentity() {
  std::string boot = "unknown";
  if (absl::StatusOr<std::string> id = common::ReadFile("/proc/sys/kernel/random/boot_id");
      id.ok()) {
    boot = *id;
  }
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) return "unknown";
  return absl::StrCat(boot, st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

// The full audit after a restart that trusted the installed record.
constexpr absl::Duration kAuditAfterTrustedRestart = absl::Seconds(10);

template <typename T>
T* Must(absl::StatusOr<T*> family) {
  // The names below are literals checked by tests; a failure is a bug.
  return family.ok() ? *family : nullptr;
}

}  // namespace

Agent::Agent(boost::asio::io_context& io, AgentConfig config, common::Logger& log,
             std::unique_ptr<DesiredState> desired, TcBackend& tc, CtBackend* ct,
             common::metrics::Registry& metrics)
    : io_(io),
      config_(std::move(config)),
      log_(log),
      desired_(std::move(desired)),
      tc_(tc),
      shared_ct_(ct ? std::make_unique<SerializedCtBackend>(*ct) : nullptr),
      ct_(shared_ct_.get()),
      metrics_(metrics),
      reconciler_(tc, log, config_.block_index),
      offers_(desired_->offers()),
      reconcile_timer_(io),
      resync_timer_(io),
      file_timer_(io) {
  reconciler_.SetRecord(config_.InstalledRecordPath(), WriterIdentity());
  m_.ports = Must(metrics_.AddGauge("vfguard_ports", "Desired ports by state.", {"state"}));
  m_.rules = Must(metrics_.AddGauge(
      "vfguard_rules", "Installed pipeline filters by placement (hw, sw, trap).", {"placement"}));
  m_.hw_rejections = Must(metrics_.AddGauge(
      "vfguard_hw_rejections", "Filters the hardware refused, by errno name.", {"reason"}));
  m_.reconciles =
      Must(metrics_.AddCounter("vfguard_reconcile_total", "Reconcile passes.", {"result"}));
  m_.reconcile_seconds = Must(metrics_.AddHistogram("vfguard_reconcile_duration_seconds",
                                                    "Duration of reconcile passes.", {}));
  m_.tc_writes = Must(metrics_.AddCounter("vfguard_tc_writes_total",
                                          "tc netlink writes (filters, qdiscs, offers).", {}));
  m_.netlink_errors = Must(metrics_.AddCounter("vfguard_netlink_errors_total",
                                               "tc netlink writes the kernel refused.", {}));
  m_.resyncs = Must(metrics_.AddCounter(
      "vfguard_resyncs_total", "Full resyncs after the kernel dropped events (ENOBUFS).", {}));
  m_.port_drops = Must(metrics_.AddCounter(
      "vfguard_port_dropped_packets_total",
      "Packets dropped by a port's default-drop and port-security rules (slow path + hw).",
      {"port"}));
  m_.conntrack = Must(metrics_.AddGauge("vfguard_conntrack_entries",
                                        "Conntrack entries per port zone.", {"zone", "port"}));
  m_.ct_revoked = Must(metrics_.AddCounter(
      "vfguard_conntrack_revoked_total",
      "Conntrack entries deleted because the desired state no longer allows them.", {}));
  m_.build_info = Must(metrics_.AddGauge("vfguard_build_info", "Build information.", {"version"}));
  if (m_.build_info) m_.build_info->Set({kAgentVersion}, 1);
}

Agent::~Agent() = default;

absl::Status Agent::Start() {
  Monitors m;
  absl::StatusOr<std::unique_ptr<netlink::LinkMonitor>> links = netlink::LinkMonitor::Start(
      io_, [this](netlink::LinkChange c, const netlink::Link& l) { OnLinkChange(c, l); });
  if (!links.ok()) {
    return absl::Status(links.status().code(),
                        absl::StrCat("link monitor: ", links.status().message()));
  }
  m.links = *std::move(links);

  absl::StatusOr<std::unique_ptr<netlink::NetlinkSocket>> tc_events =
      netlink::NetlinkSocket::Open(io_, NETLINK_ROUTE);
  if (!tc_events.ok()) return tc_events.status();
  if (absl::Status s = (*tc_events)->Subscribe(RTNLGRP_TC); !s.ok()) return s;
  m.tc_events = *std::move(tc_events);

  absl::StatusOr<std::unique_ptr<ActivationHook>> hook =
      ActivationHook::Create(io_, config_.block_index, log_,
                             [this](const std::string& port, const offload::ActivationEvent& e) {
                               OnActivation(port, e);
                             });
  if (hook.ok()) {
    m.activation = *std::move(hook);
  } else {
    log_.Warn(
        "activation_hook_unavailable",
        {{"status", hook.status()}, {"effect", "pending ports activate through the API only"}});
  }
  // The ND check's program is loaded on the worker (the verifier takes a
  // while under emulation), as its first job, so before the first pass.
  worker_->Post([this] {
    absl::StatusOr<std::unique_ptr<KernelNdCheckHook>> nd =
        KernelNdCheckHook::Create(config_.block_index, log_);
    if (!nd.ok()) {
      log_.Error("nd_check_unavailable",
                 {{"status", nd.status()},
                  {"effect", "NS/NA from ports with port security are dropped (fail closed)"}});
      return;
    }
    nd_check_ = *std::move(nd);
    reconciler_.SetNdCheck(nd_check_.get());
  });
  m.set_match = [this]() -> absl::StatusOr<std::unique_ptr<SetMatchHook>> {
    absl::StatusOr<std::unique_ptr<KernelSetMatchHook>> hook = KernelSetMatchHook::Create(log_);
    if (!hook.ok()) return hook.status();
    return std::unique_ptr<SetMatchHook>(*std::move(hook));
  };
  return Start(std::move(m));
}

absl::Status Agent::Start(Monitors monitors) {
  if (!monitors.links) return absl::InvalidArgumentError("Agent::Start: no link source");
  links_ = std::move(monitors.links);
  links_->SetResyncHandler([this](const absl::Status& s) {
    ++resyncs_;
    if (m_.resyncs) m_.resyncs->Inc();
    log_.Warn("link_resync", {{"status", s}});
    ScheduleReconcile("link_resync");
  });
  tc_events_ = std::move(monitors.tc_events);
  if (tc_events_) {
    tc_events_->SetEventHandler([this](const nlmsghdr& h) { OnTcEvent(h); });
    tc_events_->SetResyncHandler([this] {
      ++resyncs_;
      if (m_.resyncs) m_.resyncs->Inc();
      log_.Warn("tc_events_lost", {{"action", "audit"}});
      worker_->Post([this] { reconciler_.RequestAudit(); });
      ScheduleReconcile("enobufs");
    });
  }
  activation_ = std::move(monitors.activation);
  if (monitors.nd_check) {  // injected (tests): set before the worker's first pass
    nd_check_ = std::move(monitors.nd_check);
    reconciler_.SetNdCheck(nd_check_.get());
  }
  if (monitors.set_match) {
    // Loaded on the worker (the verifier is slow under emulation), before
    // the first pass: the compiler's mode is chosen once.
    worker_->Post([this, create = std::move(monitors.set_match)] { UseSetMatch(create()); });
  }
  ScheduleReconcile("start", absl::ZeroDuration());
  ArmResync();
  ArmFileWatch();
  return absl::OkStatus();
}

void Agent::UseSetMatch(absl::StatusOr<std::unique_ptr<SetMatchHook>> hook) {
  if (!hook.ok() || *hook == nullptr) {
    log_.Warn("set_match_unavailable",
              {{"status", hook.ok() ? absl::InternalError("no hook") : hook.status()},
               {"effect",
                "rules whose remote is a group or address group compile to flower filters, "
                "one per member prefix and port (the same semantics, more filter writes)"}});
    return;
  }
  set_match_ = *std::move(hook);
  reconciler_.SetSetMatch(set_match_.get());
  log_.Info("set_lookups", {{"mode", "set"}});
}

void Agent::OnLinkChange(netlink::LinkChange change, const netlink::Link& link) {
  log_.Debug("link", {{"change", netlink::ToString(change)},
                      {"dev", link.name},
                      {"ifindex", link.ifindex},
                      {"phys_port_name", link.phys_port_name}});
  if (change == netlink::LinkChange::kUp || change == netlink::LinkChange::kDown) return;
  ScheduleReconcile(absl::StrCat("link_", netlink::ToString(change), ":", link.name));
}

void Agent::OnTcEvent(const nlmsghdr& h) {
  switch (h.nlmsg_type) {
    case RTM_DELTFILTER:
    case RTM_NEWTFILTER:
    case RTM_DELQDISC:
    case RTM_NEWQDISC:
      break;
    default:
      return;
  }
  // Our own writes come back here too: those the reconciler recognises cost
  // nothing. Anything else (someone else's change, or what does not decode)
  // is drift only a dump can size up, so the pass it schedules audits.
  // The reconciler (on the worker) judges it after the pass whose writes
  // may have caused it, in a batch of compact notes (agent/tc_note_queue.h).
  absl::StatusOr<TcEvent> event =
      DecodeTcEvent({reinterpret_cast<const uint8_t*>(&h), h.nlmsg_len});
  TcNote note;  // kUndecodable
  if (event.ok()) {
    note = NoteOf(*event);
  } else {
    log_.Debug("tc_event_undecodable", {{"status", event.status()}});
  }
  if (note.kind == TcNote::Kind::kIgnored) return;  // explained whatever the state
  if (tc_notes_.Push(note)) worker_->Post([this] { JudgeTcNotes(); });
}

void Agent::JudgeTcNotes() {
  const std::vector<TcNote> notes = tc_notes_.Take();
  // A pass's own notifications can outlast the trim after it (the reactor
  // decodes them as fast as it can, in its own arena): a large batch trims
  // again once the worker is idle.
  if (notes.size() >= kTrimAfterNotes) worker_->TrimWhenIdle();
  if (reconciler_.ExplainsEvents(notes)) return;
  reconciler_.RequestAudit();
  ToReactor([this] { ScheduleReconcile("tc_event", absl::Milliseconds(200)); });
}

void Agent::ToReactor(std::function<void()> fn) const {
  boost::asio::post(io_, [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (alive.lock()) fn();
  });
}

void Agent::ArmResync() {
  resync_timer_.expires_after(ToChrono(kResyncPeriod));
  resync_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (++periodic_resyncs_ % kAuditEveryResyncs == 0) {
      worker_->Post([this] { reconciler_.RequestAudit(); });
    }
    ScheduleReconcile("periodic");
    ArmResync();
  });
}

void Agent::ArmFileWatch() {
  if (config_.policy_file.empty()) return;
  file_timer_.expires_after(ToChrono(kFilePollPeriod));
  file_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    struct stat st {};
    FileStamp now;
    if (::stat(config_.policy_file.c_str(), &st) == 0) {
      now = {int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, true, st.st_size,
             st.st_ino};
    }
    // A file that goes away and comes back differs from "missing" too, so it
    // is read again when it returns.
    if (file_polled_ && now.exists && !(now == file_stamp_)) ReloadPolicyFile("file changed");
    file_stamp_ = now;
    file_polled_ = true;
    ArmFileWatch();
  });
}

void Agent::ReloadPolicyFile(const std::string& why) {
  absl::StatusOr<bool> changed = desired_->ReloadPolicyFile();
  if (!changed.ok()) {
    log_.Error("policy_rejected", {{"why", why}, {"status", changed.status()}});
    Publish("policy_rejected", {{"why", why}, {"error", std::string(changed.status().message())}});
    return;
  }
  log_.Info("policy_reloaded", {{"why", why}, {"changed", *changed}});
  if (*changed) {
    Publish("policy_changed", {{"source", "file"}, {"why", why}});
    ScheduleReconcile("policy_file");
  }
}

void Agent::ScheduleReconcile(const std::string& reason, absl::Duration delay) {
  queued_reasons_.insert(reason);
  const auto due = std::chrono::steady_clock::now() + ToChrono(delay);
  if (timer_armed_ && timer_due_ <= due) return;
  timer_armed_ = true;
  timer_due_ = due;
  reconcile_timer_.expires_at(due);  // cancels an earlier wait, if any
  reconcile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    timer_armed_ = false;
    StartPass();
  });
}

void Agent::StartPass() {
  if (pass_running_) {
    pass_again_ = true;
    return;
  }
  PassInput in;
  in.seq = next_pass_seq_++;
  in.reason = JoinReasons(queued_reasons_);
  queued_reasons_.clear();
  in.desired = desired_->snapshot();
  in.slots = desired_->slots();
  ResolvedEswitch eswitch = ResolveEswitch(config_.eswitch, *in.desired, links_->links());
  for (const auto& [port, name] : eswitch.missing) {
    if (!missing_representors_.contains(port)) {
      log_.Warn("representor_missing", {{"port", port}, {"dev", name.empty() ? "?" : name}});
    }
  }
  missing_representors_ = eswitch.missing;
  in.eswitch = std::move(eswitch.view);
  pass_running_ = true;
  worker_->Post([this, in = std::move(in)] {
    PassOutcome out = RunPass(in);
    ToReactor([this, out = std::move(out)]() mutable { FinishPass(std::move(out)); });
  });
}

Agent::PassOutcome Agent::RunPass(const PassInput& in) {
  PassOutcome out;
  out.seq = in.seq;
  out.reason = in.reason;
  out.report = reconciler_.Run(in.desired, in.slots, in.eswitch, offers_);
  // A pass allocates transiently in proportion to what it touched (dumps,
  // translations, batches, and the tc notifications of its writes, queued
  // behind it); glibc keeps freed heap pages mapped, so without this the
  // daemon's RSS would stay at the peak of its largest pass.
  worker_->TrimWhenIdle();
  auto view = std::make_shared<PassView>();
  view->effective = reconciler_.shared_effective();
  view->placement = reconciler_.shared_placement();
  view->settled = reconciler_.Settled();
  view->eswitch = reconciler_.view();
  view->block = reconciler_.block_index();
  if (out.report.status.ok()) view->installed_desired = in.desired;
  out.view = std::move(view);
  out.offers = offers_.Entries();
  if (out.report.status.ok()) {
    // On the first pass the old state is empty, so every zone is judged once
    // (revocations a crash interrupted are finished). A failed revocation
    // keeps the old state, so a later pass retries it (deleting is idempotent).
    static const policy::Snapshot kNothing;
    bool revoked = true;
    if (!reconciled_ || *reconciled_ != *in.desired) {
      revoked = reconciled_ ? RevokeConntrack(*reconciled_, reconciled_slots_, in, out)
                            : RevokeConntrack(kNothing, {}, in, out);
    }
    if (revoked) {
      reconciled_ = in.desired;
      reconciled_slots_ = in.slots;
    }
  }
  return out;
}

void Agent::FinishPass(PassOutcome out) {
  pass_running_ = false;
  const ReconcileReport& r = out.report;
  view_ = std::move(out.view);
  SyncActivation(*view_);
  ++reconciles_;
  last_report_ = r;
  last_reconcile_ = absl::Now();
  if (m_.reconciles) m_.reconciles->Inc({r.status.ok() ? "ok" : "error"});
  if (m_.reconcile_seconds) m_.reconcile_seconds->Observe({}, absl::ToDoubleSeconds(r.took));
  if (m_.tc_writes) m_.tc_writes->Add({}, r.writes + r.set_filter_writes);
  if (m_.netlink_errors) m_.netlink_errors->Add({}, r.errors);
  if (m_.ct_revoked) m_.ct_revoked->Add({}, out.ct_revoked);
  if (absl::Status s = desired_->SetOffers(std::move(out.offers)); !s.ok()) {
    log_.Error("checkpoint_failed", {{"status", s}});
  }
  log_.Info("reconciled", {{"reason", out.reason},
                           {"audited", r.audited},
                           {"trusted_record", r.trusted_record},
                           {"dumps", r.dumps},
                           {"writes", r.writes},
                           {"errors", r.errors},
                           {"offers", r.offers},
                           {"set_filter_writes", r.set_filter_writes},
                           {"set_map_writes", r.set_map_writes},
                           {"filters", r.filters},
                           {"absent_ports", r.absent_ports.size()},
                           {"took_ms", absl::ToDoubleMilliseconds(r.took)},
                           {"status", r.status}});
  for (Event& e : out.events) Publish(e.kind, std::move(e.fields));
  // The record is checked only in part at start; the reconciler has made
  // the audit due, and this pass makes sure it runs soon.
  if (r.trusted_record) ScheduleReconcile("audit_after_restart", kAuditAfterTrustedRestart);
  if (r.writes > 0 || !r.status.ok()) {
    Publish("reconciled", {{"reason", out.reason},
                           {"writes", absl::StrCat(r.writes)},
                           {"errors", absl::StrCat(r.errors)},
                           {"status", r.status.ToString()}});
  }
  if (!r.status.ok()) {
    // Retried with backoff; a change that arrives meanwhile still goes at
    // once (ScheduleReconcile keeps the earlier time).
    ScheduleReconcile("retry", retry_delay_);
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetryDelay);
  } else {
    retry_delay_ = absl::Seconds(1);
    if (!ready_) {
      ready_ = true;
      if (on_ready_) on_ready_();
    }
  }
  if (pass_again_) {
    pass_again_ = false;
    StartPass();
  }
}

void Agent::RefreshCounters() const {
  if (counters_in_flight_ || absl::Now() - counters_->taken < kCounterMaxAge) return;
  counters_in_flight_ = true;
  std::set<uint16_t> zones;
  for (const auto& [port, zone] : desired_->slots().port_zone) zones.insert(zone);
  worker_->Post([this, zones = std::move(zones)]() mutable {
    auto fresh = std::make_shared<const CounterView>(ReadCounters(std::move(zones)));
    ToReactor([this, fresh = std::move(fresh)] {
      counters_in_flight_ = false;
      counters_ = fresh;
    });
  });
}

CounterView Agent::ReadCounters(std::set<uint16_t> zones) const {
  CounterView c;
  c.taken = absl::Now();
  absl::StatusOr<std::vector<netlink::FlowerFilter>> block =
      tc_.DumpFilters(netlink::TcBlock{reconciler_.block_index()});
  c.filters_status = block.status();
  if (block.ok()) {
    for (const netlink::FlowerFilter& f : *block) {
      c.filters[KeyOf(f)] = {f.status.packets, f.status.bytes};
    }
    // The decoded dump is freed below, in the worker's arena: without a
    // trim its pages stay resident until the next pass's, so a scraped
    // daemon would hold a block dump more than an idle one.
    if (block->size() >= kTrimAfterDumpedFilters) worker_->TrimWhenIdle();
  }
  if (ct_ == nullptr) {
    c.conntrack_status = absl::UnavailableError("conntrack is not available to this agent");
    return c;
  }
  absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> entries = ct_->DumpZones(zones);
  c.conntrack_status = entries.status();
  if (entries.ok()) {
    for (const auto& [zone, list] : *entries) c.conntrack_by_zone[zone] = list.size();
  }
  return c;
}

bool Agent::RevokeConntrack(const policy::Snapshot& before,
                            const policy::SlotAssignment& slots_before, const PassInput& now,
                            PassOutcome& out) {
  if (ct_ == nullptr) return true;
  absl::StatusOr<RevokeReport> report = Revoke(before, *now.desired, slots_before, now.slots, *ct_);
  if (!report.ok()) {
    log_.Error("conntrack_revoke_failed", {{"status", report.status()}});
    return true;  // the inputs are wrong, not the kernel: retrying cannot help
  }
  for (const ZoneRevocation& z : report->zones) {
    log_.Info("conntrack_revoked", {{"zone", z.plan.zone},
                                    {"port", z.plan.port_id},
                                    {"why", z.plan.why},
                                    {"flush", z.plan.flush},
                                    {"dumped", z.dumped},
                                    {"deleted", z.deleted},
                                    {"kept", z.kept},
                                    {"status", z.status}});
    for (const auto& [entry, reason] : z.deletions) {
      log_.Debug("conntrack_entry_deleted", {{"zone", z.plan.zone}, {"reason", reason}});
    }
    if (z.deleted > 0) {
      out.events.push_back({absl::Now(),
                            "conntrack_revoked",
                            {{"port", z.plan.port_id},
                             {"zone", absl::StrCat(z.plan.zone)},
                             {"deleted", absl::StrCat(z.deleted)},
                             {"why", z.plan.why}}});
    }
  }
  out.ct_revoked += static_cast<double>(report->TotalDeleted());
  if (!report->ok()) log_.Warn("conntrack_revoke_incomplete", {{"status", report->FirstError()}});
  return report->ok();
}

void Agent::SyncActivation(const PassView& view) {
  if (!activation_) return;
  std::map<std::string, uint32_t> pending;
  for (const auto& [id, port] : view.effective->ports) {
    if (port.state != policy::PortState::kPendingActivation) continue;
    auto rep = view.eswitch.port_representors.find(id);
    if (rep != view.eswitch.port_representors.end()) pending[id] = rep->second.ifindex;
  }
  if (absl::Status s = activation_->Sync(pending); !s.ok()) {
    log_.Warn("activation_watch_failed", {{"status", s}});
  }
}

void Agent::OnActivation(const std::string& port_id, const offload::ActivationEvent& event) {
  const auto& ports = desired_->snapshot()->ports;
  auto it = ports.find(port_id);
  if (it == ports.end() || it->second.state != policy::PortState::kPendingActivation) return;
  if (absl::Status s = CheckActivation(it->second, event); !s.ok()) {
    log_.Warn("activation_ignored", {{"port", port_id},
                                     {"frame", offload::ToString(event)},
                                     {"reason", std::string(s.message())}});
    return;
  }
  absl::StatusOr<api::v1::Policy> done = Mutate([&](api::v1::Policy& p) {
    for (api::v1::Port& port : *p.mutable_ports()) {
      if (port.id() != port_id) continue;
      port.set_state("active");
      port.set_generation(port.generation() + 1);
      return absl::OkStatus();
    }
    return absl::NotFoundError(absl::StrCat("no port ", port_id));
  });
  if (!done.ok()) {
    log_.Error("activation_failed", {{"port", port_id}, {"status", done.status()}});
    return;
  }
  log_.Info("port_activated", {{"port", port_id}, {"frame", offload::ToString(event)}});
  Publish("port_activated", {{"port", port_id},
                             {"by", offload::ActivationKindName(event.kind)},
                             {"frame", offload::ToString(event)}});
}

absl::StatusOr<api::v1::Policy> Agent::Mutate(
    const std::function<absl::Status(api::v1::Policy&)>& edit) {
  absl::Status s = desired_->Mutate(edit);
  if (!s.ok()) return s;
  Publish("policy_changed", {{"source", "api"}});
  ScheduleReconcile("api", absl::ZeroDuration());
  return desired_->policy();
}

uint64_t Agent::Subscribe(std::function<void(const Event&)> handler) {
  const uint64_t id = next_subscriber_++;
  subscribers_[id] = std::move(handler);
  return id;
}

void Agent::Unsubscribe(uint64_t id) { subscribers_.erase(id); }

void Agent::Publish(const std::string& kind, std::map<std::string, std::string> fields) {
  Event e{absl::Now(), kind, std::move(fields)};
  // A handler may unsubscribe itself (or others) while we iterate.
  std::vector<uint64_t> ids;
  for (const auto& [id, h] : subscribers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) it->second(e);
  }
}

}  // namespace vfguard::agent
