// The ND check (docs/semantics.md §3.3) in the kernel: loads the cls_bpf
// program offload/bpf/nd_check.bpf.c and keeps its per-port map.
//
// The program is attached once, direct action, at prio 1 of the ND chain
// (policy::Chains::kNd) of the shared block; the map holds, per port
// representor ifindex, the port's ND entry (the `nd_allowed` of its filter in
// the ND chain). A port's entry changes (a VIP added, a pair removed) by a map
// update: the program and the filter stay. The object is embedded in the
// binary like the activation program's.
//
// Loading needs CAP_BPF + CAP_NET_ADMIN (or root); without them Create fails
// naming the errno. Not thread-safe.
#ifndef VFGUARD_OFFLOAD_ND_CHECK_PROGRAM_H_
#define VFGUARD_OFFLOAD_ND_CHECK_PROGRAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policy/ir.h"

struct bpf_object;

namespace vfguard::offload {

// The map value for `allowed`, as bytes of struct vfguard_nd_entry;
// INVALID_ARGUMENT past VFGUARD_ND_MAX_ALLOWED or for a non-IPv6 prefix.
absl::StatusOr<std::vector<uint8_t>> EncodeNdEntry(const std::vector<policy::NdAllowed>& allowed);

class NdCheckProgram {
 public:
  static absl::StatusOr<std::unique_ptr<NdCheckProgram>> Create();
  ~NdCheckProgram();
  NdCheckProgram(const NdCheckProgram&) = delete;
  NdCheckProgram& operator=(const NdCheckProgram&) = delete;

  // Makes the map equal `entries` (representor ifindex -> the port's entry):
  // writes new and changed entries first, then deletes the ones not wanted,
  // so a port that stays is never without its entry. Entries equal to what
  // this object last wrote are not written again.
  absl::Status Sync(const std::map<uint32_t, std::vector<policy::NdAllowed>>& entries);
  // The entries this object believes the map holds.
  const std::map<uint32_t, std::vector<policy::NdAllowed>>& entries() const { return written_; }
  // How many map writes and deletes Sync made so far (tests, metrics).
  uint64_t map_writes() const { return map_writes_; }

  int prog_fd() const { return prog_fd_; }
  int map_fd() const { return map_fd_; }
  static constexpr const char* kProgramName = "vfguard_nd_check";

 private:
  NdCheckProgram() = default;
  bpf_object* object_ = nullptr;
  int prog_fd_ = -1;
  int map_fd_ = -1;
  uint64_t map_writes_ = 0;
  std::map<uint32_t, std::vector<policy::NdAllowed>> written_;
};

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_ND_CHECK_PROGRAM_H_
