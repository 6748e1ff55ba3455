// Remote-set match filters in the kernel (docs/performance.md, "Remote
// groups"): the cls_bpf filters that stand for rules whose remote is a set,
// the one program they share and its maps, kept equal to what a pass wants.
//
// Sync numbers the want (offload::SetMatchNumbering: set ids and rule keys
// stay put across passes), writes the maps first (prefixes added, rules
// written, then stale rules and prefixes deleted), then creates or replaces
// the filters that are new or changed and deletes the ones no longer wanted.
// A member joining or leaving a set is one map write and no filter write. A
// filter left over for the rest of a pass whose rule was deleted matches
// nothing (fail closed) until the pass deletes it.
//
// The reconciler calls Sync on the pass worker (Reconciler::SetSetMatch),
// before its flower writes, and the agent turns CompileOptions::set_lookups
// on only when Create succeeds.
#ifndef VFGUARD_AGENT_SET_MATCH_HOOK_H_
#define VFGUARD_AGENT_SET_MATCH_HOOK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "common/log.h"
#include "netlink/bpf_filter_codec.h"
#include "netlink/nl_socket.h"
#include "offload/set_match_plan.h"
#include "offload/set_match_program.h"

namespace vfguard::agent {

class SetMatchHook {
 public:
  virtual ~SetMatchHook() = default;
  // See the file comment. Returns the first error; what failed is retried by
  // the next Sync.
  virtual absl::Status Sync(const offload::SetMatchWant& want) = 0;
  // Map writes and deletes, filter creates, replaces and deletes so far.
  virtual uint64_t map_writes() const = 0;
  virtual uint64_t filter_writes() const = 0;
};

// The kernel's: loads offload::SetMatchProgram and writes the filters over
// its own netlink socket, one short synchronous request each.
class KernelSetMatchHook : public SetMatchHook {
 public:
  // Loads the program; fails without CAP_BPF/CAP_NET_ADMIN or BPF.
  static absl::StatusOr<std::unique_ptr<KernelSetMatchHook>> Create(common::Logger& log);
  absl::Status Sync(const offload::SetMatchWant& want) override;
  uint64_t map_writes() const override { return program_->map_writes(); }
  uint64_t filter_writes() const override { return filter_writes_; }

 private:
  using Key = std::tuple<netlink::FilterOwner, uint32_t, uint16_t, uint32_t>;
  static Key KeyOf(const netlink::BpfFilter& f) { return {f.owner, f.chain, f.prio, f.handle}; }
  explicit KernelSetMatchHook(common::Logger& log) : log_(log) {}

  common::Logger& log_;
  std::unique_ptr<offload::SetMatchProgram> program_;
  boost::asio::io_context private_io_;  // for the requests only
  std::unique_ptr<netlink::NetlinkSocket> socket_;
  offload::SetMatchNumbering numbering_;
  std::map<Key, netlink::BpfFilter> installed_;  // as this object last wrote them
  uint64_t filter_writes_ = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_SET_MATCH_HOOK_H_
