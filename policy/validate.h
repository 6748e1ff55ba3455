// Validation of a whole Snapshot.
//
// Returns OK or InvalidArgument whose message names the failing field path
// and value, e.g. `ports[web-1].fixed_ips[0]: 10.0.0.300 is not an IP` or
// `security_groups[sg1].rules[2].ports: port range needs protocol tcp, udp or
// sctp`. Objects are addressed by id in maps (`ports[<id>]`) and by index in
// lists (`fixed_ips[0]`). The first error found in a deterministic walk is
// returned; nothing is partially accepted. Never crashes on any input.
#ifndef VFGUARD_POLICY_VALIDATE_H_
#define VFGUARD_POLICY_VALIDATE_H_

#include "absl/status/status.h"
#include "policy/model.h"

namespace vfguard::policy {

absl::Status Validate(const Snapshot& snapshot);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_VALIDATE_H_
