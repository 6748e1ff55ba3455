#include "agent/desired_state.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/policy_codec.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"

namespace vfguard::agent {
namespace {

// Equality of two objects ignoring their generation field.
template <typename T>
bool SameIgnoringGeneration(T a, T b) {
  a.set_generation(0);
  b.set_generation(0);
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

template <typename T>
void Carry(const google::protobuf::RepeatedPtrField<T>& previous,
           google::protobuf::RepeatedPtrField<T>& next) {
  std::map<std::string, const T*> by_id;
  for (const T& o : previous) by_id[o.id()] = &o;
  for (T& o : next) {
    auto it = by_id.find(o.id());
    if (it == by_id.end()) {
      o.set_generation(1);
    } else if (SameIgnoringGeneration(*it->second, o)) {
      o.set_generation(it->second->generation());
    } else {
      o.set_generation(it->second->generation() + 1);
    }
  }
}

}  // namespace

void CarryGenerations(const api::v1::Policy& previous, api::v1::Policy& next) {
  Carry(previous.networks(), *next.mutable_networks());
  Carry(previous.security_groups(), *next.mutable_security_groups());
  Carry(previous.ports(), *next.mutable_ports());
  Carry(previous.remote_ports(), *next.mutable_remote_ports());
  Carry(previous.address_groups(), *next.mutable_address_groups());
}

api::v1::Policy DesiredState::policy() const {
  api::v1::Policy out;
  // Bytes this process serialized from a valid message: they parse.
  if (!out.ParseFromString(policy_bytes_)) out.Clear();
  return out;
}

absl::StatusOr<std::unique_ptr<DesiredState>> DesiredState::Open(Options options) {
  std::unique_ptr<DesiredState> state(new DesiredState(std::move(options)));
  VFG_ASSIGN_OR_RETURN(std::optional<Checkpoint> checkpoint,
                       LoadCheckpoint(state->options_.checkpoint_path));
  if (checkpoint) {
    VFG_ASSIGN_OR_RETURN(policy::Snapshot snap, SnapshotFromPolicy(checkpoint->desired));
    state->policy_bytes_ = checkpoint->desired.SerializeAsString();
    state->snapshot_ = std::make_shared<const policy::Snapshot>(std::move(snap));
    // Reassigning keeps every checkpointed value in range and fills gaps.
    VFG_ASSIGN_OR_RETURN(state->slots_,
                         policy::AssignSlots(*state->snapshot_, checkpoint->slots,
                                             state->options_.zone_min, state->options_.zone_max));
    state->offers_ = std::move(checkpoint->hardware_rejections);
    state->file_digest_ = checkpoint->policy_file_digest;
  }
  VFG_RETURN_IF_ERROR(state->ReloadPolicyFile().status());
  return state;
}

absl::StatusOr<bool> DesiredState::ReloadPolicyFile() {
  if (options_.policy_file.empty()) return false;
  absl::StatusOr<std::string> text = common::ReadFile(options_.policy_file);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("policy ", options_.policy_file, ": ",
                                                           text.status().message()));
  }
  const uint64_t digest = Fnv1a64(*text);
  if (digest == file_digest_) return false;
  absl::StatusOr<api::v1::Policy> parsed = PolicyFromJson(*text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy ", options_.policy_file, ": ", parsed.status().message()));
  }
  CarryGenerations(policy(), *parsed);
  absl::Status s = Commit(std::move(*parsed), digest);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("policy ", options_.policy_file, ": ", s.message()));
  }
  return true;
}

absl::Status DesiredState::Mutate(const std::function<absl::Status(api::v1::Policy&)>& edit) {
  api::v1::Policy next = policy();
  VFG_RETURN_IF_ERROR(edit(next));
  return Commit(std::move(next), file_digest_);
}

absl::Status DesiredState::Commit(api::v1::Policy next, uint64_t file_digest) {
  VFG_ASSIGN_OR_RETURN(policy::Snapshot snap, SnapshotFromPolicy(next));
  VFG_ASSIGN_OR_RETURN(policy::SlotAssignment slots,
                       policy::AssignSlots(snap, slots_, options_.zone_min, options_.zone_max));
  VFG_RETURN_IF_ERROR(Save(next, slots, file_digest));
  policy_bytes_ = next.SerializeAsString();
  snapshot_ = std::make_shared<const policy::Snapshot>(std::move(snap));
  slots_ = std::move(slots);
  file_digest_ = file_digest;
  return absl::OkStatus();
}

absl::Status DesiredState::SetOffers(std::vector<HardwareRejection> offers) {
  if (offers == offers_) return absl::OkStatus();
  std::swap(offers_, offers);
  absl::Status s = Save(policy(), slots_, file_digest_);
  if (!s.ok()) std::swap(offers_, offers);
  return s;
}

absl::Status DesiredState::Save(const api::v1::Policy& policy, const policy::SlotAssignment& slots,
                                uint64_t file_digest) const {
  Checkpoint c;
  c.desired = policy;
  c.slots = slots;
  c.hardware_rejections = offers_;
  c.policy_file_digest = file_digest;
  absl::Status s = SaveCheckpoint(options_.checkpoint_path, c);
  if (!s.ok()) return absl::InternalError(absl::StrCat("checkpoint not saved: ", s.message()));
  return s;
}

}  // namespace vfguard::agent
