#include "agent/netlink_tc_backend.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/tc_event.h"
#include "agent/tc_op_encode.h"
#include "netlink/qdisc_codec.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

// Large enough for any flower filter the codec encodes (32 actions).
constexpr size_t kMaxMessageBytes = 16 << 10;

// A 4-byte aligned scratch buffer; the encoders require the alignment.
class Scratch {
 public:
  absl::Span<uint8_t> span() {
    return {reinterpret_cast<uint8_t*>(words_.data()), kMaxMessageBytes};
  }
  netlink::Message Take(size_t len) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(words_.data());
    return netlink::Message(bytes, bytes + len);
  }

 private:
  std::array<uint32_t, kMaxMessageBytes / 4> words_{};
};

std::string OwnerName(const netlink::FilterOwner& owner) {
  if (const auto* block = std::get_if<netlink::TcBlock>(&owner)) {
    return absl::StrCat("block ", block->index);
  }
  const auto& dev = std::get<netlink::TcDevice>(owner);
  return absl::StrCat("ifindex ", dev.ifindex, " parent ", absl::Hex(dev.parent));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> NetlinkTcBackend::Open() {
  std::unique_ptr<NetlinkTcBackend> backend(new NetlinkTcBackend());
  backend->io_ = std::make_unique<boost::asio::io_context>();
  absl::StatusOr<std::unique_ptr<netlink::NetlinkSocket>> socket =
      netlink::NetlinkSocket::Open(*backend->io_, NETLINK_ROUTE);
  if (!socket.ok()) return socket.status();
  backend->socket_ = *std::move(socket);
  return backend;
}

std::unique_ptr<NetlinkTcBackend> NetlinkTcBackend::OverSocket(int fd,
                                                               netlink::SocketOptions options) {
  std::unique_ptr<NetlinkTcBackend> backend(new NetlinkTcBackend());
  backend->io_ = std::make_unique<boost::asio::io_context>();
  backend->socket_ = netlink::NetlinkSocket::FromFd(*backend->io_, fd, options);
  return backend;
}

absl::StatusOr<std::map<uint32_t, uint32_t>> NetlinkTcBackend::DumpClsact() {
  Scratch scratch;
  absl::StatusOr<size_t> n = netlink::EncodeDumpQdiscs(0, scratch.span());
  if (!n.ok()) return n.status();
  absl::StatusOr<std::vector<netlink::Message>> parts = socket_->DumpWithRetry(scratch.Take(*n));
  if (!parts.ok()) return parts.status();
  std::map<uint32_t, uint32_t> out;
  for (const netlink::Message& m : *parts) {
    absl::StatusOr<netlink::QdiscInfo> q = netlink::DecodeQdiscMessage(m);
    if (!q.ok()) return q.status();
    if (q->kind == "clsact") out[q->ifindex] = q->ingress_block;
  }
  return out;
}

absl::StatusOr<std::vector<netlink::FlowerFilter>> NetlinkTcBackend::DumpFilters(
    const netlink::FilterOwner& owner) {
  return Dump(owner, std::nullopt);
}

absl::StatusOr<std::vector<netlink::FlowerFilter>> NetlinkTcBackend::DumpChain(
    const netlink::FilterOwner& owner, uint32_t chain) {
  return Dump(owner, chain);
}

absl::StatusOr<std::vector<netlink::FlowerFilter>> NetlinkTcBackend::Dump(
    const netlink::FilterOwner& owner, std::optional<uint32_t> chain) {
  Scratch scratch;
  // A block: tcm_ifindex TCM_IFINDEX_MAGIC_BLOCK, tcm_block_index; a device
  // hook: tcm_ifindex and tcm_parent (the codec fills both from the owner).
  absl::StatusOr<size_t> n = netlink::EncodeDumpFilters(owner, chain, 0, scratch.span());
  if (!n.ok()) return n.status();
  absl::StatusOr<std::vector<netlink::Message>> parts = socket_->DumpWithRetry(scratch.Take(*n));
  if (!parts.ok()) return parts.status();
  std::vector<netlink::FlowerFilter> out;
  for (const netlink::Message& m : *parts) {
    // Other classifiers in the block (the agent's activation BPF hook at
    // chain 0 prio 1) are not the reconciler's business.
    if (const std::string kind = FilterKind(m); !kind.empty() && kind != "flower") continue;
    absl::StatusOr<std::optional<netlink::FlowerFilter>> f = netlink::DecodeFilterMessage(m);
    if (!f.ok()) {
      return absl::Status(f.status().code(),
                          absl::StrCat(OwnerName(owner), " dump: ", f.status().message()));
    }
    if (f->has_value()) out.push_back(**std::move(f));
  }
  return out;
}

std::vector<absl::Status> NetlinkTcBackend::Apply(const std::vector<TcOp>& ops) {
  std::vector<absl::Status> statuses(ops.size());
  std::vector<netlink::Message> requests;
  std::vector<size_t> sent;  // op index of each request
  requests.reserve(ops.size());
  sent.reserve(ops.size());
  auto scratch = std::make_unique<Scratch>();
  for (size_t i = 0; i < ops.size(); ++i) {
    absl::StatusOr<size_t> n = EncodeTcOp(ops[i], 0, scratch->span());
    if (!n.ok()) {
      statuses[i] = n.status();
      continue;
    }
    requests.push_back(scratch->Take(*n));
    sent.push_back(i);
    writes_.Count(ops[i].kind);
  }
  if (requests.empty()) return statuses;
  std::vector<netlink::RequestResult> results = socket_->SendBatchSync(std::move(requests));
  for (size_t k = 0; k < sent.size(); ++k) {
    statuses[sent[k]] = k < results.size()
                            ? results[k].status
                            : absl::InternalError("netlink socket returned fewer results");
  }
  return statuses;
}

}  // namespace vfguard::agent
