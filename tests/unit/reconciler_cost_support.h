// Shared by the reconciler's cost and write-order tests
// (reconciler_cost_test.cc, reconciler_write_order_test.cc): a three-port
// fixture on the in-memory kernel, flat networks of any size, and the check
// that no installed goto names an incomplete chain after any single write.
#ifndef VFGUARD_TESTS_UNIT_RECONCILER_COST_SUPPORT_H_
#define VFGUARD_TESTS_UNIT_RECONCILER_COST_SUPPORT_H_

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/reconciler.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {

inline constexpr uint32_t kBlock = 77;

// Ports a and b share a flat network; e has a VLAN network of its own.
inline constexpr char kPolicy[] = R"json({
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

inline policy::Snapshot Load(std::string_view json) { return test_support::SnapshotFromJson(json); }

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

// Records a Moment in `moments` after every op `fake` applies; `written`
// collects the keys the observed writes created or replaced.
void ObserveMoments(FakeTcBackend& fake, std::vector<Moment>& moments, std::set<Key>& written);

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
    ObserveMoments(fake_, moments, written);
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
                      const std::map<Key, netlink::FlowerFilter>& after);
// One line per moment at which a goto named an incomplete chain.
std::vector<std::string> JumpViolations(const std::vector<Moment>& moments,
                                        const Completeness& required);

// What the kernel holds, without counters.
std::map<Key, netlink::FlowerFilter> Content(const FakeTcBackend& fake);
// What a cold install of `s` over `view` leaves in a kernel with `view`'s devices.
std::map<Key, netlink::FlowerFilter> ColdInstall(const policy::Snapshot& s,
                                                 const policy::SlotAssignment& slots,
                                                 const EswitchView& view, common::Logger& log);
// `ports` ports p0, p1, ... like kPolicy's port a, in its flat network, with
// representors rep100, rep101, ...: added to `fake` (with uplink0) and to
// `view`.
policy::Snapshot FlatNetwork(int ports, FakeTcBackend& fake, EswitchView& view);

}  // namespace vfguard::agent

#endif  // VFGUARD_TESTS_UNIT_RECONCILER_COST_SUPPORT_H_
