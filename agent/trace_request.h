// The agent's side of /v1/trace: an api::v1::TraceRequest (the API's own
// message, see agent/service.h) becomes the policy::Packet the reference
// evaluator and the simulator run, and their verdicts become the
// api::v1::TraceResponse. Kept on the agent side so that api/ never sees a
// policy type; the API's fake service uses the same functions, so the
// handler tests see the same field paths the daemon produces.
#ifndef VFGUARD_AGENT_TRACE_REQUEST_H_
#define VFGUARD_AGENT_TRACE_REQUEST_H_

#include "absl/status/statusor.h"
#include "api/api.pb.h"
#include "api/vfguard.pb.h"
#include "policy/packet.h"

namespace vfguard::agent {

struct TraceResult {
  policy::Verdict reference;  // the reference evaluator's verdict and trace
  policy::Verdict installed;  // the installed pipeline run in the IR simulator
};

// The packet `request` describes (agent/packet_text.h), entering at its
// in_port or the uplink, with the MACs a sender would use when the request
// gives none: the in_port's own (uplink: a fixed unicast MAC) and, for the
// destination, the owning port's, the multicast mapping, broadcast, else a
// unicast MAC nobody here has. Errors name the field: InvalidArgument
// ("packet: ...", "src_mac: ...", "vlan: ...", "in_port: ...") or NotFound
// ("in_port: port X does not exist").
absl::StatusOr<policy::Packet> PacketFromTraceRequest(const api::v1::Policy& desired,
                                                      const api::v1::TraceRequest& request);

// Both verdicts, and the packet as evaluated (MACs filled in).
api::v1::TraceResponse TraceResponseFrom(const TraceResult& result, const policy::Packet& packet);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TRACE_REQUEST_H_
