// The daemon's core: owns the desired state, the reconciler and the kernel
// monitors, and serves the API through AgentService.
//
// Two threads. The reactor (the caller's io_context) runs the monitors, the
// API, the scrapes and the watchdog, and owns the desired state; it never
// talks to the tc or conntrack backends except through the worker
// (agent/pass_worker.h), which owns the reconciler and runs passes, counter
// refreshes and the judging of tc events one at a time. A pass takes an
// immutable snapshot of its inputs; its outcome comes back to the reactor as
// an immutable PassView (agent/pass_view.h) that status, rules, trace and
// metrics read. Kernel events and desired-state changes only schedule a
// pass; tc events the reconciler's own writes caused cost nothing, other tc
// events and ENOBUFS make the next pass an audit (agent/reconciler.h).
// Passes are debounced (a burst of events costs one pass, an API write is
// never delayed by a pending retry) and a failed pass is retried with
// backoff.
#ifndef VFGUARD_AGENT_AGENT_H_
#define VFGUARD_AGENT_AGENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "agent/activation_hook.h"
#include "agent/config.h"
#include "agent/ct_backend.h"
#include "agent/desired_state.h"
#include "agent/eswitch_view.h"
#include "agent/nd_check_hook.h"
#include "agent/pass_view.h"
#include "agent/pass_worker.h"
#include "agent/reconciler.h"
#include "agent/serialized_ct_backend.h"
#include "agent/service.h"
#include "agent/set_match_hook.h"
#include "agent/tc_backend.h"
#include "agent/tc_note_queue.h"
#include "agent/trace_request.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "common/log.h"
#include "common/metrics.h"
#include "netlink/link_monitor.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

class Agent final : public AgentService {
 public:
  // `tc` and `ct` must outlive the agent; `ct` may be null (conntrack is then
  // neither revoked nor exported).
  Agent(boost::asio::io_context& io, AgentConfig config, common::Logger& log,
        std::unique_ptr<DesiredState> desired, TcBackend& tc, CtBackend* ct,
        common::metrics::Registry& metrics);
  ~Agent() override;

  // Starts the link monitor and the tc event watch, schedules the first pass
  // and starts the periodic resync and policy-file watch. Errors: a monitor
  // could not start (no kernel state has been touched then).
  absl::Status Start();
  // The same with the monitors given (tests inject their own): `links` is
  // required; `tc_events` (already subscribed to RTNLGRP_TC) and
  // `activation` and `nd_check` may be null. Their events reach the agent through
  // OnLinkChange, OnTcEvent and OnActivation.
  struct Monitors {
    std::unique_ptr<netlink::LinkSource> links;
    std::unique_ptr<netlink::NetlinkSocket> tc_events;
    std::unique_ptr<ActivationHook> activation;
    std::unique_ptr<NdCheckHook> nd_check;  // null: NS/NA of secured ports dropped
    // Makes the set-match hook, on the worker before the first pass; null, or
    // an error (logged), compiles remote-set rules to flower filters instead
    // (the same semantics, a filter per member prefix).
    std::function<absl::StatusOr<std::unique_ptr<SetMatchHook>>()> set_match;
  };
  absl::Status Start(Monitors monitors);

  // Monitor callbacks (reactor).
  void OnLinkChange(netlink::LinkChange change, const netlink::Link& link);
  void OnTcEvent(const nlmsghdr& h);
  void OnActivation(const std::string& port_id, const offload::ActivationEvent& event);
  // Called once after the first pass that completed without error.
  void OnReady(std::function<void()> ready) { on_ready_ = std::move(ready); }

  // Re-reads the policy file (SIGHUP); logs and keeps the state on error.
  void ReloadPolicyFile(const std::string& why);
  // Schedules a pass at most `delay` from now: coalesced with one already
  // scheduled (the earlier time wins, the reasons are joined); while a pass
  // runs, the next starts when it ends.
  void ScheduleReconcile(const std::string& reason, absl::Duration delay = absl::Milliseconds(50));

