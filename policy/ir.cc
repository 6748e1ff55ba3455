#include "policy/ir.h"

#include "absl/strings/str_cat.h"

namespace vfguard::policy {

void Filter::SetOrigin(const Origin& origin) {
  if (!(rare_->origin_head == origin.head())) rare_.Mutable().origin_head = origin.head();
  origin_tail_ = origin.tail();
}

std::string DeviceRef::ToString() const {
  return kind == Kind::kUplink ? std::string("uplink") : absl::StrCat("port:", *port_id);
}

std::string Action::ToString() const {
  switch (kind) {
    case Kind::kOk:
      return "ok";
    case Kind::kDrop:
      return "drop";
    case Kind::kPipe:
      return "pipe";
    case Kind::kContinue:
      return "continue";
    case Kind::kTrap:
      return "trap";
    case Kind::kGoto:
      return absl::StrCat("goto chain ", chain);
    case Kind::kCt:
      if (clear) return "ct clear";
      return absl::StrCat("ct zone ", zone, commit ? " commit" : "");
    case Kind::kMirredRedirect:
      return absl::StrCat("mirred egress redirect ", device.ToString());
    case Kind::kMirredMirror:
      return absl::StrCat("mirred egress mirror ", device.ToString());
    case Kind::kVlanPush:
      return absl::StrCat("vlan push id ", vlan_id);
    case Kind::kVlanPop:
      return "vlan pop";
  }
  return "?";
}

}  // namespace vfguard::policy
