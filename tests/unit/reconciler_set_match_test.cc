// The reconciler with set lookups (Reconciler::SetSetMatch; docs/performance.md,
// "Remote groups") against the in-memory kernel and an in-memory set-match
// hook: rules whose remote is a group or address group reach the hook as
// cls_bpf filters and sets, a member change is map writes and no tc filter
// write, the hook is synced before any flower filter write of the pass, a
// failed sync is reported and retried, and without a hook the same rules
// are flower filters.
#include <cerrno>
#include <set>
#include <sstream>
#include <tuple>

#include "agent/policy_codec.h"
#include "agent/reconciler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netlink/errno_status.h"
#include "tests/fakes/fake_set_match_hook.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {
namespace {

constexpr uint32_t kBlock = 77;
const netlink::Ipv4Addr kMember = {192, 0, 2, 10};

// a and b allow tcp/22 from group bastion (one remote member, 192.0.2.10)
// and tcp/443 from address group office.
constexpr char kPolicy[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"}],
  "security_groups": [
    {"id": "ssh", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
       "remote_group_id": "bastion"},
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443,
       "remote_address_group_id": "office"},
      {"direction": "egress"}]},
    {"id": "bastion"}],
  "address_groups": [{"id": "office", "cidrs": ["198.51.100.0/24"]}],
  "remote_ports": [{"id": "bastion-1", "addresses": ["192.0.2.10"],
                    "security_group_ids": ["bastion"]}],
  "ports": [
    {"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
     "fixed_ips": ["10.0.0.10"], "security_group_ids": ["ssh"], "vf_index": 1},
    {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
     "fixed_ips": ["10.0.0.11"], "security_group_ids": ["ssh"], "vf_index": 2}]
})json";

policy::Snapshot Load(std::string_view json) { return test_support::SnapshotFromJson(json); }

// (owner, chain, prio): tc keeps one classifier kind per prio.
using PrioKey = std::tuple<netlink::FilterOwner, uint32_t, uint16_t>;

// Forwards to the fake, counting filter ops on the software path (offers to
// the hardware, skip_sw, are not), and refusing (EINVAL, as the kernel does)
// a flower filter at a prio that holds set-match (cls_bpf) filters.
class CountingBackend : public TcBackend {
 public:
  explicit CountingBackend(FakeTcBackend& fake) : fake_(fake) {}
  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return fake_.DumpClsact(); }
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    return fake_.DumpFilters(owner);
  }
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    std::vector<absl::Status> out;
    for (const TcOp& op : ops) {
      const bool filter = op.kind == TcOp::Kind::kCreateFilter ||
                          op.kind == TcOp::Kind::kReplaceFilter ||
                          op.kind == TcOp::Kind::kDeleteFilter;
      filter_ops += filter && !op.filter.skip_sw;
      if (filter && op.kind != TcOp::Kind::kDeleteFilter && bpf_prios != nullptr &&
          bpf_prios->contains({op.filter.owner, op.filter.chain, op.filter.prio})) {
        ++kind_conflicts;
        out.push_back(netlink::ErrnoStatus(EINVAL, "Specified filter kind does not match"));
        continue;
      }
      out.push_back(fake_.Apply({op}).front());
    }
    return out;
  }
  bool HoldsFlower(const PrioKey& p) const {
    for (const auto& [key, f] : fake_.filters()) {
      if (std::tie(f.owner, f.chain, f.prio) == p) return true;
    }
    return false;
  }
  int filter_ops = 0;
  int kind_conflicts = 0;
  const std::set<PrioKey>* bpf_prios = nullptr;  // the hook's

 private:
  FakeTcBackend& fake_;
};

