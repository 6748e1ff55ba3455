// CtBackend over ctnetlink (netlink::Conntrack on a NETLINK_NETFILTER socket).
//
// The backend owns its own io_context and socket, so its blocking calls never
// run handlers of the agent's reactor (and the reactor's sockets never see
// conntrack replies). Calls block the calling thread for the length of one
// netlink exchange; a whole-table dump on a busy host can take a while, which
// is why DumpZones does one dump for all requested zones.
#ifndef VFGUARD_AGENT_NETLINK_CT_BACKEND_H_
#define VFGUARD_AGENT_NETLINK_CT_BACKEND_H_

#include <boost/asio/io_context.hpp>
#include <memory>

#include "agent/ct_backend.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

class NetlinkCtBackend : public CtBackend {
 public:
  // Opens the NETLINK_NETFILTER socket (needs CAP_NET_ADMIN for changes).
  static absl::StatusOr<std::unique_ptr<NetlinkCtBackend>> Open();

  absl::StatusOr<std::vector<netlink::CtEntry>> DumpZone(uint16_t zone) override;
  // ENOENT from the kernel becomes NotFound.
  absl::Status Delete(const netlink::CtEntry& entry) override;
  // EEXIST from the kernel becomes AlreadyExists.
  absl::Status Create(const netlink::CtEntry& entry) override;
  absl::StatusOr<size_t> CountZone(uint16_t zone) override;
  // One whole-table dump (both families), bucketed by zone: kernels before
  // 6.8 ignore the dump's zone filter, so per-zone dumps would each read the
  // whole table.
  absl::StatusOr<std::map<uint16_t, std::vector<netlink::CtEntry>>> DumpZones(
      const std::set<uint16_t>& zones) override;
  // All deletions in one pipelined batch.
  std::vector<absl::Status> DeleteBatch(absl::Span<const netlink::CtEntry> entries) override;

 private:
  NetlinkCtBackend(std::unique_ptr<boost::asio::io_context> io,
                   std::unique_ptr<netlink::NetlinkSocket> socket);

  std::unique_ptr<boost::asio::io_context> io_;  // private: see the file comment
  std::unique_ptr<netlink::NetlinkSocket> socket_;
  netlink::Conntrack conntrack_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_NETLINK_CT_BACKEND_H_
