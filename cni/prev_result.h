// Reads the container side of an attachment from the previous plugin's
// result (prevResult, CNI result format 1.0/1.1): the interface named
// CNI_IFNAME that has a sandbox, its MAC, and the IPs assigned to it.
#ifndef VFGUARD_CNI_PREV_RESULT_H_
#define VFGUARD_CNI_PREV_RESULT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::cni {

struct ContainerInterface {
  std::string mac;
  std::vector<std::string> ips;  // addresses without the prefix length
};

// CNI code 7 naming the prevResult field: no interface CNI_IFNAME with a
// sandbox, no or an empty mac, an ips[] entry without an address.
absl::StatusOr<ContainerInterface> FromPrevResult(const agentctl::Json& prev,
                                                  const std::string& ifname);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_PREV_RESULT_H_
