// The reconciler against the in-memory kernel (FakeTcBackend, whose answers
// tests/kernel/tc_backend_kernel_test checks against the real kernel): cold
// start, hitless restart, drift repair, representors that come and go, the
// write order, and the hardware path.
#include "agent/reconciler.h"

#include <sstream>

#include "agent/policy_codec.h"
#include "agent/write_order.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netlink/errno_status.h"
#include "offload/hw_model.h"
#include "offload/tc_translate.h"
#include "policy/chain_builder.h"
#include "policy/nd_check.h"
#include "policy/simulator.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint32_t kBlock = 77;

constexpr char kPolicy[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"},
               {"id": "v100", "segmentation": "vlan", "vlan_id": 100}],
  "security_groups": [
    {"id": "web", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
      {"direction": "ingress", "protocol": "icmp", "remote_ip_prefix": "10.0.0.0/30"},
      {"direction": "egress"}]},
    {"id": "db", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 5432, "port_range_max": 5432,
       "remote_group_id": "web"},
      {"direction": "egress"}]}],
  "ports": [
    {"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
     "fixed_ips": ["10.0.0.10"], "security_group_ids": ["web"], "vf_index": 1},
    {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
     "fixed_ips": ["10.0.0.11"], "security_group_ids": ["db"], "vf_index": 2},
    {"id": "c", "network_id": "v100", "mac_address": "02:00:00:00:00:0c",
     "fixed_ips": ["10.1.0.12"], "security_group_ids": ["web"], "vf_index": 3}]
})json";

policy::Snapshot Load(std::string_view json) { return test_support::SnapshotFromJson(json); }

// Records every op and forwards it to the fake.
class RecordingBackend : public TcBackend {
 public:
  explicit RecordingBackend(FakeTcBackend& fake) : fake_(fake) {}
  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return fake_.DumpClsact(); }
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    return fake_.DumpFilters(owner);
  }
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    ops_.insert(ops_.end(), ops.begin(), ops.end());
    return fake_.Apply(ops);
  }
  std::vector<TcOp>& ops() { return ops_; }

 private:
  FakeTcBackend& fake_;
  std::vector<TcOp> ops_;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() : log_(sink_, common::LogLevel::kWarn), backend_(fake_) {
    fake_.AddDevice(1, "uplink0");
    fake_.AddDevice(11, "rep1");
    fake_.AddDevice(12, "rep2");
    fake_.AddDevice(13, "rep3");
    snapshot_ = Load(kPolicy);
    slots_ = *policy::AssignSlots(snapshot_, {});
    view_.uplink = offload::Netdev{1, "uplink0"};
    view_.port_representors = {{"a", {11, "rep1"}}, {"b", {12, "rep2"}}, {"c", {13, "rep3"}}};
  }

  ReconcileReport Run(Reconciler& r) { return r.Run(snapshot_, slots_, view_, offers_); }

  // The pipeline's filters the reconciler installs as flower: not the ND
  // check (a BPF program), nor, while no ND check is attached (these tests
  // run without one unless they set it), the ND chain's port filters.
  static size_t Installed(const Reconciler& r, bool nd_attached = false) {
    size_t n = 0;
    for (const offload::PlacedFilter& p : r.placement().filters) {
      const policy::Filter& f = *p.filter;
      n += f.classifier == policy::Classifier::kFlower &&
           (nd_attached || f.rare()->nd_allowed.empty());
    }
    return n;
  }

  // Slow-path filters of the block (handles without the hardware bit).
  size_t SlowPathFilters() const {
    size_t n = 0;
    for (const auto& [key, f] : fake_.filters()) {
      if (offload::ClassifyHandle(f.handle).copy == offload::Copy::kSlowPath) ++n;
    }
    return n;
  }

  std::ostringstream sink_;
  common::Logger log_;
  FakeTcBackend fake_;
  RecordingBackend backend_;
  policy::Snapshot snapshot_;
  policy::SlotAssignment slots_;
  EswitchView view_;
  OfferBook offers_;
};

