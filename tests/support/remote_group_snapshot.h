// The remote-group snapshot that the remote-member and set-lookup tests and
// the compile benchmark share (issue 14, docs/performance.md "Remote
// groups"): local ports whose group "ssh" allows tcp from group "bastion"
// (remote ports as members), from address group "admins", or from one
// prefix (the baseline); a 1,000-member pool for the bastion group; and the
// write counts a reconciler would make between two compiles.
//
// Test and benchmark code only: no production library links this.
#ifndef VFGUARD_TESTS_SUPPORT_REMOTE_GROUP_SNAPSHOT_H_
#define VFGUARD_TESTS_SUPPORT_REMOTE_GROUP_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/ir.h"
#include "policy/model.h"
#include "policy/packet.h"

namespace vfguard::test_support {

// Where group "ssh" admits tcp from.
enum class SshRemote {
  kBastion,  // group "bastion": one remote port "b1" at 192.0.2.10
  kAdmins,   // address group "admins" = {192.0.2.10/32}
  kPool,     // the prefix 192.168.0.0/16 (where PoolMember numbers members)
};

// `ports` local ports p0, p1, ... (MAC 02:00:00:00:hi:lo+1, address
// 10.0.0.1 + i, representor ref i) in flat network "net", all in group
// "ssh", whose ingress rules allow tcp to each of `dports` from `remote`.
// Group "bastion" exists (without local ports) whatever the remote.
policy::Snapshot SshFrom(int ports, SshRemote remote,
                         const std::vector<policy::PortRange>& dports = {{22, 22}});

// Pool member i: 192.168.0.1 + i * step.
policy::IpAddr PoolMember(uint32_t i, uint32_t step);

// Replaces the remote ports by 1,000 members "member-0" .. "member-999" of
// group "bastion", member i at PoolMember(i, step): step 1 fills one pool
// (it aggregates), a larger odd step scatters them (nothing aggregates).
void SetBastionMembers(policy::Snapshot& s, uint32_t step);

// tcp from `src`:40000 to p0's first address at `dport`, arriving from the
// uplink addressed to p0's MAC.
policy::Packet TcpFromUplinkToP0(const policy::Snapshot& s, const char* src, uint16_t dport);

// Filters added, removed or changed (by chain, prio, handle) from `a` to
// `b`: what a reconciler writes to go from one to the other.
size_t FilterWrites(const policy::Pipeline& a, const policy::Pipeline& b);

// Set entries (set name, prefix) added or removed from `a` to `b`: the
// set-match program's map writes.
size_t SetWrites(const policy::Pipeline& a, const policy::Pipeline& b);

}  // namespace vfguard::test_support

#endif  // VFGUARD_TESTS_SUPPORT_REMOTE_GROUP_SNAPSHOT_H_
