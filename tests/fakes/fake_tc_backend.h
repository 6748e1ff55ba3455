// An in-memory TcBackend with the kernel's answers for what the reconciler
// does (checked against the real kernel by tests/kernel/tc_backend_kernel_test):
//
// - Devices exist only once added (AddDevice); ops on others get ENODEV, and
//   filters naming an absent indev or mirred target are refused (EINVAL /
//   ENODEV), as the kernel does.
// - kCreateClsact: EEXIST if the device has one. kDeleteClsact: ENOENT if it
//   has none; removes the device's own filters, and a shared block's filters
//   when no device is bound to the block any more.
// - kCreateFilter: EEXIST if (owner, chain, prio, handle) is taken or another
//   handle at that prio has the same keys (flower keeps a match once); EINVAL if
//   the (owner, chain, prio) holds another protocol, if the block is bound to
//   no device ("Block of given index was not found") or the device has no
//   clsact. prio and handle must be explicit (the fake does not allocate).
// - kReplaceFilter / kDeleteFilter: ENOENT if the filter is absent.
// - skip_sw: refused with EOPNOTSUPP (and no extack, as veth on Debian 6.1
//   answers) unless the hardware predicate (SetHardware) accepts the filter;
//   then the dump reports in_hw. Whatever passes the netlink encoder's
//   validation is otherwise accepted; what fails it gets the same
//   InvalidArgument as NetlinkTcBackend.
// - Stored keys are normalised as the kernel does: an 802.1Q/802.1ad eth_type
//   without VLAN keys is not kept (nor dumped).
// - indev: flower resolves the name to an ifindex when the filter is written
//   and a dump names the device that has that ifindex now (no indev if it is
//   gone): a device re-created under the same name is not matched by the
//   filters written before (filters() keeps them as written).
// - Dumps return filters in (chain, prio, handle) order (the kernel lists
//   chains in creation order; do not depend on either) with status and
//   per-action stats: packet/byte counters a test sets (SetCounters) show up
//   in status and in the first action's stats.
// Tests can also change state "behind the agent's back" (drift) through the
// *Behind methods, which are not counted as writes.
#ifndef VFGUARD_TESTS_FAKES_FAKE_TC_BACKEND_H_
#define VFGUARD_TESTS_FAKES_FAKE_TC_BACKEND_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "agent/tc_backend.h"
#include "agent/tc_write_counts.h"

namespace vfguard::agent {

class FakeTcBackend : public TcBackend {
 public:
  using HardwareFn = std::function<absl::Status(const netlink::FlowerFilter&)>;
  // (owner, chain, prio, handle): what identifies a filter.
  using FilterKey = std::tuple<netlink::FilterOwner, uint32_t, uint16_t, uint32_t>;
  static FilterKey KeyOf(const netlink::FlowerFilter& f);

  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override;
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override;

  // Devices. Removing one (a VF reset, a representor going away) drops its
  // clsact and with it what DeleteClsact would drop.
  void AddDevice(uint32_t ifindex, std::string name);
  void RemoveDevice(uint32_t ifindex);

  // Accepts skip_sw filters the predicate returns OK for; its error status
  // (errno via netlink::ErrnoStatus, say) is the answer otherwise. Unset: veth.
  void SetHardware(HardwareFn accepts) { hardware_ = std::move(accepts); }

  // Called after each single op of Apply with its answer, so a test can check
  // an invariant of the installed state between any two writes.
  using OpObserver = std::function<void(const TcOp&, const absl::Status&)>;
  void SetObserver(OpObserver observer) { observer_ = std::move(observer); }
  // Fault injection: an op the predicate returns an error for gets that
  // error (counted as a write, state unchanged). Unset: no faults.
  using FaultFn = std::function<absl::Status(const TcOp&)>;
  void SetFault(FaultFn fault) { fault_ = std::move(fault); }

  // Sets the counters a dump reports for an installed filter; NotFound if absent.
  absl::Status SetCounters(const FilterKey& key, uint64_t packets, uint64_t bytes);

  // Drift: changes nobody asked the backend for.
  absl::Status DeleteFilterBehind(const FilterKey& key);
  // Replaces an installed filter's contents (key fields of `f` must match one).
  absl::Status ModifyFilterBehind(const netlink::FlowerFilter& f);
  absl::Status DeleteClsactBehind(uint32_t ifindex);

  // Every installed filter, by key (without status).
  const std::map<FilterKey, netlink::FlowerFilter>& filters() const { return filters_; }
  const TcWriteCounts& writes() const { return writes_; }
  void ResetWrites() { writes_ = {}; }
  // Calls of Apply, and of the dumps (DumpClsact and DumpFilters).
  int apply_calls() const { return apply_calls_; }
  int dump_calls() const { return dump_calls_; }
  // The most ops one call of Apply was given.
  size_t largest_apply() const { return largest_apply_; }
  void ResetCalls() {
    apply_calls_ = dump_calls_ = 0;
    largest_apply_ = 0;
  }

 private:
  struct Counters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  struct Installed {
    bool in_hw = false;
    Counters counters;
    uint32_t indev_ifindex = 0;  // what the indev name resolved to when written
  };

  absl::Status ApplyOne(const TcOp& op);
  absl::Status CheckOwner(const netlink::FilterOwner& owner) const;
  absl::Status CheckDevices(const netlink::FlowerFilter& f) const;
  absl::Status CreateOrReplace(const netlink::FlowerFilter& f, bool create);
  absl::Status RemoveClsact(uint32_t ifindex);
  bool BlockBound(uint32_t block) const;
  void DropOwner(const netlink::FilterOwner& owner);

  std::map<uint32_t, std::string> devices_;
  std::map<uint32_t, uint32_t> clsact_;  // ifindex -> ingress block
  std::map<FilterKey, netlink::FlowerFilter> filters_;
  std::map<FilterKey, Installed> installed_;
  HardwareFn hardware_;
  OpObserver observer_;
  FaultFn fault_;
  TcWriteCounts writes_;
  int apply_calls_ = 0;
  int dump_calls_ = 0;
  size_t largest_apply_ = 0;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_TESTS_FAKES_FAKE_TC_BACKEND_H_
