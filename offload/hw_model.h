// A model of what an mlx5 (ConnectX) eswitch accepts as offloaded tc-flower
// rules, from the driver's source (see ARCHITECTURE.md, "Hardware model").
// Pure: used by placement and by the property tests; the real driver answers
// for itself on a real NIC.
#ifndef VFGUARD_OFFLOAD_HW_MODEL_H_
#define VFGUARD_OFFLOAD_HW_MODEL_H_

#include <string>

#include "absl/status/status.h"
#include "policy/ir.h"

namespace vfguard::offload {

// Forward destinations one mlx5 rule may have (MLX5_MAX_FLOW_FWD_VPORTS).
inline constexpr int kMaxForwardDestinations = 32;

struct HwCapabilities {
  bool icmp_flex_parser = false;  // ICMP type/code matching
  bool ignore_flow_level = true;  // chains up to 2^32-2; else 3 chains x 16 prios
};

class HardwareModel {
 public:
  explicit HardwareModel(HwCapabilities caps = {}) : caps_(caps) {}
  virtual ~HardwareModel() = default;
  // OK if the eswitch would accept `filter`; else an error whose code maps to the errno the driver
  // returns (Unimplemented = EOPNOTSUPP, InvalidArgument = EINVAL) and whose message reads like the
  // driver's extack ("mlx5_core: ...").
  virtual absl::Status Accepts(const policy::Filter& filter) const;
  const HwCapabilities& caps() const { return caps_; }

 private:
  HwCapabilities caps_;
};

// errno for a model/driver status (EOPNOTSUPP, EINVAL, ...).
int ErrnoOf(const absl::Status& status);

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_HW_MODEL_H_
