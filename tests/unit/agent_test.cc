// Agent itself on the fake backends with injected monitors: passes run on
// the worker while the reactor keeps answering, scrapes read cached counters
// (one block dump and one conntrack dump per refresh), API writes are not
// held behind a retry backoff, reasons are reported, a policy file that is
// deleted and created again is reloaded, a kernel that never answers
// leaves the agent live with the error reported, tc notifications wait as one
// batch of compact notes and only drift audits, and remote-set rules use the
// set-match hook (a member change: map writes, no tc write) or, when it
// cannot load, flower filters.
#include "agent/agent.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "agent/netlink_tc_backend.h"
#include "agent/policy_codec.h"
#include "agent/tc_note_queue.h"
#include "gtest/gtest.h"
#include "netlink/tc_codec.h"
#include "tests/fakes/fake_ct_backend.h"
#include "tests/fakes/fake_set_match_hook.h"
#include "tests/fakes/fake_tc_backend.h"

namespace vfguard::agent {
namespace {

constexpr uint32_t kBlock = 42;
constexpr uint32_t kUplink = 10;

std::string PolicyJson(int ports, const std::string& tcp_port = "80") {
  std::string out = R"({"networks": [{"id": "flat", "segmentation": "flat"}],
    "security_groups": [{"id": "web", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": )" +
                    tcp_port + ", \"port_range_max\": " + tcp_port + R"(},
      {"direction": "egress"}]}], "ports": [)";
  for (int i = 1; i <= ports; ++i) {
    char mac[32];
    std::snprintf(mac, sizeof(mac), "02:00:00:00:00:%02x", i);
    out += std::string(i > 1 ? "," : "") + R"({"id": "p)" + std::to_string(i) +
           R"(", "network_id": "flat", "mac_address": ")" + mac + R"(", "fixed_ips": ["10.0.0.)" +
           std::to_string(10 + i) + R"("], "security_group_ids": ["web"], "vf_index": )" +
           std::to_string(i) + "}";
  }
  return out + "]}";
}

class FakeLinks : public netlink::LinkSource {
 public:
  explicit FakeLinks(int ports) {
    links_[kUplink] = {static_cast<int>(kUplink), "up0", true, "", ""};
    for (int i = 1; i <= ports; ++i) {
      links_[10 + i] = {10 + i, "r" + std::to_string(i), true, "", ""};
    }
  }
  const std::map<int, netlink::Link>& links() const override { return links_; }
  void SetResyncHandler(ResyncHandler) override {}

 private:
  std::map<int, netlink::Link> links_;
};

// Forwards to the fake; Apply can be held (to stand for a long pass) and
// dumps of the block are counted.
class GatedBackend : public TcBackend {
 public:
  explicit GatedBackend(FakeTcBackend& fake) : fake_(fake) {}
  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return fake_.DumpClsact(); }
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    if (std::holds_alternative<netlink::TcBlock>(owner)) ++block_dumps;
    return fake_.DumpFilters(owner);
  }
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++applies_waiting;
    opened_.wait(lock, [this] { return open_; });
    --applies_waiting;
    return fake_.Apply(ops);
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    opened_.notify_all();
  }
  std::atomic<int> block_dumps{0};
  std::atomic<int> applies_waiting{0};

 private:
  FakeTcBackend& fake_;
  std::mutex mu_;
  std::condition_variable opened_;
  bool open_ = true;
};

