// An in-memory AgentService for the API's unit tests (and for running the
// API without a kernel). Mutate really validates, through
// agent/policy_codec.h, so the tests see the same field paths the agent
// produces; nothing is checkpointed. Ports get zone = slot = 1 + their index
// in id order. Trace builds the packet with the agent's own code
// (agent/trace_request.h: same checks, same field paths), remembers it and
// returns the verdicts the test configured; conntrack import checks entries
// with the agent's code too (agent/ct_entry_proto.h) and keeps a per-port
// list. Test-only (tests/fakes/): no production target links it.
#ifndef VFGUARD_TESTS_FAKES_FAKE_SERVICE_H_
#define VFGUARD_TESTS_FAKES_FAKE_SERVICE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/service.h"
#include "agent/trace_request.h"
#include "netlink/conntrack.h"
#include "policy/packet.h"

namespace vfguard::api {

class FakeAgentService : public agent::AgentService {
 public:
  FakeAgentService();

  api::v1::Policy Desired() const override { return desired_; }
  absl::StatusOr<api::v1::Policy> Mutate(
      const std::function<absl::Status(api::v1::Policy&)>& edit) override;
  agent::AgentStatus Status() const override { return status_; }
  absl::StatusOr<agent::PortStatus> Port(const std::string& port_id) const override;
  std::vector<agent::RuleStatus> SharedRules() const override { return shared_rules_; }
  absl::StatusOr<api::v1::TraceResponse> Trace(const api::v1::TraceRequest& request) override;
  absl::StatusOr<std::vector<api::v1::CtEntry>> Conntrack(const std::string& port_id) override;
  absl::StatusOr<size_t> ImportConntrack(const std::string& port_id,
                                         const api::v1::ConntrackImport& import) override;
  uint64_t Subscribe(std::function<void(const agent::Event&)> handler) override;
  void Unsubscribe(uint64_t id) override;

  // Test controls.
  agent::AgentStatus& status() { return status_; }
  std::vector<agent::RuleStatus>& shared_rules() { return shared_rules_; }
  void set_trace_result(agent::TraceResult result) { trace_result_ = std::move(result); }
  const std::optional<policy::Packet>& last_trace_packet() const { return last_trace_; }
  bool last_trace_established() const { return last_established_; }
  void set_fail_checkpoint(bool fail) { fail_checkpoint_ = fail; }
  // Back to a fresh service holding `desired`, taken as given (not
  // validated: the caller's is known good); subscribers are kept. The
  // fuzzer resets one service per input instead of building one.
  void Reset(const api::v1::Policy& desired);
  void Emit(const agent::Event& event);  // to every subscriber
  size_t subscribers() const { return subscribers_.size(); }
  size_t mutations() const { return mutations_; }  // accepted writes

 private:
  std::optional<uint16_t> ZoneOf(const std::string& port_id) const;

  api::v1::Policy desired_;
  agent::AgentStatus status_;
  std::vector<agent::RuleStatus> shared_rules_;
  agent::TraceResult trace_result_;
  std::optional<policy::Packet> last_trace_;
  bool last_established_ = false;
  bool fail_checkpoint_ = false;
  std::map<std::string, std::vector<netlink::CtEntry>> conntrack_;
  std::map<uint64_t, std::function<void(const agent::Event&)>> subscribers_;
  uint64_t next_subscriber_ = 1;
  size_t mutations_ = 0;
};

}  // namespace vfguard::api

#endif  // VFGUARD_TESTS_FAKES_FAKE_SERVICE_H_
