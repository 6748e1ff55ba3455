#include "cni/cni_error.h"

#include "tools/agentctl/json_value.h"

namespace vfguard::cni {

std::string ErrorJson(const CniError& error, absl::string_view cni_version) {
  agentctl::Json out;
  auto& fields = *out.mutable_struct_value()->mutable_fields();
  fields["cniVersion"] = agentctl::JsonString(std::string(cni_version));
  fields["code"].set_number_value(error.code);
  fields["msg"] = agentctl::JsonString(error.msg);
  if (!error.details.empty()) fields["details"] = agentctl::JsonString(error.details);
  return agentctl::ToJson(out, /*compact=*/true);
}

}  // namespace vfguard::cni
