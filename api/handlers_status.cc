// Read-side routes (port status, rules, agent status), conntrack export and
// import, packet trace and the event stream.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/api.pb.h"
#include "api/handlers.h"
#include "api/handlers_util.h"

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
    for (auto& e : *entries) *out.add_entries() = std::move(e);
    return JsonResponse(out, route);
  }
  if (request.method != "POST") return MethodNotAllowed("GET, POST", route);
  v1::ConntrackImport body;
  if (absl::Status s = ParseBody(request.body, &body); !s.ok()) return ErrorResponse(s, route);
  auto created = service_.ImportConntrack(id, body);
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
  // An unknown in_port is a 404 naming the field; the service checks the
  // rest of the request (agent/service.h).
  if (!body.in_port().empty() && body.in().empty()) {
    const v1::Policy desired = service_.Desired();
    const auto& ports = desired.ports();
    if (std::none_of(ports.begin(), ports.end(),
                     [&](const v1::Port& p) { return p.id() == body.in_port(); })) {
      return ErrorResponse(404, "not_found",
                           absl::StrCat("in_port: port ", body.in_port(), " does not exist"), route,
                           "in_port");
    }
  }
  auto result = service_.Trace(body);
  if (!result.ok()) return ErrorResponse(result.status(), route);
  return JsonResponse(*result, route);
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
