// Parallel write lanes (agent/write_waves.h): waves keep the jump graph's
// order and barriers, results map back to their ops, and a reconciler whose
// ops are applied wave by wave, each wave's lanes in the worst order (last
// lane first, one op at a time), never leaves a goto naming an incomplete
// chain, and ends where the sequential backend ends.
#include "agent/write_waves.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/reconciler.h"
#include "agent/write_order.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;
using netlink::GactAction;
using netlink::TcAction;

constexpr uint32_t kBlock = 31;

TcOp Create(uint32_t chain, uint16_t prio, uint32_t handle, std::optional<uint32_t> jump = {}) {
  TcOp op;
  op.kind = TcOp::Kind::kCreateFilter;
  FlowerFilter& f = op.filter;
  f.owner = netlink::TcBlock{kBlock};
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = 0x0800;
  f.keys.eth_type = 0x0800;
  f.skip_hw = true;
  GactAction g{GactAction::Verdict::kDrop};
  if (jump) g = GactAction{GactAction::Verdict::kGotoChain, *jump};
  f.actions = {TcAction{g, {}}};
  return op;
}

TcOp Delete(uint32_t chain, uint16_t prio, uint32_t handle) {
  TcOp op = Create(chain, prio, handle);
  op.kind = TcOp::Kind::kDeleteFilter;
  op.filter.actions.clear();
  return op;
}

// op index -> (wave, lane)
std::map<size_t, std::pair<size_t, size_t>> Where(const std::vector<WriteWave>& waves) {
  std::map<size_t, std::pair<size_t, size_t>> out;
  for (size_t w = 0; w < waves.size(); ++w) {
    for (size_t l = 0; l < waves[w].lanes.size(); ++l) {
      for (size_t i : waves[w].lanes[l]) out[i] = {w, l};
    }
  }
  return out;
}

void ExpectPartition(const std::vector<WriteWave>& waves, size_t n) {
  std::vector<size_t> seen;
  for (const WriteWave& w : waves) {
    for (const std::vector<size_t>& lane : w.lanes) {
      EXPECT_FALSE(lane.empty());
      EXPECT_TRUE(std::is_sorted(lane.begin(), lane.end()));
      seen.insert(seen.end(), lane.begin(), lane.end());
    }
  }
  std::sort(seen.begin(), seen.end());
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  EXPECT_EQ(seen, all) << "every op in exactly one lane of one wave";
}

TEST(SplitIntoWavesTest, AJumpGoesInAWaveAfterTheChainItNames) {
  // 0 -> 20 -> 10; 2^27 -> 10; 30 stands alone. Chain 10 has two prios.
  const std::vector<TcOp> ops = {
      Create(10, 1, 1),     Create(10, 1, 2),           Create(10, 2, 1),    Create(30, 1, 1),
      Create(20, 1, 1, 10), Create(1u << 27, 1, 1, 10), Create(0, 1, 1, 20), Create(30, 1, 2),
  };
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 2);
  ExpectPartition(waves, ops.size());
  auto at = Where(waves);
  EXPECT_EQ(at[0].first, 0u);
  EXPECT_EQ(at[3].first, 0u) << "chain 30 waits for nothing";
  EXPECT_GT(at[4].first, at[0].first);
  EXPECT_GT(at[4].first, at[2].first) << "all of chain 10, every prio, before a jump to it";
  EXPECT_GT(at[5].first, at[2].first);
  EXPECT_GT(at[6].first, at[4].first) << "0 -> 20 only after 20 is complete";
  EXPECT_EQ(at[0], at[1]) << "one (chain, prio) stays in one lane of one wave";
  EXPECT_EQ(at[3].first, at[7].first) << "chain 30 has nothing to wait for";
  EXPECT_EQ(at[3].second, at[7].second);
  EXPECT_EQ(waves[0].lanes.size(), 2u) << "independent groups are spread over both lanes";
}

TEST(SplitIntoWavesTest, AJumpAheadOfItsTargetInTheVectorKeepsTheVectorOrder) {
  // A cyclic fallback writes 5 -> 6 before chain 6: the waves keep that.
  const std::vector<TcOp> ops = {Create(5, 1, 1, 6), Create(6, 1, 1)};
  auto at = Where(SplitIntoWaves(ops, 2));
  EXPECT_LT(at[0].first, at[1].first);
}

