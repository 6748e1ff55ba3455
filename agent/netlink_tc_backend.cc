#include "agent/netlink_tc_backend.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/tc_event.h"
#include "agent/tc_op_encode.h"
#include "agent/write_waves.h"
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

size_t NetlinkTcBackend::DefaultWriteLanes() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 1;
  return std::clamp<size_t>(static_cast<size_t>(CPU_COUNT(&cpus)), 1, kMaxDefaultWriteLanes);
}

absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> NetlinkTcBackend::Open(size_t write_lanes) {
  std::unique_ptr<NetlinkTcBackend> backend(new NetlinkTcBackend());
  if (write_lanes == 0) write_lanes = DefaultWriteLanes();
  for (size_t k = 0; k < write_lanes; ++k) {
    Lane lane;
    lane.io = std::make_unique<boost::asio::io_context>();
    absl::StatusOr<std::unique_ptr<netlink::NetlinkSocket>> socket =
        netlink::NetlinkSocket::Open(*lane.io, NETLINK_ROUTE);
    if (!socket.ok()) return socket.status();
    lane.socket = *std::move(socket);
    backend->lanes_.push_back(std::move(lane));
  }
  return backend;
}

std::unique_ptr<NetlinkTcBackend> NetlinkTcBackend::OverSocket(int fd,
                                                               netlink::SocketOptions options) {
  std::unique_ptr<NetlinkTcBackend> backend(new NetlinkTcBackend());
  Lane lane;
  lane.io = std::make_unique<boost::asio::io_context>();
  lane.socket = netlink::NetlinkSocket::FromFd(*lane.io, fd, options);
  backend->lanes_.push_back(std::move(lane));
  return backend;
}

absl::StatusOr<std::map<uint32_t, uint32_t>> NetlinkTcBackend::DumpClsact() {
  Scratch scratch;
  absl::StatusOr<size_t> n = netlink::EncodeDumpQdiscs(0, scratch.span());
  if (!n.ok()) return n.status();
  absl::StatusOr<std::vector<netlink::Message>> parts =
      lanes_[0].socket->DumpWithRetry(scratch.Take(*n));
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
  absl::StatusOr<std::vector<netlink::Message>> parts =
      lanes_[0].socket->DumpWithRetry(scratch.Take(*n));
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

std::vector<absl::Status> NetlinkTcBackend::WriteLane(size_t lane, Encoded& encoded,
                                                      const std::vector<size_t>& idx,
                                                      std::vector<char>& sent) {
  std::vector<absl::Status> statuses(idx.size());
  std::vector<netlink::Message> requests;
  std::vector<size_t> position;  // index into idx of each request
  requests.reserve(idx.size());
  position.reserve(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    if (!encoded.errors[idx[k]].ok()) {
      statuses[k] = encoded.errors[idx[k]];
      continue;
    }
    requests.push_back(std::move(encoded.requests[idx[k]]));
    position.push_back(k);
    sent[idx[k]] = 1;
  }
  if (requests.empty()) return statuses;
  std::vector<netlink::RequestResult> results =
      lanes_[lane].socket->SendBatchSync(std::move(requests));
  for (size_t r = 0; r < position.size(); ++r) {
    statuses[position[r]] = r < results.size()
                                ? results[r].status
                                : absl::InternalError("netlink socket returned fewer results");
  }
  return statuses;
}

std::vector<absl::Status> NetlinkTcBackend::Apply(const std::vector<TcOp>& ops) {
  std::vector<char> sent(ops.size(), 0);
  std::vector<absl::Status> statuses;
  Encoded encoded;
  encoded.requests.resize(ops.size());
  encoded.errors.resize(ops.size());
  {
    auto scratch = std::make_unique<Scratch>();
    for (size_t i = 0; i < ops.size(); ++i) {
      absl::StatusOr<size_t> n = EncodeTcOp(ops[i], 0, scratch->span());
      if (n.ok()) {
        encoded.requests[i] = scratch->Take(*n);
      } else {
        encoded.errors[i] = n.status();
      }
    }
  }
  if (lanes_.size() == 1) {
    // One batch: the kernel applies one socket's requests in order.
    std::vector<size_t> all(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) all[i] = i;
    statuses = WriteLane(0, encoded, all, sent);
  } else {
    // Each op is in one lane of one wave: the lanes move out disjoint
    // requests.
    statuses = ApplyInWaves(ops.size(), SplitIntoWaves(ops, lanes_.size()), kMinParallelOps,
                            [&](size_t lane, const std::vector<size_t>& idx) {
                              return WriteLane(lane, encoded, idx, sent);
                            });
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (sent[i]) writes_.Count(ops[i].kind);
  }
  return statuses;
}

}  // namespace vfguard::agent
