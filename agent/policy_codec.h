// Conversion between the wire/file schema (api::v1::Policy, protobuf) and the
// validated model (policy::Snapshot), and loading of policy files (JSON).
//
// Errors are InvalidArgument and name the field by its JSON path in
// snake_case, the way policy::Validate does: objects in the top-level lists
// are addressed by id when they have one (`ports[web-1]`), else by index
// (`ports[3]`); inner lists by index. For example
// `ports[web-1].fixed_ips[0]: 10.0.0.300 is not an IP`. A conversion either
// fully succeeds or returns the first error; nothing is partially accepted.
#ifndef VFGUARD_AGENT_POLICY_CODEC_H_
#define VFGUARD_AGENT_POLICY_CODEC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "api/vfguard.pb.h"
#include "policy/model.h"

namespace vfguard::agent {

// Parses every text field, checks what the model's types cannot hold (ranges
// of numbers, duplicate ids, a missing representor), then runs
// policy::Validate on the result. Generation fields are not part of the model
// and are ignored.
absl::StatusOr<policy::Snapshot> SnapshotFromPolicy(const api::v1::Policy& policy);

// The inverse: canonical text for every value, lists in id order, defaults
// left out (port_security_enabled and stateful only when false, priority only
// when not the lowest). SnapshotFromPolicy(PolicyFromSnapshot(s)) == s for
// every valid s.
api::v1::Policy PolicyFromSnapshot(const policy::Snapshot& snapshot);
// The same into `out`, which must be empty; its parts are allocated where
// `out` is (on its protobuf Arena, if it has one).
void FillPolicyFromSnapshot(const policy::Snapshot& snapshot, api::v1::Policy& out);

// JSON text (protobuf's canonical mapping) to a Policy message. Unknown fields
// are refused (`ports[0].bogus: unknown field`); malformed JSON is reported
// with its 1-based line and column when they can be located
// (`3:17: malformed JSON: Expected , or } after key:value pair.`). Paths at
// this stage use indexes only: no id has been read yet.
absl::StatusOr<api::v1::Policy> PolicyFromJson(std::string_view json);

// Indented JSON with the proto (snake_case) field names that errors use.
std::string PolicyToJson(const api::v1::Policy& policy);

// Reads a policy file and converts it; every error is prefixed with the file
// name: `policy /etc/vfguard/policy.json: ports[a].mac_address: ...`.
absl::StatusOr<policy::Snapshot> LoadPolicyFile(const std::string& path);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_POLICY_CODEC_H_
