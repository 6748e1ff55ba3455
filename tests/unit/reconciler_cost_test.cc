// What a reconcile pass costs (DESIGN.md, "Cost rules"; agent/reconciler.h),
// against the in-memory kernel with its call counters: a pass with nothing
// to change makes no call at all, only audits dump, a one-port change costs
// that port's filters plus a constant, writes follow the jump graph after
// every single op, and a failed write is retried by the next pass.
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/filter_hash.h"
#include "agent/policy_codec.h"
#include "agent/reconciler.h"
#include "agent/write_order.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netlink/errno_status.h"
#include "netlink/tc_codec.h"
#include "tests/fakes/fake_set_match_hook.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {
namespace {

constexpr uint32_t kBlock = 77;

// Ports a and b share a flat network; e has a VLAN network of its own.
constexpr char kPolicy[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"},
               {"id": "solo", "segmentation": "vlan", "vlan_id": 200}],
  "security_groups": [
    {"id": "web", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
      {"direction": "egress"}]}],
  "ports": [
    {"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
     "fixed_ips": ["10.0.0.10"], "security_group_ids": ["web"], "vf_index": 1},
    {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
     "fixed_ips": ["10.0.0.11"], "security_group_ids": ["web"], "vf_index": 2},
    {"id": "e", "network_id": "solo", "mac_address": "02:00:00:00:00:0e",
     "fixed_ips": ["10.2.0.14"], "security_group_ids": ["web"], "vf_index": 5}]
})json";

policy::Snapshot Load(std::string_view json) { return test_support::SnapshotFromJson(json); }

using Key = FakeTcBackend::FilterKey;
using Chain = std::pair<netlink::FilterOwner, uint32_t>;

// After each single write: which filters are installed and which chains
// installed gotos name.
struct Moment {
  TcOp op;
  std::set<Key> keys;
  std::set<Chain> jumps;          // named by any installed goto
  std::set<Chain> written_jumps;  // named by a goto this pass wrote (created or replaced)
};

class ReconcilerCostTest : public ::testing::Test {
 protected:
  ReconcilerCostTest() : log_(sink_, common::LogLevel::kWarn) {
    fake_.AddDevice(1, "uplink0");
    fake_.AddDevice(11, "rep1");
    fake_.AddDevice(12, "rep2");
    fake_.AddDevice(15, "rep5");
    snapshot_ = Load(kPolicy);
    slots_ = *policy::AssignSlots(snapshot_, {});
    view_.uplink = offload::Netdev{1, "uplink0"};
    view_.port_representors = {{"a", {11, "rep1"}}, {"b", {12, "rep2"}}, {"e", {15, "rep5"}}};
  }

  ReconcileReport Run(Reconciler& r) {
    fake_.ResetWrites();
    fake_.ResetCalls();
    return r.Run(snapshot_, slots_, view_, offers_);
  }

  void WithoutPortE() {
    snapshot_.ports.erase("e");
    view_.port_representors.erase("e");
  }
  void WithPortE() {
    snapshot_ = Load(kPolicy);
    view_.port_representors["e"] = {15, "rep5"};
  }

  // Records a Moment after every op the fake applies.
  void Observe(std::vector<Moment>& moments, std::set<Key>& written) {
    fake_.SetObserver([this, &moments, &written](const TcOp& op, const absl::Status& s) {
      if (s.ok() &&
          (op.kind == TcOp::Kind::kCreateFilter || op.kind == TcOp::Kind::kReplaceFilter)) {
        written.insert(FakeTcBackend::KeyOf(op.filter));
      }
      Moment m{op, {}, {}, {}};
      for (const auto& [key, f] : fake_.filters()) {
        m.keys.insert(key);
        std::optional<uint32_t> target = JumpTarget(f);
        if (!target) continue;
        m.jumps.insert({f.owner, *target});
        if (written.contains(key)) m.written_jumps.insert({f.owner, *target});
      }
      moments.push_back(std::move(m));
    });
  }

