// An in-memory conntrack table for unit tests of code that uses CtBackend.
// Entries are keyed by (zone, original tuple), as in the kernel. Counts every
// call so tests can assert that nothing was dumped, and can make one zone's
// dumps or one entry's deletion fail.
#ifndef VFGUARD_TESTS_FAKES_FAKE_CT_BACKEND_H_
#define VFGUARD_TESTS_FAKES_FAKE_CT_BACKEND_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "agent/ct_backend.h"

namespace vfguard::agent {

class FakeCtBackend : public CtBackend {
 public:
  absl::StatusOr<std::vector<netlink::CtEntry>> DumpZone(uint16_t zone) override;
  absl::Status Delete(const netlink::CtEntry& entry) override;
  absl::Status Create(const netlink::CtEntry& entry) override;
  absl::StatusOr<size_t> CountZone(uint16_t zone) override;

  // Every entry, in (zone, original tuple) order.
  std::vector<netlink::CtEntry> All() const;
  bool Contains(uint16_t zone, const netlink::CtTuple& orig) const;

  // Failure injection: dumps of `zone` fail with `status` (OK: stop failing).
  void FailDumpsOf(uint16_t zone, absl::Status status) {
    if (status.ok()) {
      dump_failures_.erase(zone);
    } else {
      dump_failures_[zone] = status;
    }
  }
  // Deleting this entry fails with `status` and leaves it in place (OK: stop).
  void FailDeleteOf(uint16_t zone, const netlink::CtTuple& orig, absl::Status status) {
    if (status.ok()) {
      delete_failures_.erase({zone, orig});
    } else {
      delete_failures_[{zone, orig}] = status;
    }
  }

  size_t dump_calls() const { return dump_calls_; }
  size_t delete_calls() const { return delete_calls_; }
  size_t create_calls() const { return create_calls_; }
  const std::vector<uint16_t>& dumped_zones() const { return dumped_zones_; }

 private:
  using Key = std::pair<uint16_t, netlink::CtTuple>;
  std::map<Key, netlink::CtEntry> table_;
  std::map<uint16_t, absl::Status> dump_failures_;
  std::map<Key, absl::Status> delete_failures_;
  size_t dump_calls_ = 0;
  size_t delete_calls_ = 0;
  size_t create_calls_ = 0;
  std::vector<uint16_t> dumped_zones_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_TESTS_FAKES_FAKE_CT_BACKEND_H_
