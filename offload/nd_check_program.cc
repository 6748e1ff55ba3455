#include "offload/nd_check_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "offload/bpf/nd_check_map.h"
#include "offload/bpf_status.h"
#include "offload/nd_check_bpf_object.h"  // generated from offload/bpf/nd_check.bpf.c

namespace vfguard::offload {
namespace {

static_assert(sizeof(vfguard_nd_allowed) == 40, "map layout changed on one side only");
static_assert(sizeof(vfguard_nd_entry) == 4 + 40 * VFGUARD_ND_MAX_ALLOWED, "map layout changed");

}  // namespace

absl::StatusOr<std::vector<uint8_t>> EncodeNdEntry(const std::vector<policy::NdAllowed>& allowed) {
  if (allowed.size() > VFGUARD_ND_MAX_ALLOWED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nd entry: ", allowed.size(), " allowed prefixes, at most ", VFGUARD_ND_MAX_ALLOWED));
  }
  vfguard_nd_entry entry;
  std::memset(&entry, 0, sizeof(entry));
  entry.count = static_cast<unsigned>(allowed.size());
  for (size_t i = 0; i < allowed.size(); ++i) {
    const policy::NdAllowed& a = allowed[i];
    if (a.prefix.addr.family != policy::IpFamily::kV6 || a.prefix.length > 128) {
      return absl::InvalidArgumentError(
          absl::StrCat("nd entry: ", a.prefix.ToString(), " is not an IPv6 prefix"));
    }
    vfguard_nd_allowed& out = entry.allowed[i];
    for (int byte = 0; byte < 16; ++byte) {
      int bits = std::min(8, std::max(0, a.prefix.length - byte * 8));
      uint8_t mask = bits == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
      out.mask[byte] = mask;
      out.addr[byte] = a.prefix.addr.bytes[byte] & mask;
    }
    std::memcpy(out.mac, a.mac.bytes.data(), 6);
  }
  const auto* p = reinterpret_cast<const uint8_t*>(&entry);
  return std::vector<uint8_t>(p, p + sizeof(entry));
}

NdCheckProgram::~NdCheckProgram() {
  if (object_ != nullptr) bpf_object__close(object_);
}

absl::StatusOr<std::unique_ptr<NdCheckProgram>> NdCheckProgram::Create() {
  std::unique_ptr<NdCheckProgram> p(new NdCheckProgram());
  absl::StatusOr<bpf_object*> object =
      LoadEmbeddedObject(generated::kNdCheckBpfObject, generated::kNdCheckBpfObjectSize,
                         kProgramName, "ND check", &p->prog_fd_);
  if (!object.ok()) return object.status();
  p->object_ = *object;
  bpf_map* map = bpf_object__find_map_by_name(p->object_, "nd_ports");
  if (map == nullptr) return absl::InternalError("embedded BPF object lacks its nd_ports map");
  p->map_fd_ = bpf_map__fd(map);
  return p;
}

absl::Status NdCheckProgram::Sync(
    const std::map<uint32_t, std::vector<policy::NdAllowed>>& entries) {
  for (const auto& [ifindex, allowed] : entries) {
    auto it = written_.find(ifindex);
    if (it != written_.end() && it->second == allowed) continue;
    absl::StatusOr<std::vector<uint8_t>> value = EncodeNdEntry(allowed);
    if (!value.ok()) return value.status();
    if (int ret = bpf_map_update_elem(map_fd_, &ifindex, value->data(), BPF_ANY); ret != 0) {
      return BpfError(absl::StrCat("writing the ND entry of ifindex ", ifindex), BpfErrno(ret));
    }
    ++map_writes_;
    written_[ifindex] = allowed;
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (entries.count(it->first)) {
      ++it;
      continue;
    }
    uint32_t ifindex = it->first;
    if (int ret = bpf_map_delete_elem(map_fd_, &ifindex); ret != 0 && BpfErrno(ret) != ENOENT) {
      return BpfError(absl::StrCat("deleting the ND entry of ifindex ", ifindex), BpfErrno(ret));
    }
    ++map_writes_;
    it = written_.erase(it);
  }
  return absl::OkStatus();
}

}  // namespace vfguard::offload
