// Reference evaluator: docs/semantics.md written as code, independent of the
// compiler and the IR. Used by the property tests as the oracle and by
// `agentctl trace` / the API's /v1/trace to explain a verdict.
#ifndef VFGUARD_POLICY_EVALUATOR_H_
#define VFGUARD_POLICY_EVALUATOR_H_

#include "policy/conntrack_model.h"
#include "policy/model.h"
#include "policy/packet.h"
#include "policy/slots.h"

namespace vfguard::policy {

// Evaluates one frame. `conntrack` is read and updated (commits) as the
// semantics say; zones are `slots.port_zone`. The snapshot must be valid and
// `slots` must cover it. The verdict's trace names each step that mattered;
// the last entry is the rule or check that decided.
Verdict Evaluate(const Snapshot& snapshot, const SlotAssignment& slots, const Packet& packet,
                 ConntrackModel& conntrack);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_EVALUATOR_H_