// Records how many flower filter ops had been sent when each Sync came, and
// refuses (EINVAL, as the kernel does) a set-match filter at a prio that
// holds flower filters or set-match filters of another protocol (the real
// hook creates before it deletes).
class OrderedHook : public FakeSetMatchHook {
 public:
  explicit OrderedHook(const CountingBackend& tc) : tc_(tc) {}
  absl::Status Sync(const offload::SetMatchWant& want) override {
    filter_ops_at_sync.push_back(tc_.filter_ops);
    for (const offload::SetMatchFilter& f : want.filters) {
      if (tc_.HoldsFlower({f.filter.owner, f.filter.chain, f.filter.prio})) {
        ++kind_conflicts;
        return netlink::ErrnoStatus(EINVAL, "Filter with specified priority/protocol not found");
      }
      for (const auto& [key, have] : filters()) {
        if (std::tie(have.owner, have.chain, have.prio) ==
                std::tie(f.filter.owner, f.filter.chain, f.filter.prio) &&
            have.protocol != f.filter.protocol) {
          ++kind_conflicts;
          return netlink::ErrnoStatus(EINVAL, "Filter with specified priority/protocol not found");
        }
      }
    }
    absl::Status s = FakeSetMatchHook::Sync(want);
    prios.clear();
    for (const auto& [key, f] : filters()) prios.insert({f.owner, f.chain, f.prio});
    return s;
  }
  std::vector<int> filter_ops_at_sync;
  int kind_conflicts = 0;
  std::set<PrioKey> prios;

 private:
  const CountingBackend& tc_;
};

class ReconcilerSetMatchTest : public ::testing::Test {
 protected:
  ReconcilerSetMatchTest()
      : log_(sink_, common::LogLevel::kWarn), backend_(fake_), hook_(backend_) {
    fake_.AddDevice(1, "uplink0");
    fake_.AddDevice(11, "rep1");
    fake_.AddDevice(12, "rep2");
    snapshot_ = Load(kPolicy);
    slots_ = *policy::AssignSlots(snapshot_, {});
    view_.uplink = offload::Netdev{1, "uplink0"};
    view_.port_representors = {{"a", {11, "rep1"}}, {"b", {12, "rep2"}}};
    backend_.bpf_prios = &hook_.prios;
  }
  ReconcileReport Run(Reconciler& r) { return r.Run(snapshot_, slots_, view_, offers_); }
  // Flower filters in the fake kernel that name the remote member's address.
  int FlowerFiltersForMember() const {
    int n = 0;
    for (const auto& [key, f] : fake_.filters()) {
      n += f.keys.ipv4_src && f.keys.ipv4_src->value == kMember;
    }
    return n;
  }
  // Whether every set-match filter of the last pass is reported installed.
  static bool SetMatchSettled(const Reconciler& r) {
    const std::vector<bool> settled = r.Settled();
    bool all = true;
    for (size_t i = 0; i < settled.size(); ++i) {
      if (r.placement().filters[i].filter->classifier == policy::Classifier::kSetMatch) {
        all = all && settled[i];
      }
    }
    return all;
  }
  static size_t SetMatchFilters(const Reconciler& r) {
    size_t n = 0;
    for (const offload::PlacedFilter& p : r.placement().filters) {
      n += p.filter->classifier == policy::Classifier::kSetMatch;
    }
    return n;
  }

  std::ostringstream sink_;
  common::Logger log_;
  FakeTcBackend fake_;
  CountingBackend backend_;
  OrderedHook hook_;
  policy::Snapshot snapshot_;
  policy::SlotAssignment slots_;
  EswitchView view_;
  OfferBook offers_;
};

