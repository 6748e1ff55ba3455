// A small model of netfilter conntrack, per zone.
//
// Deliberately simple and documented in docs/semantics.md ("Conntrack
// model"): a connection is identified by (family, protocol, addresses,
// ports); a lookup yields +trk+new when unknown or not yet committed,
// +trk+est for the original direction of a committed connection and
// +trk+est+rpl for its reply direction. Related and invalid are not modeled.
// Both the evaluator and the simulator use it, each with its own instance.
#ifndef VFGUARD_POLICY_CONNTRACK_MODEL_H_
#define VFGUARD_POLICY_CONNTRACK_MODEL_H_

#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "policy/packet.h"

namespace vfguard::policy {

class ConntrackModel {
 public:
  // ct_state bits (kCt* from ir.h) the packet has in `zone`.
  uint16_t Lookup(uint16_t zone, const Packet& packet) const;
  // Records the packet's connection (original direction = this packet) in
  // `zone`; no-op if the connection already exists in either direction.
  void Commit(uint16_t zone, const Packet& packet);
  // Forgets every connection of `zone`.
  void FlushZone(uint16_t zone);
  size_t CountZone(uint16_t zone) const;

  using Tuple =
      std::tuple<uint8_t /*family*/, uint8_t /*proto*/, IpAddr, IpAddr, uint16_t, uint16_t>;
  static Tuple TupleOf(const Packet& packet);
  static Tuple Reversed(const Tuple& t);

 private:
  std::map<uint16_t, std::set<Tuple>> zones_;  // original-direction tuples
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_CONNTRACK_MODEL_H_
