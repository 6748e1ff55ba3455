// The reconciler's narrow view of the kernel's tc state: clsact qdiscs and
// flower filters, of one shared block and of devices' clsact hooks. Two implementations:
// NetlinkTcBackend (agent/netlink_tc_backend.h, the real kernel over netlink) and FakeTcBackend
// (tests/fakes/fake_tc_backend.h, in memory, for unit tests).
//
// Synchronous on purpose: the reconciler runs one pass to completion on the
// reactor thread; the real backend uses its own private io_context for its
// netlink socket, so a pass never re-enters the reactor.
#ifndef VFGUARD_AGENT_TC_BACKEND_H_
#define VFGUARD_AGENT_TC_BACKEND_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

struct TcOp {
  enum class Kind : uint8_t {
    kCreateClsact,   // clsact on qdisc.ifindex bound to qdisc.ingress_block; EEXIST if present
    kDeleteClsact,   // removes clsact (and every filter of the device's private blocks)
    kCreateFilter,   // "tc filter add": EEXIST if (chain, prio, handle) is taken
    kReplaceFilter,  // "tc filter replace": atomic swap of an existing filter
    kDeleteFilter,   // by (owner, chain, prio, protocol, handle); ENOENT if absent
  };
  Kind kind = Kind::kCreateFilter;
  netlink::ClsactQdisc qdisc;    // k*Clsact
  netlink::FlowerFilter filter;  // k*Filter
};

class TcBackend {
 public:
  virtual ~TcBackend() = default;
  // Devices that have a clsact qdisc: ifindex -> ingress block (0: private).
  virtual absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() = 0;
  // Every flower filter of `owner` (a shared block, or one clsact hook of a
  // device: TcDevice{ifindex, kClsactIngressParent or kClsactEgressParent}),
  // decoded (status and stats filled); filters of other classifiers (the
  // activation BPF hook) are left out. A device without clsact has none. A
  // dump interrupted by concurrent changes is retried internally.
  virtual absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) = 0;
  // The filters of one chain of `owner`, decoded like DumpFilters. The
  // kernel backend asks the kernel for that chain only (TCA_CHAIN).
  virtual absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpChain(
      const netlink::FilterOwner& owner, uint32_t chain) {
    absl::StatusOr<std::vector<netlink::FlowerFilter>> all = DumpFilters(owner);
    if (!all.ok()) return all.status();
    std::erase_if(*all, [chain](const netlink::FlowerFilter& f) { return f.chain != chain; });
    return all;
  }
  // DumpFilters of shared block `block`.
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpBlock(uint32_t block) {
    return DumpFilters(netlink::TcBlock{block});
  }
  // Applies `ops` in order, batched; one status per op, in order. A failing op
  // does not stop the ones after it. Statuses carry errno and extack as
  // netlink::DecodeAck builds them (netlink::ErrnoFromStatus /
  // ExtackFromStatus read them back).
  virtual std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_BACKEND_H_
