// An in-memory agent::SetMatchHook for tests and benches: numbers the want
// with the real offload::SetMatchNumbering and keeps the filters and map
// contents it would have written, counting writes the way
// agent::KernelSetMatchHook and offload::SetMatchProgram do (a filter
// created, replaced or deleted is one filter write; a rule or prefix added,
// changed or removed is one map write), without a kernel.
#ifndef VFGUARD_TESTS_FAKES_FAKE_SET_MATCH_HOOK_H_
#define VFGUARD_TESTS_FAKES_FAKE_SET_MATCH_HOOK_H_

#include <cstdint>
#include <map>
#include <tuple>

#include "absl/status/status.h"
#include "agent/set_match_hook.h"

namespace vfguard::agent {

class FakeSetMatchHook : public SetMatchHook {
 public:
  absl::Status Sync(const offload::SetMatchWant& want) override;
  uint64_t map_writes() const override { return map_writes_; }
  uint64_t filter_writes() const override { return filter_writes_; }

  // Sync returns this (and writes nothing) while it is not OK.
  absl::Status fail = absl::OkStatus();
  int syncs = 0;
  using Key = std::tuple<netlink::FilterOwner, uint32_t, uint16_t, uint32_t>;
  const std::map<Key, netlink::BpfFilter>& filters() const { return filters_; }
  const offload::SetMatchState& maps() const { return maps_; }

 private:
  offload::SetMatchNumbering numbering_;
  std::map<Key, netlink::BpfFilter> filters_;
  offload::SetMatchState maps_;
  uint64_t map_writes_ = 0;
  uint64_t filter_writes_ = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_TESTS_FAKES_FAKE_SET_MATCH_HOOK_H_
