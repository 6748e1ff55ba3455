#include "agent/bpf_filter_attach.h"

#include <array>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace vfguard::agent {

namespace {

// Sends one request built by `encode` and returns the kernel's answer,
// prefixed "<verb> <what> <where>: ".
template <typename Encode>
absl::Status SendOne(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                     absl::string_view verb, absl::string_view what, const Encode& encode) {
  std::array<uint32_t, 1024> words{};
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), sizeof(words));
  absl::StatusOr<size_t> n = encode(buf);
  if (!n.ok()) return n.status();
  std::vector<netlink::RequestResult> r =
      socket.SendBatchSync({netlink::Message(buf.begin(), buf.begin() + *n)});
  if (r.empty()) return absl::InternalError(absl::StrCat("no answer to ", verb, " ", what));
  if (r[0].status.ok()) return absl::OkStatus();
  const auto* block = std::get_if<netlink::TcBlock>(&filter.owner);
  return absl::Status(r[0].status.code(),
                      absl::StrCat(verb, " ", what, verb == "deleting" ? " from" : " to", " block ",
                                   block ? block->index : 0, " chain ", filter.chain, " prio ",
                                   filter.prio, ": ", r[0].status.message()));
}

}  // namespace

absl::Status AttachBpfFilter(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                             absl::string_view what) {
  return SendOne(socket, filter, "attaching", what, [&](absl::Span<uint8_t> buf) {
    return netlink::EncodeNewBpfFilter(filter, netlink::CreateMode::kCreateOrReplace, 0, buf);
  });
}

absl::Status DeleteBpfFilter(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                             absl::string_view what) {
  absl::Status s = SendOne(socket, filter, "deleting", what, [&](absl::Span<uint8_t> buf) {
    return netlink::EncodeDelBpfFilter(filter, 0, buf);
  });
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

}  // namespace vfguard::agent
