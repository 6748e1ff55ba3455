// The JSON API's routes over an AgentService (see docs/api.md for the
// contract): /v1/networks, /v1/security-groups, /v1/ports (list, get, put,
// patch, delete, with generations), /v1/remote-ports and its :batch route,
// /v1/address-groups, port status/conntrack/activate, rules,
// status, trace, events, /healthz and /readyz.
//
// Call Handle() on the thread that owns the service (the reactor). Errors are
// {"error":{"code","message","field"}} with the HTTP status of their kind;
// the field comes from the validation message's path prefix.
#ifndef VFGUARD_API_HANDLERS_H_
#define VFGUARD_API_HANDLERS_H_

#include "agent/service.h"
#include "api/http_server.h"

namespace vfguard::api {

class ApiHandlers {
 public:
  explicit ApiHandlers(agent::AgentService& service) : service_(service) {}
  HttpResponse Handle(const HttpRequest& request);
  // For HttpServer: [this](const HttpRequest& r) { return Handle(r); }.
  HttpHandler AsHandler() {
    return [this](const HttpRequest& request) { return Handle(request); };
  }

 private:
  HttpResponse Networks(const HttpRequest& request, const std::string& id);
  HttpResponse Groups(const HttpRequest& request, const std::string& id);
  HttpResponse Ports(const HttpRequest& request, const std::string& id);
  HttpResponse RemotePortBatch(const HttpRequest& request);
  HttpResponse PatchPort(const HttpRequest& request, const std::string& id);
  HttpResponse ActivatePort(const HttpRequest& request, const std::string& id);
  HttpResponse PortStatus(const HttpRequest& request, const std::string& id);
  HttpResponse PortConntrack(const HttpRequest& request, const std::string& id);
  HttpResponse Rules(const HttpRequest& request);
  HttpResponse Status(const HttpRequest& request);
  HttpResponse Trace(const HttpRequest& request);
  HttpResponse Events(const HttpRequest& request);

  agent::AgentService& service_;
};

}  // namespace vfguard::api

#endif  // VFGUARD_API_HANDLERS_H_
