#include "offload/hw_model.h"

#include <cerrno>
#include <set>
#include <vector>

#include "policy/model.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;
using Kind = policy::Action::Kind;

// One acceptance rule: when `rejects` holds for a filter under the given
// capabilities, the driver answers `code` with extack `message`. Rows are in
// the order the driver checks: match keys (__parse_cls_flower,
// mlx5_tc_ct_match_add), then each action (parse_tc_actions and the
// en/tc/act/*.c can_offload/parse hooks), then the action set as a whole
// (actions_match_supported), then chain and prio (mlx5e_tc_add_fdb_flow).
struct HwRule {
  bool (*rejects)(const Filter&, const HwCapabilities&);
  absl::StatusCode code;
  const char* message;
};

int Count(const Filter& f, bool (*pred)(const Action&)) {
  int n = 0;
  for (const Action& a : f.actions) n += pred(a) ? 1 : 0;
  return n;
}

bool IsMirred(const Action& a) {
  return a.kind == Kind::kMirredMirror || a.kind == Kind::kMirredRedirect;
}
// Actions that give the rule a destination (MLX5_FLOW_CONTEXT_ACTION_FWD_DEST):
// accept, trap (to the slow path), goto and mirred.
bool IsForward(const Action& a) {
  return a.kind == Kind::kOk || a.kind == Kind::kTrap || a.kind == Kind::kGoto || IsMirred(a);
}

bool CtOn(const Filter& f, uint16_t bit) {
  return f.match->ct_state && (f.match->ct_state->mask & bit) && (f.match->ct_state->value & bit);
}

constexpr uint16_t kOffloadableCtBits = policy::kCtTracked | policy::kCtEstablished |
                                        policy::kCtNew | policy::kCtReply | policy::kCtRelated |
                                        policy::kCtInvalid;

// parse_tc_vlan_action: each push or pop uses one of MLX5_FS_VLAN_DEPTH
// slots, except a push right after a pop, which becomes a VLAN rewrite.
bool TooManyVlanActions(const Filter& f, const HwCapabilities&) {
  int used = 0;
  bool pop_pending = false;
  for (const Action& a : f.actions) {
    if (a.kind == Kind::kVlanPush && pop_pending) {
      pop_pending = false;
      continue;
    }
    if (a.kind != Kind::kVlanPop && a.kind != Kind::kVlanPush) continue;
    if (used >= kMaxVlanActions) return true;
    ++used;
    pop_pending = a.kind == Kind::kVlanPop && used == 1;
  }
  return false;
}

bool DuplicateOutput(const Filter& f, const HwCapabilities&) {
  std::set<policy::DeviceRef> seen;
  for (const Action& a : f.actions) {
    if (IsMirred(a) && !seen.insert(a.device).second) return true;
  }
  return false;
}

uint32_t MaxChain(const HwCapabilities& caps) {
  return caps.ignore_flow_level ? UINT32_MAX - 1 : kMaxChainNoIgnoreFlowLevel;
}

