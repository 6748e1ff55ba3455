#include "agent/checkpoint.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/policy_codec.h"
#include "api/checkpoint.pb.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace vfguard::agent {
namespace {

namespace pb = ::vfguard::api::v1;

constexpr char kMagic[8] = {'V', 'F', 'G', 'C', 'K', 'P', 'T', '\0'};
constexpr size_t kVersionOffset = 8;
constexpr size_t kLengthOffset = 12;
constexpr size_t kChecksumOffset = 20;

void PutLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLe(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= uint64_t{static_cast<unsigned char>(in[offset + i])} << (8 * i);
  }
  return value;
}

// Copies a map<string, uint32> into `out`, refusing values outside [lo, hi].
template <typename T>
absl::Status CopySlots(const google::protobuf::Map<std::string, uint32_t>& in, const char* field,
                       uint32_t lo, uint32_t hi, std::map<std::string, T>& out) {
  for (const auto& [id, value] : in) {
    if (value < lo || value > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat("slots.", field, "[", id, "]: ", value, " is out of range ", lo, "-", hi));
    }
    out.emplace(id, static_cast<T>(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<Checkpoint> FromProto(const pb::Checkpoint& in) {
  Checkpoint out;
  if (absl::StatusOr<policy::Snapshot> s = SnapshotFromPolicy(in.desired()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("desired state is invalid: ", s.status().message()));
  }
  out.desired = in.desired();
  VFG_RETURN_IF_ERROR(
      CopySlots(in.slots().port_slot(), "port_slot", 1, policy::kMaxPortSlot, out.slots.port_slot));
  VFG_RETURN_IF_ERROR(
      CopySlots(in.slots().port_zone(), "port_zone", 1, UINT16_MAX, out.slots.port_zone));
  VFG_RETURN_IF_ERROR(CopySlots(in.slots().network_slot(), "network_slot", 1,
                                policy::kMaxNetworkSlot, out.slots.network_slot));
  for (const pb::HardwareRejection& r : in.hardware_rejections()) {
    out.hardware_rejections.push_back({r.filter_key(), r.errno_value(), r.message()});
  }
  out.policy_file_digest = in.policy_file_digest();
  return out;
}

std::string RefusalAdvice() {
  return "refusing to start; move it aside to start from the policy file";
}

}  // namespace

uint64_t Fnv1a64(std::string_view bytes, uint64_t hash) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string EncodeCheckpoint(const Checkpoint& checkpoint) {
  pb::Checkpoint msg;
  *msg.mutable_desired() = checkpoint.desired;
  for (const auto& [id, slot] : checkpoint.slots.port_slot) {
    (*msg.mutable_slots()->mutable_port_slot())[id] = slot;
  }
  for (const auto& [id, zone] : checkpoint.slots.port_zone) {
    (*msg.mutable_slots()->mutable_port_zone())[id] = zone;
  }
  for (const auto& [id, slot] : checkpoint.slots.network_slot) {
    (*msg.mutable_slots()->mutable_network_slot())[id] = slot;
  }
  for (const HardwareRejection& r : checkpoint.hardware_rejections) {
    pb::HardwareRejection* out = msg.add_hardware_rejections();
    out->set_filter_key(r.filter_key);
    out->set_errno_value(r.error_number);
    out->set_message(r.message);
  }
  msg.set_policy_file_digest(checkpoint.policy_file_digest);
  // Deterministic so that an unchanged state gives identical bytes.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream stream(&payload);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  std::string out(kMagic, sizeof kMagic);
  PutLe(out, kCheckpointFormatVersion, 4);
  PutLe(out, payload.size(), 8);
  PutLe(out, Fnv1a64(payload, Fnv1a64(out)), 8);
  out += payload;
  return out;
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view bytes) {
  if (bytes.size() < kCheckpointHeaderSize) {
    return absl::DataLossError(absl::StrCat("truncated: ", bytes.size(),
                                            " bytes, shorter than the ", kCheckpointHeaderSize,
                                            "-byte header"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return absl::DataLossError("not a vfguard checkpoint (bad magic)");
  }
  uint64_t version = GetLe(bytes, kVersionOffset, 4);
  uint64_t length = GetLe(bytes, kLengthOffset, 8);
  uint64_t stored = GetLe(bytes, kChecksumOffset, 8);
  std::string_view payload = bytes.substr(kCheckpointHeaderSize);
  if (length > payload.size()) {
    return absl::DataLossError(absl::StrCat("truncated: header says ", length,
                                            " payload bytes, file has ", payload.size()));
  }
  if (length < payload.size()) {
    return absl::DataLossError(
        absl::StrCat(payload.size() - length, " unexpected bytes after the payload"));
  }
  uint64_t computed = Fnv1a64(payload, Fnv1a64(bytes.substr(0, kChecksumOffset)));
  if (computed != stored) {
    return absl::DataLossError(
        absl::StrFormat("checksum mismatch (expected 0x%016x, got 0x%016x)", stored, computed));
  }
  if (version != kCheckpointFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("unsupported format version ", version,
                                                      " (this agent reads version ",
                                                      kCheckpointFormatVersion, ")"));
  }
  pb::Checkpoint msg;
  if (!msg.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("payload does not parse as vfguard.api.v1.Checkpoint");
  }
  return FromProto(msg);
}

absl::Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  absl::Status s = common::WriteFileAtomically(path, EncodeCheckpoint(checkpoint));
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot save checkpoint: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path) {
  // Left by a crash before the rename: never committed, so never trusted.
  ::unlink(common::TempPathFor(path).c_str());
  absl::StatusOr<std::string> bytes = common::ReadFile(path);
  if (absl::IsNotFound(bytes.status())) return std::optional<Checkpoint>();
  if (!bytes.ok()) {
    return absl::Status(
        bytes.status().code(),
        absl::StrCat("cannot load checkpoint: ", bytes.status().message(), "; ", RefusalAdvice()));
  }
  absl::StatusOr<Checkpoint> checkpoint = DecodeCheckpoint(*bytes);
  if (checkpoint.ok()) return std::optional<Checkpoint>(std::move(*checkpoint));
  const char* what = "is corrupt";
  if (absl::IsFailedPrecondition(checkpoint.status())) what = "has an unsupported format";
  if (absl::IsInvalidArgument(checkpoint.status())) what = "holds an invalid state";
  return absl::Status(checkpoint.status().code(),
                      absl::StrCat("checkpoint ", path, " ", what, ": ",
                                   checkpoint.status().message(), "; ", RefusalAdvice()));
}

}  // namespace vfguard::agent
