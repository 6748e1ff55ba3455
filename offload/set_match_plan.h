// The numbers behind the remote-set match filters (docs/performance.md,
// "Remote groups"): which set id each named set gets in the LPM maps of
// offload::SetMatchProgram, and which rule key (the cls_bpf filter's
// classid, read by the program as __sk_buff.tc_classid) each distinct rule
// gets. Pure; the agent's hook keeps one SetMatchNumbering for its lifetime
// so that numbers stay put across passes and nothing is rewritten that did
// not change.
#ifndef VFGUARD_OFFLOAD_SET_MATCH_PLAN_H_
#define VFGUARD_OFFLOAD_SET_MATCH_PLAN_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/bpf_filter_codec.h"
#include "offload/set_match_program.h"
#include "policy/addr.h"

namespace vfguard::offload {

// One filter standing for a rule whose remote is a set.
struct SetMatchFilter {
  // Where it goes (owner, chain, prio, handle, protocol) and the rule's
  // actions; the plan sets the classifier-mode fields and the classid.
  netlink::BpfFilter filter;
  SetRule rule;     // its set_id is ignored: `set` names the set
  std::string set;  // a key of SetMatchWant::sets
};

struct SetMatchWant {
  std::vector<SetMatchFilter> filters;
  std::map<std::string, std::set<policy::IpPrefix>> sets;  // by name, both families
};

struct SetMatchPlan {
  SetMatchState maps;
  std::vector<netlink::BpfFilter> filters;  // prog_fd left for the caller
};

class SetMatchNumbering {
 public:
  // Numbers `want`. A set or rule that the previous plan numbered keeps its
  // number; a new one gets the lowest number (from 1) that neither the
  // previous nor this plan uses, so a filter left from the previous pass
  // (deleted after the maps are written) never meets another rule under its
  // classid. Errors, with nothing kept: InvalidArgument for a filter naming
  // a set `want` lacks; ResourceExhausted past 65,535 distinct rules.
  absl::StatusOr<SetMatchPlan> Plan(const SetMatchWant& want);

 private:
  std::map<std::string, uint32_t> set_ids_;
  std::map<SetRule, uint16_t> rule_keys_;  // rules with their set_id filled
};

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_SET_MATCH_PLAN_H_