// Counts whole-table conntrack reads.
class CountingCt : public FakeCtBackend {
 public:
  absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> DumpZones(
      const std::set<uint16_t>& zones) override {
    ++dump_zones;
    return FakeCtBackend::DumpZones(zones);
  }
  std::atomic<int> dump_zones{0};
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("agent_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    policy_file_ = (dir_ / "policy.json").string();
    WritePolicy(PolicyJson(3));
    fake_.AddDevice(kUplink, "up0");
    for (int i = 1; i <= 3; ++i) fake_.AddDevice(10 + i, "r" + std::to_string(i));
  }
  void TearDown() override {
    agent_.reset();
    std::filesystem::remove_all(dir_);
  }
  void WritePolicy(const std::string& json) {
    std::ofstream(policy_file_ + ".tmp") << json;
    std::filesystem::rename(policy_file_ + ".tmp", policy_file_);
  }
  void MakeAgent(TcBackend& tc, int ports = 3,
                 std::function<absl::StatusOr<std::unique_ptr<SetMatchHook>>()> set_match = {}) {
    config_.state_dir = dir_.string();
    config_.policy_file = policy_file_;
    config_.block_index = kBlock;
    config_.eswitch.mode = EswitchMode::kMap;
    config_.eswitch.uplink = "up0";
    for (int i = 1; i <= ports; ++i) config_.eswitch.representors[i] = "r" + std::to_string(i);
    absl::StatusOr<std::unique_ptr<DesiredState>> desired =
        DesiredState::Open({config_.CheckpointPath(), policy_file_, 1, 1000});
    ASSERT_TRUE(desired.ok()) << desired.status();
    agent_ = std::make_unique<Agent>(io_, config_, log_, *std::move(desired), tc, &ct_, registry_);
    Agent::Monitors m;
    m.links = std::make_unique<FakeLinks>(ports);
    m.set_match = std::move(set_match);
    ASSERT_TRUE(agent_->Start(std::move(m)).ok());
  }
  // Runs the reactor until `done` or `limit`.
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.run_for(std::chrono::milliseconds(5));
      if (io_.stopped()) io_.restart();
    }
    return true;
  }
  std::string Log() const { return log_stream_.str(); }
  // Through the API, as an orchestrator would.
  void RemoveRemotePorts() {
    ASSERT_TRUE(agent_
                    ->Mutate([](api::v1::Policy& p) {
                      p.clear_remote_ports();
                      return absl::OkStatus();
                    })
                    .ok());
  }

  std::filesystem::path dir_;
  std::string policy_file_;
  boost::asio::io_context io_;
  std::ostringstream log_stream_;
  common::Logger log_{log_stream_, common::LogLevel::kDebug};
  common::metrics::Registry registry_;
  FakeTcBackend fake_;
  CountingCt ct_;
  AgentConfig config_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, TheReactorAnswersWhileAPassIsHeldOnTheWorker) {
  GatedBackend tc(fake_);
  tc.Hold();
  MakeAgent(tc);
  // The first pass reaches the kernel and waits there.
  ASSERT_TRUE(RunUntil([&] { return tc.applies_waiting.load() > 0; }));
  // Meanwhile the reactor serves queries and accepts a write.
  const auto t0 = std::chrono::steady_clock::now();
  AgentStatus s = agent_->Status();
  EXPECT_FALSE(s.ready);
  EXPECT_EQ(s.reconciles, 0u);
  absl::StatusOr<api::v1::Policy> changed = agent_->Mutate([](api::v1::Policy& p) {
    p.mutable_ports(0)->set_generation(p.ports(0).generation() + 1);
    p.mutable_ports(0)->add_fixed_ips("10.0.0.99");
    return absl::OkStatus();
  });
  ASSERT_TRUE(changed.ok()) << changed.status();
  agent_->CollectMetrics();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(agent_->Status().reconciles, 0u) << "the held pass cannot have finished";
  tc.Release();
  // The held pass finishes, then the write's pass runs (not before).
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().reconciles >= 2; })) << Log();
  EXPECT_TRUE(agent_->Status().ready);
  EXPECT_NE(Log().find("reason=start"), std::string::npos) << Log();
  EXPECT_NE(Log().find("reason=api"), std::string::npos) << Log();
  absl::StatusOr<PortStatus> p1 = agent_->Port("p1");
  ASSERT_TRUE(p1.ok());
  EXPECT_FALSE(p1->rules.empty());
}

// `f` as the kernel announces it on RTNLGRP_TC (the same message layout).
std::vector<uint32_t> Announcement(const netlink::FlowerFilter& f) {
  std::vector<uint32_t> words(1024);
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), words.size() * 4);
  absl::StatusOr<size_t> n =
      netlink::EncodeNewFilter(f, netlink::CreateMode::kCreateExclusive, 1, buf);
  EXPECT_TRUE(n.ok()) << n.status();
  words.resize(n.ok() ? (*n + 3) / 4 : 0);
  return words;
}
const nlmsghdr& Header(const std::vector<uint32_t>& words) {
  return *reinterpret_cast<const nlmsghdr*>(words.data());
}