TEST(SplitIntoWavesTest, DeletesAndQdiscOpsAreBarriers) {
  TcOp clsact;
  clsact.kind = TcOp::Kind::kCreateClsact;
  clsact.qdisc = netlink::ClsactQdisc{7, kBlock};
  const std::vector<TcOp> ops = {
      clsact,           Create(10, 1, 1), Create(11, 1, 1), Delete(12, 1, 1),
      Delete(13, 1, 1), Create(14, 1, 1), Create(15, 1, 1),
  };
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 2);
  ExpectPartition(waves, ops.size());
  auto at = Where(waves);
  EXPECT_LT(at[0].first, at[1].first);
  EXPECT_EQ(at[1].first, at[2].first);
  EXPECT_GT(at[3].first, at[2].first);
  EXPECT_EQ(at[3], at[4]) << "adjacent deletes share one wave and one lane";
  EXPECT_EQ(waves[at[3].first].lanes.size(), 1u);
  EXPECT_EQ(waves[at[3].first].lanes[0], (std::vector<size_t>{3, 4}));
  EXPECT_GT(at[5].first, at[4].first);
  EXPECT_EQ(waves.size(), 4u);
}

TEST(SplitIntoWavesTest, OneLaneStillCutsWavesButNeverSplitsOne) {
  const std::vector<TcOp> ops = {Create(10, 1, 1), Create(11, 1, 1), Create(20, 1, 1, 10)};
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 1);
  ASSERT_EQ(waves.size(), 2u);
  for (const WriteWave& w : waves) EXPECT_EQ(w.lanes.size(), 1u);
}

TEST(ApplyInWavesTest, ResultsMapBackToTheirOpsAcrossThreads) {
  // Two waves of 100 independent ops each (chain c+100 jumps to c).
  std::vector<TcOp> ops;
  for (uint32_t c = 0; c < 100; ++c) ops.push_back(Create(c + 1, 1, 1));
  for (uint32_t c = 0; c < 100; ++c) ops.push_back(Create(c + 1000, 1, 1, c + 1));
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 2);
  ASSERT_EQ(waves.size(), 2u);
  ASSERT_EQ(waves[0].lanes.size(), 2u);

  std::mutex mu;
  std::set<std::thread::id> threads;
  std::vector<std::pair<size_t, size_t>> calls;  // lane, first op
  const std::vector<absl::Status> r = ApplyInWaves(
      ops.size() + 1, waves, /*min_parallel=*/10, [&](size_t lane, const std::vector<size_t>& idx) {
        {
          std::lock_guard<std::mutex> lock(mu);
          threads.insert(std::this_thread::get_id());
          calls.push_back({lane, idx.front()});
        }
        std::vector<absl::Status> out;
        for (size_t i : idx) {
          out.push_back(i % 3 == 0 ? absl::OkStatus()
                                   : absl::NotFoundError(absl::StrCat("op ", i)));
        }
        return out;
      });
  ASSERT_EQ(r.size(), ops.size() + 1);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i % 3 == 0) {
      EXPECT_TRUE(r[i].ok()) << i;
    } else {
      EXPECT_EQ(r[i].message(), absl::StrCat("op ", i));
    }
  }
  EXPECT_TRUE(r[ops.size()].ok()) << "an index no wave names stays OK";
  EXPECT_EQ(calls.size(), 4u) << "two waves of two lanes";
  EXPECT_EQ(threads.size(), 2u) << "lane 1 runs on a thread of its own";
}

TEST(ApplyInWavesTest, ASmallWaveGoesAsOneLaneInVectorOrder) {
  const std::vector<TcOp> ops = {Create(10, 1, 1), Create(11, 1, 1), Create(12, 1, 1)};
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 2);
  std::vector<std::vector<size_t>> calls;
  const std::vector<absl::Status> r =
      ApplyInWaves(ops.size(), waves, 64, [&](size_t lane, const std::vector<size_t>& idx) {
        EXPECT_EQ(lane, 0u);
        calls.push_back(idx);
        return std::vector<absl::Status>(idx.size() - 1);  // one result short
      });
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(r[0].ok());
  EXPECT_EQ(r[2].code(), absl::StatusCode::kInternal) << "a missing result is an error, not OK";
}

