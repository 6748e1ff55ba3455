// Read-side routes (port status, rules, agent status), conntrack export and
// import, packet trace and the event stream.
#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/api.pb.h"
#include "api/handlers.h"
#include "api/handlers_util.h"
#include "api/packet_text.h"
#include "policy/addr.h"

namespace vfguard::api {
namespace {

std::string TimeText(absl::Time t) {
  if (t == absl::Time() || t == absl::InfinitePast()) return "";
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

void ToProto(const agent::RuleStatus& in, v1::RuleStatus* out) {
  out->set_chain(in.chain);
  out->set_prio(in.prio);
  out->set_handle(in.handle);
  out->set_match(in.match);
  out->set_actions(in.actions);
  out->set_origin(in.origin);
  out->set_placement(in.placement);
  out->set_hw_errno(in.hw_errno);
  out->set_hw_error(in.hw_error);
  out->set_packets(in.packets);
  out->set_bytes(in.bytes);
}

std::string AddressText(const netlink::CtAddress& a) {
  policy::IpAddr ip;
  ip.family = a.family == AF_INET6 ? policy::IpFamily::kV6 : policy::IpFamily::kV4;
  ip.bytes = a.bytes;
  if (ip.family == policy::IpFamily::kV4) std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
  return ip.ToString();
}

void ToProto(const netlink::CtTuple& in, v1::CtTuple* out) {
  out->set_src(AddressText(in.src));
  out->set_dst(AddressText(in.dst));
  out->set_proto(in.proto);
  out->set_src_port(in.src_port);
  out->set_dst_port(in.dst_port);
  out->set_icmp_type(in.icmp_type);
  out->set_icmp_code(in.icmp_code);
  out->set_icmp_id(in.icmp_id);
}

absl::Status Field(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", absl::string_view(what.data(), what.size())));
}

absl::StatusOr<netlink::CtAddress> AddressFrom(const std::string& path, const std::string& text) {
  auto ip = policy::IpAddr::Parse(text);
  if (!ip) return Field(path, absl::StrCat("\"", text, "\" is not an IP address"));
  netlink::CtAddress a;
  a.family = ip->family == policy::IpFamily::kV6 ? AF_INET6 : AF_INET;
  a.bytes = ip->bytes;
  return a;
}

absl::StatusOr<netlink::CtTuple> TupleFrom(const std::string& path, bool present,
                                           const v1::CtTuple& in) {
  if (!present) return Field(path, "missing");
  netlink::CtTuple t;
  auto src = AddressFrom(path + ".src", in.src());
  if (!src.ok()) return src.status();
  auto dst = AddressFrom(path + ".dst", in.dst());
  if (!dst.ok()) return dst.status();
  if (src->family != dst->family) return Field(path, "src and dst are of different families");
  t.src = *src;
  t.dst = *dst;
  struct Limit {
    const char* name;
    uint32_t value;
    uint32_t max;
  };
  for (const Limit& l :
       {Limit{"proto", in.proto(), 255}, Limit{"src_port", in.src_port(), 65535},
        Limit{"dst_port", in.dst_port(), 65535}, Limit{"icmp_type", in.icmp_type(), 255},
        Limit{"icmp_code", in.icmp_code(), 255}, Limit{"icmp_id", in.icmp_id(), 65535}}) {
    if (l.value > l.max) {
      return Field(absl::StrCat(path, ".", l.name), absl::StrCat(l.value, " is above ", l.max));
    }
  }
  t.proto = static_cast<uint8_t>(in.proto());
  t.src_port = static_cast<uint16_t>(in.src_port());
  t.dst_port = static_cast<uint16_t>(in.dst_port());
  t.icmp_type = static_cast<uint8_t>(in.icmp_type());
  t.icmp_code = static_cast<uint8_t>(in.icmp_code());
  t.icmp_id = static_cast<uint16_t>(in.icmp_id());
  return t;
}

void ToProto(const policy::Verdict& in, v1::TraceVerdict* out) {
  out->set_verdict(in.Dropped() ? "dropped" : "delivered");
  for (const auto& d : in.deliveries) {
    auto* o = out->add_deliveries();
    o->set_out(d.out.ToString());
    if (d.vlan) o->set_vlan(*d.vlan);
  }
  for (const auto& step : in.trace) out->add_trace(step);
}

// The destination MAC a sender would use for `ip`: the owning port's, the
// IPv4/IPv6 multicast mapping, broadcast, else a unicast MAC nobody here has.
policy::MacAddr DestinationMac(const v1::Policy& policy, const policy::IpAddr& ip) {
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

}  // namespace

HttpResponse ApiHandlers::PortStatus(const HttpRequest& request, const std::string& id) {
  const std::string route = "/v1/ports/{id}/status";
  if (request.method != "GET") return MethodNotAllowed("GET", route);
  auto status = service_.Port(id);
  if (!status.ok()) return ErrorResponse(status.status(), route);
  v1::PortStatus out;
  out.set_id(status->id);
  out.set_state(status->state);
  out.set_representor(status->representor);
  out.set_representor_present(status->representor_present);
  out.set_zone(status->zone);
  out.set_slot(status->slot);
  for (const auto& rule : status->rules) ToProto(rule, out.add_rules());
  out.set_dropped_packets(status->dropped_packets);
  out.set_counters_as_of(TimeText(status->counters_as_of));
  out.set_installed(status->installed);
  return JsonResponse(out, route);
}

HttpResponse ApiHandlers::Rules(const HttpRequest& request) {
  if (request.method != "GET") return MethodNotAllowed("GET", "/v1/rules");
  v1::RuleList out;
  for (const auto& rule : service_.SharedRules()) ToProto(rule, out.add_items());
  return JsonResponse(out, "/v1/rules");
}

HttpResponse ApiHandlers::Status(const HttpRequest& request) {
  if (request.method != "GET") return MethodNotAllowed("GET", "/v1/status");
  agent::AgentStatus s = service_.Status();
  v1::AgentStatus out;
  out.set_ready(s.ready);
  out.set_version(s.version);
  out.set_started(TimeText(s.started));
  if (s.reconciles > 0) out.set_last_reconcile(TimeText(s.last_reconcile));
  out.set_last_reconcile_duration_seconds(absl::ToDoubleSeconds(s.last_reconcile_duration));
  if (!s.last_reconcile_status.ok()) {
    out.set_last_reconcile_error(std::string(s.last_reconcile_status.message()));
  }
  out.set_reconciles(s.reconciles);
  out.set_resyncs(s.resyncs);
  for (const auto& [k, v] : s.ports_by_state) (*out.mutable_ports_by_state())[k] = v;
  for (const auto& [k, v] : s.rules_by_placement) (*out.mutable_rules_by_placement())[k] = v;
  out.set_block_index(s.block_index);
  return JsonResponse(out, "/v1/status");
}

HttpResponse ApiHandlers::PortConntrack(const HttpRequest& request, const std::string& id) {
  const std::string route = "/v1/ports/{id}/conntrack";
  if (request.method == "GET") {
    auto status = service_.Port(id);
    if (!status.ok()) return ErrorResponse(status.status(), route);
    auto entries = service_.Conntrack(id);
    if (!entries.ok()) return ErrorResponse(entries.status(), route);
    v1::ConntrackList out;
    out.set_zone(status->zone);
    for (const auto& e : *entries) {
      auto* o = out.add_entries();
      ToProto(e.orig, o->mutable_orig());
      ToProto(e.reply, o->mutable_reply());
      o->set_status(e.status);
      o->set_timeout(e.timeout);
      o->set_mark(e.mark);
      if (e.tcp_state) o->set_tcp_state(*e.tcp_state);
    }
    return JsonResponse(out, route);
  }
  if (request.method != "POST") return MethodNotAllowed("GET, POST", route);
  v1::ConntrackImport body;
  if (absl::Status s = ParseBody(request.body, &body); !s.ok()) return ErrorResponse(s, route);
  std::vector<netlink::CtEntry> entries;
  for (int i = 0; i < body.entries_size(); ++i) {
    const auto& in = body.entries(i);
    std::string path = absl::StrCat("entries[", i, "]");
    netlink::CtEntry e;
    auto orig = TupleFrom(path + ".orig", in.has_orig(), in.orig());
    if (!orig.ok()) return ErrorResponse(orig.status(), route);
    auto reply = TupleFrom(path + ".reply", in.has_reply(), in.reply());
    if (!reply.ok()) return ErrorResponse(reply.status(), route);
    e.orig = *orig;
    e.reply = *reply;
    e.status = in.status();
    e.timeout = in.timeout();
    e.mark = in.mark();
    if (in.has_tcp_state()) {
      if (in.tcp_state() > 255) {
        return ErrorResponse(
            Field(path + ".tcp_state", absl::StrCat(in.tcp_state(), " is above 255")), route);
      }
      e.tcp_state = static_cast<uint8_t>(in.tcp_state());
    }
    entries.push_back(e);
  }
  auto created = service_.ImportConntrack(id, entries);
  if (!created.ok()) return ErrorResponse(created.status(), route);
  v1::ConntrackImportResult out;
  out.set_created(*created);
  return JsonResponse(out, route);
}

HttpResponse ApiHandlers::Trace(const HttpRequest& request) {
  const std::string route = "/v1/trace";
  if (request.method != "POST") return MethodNotAllowed("POST", route);
  v1::TraceRequest body;
  if (absl::Status s = ParseBody(request.body, &body); !s.ok()) return ErrorResponse(s, route);
  const v1::Policy& desired = service_.Desired();
  policy::Packet packet;
  if (body.in_port().empty() == body.in().empty()) {
    return ErrorResponse(Field("in_port", "give exactly one of in_port and in"), route);
  }
  const v1::Port* in_port = nullptr;
  if (!body.in().empty()) {
    if (body.in() != "uplink") {
      return ErrorResponse(Field("in", absl::StrCat("\"", body.in(), "\" is not \"uplink\"")),
                           route);
    }
  } else {
    for (const auto& p : desired.ports()) {
      if (p.id() == body.in_port()) in_port = &p;
    }
    if (in_port == nullptr) {
      return ErrorResponse(404, "not_found",
                           absl::StrCat("in_port: port ", body.in_port(), " does not exist"), route,
                           "in_port");
    }
  }
  auto parsed = ParsePacketText(body.packet());
  if (!parsed.ok()) return ErrorResponse(parsed.status(), route);
  packet = *parsed;
  packet.in = in_port ? policy::DeviceRef::OfPort(in_port->id()) : policy::DeviceRef::Uplink();
  if (!body.src_mac().empty()) {
    auto mac = policy::MacAddr::Parse(body.src_mac());
    if (!mac)
      return ErrorResponse(Field("src_mac", absl::StrCat("\"", body.src_mac(), "\" is not a MAC")),
                           route);
    packet.src_mac = *mac;
  } else if (in_port != nullptr) {
    if (auto mac = policy::MacAddr::Parse(in_port->mac_address())) packet.src_mac = *mac;
  } else {
    packet.src_mac = policy::MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfd}};
  }
  if (!body.dst_mac().empty()) {
    auto mac = policy::MacAddr::Parse(body.dst_mac());
    if (!mac)
      return ErrorResponse(Field("dst_mac", absl::StrCat("\"", body.dst_mac(), "\" is not a MAC")),
                           route);
    packet.dst_mac = *mac;
  } else {
    packet.dst_mac = DestinationMac(desired, packet.dst_ip);
  }
  if (body.has_vlan()) {
    if (in_port != nullptr)
      return ErrorResponse(Field("vlan", "only frames from the uplink carry a tag"), route);
    if (body.vlan() < 1 || body.vlan() > 4094) {
      return ErrorResponse(Field("vlan", absl::StrCat(body.vlan(), " is not 1-4094")), route);
    }
    packet.vlan = static_cast<uint16_t>(body.vlan());
  }
  auto result = service_.Trace(packet, body.established());
  if (!result.ok()) return ErrorResponse(result.status(), route);
  v1::TraceVerdict reference;
  ToProto(result->reference, &reference);
  v1::TraceResponse out;
  out.set_verdict(reference.verdict());
  *out.mutable_deliveries() = reference.deliveries();
  *out.mutable_trace() = reference.trace();
  ToProto(result->installed, out.mutable_installed());
  out.set_packet(packet.ToString());
  return JsonResponse(out, route);
}

HttpResponse ApiHandlers::Events(const HttpRequest& request) {
  const std::string route = "/v1/events";
  if (request.method != "GET") return MethodNotAllowed("GET", route);
  HttpResponse response;
  response.route = route;
  agent::AgentService* service = &service_;
  response.stream = StreamStart{[service](const std::function<void(std::string)>& emit) {
    uint64_t id = service->Subscribe([emit](const agent::Event& event) {
      v1::Event out;
      out.set_time(TimeText(event.time));
      out.set_kind(event.kind);
      for (const auto& [k, v] : event.fields) (*out.mutable_fields())[k] = v;
      emit(JsonLine(out));
    });
    return std::function<void()>([service, id] { service->Unsubscribe(id); });
  }};
  return response;
}

}  // namespace vfguard::api