// A block dump padded with `pad` copies of its first filter (other handles),
// to stand for a large block in a counter refresh.
class PaddedDumpBackend : public GatedBackend {
 public:
  using GatedBackend::GatedBackend;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    absl::StatusOr<std::vector<netlink::FlowerFilter>> out = GatedBackend::DumpFilters(owner);
    if (out.ok() && !out->empty() && std::holds_alternative<netlink::TcBlock>(owner)) {
      const netlink::FlowerFilter first = out->front();
      for (int i = 0; i < pad.load(); ++i) {
        out->push_back(first);
        out->back().handle = 100000 + i;
      }
    }
    return out;
  }
  std::atomic<int> pad{0};
};

TEST_F(AgentTest, ACounterRefreshOfALargeBlockTrimsTheHeapAfterwards) {
  PaddedDumpBackend tc(fake_);
  MakeAgent(tc);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  io_.run_for(std::chrono::milliseconds(300));  // the start pass's trim
  // A small block: its dump is not worth a trim.
  size_t trims = agent_->heap_trims();
  int dumps = tc.block_dumps.load();
  agent_->CollectMetrics();
  ASSERT_TRUE(RunUntil([&] { return tc.block_dumps.load() > dumps; }));
  io_.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(agent_->heap_trims(), trims);
  // 2,000 filters: the decoded dump is freed, then the heap trimmed.
  io_.run_for(absl::ToChronoMilliseconds(Agent::kCounterMaxAge));
  tc.pad = 2000;
  dumps = tc.block_dumps.load();
  agent_->CollectMetrics();
  ASSERT_TRUE(RunUntil([&] { return tc.block_dumps.load() > dumps; }));
  EXPECT_TRUE(RunUntil([&] { return agent_->heap_trims() > trims; }));
}