TEST_F(ReconcilerTest, ColdStartInstallsTheWholePipelineAndBindsEveryDevice) {
  Reconciler r(backend_, log_, kBlock);
  ReconcileReport report = Run(r);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.errors, 0);
  EXPECT_GT(report.filters, 50);
  EXPECT_EQ(SlowPathFilters(), Installed(r));
  EXPECT_EQ(*fake_.DumpClsact(),
            (std::map<uint32_t, uint32_t>{{1, kBlock}, {11, kBlock}, {12, kBlock}, {13, kBlock}}));
  // veth-like hardware: the probe is refused before any driver is asked
  // (EOPNOTSUPP, no extack), which is the block's answer for every filter.
  EXPECT_EQ(report.offers, 1);
  // The book keeps the probe's answer only: every filter shares it.
  EXPECT_EQ(offers_.Entries().size(), 1u);
  for (const HardwareRejection& e : offers_.Entries()) {
    EXPECT_EQ(e.error_number, EOPNOTSUPP) << e.filter_key << ": " << e.message;
  }
  for (const offload::PlacedFilter& p : r.placement().filters) {
    EXPECT_NE(p.placement, offload::Placement::kHardware) << p.filter->origin();
  }
}

TEST_F(ReconcilerTest, UnchangedStateWritesNothingAgainNorAfterARestart) {
  {
    Reconciler r(backend_, log_, kBlock);
    ASSERT_TRUE(Run(r).status.ok());
    fake_.ResetWrites();
    ReconcileReport again = Run(r);
    EXPECT_EQ(again.writes, 0);
    EXPECT_EQ(fake_.writes().Total(), 0u);
  }
  // A new process: a fresh reconciler with the checkpointed offer book.
  OfferBook restored(offers_.Entries());
  Reconciler restarted(backend_, log_, kBlock);
  ReconcileReport report = restarted.Run(snapshot_, slots_, view_, restored);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.writes, 0);
  EXPECT_EQ(report.offers, 0);
  EXPECT_EQ(fake_.writes().Total(), 0u);
}

TEST_F(ReconcilerTest, RestartWithoutTheOfferBookOnlyOffersAgain) {
  {
    Reconciler r(backend_, log_, kBlock);
    ASSERT_TRUE(Run(r).status.ok());
  }
  fake_.ResetWrites();
  OfferBook empty;
  Reconciler restarted(backend_, log_, kBlock);
  ReconcileReport report = restarted.Run(snapshot_, slots_, view_, empty);
  EXPECT_GT(report.offers, 0);
  // Refused offers leave nothing behind, and the pipeline is left alone.
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 0u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kDeleteFilter), 0u);
}

TEST_F(ReconcilerTest, DriftIsRepaired) {
  Reconciler r(backend_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  const auto installed = fake_.filters();
  auto first = installed.begin();
  auto second = std::next(first, 7);
  ASSERT_TRUE(fake_.DeleteFilterBehind(first->first).ok());
  netlink::FlowerFilter changed = second->second;
  changed.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kOk}}};
  ASSERT_TRUE(fake_.ModifyFilterBehind(changed).ok());
  // What trace runs: the kernel's view, without the two damaged filters.
  absl::StatusOr<policy::Pipeline> traced = r.InstalledPipeline();
  ASSERT_TRUE(traced.ok()) << traced.status();
  EXPECT_EQ(traced->filters.size() + 2, Installed(r));
  fake_.ResetWrites();
  // Drift raises a tc event the agent does not recognise, so it asks for an
  // audit; without one the pass would not look (reconciler_cost_test).
  r.RequestAudit();
  ReconcileReport report = Run(r);
  EXPECT_TRUE(report.audited);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.writes, 2);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kCreateFilter), 1u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 1u);
  EXPECT_EQ(fake_.filters(), installed);
  EXPECT_EQ(r.InstalledPipeline()->filters.size(), Installed(r));
}

