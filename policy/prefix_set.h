// Exact aggregation of address prefixes, so that a rule naming a set of
// addresses (a remote group's members, an address group's CIDRs) compiles to
// as few flower filters as the set allows (docs/performance.md, "Remote
// groups").
#ifndef VFGUARD_POLICY_PREFIX_SET_H_
#define VFGUARD_POLICY_PREFIX_SET_H_

#include <vector>

#include "policy/addr.h"

namespace vfguard::policy {

// The fewest prefixes whose union is exactly the union of `prefixes`:
// prefixes inside another are dropped and sibling pairs (10.0.0.0/25 and
// 10.0.0.128/25) merge into their parent, repeatedly. Families stay apart.
// Sorted by (family, address, length); no two results overlap.
std::vector<IpPrefix> AggregatePrefixes(std::vector<IpPrefix> prefixes);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_PREFIX_SET_H_
