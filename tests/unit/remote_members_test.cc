// Remote members and address groups (issue 14): the evaluator and the
// compiled pipeline admit exactly the remote member's / address group's
// addresses, and a member change costs a bounded number of filters in each
// referencing port's chain (docs/performance.md, "Remote groups"). The
// snapshots are tests/support/remote_group_snapshot.h's.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "policy/compiler.h"
#include "policy/conntrack_model.h"
#include "policy/evaluator.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "policy/validate.h"
#include "tests/support/remote_group_snapshot.h"

namespace vfguard::policy {
namespace {

using test_support::FilterWrites;
using test_support::SshRemote;

IpPrefix Prefix(const char* t) { return *IpPrefix::Parse(t); }

// `ports` local ports p0.. whose group "ssh" allows tcp/22 from group
// bastion (member b1) or address group admins, both 192.0.2.10.
Snapshot SshFrom(int ports, bool address_group) {
  return test_support::SshFrom(ports, address_group ? SshRemote::kAdmins : SshRemote::kBastion);
}

Packet SshFromUplink(const Snapshot& s, const char* src) {
  return test_support::TcpFromUplinkToP0(s, src, 22);
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

TEST(RemoteMemberCost, ScatteredMemberChangeIsOneFilterPerReferencingPort) {
  Snapshot s = SshFrom(20, false);
  test_support::SetBastionMembers(s, 7);
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline before = *Compile(s, slots);
  for (const Filter& f : before.filters) {
    // offload/tc_translate.h: IR handles are 1..2^24-1.
    ASSERT_GE(f.handle, 1u) << f.origin();
    ASSERT_LT(f.handle, 1u << 24) << f.origin();
  }
  Snapshot added = s;
  added.remote_ports["new"] = RemotePort{"new", {Prefix("172.16.9.9")}, {"bastion"}};
  EXPECT_EQ(FilterWrites(before, *Compile(added, slots)), 20u);
  Snapshot removed = s;
  removed.remote_ports.erase("member-500");
  EXPECT_EQ(FilterWrites(before, *Compile(removed, slots)), 20u);
}

TEST(RemoteMemberCost, ContiguousPoolAggregates) {
  Snapshot one_prefix = test_support::SshFrom(20, SshRemote::kPool);
  SlotAssignment slots = *AssignSlots(one_prefix, {});
  const size_t base = Compile(one_prefix, slots)->filters.size();

  Snapshot s = SshFrom(20, false);
  test_support::SetBastionMembers(s, 1);  // 192.168.0.1 ..
  Pipeline before = *Compile(s, slots);
  // 15 prefixes instead of one per port: 14 filters more per port.
  EXPECT_EQ(before.filters.size(), base + 20 * 14);
  EXPECT_LE(before.filters.size(), 10 * base);
  // The next address of the pool: .3.233 joins .3.232/32 as a /31 (1 add,
  // 1 delete per port).
  Snapshot added = s;
  added.remote_ports["new"] = RemotePort{"new", {Prefix("192.168.3.233")}, {"bastion"}};
  EXPECT_EQ(FilterWrites(before, *Compile(added, slots)), 20u * 2);
}

}  // namespace
}  // namespace vfguard::policy
