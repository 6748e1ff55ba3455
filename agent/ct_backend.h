// The conntrack operations the agent needs, as a narrow interface so that the
// revoker (conntrack_revoker.h) runs against the kernel (NetlinkCtBackend) or
// an in-memory table in unit tests (FakeCtBackend).
//
// Contract for implementations:
// - DumpZone returns exactly the entries whose zone is `zone` (never another
//   zone's, whatever the kernel's dump filter does).
// - Delete removes one entry, identified by its original tuple and zone;
//   an entry that is already gone is NotFound (callers treat it as done).
// - Create inserts an entry; an existing one is AlreadyExists.
// - Calls are blocking and single-threaded; they return when the operation
//   is complete.
#ifndef VFGUARD_AGENT_CT_BACKEND_H_
#define VFGUARD_AGENT_CT_BACKEND_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "netlink/conntrack.h"

namespace vfguard::agent {

class CtBackend {
 public:
  virtual ~CtBackend() = default;

  virtual absl::StatusOr<std::vector<netlink::CtEntry>> DumpZone(uint16_t zone) = 0;
  virtual absl::Status Delete(const netlink::CtEntry& entry) = 0;
  virtual absl::Status Create(const netlink::CtEntry& entry) = 0;
  virtual absl::StatusOr<size_t> CountZone(uint16_t zone) = 0;

  // Several zones at once (every requested zone has a key, possibly empty).
  // The default dumps each zone; a backend whose kernel dump cannot filter
  // by zone overrides it with one whole-table dump.
  virtual absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> DumpZones(
      const std::set<uint16_t>& zones) {
    std::map<uint16_t, std::vector<netlink::CtEntry>> out;
    for (uint16_t zone : zones) {
      absl::StatusOr<std::vector<netlink::CtEntry>> entries = DumpZone(zone);
      if (!entries.ok()) return entries.status();
      out[zone] = *std::move(entries);
    }
    return out;
  }
  // One status per entry, in order. The default deletes one at a time; a
  // backend may batch.
  virtual std::vector<absl::Status> DeleteBatch(absl::Span<const netlink::CtEntry> entries) {
    std::vector<absl::Status> out;
    out.reserve(entries.size());
    for (const netlink::CtEntry& e : entries) out.push_back(Delete(e));
    return out;
  }
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_CT_BACKEND_H_