  std::ostringstream sink_;
  common::Logger log_;
  FakeTcBackend fake_;
  policy::Snapshot snapshot_;
  policy::SlotAssignment slots_;
  EswitchView view_;
  OfferBook offers_;
};

// What "complete" means for a chain a goto names, after a pass from
// `before` to `after`: a chain the pass keeps must hold every filter it will
// hold before a goto this pass writes names it (a goto that was already
// there cannot wait: adding to a chain it names is the change itself); a
// chain the pass empties must keep every filter it had while any goto names
// it (jumps go first).
struct Completeness {
  std::map<Chain, std::set<Key>> final_keys;    // chains the pass keeps
  std::map<Chain, std::set<Key>> initial_keys;  // chains the pass empties
};

Completeness Required(const std::map<Key, netlink::FlowerFilter>& before,
                      const std::map<Key, netlink::FlowerFilter>& after) {
  Completeness c;
  for (const auto& [key, f] : after) c.final_keys[{f.owner, f.chain}].insert(key);
  for (const auto& [key, f] : before) {
    const Chain chain{f.owner, f.chain};
    if (!c.final_keys.contains(chain)) c.initial_keys[chain].insert(key);
  }
  return c;
}

int Missing(const std::set<Key>& want, const std::set<Key>& have) {
  int n = 0;
  for (const Key& k : want) n += have.contains(k) ? 0 : 1;
  return n;
}

std::vector<std::string> JumpViolations(const std::vector<Moment>& moments,
                                        const Completeness& required) {
  std::vector<std::string> out;
  for (size_t i = 0; i < moments.size(); ++i) {
    const Moment& m = moments[i];
    auto report = [&](const Chain& c, int missing, const char* what) {
      const netlink::FlowerFilter& f = m.op.filter;
      out.push_back(absl::StrCat("after op ", i, " (kind ", static_cast<int>(m.op.kind), " ",
                                 f.chain, "/", f.prio, "/", f.handle, "): a goto names chain ",
                                 c.second, ", which ", what, " ", missing, " filters"));
    };
    for (const Chain& c : m.written_jumps) {
      auto r = required.final_keys.find(c);
      if (r == required.final_keys.end()) continue;
      if (int n = Missing(r->second, m.keys); n > 0) report(c, n, "still lacks");
    }
    for (const Chain& c : m.jumps) {
      auto r = required.initial_keys.find(c);
      if (r == required.initial_keys.end()) continue;
      if (int n = Missing(r->second, m.keys); n > 0) report(c, n, "was emptied of");
    }
  }
  return out;
}

TEST_F(ReconcilerCostTest, ASecondPassWithNothingToChangeMakesNoCall) {
  Reconciler r(fake_, log_, kBlock);
  ReconcileReport first = Run(r);
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_TRUE(first.audited) << "the first pass knows nothing: it audits";
  // Clsact + the block + the egress hook of each of the 3 representors.
  EXPECT_EQ(first.dumps, 5);
  EXPECT_EQ(fake_.dump_calls(), 5);

  ReconcileReport second = Run(r);
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_FALSE(second.audited);
  EXPECT_EQ(second.dumps, 0);
  EXPECT_EQ(second.writes, 0);
  EXPECT_EQ(fake_.dump_calls(), 0);
  EXPECT_EQ(fake_.apply_calls(), 0);
  EXPECT_EQ(fake_.writes().Total(), 0u);
  // Every filter was translated once, by the first pass; none by the second.
  EXPECT_GT(first.translated, 20);
  EXPECT_EQ(second.translated, 0);
  // An audit translates everything again (it compares everything).
  r.RequestAudit();
  ReconcileReport audit = Run(r);
  EXPECT_TRUE(audit.audited);
  EXPECT_EQ(audit.translated, first.translated);
  EXPECT_EQ(audit.writes, 0);
}