TEST_F(AgentTest, TcNotificationsWaitAsOneCompactBatchAndOnlyDriftAudits) {
  GatedBackend tc(fake_);
  MakeAgent(tc);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  // The dispatch (chain 0 of the block): a port's address change leaves it alone.
  std::map<FakeTcBackend::FilterKey, netlink::FlowerFilter> dispatch;
  for (const auto& [key, f] : fake_.filters()) {
    if (std::holds_alternative<netlink::TcBlock>(f.owner) && f.chain == 0) dispatch[key] = f;
  }
  ASSERT_GE(dispatch.size(), 3u);
  // A pass held in the kernel, as a large pass is while its own writes'
  // notifications arrive.
  tc.Hold();
  ASSERT_TRUE(agent_
                  ->Mutate([](api::v1::Policy& p) {
                    p.mutable_ports(0)->set_generation(p.ports(0).generation() + 1);
                    p.mutable_ports(0)->add_fixed_ips("10.0.0.99");
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(RunUntil([&] { return tc.applies_waiting.load() > 0; }));
  const TcNoteQueue::Stats before = agent_->tc_note_stats();
  constexpr int kRounds = 200;
  for (int i = 0; i < kRounds; ++i) {
    for (const auto& [key, f] : dispatch) agent_->OnTcEvent(Header(Announcement(f)));
  }
  const size_t pushed = kRounds * dispatch.size();
  const TcNoteQueue::Stats held = agent_->tc_note_stats();
  EXPECT_EQ(held.notes - before.notes, pushed);
  EXPECT_EQ(held.batches - before.batches, 1u) << "one worker job for the whole batch";
  EXPECT_EQ(held.peak_pending, pushed);
  EXPECT_LE(sizeof(TcNote), 48u);
  EXPECT_LE(held.peak_bytes, 2 * pushed * sizeof(TcNote)) << "notes, not decoded filters";
  const size_t mark = Log().size();
  auto since = [&](const std::string& what) { return Log().find(what, mark) != std::string::npos; };
  tc.Release();
  ASSERT_TRUE(RunUntil([&] { return agent_->tc_note_stats().taken == held.notes; }));
  io_.run_for(std::chrono::milliseconds(1000));
  for (const auto& [key, f] : dispatch) {
    ASSERT_EQ(fake_.filters().at(key), f) << "the echoes are of filters still installed";
  }
  EXPECT_FALSE(since("tc_event")) << "echoes of our own filters cost no audit\n"
                                  << Log().substr(mark);

  // A filter nobody here wrote, in our block: drift, so the next pass audits.
  netlink::FlowerFilter foreign = dispatch.begin()->second;
  foreign.handle += 1000;
  foreign.prio = 60000;
  agent_->OnTcEvent(Header(Announcement(foreign)));
  ASSERT_TRUE(RunUntil([&] { return since("reason=tc_event audited=true"); }))
      << Log().substr(mark);
}

TEST_F(AgentTest, ARestartTrustsTheInstalledRecordAndAuditsSoonAfter) {
  MakeAgent(fake_);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  ASSERT_TRUE(RunUntil([&] { return std::filesystem::exists(config_.InstalledRecordPath()); }))
      << "the first pass leaves the installed record in the state directory";
  agent_.reset();  // the process ends; the kernel (the fake) keeps its filters
  const size_t mark = Log().size();
  MakeAgent(fake_);
  auto since = [&](const std::string& what) { return Log().find(what, mark) != std::string::npos; };
  ASSERT_TRUE(RunUntil([&] { return since("reason=start"); })) << Log().substr(mark);
  EXPECT_TRUE(since("reason=start audited=false trusted_record=true dumps=2 writes=0"))
      << Log().substr(mark);
  // The full audit follows on its own, 10 s later, and finds nothing to do.
  ASSERT_TRUE(
      RunUntil([&] { return since("reason=audit_after_restart"); }, std::chrono::seconds(20)))
      << Log().substr(mark);
  EXPECT_TRUE(
      since("reason=audit_after_restart audited=true trusted_record=false dumps=5 "
            "writes=0"))
      << Log().substr(mark);
}

TEST_F(AgentTest, ScrapesReadCachedCountersWithOneDumpOfEachKindPerRefresh) {
  GatedBackend tc(fake_);
  MakeAgent(tc);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  const int block_before = tc.block_dumps.load();
  const int zones_before = ct_.dump_zones.load();
  // A burst of scrapes and port queries within the refresh age: at most one
  // refresh, and conntrack is read for all zones at once, never per port.
  for (int i = 0; i < 20; ++i) {
    agent_->CollectMetrics();
    (void)agent_->Port("p2");
  }
  ASSERT_TRUE(RunUntil([&] { return tc.block_dumps.load() > block_before; }));
  io_.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(tc.block_dumps.load(), block_before + 1) << Log();
  EXPECT_EQ(ct_.dump_zones.load(), zones_before + 1) << "one conntrack read of all zones";
  absl::StatusOr<PortStatus> p = agent_->Port("p2");
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->counters_as_of, absl::InfinitePast());
}

TEST_F(AgentTest, AnApiWriteIsNotHeldBehindARetryBackoff) {
  // No uplink device in the fake: every pass fails and is retried with a
  // growing delay (1 s, 2 s, ...).
  FakeTcBackend broken;
  GatedBackend tc(broken);
  MakeAgent(tc);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().reconciles >= 1; })) << Log();
  EXPECT_FALSE(agent_->Status().last_reconcile_status.ok());
  EXPECT_FALSE(agent_->Status().ready);
  const uint64_t before = agent_->Status().reconciles;
  ASSERT_TRUE(agent_
                  ->Mutate([](api::v1::Policy& p) {
                    p.mutable_ports(1)->set_generation(p.ports(1).generation() + 1);
                    return absl::OkStatus();
                  })
                  .ok());
  // Well before the retry's second: the write's own pass.
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().reconciles > before; },
                       std::chrono::milliseconds(700)))
      << Log();
  EXPECT_NE(Log().find("reason=api"), std::string::npos) << Log();
}

TEST_F(AgentTest, APolicyFileDeletedAndCreatedAgainIsReloaded) {
  MakeAgent(fake_);
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  std::filesystem::remove(policy_file_);
  io_.run_for(std::chrono::milliseconds(1500));  // the watch sees it missing
  WritePolicy(PolicyJson(3, "8080"));
  ASSERT_TRUE(RunUntil([&] { return Log().find("event=policy_reloaded") != std::string::npos; },
                       std::chrono::seconds(5)))
      << Log();
  bool has_8080 = false;
  const api::v1::Policy desired = agent_->Desired();
  for (const api::v1::SecurityGroup& g : desired.security_groups()) {
    for (const api::v1::SecurityGroupRule& r : g.rules()) {
      if (r.port_range_min() == 8080) has_8080 = true;
    }
  }
  EXPECT_TRUE(has_8080);
}