TEST_F(ReconcilerSetMatchTest, MembersAreMapWritesAndNoTcFilterWrites) {
  Reconciler r(backend_, log_, kBlock);
  r.SetSetMatch(&hook_);
  ASSERT_TRUE(r.set_lookups());
  ReconcileReport cold = Run(r);
  ASSERT_TRUE(cold.status.ok()) << cold.status << sink_.str();
  // One set-match filter per (port, rule): 2 ports x 2 rules, all in the hook.
  EXPECT_EQ(SetMatchFilters(r), 4u);
  EXPECT_EQ(hook_.filters().size(), 4u);
  EXPECT_EQ(cold.set_filter_writes, 4);
  EXPECT_EQ(hook_.maps().sets.size(), 2u);
  EXPECT_EQ(FlowerFiltersForMember(), 0) << "the member is in a map, not in flower filters";
  for (const auto& [key, f] : hook_.filters()) {
    EXPECT_TRUE(f.skip_hw) << "cls_bpf filters are slow path only";
    EXPECT_FALSE(f.direct_action);
    EXPECT_FALSE(f.actions.empty());
  }
  EXPECT_TRUE(SetMatchSettled(r));

  // A second member joins bastion: one map write, no tc filter write at all.
  const int ops = backend_.filter_ops;
  const uint64_t maps = hook_.map_writes();
  snapshot_.remote_ports["bastion-2"] =
      policy::RemotePort{"bastion-2", {*policy::IpPrefix::Parse("192.0.2.77")}, {"bastion"}};
  ReconcileReport join = Run(r);
  ASSERT_TRUE(join.status.ok()) << join.status;
  EXPECT_EQ(backend_.filter_ops, ops);
  EXPECT_EQ(join.writes, 0);
  EXPECT_EQ(join.set_filter_writes, 0);
  EXPECT_EQ(join.set_map_writes, 1u);
  EXPECT_EQ(hook_.map_writes(), maps + 1);
  // It leaves again; so does the first member; an address group CIDR changes.
  snapshot_.remote_ports.erase("bastion-2");
  snapshot_.remote_ports.erase("bastion-1");
  snapshot_.address_groups["office"].cidrs = {*policy::IpPrefix::Parse("203.0.113.0/24")};
  ReconcileReport leave = Run(r);
  ASSERT_TRUE(leave.status.ok()) << leave.status;
  EXPECT_EQ(backend_.filter_ops, ops);
  EXPECT_EQ(leave.set_filter_writes, 0);
  EXPECT_EQ(leave.set_map_writes, 4u) << "two members out, one CIDR out, one in";
  // Nothing changed: nothing written anywhere.
  ReconcileReport idle = Run(r);
  EXPECT_EQ(idle.writes + idle.set_filter_writes, 0);
  EXPECT_EQ(idle.set_map_writes, 0u);
}

TEST_F(ReconcilerSetMatchTest, TheHookIsSyncedBeforeAnyFlowerFilterIsWritten) {
  Reconciler r(backend_, log_, kBlock);
  r.SetSetMatch(&hook_);
  ASSERT_TRUE(Run(r).status.ok());
  ASSERT_EQ(hook_.filter_ops_at_sync.size(), 1u);
  EXPECT_EQ(hook_.filter_ops_at_sync[0], 0) << "no goto into a port's chain before its sets";
  EXPECT_GT(backend_.filter_ops, 0);
  // A new port: its set-match filters are there before its chain is reachable.
  fake_.AddDevice(13, "rep3");
  policy::Port c = snapshot_.ports["b"];
  c.id = "c";
  c.mac = *policy::MacAddr::Parse("02:00:00:00:00:0c");
  c.fixed_ips = {*policy::IpAddr::Parse("10.0.0.12")};
  c.representor.ref = 3u;
  snapshot_.ports["c"] = c;
  slots_ = *policy::AssignSlots(snapshot_, slots_);
  view_.port_representors["c"] = {13, "rep3"};
  const int before = backend_.filter_ops;
  ReconcileReport add = Run(r);
  ASSERT_TRUE(add.status.ok()) << add.status << sink_.str();
  ASSERT_EQ(hook_.filter_ops_at_sync.size(), 2u);
  EXPECT_EQ(hook_.filter_ops_at_sync[1], before);
  EXPECT_EQ(add.set_filter_writes, 2);
  EXPECT_GT(backend_.filter_ops, before);
}

