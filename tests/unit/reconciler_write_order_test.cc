// The order of a pass's writes (agent/write_order.h, agent/filter_plan.h):
// after every single write of a port's addition or removal no installed
// goto names an incomplete chain, also when a pass with errors came first
// and when the writes go in several chunks (Reconciler::WritePlan).
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/filter_hash.h"
#include "agent/reconciler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_set_match_hook.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/reconciler_cost_support.h"

namespace vfguard::agent {
namespace {

TEST_F(ReconcilerCostTest, NoGotoNamesAnIncompleteChainAfterAnySingleWrite) {
  WithoutPortE();
  Reconciler r(fake_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());

  // Port e comes: its chains, the uplink's forwarding entry for its MAC and
  // the dispatch from its representor.
  auto before = fake_.filters();
  std::vector<Moment> moments;
  std::set<Key> written;
  Observe(moments, written);
  WithPortE();
  ASSERT_TRUE(Run(r).status.ok());
  ASSERT_GT(moments.size(), 10u);
  EXPECT_THAT(JumpViolations(moments, Required(before, fake_.filters())), ::testing::IsEmpty());

  // And goes: every jump to its chains goes before the chains are emptied.
  before = fake_.filters();
  moments.clear();
  written.clear();
  WithoutPortE();
  ASSERT_TRUE(Run(r).status.ok());
  ASSERT_GT(moments.size(), 10u);
  EXPECT_THAT(JumpViolations(moments, Required(before, fake_.filters())), ::testing::IsEmpty());
  fake_.SetObserver(nullptr);
}

TEST_F(ReconcilerCostTest, APortJoiningAfterAPassWithErrorsWritesTheSameInJumpOrder) {
  struct Counts {
    uint64_t creates, replaces, deletes;
    int translated, filters;
  };
  auto join = [this](bool fail) {
    FakeTcBackend kernel;
    kernel.AddDevice(1, "uplink0");
    kernel.AddDevice(11, "rep1");
    kernel.AddDevice(12, "rep2");
    kernel.AddDevice(15, "rep5");
    FakeSetMatchHook hook;
    if (fail) hook.fail = absl::UnavailableError("set-match maps unavailable");
    Reconciler r(kernel, log_, kBlock);
    r.SetSetMatch(&hook);
    OfferBook book;
    EswitchView small = view_;
    small.port_representors.erase("e");
    policy::Snapshot without_e = Load(kPolicy);
    without_e.ports.erase("e");
    ReconcileReport cold = r.Run(without_e, slots_, small, book);
    EXPECT_EQ(cold.errors, fail ? 1 : 0);
    EXPECT_FALSE(r.audit_due());
    hook.fail = absl::OkStatus();
    const auto before = kernel.filters();
    kernel.ResetWrites();
    std::vector<Moment> moments;
    std::set<Key> written;
    ObserveMoments(kernel, moments, written);
    const policy::Snapshot all = Load(kPolicy);
    ReconcileReport joined = r.Run(all, slots_, view_, book);
    kernel.SetObserver(nullptr);
    EXPECT_TRUE(joined.status.ok()) << joined.status;
    EXPECT_THAT(JumpViolations(moments, Required(before, kernel.filters())), ::testing::IsEmpty());
    const Counts counts{kernel.writes().Of(TcOp::Kind::kCreateFilter),
                        kernel.writes().Of(TcOp::Kind::kReplaceFilter),
                        kernel.writes().Of(TcOp::Kind::kDeleteFilter), joined.translated,
                        joined.filters};
    // The kernel holds what a clean install of the whole state writes.
    Reconciler fresh(kernel, log_, kBlock);
    fresh.SetSetMatch(&hook);
    kernel.ResetWrites();
    EXPECT_EQ(fresh.Run(all, slots_, view_, book).writes, 0);
    return counts;
  };
  const Counts clean = join(false);
  const Counts retried = join(true);
  ASSERT_GT(clean.creates, 10u);
  EXPECT_EQ(retried.creates, clean.creates);
  EXPECT_EQ(retried.replaces, clean.replaces);
  EXPECT_EQ(retried.deletes, clean.deletes);
  EXPECT_EQ(retried.translated, clean.translated) << "unchanged filters are not translated again";
  EXPECT_EQ(retried.filters, clean.filters);
}

// A 40-port flat network: a cold install of it takes three write chunks.
class ReconcilerWriteChunks : public ::testing::Test {
 protected:
  ReconcilerWriteChunks()
      : log(sink, common::LogLevel::kWarn),
        s(FlatNetwork(40, fake, view)),
        slots(*policy::AssignSlots(s, {})) {}

