// The agent's desired state: the accepted policy (wire form, generations
// included), its validated snapshot, the stable slot/zone assignment and the
// hardware offer results, kept durable in the checkpoint.
//
// Who wins between the policy file and the API: the checkpoint holds the
// state; the policy file is applied at start and on reload only when its
// content differs from the content last applied (a digest is checkpointed).
// So the file seeds the state and overrides it when someone edits the file;
// between such edits, API writes own the state and a restart keeps them.
//
// Every change is validated whole and checkpointed before it becomes the
// current state; a rejected or unsaved change leaves everything as it was.
#ifndef VFGUARD_AGENT_DESIRED_STATE_H_
#define VFGUARD_AGENT_DESIRED_STATE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/checkpoint.h"
#include "api/vfguard.pb.h"
#include "policy/model.h"
#include "policy/slots.h"

namespace vfguard::agent {

class DesiredState {
 public:
  struct Options {
    std::string checkpoint_path;
    std::string policy_file;  // empty: none
    uint16_t zone_min = 1;
    uint16_t zone_max = 65535;
  };

  // Loads the checkpoint (a damaged one is an error: the caller must stop
  // without touching the kernel), then applies the policy file if it
  // changed. A first start without either is an empty state.
  static absl::StatusOr<std::unique_ptr<DesiredState>> Open(Options options);

  // A copy, parsed from the bytes kept.
  api::v1::Policy policy() const;
  std::shared_ptr<const policy::Snapshot> snapshot() const { return snapshot_; }
  const policy::SlotAssignment& slots() const { return slots_; }
  const std::vector<HardwareRejection>& offers() const { return offers_; }

  // Re-reads the policy file; true when its content changed and was applied,
  // false when unchanged (or no file is configured). An invalid file is an
  // error naming the file and field, and changes nothing.
  absl::StatusOr<bool> ReloadPolicyFile();

  // Lets `edit` change a copy of the policy, then validates, assigns slots
  // and checkpoints it; only then it becomes current.
  absl::Status Mutate(const std::function<absl::Status(api::v1::Policy&)>& edit);

  // Replaces the recorded offer results (checkpointed if they changed).
  absl::Status SetOffers(std::vector<HardwareRejection> offers);

 private:
  explicit DesiredState(Options options) : options_(std::move(options)) {}
  // Validates `next`, assigns slots and saves; commits on success.
  absl::Status Commit(api::v1::Policy next, uint64_t file_digest);
  absl::Status Save(const api::v1::Policy& policy, const policy::SlotAssignment& slots,
                    uint64_t file_digest) const;

  Options options_;
  // The policy, serialized: the message takes ~10x its bytes (measured at
  // 100 ports: 130 kB as a message, 13 kB serialized), and it is read only
  // when the API reads or changes it; snapshot_ is what passes use.
  std::string policy_bytes_;
  std::shared_ptr<const policy::Snapshot> snapshot_ = std::make_shared<policy::Snapshot>();
  policy::SlotAssignment slots_;
  std::vector<HardwareRejection> offers_;
  uint64_t file_digest_ = 0;
};

// Carries generations over from `previous` into `next` for objects that did
// not change, and bumps (or starts at 1) those that did. Used when a whole
// policy (file) replaces the state, so unchanged objects keep their generation.
void CarryGenerations(const api::v1::Policy& previous, api::v1::Policy& next);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_DESIRED_STATE_H_