TEST_F(ReconcilerCostTest, DriftIsSeenOnlyByAnAudit) {
  Reconciler r(fake_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  const auto installed = fake_.filters();
  const Key gone = std::next(installed.begin(), 3)->first;
  ASSERT_TRUE(fake_.DeleteFilterBehind(gone).ok());
  netlink::FlowerFilter changed = std::next(installed.begin(), 9)->second;
  changed.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kOk}}};
  ASSERT_TRUE(fake_.ModifyFilterBehind(changed).ok());

  // The contract: passes between audits trust the installed set, so drift
  // nobody reported is not seen (the agent reports it: a tc event it did not
  // cause, or ENOBUFS, calls RequestAudit; and every tenth periodic resync).
  ReconcileReport blind = Run(r);
  ASSERT_TRUE(blind.status.ok()) << blind.status;
  EXPECT_FALSE(blind.audited);
  EXPECT_EQ(blind.writes, 0);
  EXPECT_FALSE(fake_.filters().contains(gone));

  r.RequestAudit();
  ReconcileReport audit = Run(r);
  ASSERT_TRUE(audit.status.ok()) << audit.status;
  EXPECT_TRUE(audit.audited);
  EXPECT_GT(audit.dumps, 0);
  EXPECT_GT(fake_.dump_calls(), 0);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kCreateFilter), 1u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 1u);
  EXPECT_EQ(audit.writes, 2);
  EXPECT_EQ(fake_.filters(), installed);

  // Repaired and known again: the next pass is free.
  ReconcileReport after = Run(r);
  EXPECT_FALSE(after.audited);
  EXPECT_EQ(fake_.dump_calls() + fake_.apply_calls(), 0);
}

// What the kernel holds, without counters.
std::map<Key, netlink::FlowerFilter> Content(const FakeTcBackend& fake) {
  std::map<Key, netlink::FlowerFilter> out;
  for (const auto& [key, f] : fake.filters()) out[key] = netlink::WithoutStatus(f);
  return out;
}

// What a cold install of `s` over `view` leaves in a kernel with `fake`'s devices.
std::map<Key, netlink::FlowerFilter> ColdInstall(const policy::Snapshot& s,
                                                 const policy::SlotAssignment& slots,
                                                 const EswitchView& view, common::Logger& log) {
  FakeTcBackend fake;
  fake.AddDevice(view.uplink->ifindex, view.uplink->name);
  for (const auto& [port, dev] : view.port_representors) fake.AddDevice(dev.ifindex, dev.name);
  OfferBook offers;
  Reconciler r(fake, log, kBlock);
  EXPECT_TRUE(r.Run(s, slots, view, offers).status.ok());
  return Content(fake);
}

// Port e (alone in its network) added, changed and removed again, beside
// `extra` more ports in the flat network, on a kernel of its own.
struct PortECost {
  size_t e_filters = 0;  // filters the block holds with e and not without
  int add_writes = 0;
  int add_replaces = 0;
  int ip_writes = 0;
  int remove_writes = 0;
  int add_translated = 0;  // filters translated by each pass
  int ip_translated = 0;
  int remove_translated = 0;
  int dumps = 0;  // of the three passes
};

