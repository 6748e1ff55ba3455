// Remote members and address groups (issue 14): the evaluator and the
// compiled pipeline admit exactly the remote member's / address group's
// addresses, and a member change costs a bounded number of filters in each
// referencing port's chain (docs/performance.md, "Remote groups").
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

IpAddr Ip(const char* t) { return *IpAddr::Parse(t); }
IpPrefix Prefix(const char* t) { return *IpPrefix::Parse(t); }

// `ports` local ports in one flat network, each in group "ssh" whose one
// ingress rule allows tcp/22 from `remote` (a group id or address group id).
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
  s.security_groups["ssh"] = SecurityGroup{"ssh", true, {ssh}};
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

Packet SshFromUplink(const Snapshot& s, const char* src) {
  Packet p;
  p.in = DeviceRef::Uplink();
  p.src_mac = *MacAddr::Parse("02:99:00:00:00:01");
  p.dst_mac = s.ports.at("p0").mac;
  p.src_ip = Ip(src);
  p.dst_ip = s.ports.at("p0").fixed_ips[0];
  p.ip_proto = kProtoTcp;
  p.src_port = 40000;
  p.dst_port = 22;
  return p;
}

// Evaluator and simulator verdicts for one frame (fresh conntrack each).
std::pair<bool, bool> Delivered(const Snapshot& s, const Packet& p) {
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline pipeline = *Compile(s, slots);
  ConntrackModel ct_eval, ct_sim;
  Verdict e = Evaluate(s, slots, p, ct_eval);
  Verdict m = Simulate(pipeline, p, ct_sim);
  std::set<Delivery> want{Delivery{DeviceRef::OfPort("p0"), {}}};
  return {e.deliveries == want, m.deliveries == want};
}

class RemoteSsh : public ::testing::TestWithParam<bool> {};

TEST_P(RemoteSsh, AdmitsOnlyTheRemoteAddresses) {
  Snapshot s = SshFrom(2, GetParam());
  ASSERT_TRUE(Validate(s).ok()) << Validate(s);
  EXPECT_EQ(Delivered(s, SshFromUplink(s, "192.0.2.10")), std::make_pair(true, true));
  EXPECT_EQ(Delivered(s, SshFromUplink(s, "192.0.2.11")), std::make_pair(false, false));
  // Removing the member (or the CIDR) refuses the address it had.
  if (GetParam()) {
    s.address_groups["admins"].cidrs.clear();
  } else {
    s.remote_ports.clear();
  }
  ASSERT_TRUE(Validate(s).ok()) << Validate(s);
  EXPECT_EQ(Delivered(s, SshFromUplink(s, "192.0.2.10")), std::make_pair(false, false));
}

INSTANTIATE_TEST_SUITE_P(MemberOrAddressGroup, RemoteSsh, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "AddressGroup" : "Member"; });

// Filters of `b` not in `a` plus filters of `a` not in `b`: what a
// reconciler writes to go from one to the other.
size_t Writes(const Pipeline& a, const Pipeline& b) {
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

// 1,000 members from `first` on (step 1: one contiguous pool; a larger odd
// step: scattered addresses that never aggregate).
void AddMembers(Snapshot& s, uint32_t first, uint32_t step) {
  s.remote_ports.clear();
  for (uint32_t i = 0; i < 1000; ++i) {
    std::string id = absl::StrCat("m", i);
    s.remote_ports[id] =
        RemotePort{id, {IpPrefix::Host(IpAddr::V4(first + i * step))}, {"bastion"}};
  }
}

TEST(RemoteMemberCost, ScatteredMemberChangeIsOneFilterPerReferencingPort) {
  Snapshot s = SshFrom(20, false);
  AddMembers(s, 0xc0a80001, 7);
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline before = *Compile(s, slots);
  for (const Filter& f : before.filters) {
    // offload/tc_translate.h: IR handles are 1..2^24-1.
    ASSERT_GE(f.handle, 1u) << f.origin;
    ASSERT_LT(f.handle, 1u << 24) << f.origin;
  }
  Snapshot added = s;
  added.remote_ports["new"] = RemotePort{"new", {Prefix("172.16.9.9")}, {"bastion"}};
  EXPECT_EQ(Writes(before, *Compile(added, slots)), 20u);
  Snapshot removed = s;
  removed.remote_ports.erase("m500");
  EXPECT_EQ(Writes(before, *Compile(removed, slots)), 20u);
}

TEST(RemoteMemberCost, ContiguousPoolAggregates) {
  Snapshot one_prefix = SshFrom(20, false);
  one_prefix.security_groups["ssh"].rules[0].remote_group_id.reset();
  one_prefix.security_groups["ssh"].rules[0].remote_prefix = Prefix("192.168.0.0/16");
  one_prefix.remote_ports.clear();
  SlotAssignment slots = *AssignSlots(one_prefix, {});
  const size_t base = Compile(one_prefix, slots)->filters.size();

  Snapshot s = SshFrom(20, false);
  AddMembers(s, 0xc0a80001, 1);  // 192.168.0.1 ..
  Pipeline before = *Compile(s, slots);
  // 15 prefixes instead of one per port: 14 filters more per port.
  EXPECT_EQ(before.filters.size(), base + 20 * 14);
  EXPECT_LE(before.filters.size(), 10 * base);
  // The next address of the pool: .3.233 joins .3.232/32 as a /31 (1 add,
  // 1 delete per port).
  Snapshot added = s;
  added.remote_ports["new"] = RemotePort{"new", {Prefix("192.168.3.233")}, {"bastion"}};
  EXPECT_EQ(Writes(before, *Compile(added, slots)), 20u * 2);
}

}  // namespace
}  // namespace vfguard::policy
