#include "policy/conntrack_model.h"

namespace vfguard::policy {

ConntrackModel::Tuple ConntrackModel::TupleOf(const Packet& packet) {
  uint16_t sport = packet.HasPorts() ? packet.src_port : 0;
  uint16_t dport = packet.HasPorts() ? packet.dst_port : 0;
  return Tuple(static_cast<uint8_t>(packet.src_ip.family), packet.ip_proto, packet.src_ip,
               packet.dst_ip, sport, dport);
}

ConntrackModel::Tuple ConntrackModel::Reversed(const Tuple& t) {
  return Tuple(std::get<0>(t), std::get<1>(t), std::get<3>(t), std::get<2>(t), std::get<5>(t),
               std::get<4>(t));
}

uint16_t ConntrackModel::Lookup(uint16_t zone, const Packet& packet) const {
  auto it = zones_.find(zone);
  Tuple t = TupleOf(packet);
  if (it != zones_.end()) {
    if (it->second.count(t)) return kCtTracked | kCtEstablished;
    if (it->second.count(Reversed(t))) return kCtTracked | kCtEstablished | kCtReply;
  }
  return kCtTracked | kCtNew;
}

void ConntrackModel::Commit(uint16_t zone, const Packet& packet) {
  std::set<Tuple>& conns = zones_[zone];
  Tuple t = TupleOf(packet);
  if (conns.count(Reversed(t))) return;
  conns.insert(t);
}

void ConntrackModel::FlushZone(uint16_t zone) { zones_.erase(zone); }

size_t ConntrackModel::CountZone(uint16_t zone) const {
  auto it = zones_.find(zone);
  return it == zones_.end() ? 0 : it->second.size();
}

}  // namespace vfguard::policy