TEST_F(ReconcilerTest, ARemovedQdiscIsRestoredAndAStrayFilterRemoved) {
  Reconciler r(backend_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  const auto installed = fake_.filters();
  ASSERT_TRUE(fake_.DeleteClsactBehind(12).ok());
  // Someone else's filter in our block.
  netlink::FlowerFilter stray = installed.begin()->second;
  stray.chain = 999;
  stray.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kDrop}}};
  ASSERT_TRUE(fake_.Apply({TcOp{TcOp::Kind::kCreateFilter, {}, stray}})[0].ok());
  r.RequestAudit();
  ReconcileReport report = Run(r);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(fake_.DumpClsact()->at(12), kBlock);
  EXPECT_EQ(fake_.filters(), installed);
}

TEST_F(ReconcilerTest, ARepresentorThatGoesAndComesBackGetsItsRulesBack) {
  Reconciler r(backend_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  const auto installed = fake_.filters();
  // VF reset: the netdev goes away (and with it its clsact binding).
  fake_.RemoveDevice(12);
  view_.port_representors.erase("b");
  ReconcileReport gone = Run(r);
  ASSERT_TRUE(gone.status.ok()) << gone.status;
  EXPECT_THAT(gone.absent_ports, Contains("b"));
  EXPECT_FALSE(r.effective().ports.contains("b"));
  for (const auto& [key, f] : fake_.filters()) {
    EXPECT_NE(f.keys.indev, std::optional<std::string>("rep2"));
  }
  // It comes back under a new ifindex.
  fake_.AddDevice(22, "rep2");
  view_.port_representors["b"] = {22, "rep2"};
  ReconcileReport back = Run(r);
  ASSERT_TRUE(back.status.ok()) << back.status;
  EXPECT_THAT(back.absent_ports, IsEmpty());
  EXPECT_EQ(fake_.DumpClsact()->at(22), kBlock);
  EXPECT_EQ(SlowPathFilters(), Installed(r));
  EXPECT_EQ(fake_.filters().size(), installed.size());
}

TEST_F(ReconcilerTest, ASharedSnapshotIsKeptAsItIsUnlessAPortIsAbsent) {
  Reconciler r(backend_, log_, kBlock);
  auto desired = std::make_shared<const policy::Snapshot>(snapshot_);
  ReconcileReport all = r.Run(desired, slots_, view_, offers_);
  ASSERT_TRUE(all.status.ok()) << all.status;
  EXPECT_EQ(r.shared_effective(), desired) << "every port present: no copy";
  const auto installed = fake_.filters();

  view_.port_representors.erase("b");
  ReconcileReport without_b = r.Run(desired, slots_, view_, offers_);
  ASSERT_TRUE(without_b.status.ok()) << without_b.status;
  EXPECT_THAT(without_b.absent_ports, ElementsAre("b"));
  EXPECT_NE(r.shared_effective(), desired);
  EXPECT_FALSE(r.effective().ports.contains("b"));
  EXPECT_TRUE(desired->ports.contains("b")) << "the caller's snapshot is not changed";
  EXPECT_EQ(SlowPathFilters(), Installed(r));
}

TEST_F(ReconcilerTest, AddsComeBeforeDeletesAndJumpTargetsBeforeJumps) {
  Reconciler r(backend_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  // Port d comes and group web loses its ICMP rule in one pass: d's chains
  // are created, the flood lists of its network replaced, and the ICMP
  // filters of a and c deleted.
  policy::Port d = snapshot_.ports.at("c");
  d.id = "d";
  d.mac.bytes[5] = 0x0d;
  d.fixed_ips = {*policy::IpAddr::Parse("10.1.0.13")};
  d.representor.ref = uint32_t{4};
  snapshot_.ports["d"] = d;
  auto& web = snapshot_.security_groups.at("web").rules;
  web.erase(web.begin() + 1);
  slots_ = *policy::AssignSlots(snapshot_, slots_);
  fake_.AddDevice(14, "rep4");
  view_.port_representors["d"] = {14, "rep4"};
  backend_.ops().clear();
  ASSERT_TRUE(Run(r).status.ok());
  const std::vector<TcOp>& ops = backend_.ops();
  ASSERT_FALSE(ops.empty());
  // The one exception to "adds first": a (chain, prio) whose protocol
  // changes must be emptied before it can take the new protocol.
  std::set<std::pair<uint32_t, uint16_t>> recreated;
  for (const TcOp& op : ops) {
    if (op.kind == TcOp::Kind::kCreateFilter) recreated.insert({op.filter.chain, op.filter.prio});
  }
  // Chains with writes still to come, for the jump check below.
  std::map<uint32_t, int> pending_upserts;
  for (const TcOp& op : ops) {
    if (op.filter.skip_sw) continue;
    if (op.kind == TcOp::Kind::kCreateFilter || op.kind == TcOp::Kind::kReplaceFilter) {
      ++pending_upserts[op.filter.chain];
    }
  }
  bool deleting = false;
  int deletes = 0;
  uint32_t last_upsert_chain = UINT32_MAX;
  for (const TcOp& op : ops) {
    if (op.filter.skip_sw) continue;  // hardware offers, made before the pass's writes
    const bool protocol_change = recreated.contains({op.filter.chain, op.filter.prio});
    if (op.kind == TcOp::Kind::kDeleteFilter && !protocol_change) {
      deleting = true;
      ++deletes;
    } else if (op.kind == TcOp::Kind::kCreateFilter || op.kind == TcOp::Kind::kReplaceFilter) {
      EXPECT_FALSE(deleting) << "an add after a delete";
      if (std::optional<uint32_t> target = JumpTarget(op.filter);
          target && *target != op.filter.chain) {
        EXPECT_EQ(pending_upserts[*target], 0) << "chain " << op.filter.chain << " jumps to chain "
                                               << *target << " before its writes are done";
      }
      --pending_upserts[op.filter.chain];
      last_upsert_chain = op.filter.chain;
    }
  }
  EXPECT_GT(deletes, 0);
  EXPECT_EQ(last_upsert_chain, 0u) << "chain 0 (dispatch to port d) is written last";
}

TEST_F(ReconcilerTest, RuleChangesThatReshapeFiltersAreRecreatedNotReplaced) {
  Reconciler r(backend_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  // Removing a rule moves the next rule's filters to its prio, under another
  // mask; making a group stateless removes the ct stages. flower refuses a
  // replace with another mask (the fake too), so these must be recreated.
  auto& web = snapshot_.security_groups.at("web").rules;
  web.erase(web.begin());
  snapshot_.security_groups.at("db").stateful = false;
  ReconcileReport report = Run(r);
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.errors, 0);
  EXPECT_EQ(SlowPathFilters(), Installed(r));
  // What the kernel holds is exactly the new pipeline.
  Reconciler fresh(backend_, log_, kBlock);
  fake_.ResetWrites();
  EXPECT_EQ(fresh.Run(snapshot_, slots_, view_, offers_).writes, 0);
}

TEST_F(ReconcilerTest, HardwareTakesWhatItAcceptsAndTheSlowPathStaysComplete) {
  // A NIC that takes everything but ARP keys and port masks.
  fake_.SetHardware([](const netlink::FlowerFilter& f) -> absl::Status {
    if (f.keys.arp_sip || f.keys.arp_tip || f.keys.arp_sha || f.keys.arp_op) {
      return netlink::ErrnoStatus(EOPNOTSUPP, "mlx5_core: Unsupported key");
    }
    return absl::OkStatus();
  });
  Reconciler r(backend_, log_, kBlock);
  ReconcileReport report = Run(r);
  ASSERT_TRUE(report.status.ok()) << report.status;
  size_t hw = 0, refused = 0;
  for (const offload::PlacedFilter& p : r.placement().filters) {
    if (p.placement == offload::Placement::kHardware) ++hw;
    if (p.placement == offload::Placement::kTrap && offload::NeverInHardware(*p.filter)) {
      EXPECT_THAT(std::string(r.placement().HwStatus(p).message()),
                  ::testing::AnyOf(::testing::HasSubstr("egress hook"),
                                   ::testing::HasSubstr("BPF program")));
    } else if (p.placement == offload::Placement::kTrap) {
      ++refused;
      EXPECT_EQ(offload::ErrnoOf(r.placement().HwStatus(p)), EOPNOTSUPP);
      EXPECT_THAT(std::string(r.placement().HwStatus(p).message()),
                  ::testing::HasSubstr("Unsupported key"));
    }
  }
  EXPECT_GT(hw, 0u);
  EXPECT_GT(refused, 0u);
  // Every IR filter has its slow-path copy; hardware copies and traps are extra.
  EXPECT_EQ(SlowPathFilters(), Installed(r));
  size_t both = 0, traps = 0;
  for (const auto& [key, f] : fake_.filters()) {
    const offload::HandleInfo h = offload::ClassifyHandle(f.handle);
    EXPECT_NE(h.copy, offload::Copy::kHardware) << "offers must not stay installed";
    if (h.copy == offload::Copy::kTrap) {
      ++traps;
      EXPECT_TRUE(f.skip_sw);
    } else if (!f.skip_hw) {
      ++both;  // in software and in hardware
      EXPECT_FALSE(f.skip_sw);
    }
  }
  EXPECT_EQ(both, hw);
  EXPECT_EQ(traps, r.placement().traps.size());
  // And a second pass changes nothing.
  fake_.ResetWrites();
  EXPECT_EQ(Run(r).writes, 0);
}

TEST_F(ReconcilerTest, NoUplinkInstallsNothing) {
  view_.uplink.reset();
  Reconciler r(backend_, log_, kBlock);
  ReconcileReport report = Run(r);
  EXPECT_FALSE(report.status.ok());
  EXPECT_THAT(std::string(report.status.message()), ::testing::HasSubstr("uplink"));
  EXPECT_EQ(fake_.writes().Total(), 0u);
}

}  // namespace
}  // namespace vfguard::agent

