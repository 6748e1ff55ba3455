// Property (a) of the foundation issue: for random valid snapshots and
// random packet sequences, running the compiled pipeline in the tc simulator
// delivers every frame exactly where the reference evaluator says.
//
// Case count: meson runs this with RC_PARAMS=max_success=10000 (see
// tests/unit/meson.build); a failure prints the seed, the snapshot, the frame,
// both traces, and RC_PARAMS="reproduce=..." to replay it.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::policy {
namespace {

std::string Explain(const Snapshot& s, const Packet& p, const Verdict& expected,
                    const Verdict& actual) {
  return absl::StrCat("snapshot:\n", testing::Describe(s), "frame: ", p.ToString(),
                      "\nevaluator: ", expected.ToString(), "\n  ",
                      absl::StrJoin(expected.trace, "\n  "), "\nsimulator: ", actual.ToString(),
                      "\n  ", absl::StrJoin(actual.trace, "\n  "), "\n");
}

// Compiles `s` and runs the generator's frames through the evaluator and the
// simulated pipeline; fails the property on the first disagreement.
void CheckAgreement(const Snapshot& s, testing::RandomPolicy& gen, uint64_t seed,
                    CompileOptions options = {}) {
  absl::Status valid = Validate(s);
  RC_ASSERT(valid.ok());
  absl::StatusOr<SlotAssignment> slots = AssignSlots(s, {});
  RC_ASSERT(slots.ok());
  absl::StatusOr<Pipeline> pipeline = Compile(s, *slots, options);
  if (!pipeline.ok()) RC_FAIL(absl::StrCat("compile failed: ", pipeline.status().ToString()));
  ConntrackModel ct_eval;
  ConntrackModel ct_sim;
  for (const Packet& p : gen.Exchange(s)) {
    Verdict expected = Evaluate(s, *slots, p, ct_eval);
    Verdict actual = Simulate(*pipeline, p, ct_sim);
    if (expected.deliveries != actual.deliveries) {
      RC_FAIL(absl::StrCat("seed ", seed, "\n", Explain(s, p, expected, actual)));
    }
  }
}

RC_GTEST_PROP(PipelineProperty, CompiledPipelineAgreesWithEvaluator, (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  Snapshot s = gen.Snapshot();
  CheckAgreement(s, gen, seed);
}

// The generator must actually reach the interesting cases; otherwise the
// property above proves little. Counted over a fixed set of seeds.
// Issue 14: the generator's snapshots carry remote ports and address groups,
// but their rules rarely decide a random frame (most frames are settled by
// port security or an earlier rule). Here half of every group's rules are
// turned into remote-group or address-group rules, and every snapshot gets a
// remote member and an address group on the addresses frames from the
// uplink use, so that these remotes decide often.
void EmphasizeRemotes(Snapshot& s, std::mt19937_64& rng) {
  if (s.security_groups.empty()) return;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<std::string> groups;
  for (const auto& [id, g] : s.security_groups) groups.push_back(id);
  s.remote_ports["r-extra"] = RemotePort{
      "r-extra",
      {*IpPrefix::Parse("10.0.0.5"), *IpPrefix::Parse("8.8.8.8"), *IpPrefix::Parse("fd00::5")},
      {groups[pick(groups.size())]}};
  s.address_groups["ag-extra"] =
      AddressGroup{"ag-extra",
                   {*IpPrefix::Parse("10.0.2.0/24"), *IpPrefix::Parse("8.8.8.8"),
                    *IpPrefix::Parse("fd00::/64")}};
  std::vector<std::string> address_groups;
  for (const auto& [id, g] : s.address_groups) address_groups.push_back(id);
  for (auto& [id, g] : s.security_groups) {
    for (SecurityGroupRule& r : g.rules) {
      if (pick(2) != 0) continue;
      r.remote_prefix.reset();
      r.remote_group_id.reset();
      r.remote_address_group_id.reset();
      if (pick(2) == 0) {  // any protocol: the remote alone decides
        r.protocol.reset();
        r.ports.reset();
        r.icmp.reset();
      }
      if (pick(2) == 0) {
        r.remote_address_group_id = address_groups[pick(address_groups.size())];
      } else {
        r.remote_group_id = groups[pick(groups.size())];
      }
    }
  }
}

RC_GTEST_PROP(PipelineProperty, RemoteMembersAndAddressGroupsAgreeWithEvaluator, (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  Snapshot s = gen.Snapshot();
  EmphasizeRemotes(s, gen.rng());
  CheckAgreement(s, gen, seed);
}

// The same with set lookups (CompileOptions::set_lookups): the simulator's
// model of the set-match filters agrees with the evaluator.
RC_GTEST_PROP(PipelineProperty, SetLookupsAgreeWithEvaluator, (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  Snapshot s = gen.Snapshot();
  EmphasizeRemotes(s, gen.rng());
  CheckAgreement(s, gen, seed, CompileOptions{.set_lookups = true});
}

// An address of `p` (source or destination) that only a remote port has.
bool OnlyRemote(const Snapshot& s, const Packet& p) {
  if (!p.IsIp()) return false;
  for (const IpAddr& a : {p.src_ip, p.dst_ip}) {
    bool remote = false, local = false;
    for (const auto& [id, r] : s.remote_ports) {
      for (const IpPrefix& prefix : r.addresses) remote = remote || prefix.Contains(a);
    }
    for (const auto& [id, port] : s.ports) {
      for (const IpPrefix& prefix : PortAddressPrefixes(port)) local = local || prefix.Contains(a);
    }
    if (remote && !local) return true;
  }
  return false;
}

TEST(PipelineProperty, RemoteRulesDecideOften) {
  int by_address_group = 0, by_remote_member = 0, allowed_by_remote_member = 0;
  for (uint64_t seed = 1; seed <= 5000; ++seed) {
    testing::RandomPolicy gen(seed);
    Snapshot s = gen.Snapshot();
    EmphasizeRemotes(s, gen.rng());
    ASSERT_TRUE(Validate(s).ok()) << seed;
    absl::StatusOr<SlotAssignment> slots = AssignSlots(s, {});
    ASSERT_TRUE(slots.ok());
    ConntrackModel ct;
    for (const Packet& p : gen.Exchange(s)) {
      Verdict v = Evaluate(s, *slots, p, ct);
      for (const std::string& t : v.trace) {
        if (t.find("address group ") != std::string::npos) ++by_address_group;
        if (t.find("members of ") != std::string::npos && OnlyRemote(s, p)) {
          ++by_remote_member;
          if (!v.Dropped()) ++allowed_by_remote_member;
        }
      }
    }
  }
  printf(
      "remote rules over 5000 seeds: address-group rule decided %d, remote-group rule decided "
      "on a remote member's address %d (%d delivered)\n",
      by_address_group, by_remote_member, allowed_by_remote_member);
  // Measured (fixed seeds, so deterministic): 83, 18 and 14. Most random
  // frames are settled before any rule of a port with remote rules, so these
  // are the cases the property above also draws (10,000 per run).
  EXPECT_GT(by_address_group, 40);
  EXPECT_GT(by_remote_member, 8);
  EXPECT_GT(allowed_by_remote_member, 5);
}

TEST(PipelineProperty, GeneratorCoversInterestingOutcomes) {
  // 4000: the generator also draws remote ports and address groups, so
  // the rarer ND cases (a link-layer option) need more seeds than 2000.
  constexpr int kSeeds = 4000;
  int delivered = 0, dropped = 0, flooded = 0, committed = 0, established = 0, uplink_tagged = 0;
  int nd_passed = 0, nd_dropped = 0, nd_target = 0, nd_lla = 0, nd_malformed = 0;
  int by_address_group = 0, by_remote_member = 0;  // rules with those remotes decided
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    testing::RandomPolicy gen(seed);
    Snapshot s = gen.Snapshot();
    absl::StatusOr<SlotAssignment> slots = AssignSlots(s, {});
    ASSERT_TRUE(slots.ok());
    ConntrackModel ct;
    for (const Packet& p : gen.Exchange(s)) {
      Verdict v = Evaluate(s, *slots, p, ct);
      if (v.Dropped()) ++dropped;
      if (!v.Dropped()) ++delivered;
      if (v.deliveries.size() > 1) ++flooded;
      for (const Delivery& d : v.deliveries) {
        if (d.out.kind == DeviceRef::Kind::kUplink && d.vlan) ++uplink_tagged;
      }
      for (const std::string& t : v.trace) {
        if (t.find("committed in zone") != std::string::npos) ++committed;
        if (t.find("established connection") != std::string::npos) ++established;
        if (t.find("address group ") != std::string::npos) ++by_address_group;
        if (t.find("members of ") != std::string::npos && OnlyRemote(s, p)) ++by_remote_member;
        if (t.find("nd-check") == std::string::npos) continue;
        if (t.find("passes") != std::string::npos) ++nd_passed;
        if (t.find("dropped") != std::string::npos) ++nd_dropped;
        if (t.find("not allowed with MAC") != std::string::npos) ++nd_target;
        if (t.find("link-layer address") != std::string::npos) ++nd_lla;
        if (t.find("truncated") != std::string::npos || t.find("length 0") != std::string::npos ||
            t.find("hop limit") != std::string::npos) {
          ++nd_malformed;
        }
      }
    }
  }
  printf(
      "coverage over %d seeds: delivered %d, dropped %d, flooded %d, committed %d, "
      "established %d, uplink tagged %d, address-group rule decided %d, remote-group rule "
      "decided on a remote member's address %d\n",
      kSeeds, delivered, dropped, flooded, committed, established, uplink_tagged, by_address_group,
      by_remote_member);

  EXPECT_GT(delivered, 1000);
  EXPECT_GT(dropped, 1000);
  EXPECT_GT(flooded, 200);
  EXPECT_GT(committed, 50);
  EXPECT_GT(established, 20);
  EXPECT_GT(uplink_tagged, 200);
  printf(
      "nd-check over %d seeds: passed %d, dropped %d (target %d, link-layer option %d, "
      "malformed %d)\n",
      kSeeds, nd_passed, nd_dropped, nd_target, nd_lla, nd_malformed);
  EXPECT_GT(nd_passed, 50);
  EXPECT_GT(nd_target, 15);
  EXPECT_GT(nd_lla, 10);
  EXPECT_GT(nd_malformed, 15);
}

}  // namespace
}  // namespace vfguard::policy