PortECost MeasurePortE(int extra, common::Logger& log) {
  FakeTcBackend fake;
  fake.AddDevice(1, "uplink0");
  EswitchView view;
  view.uplink = offload::Netdev{1, "uplink0"};
  policy::Snapshot with_e = Load(kPolicy);
  for (int i = 0; i < extra + 2; ++i) {
    const std::string id = i == 0 ? "a" : i == 1 ? "b" : absl::StrCat("x", i);
    if (i >= 2) {
      policy::Port p = with_e.ports.at("a");
      p.id = id;
      p.mac.bytes[5] = static_cast<uint8_t>(0x20 + i);
      p.fixed_ips = {*policy::IpAddr::Parse(absl::StrCat("10.0.1.", i))};
      p.representor.ref = uint32_t{static_cast<uint32_t>(10 + i)};
      with_e.ports[id] = p;
    }
    const std::string dev = absl::StrCat("rep", 30 + i);
    fake.AddDevice(30 + i, dev);
    view.port_representors[id] = {static_cast<uint32_t>(30 + i), dev};
  }
  fake.AddDevice(15, "rep5");
  policy::Snapshot without_e = with_e;
  without_e.ports.erase("e");
  const policy::SlotAssignment slots = *policy::AssignSlots(with_e, {});
  EswitchView view_e = view;
  view_e.port_representors["e"] = {15, "rep5"};
  OfferBook offers;
  Reconciler r(fake, log, kBlock);
  PortECost cost;
  EXPECT_TRUE(r.Run(without_e, slots, view, offers).status.ok());
  const size_t base = fake.filters().size();
  fake.ResetCalls();
  fake.ResetWrites();
  ReconcileReport add = r.Run(with_e, slots, view_e, offers);
  EXPECT_TRUE(add.status.ok()) << add.status;
  cost.e_filters = fake.filters().size() - base;
  cost.add_writes = add.writes;
  cost.add_translated = add.translated;
  cost.add_replaces = static_cast<int>(fake.writes().Of(TcOp::Kind::kReplaceFilter));
  EXPECT_TRUE(Content(fake) == ColdInstall(with_e, slots, view_e, log))
      << "adding e left other filters than a cold install";
  // A change inside the port: one more fixed IP.
  policy::Snapshot more_ip = with_e;
  more_ip.ports.at("e").fixed_ips.push_back(*policy::IpAddr::Parse("10.2.0.15"));
  ReconcileReport ip = r.Run(more_ip, slots, view_e, offers);
  EXPECT_TRUE(ip.status.ok()) << ip.status;
  cost.ip_writes = ip.writes;
  cost.ip_translated = ip.translated;
  EXPECT_TRUE(Content(fake) == ColdInstall(more_ip, slots, view_e, log))
      << "e's new IP left other filters than a cold install";
  ReconcileReport remove = r.Run(without_e, slots, view, offers);
  EXPECT_TRUE(remove.status.ok()) << remove.status;
  EXPECT_EQ(fake.filters().size(), base);
  cost.remove_writes = remove.writes;
  cost.remove_translated = remove.translated;
  cost.dumps = fake.dump_calls();
  return cost;
}

TEST_F(ReconcilerCostTest, AOnePortChangeCostsThatPortsFiltersAndAConstant) {
  const PortECost small = MeasurePortE(0, log_);
  const PortECost large = MeasurePortE(6, log_);
  ASSERT_GT(small.e_filters, 10u);
  // The constant: rep5's clsact, the offload probe of the new device set,
  // the uplink's flood lists of e's network (one per frame class, replaced
  // to mirror to e too) and the network's forwarding filters that change
  // shape when its first port joins (deleted and created again).
  constexpr int kConstant = 16;
  EXPECT_LE(small.add_writes, static_cast<int>(small.e_filters) + kConstant);
  EXPECT_LE(small.remove_writes, static_cast<int>(small.e_filters) + kConstant);
  EXPECT_LE(small.add_replaces, 8);
  EXPECT_GT(small.ip_writes, 0);
  EXPECT_LE(small.ip_writes, 8);
  // No dump: none of these passes is an audit.
  EXPECT_EQ(small.dumps, 0);
  EXPECT_EQ(large.dumps, 0);
  // Nothing of it depends on how many other ports there are.
  EXPECT_EQ(large.e_filters, small.e_filters);
  EXPECT_EQ(large.add_writes, small.add_writes);
  EXPECT_EQ(large.ip_writes, small.ip_writes);
  EXPECT_EQ(large.remove_writes, small.remove_writes);
  // CPU in proportion too: only the filters of the parts that changed are
  // translated (e's own; for an addition or removal also the uplink's
  // dispatch and e's network's part), however many other ports there are.
  EXPECT_LE(small.ip_translated, static_cast<int>(small.e_filters));
  EXPECT_GT(small.ip_translated, 0);
  EXPECT_LE(small.add_translated, static_cast<int>(small.e_filters) + kConstant);
  EXPECT_EQ(large.add_translated, small.add_translated);
  EXPECT_EQ(large.ip_translated, small.ip_translated);
  EXPECT_EQ(large.remove_translated, small.remove_translated);
}

