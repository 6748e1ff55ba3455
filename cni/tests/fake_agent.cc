#include "cni/tests/fake_agent.h"

#include "absl/strings/str_cat.h"

namespace vfguard::cni {
namespace {

HttpResponse Answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view message,
                   std::string_view field = {}) {
  std::string body = R"({"error": {"code": ")" + std::string(code) + R"(", "message": ")" +
                     std::string(message) + "\"";
  if (!field.empty()) body += R"(, "field": ")" + std::string(field) + "\"";
  return Answer(status, body + "}}");
}

}  // namespace

absl::StatusOr<HttpResponse> FakeAgent::Do(std::string_view method, std::string_view target,
                                           std::string_view body) {
  requests.push_back(std::string(method) + " " + std::string(target));
  if (down) {
    return absl::UnavailableError(
        "cannot connect to /fake/agent.sock: Connection refused; is vfguard-agent running?");
  }
  if (target == "/readyz")
    return ready ? Answer(200, "ok") : Error(503, "unavailable", "not ready");
  constexpr std::string_view kPorts = "/v1/ports/";
  if (target.substr(0, kPorts.size()) != kPorts) return Error(404, "not_found", "no route");
  std::string id(target.substr(kPorts.size()));
  bool status = false;
  if (size_t slash = id.find('/'); slash != std::string::npos) {
    status = id.substr(slash) == "/status";
    id = id.substr(0, slash);
  }
  auto it = ports.find(id);
  if (status) {
    if (it == ports.end()) return Error(404, "not_found", "no port " + id);
    bool installed = polls_[id]++ >= polls_until_installed;
    return Answer(200, absl::StrCat(R"({"id": ")", id, R"(", "representor": "rep_x", )",
                                    R"("representor_present": true, "installed": )",
                                    installed ? "true" : "false", "}"));
  }
  if (method == "GET") {
    if (it == ports.end()) return Error(404, "not_found", "no port " + id);
    return Answer(200, agentctl::ToJson(it->second, true));
  }
  if (method == "DELETE") {
    if (it == ports.end()) return Error(404, "not_found", "no port " + id);
    std::string old = agentctl::ToJson(it->second, true);
    ports.erase(it);
    return Answer(200, old);
  }
  if (method == "PUT") {
    absl::StatusOr<Json> port = agentctl::ParseJson(body);  // std::string_view
    if (!port.ok()) return Error(400, "invalid_argument", "bad json");
    int i = 0;
    for (const Json* g : agentctl::Items(agentctl::Field(*port, "security_group_ids"))) {
      if (!groups.contains(g->string_value())) {
        std::string field = absl::StrCat("ports[", id, "].security_group_ids[", i, "]");
        return Error(400, "invalid_argument",
                     absl::StrCat(field, R"(: no security group \")", g->string_value(), R"(\")"),
                     field);
      }
      ++i;
    }
    bool created = it == ports.end();
    ports[id] = *port;
    polls_[id] = 0;
    return Answer(created ? 201 : 200, agentctl::ToJson(*port, true));
  }
  return Error(405, "method_not_allowed", "no");
}

}  // namespace vfguard::cni
