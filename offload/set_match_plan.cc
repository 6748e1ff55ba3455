#include "offload/set_match_plan.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace vfguard::offload {
namespace {

// The lowest number from 1 that neither `a` nor `b` holds as a value.
template <typename K, typename V>
uint64_t LowestFree(const std::map<K, V>& a, const std::map<K, V>& b) {
  std::set<uint64_t> used;
  for (const auto& [k, v] : a) used.insert(v);
  for (const auto& [k, v] : b) used.insert(v);
  uint64_t n = 1;
  for (uint64_t u : used) {
    if (u > n) break;
    if (u == n) ++n;
  }
  return n;
}

}  // namespace

absl::StatusOr<SetMatchPlan> SetMatchNumbering::Plan(const SetMatchWant& want) {
  std::map<std::string, uint32_t> set_ids;
  for (const auto& [name, prefixes] : want.sets) {
    auto it = set_ids_.find(name);
    set_ids[name] =
        it != set_ids_.end() ? it->second : static_cast<uint32_t>(LowestFree(set_ids_, set_ids));
  }
  SetMatchPlan plan;
  std::map<SetRule, uint16_t> rule_keys;
  for (size_t i = 0; i < want.filters.size(); ++i) {
    const SetMatchFilter& f = want.filters[i];
    auto set = set_ids.find(f.set);
    if (set == set_ids.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("set-match filter ", i, ": set ", f.set, " is not in the plan's sets"));
    }
    SetRule rule = f.rule;
    rule.set_id = set->second;
    auto have = rule_keys.find(rule);
    if (have == rule_keys.end()) {
      auto before = rule_keys_.find(rule);
      uint64_t key =
          before != rule_keys_.end() ? before->second : LowestFree(rule_keys_, rule_keys);
      if (key > std::numeric_limits<uint16_t>::max()) {
        return absl::ResourceExhaustedError(
            absl::StrCat("set-match rules: more than 65535 distinct (set, L4 match) rules"));
      }
      have = rule_keys.emplace(rule, static_cast<uint16_t>(key)).first;
      plan.maps.rules[have->second] = rule;
    }
    netlink::BpfFilter out = f.filter;
    out.direct_action = false;
    out.skip_hw = true;
    out.classid = have->second;
    out.name = SetMatchProgram::kProgramName;
    plan.filters.push_back(std::move(out));
  }
  for (const auto& [name, prefixes] : want.sets) plan.maps.sets[set_ids[name]] = prefixes;
  set_ids_ = std::move(set_ids);
  rule_keys_ = std::move(rule_keys);
  return plan;
}

}  // namespace vfguard::offload
