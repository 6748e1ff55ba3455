#include "agent/tc_errno_status.h"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {

absl::Status TcErrnoStatus(int err, absl::string_view extack) {
  if (err == 0) return absl::OkStatus();
  // Building the kernel's message and decoding it keeps one definition of the
  // status format (netlink/tc_codec.cc).
  std::vector<uint32_t> words((64 + extack.size()) / 4 + 1, 0);
  auto* nlh = mnl_nlmsg_put_header(words.data());
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_CAPPED | (extack.empty() ? 0 : NLM_F_ACK_TLVS);
  auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  e->error = -err;
  e->msg.nlmsg_len = sizeof(nlmsghdr);
  if (!extack.empty()) {
    std::string text(extack);
    mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text.c_str());
  }
  return netlink::DecodeAck(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len));
}

absl::Status TcStatusFromResult(const netlink::RequestResult& result) {
  if (result.status.ok()) return absl::OkStatus();
  if (result.errno_value == 0) return result.status;  // not from the kernel (e.g. ENOBUFS loss)
  // nl_socket formats "<strerror> (errno N)[: <extack>]".
  std::string prefix =
      absl::StrCat(strerror(result.errno_value), " (errno ", result.errno_value, ")");
  absl::string_view message = result.status.message();
  absl::string_view extack;
  if (absl::StartsWith(message, prefix + ": ")) extack = message.substr(prefix.size() + 2);
  return TcErrnoStatus(result.errno_value, extack);
}

}  // namespace vfguard::agent