// The fake kernel, written wave by wave with each wave's lanes in reverse
// (the last lane first, every op alone): one interleaving two real lanes
// could produce. `whole_reverse` instead applies the whole vector backwards,
// which must break the jump order (the checker's own test).
class LanedFake : public TcBackend {
 public:
  explicit LanedFake(FakeTcBackend& fake) : fake_(fake) {}
  bool whole_reverse = false;

  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return fake_.DumpClsact(); }
  absl::StatusOr<std::vector<FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    return fake_.DumpFilters(owner);
  }
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    std::vector<absl::Status> out(ops.size());
    if (whole_reverse) {
      for (size_t i = ops.size(); i-- > 0;) out[i] = fake_.Apply({ops[i]}).front();
      return out;
    }
    for (const WriteWave& wave : SplitIntoWaves(ops, 2)) {
      for (size_t l = wave.lanes.size(); l-- > 0;) {
        for (size_t i : wave.lanes[l]) out[i] = fake_.Apply({ops[i]}).front();
      }
    }
    return out;
  }

 private:
  FakeTcBackend& fake_;
};

// Three ports on one flat network (db, api, web: the flood lists and the
// uplink's forwarding chains jump into their chains) and one on a VLAN.
constexpr char kPolicy[] = R"json({
  "security_groups": [
    {"id": "sg", "rules": [
      {"direction": "egress"},
      {"direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53},
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443}]}],
  "networks": [{"id": "lan", "segmentation": "flat"},
               {"id": "v300", "segmentation": "vlan", "vlan_id": 300}],
  "ports": [
    {"id": "a", "vf_index": 1, "network_id": "lan", "security_group_ids": ["sg"],
     "mac_address": "02:00:00:00:01:01", "fixed_ips": ["10.9.0.1"]},
    {"id": "b", "vf_index": 2, "network_id": "lan", "security_group_ids": ["sg"],
     "mac_address": "02:00:00:00:01:02", "fixed_ips": ["10.9.0.2"]},
    {"id": "c", "vf_index": 3, "network_id": "lan", "security_group_ids": ["sg"],
     "mac_address": "02:00:00:00:01:03", "fixed_ips": ["10.9.0.3"]},
    {"id": "e", "vf_index": 5, "network_id": "v300", "security_group_ids": ["sg"],
     "mac_address": "02:00:00:00:01:05", "fixed_ips": ["10.9.3.5"]}]
})json";

using Key = FakeTcBackend::FilterKey;
using Chain = std::pair<netlink::FilterOwner, uint32_t>;

class LanedReconcileTest : public ::testing::Test {
 protected:
  LanedReconcileTest() : log_(sink_, common::LogLevel::kWarn), laned_(fake_) {
    AddDevices(fake_);
    snapshot_ = test_support::SnapshotFromJson(kPolicy);
    slots_ = *policy::AssignSlots(snapshot_, {});
    view_.uplink = offload::Netdev{1, "uplink0"};
    view_.port_representors = {
        {"a", {11, "rep1"}}, {"b", {12, "rep2"}}, {"c", {13, "rep3"}}, {"e", {15, "rep5"}}};
  }

  static void AddDevices(FakeTcBackend& f) {
    f.AddDevice(1, "uplink0");
    for (uint32_t i : {11, 12, 13, 15}) f.AddDevice(i, absl::StrCat("rep", i - 10));
  }

  // Runs a pass, checking after every single op that each goto written in
  // the pass names a chain that already holds all it holds at the end, and
  // each installed goto names a chain the pass empties only while that chain
  // is still whole. Returns the violations.
  std::vector<std::string> RunChecked(Reconciler& r) {
    const auto before = fake_.filters();
    std::vector<std::pair<std::set<Key>, std::set<Chain>>> moments;  // keys, written jumps
    std::vector<std::set<Chain>> all_jumps;
    std::set<Key> written;
    fake_.SetObserver([&](const TcOp& op, const absl::Status& s) {
      if (s.ok() && op.kind != TcOp::Kind::kDeleteFilter)
        written.insert(FakeTcBackend::KeyOf(op.filter));
      std::set<Key> keys;
      std::set<Chain> jumps, written_jumps;
      for (const auto& [key, f] : fake_.filters()) {
        keys.insert(key);
        if (std::optional<uint32_t> t = JumpTarget(f)) {
          jumps.insert({f.owner, *t});
          if (written.contains(key)) written_jumps.insert({f.owner, *t});
        }
      }
      moments.push_back({std::move(keys), std::move(written_jumps)});
      all_jumps.push_back(std::move(jumps));
    });
    ReconcileReport report = r.Run(snapshot_, slots_, view_, offers_);
    fake_.SetObserver(nullptr);
    EXPECT_TRUE(report.status.ok()) << report.status;
    std::map<Chain, std::set<Key>> final_keys, emptied;
    for (const auto& [key, f] : fake_.filters()) final_keys[{f.owner, f.chain}].insert(key);
    for (const auto& [key, f] : before) {
      if (!final_keys.contains({f.owner, f.chain})) emptied[{f.owner, f.chain}].insert(key);
    }
    std::vector<std::string> out;
    auto missing = [](const std::set<Key>& want, const std::set<Key>& have) {
      return std::any_of(want.begin(), want.end(), [&](const Key& k) { return !have.contains(k); });
    };
    for (size_t i = 0; i < moments.size(); ++i) {
      for (const Chain& c : moments[i].second) {
        auto f = final_keys.find(c);
        if (f != final_keys.end() && missing(f->second, moments[i].first)) {
          out.push_back(absl::StrCat("after op ", i, " a goto names incomplete chain ", c.second));
        }
      }
      for (const Chain& c : all_jumps[i]) {
        auto e = emptied.find(c);
        if (e != emptied.end() && missing(e->second, moments[i].first)) {
          out.push_back(absl::StrCat("after op ", i, " a goto names emptied chain ", c.second));
        }
      }
    }
    return out;
  }

