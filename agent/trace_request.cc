#include "agent/trace_request.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/packet_text.h"
#include "policy/addr.h"

namespace vfguard::agent {
namespace {

absl::Status Field(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// The destination MAC a sender would use for `ip`: the owning port's, the
// IPv4/IPv6 multicast mapping, broadcast, else a unicast MAC nobody here has.
policy::MacAddr DestinationMac(const api::v1::Policy& policy, const policy::IpAddr& ip) {
  for (const auto& port : policy.ports()) {
    for (const auto& list : {port.fixed_ips(), port.vips()}) {
      for (const auto& text : list) {
        auto owned = policy::IpAddr::Parse(text);
        if (owned && *owned == ip) {
          if (auto mac = policy::MacAddr::Parse(port.mac_address())) return *mac;
        }
      }
    }
  }
  if (ip.family == policy::IpFamily::kV4) {
    if (ip.V4HostOrder() == 0xffffffffu) return policy::MacAddr::Broadcast();
    if (ip.IsMulticast()) {
      return policy::MacAddr{
          {0x01, 0x00, 0x5e, static_cast<uint8_t>(ip.bytes[1] & 0x7f), ip.bytes[2], ip.bytes[3]}};
    }
  } else if (ip.IsMulticast()) {
    return policy::MacAddr{{0x33, 0x33, ip.bytes[12], ip.bytes[13], ip.bytes[14], ip.bytes[15]}};
  }
  return policy::MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}};
}

absl::StatusOr<policy::MacAddr> MacField(const std::string& path, const std::string& text) {
  auto mac = policy::MacAddr::Parse(text);
  if (!mac) return Field(path, absl::StrCat("\"", text, "\" is not a MAC"));
  return *mac;
}

void ToProto(const policy::Verdict& in, api::v1::TraceVerdict* out) {
  out->set_verdict(in.Dropped() ? "dropped" : "delivered");
  for (const auto& d : in.deliveries) {
    auto* o = out->add_deliveries();
    o->set_out(d.out.ToString());
    if (d.vlan) o->set_vlan(*d.vlan);
  }
  for (const auto& step : in.trace) out->add_trace(step);
}

}  // namespace

absl::StatusOr<policy::Packet> PacketFromTraceRequest(const api::v1::Policy& desired,
                                                      const api::v1::TraceRequest& request) {
  if (request.in_port().empty() == request.in().empty()) {
    return Field("in_port", "give exactly one of in_port and in");
  }
  const api::v1::Port* in_port = nullptr;
  if (!request.in().empty()) {
    if (request.in() != "uplink") {
      return Field("in", absl::StrCat("\"", request.in(), "\" is not \"uplink\""));
    }
  } else {
    for (const auto& p : desired.ports()) {
      if (p.id() == request.in_port()) in_port = &p;
    }
    if (in_port == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("in_port: port ", request.in_port(), " does not exist"));
    }
  }
  absl::StatusOr<policy::Packet> packet = ParsePacketText(request.packet());
  if (!packet.ok()) return packet.status();
  packet->in = in_port ? policy::DeviceRef::OfPort(in_port->id()) : policy::DeviceRef::Uplink();
  if (!request.src_mac().empty()) {
    absl::StatusOr<policy::MacAddr> mac = MacField("src_mac", request.src_mac());
    if (!mac.ok()) return mac.status();
    packet->src_mac = *mac;
  } else if (in_port != nullptr) {
    if (auto mac = policy::MacAddr::Parse(in_port->mac_address())) packet->src_mac = *mac;
  } else {
    packet->src_mac = policy::MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfd}};
  }
  if (!request.dst_mac().empty()) {
    absl::StatusOr<policy::MacAddr> mac = MacField("dst_mac", request.dst_mac());
    if (!mac.ok()) return mac.status();
    packet->dst_mac = *mac;
  } else {
    packet->dst_mac = DestinationMac(desired, packet->dst_ip);
  }
  if (request.has_vlan()) {
    if (in_port != nullptr) return Field("vlan", "only frames from the uplink carry a tag");
    if (request.vlan() < 1 || request.vlan() > 4094) {
      return Field("vlan", absl::StrCat(request.vlan(), " is not 1-4094"));
    }
    packet->vlan = static_cast<uint16_t>(request.vlan());
  }
  return packet;
}

api::v1::TraceResponse TraceResponseFrom(const TraceResult& result, const policy::Packet& packet) {
  api::v1::TraceVerdict reference;
  ToProto(result.reference, &reference);
  api::v1::TraceResponse out;
  out.set_verdict(reference.verdict());
  *out.mutable_deliveries() = reference.deliveries();
  *out.mutable_trace() = reference.trace();
  ToProto(result.installed, out.mutable_installed());
  out.set_packet(packet.ToString());
  return out;
}

}  // namespace vfguard::agent
