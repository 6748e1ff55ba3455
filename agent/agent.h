// The daemon's core: owns the desired state, the reconciler and the kernel
// monitors on one asio reactor, and serves the API through AgentService.
//
// Everything runs on the reactor thread. Kernel events (links coming and
// going, tc filters or qdiscs changed by someone else, ENOBUFS on either
// socket) and desired-state changes (API writes, policy file edits) only
// schedule a reconcile pass; tc events the reconciler's own writes caused
// are recognised and ignored, other tc events and ENOBUFS make that pass an
// audit (a dump + compare, agent/reconciler.h); passes are debounced, so a burst of events costs
// one pass, and a pass that failed is retried with backoff.
#ifndef VFGUARD_AGENT_AGENT_H_
#define VFGUARD_AGENT_AGENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "agent/activation_hook.h"
#include "agent/config.h"
#include "agent/ct_backend.h"
#include "agent/desired_state.h"
#include "agent/eswitch_view.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/nd_check_hook.h"
#include "agent/reconciler.h"
#include "agent/service.h"
#include "agent/tc_backend.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "netlink/link_monitor.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

class Agent final : public AgentService {
 public:
  // `tc` and `ct` must outlive the agent; `ct` may be null (conntrack is then
  // neither revoked nor exported).
  Agent(boost::asio::io_context& io, AgentConfig config, Logger& log,
        std::unique_ptr<DesiredState> desired, TcBackend& tc, CtBackend* ct,
        metrics::Registry& metrics);
  ~Agent() override;

  // Starts the link monitor and the tc event watch, runs the first pass now
  // and starts the periodic resync and policy-file watch. Errors: a monitor
  // could not start (no kernel state has been touched then).
  absl::Status Start();
  // Called once after the first pass that completed without error.
  void OnReady(std::function<void()> ready) { on_ready_ = std::move(ready); }

  // Re-reads the policy file (SIGHUP); logs and keeps the state on error.
  void ReloadPolicyFile(const std::string& why);
  // Schedules a pass after `delay` (coalesced with one already scheduled).
  void ScheduleReconcile(const std::string& reason, absl::Duration delay = absl::Milliseconds(50));
  // Runs a pass now (tests and the first start).
  ReconcileReport ReconcileNow(const std::string& reason);

  // AgentService.
  const api::v1::Policy& Desired() const override { return desired_->policy(); }
  absl::StatusOr<api::v1::Policy> Mutate(
      const std::function<absl::Status(api::v1::Policy&)>& edit) override;
  AgentStatus Status() const override;
  absl::StatusOr<PortStatus> Port(const std::string& port_id) const override;
  std::vector<RuleStatus> SharedRules() const override;
  absl::StatusOr<TraceResult> Trace(const policy::Packet& packet, bool established) override;
  absl::StatusOr<std::vector<netlink::CtEntry>> Conntrack(const std::string& port_id) override;
  absl::StatusOr<size_t> ImportConntrack(const std::string& port_id,
                                         const std::vector<netlink::CtEntry>& entries) override;
  uint64_t Subscribe(std::function<void(const Event&)> handler) override;
  void Unsubscribe(uint64_t id) override;

  // Refreshes the gauges (ports, rules, conntrack, drops) before a scrape.
  void CollectMetrics();
  const Reconciler& reconciler() const { return reconciler_; }

 private:
  void Publish(const std::string& kind, std::map<std::string, std::string> fields);
  void OnLinkChange(netlink::LinkChange change, const netlink::Link& link);
  void OnTcEvent(const nlmsghdr& h);
  void ArmResync();
  void ArmFileWatch();
  // False when the kernel refused part of it (retried by a later pass).
  bool RevokeConntrack(const policy::Snapshot& before, const policy::SlotAssignment& slots_before);
  std::vector<RuleStatus> RulesWhere(
      const std::function<bool(const offload::PlacedFilter&)>& pick) const;

  boost::asio::io_context& io_;
  AgentConfig config_;
  Logger& log_;
  std::unique_ptr<DesiredState> desired_;
  TcBackend& tc_;
  CtBackend* ct_;
  metrics::Registry& metrics_;
  Reconciler reconciler_;
  OfferBook offers_;

  void SyncActivation(const EswitchView& view);
  void OnActivation(const std::string& port_id, const offload::ActivationEvent& event);

  std::unique_ptr<ActivationHook> activation_;  // null: activation by API only
  std::unique_ptr<NdCheckHook> nd_check_;       // null: no BPF, NS/NA of secured ports dropped
  std::unique_ptr<netlink::LinkMonitor> links_;
  std::unique_ptr<netlink::NetlinkSocket> tc_events_;
  boost::asio::steady_timer reconcile_timer_;
  boost::asio::steady_timer resync_timer_;
  boost::asio::steady_timer file_timer_;
  bool reconcile_pending_ = false;
  std::string pending_reason_;
  absl::Duration retry_delay_ = absl::Seconds(1);
  struct FileStamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  } file_stamp_;

  // What the kernel was last made to hold (for conntrack revocation).
  std::shared_ptr<const policy::Snapshot> reconciled_;
  policy::SlotAssignment reconciled_slots_;

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
    metrics::Gauge* ports = nullptr;
    metrics::Gauge* rules = nullptr;
    metrics::Gauge* hw_rejections = nullptr;
    metrics::Counter* reconciles = nullptr;
    metrics::Histogram* reconcile_seconds = nullptr;
    metrics::Counter* tc_writes = nullptr;
    metrics::Counter* netlink_errors = nullptr;
    metrics::Counter* resyncs = nullptr;
    metrics::Counter* port_drops = nullptr;
    metrics::Gauge* conntrack = nullptr;
    metrics::Counter* ct_revoked = nullptr;
    metrics::Gauge* build_info = nullptr;
  } m_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_AGENT_H_
