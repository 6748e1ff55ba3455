// Commands that change the agent's desired state: apply, delete, migrate.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "api/api.pb.h"
#include "api/vfguard.pb.h"
#include "common/json_message.h"
#include "tools/agentctl/commands.h"

namespace vfguard::agentctl {
namespace {

std::string PortPath(const std::string& id) { return "/v1/ports/" + EscapePathSegment(id); }

// The whole of `file` ("-" is standard input).
absl::StatusOr<std::string> ReadInput(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(file + ": " + strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(file + ": read error");
  return buffer.str();
}

// The file's remote ports in one POST /v1/remote-ports:batch (one write
// however many there are; with `prune`, the agent's other remote ports go).
int ApplyRemotePorts(Context& ctx, const api::v1::Policy& policy, bool prune) {
  api::v1::RemotePortBatch batch;
  *batch.mutable_upserts() = policy.remote_ports();
  batch.set_replace(prune);
  absl::StatusOr<Json> answer =
      Call(ctx, "POST", "/v1/remote-ports:batch", common::PrintJsonMessage(batch));
  if (!answer.ok()) {
    return Fail(ctx, absl::Status(answer.status().code(),
                                  "remote-ports:batch: " + std::string(answer.status().message())));
  }
  for (const Json* r : Items(Field(*answer, "upserted"))) {
    *ctx.out << "remote-port/" << FieldText(*r, "id", "?") << " configured (generation "
             << FieldText(*r, "generation", "?") << ")\n";
  }
  for (const Json* id : Items(Field(*answer, "deleted"))) {
    *ctx.out << "remote-port/" << id->string_value() << " deleted\n";
  }
  return 0;
}

}  // namespace

int CmdApply(Context& ctx, const std::string& file, bool prune_remote_ports) {
  absl::StatusOr<std::string> text = ReadInput(file);
  if (!text.ok()) return Fail(ctx, text.status());
  api::v1::Policy policy;
  if (absl::Status s = common::ParseJsonMessage(*text, &policy); !s.ok()) {
    return Fail(ctx, absl::InvalidArgumentError(file + ": " + std::string(s.message())));
  }
  // Networks before the groups and ports that refer to them, address groups
  // before the groups whose rules name them, groups before the ports and
  // remote ports that use them: each PUT is validated whole by the agent.
  // Remote ports go last, all in one batch.
  struct Item {
    const char* kind;
    std::string path;
    std::string body;
  };
  std::vector<Item> items;
  for (const auto& n : policy.networks()) {
    items.push_back(
        {"network", "/v1/networks/" + EscapePathSegment(n.id()), common::PrintJsonMessage(n)});
  }
  for (const auto& a : policy.address_groups()) {  // named by group rules
    items.push_back({"address-group", "/v1/address-groups/" + EscapePathSegment(a.id()),
                     common::PrintJsonMessage(a)});
  }
  for (const auto& g : policy.security_groups()) {
    items.push_back({"security-group", "/v1/security-groups/" + EscapePathSegment(g.id()),
                     common::PrintJsonMessage(g)});
  }
  for (const auto& p : policy.ports()) {
    items.push_back({"port", PortPath(p.id()), common::PrintJsonMessage(p)});
  }
  for (const Item& item : items) {
    absl::StatusOr<Json> answer = Call(ctx, "PUT", item.path, item.body);
    std::string id = item.path.substr(item.path.rfind('/') + 1);
    if (!answer.ok()) {
      return Fail(ctx,
                  absl::Status(answer.status().code(), std::string(item.kind) + "/" + id + ": " +
                                                           std::string(answer.status().message())));
    }
    *ctx.out << item.kind << "/" << id << " configured (generation "
             << FieldText(*answer, "generation", "?") << ")\n";
  }
  if (policy.remote_ports_size() > 0 || prune_remote_ports) {
    if (int rc = ApplyRemotePorts(ctx, policy, prune_remote_ports); rc != 0) return rc;
  } else if (items.empty()) {
    *ctx.out << file << ": nothing to apply\n";
  }
  return 0;
}

int CmdDelete(Context& ctx, const std::string& kind, const std::string& id) {
  std::string collection = kind == "port"            ? "ports"
                           : kind == "group"         ? "security-groups"
                           : kind == "remote-port"   ? "remote-ports"
                           : kind == "address-group" ? "address-groups"
                                                     : "networks";
  absl::StatusOr<Json> answer =
      Call(ctx, "DELETE", "/v1/" + collection + "/" + EscapePathSegment(id));
  if (!answer.ok()) return Fail(ctx, answer.status());
  *ctx.out << kind << "/" << id << " deleted\n";
  return 0;
}

int CmdMigrateExport(Context& ctx, const std::string& port_id, const std::string& file) {
  absl::StatusOr<Json> port = Call(ctx, "GET", PortPath(port_id));
  if (!port.ok()) return Fail(ctx, port.status());
  absl::StatusOr<Json> conntrack = Call(ctx, "GET", PortPath(port_id) + "/conntrack");
  if (!conntrack.ok()) return Fail(ctx, conntrack.status());
  Json doc;
  auto& fields = *doc.mutable_struct_value()->mutable_fields();
  fields["port"] = *port;
  fields["conntrack"] = *conntrack;
  std::string text = ToJson(doc) + "\n";
  size_t entries = Items(Field(*conntrack, "entries")).size();
  if (file.empty() || file == "-") {
    *ctx.out << text;
    return 0;
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Fail(ctx, absl::DataLossError(file + ": " + strerror(errno)));
  *ctx.err << "exported port/" << port_id << " with " << entries << " conntrack entries to " << file
           << "\n";
  return 0;
}

int CmdMigrateImport(Context& ctx, const std::string& port_id, const std::string& file) {
  absl::StatusOr<std::string> text = ReadInput(file);
  if (!text.ok()) return Fail(ctx, text.status());
  absl::StatusOr<Json> doc = ParseJson(*text);
  if (!doc.ok())
    return Fail(ctx, absl::InvalidArgumentError(file + ": " + std::string(doc.status().message())));
  // Either a `migrate export` document or a bare {"entries": [...]}.
  const Json* conntrack = Field(*doc, "conntrack");
  const Json* entries = Field(conntrack != nullptr ? *conntrack : *doc, "entries");
  if (entries == nullptr || entries->kind_case() != Json::kListValue) {
    return Fail(ctx, absl::InvalidArgumentError(
                         file + ": conntrack.entries: missing (expected the output of "
                                "`agentctl migrate export`)"));
  }
  Json request;
  (*request.mutable_struct_value()->mutable_fields())["entries"] = *entries;
  absl::StatusOr<Json> answer =
      Call(ctx, "POST", PortPath(port_id) + "/conntrack", ToJson(request, true));
  if (!answer.ok()) return Fail(ctx, answer.status());
  Print(ctx, *answer, [&] {
    return "imported " + FieldText(*answer, "created", "0") + " of " +
           std::to_string(Items(entries).size()) + " conntrack entries into port/" + port_id + "\n";
  });
  return 0;
}

int CmdMigrateActivate(Context& ctx, const std::string& port_id) {
  absl::StatusOr<Json> answer = Call(ctx, "POST", PortPath(port_id) + "/activate", "{}");
  if (!answer.ok()) return Fail(ctx, answer.status());
  Print(ctx, *answer, [&] { return "port/" + port_id + " activated\n"; });
  return 0;
}

}  // namespace vfguard::agentctl
