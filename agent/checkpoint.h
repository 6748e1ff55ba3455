// The agent's checkpoint: desired state, slot/zone assignments and the
// filters the NIC refused, kept across restarts so that a restart with an
// unchanged desired state writes nothing to the kernel.
//
// File format (version 1), integers little-endian:
//   0  8 bytes  magic "VFGCKPT\0"
//   8  u32      format version
//  12  u64      payload length
//  20  u64      FNV-1a 64 of bytes [0, 20) followed by the payload
//  28  payload  api.v1.Checkpoint, protobuf binary encoding
// The checksum covers the header too, so a flipped version or length byte is
// reported as corruption rather than misread.
//
// A checkpoint that exists but cannot be trusted (truncated, bad magic,
// checksum mismatch, unparsable, unknown version, invalid content) is an
// error: the agent must stop without touching kernel state, because acting on
// a wrong desired state or on wrong slots would rewrite or delete live rules.
#ifndef VFGUARD_AGENT_CHECKPOINT_H_
#define VFGUARD_AGENT_CHECKPOINT_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/vfguard.pb.h"
#include "policy/slots.h"

namespace vfguard::agent {

// A filter the hardware refused; it stays in the slow path only.
struct HardwareRejection {
  std::string filter_key;  // the offload layer's stable name for the filter
  int error_number = 0;    // positive errno, e.g. EOPNOTSUPP
  std::string message;     // the kernel's extack text
  auto operator<=>(const HardwareRejection&) const = default;
};

struct Checkpoint {
  // As accepted by the API (generations included); always converts with
  // SnapshotFromPolicy (LoadCheckpoint checks it).
  api::v1::Policy desired;
  policy::SlotAssignment slots;
  // Offer results: error_number > 0 is a refusal, 0 an acceptance.
  std::vector<HardwareRejection> hardware_rejections;
  // Fnv1a64 of the policy file content last applied, 0 when none was.
  uint64_t policy_file_digest = 0;
};

inline constexpr uint32_t kCheckpointFormatVersion = 1;
inline constexpr size_t kCheckpointHeaderSize = 28;

// The file's bytes.
std::string EncodeCheckpoint(const Checkpoint& checkpoint);

// Parses and checks a file's bytes. Errors describe the problem only
// ("checksum mismatch (expected 0x..., got 0x...)"); LoadCheckpoint adds the
// file name and what to do. DataLoss for damage, FailedPrecondition for an
// unknown format version, InvalidArgument for content that does not validate.
absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view bytes);

// Replaces the checkpoint at `path` atomically (see file_io.h): after a crash
// the file holds the old or the new checkpoint, never a mix. On error the old
// file is unchanged.
absl::Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint);

// nullopt when there is no checkpoint (first start). A temporary file left by
// a crash during SaveCheckpoint is ignored and removed, which assumes one
// agent per state directory (the caller holds that exclusively). Any other problem is
// an error naming the file, e.g. "checkpoint /var/lib/vfguard/state.pb is
// corrupt: checksum mismatch (expected 0x..., got 0x...); refusing to start;
// move it aside to start from the policy file".
absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path);

// FNV-1a, 64-bit. Exposed so that tests and tools can build files.
uint64_t Fnv1a64(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ull);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_CHECKPOINT_H_