  // AgentService.
  api::v1::Policy Desired() const override { return desired_->policy(); }
  absl::StatusOr<api::v1::Policy> Mutate(
      const std::function<absl::Status(api::v1::Policy&)>& edit) override;
  AgentStatus Status() const override;
  absl::StatusOr<PortStatus> Port(const std::string& port_id) const override;
  std::vector<RuleStatus> SharedRules() const override;
  absl::StatusOr<api::v1::TraceResponse> Trace(const api::v1::TraceRequest& request) override;
  absl::StatusOr<std::vector<api::v1::CtEntry>> Conntrack(const std::string& port_id) override;
  absl::StatusOr<size_t> ImportConntrack(const std::string& port_id,
                                         const api::v1::ConntrackImport& import) override;
  uint64_t Subscribe(std::function<void(const Event&)> handler) override;
  void Unsubscribe(uint64_t id) override;

  // The same in the agent's own types (the AgentService methods above
  // convert and call these). TracePacket evaluates `packet` against the
  // desired state and the installed pipeline, with an empty conntrack table
  // unless `established`.
  absl::StatusOr<TraceResult> TracePacket(const policy::Packet& packet, bool established);
  absl::StatusOr<std::vector<netlink::CtEntry>> ZoneEntries(const std::string& port_id);
  absl::StatusOr<size_t> ImportEntries(const std::string& port_id,
                                       const std::vector<netlink::CtEntry>& entries);

  // Refreshes the gauges (ports, rules, conntrack, drops) before a scrape
  // from the last views, and asks the worker for fresher counters when they
  // are older than kCounterMaxAge (so a scrape sees them at most one scrape
  // late, and the kernel is dumped at most once per refresh).
  void CollectMetrics();
  static constexpr absl::Duration kCounterMaxAge = absl::Seconds(1);

  // The last finished pass (for tests).
  std::shared_ptr<const PassView> view() const { return view_; }
  // The tc notifications queued for judging so far (for tests and benches).
  TcNoteQueue::Stats tc_note_stats() const { return tc_notes_.stats(); }
  // Heap trims the worker has done (for tests).
  size_t heap_trims() const { return worker_->trims(); }

 private:
  // Everything a pass needs, taken on the reactor.
  struct PassInput {
    uint64_t seq = 0;
    std::string reason;
    std::shared_ptr<const policy::Snapshot> desired;
    policy::SlotAssignment slots;
    EswitchView eswitch;
  };
  // What a pass hands back to the reactor.
  struct PassOutcome {
    uint64_t seq = 0;
    std::string reason;
    ReconcileReport report;
    std::shared_ptr<const PassView> view;
    std::vector<HardwareRejection> offers;
    std::vector<Event> events;  // published on the reactor
    double ct_revoked = 0;
  };
  void StartPass();
  PassOutcome RunPass(const PassInput& in);  // worker
  void FinishPass(PassOutcome outcome);      // reactor
  // Reactor: posts a refresh to the worker when the counters are older than
  // kCounterMaxAge and none is in flight. Queries stay const: the counters
  // are a cache.
  void RefreshCounters() const;
  CounterView ReadCounters(std::set<uint16_t> zones) const;  // worker
  // Posts `fn` to the reactor; it does not run once the agent is gone.
  void ToReactor(std::function<void()> fn) const;

  void Publish(const std::string& kind, std::map<std::string, std::string> fields);
  void ArmResync();
  void ArmFileWatch();
  // Worker. False when the kernel refused part of it (retried by a later pass).
  bool RevokeConntrack(const policy::Snapshot& before, const policy::SlotAssignment& slots_before,
                       const PassInput& now, PassOutcome& out);
  std::vector<RuleStatus> RulesWhere(
      const std::function<bool(const offload::PlacedFilter&)>& pick) const;

