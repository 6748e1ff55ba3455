// TcBackend over the kernel: one NETLINK_ROUTE socket on a private
// io_context, so each call runs to completion without re-entering the
// agent's reactor (agent/tc_backend.h).
//
// Ops are encoded by EncodeTcOp (agent/tc_op_encode.h); an op that does not
// encode (an invalid filter) gets the encoder's InvalidArgument and is not
// sent; the rest of the batch still is.
#ifndef VFGUARD_AGENT_NETLINK_TC_BACKEND_H_
#define VFGUARD_AGENT_NETLINK_TC_BACKEND_H_

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>

#include "agent/tc_backend.h"
#include "agent/tc_write_counts.h"
#include "netlink/nl_socket.h"

namespace vfguard::agent {

class NetlinkTcBackend : public TcBackend {
 public:
  // Opens the socket; fails (with errno) where netlink is not available.
  static absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> Open();
  // Over an open datagram fd with netlink framing (tests: a socketpair
  // peer, e.g. one that never answers); takes the fd.
  static std::unique_ptr<NetlinkTcBackend> OverSocket(int fd, netlink::SocketOptions options);

  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpChain(const netlink::FilterOwner& owner,
                                                               uint32_t chain) override;
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override;

  // Write requests sent to the kernel so far (dumps are not writes), counted
  // whether or not the kernel accepted them.
  const TcWriteCounts& writes() const { return writes_; }

 private:
  NetlinkTcBackend() = default;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> Dump(const netlink::FilterOwner& owner,
                                                          std::optional<uint32_t> chain);

  // Declared before the socket, which must be destroyed first.
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<netlink::NetlinkSocket> socket_;
  TcWriteCounts writes_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_NETLINK_TC_BACKEND_H_
