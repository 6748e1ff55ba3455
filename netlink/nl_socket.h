// An asio netlink socket: batched requests matched to acks by sequence
// number, dumps with NLM_F_DUMP_INTR detection, multicast events, and ENOBUFS
// reported as "state lost, resync" instead of an error.
//
// Contract (see docs/netlink.md):
// - Requests are whole netlink messages built by the caller (any family).
//   The socket sets nlmsg_seq, nlmsg_pid = 0 and NLM_F_REQUEST|NLM_F_ACK, and
//   packs many messages per sendmsg, with at most `max_inflight_bytes` of
//   requests unacknowledged so the kernel's acks fit the receive buffer.
// - Each request completes with OK or a status carrying errno and the
//   kernel's extack message in the one form of netlink/errno_status.h
//   (ErrnoFromStatus reads the errno back; `errno_value` keeps the one the
//   kernel answered with).
// - A dump completes with every message of every part, or with kAborted if
//   any part carried NLM_F_DUMP_INTR (DumpWithRetry retries those), or with
//   the errno (and extack) the kernel put in NLMSG_DONE when the dump failed
//   part way.
// - A received datagram with MSG_TRUNC is a DataLoss error for everything in
//   flight (never silently cut).
// - recvmsg failing with ENOBUFS means the kernel dropped messages: pending
//   requests and dumps fail with kUnavailable and the resync handler runs;
//   the socket stays usable.
// - Messages that arrive through a multicast group (the sender address has
//   nl_groups set) or carry sequence number 0 are events and go to the event
//   handler, even when they echo the sequence number of a request in flight
//   (the kernel copies the causing request's seq into some notifications).
// Single-threaded: use from the io_context's thread only. Handlers may send
// new requests (they are queued, never sent from inside another send) but
// must not destroy the socket they are called from.
#ifndef VFGUARD_NETLINK_NL_SOCKET_H_
#define VFGUARD_NETLINK_NL_SOCKET_H_

#include <linux/netlink.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netlink/errno_status.h"

namespace vfguard::netlink {

using Message = std::vector<uint8_t>;  // one complete netlink message

struct RequestResult {
  absl::Status status;  // OK, or an ErrnoStatus (netlink/errno_status.h)
  int errno_value = 0;  // the kernel answer's errno (0: OK, or failed locally)
};

struct SocketOptions {
  int receive_buffer = 8 << 20;  // SO_RCVBUFFORCE when root, else SO_RCVBUF
  int send_buffer = 4 << 20;
  size_t max_batch_bytes = 32 << 10;      // bytes per sendmsg
  size_t max_inflight_bytes = 256 << 10;  // unacknowledged request bytes
  bool set_buffers = true;
  size_t receive_chunk_bytes = 1 << 20;  // largest datagram read at once
  // The blocking conveniences (SendBatchSync, DumpSync, ...) give up when the
  // kernel has sent nothing for this long while an answer is due: what is in
  // flight or queued then fails with kDeadlineExceeded (late answers are
  // dropped). Progress, not the whole call, is timed, so a 20,000-filter
  // batch is fine as long as acks keep coming.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(10);
};

class NetlinkSocket {
 public:
  using BatchDone = std::function<void(std::vector<RequestResult>)>;
  using DumpDone = std::function<void(absl::StatusOr<std::vector<Message>>)>;
  using EventHandler = std::function<void(const nlmsghdr&)>;
  // How the socket reads a datagram; ::recvmsg unless a test injects errors
  // (ENOBUFS, EINTR) that a socketpair peer cannot produce.
  using ReceiveFn = std::function<ssize_t(int fd, msghdr* msg, int flags)>;

