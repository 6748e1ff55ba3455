// Remote-set matches in the kernel slow path: loads the cls_bpf program
// offload/bpf/set_match.bpf.c and keeps its maps (docs/performance.md,
// "Remote groups").
//
// One loaded program serves every set-match filter: a filter is attached in
// classifier mode (not direct action) with the rule's actions and a classid
// whose low 16 bits name its SetRule; the program matches when the frame
// carries the rule's L4 keys and its remote address (the source for an
// ingress rule, the destination for an egress rule) is in the rule's set.
// A member joining or leaving a set is an LPM map update: no filter and no
// program is written again.
//
// Loading needs CAP_BPF + CAP_NET_ADMIN (or root); without them Create fails
// naming the errno. Not thread-safe.
#ifndef VFGUARD_OFFLOAD_SET_MATCH_PROGRAM_H_
#define VFGUARD_OFFLOAD_SET_MATCH_PROGRAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policy/addr.h"
#include "policy/ir.h"

struct bpf_object;

namespace vfguard::offload {

// What a frame must carry, besides a remote address in set `set_id`.
struct SetRule {
  uint32_t set_id = 0;
  policy::IpFamily family = policy::IpFamily::kV4;
  bool remote_is_src = true;  // ingress rules: the source address
  uint8_t ip_proto = 0;       // 0: any
  std::optional<policy::Masked<uint16_t>> dport;
  std::optional<uint8_t> icmp_type;
  std::optional<uint8_t> icmp_code;
  auto operator<=>(const SetRule&) const = default;
};

// Everything the maps should hold: rules by their 16-bit key (the filters'
// classid), and each set's prefixes (both families; a rule looks up its own).
struct SetMatchState {
  std::map<uint16_t, SetRule> rules;
  std::map<uint32_t, std::set<policy::IpPrefix>> sets;
};

class SetMatchProgram {
 public:
  static absl::StatusOr<std::unique_ptr<SetMatchProgram>> Create();
  ~SetMatchProgram();
  SetMatchProgram(const SetMatchProgram&) = delete;
  SetMatchProgram& operator=(const SetMatchProgram&) = delete;

  // Makes the maps equal `want`, in an order that never lets a rule see a
  // half-removed set: prefixes added first, then rules written, then rules
  // deleted, then prefixes deleted. What equals the last Sync is not written
  // again, so a member change costs one map write. INVALID_ARGUMENT (before
  // any write) for a prefix longer than its family allows.
  absl::Status Sync(const SetMatchState& want);
  const SetMatchState& state() const { return written_; }
  // Map writes and deletes so far (tests, metrics).
  uint64_t map_writes() const { return map_writes_; }

  int prog_fd() const { return prog_fd_; }
  static constexpr const char* kProgramName = "vfguard_set_match";

 private:
  SetMatchProgram() = default;
  absl::Status WritePrefix(uint32_t set_id, const policy::IpPrefix& prefix, bool add);
  absl::Status WriteRule(uint16_t key, const SetRule* rule);  // null: delete

  bpf_object* object_ = nullptr;
  int prog_fd_ = -1;
  int rules_fd_ = -1;
  int v4_fd_ = -1;
  int v6_fd_ = -1;
  uint64_t map_writes_ = 0;
  SetMatchState written_;
};

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_SET_MATCH_PROGRAM_H_
