// Read-only commands: status, listings, rules, conntrack, trace, events.
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tools/agentctl/commands.h"
#include "tools/agentctl/table.h"

namespace vfguard::agentctl {
namespace {

std::string PortPath(const std::string& id) { return "/v1/ports/" + EscapePathSegment(id); }

// "active=3 pending-activation=1" from {"active":3,...}.
std::string Counts(const Json* map) {
  if (map == nullptr || map->kind_case() != Json::kStructValue ||
      map->struct_value().fields().empty()) {
    return "<none>";
  }
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : map->struct_value().fields()) sorted[k] = Text(&v);
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : " ") + k + "=" + v;
  return out;
}

std::string RulesTable(const Json* rules) {
  Table table({"CHAIN", "PRIO", "MATCH", "ACTION", "PLACEMENT", "PACKETS", "BYTES"});
  for (const Json* rule : Items(rules)) {
    std::string placement = FieldText(*rule, "placement");
    std::string hw_error = FieldText(*rule, "hw_error", "");
    if (!hw_error.empty()) placement += " (" + hw_error + ")";
    table.AddRow({FieldText(*rule, "chain"), FieldText(*rule, "prio"), FieldText(*rule, "match"),
                  FieldText(*rule, "actions"), placement, FieldText(*rule, "packets", "0"),
                  FieldText(*rule, "bytes", "0")});
  }
  return table.Render();
}