  // Opens and binds a netlink socket of `protocol` (NETLINK_ROUTE, ...).
  static absl::StatusOr<std::unique_ptr<NetlinkSocket>> Open(boost::asio::io_context& io,
                                                             int protocol,
                                                             SocketOptions options = {});
  // Wraps an already-open datagram fd (tests use a socketpair peer).
  static std::unique_ptr<NetlinkSocket> FromFd(boost::asio::io_context& io, int fd,
                                               SocketOptions options = {},
                                               ReceiveFn receive = nullptr);
  ~NetlinkSocket();
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  // Sends `requests`; `done` gets one result per request, in order.
  void SendBatch(std::vector<Message> requests, BatchDone done);
  // Sends a dump request (NLM_F_DUMP is added) and collects the replies.
  void Dump(Message request, DumpDone done);
  // Sends a request that is answered by messages (not a dump) followed by
  // the ack, e.g. genetlink GET commands; collects those messages.
  void Request(Message request, DumpDone done);
  // Joins a multicast group (NETLINK_ADD_MEMBERSHIP).
  absl::Status Subscribe(uint32_t group);

  // Events are read from the moment a handler is set (in either order with
  // Subscribe); without one they are read and dropped.
  void SetEventHandler(EventHandler handler);
  void SetResyncHandler(std::function<void()> handler) { on_resync_ = std::move(handler); }

  int fd() const { return fd_; }
  uint64_t enobufs_count() const { return enobufs_count_; }

  // Blocking conveniences for tools and tests: run the io_context until done.
  std::vector<RequestResult> SendBatchSync(std::vector<Message> requests);
  absl::StatusOr<std::vector<Message>> DumpSync(Message request);
  absl::StatusOr<std::vector<Message>> RequestSync(Message request);
  // Retries a dump that came back kAborted (NLM_F_DUMP_INTR) up to
  // `attempts` times in all; `done` gets the first other outcome, or the
  // last kAborted.
  void DumpRetrying(Message request, int attempts, DumpDone done);
  absl::StatusOr<std::vector<Message>> DumpWithRetry(const Message& request, int attempts = 5);

 private:
  NetlinkSocket(boost::asio::io_context& io, int fd, SocketOptions options, ReceiveFn receive);

  struct Batch {
    std::vector<RequestResult> results;
    size_t remaining = 0;
    BatchDone done;
  };
  struct PendingDump {
    std::vector<Message> parts;
    bool interrupted = false;
    DumpDone done;
  };
  struct Queued {
    Message message;
    std::shared_ptr<Batch> batch;
    size_t index = 0;
    std::shared_ptr<PendingDump> dump;
  };
  // Queue entries kept allocated once the queue has drained.
  static constexpr size_t kKeptQueueCapacity = 64;
  struct InFlight {
    std::shared_ptr<Batch> batch;
    size_t index = 0;
    size_t bytes = 0;
    std::shared_ptr<PendingDump> dump;
  };

  void Pump();        // sends queued messages within the in-flight window
  void ArmRead();     // async wait for readable
  void OnReadable();  // drains the socket
  void Dispatch(const nlmsghdr& h, bool multicast);
  void Complete(uint32_t seq, RequestResult result);
  void FailAll(const absl::Status& status);
  // Fails the requests not sent yet.
  void FailQueued(const absl::Status& status);
  // Runs the io_context until `finished`, or until the idle timeout.
  void RunUntil(const std::function<bool()>& finished);
  void PumpRound(std::vector<std::pair<uint32_t, absl::Status>>& failed);

  boost::asio::io_context& io_;
  int fd_;
  boost::asio::posix::stream_descriptor stream_;
  SocketOptions options_;
  ReceiveFn receive_;
  bool addressed_ = false;  // a real netlink socket: sendmsg names the kernel
  uint32_t next_seq_ = 1;
  std::vector<Queued> queue_;
  size_t queue_head_ = 0;
  std::map<uint32_t, InFlight> in_flight_;
  size_t inflight_bytes_ = 0;
  bool reading_ = false;
  bool pumping_ = false;  // inside Pump: a callback's send only asks for another round
  bool pump_again_ = false;
  std::chrono::steady_clock::time_point last_progress_;  // a datagram arrived
  std::vector<uint8_t> rx_;
  EventHandler on_event_;
  std::function<void()> on_resync_;
  uint64_t enobufs_count_ = 0;
};

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_NL_SOCKET_H_
