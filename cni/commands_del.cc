// DEL, GC, STATUS and VERSION (commands.h).
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"
#include "cni/commands.h"

namespace vfguard::cni {
namespace {

// Deletes the port of one attachment: unconditionally without a record, and
// with a record only while the agent's port still carries the MAC this
// attachment registered. Already gone is success.
absl::Status NotDeleted(const std::string& port_id, const absl::Status& why) {
  return CniStatus(
      kTryAgainLater,
      absl::StrCat(why.message(), "; port ", port_id, " was NOT deleted (the runtime retries DEL)"),
      ToCniError(why).details);
}

absl::Status DeletePortOf(const CommandContext& c, const std::string& port_id,
                          const std::optional<AttachmentRecord>& record) {
  if (record.has_value() && !record->mac.empty()) {
    absl::StatusOr<std::optional<Json>> port = c.agent->GetPort(port_id);
    if (!port.ok()) return NotDeleted(port_id, port.status());
    if (!port->has_value()) return absl::OkStatus();
    std::string mac = absl::AsciiStrToLower(agentctl::FieldText(**port, "mac_address", ""));
    if (mac != record->mac) return absl::OkStatus();  // a newer attachment's port
  }
  absl::StatusOr<bool> deleted = c.agent->DeletePort(port_id);
  if (!deleted.ok()) return NotDeleted(port_id, deleted.status());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RunDel(const CommandContext& c) {
  absl::StatusOr<std::map<std::string, std::string>> args = ParseCniArgs(c.env.args);
  if (!args.ok()) return args.status();
  absl::StatusOr<std::optional<AttachmentRecord>> record =
      c.store->Load(c.env.container_id, c.env.ifname);
  if (!record.ok()) return record.status();
  std::string port_id =
      record->has_value() ? (*record)->port_id : PortId(*args, c.env.container_id, c.env.ifname);
  if (absl::Status s = DeletePortOf(c, port_id, *record); !s.ok()) return s;
  if (absl::Status s = c.store->Remove(c.env.container_id, c.env.ifname); !s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> RunGc(const CommandContext& c) {
  if (!c.config.valid_attachments.has_value()) {
    return CniStatus(kInvalidConfig,
                     "cni.dev/valid-attachments: required for GC (the runtime passes the "
                     "attachments still in use)");
  }
  absl::StatusOr<std::vector<AttachmentRecord>> records = c.store->List();
  if (!records.ok()) return records.status();
  const auto& valid = *c.config.valid_attachments;
  absl::Status first_error;
  for (const AttachmentRecord& r : *records) {
    AttachmentKey key{r.container_id, r.ifname};
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    absl::Status s = DeletePortOf(c, r.port_id, r);
    if (s.ok()) s = c.store->Remove(r.container_id, r.ifname);
    if (!s.ok() && first_error.ok()) first_error = s;  // go on with the others
  }
  if (!first_error.ok()) return first_error;
  return std::string();
}

absl::StatusOr<std::string> RunStatus(const CommandContext& c) {
  absl::StatusOr<bool> ready = c.agent->Ready();
  if (!ready.ok()) {
    CniError e = ToCniError(ready.status());
    return CniStatus(kNotAvailable, e.msg, e.details);
  }
  if (!*ready) {
    return CniStatus(kNotAvailable,
                     "the vfguard agent is not ready: its first reconcile has not finished");
  }
  return std::string();
}

std::string VersionJson(const std::string& cni_version) {
  Json out;
  auto& f = *out.mutable_struct_value()->mutable_fields();
  f["cniVersion"] = agentctl::JsonString(cni_version);
  auto* list = f["supportedVersions"].mutable_list_value();
  for (const std::string& v : SupportedVersions()) *list->add_values() = agentctl::JsonString(v);
  return agentctl::ToJson(out, true) + "\n";
}

}  // namespace vfguard::cni
