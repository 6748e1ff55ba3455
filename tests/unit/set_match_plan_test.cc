// offload::SetMatchNumbering: stable set ids and rule keys across plans, and
// no number handed to another set or rule while the previous plan's filters
// may still be installed.
#include "offload/set_match_plan.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::offload {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

policy::IpPrefix P(const char* s) { return *policy::IpPrefix::Parse(s); }

SetMatchFilter On(uint16_t prio, const std::string& set, uint16_t dport) {
  SetMatchFilter f;
  f.filter.owner = netlink::TcBlock{7};
  f.filter.chain = 40;
  f.filter.prio = prio;
  f.filter.handle = 1;
  f.filter.protocol = 0x0800;
  f.rule.ip_proto = 6;
  f.rule.dport = policy::Masked<uint16_t>{dport, 0xffff};
  f.set = set;
  return f;
}

std::vector<uint32_t> Classids(const SetMatchPlan& plan) {
  std::vector<uint32_t> out;
  for (const netlink::BpfFilter& f : plan.filters) out.push_back(f.classid.value_or(0));
  return out;
}

TEST(SetMatchPlanTest, OneRuleKeyPerDistinctRuleAndFiltersInClassifierMode) {
  SetMatchNumbering numbering;
  SetMatchWant want;
  want.sets["group:bastion"] = {P("192.0.2.0/24")};
  want.sets["address-group:office"] = {P("198.51.100.0/24")};
  // Two ports' filters for the same rule share its key; another port gets another.
  want.filters = {On(3, "group:bastion", 22), On(5, "group:bastion", 22),
                  On(3, "address-group:office", 22)};
  absl::StatusOr<SetMatchPlan> plan = numbering.Plan(want);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Classids(*plan), ElementsAre(1, 1, 2));
  ASSERT_EQ(plan->maps.rules.size(), 2u);
  // Sets are numbered in name order: address-group:office 1, group:bastion 2.
  EXPECT_EQ(plan->maps.rules.at(1).set_id, 2u);
  EXPECT_EQ(plan->maps.rules.at(2).set_id, 1u);
  EXPECT_EQ(plan->maps.sets.at(2), std::set<policy::IpPrefix>{P("192.0.2.0/24")});
  for (const netlink::BpfFilter& f : plan->filters) {
    EXPECT_FALSE(f.direct_action);
    EXPECT_TRUE(f.skip_hw);
    EXPECT_EQ(f.name, SetMatchProgram::kProgramName);
  }
}

TEST(SetMatchPlanTest, NumbersStayAndAreNotReusedWhileOldFiltersMayRemain) {
  SetMatchNumbering numbering;
  SetMatchWant want;
  want.sets["group:a"] = {P("192.0.2.1/32")};
  want.sets["group:b"] = {P("192.0.2.2/32")};
  want.filters = {On(3, "group:a", 22), On(3, "group:b", 22)};
  ASSERT_THAT(Classids(*numbering.Plan(want)), ElementsAre(1, 2));

  // A member change: same numbers, only the set's prefixes differ.
  want.sets["group:a"].insert(P("192.0.2.9/32"));
  absl::StatusOr<SetMatchPlan> plan = numbering.Plan(want);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Classids(*plan), ElementsAre(1, 2));
  EXPECT_EQ(plan->maps.sets.size(), 2u);

  // Rule a goes and rule c comes in the same pass: c must not take key 1
  // (a's filter may still be installed until this pass deletes it).
  want.sets["group:c"] = {P("192.0.2.3/32")};
  want.filters = {On(3, "group:b", 22), On(4, "group:c", 22)};
  plan = numbering.Plan(want);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Classids(*plan), ElementsAre(2, 3));
  // The pass after that may use 1 again.
  want.sets["group:d"] = {P("192.0.2.4/32")};
  want.filters.push_back(On(5, "group:d", 80));
  plan = numbering.Plan(want);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Classids(*plan), ElementsAre(2, 3, 1));
}

TEST(SetMatchPlanTest, UnknownSetIsRefusedAndKeepsTheNumbers) {
  SetMatchNumbering numbering;
  SetMatchWant want;
  want.sets["group:a"] = {P("192.0.2.1/32")};
  want.filters = {On(3, "group:a", 22)};
  ASSERT_TRUE(numbering.Plan(want).ok());
  SetMatchWant bad = want;
  bad.filters.push_back(On(4, "group:nope", 22));
  absl::StatusOr<SetMatchPlan> refused = numbering.Plan(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("group:nope"));
  want.filters = {On(3, "group:a", 23)};  // another rule: the old key stays reserved
  EXPECT_THAT(Classids(*numbering.Plan(want)), ElementsAre(2));
}

}  // namespace
}  // namespace vfguard::offload