  std::ostringstream sink_;
  common::Logger log_;
  FakeTcBackend fake_;
  LanedFake laned_;
  policy::Snapshot snapshot_;
  policy::SlotAssignment slots_;
  EswitchView view_;
  OfferBook offers_;
};

TEST_F(LanedReconcileTest, ColdInstallJoinAndLeaveKeepTheJumpOrderAcrossLanes) {
  Reconciler r(laned_, log_, kBlock);
  const std::vector<std::string> cold = RunChecked(r);
  EXPECT_THAT(cold, ::testing::IsEmpty());
  EXPECT_GT(fake_.filters().size(), 50u);

  // The same end state as a sequential backend.
  FakeTcBackend plain;
  AddDevices(plain);
  Reconciler sequential(plain, log_, kBlock);
  ASSERT_TRUE(sequential.Run(snapshot_, slots_, view_, offers_).status.ok());
  EXPECT_EQ(plain.filters(), fake_.filters());

  // Port c leaves, then comes back: deletes (barriers) and a join.
  const policy::Snapshot full = snapshot_;
  snapshot_.ports.erase("c");
  view_.port_representors.erase("c");
  EXPECT_THAT(RunChecked(r), ::testing::IsEmpty());
  snapshot_ = full;
  view_.port_representors["c"] = {13, "rep3"};
  EXPECT_THAT(RunChecked(r), ::testing::IsEmpty());
}

TEST_F(LanedReconcileTest, TheCheckerSeesAWrongOrder) {
  laned_.whole_reverse = true;
  Reconciler r(laned_, log_, kBlock);
  EXPECT_THAT(RunChecked(r), ::testing::Not(::testing::IsEmpty()));
}

// A representor replaced (new ifindex) between two passes: the device's
// egress hook and every filter naming it move in one pass.
TEST_F(LanedReconcileTest, ARepresentorReplacedInOnePassEndsAsSequential) {
  Reconciler r(laned_, log_, kBlock);
  ASSERT_THAT(RunChecked(r), ::testing::IsEmpty());
  FakeTcBackend plain;
  AddDevices(plain);
  Reconciler sequential(plain, log_, kBlock);
  ASSERT_TRUE(sequential.Run(snapshot_, slots_, view_, offers_).status.ok());
  ASSERT_EQ(plain.filters(), fake_.filters());
  // rep3 goes and comes back with a new ifindex before the next pass.
  for (FakeTcBackend* f : {&fake_, &plain}) {
    f->RemoveDevice(13);
    f->AddDevice(16, "rep3");
  }
  view_.port_representors["c"] = {16, "rep3"};
  EXPECT_THAT(RunChecked(r), ::testing::IsEmpty());
  ReconcileReport rs = sequential.Run(snapshot_, slots_, view_, offers_);
  ASSERT_TRUE(rs.status.ok());
  EXPECT_EQ(plain.filters().size(), fake_.filters().size());
  EXPECT_TRUE(plain.filters() == fake_.filters());
  // And a pass after that changes nothing on either.
  ReconcileReport again = r.Run(snapshot_, slots_, view_, offers_);
  EXPECT_EQ(again.writes, 0);
  // flower resolved rep3 to its old ifindex when the filters naming it were
  // written: the pass must have rewritten them, so a fresh reconciler's
  // audit (a dump) finds nothing to repair.
  Reconciler fresh(plain, log_, kBlock);
  ReconcileReport audit = fresh.Run(snapshot_, slots_, view_, offers_);
  EXPECT_EQ(audit.writes, 0);
}
}  // namespace
}  // namespace vfguard::agent
