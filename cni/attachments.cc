#include "cni/attachments.h"

#include <errno.h>
#include <string.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"
#include "tools/agentctl/http_client.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::cni {
namespace fs = std::filesystem;
namespace {

using agentctl::Json;

// File names are percent-escaped like a URL path segment, so two
// attachments never share a file.
std::string FileSafe(const std::string& s) { return agentctl::EscapePathSegment(s); }

std::optional<AttachmentRecord> Decode(const std::string& text) {
  absl::StatusOr<Json> j = agentctl::ParseJson(text);
  if (!j.ok()) return std::nullopt;
  AttachmentRecord r;
  r.container_id = agentctl::FieldText(*j, "containerID", "");
  r.ifname = agentctl::FieldText(*j, "ifname", "");
  r.port_id = agentctl::FieldText(*j, "portId", "");
  r.mac = agentctl::FieldText(*j, "mac", "");
  if (r.container_id.empty() || r.ifname.empty() || r.port_id.empty()) return std::nullopt;
  return r;
}

absl::Status IoError(absl::string_view what, const std::string& path, absl::string_view why) {
  return CniStatus(kIoFailure, absl::StrCat("cannot ", what, " ", path, ": ", why));
}

}  // namespace

std::string AttachmentStore::PathOf(const std::string& container_id,
                                    const std::string& ifname) const {
  return (fs::path(dir_) / (FileSafe(container_id) + "-" + FileSafe(ifname) + ".json")).string();
}

absl::Status AttachmentStore::Save(const AttachmentRecord& record) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return IoError("create", dir_, ec.message());
  Json j;
  auto& f = *j.mutable_struct_value()->mutable_fields();
  f["containerID"] = agentctl::JsonString(record.container_id);
  f["ifname"] = agentctl::JsonString(record.ifname);
  f["portId"] = agentctl::JsonString(record.port_id);
  f["mac"] = agentctl::JsonString(record.mac);
  const std::string path = PathOf(record.container_id, record.ifname);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << agentctl::ToJson(j, true) << "\n";
    out.flush();
    if (!out) return IoError("write", tmp, strerror(errno));
  }
  fs::rename(tmp, path, ec);
  if (ec) return IoError("rename to", path, ec.message());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AttachmentRecord>> AttachmentStore::Load(
    const std::string& container_id, const std::string& ifname) const {
  const std::string path = PathOf(container_id, ifname);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    return IoError("read", path, strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Decode(text.str());
}

absl::Status AttachmentStore::Remove(const std::string& container_id, const std::string& ifname) {
  std::error_code ec;
  const std::string path = PathOf(container_id, ifname);
  fs::remove(path, ec);
  if (ec) return IoError("remove", path, ec.message());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttachmentRecord>> AttachmentStore::List() const {
  std::vector<AttachmentRecord> out;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    if (std::optional<AttachmentRecord> r = Decode(text.str()); r.has_value()) {
      out.push_back(*std::move(r));
    }
  }
  if (ec) return IoError("list", dir_, ec.message());
  return out;
}

}  // namespace vfguard::cni
