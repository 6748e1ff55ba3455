// The ND check (docs/semantics.md §3.3) as the reconciler drives it: the
// cls_bpf program at prio 1 of the ND chain (policy::Chains::kNd) and its
// per-port map, kept equal to the pipeline within the reconciler's pass.
//
// The reconciler calls Sync once per pass, after the clsact qdiscs exist
// (the block exists once a device binds it) and before its filter writes,
// so a port's map entry is in place before the goto that sends its NS/NA to
// the check; a changed entry (a VIP added or removed) is a map write, and
// neither the program nor any filter is written again.
#ifndef VFGUARD_AGENT_ND_CHECK_HOOK_H_
#define VFGUARD_AGENT_ND_CHECK_HOOK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "common/log.h"
#include "netlink/nl_socket.h"
#include "offload/nd_check_program.h"
#include "policy/ir.h"

namespace vfguard::agent {

// Representor ifindex -> the port's ND entry.
using NdEntries = std::map<uint32_t, std::vector<policy::NdAllowed>>;

class NdCheckHook {
 public:
  virtual ~NdCheckHook() = default;
  // Attaches the program if it is not yet (replacing what an earlier
  // process attached: that program reads a map nobody writes), then makes
  // the map equal `entries`. Returns the first error; what failed is retried
  // by the next pass.
  virtual absl::Status Sync(const NdEntries& entries) = 0;
  // The program is attached (by this object).
  virtual bool attached() const = 0;
  // Map writes and deletes so far.
  virtual uint64_t map_writes() const = 0;
};

// The kernel's: loads offload::NdCheckProgram and attaches it over its own
// netlink socket (a short synchronous request, like the activation hook's).
class KernelNdCheckHook : public NdCheckHook {
 public:
  // Loads the program; fails without CAP_BPF/CAP_NET_ADMIN or BPF.
  static absl::StatusOr<std::unique_ptr<KernelNdCheckHook>> Create(uint32_t block,
                                                                   common::Logger& log);
  absl::Status Sync(const NdEntries& entries) override;
  bool attached() const override { return attached_; }
  uint64_t map_writes() const override { return program_->map_writes(); }

 private:
  KernelNdCheckHook(uint32_t block, common::Logger& log) : block_(block), log_(log) {}
  absl::Status Attach();

  uint32_t block_;
  common::Logger& log_;
  std::unique_ptr<offload::NdCheckProgram> program_;
  boost::asio::io_context private_io_;  // for the attach request only
  std::unique_ptr<netlink::NetlinkSocket> socket_;
  bool attached_ = false;
};

// For tests: records what the reconciler asked for.
class FakeNdCheckHook : public NdCheckHook {
 public:
  absl::Status Sync(const NdEntries& entries) override {
    ++syncs;
    if (!fail.ok()) return fail;
    attached_ = true;
    for (const auto& [ifindex, allowed] : entries) {
      auto it = map.find(ifindex);
      if (it == map.end() || it->second != allowed) ++writes_;
    }
    for (const auto& [ifindex, allowed] : map) writes_ += entries.count(ifindex) == 0;
    map = entries;
    return absl::OkStatus();
  }
  bool attached() const override { return attached_; }
  uint64_t map_writes() const override { return writes_; }

  NdEntries map;
  int syncs = 0;
  absl::Status fail;

 private:
  bool attached_ = false;
  uint64_t writes_ = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_ND_CHECK_HOOK_H_
