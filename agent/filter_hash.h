// 64-bit identities of flower filters, so the reconciler can keep what is
// installed as hashes instead of copies (DESIGN.md, "Cost rules").
//
// ContentHash covers everything the kernel is told about a filter (owner,
// chain, prio, handle, protocol, keys, flags, actions) and nothing it only
// reports (status, counters): two filters with the same ContentHash are the
// same request. It hashes the RTM_NEWTFILTER request the codec would send,
// with a fixed seq and flags, so it is deterministic across processes and
// builds of the same codec; OfferKey relies on that because offer answers
// are checkpointed under it.
//
// ShapeHash covers what flower cannot change in place: the protocol, the
// skip flags and the key layout (netlink::KeyLayout: which keys, under which
// masks). A replace that changes it is refused, so the filter has to be
// deleted and created again. Only stable within a process.
#ifndef VFGUARD_AGENT_FILTER_HASH_H_
#define VFGUARD_AGENT_FILTER_HASH_H_

#include <cstdint>
#include <string>

#include "netlink/tc_types.h"

namespace vfguard::agent {

uint64_t ContentHash(const netlink::FlowerFilter& f);
uint64_t ShapeHash(const netlink::FlowerFilter& f);

// 16 lower-case hex digits.
std::string HashHex(uint64_t hash);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_FILTER_HASH_H_
