#include "cni/pci.h"

#include <cctype>
#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"

namespace vfguard::cni {
namespace fs = std::filesystem;

bool IsPciAddress(absl::string_view text) {
  // DDDD:BB:DD.F
  if (text.size() != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return text[11] >= '0' && text[11] <= '7';
}

absl::StatusOr<VfLocation> ResolveVf(const std::string& sysfs_root, const std::string& pci) {
  auto fail = [&](absl::string_view why) {
    return CniStatus(kInvalidConfig, absl::StrCat("deviceID ", pci, ": ", why));
  };
  const std::string address = absl::AsciiStrToLower(pci);
  const fs::path dev = fs::path(sysfs_root) / "bus/pci/devices" / address;
  std::error_code ec;
  if (!fs::exists(dev, ec)) return fail(absl::StrCat("no such PCI device (", dev.string(), ")"));
  const fs::path physfn = dev / "physfn";
  fs::path pf_target = fs::read_symlink(physfn, ec);
  if (ec) {
    return fail(
        absl::StrCat("not a VF (", physfn.string(), " is missing: a PF or a NIC without SR-IOV)"));
  }
  VfLocation out;
  out.pf = pf_target.filename().string();
  std::optional<uint32_t> found;
  for (const fs::directory_entry& e : fs::directory_iterator(physfn, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("virtfn", 0) != 0) continue;
    uint32_t n = 0;
    if (!absl::SimpleAtoi(name.substr(6), &n)) continue;
    std::error_code link_ec;
    fs::path target = fs::read_symlink(e.path(), link_ec);
    if (!link_ec && absl::AsciiStrToLower(target.filename().string()) == address) found = n;
  }
  if (ec) return fail(absl::StrCat("cannot list ", physfn.string(), ": ", ec.message()));
  if (!found) return fail(absl::StrCat("its PF ", out.pf, " has no virtfn link to it"));
  out.index = *found;
  return out;
}

}  // namespace vfguard::cni