// A rule added in front of the others: its set-match filter's prio still
// holds a flower filter of the old layout when the pass begins, so that
// filter waits until the flower writes have moved it; no write meets the
// other classifier kind, and the pass ends with everything installed.
TEST_F(ReconcilerSetMatchTest, ASetMatchFilterWaitsUntilItsPrioIsFreeOfFlower) {
  policy::SecurityGroup& ssh = snapshot_.security_groups["ssh"];
  const policy::SecurityGroupRule from_bastion = ssh.rules[0];
  policy::SecurityGroupRule web;
  web.protocol = policy::kProtoTcp;
  web.ports = policy::PortRange{80, 80};
  ssh.rules = {web, ssh.rules[2]};  // tcp/80 from anywhere, egress
  Reconciler r(backend_, log_, kBlock);
  r.SetSetMatch(&hook_);
  ASSERT_TRUE(Run(r).status.ok()) << sink_.str();
  EXPECT_EQ(SetMatchFilters(r), 0u);
  const size_t syncs = hook_.filter_ops_at_sync.size();
  snapshot_.security_groups["ssh"].rules.insert(snapshot_.security_groups["ssh"].rules.begin(),
                                                from_bastion);
  ReconcileReport added = Run(r);
  ASSERT_TRUE(added.status.ok()) << added.status << sink_.str();
  EXPECT_EQ(hook_.filter_ops_at_sync.size(), syncs + 2) << "part of the want had to wait";
  EXPECT_EQ(hook_.kind_conflicts + backend_.kind_conflicts, 0);
  EXPECT_EQ(hook_.filters().size(), 2u);
  EXPECT_TRUE(SetMatchSettled(r));
  // Its ethertype changed: the same prio, another protocol; the old filters
  // go first.
  snapshot_.security_groups["ssh"].rules[0].ethertype = policy::EtherType::kIPv6;
  ReconcileReport v6 = Run(r);
  ASSERT_TRUE(v6.status.ok()) << v6.status << sink_.str();
  EXPECT_EQ(hook_.kind_conflicts + backend_.kind_conflicts, 0);
  ASSERT_EQ(hook_.filters().size(), 2u);
  EXPECT_EQ(hook_.filters().begin()->second.protocol, policy::kEthIPv6);
  // And removed again: its prios are freed before the flower filters move in.
  snapshot_.security_groups["ssh"].rules.erase(snapshot_.security_groups["ssh"].rules.begin());
  ReconcileReport removed = Run(r);
  ASSERT_TRUE(removed.status.ok()) << removed.status << sink_.str();
  EXPECT_EQ(hook_.kind_conflicts + backend_.kind_conflicts, 0);
  EXPECT_TRUE(hook_.filters().empty());
}

TEST_F(ReconcilerSetMatchTest, AFailedSyncIsReportedNotSettledAndRetried) {
  Reconciler r(backend_, log_, kBlock);
  r.SetSetMatch(&hook_);
  hook_.fail = netlink::ErrnoStatus(EPERM, "map update");
  ReconcileReport failed = Run(r);
  EXPECT_FALSE(failed.status.ok());
  EXPECT_GE(failed.errors, 1);
  EXPECT_FALSE(SetMatchSettled(r));
  hook_.fail = absl::OkStatus();
  ReconcileReport retried = Run(r);
  ASSERT_TRUE(retried.status.ok()) << retried.status;
  EXPECT_EQ(retried.set_filter_writes, 4);
  EXPECT_TRUE(SetMatchSettled(r));
}

TEST_F(ReconcilerSetMatchTest, WithoutAHookTheSameRulesAreFlowerFilters) {
  Reconciler r(backend_, log_, kBlock);
  EXPECT_FALSE(r.set_lookups());
  ReconcileReport cold = Run(r);
  ASSERT_TRUE(cold.status.ok()) << cold.status;
  EXPECT_EQ(SetMatchFilters(r), 0u);
  EXPECT_EQ(cold.set_filter_writes, 0);
  EXPECT_EQ(FlowerFiltersForMember(), 2) << "tcp/22 from the member on a and on b";
  const int ops = backend_.filter_ops;
  snapshot_.remote_ports.erase("bastion-1");
  ASSERT_TRUE(Run(r).status.ok());
  EXPECT_GT(backend_.filter_ops, ops) << "a member change is tc filter writes in flower mode";
  EXPECT_EQ(FlowerFiltersForMember(), 0);
}

}  // namespace
}  // namespace vfguard::agent
