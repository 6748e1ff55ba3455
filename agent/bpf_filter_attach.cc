#include "agent/bpf_filter_attach.h"

#include <array>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace vfguard::agent {

absl::Status AttachBpfFilter(netlink::NetlinkSocket& socket, const netlink::BpfFilter& filter,
                             absl::string_view what) {
  std::array<uint32_t, 1024> words{};
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), sizeof(words));
  absl::StatusOr<size_t> n =
      netlink::EncodeNewBpfFilter(filter, netlink::CreateMode::kCreateOrReplace, 0, buf);
  if (!n.ok()) return n.status();
  std::vector<netlink::RequestResult> r =
      socket.SendBatchSync({netlink::Message(buf.begin(), buf.begin() + *n)});
  if (r.empty()) return absl::InternalError(absl::StrCat("no answer to attaching ", what));
  if (r[0].status.ok()) return absl::OkStatus();
  const auto* block = std::get_if<netlink::TcBlock>(&filter.owner);
  return absl::Status(
      r[0].status.code(),
      absl::StrCat("attaching ", what, " to block ", block ? block->index : 0, " chain ",
                   filter.chain, " prio ", filter.prio, ": ", r[0].status.message()));
}

}  // namespace vfguard::agent
