#include "agent/netlink_ct_backend.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "netlink/errno_status.h"

namespace vfguard::agent {
namespace {

// A per-request result with the entry's zone as context. The code is
// netlink/errno_status.h's (ENOENT NotFound, EEXIST AlreadyExists: what the
// revoker and the import rely on), the errno and extack stay readable.
absl::Status FromResult(const netlink::RequestResult& r, const netlink::CtEntry& e) {
  if (r.status.ok() || r.errno_value == 0) return r.status;
  return netlink::ErrnoStatus(r.errno_value, netlink::ExtackFromStatus(r.status),
                              absl::StrCat("conntrack entry in zone ", e.zone));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkCtBackend>> NetlinkCtBackend::Open() {
  auto io = std::make_unique<boost::asio::io_context>();
  absl::StatusOr<std::unique_ptr<netlink::NetlinkSocket>> socket =
      netlink::NetlinkSocket::Open(*io, NETLINK_NETFILTER);
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<NetlinkCtBackend>(new NetlinkCtBackend(std::move(io), *std::move(socket)));
}

NetlinkCtBackend::NetlinkCtBackend(std::unique_ptr<boost::asio::io_context> io,
                                   std::unique_ptr<netlink::NetlinkSocket> socket)
    : io_(std::move(io)), socket_(std::move(socket)), conntrack_(*socket_) {}

absl::StatusOr<std::vector<netlink::CtEntry>> NetlinkCtBackend::DumpZone(uint16_t zone) {
  return conntrack_.DumpZone(zone);
}

absl::Status NetlinkCtBackend::Delete(const netlink::CtEntry& entry) {
  std::vector<netlink::RequestResult> r = socket_->SendBatchSync({netlink::EncodeCtDelete(entry)});
  return FromResult(r.front(), entry);
}

absl::Status NetlinkCtBackend::Create(const netlink::CtEntry& entry) {
  std::vector<netlink::RequestResult> r = socket_->SendBatchSync({netlink::EncodeCtCreate(entry)});
  return FromResult(r.front(), entry);
}

absl::StatusOr<size_t> NetlinkCtBackend::CountZone(uint16_t zone) {
  return conntrack_.CountZone(zone);
}

absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> NetlinkCtBackend::DumpZones(
    const std::set<uint16_t>& zones) {
  std::map<uint16_t, std::vector<netlink::CtEntry>> out;
  if (zones.empty()) return out;
  if (zones.size() == 1) {
    absl::StatusOr<std::vector<netlink::CtEntry>> one = DumpZone(*zones.begin());
    if (!one.ok()) return one.status();
    out[*zones.begin()] = *std::move(one);
    return out;
  }
  for (uint16_t zone : zones) out[zone];
  absl::StatusOr<std::vector<netlink::Message>> parts =
      socket_->DumpWithRetry(netlink::EncodeCtDump(AF_UNSPEC));
  if (!parts.ok()) return parts.status();
  for (const netlink::Message& m : *parts) {
    absl::StatusOr<netlink::CtEntry> e = netlink::DecodeCtEntry(m);
    if (!e.ok()) return e.status();
    auto it = out.find(e->zone);
    if (it != out.end()) it->second.push_back(*std::move(e));
  }
  return out;
}

std::vector<absl::Status> NetlinkCtBackend::DeleteBatch(
    absl::Span<const netlink::CtEntry> entries) {
  std::vector<netlink::Message> requests;
  requests.reserve(entries.size());
  for (const netlink::CtEntry& e : entries) requests.push_back(netlink::EncodeCtDelete(e));
  std::vector<absl::Status> out;
  if (requests.empty()) return out;
  std::vector<netlink::RequestResult> results = socket_->SendBatchSync(std::move(requests));
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) out.push_back(FromResult(results[i], entries[i]));
  return out;
}

}  // namespace vfguard::agent
