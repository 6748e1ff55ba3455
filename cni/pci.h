// From a VF's PCI address (what the SR-IOV device plugin hands Multus as
// deviceID) to its VF index on the PF, through sysfs: the VF's `physfn` link
// names its PF, and the PF's `virtfnN` links name its VFs; N is the index the
// eswitch uses for the representor (pf0vfN) and the agent's `vf_index`.
// `sysfs_root` is "/sys" in the plugin and a fake tree in unit tests.
#ifndef VFGUARD_CNI_PCI_H_
#define VFGUARD_CNI_PCI_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vfguard::cni {

// "DDDD:BB:DD.F" in lower- or upper-case hex (domain 4 digits, bus 2, device
// 2, function 1), e.g. "0000:03:00.2".
bool IsPciAddress(absl::string_view text);

struct VfLocation {
  std::string pf;  // the PF's PCI address
  uint32_t index = 0;
};

// Errors (CNI code 7, naming the address): the device is not in sysfs; it
// has no physfn (it is not a VF: a PF or a plain NIC); its PF lists no
// virtfn pointing back at it.
absl::StatusOr<VfLocation> ResolveVf(const std::string& sysfs_root, const std::string& pci);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_PCI_H_
