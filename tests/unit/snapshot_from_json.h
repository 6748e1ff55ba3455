// Test helper: a policy file's JSON as the Snapshot the reconciler compiles,
// through the agent's own codec and validation; a failure fails the test.
#ifndef VFGUARD_TESTS_UNIT_SNAPSHOT_FROM_JSON_H_
#define VFGUARD_TESTS_UNIT_SNAPSHOT_FROM_JSON_H_

#include <gtest/gtest.h>

#include <string_view>

#include "absl/status/statusor.h"
#include "agent/policy_codec.h"
#include "policy/model.h"

namespace vfguard::agent::test_support {

inline policy::Snapshot SnapshotFromJson(std::string_view json) {
  absl::StatusOr<api::v1::Policy> p = PolicyFromJson(json);
  EXPECT_TRUE(p.ok()) << p.status();
  absl::StatusOr<policy::Snapshot> s = SnapshotFromPolicy(*p);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

}  // namespace vfguard::agent::test_support

#endif  // VFGUARD_TESTS_UNIT_SNAPSHOT_FROM_JSON_H_