// A port joining the shared flat network of `others` ports, then leaving it.
struct JoinCost {
  int writes = 0;      // of the join pass
  int own = 0;         // filters the join added
  int translated = 0;  // the join pass's ReconcileReport counters
  int placed = 0;
  int planned = 0;
  ReconcileReport after;  // a pass with nothing to change after the join
  ReconcileReport leave;  // the representor goes away again
};

// Its MAC entries and one flood-list chunk are the only shared filters it
// touches (docs/pipeline.md). Each pass must leave what a cold install of
// its state leaves (the incremental plan is the whole plan).
JoinCost JoinFlatNetwork(int others, common::Logger& log) {
  FakeTcBackend fake;
  fake.AddDevice(1, "uplink0");
  EswitchView view;
  view.uplink = offload::Netdev{1, "uplink0"};
  policy::Snapshot before = Load(kPolicy);
  before.ports.erase("e");
  before.ports.erase("b");
  const policy::Port model = before.ports.at("a");
  before.ports.clear();
  for (int i = 0; i <= others; ++i) {
    policy::Port p = model;
    p.id = absl::StrCat("p", i);
    p.mac.bytes[4] = static_cast<uint8_t>(i / 256);
    p.mac.bytes[5] = static_cast<uint8_t>(i % 256);
    p.fixed_ips = {*policy::IpAddr::Parse(absl::StrCat("10.0.", i / 256, ".", i % 256 + 1))};
    p.representor.ref = static_cast<uint32_t>(100 + i);
    before.ports[p.id] = p;
    fake.AddDevice(100 + i, absl::StrCat("rep", 100 + i));
    if (i < others) view.port_representors[p.id] = {100u + i, absl::StrCat("rep", 100 + i)};
  }
  // The last port's representor appears later: the join.
  const std::string joiner = absl::StrCat("p", others);
  EswitchView joined = view;
  joined.port_representors[joiner] = {100u + others, absl::StrCat("rep", 100 + others)};
  const policy::SlotAssignment slots = *policy::AssignSlots(before, {});
  OfferBook offers;
  Reconciler r(fake, log, kBlock);
  EXPECT_TRUE(r.Run(before, slots, view, offers).status.ok());
  const size_t base = fake.filters().size();
  ReconcileReport join = r.Run(before, slots, joined, offers);
  EXPECT_TRUE(join.status.ok()) << join.status;
  EXPECT_EQ(join.dumps, 0);
  EXPECT_FALSE(join.audited);
  EXPECT_TRUE(Content(fake) == ColdInstall(before, slots, joined, log))
      << "the join left other filters than a cold install of the joined state";
  JoinCost cost{join.writes,
                static_cast<int>(fake.filters().size() - base),
                join.translated,
                join.placed,
                join.planned,
                r.Run(before, slots, joined, offers),
                {}};
  cost.leave = r.Run(before, slots, view, offers);
  EXPECT_TRUE(cost.leave.status.ok()) << cost.leave.status;
  EXPECT_TRUE(Content(fake) == ColdInstall(before, slots, view, log))
      << "the leave left other filters than a cold install without the port";
  return cost;
}

TEST_F(ReconcilerCostTest, JoiningASharedNetworkWritesItsOwnFiltersPlusAConstant) {
  const JoinCost n2 = JoinFlatNetwork(2, log_);
  const JoinCost n40 = JoinFlatNetwork(40, log_);
  const JoinCost n100 = JoinFlatNetwork(100, log_);
  ASSERT_GT(n2.own, 10);
  EXPECT_EQ(n40.own, n2.own);
  EXPECT_EQ(n100.own, n2.own);
  // Besides its own filters: its clsact, the probe of the new device set,
  // and the shared flood-list chunk replaced (its MAC entries are new
  // filters, counted as its own). The figure the issue names: own + 8.
  EXPECT_LE(n2.writes, n2.own + 8);
  EXPECT_EQ(n40.writes, n2.writes) << "a join must not cost more in a larger network";
  EXPECT_EQ(n100.writes, n2.writes) << "a join must not cost more in a larger network";
  EXPECT_EQ(n100.leave.writes, n2.leave.writes);
}