  boost::asio::io_context& io_;
  AgentConfig config_;
  common::Logger& log_;
  std::unique_ptr<DesiredState> desired_;
  TcBackend& tc_;
  std::unique_ptr<CtBackend> shared_ct_;  // the given backend, serialized
  CtBackend* ct_;                         // shared_ct_, or null
  common::metrics::Registry& metrics_;
  // Worker-owned: touched only by jobs on worker_.
  Reconciler reconciler_;
  OfferBook offers_;

  void SyncActivation(const PassView& view);

  std::unique_ptr<ActivationHook> activation_;  // null: activation by API only
  std::unique_ptr<netlink::LinkSource> links_;
  // Worker-owned once set: null means no BPF, NS/NA of secured ports dropped.
  std::unique_ptr<NdCheckHook> nd_check_;
  // Worker-owned once set: null means remote-set rules are flower filters.
  std::unique_ptr<SetMatchHook> set_match_;
  void UseSetMatch(absl::StatusOr<std::unique_ptr<SetMatchHook>> hook);  // worker
  std::unique_ptr<netlink::NetlinkSocket> tc_events_;
  // Pushed by the reactor, taken by JudgeTcNotes on the worker.
  TcNoteQueue tc_notes_;
  void JudgeTcNotes();  // worker
  boost::asio::steady_timer reconcile_timer_;
  boost::asio::steady_timer resync_timer_;
  boost::asio::steady_timer file_timer_;
  // Pass scheduling (reactor).
  bool timer_armed_ = false;
  std::chrono::steady_clock::time_point timer_due_;
  std::set<std::string> queued_reasons_;
  bool pass_running_ = false;
  bool pass_again_ = false;  // asked for while one ran
  uint64_t next_pass_seq_ = 1;
  absl::Duration retry_delay_ = absl::Seconds(1);
  mutable bool counters_in_flight_ = false;
  struct FileStamp {
    int64_t mtime_ns = 0;
    bool exists = false;
    int64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  } file_stamp_;
  bool file_polled_ = false;  // file_stamp_ holds a first observation

  // Worker-owned: what the kernel was last made to hold (for conntrack
  // revocation).
  std::shared_ptr<const policy::Snapshot> reconciled_;
  policy::SlotAssignment reconciled_slots_;

  // Reactor-owned views of the worker's results.
  std::shared_ptr<const PassView> view_ = std::make_shared<PassView>();
  mutable std::shared_ptr<const CounterView> counters_ = std::make_shared<CounterView>();

  bool ready_ = false;
  std::function<void()> on_ready_;
  absl::Time started_ = absl::Now();
  ReconcileReport last_report_;
  absl::Time last_reconcile_;
  uint64_t reconciles_ = 0;
  uint64_t resyncs_ = 0;
  uint64_t periodic_resyncs_ = 0;  // every kAuditEveryResyncs-th one audits
  std::map<std::string, std::string> missing_representors_;

  uint64_t next_subscriber_ = 1;
  std::map<uint64_t, std::function<void(const Event&)>> subscribers_;

  struct Metrics {
    common::metrics::Gauge* ports = nullptr;
    common::metrics::Gauge* rules = nullptr;
    common::metrics::Gauge* hw_rejections = nullptr;
    common::metrics::Counter* reconciles = nullptr;
    common::metrics::Histogram* reconcile_seconds = nullptr;
    common::metrics::Counter* tc_writes = nullptr;
    common::metrics::Counter* netlink_errors = nullptr;
    common::metrics::Counter* resyncs = nullptr;
    common::metrics::Counter* port_drops = nullptr;
    common::metrics::Gauge* conntrack = nullptr;
    common::metrics::Counter* ct_revoked = nullptr;
    common::metrics::Gauge* build_info = nullptr;
  } m_;

  // Handlers posted to the reactor hold a weak reference: they do nothing
  // once the agent is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, so no job runs while the members above go away.
  std::unique_ptr<PassWorker> worker_ = std::make_unique<PassWorker>();
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_AGENT_H_
