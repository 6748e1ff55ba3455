// Compiler limits and failures: tc's 16-bit prio space per chain (exactly at
// the edge and one past it), missing slots, and an IncrementalCompiler that
// keeps its last good pipeline when an update fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

using ::testing::HasSubstr;

// One port "a" in group "many" holding `rules` ingress rules, each on its own
// tcp port, all at one priority: every rule is a stage of its own and so
// takes one prio of a's ingress-rules chain (plus the established filter
// and the final drop).
Snapshot ManyRules(int rules) {
  Snapshot s;
  s.networks["n"] = Network{"n", Segmentation::kFlat, 0};
  SecurityGroup g;
  g.id = "many";
  for (int i = 0; i < rules; ++i) {
    SecurityGroupRule r;
    r.direction = Direction::kIngress;
    r.protocol = kProtoTcp;
    r.ports = PortRange{static_cast<uint16_t>(1 + i % 65535), static_cast<uint16_t>(1 + i % 65535)};
    r.priority = 1 + i / 65535;
    g.rules.push_back(r);
  }
  s.security_groups["many"] = g;
  Port a;
  a.id = "a";
  a.network_id = "n";
  a.mac = *MacAddr::Parse("02:00:00:00:00:0a");
  a.fixed_ips = {*IpAddr::Parse("10.0.0.10")};
  a.security_group_ids = {"many"};
  a.representor.ref = uint32_t{0};
  s.ports["a"] = a;
  return s;
}

uint32_t IngressRulesChain(const SlotAssignment& slots) {
  return (slots.port_slot.at("a") << 4) + 6;  // docs/pipeline.md
}

TEST(CompilerLimits, ChainUsesEveryPrioUpTo65535) {
  Snapshot s = ManyRules(65533);
  ASSERT_TRUE(Validate(s).ok());
  SlotAssignment slots = *AssignSlots(s, {});
  auto p = Compile(s, slots);
  ASSERT_TRUE(p.ok()) << p.status();
  uint16_t top = 0;
  size_t in_chain = 0;
  for (const Filter& f : p->filters) {
    if (f.chain != IngressRulesChain(slots)) continue;
    ++in_chain;
    top = std::max(top, f.prio);
  }
  EXPECT_EQ(in_chain, 65535u) << "established + 65533 rules + final drop";
  EXPECT_EQ(top, 65535);
}

TEST(CompilerLimits, OnePrioTooManyFailsNamingThePortAndDirection) {
  Snapshot s = ManyRules(65534);
  ASSERT_TRUE(Validate(s).ok());
  SlotAssignment slots = *AssignSlots(s, {});
  auto p = Compile(s, slots);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), HasSubstr("65535"));
  EXPECT_THAT(p.status().message(), HasSubstr("port a"));
  EXPECT_THAT(p.status().message(), HasSubstr("ingress"));
}

TEST(CompilerLimits, FailedUpdateKeepsTheLastGoodPipeline) {
  auto good = std::make_shared<const Snapshot>(ManyRules(3));
  SlotAssignment slots = *AssignSlots(*good, {});
  IncrementalCompiler inc;
  ASSERT_TRUE(inc.Update(good, slots).ok());
  Pipeline before = inc.Assemble();
  auto bad = std::make_shared<const Snapshot>(ManyRules(65534));
  auto changed = inc.Update(bad, *AssignSlots(*bad, slots));
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(inc.Assemble(), before);
  // And the compiler still works from the last good state.
  auto again = inc.Update(good, slots);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty()) << "nothing changed relative to the last good snapshot";
  EXPECT_EQ(inc.Assemble(), before);
}

TEST(CompilerLimits, MissingSlotsNameTheObject) {
  Snapshot s = ManyRules(1);
  SlotAssignment slots = *AssignSlots(s, {});
  SlotAssignment no_port = slots;
  no_port.port_zone.erase("a");
  auto p = Compile(s, no_port);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("port a"));
  SlotAssignment no_net = slots;
  no_net.network_slot.clear();
  p = Compile(s, no_net);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("network n"));
}

}  // namespace
}  // namespace vfguard::policy
