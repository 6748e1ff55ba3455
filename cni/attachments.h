// What the plugin remembers per attachment (container id + ifname): the port
// id it created, the MAC it registered and the agent socket. One small JSON
// file per attachment under STATE_DIR/NETWORK_NAME/, written atomically (temp
// file, rename), like host-local IPAM keeps its leases. GC needs it (the
// agent's ports do not say which container they belong to); DEL uses it not
// to delete a port that a newer attachment re-created under the same id.
#ifndef VFGUARD_CNI_ATTACHMENTS_H_
#define VFGUARD_CNI_ATTACHMENTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vfguard::cni {

struct AttachmentRecord {
  std::string container_id;
  std::string ifname;
  std::string port_id;
  std::string mac;
  bool operator==(const AttachmentRecord&) const = default;
};

class AttachmentStore {
 public:
  // `dir` is STATE_DIR/NETWORK_NAME; created on the first Save.
  explicit AttachmentStore(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Save(const AttachmentRecord& record);
  absl::StatusOr<std::optional<AttachmentRecord>> Load(const std::string& container_id,
                                                       const std::string& ifname) const;
  // Removing what does not exist is success.
  absl::Status Remove(const std::string& container_id, const std::string& ifname);
  // Every record; files that do not parse are skipped (GC must go on), a
  // missing directory is empty.
  absl::StatusOr<std::vector<AttachmentRecord>> List() const;

 private:
  std::string PathOf(const std::string& container_id, const std::string& ifname) const;
  std::string dir_;
};

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_ATTACHMENTS_H_
