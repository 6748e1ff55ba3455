// A CtBackend shared by two threads: every call holds one mutex for its
// duration. The agent's worker revokes and counts through it while the
// reactor serves the API's conntrack export and import, so the reactor waits
// at most for one call in progress (one zone dump or one delete batch),
// never for a pass.
#ifndef VFGUARD_AGENT_SERIALIZED_CT_BACKEND_H_
#define VFGUARD_AGENT_SERIALIZED_CT_BACKEND_H_

#include <mutex>

#include "agent/ct_backend.h"

namespace vfguard::agent {

class SerializedCtBackend final : public CtBackend {
 public:
  // `inner` must outlive this.
  explicit SerializedCtBackend(CtBackend& inner) : inner_(inner) {}

  absl::StatusOr<std::vector<netlink::CtEntry>> DumpZone(uint16_t zone) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.DumpZone(zone);
  }
  absl::Status Delete(const netlink::CtEntry& entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.Delete(entry);
  }
  absl::Status Create(const netlink::CtEntry& entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.Create(entry);
  }
  absl::StatusOr<size_t> CountZone(uint16_t zone) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.CountZone(zone);
  }
  absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> DumpZones(
      const std::set<uint16_t>& zones) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.DumpZones(zones);
  }
  std::vector<absl::Status> DeleteBatch(absl::Span<const netlink::CtEntry> entries) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.DeleteBatch(entries);
  }

 private:
  std::mutex mu_;
  CtBackend& inner_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_SERIALIZED_CT_BACKEND_H_