  std::ostringstream sink;
  common::Logger log;
  FakeTcBackend fake;
  EswitchView view;
  const policy::Snapshot s;
  const policy::SlotAssignment slots;
  OfferBook offers;
};

// A whole pass sends its writes in chunks of Reconciler::kWriteChunk ops,
// each translated just before it goes (a pass never holds every kernel
// filter of the block at once), and the kernel ends up as one batch would
// have left it, with no goto naming an incomplete chain at any moment.
TEST_F(ReconcilerWriteChunks, AColdInstallGoesInChunksInJumpOrder) {
  std::vector<Moment> moments;
  std::set<Key> written;
  ObserveMoments(fake, moments, written);
  Reconciler r(fake, log, kBlock);
  const ReconcileReport cold = r.Run(s, slots, view, offers);
  fake.SetObserver(nullptr);
  ASSERT_TRUE(cold.status.ok()) << cold.status;
  const int filter_writes = static_cast<int>(fake.writes().Of(TcOp::Kind::kCreateFilter));
  ASSERT_GT(filter_writes, 2 * static_cast<int>(Reconciler::kWriteChunk))
      << "too small to need several chunks";
  EXPECT_LE(fake.largest_apply(), Reconciler::kWriteChunk);
  EXPECT_GE(fake.apply_calls(), filter_writes / static_cast<int>(Reconciler::kWriteChunk) + 1);
  // Every filter written was translated to be wanted, then again to be
  // sent; only the block's few traps keep their translation.
  EXPECT_LE(cold.translated_to_send, filter_writes);
  EXPECT_GE(cold.translated_to_send, filter_writes - 8);
  EXPECT_EQ(cold.translated, cold.filters);
  EXPECT_THAT(JumpViolations(moments, Required({}, fake.filters())), ::testing::IsEmpty());
  // The installed set took every chunk's writes: nothing is left to do, and
  // an audit finds the kernel as the set has it.
  const ReconcileReport again = r.Run(s, slots, view, offers);
  EXPECT_EQ(again.writes, 0);
  EXPECT_EQ(again.translated + again.translated_to_send, 0);
  r.RequestAudit();
  const ReconcileReport audit = r.Run(s, slots, view, offers);
  EXPECT_TRUE(audit.audited);
  EXPECT_EQ(audit.writes, 0);
  EXPECT_EQ(Content(fake), ColdInstall(s, slots, view, log));
}

// A failed write in one chunk is forgotten by the set (the next pass audits
// and writes it again), and the chunks after it are still sent.
TEST_F(ReconcilerWriteChunks, AFailureInOneChunkLeavesTheOthersRecorded) {
  int seen = 0;
  fake.SetFault([&seen](const TcOp& op) -> absl::Status {
    if (op.kind == TcOp::Kind::kCreateFilter && ++seen == 1100) {
      return absl::ResourceExhaustedError("out of memory");
    }
    return absl::OkStatus();
  });
  Reconciler r(fake, log, kBlock);
  const ReconcileReport cold = r.Run(s, slots, view, offers);
  fake.SetFault(nullptr);
  EXPECT_EQ(cold.errors, 1);
  ASSERT_GT(seen, 1100) << "the chunks after the failed one were sent";
  EXPECT_TRUE(r.audit_due());
  fake.ResetWrites();
  const ReconcileReport retry = r.Run(s, slots, view, offers);
  EXPECT_TRUE(retry.status.ok()) << retry.status;
  EXPECT_TRUE(retry.audited);
  EXPECT_EQ(retry.writes, 1) << "only the filter whose create failed";
  EXPECT_EQ(Content(fake), ColdInstall(s, slots, view, log));
}

}  // namespace
}  // namespace vfguard::agent
