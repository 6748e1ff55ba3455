// A model of what the mlx5 (ConnectX) eswitch driver accepts as an offloaded
// tc-flower filter in the shared ingress block, written from the driver's
// source (drivers/net/ethernet/mellanox/mlx5/core/en_tc.c, en/tc_ct.c,
// en/tc/act/*.c, lib/fs_chains.c; see docs/offload.md for the rule table and
// where each rule comes from).
//
// Pure: used by placement in unit and property tests. On a real NIC the
// driver answers for itself (the agent offers the filter and keeps the errno
// and extack); the model only has to be close enough that placement is
// exercised on realistic rejections.
#ifndef VFGUARD_OFFLOAD_HW_MODEL_H_
#define VFGUARD_OFFLOAD_HW_MODEL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "policy/ir.h"

namespace vfguard::offload {

// Forward destinations (mirred actions) one rule may have
// (MLX5_MAX_FLOW_FWD_VPORTS; it was 2 in older kernels).
inline constexpr int kMaxForwardDestinations = 32;
// VLAN push/pop actions one rule may carry (MLX5_FS_VLAN_DEPTH).
inline constexpr int kMaxVlanActions = 2;
// Without ignore_flow_level: chains 0..kMaxChainNoIgnoreFlowLevel
// (FDB_TC_MAX_CHAIN) and prios 1..kMaxPrioNoIgnoreFlowLevel (FDB_TC_MAX_PRIO).
inline constexpr uint32_t kMaxChainNoIgnoreFlowLevel = 3;
inline constexpr uint16_t kMaxPrioNoIgnoreFlowLevel = 16;

struct HwCapabilities {
  // flex_parser_protocols has MLX5_FLEX_PROTO_ICMP / _ICMPV6: ICMP type/code
  // matching. One switch for both families (they come together on the NICs
  // we target).
  bool icmp_flex_parser = false;
  // ignore_flow_level: chains up to 2^32-2, any prio, backwards goto.
  // Without it: chains 0..3, prios 1..16, goto only to a higher chain.
  bool ignore_flow_level = true;
  // Another mlx5 representor shares the block and filters are offered with
  // skip_sw. tc_setup_cb_add() stops at the first callback error when
  // skip_sw is set, and every representor other than the one named by indev
  // refuses the filter (mlx5e_flower_parse_meta), so no filter with an indev
  // key can be offloaded. Off by default: the agent is expected to offer
  // indev filters so that this does not happen (see docs/offload.md).
  bool skip_sw_indev_refused_by_peers = false;
};

class HardwareModel {
 public:
  explicit HardwareModel(HwCapabilities caps = {}) : caps_(caps) {}
  virtual ~HardwareModel() = default;
  // OK if the eswitch would accept `filter` offered on its own with skip_sw;
  // else the first rule it breaks, as a status whose code maps to the errno
  // the driver returns (ErrnoOf) and whose message reads like its extack
  // ("mlx5_core: ..." or "act_gact: ..." for actions tc cannot describe to
  // any driver).
  virtual absl::Status Accepts(const policy::Filter& filter) const;
  const HwCapabilities& caps() const { return caps_; }

 private:
  HwCapabilities caps_;
};

// errno for a model or driver status: Unimplemented -> EOPNOTSUPP,
// InvalidArgument -> EINVAL, ResourceExhausted -> ENOSPC, NotFound -> ENOENT,
// AlreadyExists -> EEXIST, PermissionDenied -> EPERM, OK -> 0, other -> EIO.
int ErrnoOf(const absl::Status& status);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_HW_MODEL_H_
