// agentctl's commands: each turns its arguments into API requests and the
// answers into a table, JSON or YAML on `out`. They return the process exit
// status; failures (agent unreachable, HTTP errors with the API's code,
// message and field, bad input files) are printed to `err` as
// "agentctl: ..." and give 1.
#ifndef VFGUARD_TOOLS_AGENTCTL_COMMANDS_H_
#define VFGUARD_TOOLS_AGENTCTL_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "tools/agentctl/http_client.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::agentctl {

enum class Format { kTable, kJson, kYaml };

struct Context {
  UnixHttpClient* client;
  Format format = Format::kTable;
  std::ostream* out;
  std::ostream* err;
};

// One API call; the parsed JSON answer (null for an empty body). An HTTP
// status >= 400 becomes an error whose message is
// "<status> <code>: <message> (field <field>)" from the API's error object.
absl::StatusOr<Json> Call(Context& ctx, std::string_view method, const std::string& path,
                          const std::string& body = "");
// The error of a response with status >= 400, formatted as Call's.
absl::Status HttpError(const HttpResponse& response);
// Prints `status` as "agentctl: <message>" and returns 1.
int Fail(Context& ctx, const absl::Status& status);
// Prints `value` as JSON or YAML; for tables calls `table`.
void Print(Context& ctx, const Json& value, const std::function<std::string()>& table);

// Reads.
int CmdStatus(Context& ctx);
int CmdPorts(Context& ctx);
int CmdPortShow(Context& ctx, const std::string& id);
int CmdGroups(Context& ctx);
int CmdNetworks(Context& ctx);
int CmdRemotePorts(Context& ctx);
int CmdAddressGroups(Context& ctx);
// `kind` is "remote-port" or "address-group".
int CmdRemoteShow(Context& ctx, const std::string& kind, const std::string& id);
int CmdRules(Context& ctx, const std::string& port_id);  // empty: shared rules
int CmdConntrack(Context& ctx, const std::string& port_id);
// An empty `port_id` traces from the uplink. Exits 2 when the installed
// rules disagree with the reference evaluator.
// vlan: the 802.1Q tag of a frame from the uplink (0: untagged).
int CmdTrace(Context& ctx, const std::string& port_id, const std::string& packet, bool established,
             uint32_t vlan = 0);
// Without `follow`, stops once no event arrived for `idle`.
int CmdEvents(Context& ctx, bool follow, absl::Duration idle);

// Writes.
// Remote ports go in one POST /v1/remote-ports:batch; `prune_remote_ports`
// makes it a replace (the agent's remote ports the file does not list go).
int CmdApply(Context& ctx, const std::string& file, bool prune_remote_ports = false);
int CmdDelete(Context& ctx, const std::string& kind, const std::string& id);
int CmdMigrateExport(Context& ctx, const std::string& port_id, const std::string& file);
int CmdMigrateImport(Context& ctx, const std::string& port_id, const std::string& file);
int CmdMigrateActivate(Context& ctx, const std::string& port_id);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_COMMANDS_H_
