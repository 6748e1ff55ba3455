// tc(8) batch lines for kernel flower filters, so a benchmark can install
// exactly the filters the agent installed with `tc -force -batch` and compare
// the two ways on the same kernel.
#ifndef VFGUARD_BENCH_TC_BATCH_TEXT_H_
#define VFGUARD_BENCH_TC_BATCH_TEXT_H_

#include <arpa/inet.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

using netlink::FlowerFilter;

// Length of a prefix mask, or -1 when the mask is not a prefix.
int PrefixLen(const uint8_t* mask, size_t len);
std::string Mac(const netlink::MacAddr& a);

// One `filter add ...` line per filter (without the leading `tc`), for the
// filter's owner: `block B` for a shared block, `dev NAME ingress|egress` for
// a device's clsact hook (e.g. a representor's egress hook,
// TcDevice{ifindex, kClsactEgressParent}); the device must exist when the
// line is written, and its clsact before the line runs. error() names the
// first owner, key or action tc cannot express.
class TcText {
 public:
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string Line(const FlowerFilter& f);

 private:
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  void MacKey(const char* kw, const std::optional<netlink::Masked<netlink::MacAddr>>& k) {
    if (k) out_ += absl::StrCat(" ", kw, " ", Mac(k->value), "/", Mac(k->mask));
  }
  template <typename A>
  void IpKey(const char* kw, int family, const std::optional<netlink::Masked<A>>& k) {
    if (!k) return;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, k->value.data(), text, sizeof text);
    int len = PrefixLen(k->mask.data(), k->mask.size());
    if (len < 0) return Fail(absl::StrCat(kw, ": mask is not a prefix"));
    out_ += absl::StrCat(" ", kw, " ", text, "/", len);
  }
  template <typename T>
  void NumKey(const char* kw, const std::optional<netlink::Masked<T>>& k, bool mask_ok) {
    if (!k) return;
    if (k->mask == static_cast<T>(~T{0})) {
      out_ += absl::StrCat(" ", kw, " ", k->value);
    } else if (mask_ok) {
      out_ += absl::StrFormat(" %s %u/0x%x", kw, k->value, k->mask);
    } else {
      Fail(absl::StrCat(kw, ": tc takes no mask"));
    }
  }
  void Owner(const netlink::FilterOwner& owner);
  void Control(int32_t c);
  void Action(const netlink::TcAction& a);

  std::string out_;
  std::string error_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_TC_BATCH_TEXT_H_
