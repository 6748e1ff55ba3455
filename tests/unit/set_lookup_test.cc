// CompileOptions::set_lookups (docs/performance.md, "Remote groups"): a rule
// whose remote is a set compiles to one set-match filter per destination-port
// mask, the simulator agrees with the evaluator on members and others,
// placement keeps the filter out of hardware behind a trap at its prio, and
// issue 14's cost targets hold: installed filters equal the one-prefix
// baseline, and a member change writes no filter, only one set entry.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "offload/hw_model.h"
#include "offload/placement.h"
#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

constexpr CompileOptions kSets{.set_lookups = true};

IpAddr Ip(const char* t) { return *IpAddr::Parse(t); }
IpPrefix Prefix(const char* t) { return *IpPrefix::Parse(t); }

// `ports` ports in one flat network whose group "ssh" allows tcp/22 (and
// tcp/8000-8001: two port masks) from group bastion or address group admins.
Snapshot SshFrom(int ports, bool address_group) {
  Snapshot s;
  s.networks["net"] = Network{"net", Segmentation::kFlat, 0};
  SecurityGroupRule ssh;
  ssh.protocol = kProtoTcp;
  ssh.ports = PortRange{22, 22};
  if (address_group) {
    ssh.remote_address_group_id = "admins";
    s.address_groups["admins"] = AddressGroup{"admins", {Prefix("192.0.2.10")}};
  } else {
    ssh.remote_group_id = "bastion";
    s.remote_ports["b1"] = RemotePort{"b1", {Prefix("192.0.2.10")}, {"bastion"}};
  }
  SecurityGroupRule alt = ssh;
  alt.ports = PortRange{8000, 8001};
  s.security_groups["ssh"] = SecurityGroup{"ssh", true, {ssh, alt}};
  s.security_groups["bastion"] = SecurityGroup{"bastion", true, {}};
  for (int i = 0; i < ports; ++i) {
    Port p;
    p.id = absl::StrCat("p", i);
    p.network_id = "net";
    p.mac = MacAddr{{0x02, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i + 1)}};
    p.fixed_ips = {IpAddr::V4(0x0a000001 + i)};
    p.security_group_ids = {"ssh"};
    p.representor.ref = static_cast<uint32_t>(i);
    s.ports[p.id] = p;
  }
  return s;
}

Packet FromUplink(const Snapshot& s, const char* src, uint16_t dport) {
  Packet p;
  p.in = DeviceRef::Uplink();
  p.src_mac = *MacAddr::Parse("02:99:00:00:00:01");
  p.dst_mac = s.ports.at("p0").mac;
  p.src_ip = Ip(src);
  p.dst_ip = s.ports.at("p0").fixed_ips[0];
  p.ip_proto = kProtoTcp;
  p.src_port = 40000;
  p.dst_port = dport;
  return p;
}

// (evaluator, simulator of the set-lookup pipeline, slow path after
// placement) deliver the frame to p0.
std::tuple<bool, bool, bool> Delivered(const Snapshot& s, const Packet& p) {
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline pipeline = *Compile(s, slots, kSets);
  offload::PlacementResult placed = offload::Place(pipeline, [](const Filter& f) {
    return offload::HardwareModel(offload::HwCapabilities{}).Accepts(f);
  });
  ConntrackModel ct_eval, ct_sim, ct_slow;
  std::set<Delivery> want{Delivery{DeviceRef::OfPort("p0"), {}}};
  return {Evaluate(s, slots, p, ct_eval).deliveries == want,
          Simulate(pipeline, p, ct_sim).deliveries == want,
          Simulate(placed.SlowPathPipeline(), p, ct_slow).deliveries == want};
}

class SetLookup : public ::testing::TestWithParam<bool> {};

TEST_P(SetLookup, AdmitsOnlyTheSetsAddresses) {
  Snapshot s = SshFrom(2, GetParam());
  ASSERT_TRUE(Validate(s).ok()) << Validate(s);
  const auto yes = std::make_tuple(true, true, true);
  const auto no = std::make_tuple(false, false, false);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 22)), yes);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 8001)), yes);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 8002)), no);
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.11", 22)), no);
  if (GetParam()) {
    s.address_groups["admins"].cidrs.clear();
  } else {
    s.remote_ports.clear();
  }
  EXPECT_EQ(Delivered(s, FromUplink(s, "192.0.2.10", 22)), no);
}

INSTANTIATE_TEST_SUITE_P(MemberOrAddressGroup, SetLookup, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "AddressGroup" : "Member"; });