// The CPU side of the same: a pass places, translates and compares (plans)
// only the filters of the parts that changed, never every port's. On a
// block that cannot offload (the fake is veth-like) placement is per filter.
TEST_F(ReconcilerCostTest, AJoinPlacesAndPlansOnlyWhatChanged) {
  const JoinCost n2 = JoinFlatNetwork(2, log_);
  const JoinCost n100 = JoinFlatNetwork(100, log_);
  ASSERT_GT(n2.own, 10);
  // The joiner's own filters plus the shared ones its network's parts change.
  EXPECT_GE(n2.placed, n2.own);
  EXPECT_LE(n2.placed, n2.own + 8);
  EXPECT_GE(n2.planned, n2.own);
  EXPECT_LE(n2.planned, n2.own + 8);
  EXPECT_LE(n2.translated, n2.own + 8);
  EXPECT_EQ(n100.placed, n2.placed) << "placement must not grow with the other ports";
  EXPECT_EQ(n100.planned, n2.planned) << "the plan must not compare the other ports' filters";
  EXPECT_EQ(n100.translated, n2.translated);
  EXPECT_EQ(n100.leave.placed, n2.leave.placed);
  EXPECT_EQ(n100.leave.planned, n2.leave.planned);
  EXPECT_GE(n100.leave.planned, n2.own) << "the leaver's filters are compared (deleted)";
  // Nothing changed: nothing placed, translated or compared.
  for (const ReconcileReport* r : {&n2.after, &n100.after}) {
    EXPECT_EQ(r->placed, 0);
    EXPECT_EQ(r->planned, 0);
    EXPECT_EQ(r->translated, 0);
    EXPECT_EQ(r->writes, 0);
  }
  EXPECT_EQ(n100.after.filters, n100.leave.filters + n100.own)
      << "a pass that reuses everything still counts every wanted filter";
}

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

TEST_F(ReconcilerCostTest, AFailedWriteIsRetriedByTheNextPass) {
  // The kernel refuses the first create in a chain above 0 once (say, out of
  // memory), and a replace later on.
  int failures = 0;
  fake_.SetFault([&failures](const TcOp& op) -> absl::Status {
    if (op.kind == TcOp::Kind::kCreateFilter && op.filter.chain > 0 && !op.filter.skip_sw &&
        failures == 0) {
      ++failures;
      return netlink::ErrnoStatus(ENOMEM, "");
    }
    return absl::OkStatus();
  });
  Reconciler r(fake_, log_, kBlock);
  ReconcileReport first = Run(r);
  EXPECT_FALSE(first.status.ok());
  EXPECT_EQ(first.errors, 1);
  EXPECT_EQ(failures, 1);
  const size_t wanted = static_cast<size_t>(first.filters);
  EXPECT_EQ(fake_.filters().size(), wanted - 1);

  ReconcileReport retry = Run(r);
  ASSERT_TRUE(retry.status.ok()) << retry.status;
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kCreateFilter), 1u);
  EXPECT_EQ(fake_.filters().size(), wanted);

  // A failed replace: the filter's state is unknown, so the next pass looks.
  auto& rules = snapshot_.security_groups.at("web").rules;
  // Port 80 -> 8080: same key layout, other values: replaces.
  rules[0].ports = policy::PortRange{8080, 8080};
  fake_.SetFault([](const TcOp& op) -> absl::Status {
    if (op.kind == TcOp::Kind::kReplaceFilter) return netlink::ErrnoStatus(EBUSY, "");
    return absl::OkStatus();
  });
  ReconcileReport refused = Run(r);
  fake_.SetFault(nullptr);
  ASSERT_GT(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 0u);
  {
    EXPECT_FALSE(refused.status.ok());
    EXPECT_TRUE(r.audit_due());
    ReconcileReport again = Run(r);
    ASSERT_TRUE(again.status.ok()) << again.status;
    EXPECT_TRUE(again.audited);
    EXPECT_GT(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 0u);
  }
  // Whatever happened, the kernel now holds exactly the desired state.
  Reconciler fresh(fake_, log_, kBlock);
  EXPECT_EQ(Run(fresh).writes, 0);
}