const std::vector<HwRule>& Rules() {
  static const std::vector<HwRule> kRules = {
      // --- match keys ---
      {[](const Filter& f, const HwCapabilities&) {
         const policy::FlowerMatch& m = f.match;
         return m.arp_op || m.arp_sip || m.arp_tip || m.arp_sha || m.arp_tha;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Unsupported key"},
      {[](const Filter& f, const HwCapabilities& caps) {
         return caps.skip_sw_indev_refused_by_peers && f.match->indev.has_value();
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Can't match on the ingress filter port"},
      {[](const Filter& f, const HwCapabilities&) {
         return (f.match->src_port || f.match->dst_port) &&
                f.match->ip_proto.value_or(0) != policy::kProtoTcp &&
                f.match->ip_proto.value_or(0) != policy::kProtoUdp;
       },
       absl::StatusCode::kInvalidArgument,
       "mlx5_core: Only UDP and TCP transports are supported for L4 matching"},
      {[](const Filter& f, const HwCapabilities& caps) {
         return (f.match->icmp_type || f.match->icmp_code) && !caps.icmp_flex_parser &&
                f.match->ip_proto.value_or(0) == policy::kProtoIcmp;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Match on Flex protocols for ICMP is not supported"},
      {[](const Filter& f, const HwCapabilities& caps) {
         return (f.match->icmp_type || f.match->icmp_code) && !caps.icmp_flex_parser &&
                f.match->ip_proto.value_or(0) != policy::kProtoIcmp;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Match on Flex protocols for ICMPV6 is not supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return f.match->ct_state && (f.match->ct_state->mask & ~kOffloadableCtBits) != 0;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: only ct_state trk, est, new and rpl are supported for offload"},
      {[](const Filter& f, const HwCapabilities&) { return CtOn(f, policy::kCtRelated); },
       absl::StatusCode::kUnimplemented, "mlx5_core: matching on ct_state +rel isn't supported"},
      {[](const Filter& f, const HwCapabilities&) { return CtOn(f, policy::kCtInvalid); },
       absl::StatusCode::kUnimplemented, "mlx5_core: matching on ct_state +inv isn't supported"},
      {[](const Filter& f, const HwCapabilities&) { return CtOn(f, policy::kCtNew); },
       absl::StatusCode::kUnimplemented, "mlx5_core: matching on ct_state +new isn't supported"},
      // --- single actions (tc core first: gact cannot describe these) ---
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, [](const Action& a) { return a.kind == Kind::kContinue; }) > 0;
       },
       absl::StatusCode::kUnimplemented,
       "act_gact: Offload of \"continue\" action is not supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, [](const Action& a) { return a.kind == Kind::kPipe; }) > 0;
       },
       absl::StatusCode::kUnimplemented, "act_gact: Offload of \"pipe\" action is not supported"},
      {[](const Filter& f, const HwCapabilities&) {
         return f.actions.size() > 1 &&
                Count(f, [](const Action& a) { return a.kind == Kind::kTrap; }) > 0;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: action trap is supported as a sole action only"},
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, [](const Action& a) { return a.kind == Kind::kCt && !a.clear; }) > 1;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Multiple CT actions are not supported"},
      {TooManyVlanActions, absl::StatusCode::kUnimplemented,
       "mlx5_core: Total vlans used is greater than supported"},
      {DuplicateOutput, absl::StatusCode::kUnimplemented,
       "mlx5_core: can't duplicate output to same device"},
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, IsMirred) > kMaxForwardDestinations;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: can't support more output ports, can't offload forwarding"},
      {[](const Filter& f, const HwCapabilities&) {
         if (!f.match->indev || f.match->indev->kind != policy::DeviceRef::Kind::kPort)
           return false;
         for (const Action& a : f.actions) {
           if (IsMirred(a) && a.device == *f.match->indev) return true;
         }
         return false;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: can't forward from a VF to itself"},
      {[](const Filter& f, const HwCapabilities& caps) {
         if (caps.ignore_flow_level) return false;
         for (const Action& a : f.actions) {
           if (a.kind == Kind::kGoto && a.chain <= f.chain) return true;
         }
         return false;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Goto lower numbered chain isn't supported"},
      {[](const Filter& f, const HwCapabilities& caps) {
         for (const Action& a : f.actions) {
           if (a.kind == Kind::kGoto && a.chain > MaxChain(caps)) return true;
         }
         return false;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Requested destination chain is out of supported range"},
      // --- the action set (actions_match_supported) ---
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, IsForward) == 0 &&
                Count(f, [](const Action& a) { return a.kind == Kind::kDrop; }) == 0;
       },
       absl::StatusCode::kUnimplemented,
       "mlx5_core: Rule must have at least one forward/drop action"},
      {[](const Filter& f, const HwCapabilities&) {
         return Count(f, IsForward) > 0 &&
                Count(f, [](const Action& a) { return a.kind == Kind::kDrop; }) > 0;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Rule cannot support forward+drop action"},
      // --- where the rule sits (mlx5e_tc_add_fdb_flow) ---
      {[](const Filter& f, const HwCapabilities& caps) { return f.chain > MaxChain(caps); },
       absl::StatusCode::kUnimplemented, "mlx5_core: Requested chain is out of supported range"},
      {[](const Filter& f, const HwCapabilities& caps) {
         return !caps.ignore_flow_level && f.prio > kMaxPrioNoIgnoreFlowLevel;
       },
       absl::StatusCode::kUnimplemented, "mlx5_core: Requested priority is out of supported range"},
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
