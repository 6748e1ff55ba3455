// A digest of a policy snapshot, for the installed record's inputs
// (agent/installed_record.h): Fnv1a64 of its deterministic proto bytes.
#ifndef VFGUARD_AGENT_SNAPSHOT_DIGEST_H_
#define VFGUARD_AGENT_SNAPSHOT_DIGEST_H_

#include <cstdint>

#include "policy/model.h"

namespace vfguard::agent {

// Fnv1a64 (agent/checkpoint.h), from `seed`, of PolicyFromSnapshot(s)
// serialized deterministically (map fields in key order). The bytes are
// hashed as they are produced, never held, and the proto copy lives in a few
// 64 kB arena blocks rather than one heap block per field (a pass computes
// this after its writes, among its long-lived values).
uint64_t SnapshotDigest(const policy::Snapshot& s, uint64_t seed);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_SNAPSHOT_DIGEST_H_
