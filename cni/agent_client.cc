#include "cni/agent_client.h"

#include "absl/strings/str_cat.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"

namespace vfguard::cni {
namespace {

class UnixTransport : public Transport {
 public:
  UnixTransport(std::string path, absl::Duration timeout) : client_(std::move(path), timeout) {}
  absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view target,
                                  std::string_view body) override {
    return client_.Do(method, target, body);
  }
  std::string Where() const override { return client_.socket_path(); }

 private:
  agentctl::UnixHttpClient client_;
};

std::string PortPath(const std::string& id) {
  return "/v1/ports/" + agentctl::EscapePathSegment(id);
}

// The agent's error answer as a CNI-coded status: message and field from its
// {"error": {"code", "message", "field"}} body.
absl::Status AnswerError(const HttpResponse& r, absl::string_view what) {
  std::string message = r.body, code, field;
  if (absl::StatusOr<Json> body = agentctl::ParseJson(r.body); body.ok()) {
    if (const Json* e = agentctl::Field(*body, "error"); e != nullptr) {
      message = agentctl::FieldText(*e, "message", "");
      code = agentctl::FieldText(*e, "code", "");
      field = agentctl::FieldText(*e, "field", "");
    }
  }
  std::string details = absl::StrCat("HTTP ", r.status, code.empty() ? "" : " ", code);
  if (!field.empty()) absl::StrAppend(&details, "; field ", field);
  int cni_code = (r.status == 400 || r.status == 409) ? kAgentRefused : kIoFailure;
  if (r.status == 503) cni_code = kTryAgainLater;
  return CniStatus(cni_code, absl::StrCat("the vfguard agent refused ", what, ": ", message),
                   details);
}

}  // namespace

std::unique_ptr<Transport> UnixSocketTransport(const std::string& socket_path,
                                               absl::Duration timeout) {
  return std::make_unique<UnixTransport>(socket_path, timeout);
}

absl::StatusOr<HttpResponse> AgentClient::Call(absl::string_view method, const std::string& target,
                                               absl::string_view body, absl::string_view what) {
  absl::StatusOr<HttpResponse> r =
      transport_.Do(std::string_view(method.data(), method.size()), target,
                    std::string_view(body.data(), body.size()));
  if (!r.ok()) {
    return CniStatus(kTryAgainLater,
                     absl::StrCat("cannot reach the vfguard agent at ", transport_.Where(), " to ",
                                  what, ": ", r.status().message()),
                     "the agent is down or its socket path is wrong (\"socket\" in the config)");
  }
  return r;
}

absl::StatusOr<Json> AgentClient::PutPort(const std::string& id, const Json& port) {
  const std::string what = absl::StrCat("PUT port ", id);
  absl::StatusOr<HttpResponse> r = Call("PUT", PortPath(id), agentctl::ToJson(port, true), what);
  if (!r.ok()) return r.status();
  if (r->status != 200 && r->status != 201) return AnswerError(*r, what);
  return agentctl::ParseJson(r->body);
}

absl::StatusOr<std::optional<Json>> AgentClient::GetOptional(const std::string& target,
                                                             absl::string_view what) {
  absl::StatusOr<HttpResponse> r = Call("GET", target, "", what);
  if (!r.ok()) return r.status();
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) return AnswerError(*r, what);
  absl::StatusOr<Json> body = agentctl::ParseJson(r->body);
  if (!body.ok()) return body.status();
  return std::optional<Json>(*std::move(body));
}

absl::StatusOr<std::optional<Json>> AgentClient::GetPort(const std::string& id) {
  return GetOptional(PortPath(id), absl::StrCat("GET port ", id));
}

absl::StatusOr<std::optional<Json>> AgentClient::PortStatus(const std::string& id) {
  return GetOptional(PortPath(id) + "/status", absl::StrCat("GET the status of port ", id));
}

absl::StatusOr<bool> AgentClient::DeletePort(const std::string& id) {
  const std::string what = absl::StrCat("DELETE port ", id);
  absl::StatusOr<HttpResponse> r = Call("DELETE", PortPath(id), "", what);
  if (!r.ok()) return r.status();
  if (r->status == 404) return false;
  if (r->status != 200 && r->status != 204) return AnswerError(*r, what);
  return true;
}

absl::StatusOr<bool> AgentClient::Ready() {
  absl::StatusOr<HttpResponse> r = Call("GET", "/readyz", "", "ask whether it is ready");
  if (!r.ok()) return r.status();
  if (r->status == 200) return true;
  if (r->status == 503) return false;
  return AnswerError(*r, "GET /readyz");
}

}  // namespace vfguard::cni
