#include "cni/prev_result.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"

namespace vfguard::cni {

using agentctl::Field;
using agentctl::Json;

absl::StatusOr<ContainerInterface> FromPrevResult(const Json& prev, const std::string& ifname) {
  const Json* interfaces = Field(prev, "interfaces");
  std::optional<int> index;
  ContainerInterface out;
  if (interfaces != nullptr && interfaces->kind_case() == Json::kListValue) {
    for (int i = 0; i < interfaces->list_value().values_size(); ++i) {
      const Json& itf = interfaces->list_value().values(i);
      if (agentctl::FieldText(itf, "name", "") != ifname) continue;
      if (agentctl::FieldText(itf, "sandbox", "").empty()) continue;
      index = i;
      out.mac = agentctl::FieldText(itf, "mac", "");
      if (out.mac.empty()) {
        return CniStatus(kInvalidConfig, absl::StrCat("prevResult.interfaces[", i,
                                                      "].mac: missing; vfguard needs "
                                                      "the MAC of ",
                                                      ifname));
      }
      break;
    }
  }
  if (!index.has_value()) {
    return CniStatus(kInvalidConfig,
                     absl::StrCat("prevResult.interfaces: no interface \"", ifname,
                                  "\" with a sandbox (chain vfguard after the plugin that moves "
                                  "the VF into the pod: sriov or host-device)"));
  }
  const Json* ips = Field(prev, "ips");
  if (ips != nullptr && ips->kind_case() == Json::kListValue) {
    for (int i = 0; i < ips->list_value().values_size(); ++i) {
      const Json& ip = ips->list_value().values(i);
      const Json* itf = Field(ip, "interface");
      if (itf != nullptr && itf->kind_case() == Json::kNumberValue &&
          static_cast<int>(itf->number_value()) != *index) {
        continue;  // an address of another interface
      }
      std::string address = agentctl::FieldText(ip, "address", "");
      if (address.empty()) {
        return CniStatus(kInvalidConfig, absl::StrCat("prevResult.ips[", i, "].address: missing"));
      }
      out.ips.push_back(address.substr(0, address.find('/')));
    }
  }
  return out;
}

}  // namespace vfguard::cni