namespace vfguard::agent {
namespace {

constexpr char kNdPolicy[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"}],
  "ports": [
    {"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
     "fixed_ips": ["fd00::a"], "vf_index": 1},
    {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
     "fixed_ips": ["fd00::b"], "vf_index": 2},
    {"id": "c", "network_id": "flat", "mac_address": "02:00:00:00:00:0c",
     "fixed_ips": ["fd00::c"], "port_security_enabled": false, "vf_index": 3}]
})json";

// Issue 11: the ND check's map follows the pipeline in the same pass, a
// changed VIP is a map write and no tc write, and without an attached check
// NS/NA of secured ports have no way through the ND chain.
TEST_F(ReconcilerTest, NdCheckMapFollowsThePipelineWithoutFilterWrites) {
  snapshot_ = Load(kNdPolicy);
  slots_ = *policy::AssignSlots(snapshot_, {});
  FakeNdCheckHook nd;
  Reconciler r(backend_, log_, kBlock);
  r.SetNdCheck(&nd);
  ReconcileReport first = Run(r);
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_TRUE(nd.attached());
  ASSERT_EQ(nd.map.size(), 2u) << "a and b have port security, c not";
  ASSERT_TRUE(nd.map.contains(11) && nd.map.contains(12));
  const policy::MacAddr mac_a = *policy::MacAddr::Parse("02:00:00:00:00:0a");
  EXPECT_THAT(nd.map[11], Contains(policy::NdAllowed{mac_a, *policy::IpPrefix::Parse("fd00::a")}));
  EXPECT_EQ(SlowPathFilters(), Installed(r, /*nd_attached=*/true));
  EXPECT_EQ(first.nd_map_writes, 2u);

  // A VIP added to a: a's map entry changes in the same pass as its
  // filters (new source filters, VRRP); the ND chain is not written.
  auto nd_chain_writes = [&]() {
    int n = 0;
    for (const TcOp& op : backend_.ops()) n += op.filter.chain == policy::Chains::kNd;
    backend_.ops().clear();
    return n;
  };
  nd_chain_writes();
  snapshot_.ports["a"].vips.push_back(*policy::IpAddr::Parse("fd00::100"));
  ReconcileReport vip = Run(r);
  ASSERT_TRUE(vip.status.ok()) << vip.status;
  EXPECT_GT(vip.writes, 0);
  EXPECT_EQ(nd_chain_writes(), 0);
  EXPECT_EQ(vip.nd_map_writes, 1u);
  EXPECT_THAT(nd.map[11],
              Contains(policy::NdAllowed{mac_a, *policy::IpPrefix::Parse("fd00::100")}));
  // And removed again.
  snapshot_.ports["a"].vips.clear();
  ReconcileReport removed = Run(r);
  EXPECT_EQ(nd_chain_writes(), 0);
  EXPECT_EQ(removed.nd_map_writes, 1u);
  EXPECT_THAT(
      nd.map[11],
      ::testing::Not(Contains(policy::NdAllowed{mac_a, *policy::IpPrefix::Parse("fd00::100")})));
  // Nothing changed: no map write.
  ReconcileReport idle = Run(r);
  EXPECT_EQ(idle.nd_map_writes, 0u);
  EXPECT_EQ(nd_chain_writes(), 0);
  // A port removed: its entry goes in the same pass as its filters.
  snapshot_.ports.erase("b");
  ReconcileReport gone = Run(r);
  ASSERT_TRUE(gone.status.ok()) << gone.status;
  EXPECT_FALSE(nd.map.contains(12));
}

TEST_F(ReconcilerTest, WithoutAnAttachedNdCheckTheNdChainLetsNothingThrough) {
  snapshot_ = Load(kNdPolicy);
  slots_ = *policy::AssignSlots(snapshot_, {});
  FakeNdCheckHook nd;
  nd.fail = absl::PermissionDeniedError("no BPF here");
  Reconciler r(backend_, log_, kBlock);
  r.SetNdCheck(&nd);
  ReconcileReport report = Run(r);
  EXPECT_FALSE(report.status.ok());
  EXPECT_THAT(sink_.str(), ::testing::HasSubstr("nd_check_sync_failed"));
  for (const auto& [key, f] : fake_.filters()) {
    EXPECT_NE(f.chain, policy::Chains::kNd) << "no ND chain filter without the check";
  }
  absl::StatusOr<policy::Pipeline> installed = r.InstalledPipeline();
  ASSERT_TRUE(installed.ok());
  // The kernel's pipeline, traced: an NA for b's address from a goes nowhere.
  policy::Packet na;
  na.in = policy::DeviceRef::OfPort("a");
  na.src_mac = *policy::MacAddr::Parse("02:00:00:00:00:0a");
  na.dst_mac = *policy::MacAddr::Parse("33:33:00:00:00:01");
  na.eth_type = policy::kEthIPv6;
  na.src_ip = *policy::IpAddr::Parse("fd00::a");
  na.dst_ip = *policy::IpAddr::Parse("ff02::1");
  na.ip_proto = policy::kProtoIcmpv6;
  na.icmp_type = 136;
  na.nd_body = policy::NdBody(*policy::IpAddr::Parse("fd00::a"), {});
  policy::ConntrackModel ct;
  EXPECT_TRUE(policy::Simulate(*installed, na, ct).Dropped());
  // Once the check attaches, the ND chain's port filters follow.
  nd.fail = absl::OkStatus();
  ReconcileReport later = Run(r);
  ASSERT_TRUE(later.status.ok()) << later.status;
  EXPECT_EQ(SlowPathFilters(), Installed(r, /*nd_attached=*/true));
  installed = r.InstalledPipeline();
  ASSERT_TRUE(installed.ok());
  EXPECT_FALSE(policy::Simulate(*installed, na, ct).Dropped());
}

}  // namespace
}  // namespace vfguard::agent
