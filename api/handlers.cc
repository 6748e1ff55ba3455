// Routing and the desired-state resources (networks, security groups, ports).
// Status, trace, conntrack and events are in handlers_status.cc.
#include "api/handlers.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/api.pb.h"
#include "api/handlers_util.h"
#include "google/protobuf/struct.pb.h"

namespace vfguard::api {
namespace {

namespace pb = google::protobuf;

template <typename M>
struct Resource {
  const char* kind;  // "network", for messages
  const char* route_list;
  const char* route_one;
  pb::RepeatedPtrField<M>* (v1::Policy::*list)();
  const pb::RepeatedPtrField<M>& (v1::Policy::*clist)() const;
  // Conflict when deleting `id` (FailedPrecondition naming the user).
  absl::Status (*in_use)(const v1::Policy&, const std::string& id);
};

absl::Status NetworkInUse(const v1::Policy& policy, const std::string& id) {
  for (const auto& port : policy.ports()) {
    if (port.network_id() == id) {
      return absl::FailedPreconditionError(
          absl::StrCat("network ", id, " is used by port ", port.id()));
    }
  }
  return absl::OkStatus();
}

absl::Status GroupInUse(const v1::Policy& policy, const std::string& id) {
  for (const auto& port : policy.ports()) {
    for (const auto& group : port.security_group_ids()) {
      if (group == id) {
        return absl::FailedPreconditionError(
            absl::StrCat("security group ", id, " is used by port ", port.id()));
      }
    }
  }
  for (const auto& remote : policy.remote_ports()) {
    for (const auto& group : remote.security_group_ids()) {
      if (group == id) {
        return absl::FailedPreconditionError(
            absl::StrCat("security group ", id, " is used by remote port ", remote.id()));
      }
    }
  }
  for (const auto& group : policy.security_groups()) {
    if (group.id() == id) continue;
    for (const auto& rule : group.rules()) {
      if (rule.remote_group_id() == id) {
        return absl::FailedPreconditionError(
            absl::StrCat("security group ", id, " is the remote group of a rule of security group ",
                         group.id()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PortInUse(const v1::Policy&, const std::string&) { return absl::OkStatus(); }

absl::Status AddressGroupInUse(const v1::Policy& policy, const std::string& id) {
  for (const auto& group : policy.security_groups()) {
    for (const auto& rule : group.rules()) {
      if (rule.remote_address_group_id() == id) {
        return absl::FailedPreconditionError(absl::StrCat(
            "address group ", id, " is the remote of a rule of security group ", group.id()));
      }
    }
  }
  return absl::OkStatus();
}

const Resource<v1::Network> kNetworks{"network",
                                      "/v1/networks",
                                      "/v1/networks/{id}",
                                      &v1::Policy::mutable_networks,
                                      &v1::Policy::networks,
                                      &NetworkInUse};
const Resource<v1::SecurityGroup> kGroups{"security group",
                                          "/v1/security-groups",
                                          "/v1/security-groups/{id}",
                                          &v1::Policy::mutable_security_groups,
                                          &v1::Policy::security_groups,
                                          &GroupInUse};
const Resource<v1::Port> kPorts{
    "port",    "/v1/ports", "/v1/ports/{id}", &v1::Policy::mutable_ports, &v1::Policy::ports,
    &PortInUse};
const Resource<v1::RemotePort> kRemotePorts{"remote port",
                                            "/v1/remote-ports",
                                            "/v1/remote-ports/{id}",
                                            &v1::Policy::mutable_remote_ports,
                                            &v1::Policy::remote_ports,
                                            &PortInUse};
const Resource<v1::AddressGroup> kAddressGroups{"address group",
                                                "/v1/address-groups",
                                                "/v1/address-groups/{id}",
                                                &v1::Policy::mutable_address_groups,
                                                &v1::Policy::address_groups,
                                                &AddressGroupInUse};

template <typename M>
int IndexOf(const pb::RepeatedPtrField<M>& list, const std::string& id) {
  for (int i = 0; i < list.size(); ++i) {
    if (list.Get(i).id() == id) return i;
  }
  return -1;
}

// A write's generation: 0 (absent) is unconditional, anything else must
// equal the stored one (0 for an object that does not exist).
absl::Status CheckGeneration(uint64_t given, uint64_t stored, std::string_view kind,
                             const std::string& id) {
  if (given == 0 || given == stored) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat(
      absl::string_view(kind.data(), kind.size()), " ", id, ": stale generation ", given,
      stored == 0 ? " (it does not exist)" : absl::StrCat(" (current ", stored, ")")));
}

absl::Status NotFound(std::string_view kind, const std::string& id) {
  return absl::NotFoundError(
      absl::StrCat(absl::string_view(kind.data(), kind.size()), " ", id, " does not exist"));
}

template <typename M, typename L>
HttpResponse Crud(agent::AgentService& service, const Resource<M>& r, const HttpRequest& req,
                  const std::string& id, std::string_view allow_one) {
  if (id.empty()) {
    if (req.method != "GET") return MethodNotAllowed("GET", r.route_list);
    L list;
    *list.mutable_items() = (service.Desired().*r.clist)();
    return JsonResponse(list, r.route_list);
  }
  const std::string route = r.route_one;
  if (req.method == "GET") {
    const api::v1::Policy desired = service.Desired();
    const auto& items = (desired.*r.clist)();
    int i = IndexOf(items, id);
    if (i < 0) return ErrorResponse(NotFound(r.kind, id), route);
    return JsonResponse(items.Get(i), route);
  }
  if (req.method == "PUT") {
    M body;
    if (absl::Status s = ParseBody(req.body, &body); !s.ok()) return ErrorResponse(s, route);
    if (!body.id().empty() && body.id() != id) {
      return ErrorResponse(400, "invalid_argument",
                           absl::StrCat("id: ", body.id(), " differs from the path's ", id), route,
                           "id");
    }
    bool created = false;
    auto result = service.Mutate([&](v1::Policy& policy) -> absl::Status {
      auto* items = (policy.*r.list)();
      int i = IndexOf(*items, id);
      uint64_t stored = i < 0 ? 0 : items->Get(i).generation();
      if (absl::Status s = CheckGeneration(body.generation(), stored, r.kind, id); !s.ok()) {
        return s;
      }
      M next = body;
      next.set_id(id);
      next.set_generation(stored + 1);
      created = i < 0;
      if (created) {
        *items->Add() = std::move(next);
      } else {
        *items->Mutable(i) = std::move(next);
      }
      return absl::OkStatus();
    });
    if (!result.ok()) return ErrorResponse(result.status(), route);
    const auto& items = ((*result).*r.clist)();
    return JsonResponse(items.Get(IndexOf(items, id)), route, created ? 201 : 200);
  }
  if (req.method == "DELETE") {
    M body;  // optional: {"generation": N}
    if (absl::Status s = ParseBody(req.body, &body); !s.ok()) return ErrorResponse(s, route);
    M deleted;
    auto result = service.Mutate([&](v1::Policy& policy) -> absl::Status {
      auto* items = (policy.*r.list)();
      int i = IndexOf(*items, id);
      if (i < 0) return NotFound(r.kind, id);
      if (absl::Status s =
              CheckGeneration(body.generation(), items->Get(i).generation(), r.kind, id);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = r.in_use(policy, id); !s.ok()) return s;
      deleted = items->Get(i);
      items->erase(items->begin() + i);
      return absl::OkStatus();
    });
    if (!result.ok()) return ErrorResponse(result.status(), route);
    return JsonResponse(deleted, route);
  }
  return MethodNotAllowed(allow_one, route);
}

// The batch's own shape, before the state is looked at: every id present
// and named once.
absl::Status CheckBatchShape(const v1::RemotePortBatch& batch) {
  std::set<std::string> seen;
  auto check = [&seen](const std::string& id, const std::string& path) -> absl::Status {
    if (id.empty()) return absl::InvalidArgumentError(path + ": required");
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", id, " is named twice in the batch"));
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < batch.upserts_size(); ++i) {
    if (absl::Status st = check(batch.upserts(i).id(), absl::StrCat("upserts[", i, "].id"));
        !st.ok())
      return st;
  }
  if (batch.replace() && batch.deletes_size() > 0) {
    return absl::InvalidArgumentError(
        "deletes: must be empty with replace (replace deletes what upserts does not name)");
  }
  for (int i = 0; i < batch.deletes_size(); ++i) {
    if (absl::Status st = check(batch.deletes(i).id(), absl::StrCat("deletes[", i, "].id"));
        !st.ok())
      return st;
  }
  return absl::OkStatus();
}

// Applies a checked batch to `policy`; fills `deleted` (sorted ids).
absl::Status ApplyBatch(const v1::RemotePortBatch& batch, v1::Policy& policy,
                        std::vector<std::string>& deleted) {
  auto* items = policy.mutable_remote_ports();
  for (const v1::RemotePort& body : batch.upserts()) {
    int i = IndexOf(*items, body.id());
    uint64_t stored = i < 0 ? 0 : items->Get(i).generation();
    if (absl::Status st = CheckGeneration(body.generation(), stored, kRemotePorts.kind, body.id());
        !st.ok())
      return st;
    v1::RemotePort next = body;
    next.set_generation(stored + 1);
    if (i < 0) {
      *items->Add() = std::move(next);
    } else {
      *items->Mutable(i) = std::move(next);
    }
  }
  std::set<std::string> gone;
  for (const v1::RemotePortRef& ref : batch.deletes()) {
    int i = IndexOf(*items, ref.id());
    if (i < 0) return NotFound(kRemotePorts.kind, ref.id());
    if (absl::Status st = CheckGeneration(ref.generation(), items->Get(i).generation(),
                                          kRemotePorts.kind, ref.id());
        !st.ok())
      return st;
    gone.insert(ref.id());
  }
  if (batch.replace()) {
    std::set<std::string> named;
    for (const v1::RemotePort& body : batch.upserts()) named.insert(body.id());
    for (const v1::RemotePort& r : *items) {
      if (!named.contains(r.id())) gone.insert(r.id());
    }
  }
  auto last = std::remove_if(items->begin(), items->end(),
                             [&gone](const v1::RemotePort& r) { return gone.contains(r.id()); });
  items->erase(last, items->end());
  deleted.assign(gone.begin(), gone.end());
  return absl::OkStatus();
}

// The JSON names under which `field` may appear in a body.
bool Present(const pb::Struct& body, const pb::FieldDescriptor* field) {
  return body.fields().contains(field->name()) || body.fields().contains(field->json_name());
}

}  // namespace

HttpResponse ApiHandlers::Handle(const HttpRequest& request) {
  std::vector<std::string> parts;
  for (absl::string_view piece : absl::StrSplit(request.path, '/', absl::SkipEmpty())) {
    std::string decoded;
    if (!DecodeSegment(std::string_view(piece.data(), piece.size()), &decoded)) {
      return ErrorResponse(400, "invalid_argument",
                           absl::StrCat("malformed percent-escape in path ", request.path),
                           "other");
    }
    parts.push_back(std::move(decoded));
  }
  auto is_get = [&](std::string route) -> std::optional<HttpResponse> {
    if (request.method == "GET") return std::nullopt;
    return MethodNotAllowed("GET", std::move(route));
  };
  if (parts.size() == 1 && parts[0] == "healthz") {
    if (auto bad = is_get("/healthz")) return *bad;
    HttpResponse response;
    response.body = "{\"status\":\"ok\"}\n";
    response.route = "/healthz";
    return response;
  }
  if (parts.size() == 1 && parts[0] == "readyz") {
    if (auto bad = is_get("/readyz")) return *bad;
    HttpResponse response;
    response.route = "/readyz";
    bool ready = service_.Status().ready;
    response.status = ready ? 200 : 503;
    response.body = ready ? "{\"status\":\"ready\"}\n"
                          : ErrorBody("unavailable", "the first full reconcile has not finished");
    return response;
  }
  if (parts.empty() || parts[0] != "v1" || parts.size() < 2) {
    return ErrorResponse(404, "not_found", absl::StrCat("no route ", request.path), "other");
  }
  const std::string& collection = parts[1];
  std::string id = parts.size() > 2 ? parts[2] : "";
  if (collection == "networks" && parts.size() <= 3) return Networks(request, id);
  if (collection == "security-groups" && parts.size() <= 3) return Groups(request, id);
  if (collection == "ports" && parts.size() <= 3) return Ports(request, id);
  if (collection == "remote-ports" && parts.size() <= 3) {
    return Crud<v1::RemotePort, v1::RemotePortList>(service_, kRemotePorts, request, id,
                                                    "GET, PUT, DELETE");
  }
  if (collection == "remote-ports:batch" && parts.size() == 2) return RemotePortBatch(request);
  if (collection == "address-groups" && parts.size() <= 3) {
    return Crud<v1::AddressGroup, v1::AddressGroupList>(service_, kAddressGroups, request, id,
                                                        "GET, PUT, DELETE");
  }
  if (collection == "ports" && parts.size() == 4) {
    if (parts[3] == "status") return PortStatus(request, id);
    if (parts[3] == "conntrack") return PortConntrack(request, id);
    if (parts[3] == "activate") return ActivatePort(request, id);
  }
  if (parts.size() == 2) {
    if (collection == "rules") return Rules(request);
    if (collection == "status") return Status(request);
    if (collection == "trace") return Trace(request);
    if (collection == "events") return Events(request);
  }
  return ErrorResponse(404, "not_found", absl::StrCat("no route ", request.path), "other");
}

HttpResponse ApiHandlers::Networks(const HttpRequest& request, const std::string& id) {
  return Crud<v1::Network, v1::NetworkList>(service_, kNetworks, request, id, "GET, PUT, DELETE");
}

HttpResponse ApiHandlers::Groups(const HttpRequest& request, const std::string& id) {
  return Crud<v1::SecurityGroup, v1::SecurityGroupList>(service_, kGroups, request, id,
                                                        "GET, PUT, DELETE");
}

HttpResponse ApiHandlers::Ports(const HttpRequest& request, const std::string& id) {
  if (!id.empty() && request.method == "PATCH") return PatchPort(request, id);
  return Crud<v1::Port, v1::PortList>(service_, kPorts, request, id, "GET, PUT, PATCH, DELETE");
}

HttpResponse ApiHandlers::RemotePortBatch(const HttpRequest& request) {
  const std::string route = "/v1/remote-ports:batch";
  if (request.method != "POST") return MethodNotAllowed("POST", route);
  v1::RemotePortBatch batch;
  if (absl::Status s = ParseBody(request.body, &batch); !s.ok()) return ErrorResponse(s, route);
  if (absl::Status s = CheckBatchShape(batch); !s.ok()) return ErrorResponse(s, route);
  std::vector<std::string> deleted;
  auto result = service_.Mutate(
      [&](v1::Policy& policy) -> absl::Status { return ApplyBatch(batch, policy, deleted); });
  if (!result.ok()) return ErrorResponse(result.status(), route);
  v1::RemotePortBatchResult answer;
  for (const v1::RemotePort& body : batch.upserts()) {
    *answer.add_upserted() = result->remote_ports(IndexOf(result->remote_ports(), body.id()));
  }
  for (std::string& id : deleted) answer.add_deleted(std::move(id));
  return JsonResponse(answer, route);
}

HttpResponse ApiHandlers::PatchPort(const HttpRequest& request, const std::string& id) {
  const std::string route = "/v1/ports/{id}";
  v1::PortPatch patch;
  if (absl::Status s = ParseBody(request.body, &patch); !s.ok()) return ErrorResponse(s, route);
  // Which fields the body names: a present empty list clears, an absent one
  // is left alone (proto3 lists have no presence of their own).
  pb::Struct shape;
  if (absl::Status s = ParseBody(request.body, &shape); !s.ok()) return ErrorResponse(s, route);
  const pb::Descriptor* d = v1::PortPatch::descriptor();
  auto result = service_.Mutate([&](v1::Policy& policy) -> absl::Status {
    int i = IndexOf(policy.ports(), id);
    if (i < 0) return NotFound("port", id);
    v1::Port* port = policy.mutable_ports(i);
    if (absl::Status s = CheckGeneration(patch.generation(), port->generation(), "port", id);
        !s.ok()) {
      return s;
    }
    if (Present(shape, d->FindFieldByName("vips"))) *port->mutable_vips() = patch.vips();
    if (Present(shape, d->FindFieldByName("allowed_address_pairs"))) {
      *port->mutable_allowed_address_pairs() = patch.allowed_address_pairs();
    }
    if (Present(shape, d->FindFieldByName("security_group_ids"))) {
      *port->mutable_security_group_ids() = patch.security_group_ids();
    }
    if (Present(shape, d->FindFieldByName("state"))) port->set_state(patch.state());
    port->set_generation(port->generation() + 1);
    return absl::OkStatus();
  });
  if (!result.ok()) return ErrorResponse(result.status(), route);
  return JsonResponse(result->ports(IndexOf(result->ports(), id)), route);
}

HttpResponse ApiHandlers::ActivatePort(const HttpRequest& request, const std::string& id) {
  const std::string route = "/v1/ports/{id}/activate";
  if (request.method != "POST") return MethodNotAllowed("POST", route);
  v1::PortPatch body;  // optional {"generation": N}
  if (absl::Status s = ParseBody(request.body, &body); !s.ok()) return ErrorResponse(s, route);
  auto result = service_.Mutate([&](v1::Policy& policy) -> absl::Status {
    int i = IndexOf(policy.ports(), id);
    if (i < 0) return NotFound("port", id);
    v1::Port* port = policy.mutable_ports(i);
    if (absl::Status s = CheckGeneration(body.generation(), port->generation(), "port", id);
        !s.ok()) {
      return s;
    }
    port->set_state("active");
    port->set_generation(port->generation() + 1);
    return absl::OkStatus();
  });
  if (!result.ok()) return ErrorResponse(result.status(), route);
  return JsonResponse(result->ports(IndexOf(result->ports(), id)), route);
}

}  // namespace vfguard::api