TEST(SetLookupShape, OneFilterPerPortMaskNeverInHardwareTrappedAtItsPrio) {
  Snapshot s = SshFrom(1, false);
  Pipeline p = *Compile(s, *AssignSlots(s, {}), kSets);
  std::vector<const Filter*> set_filters;
  for (const Filter& f : p.filters) {
    if (f.classifier == Classifier::kSetMatch) set_filters.push_back(&f);
  }
  // tcp/22: one; tcp/8000-8001: one mask (8000/0xfffe).
  ASSERT_EQ(set_filters.size(), 2u);
  for (const Filter* f : set_filters) {
    ASSERT_TRUE(f->set_match.has_value());
    EXPECT_EQ(f->set_match->set, "group:bastion");
    EXPECT_TRUE(f->set_match->remote_is_src);
    EXPECT_FALSE(f->match->src_ip.has_value()) << "members are in the set, not the filter";
    EXPECT_EQ(f->match->ip_proto, kProtoTcp);
  }
  EXPECT_NE(set_filters[0]->prio, set_filters[1]->prio) << "two rules, two stages";
  EXPECT_EQ(p.sets.at("group:bastion"), std::vector<IpPrefix>{Prefix("192.0.2.10/32")});

  offload::PlacementResult placed = offload::Place(p, [](const Filter& f) {
    return offload::HardwareModel(offload::HwCapabilities{}).Accepts(f);
  });
  bool trapped = false;
  for (const offload::PlacedFilter& pf : placed.filters) {
    if (pf.filter->classifier != Classifier::kSetMatch) continue;
    EXPECT_NE(pf.placement, offload::Placement::kHardware) << pf.filter->origin;
  }
  for (const Filter& t : placed.traps) {
    trapped |= t.chain == set_filters[0]->chain && t.prio == set_filters[0]->prio;
  }
  EXPECT_TRUE(trapped) << "the hardware hands the rule's frames over at its prio";
  // The chain's established stage (prio 1) stays in hardware.
  bool established_in_hw = false;
  for (const offload::PlacedFilter& pf : placed.filters) {
    established_in_hw |= pf.filter->chain == set_filters[0]->chain && pf.filter->prio == 1 &&
                         pf.placement == offload::Placement::kHardware;
  }
  EXPECT_TRUE(established_in_hw);
}

size_t FilterWrites(const Pipeline& a, const Pipeline& b) {
  std::map<std::tuple<uint32_t, uint16_t, uint32_t>, const Filter*> before;
  for (const Filter& f : a.filters) before[f.Key()] = &f;
  size_t writes = 0;
  for (const Filter& f : b.filters) {
    auto it = before.find(f.Key());
    if (it == before.end() || !(*it->second == f)) ++writes;
    if (it != before.end()) before.erase(it);
  }
  return writes + before.size();
}

// Set entries added or removed between two pipelines (map writes).
size_t SetWrites(const Pipeline& a, const Pipeline& b) {
  size_t n = 0;
  std::set<std::string> names;
  for (const auto& [k, v] : a.sets) names.insert(k);
  for (const auto& [k, v] : b.sets) names.insert(k);
  for (const std::string& name : names) {
    std::set<IpPrefix> x, y;
    if (a.sets.contains(name)) x.insert(a.sets.at(name).begin(), a.sets.at(name).end());
    if (b.sets.contains(name)) y.insert(b.sets.at(name).begin(), b.sets.at(name).end());
    for (const IpPrefix& p : x) n += !y.contains(p);
    for (const IpPrefix& p : y) n += !x.contains(p);
  }
  return n;
}

TEST(SetLookupCost, TargetsHoldForPoolAndScatteredMembers) {
  Snapshot one_prefix = SshFrom(20, false);
  for (SecurityGroupRule& r : one_prefix.security_groups["ssh"].rules) {
    r.remote_group_id.reset();
    r.remote_prefix = Prefix("192.168.0.0/16");
  }
  one_prefix.remote_ports.clear();
  SlotAssignment slots = *AssignSlots(one_prefix, {});
  const size_t base = Compile(one_prefix, slots)->filters.size();
  for (uint32_t step : {1u, 7u}) {
    Snapshot s = SshFrom(20, false);
    s.remote_ports.clear();
    for (uint32_t i = 0; i < 1000; ++i) {
      std::string id = absl::StrCat("m", i);
      s.remote_ports[id] =
          RemotePort{id, {IpPrefix::Host(IpAddr::V4(0xc0a80001 + i * step))}, {"bastion"}};
    }
    Pipeline before = *Compile(s, slots, kSets);
    EXPECT_EQ(before.filters.size(), base) << "step " << step << ": as with one prefix";
    EXPECT_EQ(before.sets.at("group:bastion").size(), 1000u);
    Snapshot added = s;
    added.remote_ports["new"] = RemotePort{"new", {Prefix("172.16.9.9")}, {"bastion"}};
    Pipeline after_add = *Compile(added, slots, kSets);
    EXPECT_EQ(FilterWrites(before, after_add), 0u);
    EXPECT_EQ(SetWrites(before, after_add), 1u);
    Snapshot removed = s;
    removed.remote_ports.erase("m500");  // splits a /24 when aggregated: not here
    Pipeline after_remove = *Compile(removed, slots, kSets);
    EXPECT_EQ(FilterWrites(before, after_remove), 0u);
    EXPECT_EQ(SetWrites(before, after_remove), 1u);
  }
}

TEST(SetLookupCost, IncrementalCompilerTracksTheSets) {
  Snapshot s = SshFrom(3, false);
  SlotAssignment slots = *AssignSlots(s, {});
  IncrementalCompiler inc(kSets);
  ASSERT_TRUE(inc.Update(std::make_shared<const Snapshot>(s), slots).ok());
  Snapshot added = s;
  added.remote_ports["b2"] = RemotePort{"b2", {Prefix("192.0.2.77")}, {"bastion"}};
  absl::StatusOr<std::set<std::string>> changed =
      inc.Update(std::make_shared<const Snapshot>(added), slots);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->empty()) << "no part's filters change";
  Pipeline p = inc.Assemble();
  EXPECT_EQ(p, *Compile(added, slots, kSets));
  EXPECT_EQ(p.sets.at("group:bastion").size(), 2u);
}

}  // namespace
}  // namespace vfguard::policy
