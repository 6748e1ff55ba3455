// TcBackend over the kernel: one NETLINK_ROUTE socket on a private
// io_context, so each call runs to completion without re-entering the
// agent's reactor (agent/tc_backend.h).
//
// Ops are encoded by EncodeTcOp (agent/tc_op_encode.h); an op that does not
// encode (an invalid filter) gets the encoder's InvalidArgument and is not
// sent; the rest of the batch still is.
//
// Write lanes: with more than one, Apply cuts the op vector into waves
// (agent/write_waves.h) and writes each wave's lanes concurrently, one
// socket (with its own io_context) and one thread per lane; the kernel does
// a flower write in the sender's context without rtnl_lock, so two lanes
// use two CPUs. With one lane the whole vector goes as one batch on one
// socket, in order. Dumps always use lane 0's socket.
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
  // At most two lanes (the VM and the hosts measured have 2 CPUs; agent_bench
  // measures 1 against 2, docs/performance.md, "Two write lanes"), and one
  // where this process may run on one CPU only (sched_getaffinity).
  static constexpr size_t kMaxDefaultWriteLanes = 2;
  static size_t DefaultWriteLanes();
  // A wave smaller than this goes in one lane: a thread and a second round
  // of acks cost more than they save.
  static constexpr size_t kMinParallelOps = 64;

  // Opens the sockets, one per write lane (0: DefaultWriteLanes()); fails
  // (with errno) where netlink is not available.
  static absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> Open(size_t write_lanes = 0);
  // Over an open datagram fd with netlink framing (tests: a socketpair
  // peer, e.g. one that never answers); takes the fd. One write lane.
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
  size_t write_lanes() const { return lanes_.size(); }

 private:
  NetlinkTcBackend() = default;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> Dump(const netlink::FilterOwner& owner,
                                                          std::optional<uint32_t> chain);

  // Sends the requests of ops idx... (moved out of `encoded`) on lane
  // `lane`; marks sent[i] for each op that encoded (each lane touches only
  // its own indices).
  // The ops' requests, encoded on the calling thread (Apply's): a lane's
  // thread only sends them, so what it allocates is small. glibc gives a new
  // thread one of the existing arenas in turn, the reactor's too, and a
  // lane's encoded batch there could extend that arena for good.
  struct Encoded {
    std::vector<netlink::Message> requests;  // empty where encoding failed
    std::vector<absl::Status> errors;        // per op
  };
  std::vector<absl::Status> WriteLane(size_t lane, Encoded& encoded, const std::vector<size_t>& idx,
                                      std::vector<char>& sent);

  // One connection per write lane; lane 0 also dumps. The io_context is
  // declared before the socket, which must be destroyed first.
  struct Lane {
    std::unique_ptr<boost::asio::io_context> io;
    std::unique_ptr<netlink::NetlinkSocket> socket;
  };
  std::vector<Lane> lanes_;
  TcWriteCounts writes_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_NETLINK_TC_BACKEND_H_