// Flattens nested objects into dotted keys ("orig.src").
void Flatten(const Json& value, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (value.kind_case() == Json::kStructValue) {
    std::map<std::string, const Json*> sorted;
    for (const auto& [k, v] : value.struct_value().fields()) sorted[k] = &v;
    for (const auto& [k, v] : sorted) Flatten(*v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out.emplace_back(prefix, Text(&value));
}

// A table whose columns are the union of the entries' (flattened) keys.
std::string GenericTable(const Json* list) {
  std::vector<std::string> columns;
  std::vector<std::map<std::string, std::string>> rows;
  for (const Json* item : Items(list)) {
    std::vector<std::pair<std::string, std::string>> cells;
    Flatten(*item, "", cells);
    std::map<std::string, std::string> row;
    for (auto& [k, v] : cells) {
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
      row[k] = v;
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> headers;
  for (const std::string& c : columns) {
    std::string h = c;
    for (char& ch : h) ch = ch == '_' ? '-' : static_cast<char>(std::toupper(ch));
    headers.push_back(h);
  }
  Table table(headers);
  for (auto& row : rows) {
    std::vector<std::string> cells;
    for (const std::string& c : columns) cells.push_back(row.count(c) ? row[c] : "<none>");
    table.AddRow(std::move(cells));
  }
  return table.Render();
}

// GET a list resource and print it with `columns` (header, field) pairs.
int List(
    Context& ctx, const std::string& path,
    const std::vector<std::pair<std::string, std::function<std::string(const Json&)>>>& columns) {
  absl::StatusOr<Json> answer = Call(ctx, "GET", path);
  if (!answer.ok()) return Fail(ctx, answer.status());
  Print(ctx, *answer, [&] {
    std::vector<std::string> headers;
    for (const auto& c : columns) headers.push_back(c.first);
    Table table(headers);
    for (const Json* item : Items(Field(*answer, "items"))) {
      std::vector<std::string> cells;
      for (const auto& c : columns) cells.push_back(c.second(*item));
      table.AddRow(std::move(cells));
    }
    if (table.rows() == 0) return std::string("No resources found.\n");
    return table.Render();
  });
  return 0;
}

std::function<std::string(const Json&)> F(std::string key, std::string none = "<none>") {
  return [key, none](const Json& item) { return FieldText(item, key, none); };
}

std::string VerdictText(const Json& v) {
  std::string verdict = FieldText(v, "verdict", "?");
  std::vector<std::string> outs;
  for (const Json* d : Items(Field(v, "deliveries"))) {
    std::string out = FieldText(*d, "out", "?");
    std::string vlan = FieldText(*d, "vlan", "");
    if (!vlan.empty() && vlan != "0") out += " (vlan " + vlan + ")";
    outs.push_back(out);
  }
  if (outs.empty()) return verdict;
  std::string joined;
  for (const std::string& o : outs) joined += (joined.empty() ? "" : ", ") + o;
  return verdict + " to " + joined;
}

std::string TraceSteps(const Json& v) {
  std::string out;
  int n = 1;
  for (const Json* step : Items(Field(v, "trace"))) {
    out += "  " + std::to_string(n++) + ". " + Text(step) + "\n";
  }
  return out;
}

}  // namespace

int CmdStatus(Context& ctx) {
  absl::StatusOr<Json> s = Call(ctx, "GET", "/v1/status");
  if (!s.ok()) return Fail(ctx, s.status());
  Print(ctx, *s, [&] {
    return RenderFields({
        {"Ready", FieldText(*s, "ready", "false")},
        {"Version", FieldText(*s, "version")},
        {"Started", FieldText(*s, "started")},
        {"Last reconcile", FieldText(*s, "last_reconcile")},
        {"Last reconcile duration", FieldText(*s, "last_reconcile_duration_seconds")},
        {"Last reconcile error", FieldText(*s, "last_reconcile_error", "none")},
        {"Reconciles", FieldText(*s, "reconciles", "0")},
        {"Resyncs", FieldText(*s, "resyncs", "0")},
        {"Ports", Counts(Field(*s, "ports_by_state"))},
        {"Rules", Counts(Field(*s, "rules_by_placement"))},
        {"Block", FieldText(*s, "block_index")},
    });
  });
  return 0;
}

int CmdPorts(Context& ctx) {
  return List(ctx, "/v1/ports",
              {{"ID", F("id")},
               {"NETWORK", F("network_id")},
               {"MAC", F("mac_address")},
               {"STATE", F("state", "active")},
               {"FIXED-IPS", F("fixed_ips")},
               {"VIPS", F("vips")},
               {"GROUPS", F("security_group_ids")},
               {"GENERATION", F("generation", "0")}});
}

int CmdGroups(Context& ctx) {
  return List(
      ctx, "/v1/security-groups",
      {{"ID", F("id")},
       {"STATEFUL", F("stateful", "true")},
       {"RULES", [](const Json& g) { return std::to_string(Items(Field(g, "rules")).size()); }},
       {"GENERATION", F("generation", "0")}});
}

int CmdNetworks(Context& ctx) {
  return List(ctx, "/v1/networks",
              {{"ID", F("id")},
               {"SEGMENTATION", F("segmentation", "flat")},
               {"VLAN", F("vlan_id", "<none>")},
               {"GENERATION", F("generation", "0")}});
}

int CmdRemotePorts(Context& ctx) {
  return List(ctx, "/v1/remote-ports",
              {{"ID", F("id")},
               {"ADDRESSES", F("addresses")},
               {"GROUPS", F("security_group_ids")},
               {"GENERATION", F("generation", "0")}});
}

int CmdAddressGroups(Context& ctx) {
  return List(ctx, "/v1/address-groups",
              {{"ID", F("id")}, {"CIDRS", F("cidrs")}, {"GENERATION", F("generation", "0")}});
}

int CmdRemoteShow(Context& ctx, const std::string& kind, const std::string& id) {
  const bool remote_port = kind == "remote-port";
  absl::StatusOr<Json> object =
      Call(ctx, "GET",
           std::string(remote_port ? "/v1/remote-ports/" : "/v1/address-groups/") +
               EscapePathSegment(id));
  if (!object.ok()) return Fail(ctx, object.status());
  Print(ctx, *object, [&] {
    if (remote_port) {
      return RenderFields({{"ID", FieldText(*object, "id")},
                           {"Addresses", FieldText(*object, "addresses", "<none>")},
                           {"Security groups", FieldText(*object, "security_group_ids", "<none>")},
                           {"Generation", FieldText(*object, "generation", "0")}});
    }
    return RenderFields({{"ID", FieldText(*object, "id")},
                         {"CIDRs", FieldText(*object, "cidrs", "<none>")},
                         {"Generation", FieldText(*object, "generation", "0")}});
  });
  return 0;
}

int CmdPortShow(Context& ctx, const std::string& id) {
  absl::StatusOr<Json> port = Call(ctx, "GET", PortPath(id));
  if (!port.ok()) return Fail(ctx, port.status());
  absl::StatusOr<Json> status = Call(ctx, "GET", PortPath(id) + "/status");
  if (!status.ok()) return Fail(ctx, status.status());
  Json both;
  (*both.mutable_struct_value()->mutable_fields())["port"] = *port;
  (*both.mutable_struct_value()->mutable_fields())["status"] = *status;
  Print(ctx, both, [&] {
    std::string representor = FieldText(*status, "representor");
    representor += Truthy(Field(*status, "representor_present")) ? " (present)" : " (absent)";
    std::string pairs;
    for (const Json* p : Items(Field(*port, "allowed_address_pairs"))) {
      pairs += (pairs.empty() ? "" : ",") + FieldText(*p, "ip_address");
      std::string mac = FieldText(*p, "mac_address", "");
      if (!mac.empty()) pairs += "/" + mac;
    }
    std::string out = RenderFields({
        {"ID", FieldText(*port, "id")},
        {"Network", FieldText(*port, "network_id")},
        {"MAC", FieldText(*port, "mac_address")},
        {"Fixed IPs", FieldText(*port, "fixed_ips")},
        {"VIPs", FieldText(*port, "vips")},
        {"Allowed address pairs", pairs.empty() ? "<none>" : pairs},
        {"Security groups", FieldText(*port, "security_group_ids")},
        {"Port security", FieldText(*port, "port_security_enabled", "true")},
        {"Generation", FieldText(*port, "generation", "0")},
        {"State", FieldText(*status, "state")},
        {"Representor", representor},
        {"Slot", FieldText(*status, "slot")},
        {"Conntrack zone", FieldText(*status, "zone")},
        {"Dropped packets", FieldText(*status, "dropped_packets", "0")},
    });
    return out + "Rules:\n" + RulesTable(Field(*status, "rules"));
  });
  return 0;
}

int CmdRules(Context& ctx, const std::string& port_id) {
  absl::StatusOr<Json> answer =
      Call(ctx, "GET", port_id.empty() ? "/v1/rules" : PortPath(port_id) + "/status");
  if (!answer.ok()) return Fail(ctx, answer.status());
  const Json* rules = Field(*answer, port_id.empty() ? "items" : "rules");
  Json items;
  if (rules != nullptr) (*items.mutable_struct_value()->mutable_fields())["items"] = *rules;
  Print(ctx, items, [&] { return RulesTable(rules); });
  return 0;
}

int CmdConntrack(Context& ctx, const std::string& port_id) {
  absl::StatusOr<Json> answer = Call(ctx, "GET", PortPath(port_id) + "/conntrack");
  if (!answer.ok()) return Fail(ctx, answer.status());
  Print(ctx, *answer, [&] {
    std::string out = "Zone: " + FieldText(*answer, "zone") + "\n";
    if (Items(Field(*answer, "entries")).empty()) return out + "No entries.\n";
    return out + GenericTable(Field(*answer, "entries"));
  });
  return 0;
}

int CmdTrace(Context& ctx, const std::string& port_id, const std::string& packet, bool established,
             uint32_t vlan) {
  Json request;
  auto& fields = *request.mutable_struct_value()->mutable_fields();
  if (port_id.empty()) {
    fields["in"] = JsonString("uplink");
  } else {
    fields["in_port"] = JsonString(port_id);
  }
  fields["packet"] = JsonString(packet);
  fields["established"] = JsonBool(established);
  if (vlan != 0) fields["vlan"].set_number_value(vlan);
  absl::StatusOr<Json> answer = Call(ctx, "POST", "/v1/trace", ToJson(request, true));
  if (!answer.ok()) return Fail(ctx, answer.status());
  const Json* installed = Field(*answer, "installed");
  bool agree = installed == nullptr || VerdictText(*installed) == VerdictText(*answer);
  Print(ctx, *answer, [&] {
    std::string out = "Reference:  " + VerdictText(*answer) + "\n" + TraceSteps(*answer);
    if (installed != nullptr) {
      out += "Installed:  " + VerdictText(*installed) + "\n" + TraceSteps(*installed);
    }
    return out;
  });
  if (!agree) {
    *ctx.err << "agentctl: warning: the installed rules disagree with the reference evaluator\n";
    return 2;
  }
  return 0;
}

int CmdEvents(Context& ctx, bool follow, absl::Duration idle) {
  UnixHttpClient client(ctx.client->socket_path(),
                        follow ? std::nullopt : std::optional<absl::Duration>(idle));
  std::string pending;
  absl::Status bad_line = absl::OkStatus();
  auto emit = [&](std::string_view line) {
    if (line.empty()) return true;
    absl::StatusOr<Json> event = ParseJson(line);
    if (!event.ok()) {
      bad_line = absl::DataLossError("malformed event line \"" + std::string(line) +
                                     "\": " + std::string(event.status().message()));
      return false;
    }
    switch (ctx.format) {
      case Format::kJson:
        *ctx.out << ToJson(*event, /*compact=*/true) << "\n";
        break;
      case Format::kYaml:
        *ctx.out << "---\n" << ToYaml(*event);
        break;
      case Format::kTable: {
        std::string text = FieldText(*event, "time", "-") + "  " + FieldText(*event, "kind", "-");
        const Json* f = Field(*event, "fields");
        if (f != nullptr && f->kind_case() == Json::kStructValue) {
          std::map<std::string, std::string> sorted;
          for (const auto& [k, v] : f->struct_value().fields()) sorted[k] = Text(&v, "");
          for (const auto& [k, v] : sorted) text += "  " + k + "=" + v;
        }
        *ctx.out << text << "\n";
      }
    }
    ctx.out->flush();
    return true;
  };
  absl::StatusOr<HttpResponse> response =
      client.Stream("GET", "/v1/events", "", [&](std::string_view data) {
        pending.append(data);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (!emit(line)) return false;
        }
        return true;
      });
  if (!bad_line.ok()) return Fail(ctx, bad_line);
  if (!response.ok()) {
    if (!follow && absl::IsDeadlineExceeded(response.status())) return 0;  // idle: done
    return Fail(ctx, response.status());
  }
  if (response->status >= 400) return Fail(ctx, HttpError(*response));
  if (!pending.empty()) emit(pending);
  return 0;
}

}  // namespace vfguard::agentctl
