#include "offload/hw_model.h"

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;

// One acceptance rule of the driver: if `rejects` holds for a filter under
// the given capabilities, the driver answers with `code` and `message`.
struct HwRule {
  std::function<bool(const Filter&, const HwCapabilities&)> rejects;
  absl::StatusCode code;
  const char* message;
};

bool HasAction(const Filter& f, Action::Kind kind) {
  for (const Action& a : f.actions) {
    if (a.kind == kind) return true;
  }
  return false;
}

bool HasL4Ports(const Filter& f) { return f.match.src_port || f.match.dst_port; }

// Facts from drivers/net/ethernet/mellanox/mlx5/core/en_tc.c (parse_tc_fdb_actions,
// __parse_cls_flower) and en/tc_ct.c (mlx5_tc_ct_match_add, mlx5_tc_ct_parse_action);
// see docs/offload.md.
const std::vector<HwRule>& Rules() {
  static const std::vector<HwRule> kRules = {
      {[](const Filter& f, const HwCapabilities&) {
         const auto& m = f.match;
         return m.arp_op || m.arp_sip || m.arp_tip || m.arp_sha || m.arp_tha;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: ARP keys are not supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return HasL4Ports(f) && (!f.match.ip_proto || (*f.match.ip_proto != policy::kProtoTcp &&
                                                        *f.match.ip_proto != policy::kProtoUdp));
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Only UDP and TCP transports are supported for L4 matching"},
      {[](const Filter& f, const HwCapabilities& caps) {
         return (f.match.icmp_type || f.match.icmp_code) && !caps.icmp_flex_parser;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: ICMP type/code matching requires the flex parser"},
      {[](const Filter& f, const HwCapabilities&) {
         return f.match.ct_state &&
                (f.match.ct_state->mask & (policy::kCtRelated | policy::kCtInvalid)) != 0;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: only ct_state trk, est, new and rpl are supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return !f.actions.empty() && f.actions.back().kind == Action::Kind::kCt &&
                f.actions.back().commit;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: ct commit as the last action is not supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return HasAction(f, Action::Kind::kContinue) || HasAction(f, Action::Kind::kPipe);
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: The action is not supported"},
      {[](const Filter& f, const HwCapabilities& caps) {
         if (caps.ignore_flow_level) return false;
         if (f.chain > 2 || f.prio > 16) return true;
         for (const Action& a : f.actions) {
           if (a.kind == Action::Kind::kGoto && a.chain > 2) return true;
         }
         return false;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Requested chain/prio is out of supported range"},
      {[](const Filter& f, const HwCapabilities&) {
         int forwards = 0;
         for (const Action& a : f.actions) {
           if (a.kind == Action::Kind::kMirredMirror || a.kind == Action::Kind::kMirredRedirect) {
             ++forwards;
           }
         }
         return forwards > kMaxForwardDestinations;
       },
       absl::StatusCode::kInvalidArgument,
       "mlx5_core: The number of forward destinations exceeds the limit"},
  };
  return kRules;
}

}  // namespace

absl::Status HardwareModel::Accepts(const policy::Filter& filter) const {
  for (const HwRule& rule : Rules()) {
    if (rule.rejects(filter, caps_)) return absl::Status(rule.code, rule.message);
  }
  return absl::OkStatus();
}

int ErrnoOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    case absl::StatusCode::kInvalidArgument:
      return EINVAL;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    default:
      return EIO;
  }
}

}  // namespace vfguard::offload