// The tc socket's peer reads requests and never answers: the pass fails
// with the deadline, the reactor keeps answering, and the error is reported.
TEST_F(AgentTest, AKernelThatNeverAnswersLeavesTheAgentLiveWithTheErrorReported) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  netlink::SocketOptions opts;
  opts.set_buffers = false;
  opts.idle_timeout = std::chrono::milliseconds(300);
  std::unique_ptr<NetlinkTcBackend> silent = NetlinkTcBackend::OverSocket(fds[0], opts);
  MakeAgent(*silent);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunUntil([&] {
    // The reactor stays responsive throughout.
    EXPECT_FALSE(agent_->Status().ready);
    return agent_->Status().reconciles >= 1;
  })) << Log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  const absl::Status last = agent_->Status().last_reconcile_status;
  EXPECT_EQ(last.code(), absl::StatusCode::kDeadlineExceeded) << last;
  EXPECT_NE(Log().find("no answer from the kernel"), std::string::npos) << Log();
  agent_.reset();
  close(fds[1]);
}

// Issue 14: p1..p3 allow tcp/22 from group bastion, whose one member is a
// remote port (192.0.2.10).
std::string SshFromBastion() {
  std::string out = PolicyJson(3);
  const std::string rule = R"({"direction": "ingress", "protocol": "tcp", "port_range_min": 22,
      "port_range_max": 22, "remote_group_id": "bastion"},)";
  out.insert(out.find(R"({"direction": "egress"})"), rule);
  const std::string extra = R"("remote_ports": [{"id": "b1", "addresses": ["192.0.2.10"],
      "security_group_ids": ["bastion"]}], "security_groups": [{"id": "bastion"}, )";
  out.replace(out.find(R"("security_groups": [)"), std::string(R"("security_groups": [)").size(),
              extra);
  return out;
}

int FlowerFiltersFrom(const FakeTcBackend& fake, const netlink::Ipv4Addr& src) {
  int n = 0;
  for (const auto& [key, f] : fake.filters()) n += f.keys.ipv4_src && f.keys.ipv4_src->value == src;
  return n;
}

TEST_F(AgentTest, WithTheSetMatchHookAMemberChangeWritesMapsAndNoTcFilter) {
  WritePolicy(SshFromBastion());
  std::atomic<FakeSetMatchHook*> hook{nullptr};
  MakeAgent(fake_, 3, [&]() -> absl::StatusOr<std::unique_ptr<SetMatchHook>> {
    auto h = std::make_unique<FakeSetMatchHook>();
    hook = h.get();
    return h;
  });
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  ASSERT_NE(hook.load(), nullptr);
  EXPECT_EQ(hook.load()->filters().size(), 3u) << "one set-match filter per port";
  EXPECT_EQ(FlowerFiltersFrom(fake_, {192, 0, 2, 10}), 0);
  const uint64_t tc_writes = fake_.writes().Total();
  const uint64_t maps = hook.load()->map_writes();
  const uint64_t passes = agent_->Status().reconciles;
  RemoveRemotePorts();  // the member leaves
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().reconciles > passes; })) << Log();
  EXPECT_TRUE(agent_->Status().last_reconcile_status.ok()) << Log();
  EXPECT_EQ(fake_.writes().Total(), tc_writes) << "no tc write for a member change";
  EXPECT_EQ(hook.load()->map_writes(), maps + 1);
  EXPECT_NE(Log().find("set_map_writes=1"), std::string::npos) << Log();
}

TEST_F(AgentTest, WhenTheSetMatchHookCannotLoadRemoteSetRulesAreFlowerFilters) {
  WritePolicy(SshFromBastion());
  MakeAgent(fake_, 3, []() -> absl::StatusOr<std::unique_ptr<SetMatchHook>> {
    return absl::PermissionDeniedError("bpf: Operation not permitted (no CAP_BPF)");
  });
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().ready; })) << Log();
  EXPECT_NE(Log().find("event=set_match_unavailable"), std::string::npos) << Log();
  EXPECT_NE(Log().find("CAP_BPF"), std::string::npos) << Log();
  EXPECT_EQ(FlowerFiltersFrom(fake_, {192, 0, 2, 10}), 3) << "tcp/22 from the member, per port";
  const uint64_t passes = agent_->Status().reconciles;
  RemoveRemotePorts();
  ASSERT_TRUE(RunUntil([&] { return agent_->Status().reconciles > passes; })) << Log();
  EXPECT_EQ(FlowerFiltersFrom(fake_, {192, 0, 2, 10}), 0);
}

}  // namespace
}  // namespace vfguard::agent
