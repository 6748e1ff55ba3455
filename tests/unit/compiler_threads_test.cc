// CompileOptions::threads: compiling parts on several threads gives the same
// pipeline, the same changed parts and the same errors as one thread, and
// equal values still share one copy across the threads' parts.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/compiler.h"
#include "policy/nd_check.h"
#include "policy/slots.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::policy {
namespace {

constexpr CompileOptions kSerial{.threads = 1};
// Splits even a two-part snapshot: a thread per part, up to `threads`.
constexpr CompileOptions Parallel(unsigned threads, bool set_lookups = false) {
  return CompileOptions{.set_lookups = set_lookups, .threads = threads, .parts_per_thread = 1};
}

TEST(CompilerThreads, ParallelCompileEqualsSerialForRandomSnapshots) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    testing::RandomPolicy gen(seed, testing::RandomPolicyOptions{3, 12, 4, 5});
    const Snapshot s = gen.Snapshot();
    const SlotAssignment slots = *AssignSlots(s, {});
    for (bool sets : {false, true}) {
      absl::StatusOr<Pipeline> serial =
          Compile(s, slots, CompileOptions{.set_lookups = sets, .threads = 1});
      ASSERT_TRUE(serial.ok()) << serial.status();
      for (unsigned threads : {2u, 3u}) {
        absl::StatusOr<Pipeline> parallel = Compile(s, slots, Parallel(threads, sets));
        ASSERT_TRUE(parallel.ok()) << parallel.status();
        ASSERT_EQ(*parallel, *serial) << "seed " << seed << " threads " << threads;
      }
    }
  }
}

TEST(CompilerThreads, IncrementalUpdatesEqualSerialAcrossRandomChanges) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    testing::RandomPolicy gen(seed, testing::RandomPolicyOptions{3, 12, 4, 5});
    IncrementalCompiler serial(kSerial);
    IncrementalCompiler parallel(Parallel(2));
    SlotAssignment slots;
    for (int step = 0; step < 4; ++step) {
      auto snap = std::make_shared<const Snapshot>(gen.Snapshot());
      slots = *AssignSlots(*snap, slots);
      auto a = serial.Update(snap, slots);
      auto b = parallel.Update(snap, slots);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*b, *a) << "changed parts, seed " << seed << " step " << step;
      ASSERT_EQ(parallel.Assemble(), serial.Assemble()) << "seed " << seed << " step " << step;
    }
  }
}

// Equal matches, action lists and origin pieces of filters compiled on
// different threads are one copy (the caller's interner adopts them).
TEST(CompilerThreads, EqualValuesShareOneCopyAcrossThreads) {
  std::shared_ptr<const Snapshot> snap;
  for (uint64_t seed = 1; !snap || snap->ports.size() < 6; ++seed) {
    testing::RandomPolicy gen(seed, testing::RandomPolicyOptions{2, 12, 3, 5});
    snap = std::make_shared<const Snapshot>(gen.Snapshot());
  }
  IncrementalCompiler c(Parallel(2));
  ASSERT_TRUE(c.Update(snap, *AssignSlots(*snap, {})).ok());
  const SharedPipeline p = c.AssembleShared();
  std::map<FlowerMatch, const Filter*> first_match;
  std::map<std::vector<Action>, const Filter*> first_actions;
  std::map<std::string, const Filter*> first_tail;
  size_t shared_across = 0;
  for (const Filter* f : p.filters) {
    auto [m, new_match] = first_match.emplace(*f->match, f);
    if (!new_match) {
      ASSERT_TRUE(m->second->match.SameStorage(f->match)) << f->origin();
      ++shared_across;
    }
    auto [a, new_actions] = first_actions.emplace(*f->actions, f);
    if (!new_actions) {
      ASSERT_TRUE(a->second->actions.SameStorage(f->actions)) << f->origin();
    }
    auto [t, new_tail] = first_tail.emplace(*f->origin().tail(), f);
    if (!new_tail && !t->first.empty()) {
      ASSERT_TRUE(t->second->origin().tail().SameStorage(f->origin().tail())) << f->origin();
    }
  }
  EXPECT_GT(shared_across, p.filters.size() / 4) << "the ports' rules repeat";
}

// A port with more IPv6 pairs than the ND check's map entry holds fails to
// compile (policy/nd_check.h).
void OverfillNdEntry(Port& p) {
  p.state = PortState::kActive;
  p.port_security = true;
  for (size_t i = 0; i <= kNdMaxAllowed; ++i) {
    p.allowed_address_pairs.push_back(
        {*IpPrefix::Parse(absl::StrCat("fd00::", i + 1, "/128")), std::nullopt});
  }
}

TEST(CompilerThreads, TheFirstFailingPartDecidesTheErrorAsInOneThread) {
  testing::RandomPolicy gen(11, testing::RandomPolicyOptions{2, 12, 3, 4});
  Snapshot s = gen.Snapshot();
  ASSERT_GE(s.ports.size(), 4u);
  OverfillNdEntry(s.ports.begin()->second);   // in the first thread's run
  OverfillNdEntry(s.ports.rbegin()->second);  // and in the last one's
  const SlotAssignment slots = *AssignSlots(s, {});
  absl::StatusOr<Pipeline> serial = Compile(s, slots, kSerial);
  ASSERT_FALSE(serial.ok());
  EXPECT_NE(serial.status().message().find(s.ports.begin()->first), std::string::npos)
      << serial.status();
  for (unsigned threads : {2u, 3u}) {
    absl::StatusOr<Pipeline> parallel = Compile(s, slots, Parallel(threads));
    EXPECT_EQ(parallel.status(), serial.status()) << "threads " << threads;
    IncrementalCompiler inc(Parallel(threads));
    auto snap = std::make_shared<const Snapshot>(s);
    EXPECT_EQ(inc.Update(snap, slots).status(), serial.status());
    EXPECT_TRUE(inc.parts().empty()) << "on error nothing changes";
  }
  // Only the last port fails: the second thread's error is the answer.
  s.ports.begin()->second.allowed_address_pairs.clear();
  absl::StatusOr<Pipeline> last = Compile(s, slots, Parallel(2));
  ASSERT_FALSE(last.ok());
  EXPECT_NE(last.status().message().find(s.ports.rbegin()->first), std::string::npos)
      << last.status();
  EXPECT_EQ(last.status(), Compile(s, slots, kSerial).status());
}

}  // namespace
}  // namespace vfguard::policy
