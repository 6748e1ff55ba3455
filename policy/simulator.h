// Pipeline simulator: runs IR on a frame with tc semantics.
//
// Filters of a chain are tried in (prio, handle) order; a filter matches when
// its protocol and every present key match (with masks); its actions run in
// order: ok/drop stop, continue goes to the next filter, goto jumps to another
// chain, ct looks up (and commits) in a zone and sets ct_state/ct_zone for
// later matches (untracked: ct_state 0, zone 0; like act_ct, ct drops a frame
// that is neither IPv4 nor IPv6 and tracks tagged IP frames), vlan push/pop
// edits the frame, mirred mirror emits a copy with the frame's current tag,
// mirred redirect emits the frame and stops; a frame that ends with only
// pipe-like actions stays where it was. No matching filter in a chain:
// the frame is accepted by tc and, since nothing redirected it, goes nowhere
// (dropped from the eswitch's point of view). Processing starts in chain 0 on
// the frame's input device. Every frame sent to a port's representor (mirror
// copy or redirect) first passes that port's egress hook (filters with
// `egress_of`), where `indev` is still the frame's input device (act_mirred
// sets skb_iif); a drop there means no delivery to that port.
#ifndef VFGUARD_POLICY_SIMULATOR_H_
#define VFGUARD_POLICY_SIMULATOR_H_

#include <functional>
#include <tuple>
#include <vector>

#include "policy/conntrack_model.h"
#include "policy/ir.h"
#include "policy/packet.h"

namespace vfguard::policy {

// Runs `pipeline` on `packet`. A goto loop or more than `max_steps` matched
// filters ends the run as a drop with a trace entry saying so.
Verdict Simulate(const Pipeline& pipeline, const Packet& packet, ConntrackModel& conntrack,
                 int max_steps = 10000);

// The simulator's view of a frame after vlan edits: usable by offload/ to run
// a hardware pipeline first and hand trapped frames to the slow path.
struct SimulationResult {
  Verdict verdict;
  bool trapped = false;  // a kTrap action ran: the frame goes to the slow path
  // Key() of every filter that matched, in the order they ran.
  std::vector<std::tuple<uint32_t, uint16_t, uint32_t>> filters_run;
};
SimulationResult SimulateWithTrap(const Pipeline& pipeline, const Packet& packet,
                                  ConntrackModel& conntrack, int max_steps = 10000);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_SIMULATOR_H_
