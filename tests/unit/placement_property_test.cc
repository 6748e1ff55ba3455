// Property (b) of the foundation issue: for compiled pipelines of random
// snapshots, random frames, and random sets of filters the hardware rejects
// (on top of what the mlx5 model rejects), running the hardware pipeline and
// handing trapped frames to the slow path delivers exactly what the slow path
// alone delivers. 10,000 cases per run (RC_PARAMS in tests/unit/meson.build).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "offload/hw_model.h"
#include "offload/placement.h"
#include "policy/compiler.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::offload {
namespace {

using policy::ConntrackModel;
using policy::Packet;
using policy::Verdict;

RC_GTEST_PROP(PlacementProperty, HardwarePlusSlowPathEqualsSlowPath, (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  policy::Snapshot s = gen.Snapshot();
  auto slots = policy::AssignSlots(s, {});
  RC_ASSERT(slots.ok());
  auto pipeline = policy::Compile(s, *slots);
  RC_ASSERT(pipeline.ok());
  HwCapabilities caps;
  caps.icmp_flex_parser = (seed & 1) != 0;
  caps.ignore_flow_level = (seed & 2) != 0;
  HardwareModel model(caps);
  // Reject a random share (0-50%) of what the model would accept, as a real
  // NIC may for reasons the model does not know (table full, firmware).
  const uint64_t reject_per_mille = (seed >> 8) % 500;
  OfferFn offer = [&](const policy::Filter& f) -> absl::Status {
    absl::Status st = model.Accepts(f);
    if (!st.ok()) return st;
    if (f.actions.size() == 1 && f.actions[0].kind == policy::Action::Kind::kTrap) return st;
    uint64_t h = absl::HashOf(seed, f.chain, f.prio, f.handle);
    if (h % 1000 < reject_per_mille) return absl::ResourceExhaustedError("random rejection");
    return st;
  };
  PlacementResult placed = Place(*pipeline, offer);
  policy::Pipeline hw = placed.HardwarePipeline();
  policy::Pipeline sw = placed.SlowPathPipeline();
  RC_ASSERT(sw == *pipeline);
  // Every offloaded rule (traps aside) was accepted by the offer.
  for (const policy::Filter& f : hw.filters) {
    if (f.actions.front().kind != policy::Action::Kind::kTrap) RC_ASSERT(offer(f).ok());
  }
  ConntrackModel ct_ref;
  ConntrackModel ct_split;
  for (const Packet& p : gen.Exchange(s)) {
    Verdict expected = policy::Simulate(sw, p, ct_ref);
    policy::SimulationResult first = policy::SimulateWithTrap(hw, p, ct_split);
    Verdict actual = first.verdict;
    if (first.trapped) {
      // No copy may leave the hardware before a trap: the slow path re-runs
      // the original frame and would send it again.
      if (!actual.deliveries.empty()) {
        RC_FAIL(absl::StrCat("hardware delivered before trapping: ", p.ToString(), "\n",
                             absl::StrJoin(actual.trace, "\n")));
      }
      actual = policy::Simulate(sw, p, ct_split);
    }
    if (expected.deliveries != actual.deliveries) {
      RC_FAIL(absl::StrCat("seed ", seed, "\n", testing::Describe(s), "frame: ", p.ToString(),
                           "\nslow path: ", expected.ToString(), "\nhw+slow: ", actual.ToString(),
                           "\nhw trace:\n  ", absl::StrJoin(first.verdict.trace, "\n  ")));
    }
  }
}

}  // namespace
}  // namespace vfguard::offload