// A pass after one that did not converge without a failed tc write (the
// set-match hook's maps were unavailable: no audit is due) wants the whole
// set, not only what changed, reusing the translations of unchanged filters
// with the installed set's shapes and jumps (a wrong shape would reshape,
// i.e. delete and create, filters that are right). A port joining then
// writes and translates what it does after a clean pass, in jump-graph order.
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
    kernel.SetObserver([&](const TcOp& op, const absl::Status& s) {
      if (s.ok() && op.kind != TcOp::Kind::kDeleteFilter) {
        written.insert(FakeTcBackend::KeyOf(op.filter));
      }
      Moment m{op, {}, {}, {}};
      for (const auto& [key, f] : kernel.filters()) {
        m.keys.insert(key);
        if (std::optional<uint32_t> target = JumpTarget(f)) {
          m.jumps.insert({f.owner, *target});
          if (written.contains(key)) m.written_jumps.insert({f.owner, *target});
        }
      }
      moments.push_back(std::move(m));
    });
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

TEST_F(ReconcilerCostTest, EchoesOfOwnWritesAreRecognisedAndDriftIsNot) {
  Reconciler r(fake_, log_, kBlock);
  ASSERT_TRUE(Run(r).status.ok());
  const netlink::FlowerFilter mine = std::next(fake_.filters().begin(), 4)->second;

  // Through the codec, as the agent gets them from RTNLGRP_TC.
  std::vector<uint32_t> words(4096);
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), words.size() * 4);
  absl::StatusOr<size_t> n =
      netlink::EncodeNewFilter(mine, netlink::CreateMode::kCreateExclusive, 1, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  absl::StatusOr<TcEvent> echo = DecodeTcEvent(buf.first(*n));
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_TRUE(r.ExplainsEvent(*echo));

  TcEvent e{TcEvent::Kind::kFilter, false, mine, {}};
  e.filter->actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kOk}}};
  EXPECT_FALSE(r.ExplainsEvent(e)) << "someone replaced our filter";
  e.filter = mine;
  e.deleted = true;
  EXPECT_FALSE(r.ExplainsEvent(e)) << "someone deleted our filter";
  e.filter->actions = {};
  EXPECT_TRUE(r.ExplainsEvent(e)) << "a delete of another content: our reshape's first half";
  e.filter = mine;
  e.filter->handle += 12345;
  EXPECT_TRUE(r.ExplainsEvent(e)) << "a delete of what we do not hold (our own delete's echo)";
  e.deleted = false;
  EXPECT_FALSE(r.ExplainsEvent(e)) << "a filter we did not make, in our block";
  e.filter->owner = netlink::TcBlock{kBlock + 1};
  EXPECT_TRUE(r.ExplainsEvent(e)) << "another block is not ours";
  e.filter = std::nullopt;
  EXPECT_FALSE(r.ExplainsEvent(e)) << "a whole prio deleted";
  TcEvent other{TcEvent::Kind::kOtherClassifier, false, std::nullopt, {}};
  EXPECT_TRUE(r.ExplainsEvent(other));
  TcEvent qdisc{TcEvent::Kind::kQdisc, false, std::nullopt, {11, 0, 0, "clsact", kBlock}};
  EXPECT_TRUE(r.ExplainsEvent(qdisc));
  qdisc.deleted = true;
  EXPECT_FALSE(r.ExplainsEvent(qdisc));
}

TEST_F(ReconcilerCostTest, OfferKeysAreCompactAndStable) {
  netlink::FlowerFilter f;
  f.owner = netlink::TcBlock{kBlock};
  f.chain = 3;
  f.prio = 2;
  f.handle = 7;
  f.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kDrop}}};
  const std::string key = OfferKey(f);
  EXPECT_EQ(key.size(), 16u);
  netlink::FlowerFilter counted = f;
  counted.status.packets = 99;  // what the kernel reports is not part of it
  EXPECT_EQ(OfferKey(counted), key);
  f.chain = 4;
  EXPECT_NE(OfferKey(f), key);
}

}  // namespace
}  // namespace vfguard::agent
