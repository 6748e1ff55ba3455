// The agent as the API sees it: a narrow interface the HTTP handlers (api/)
// call on the reactor thread. The daemon implements it (agent/agent.h); unit
// tests of api/ use a fake behind the same interface.
//
// Desired state is edited as the wire message (api::v1::Policy, generations
// included): Mutate hands the current policy to `edit`, which changes it in
// place (or fails, changing nothing); the service then converts and validates
// the result whole, checkpoints it, and only then makes it the desired state
// and schedules a reconcile. So every accepted write is durable before the
// caller answers, and a rejected one changes nothing.
//
// The types here are the service's own: plain structs below, or the API's
// protobuf messages (api/*.proto, which api/ owns). No netlink/ or policy/
// type crosses this interface; the agent converts on its side
// (agent/trace_request.h, agent/ct_entry_proto.h). api/ includes nothing else
// of agent/ (tools/check's lint tier checks).
#ifndef VFGUARD_AGENT_SERVICE_H_
#define VFGUARD_AGENT_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/api.pb.h"
#include "api/vfguard.pb.h"

namespace vfguard::agent {

// One installed rule of a port (or of shared structure), as the kernel holds it.
struct RuleStatus {
  uint32_t chain = 0;
  uint16_t prio = 0;
  uint32_t handle = 0;
  std::string match;      // flower keys, e.g. "ip_proto tcp dst_port 80"
  std::string actions;    // e.g. "ct zone 3 commit, goto chain 7"
  std::string origin;     // why it exists (the IR filter's origin)
  std::string placement;  // "hw", "sw", "trap" (offload::PlacementName)
  int hw_errno = 0;       // the NIC's refusal, if any
  std::string hw_error;   // its extack
  uint64_t packets = 0;   // slow path + hardware
  uint64_t bytes = 0;
};

struct PortStatus {
  std::string id;
  std::string state;                 // "active", "pending-activation", "inactive"
  std::string representor;           // netdev name, empty when unresolved
  bool representor_present = false;  // the netdev exists now
  uint16_t zone = 0;                 // conntrack zone
  uint32_t slot = 0;
  std::vector<RuleStatus> rules;
  uint64_t dropped_packets = 0;  // counters of the port's default-drop rules
  // When the counters above were read from the kernel: queries are served
  // from a cache the agent refreshes in the background when it is older than
  // a second, so a reader that needs newer counts asks again.
  absl::Time counters_as_of = absl::InfinitePast();
  // The last successful reconcile pass installed this port exactly as it is
  // desired now (every field), with its representor present. False while a
  // change waits for its pass, after a failed pass, and without a
  // representor. What a CNI plugin waits for after a PUT.
  bool installed = false;
};

struct AgentStatus {
  bool ready = false;  // the first full reconcile finished
  std::string version;
  absl::Time started;
  absl::Time last_reconcile;
  absl::Duration last_reconcile_duration;
  absl::Status last_reconcile_status;
  uint64_t reconciles = 0;
  uint64_t resyncs = 0;
  std::map<std::string, int> ports_by_state;
  std::map<std::string, int> rules_by_placement;  // "hw", "sw", "trap"
  uint32_t block_index = 0;
};

// What the agent did and why; streamed by /v1/events and logged.
struct Event {
  absl::Time time;
  std::string kind;  // e.g. "reconcile", "policy_changed", "hw_rejected", "port_activated"
  std::map<std::string, std::string> fields;
};

class AgentService {
 public:
  virtual ~AgentService() = default;

  // The desired state as last accepted (generations included). A copy: the
  // agent keeps it serialized (agent/desired_state.h).
  virtual api::v1::Policy Desired() const = 0;
  // See the file comment. Returns the new desired policy. Errors: what `edit`
  // returned, or InvalidArgument naming the field (from validation), or
  // Internal when the checkpoint could not be written.
  virtual absl::StatusOr<api::v1::Policy> Mutate(
      const std::function<absl::Status(api::v1::Policy&)>& edit) = 0;

  virtual AgentStatus Status() const = 0;
  // NotFound for an unknown port.
  virtual absl::StatusOr<PortStatus> Port(const std::string& port_id) const = 0;
  virtual std::vector<RuleStatus> SharedRules() const = 0;  // dispatch, forwarding, flood

  // Evaluates the packet `request` describes against the desired state
  // (reference evaluator) and the installed pipeline (simulator), each with
  // an empty conntrack table unless `request.established()` (then as a
  // packet of an established connection). InvalidArgument naming the field
  // for a bad request ("packet: ...", "vlan: ..."), NotFound for an unknown
  // or uninstalled in_port.
  virtual absl::StatusOr<api::v1::TraceResponse> Trace(const api::v1::TraceRequest& request) = 0;

  // Conntrack entries of a port's zone. NotFound for an unknown port.
  virtual absl::StatusOr<std::vector<api::v1::CtEntry>> Conntrack(const std::string& port_id) = 0;
  // Creates the entries of `import` in the port's zone. Checks every entry
  // first (InvalidArgument naming the field, "entries[0].orig.dst", nothing
  // created). Returns how many were created.
  virtual absl::StatusOr<size_t> ImportConntrack(const std::string& port_id,
                                                 const api::v1::ConntrackImport& import) = 0;

  // Events from now on; returns an id for Unsubscribe.
  virtual uint64_t Subscribe(std::function<void(const Event&)> handler) = 0;
  virtual void Unsubscribe(uint64_t id) = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_SERVICE_H_
