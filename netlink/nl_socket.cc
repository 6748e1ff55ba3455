#include "netlink/nl_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vfguard::netlink {
namespace {

// A request's result from the kernel's answer: the errno kept beside the
// status (0 for a malformed answer, which did not come with one).
RequestResult ResultOf(absl::Status status) {
  int err = ErrnoFromStatus(status);
  return RequestResult{std::move(status), err};
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkSocket>> NetlinkSocket::Open(boost::asio::io_context& io,
                                                                   int protocol,
                                                                   SocketOptions options) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (fd < 0) return ErrnoStatus(errno, {}, absl::StrCat("socket(AF_NETLINK, ", protocol, ")"));
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  if (options.set_buffers) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &options.receive_buffer,
                   sizeof(options.receive_buffer)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer,
                 sizeof(options.receive_buffer));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &options.send_buffer,
                   sizeof(options.send_buffer)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options.send_buffer, sizeof(options.send_buffer));
    }
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, {}, "bind");
  }
  return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(io, fd, options, nullptr));
}

std::unique_ptr<NetlinkSocket> NetlinkSocket::FromFd(boost::asio::io_context& io, int fd,
                                                     SocketOptions options, ReceiveFn receive) {
  return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(io, fd, options, std::move(receive)));
}

NetlinkSocket::NetlinkSocket(boost::asio::io_context& io, int fd, SocketOptions options,
                             ReceiveFn receive)
    : io_(io),
      fd_(fd),
      stream_(io, fd),
      options_(options),
      receive_(receive ? std::move(receive) : ReceiveFn(&::recvmsg)),
      rx_(options.receive_chunk_bytes) {
  boost::system::error_code ignored;
  stream_.non_blocking(true, ignored);
  // A socketpair peer (tests) has no netlink address; it is sent to unaddressed.
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  addressed_ = getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 &&
               local.ss_family == AF_NETLINK;
}

NetlinkSocket::~NetlinkSocket() {
  boost::system::error_code ignored;
  stream_.cancel(ignored);
  stream_.close(ignored);  // closes fd_
}

void NetlinkSocket::SetEventHandler(EventHandler handler) {
  on_event_ = std::move(handler);
  if (on_event_) ArmRead();
}

absl::Status NetlinkSocket::Subscribe(uint32_t group) {
  if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0) {
    return ErrnoStatus(errno, {}, absl::StrCat("NETLINK_ADD_MEMBERSHIP ", group));
  }
  ArmRead();
  return absl::OkStatus();
}

void NetlinkSocket::SendBatch(std::vector<Message> requests, BatchDone done) {
  auto batch = std::make_shared<Batch>();
  batch->results.resize(requests.size());
  batch->remaining = requests.size();
  batch->done = std::move(done);
  if (requests.empty()) {
    boost::asio::post(io_, [batch] { batch->done(std::move(batch->results)); });
    return;
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].size() < NLMSG_HDRLEN) {
      batch->results[i].status = absl::InvalidArgumentError("request shorter than a header");
      if (--batch->remaining == 0) {
        boost::asio::post(io_, [batch] { batch->done(std::move(batch->results)); });
      }
      continue;
    }
    queue_.push_back(Queued{std::move(requests[i]), batch, i, nullptr});
  }
  Pump();
}

void NetlinkSocket::Dump(Message request, DumpDone done) {
  auto dump = std::make_shared<PendingDump>();
  dump->done = std::move(done);
  if (request.size() < NLMSG_HDRLEN) {
    boost::asio::post(io_, [dump] { dump->done(absl::InvalidArgumentError("short request")); });
    return;
  }
  reinterpret_cast<nlmsghdr*>(request.data())->nlmsg_flags |= NLM_F_DUMP;
  queue_.push_back(Queued{std::move(request), nullptr, 0, dump});
  Pump();
}

void NetlinkSocket::Request(Message request, DumpDone done) {
  auto pending = std::make_shared<PendingDump>();
  pending->done = std::move(done);
  if (request.size() < NLMSG_HDRLEN) {
    boost::asio::post(io_,
                      [pending] { pending->done(absl::InvalidArgumentError("short request")); });
    return;
  }
  reinterpret_cast<nlmsghdr*>(request.data())->nlmsg_flags |= NLM_F_ACK;
  queue_.push_back(Queued{std::move(request), nullptr, 0, pending});
  Pump();
}

void NetlinkSocket::Pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    std::vector<std::pair<uint32_t, absl::Status>> failed;
    PumpRound(failed);
    // Completions run user callbacks, which may send: after the queue is
    // consistent, and their sends go out in the next round.
    for (auto& [seq, st] : failed) Complete(seq, RequestResult{std::move(st), 0});
  } while (pump_again_);
  pumping_ = false;
  if (!in_flight_.empty()) ArmRead();
}

void NetlinkSocket::PumpRound(std::vector<std::pair<uint32_t, absl::Status>>& failed) {
  // Refill only below half the window, so sends go out in full batches
  // rather than one message per ack.
  if (!in_flight_.empty() && inflight_bytes_ > options_.max_inflight_bytes / 2) return;
  while (queue_head_ < queue_.size()) {
    std::vector<iovec> iov;
    std::vector<uint32_t> seqs;
    size_t bytes = 0;
    while (queue_head_ < queue_.size()) {
      Queued& q = queue_[queue_head_];
      size_t len = q.message.size();
      if (!iov.empty() && (bytes + len > options_.max_batch_bytes ||
                           inflight_bytes_ + bytes + len > options_.max_inflight_bytes)) {
        break;
      }
      if (iov.empty() && !in_flight_.empty() &&
          inflight_bytes_ + len > options_.max_inflight_bytes) {
        break;  // wait for acks
      }
      auto* h = reinterpret_cast<nlmsghdr*>(q.message.data());
      h->nlmsg_len = static_cast<uint32_t>(len);
      h->nlmsg_seq = next_seq_++;
      if (next_seq_ == 0) next_seq_ = 1;  // 0 marks events
      h->nlmsg_pid = 0;
      h->nlmsg_flags |= NLM_F_REQUEST | (q.dump ? 0 : NLM_F_ACK);
      in_flight_[h->nlmsg_seq] = InFlight{q.batch, q.index, len, q.dump};
      iov.push_back(iovec{q.message.data(), len});
      seqs.push_back(h->nlmsg_seq);
      bytes += len;
      ++queue_head_;
    }
    if (iov.empty()) break;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    if (addressed_) {
      msg.msg_name = &kernel;
      msg.msg_namelen = sizeof(kernel);
    }
    ssize_t sent = sendmsg(fd_, &msg, 0);
    if (sent < 0) {
      absl::Status st = ErrnoStatus(errno, {}, "sendmsg");
      for (uint32_t seq : seqs) {
        in_flight_[seq].bytes = 0;  // never added to the window
        failed.emplace_back(seq, st);
      }
      continue;  // the rest of the queue is tried in the next round
    }
    inflight_bytes_ += bytes;
  }
  if (queue_head_ == queue_.size()) {
    // A batch of thousands would otherwise leave its queue's capacity (64
    // bytes per message) allocated for the life of the socket.
    if (queue_.capacity() > kKeptQueueCapacity) {
      std::vector<Queued>().swap(queue_);
    } else {
      queue_.clear();
    }
    queue_head_ = 0;
  }
}

void NetlinkSocket::ArmRead() {
  if (reading_) return;
  reading_ = true;
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& ec) {
                       // Aborted: the socket is being destroyed; touch nothing.
                       if (ec == boost::asio::error::operation_aborted) return;
                       reading_ = false;
                       OnReadable();
                     });
}

void NetlinkSocket::OnReadable() {
  while (true) {
    iovec iov{rx_.data(), rx_.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    sockaddr_nl from{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    ssize_t n = receive_(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        ++enobufs_count_;
        FailAll(absl::UnavailableError(
            "netlink receive buffer overrun (ENOBUFS): state lost, resync needed"));
        if (on_resync_) on_resync_();
        continue;
      }
      FailAll(ErrnoStatus(errno, {}, "recvmsg"));
      break;
    }
    if (n == 0) break;
    last_progress_ = std::chrono::steady_clock::now();
    if (msg.msg_flags & MSG_TRUNC) {
      FailAll(absl::DataLossError("netlink message truncated by recvmsg"));
      continue;
    }
    size_t len = static_cast<size_t>(n);
    // Notifications echo the seq and portid of whichever request caused them
    // (6.1 does so for RTM_DELLINK), so only the multicast source tells them
    // from a reply to us.
    bool multicast = msg.msg_namelen >= sizeof(sockaddr_nl) && from.nl_family == AF_NETLINK &&
                     from.nl_groups != 0;
    for (auto* h = reinterpret_cast<nlmsghdr*>(rx_.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      Dispatch(*h, multicast);
    }
  }
  Pump();
  if (!in_flight_.empty() || on_event_) ArmRead();
}

void NetlinkSocket::Dispatch(const nlmsghdr& h, bool multicast) {
  if (multicast || h.nlmsg_seq == 0) {
    if (on_event_) on_event_(h);
    return;
  }
  auto it = in_flight_.find(h.nlmsg_seq);
  if (it == in_flight_.end()) return;  // a late reply to a request already failed
  if (it->second.dump) {
    PendingDump& dump = *it->second.dump;
    if (h.nlmsg_flags & NLM_F_DUMP_INTR) dump.interrupted = true;
    if (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_type == NLMSG_DONE) {
      Complete(h.nlmsg_seq, ResultOf(KernelAnswerStatus(h)));  // Request()'s ack, or the end
      return;
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(&h);
    dump.parts.emplace_back(bytes, bytes + h.nlmsg_len);
    return;
  }
  if (h.nlmsg_type != NLMSG_ERROR) return;  // a request's echo; acks come as errors
  Complete(h.nlmsg_seq, ResultOf(KernelAnswerStatus(h)));
}

void NetlinkSocket::Complete(uint32_t seq, RequestResult result) {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;
  InFlight done = std::move(it->second);
  in_flight_.erase(it);
  inflight_bytes_ -= std::min(inflight_bytes_, done.bytes);
  if (done.dump) {
    std::shared_ptr<PendingDump> dump = done.dump;
    if (!result.status.ok()) {
      dump->done(result.status);
    } else if (dump->interrupted) {
      dump->done(absl::AbortedError("dump interrupted (NLM_F_DUMP_INTR); retry"));
    } else {
      dump->done(std::move(dump->parts));
    }
  } else if (done.batch) {
    done.batch->results[done.index] = std::move(result);
    if (--done.batch->remaining == 0) done.batch->done(std::move(done.batch->results));
  }
}

void NetlinkSocket::FailAll(const absl::Status& status) {
  std::vector<uint32_t> seqs;
  for (const auto& [seq, f] : in_flight_) seqs.push_back(seq);
  for (uint32_t seq : seqs) Complete(seq, RequestResult{status, 0});
}

void NetlinkSocket::FailQueued(const absl::Status& status) {
  std::vector<Queued> pending(std::make_move_iterator(queue_.begin() + queue_head_),
                              std::make_move_iterator(queue_.end()));
  queue_.clear();
  queue_head_ = 0;
  for (Queued& q : pending) {
    if (q.dump) {
      q.dump->done(status);
    } else if (q.batch) {
      q.batch->results[q.index] = RequestResult{status, 0};
      if (--q.batch->remaining == 0) q.batch->done(std::move(q.batch->results));
    }
  }
}

void NetlinkSocket::RunUntil(const std::function<bool()>& finished) {
  last_progress_ = std::chrono::steady_clock::now();
  while (!finished()) {
    if (io_.stopped()) io_.restart();
    const auto deadline = last_progress_ + options_.idle_timeout;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      const absl::Status late = absl::DeadlineExceededError(
          absl::StrCat("no answer from the kernel for ", options_.idle_timeout.count(), " ms"));
      FailAll(late);
      FailQueued(late);
      if (!finished()) io_.poll();  // completions posted rather than called
      if (!finished()) return;      // nothing of ours was waiting: give up
      continue;
    }
    if (io_.run_one_for(deadline - now) == 0 && io_.stopped()) io_.restart();
  }
}

std::vector<RequestResult> NetlinkSocket::SendBatchSync(std::vector<Message> requests) {
  // One result per request, whatever happens.
  std::vector<RequestResult> out(requests.size(),
                                 RequestResult{absl::DeadlineExceededError("not answered"), 0});
  bool finished = false;
  SendBatch(std::move(requests), [&](std::vector<RequestResult> r) {
    out = std::move(r);
    finished = true;
  });
  RunUntil([&] { return finished; });
  return out;
}

absl::StatusOr<std::vector<Message>> NetlinkSocket::DumpSync(Message request) {
  absl::StatusOr<std::vector<Message>> out = absl::UnknownError("not finished");
  bool finished = false;
  Dump(std::move(request), [&](absl::StatusOr<std::vector<Message>> r) {
    out = std::move(r);
    finished = true;
  });
  RunUntil([&] { return finished; });
  return out;
}

absl::StatusOr<std::vector<Message>> NetlinkSocket::RequestSync(Message request) {
  absl::StatusOr<std::vector<Message>> out = absl::UnknownError("not finished");
  bool finished = false;
  Request(std::move(request), [&](absl::StatusOr<std::vector<Message>> r) {
    out = std::move(r);
    finished = true;
  });
  RunUntil([&] { return finished; });
  return out;
}

void NetlinkSocket::DumpRetrying(Message request, int attempts, DumpDone done) {
  Message copy = request;
  Dump(std::move(copy), [this, request = std::move(request), attempts,
                         done = std::move(done)](absl::StatusOr<std::vector<Message>> r) mutable {
    if (!r.ok() && r.status().code() == absl::StatusCode::kAborted && attempts > 1) {
      DumpRetrying(std::move(request), attempts - 1, std::move(done));
      return;
    }
    done(std::move(r));
  });
}

absl::StatusOr<std::vector<Message>> NetlinkSocket::DumpWithRetry(const Message& request,
                                                                  int attempts) {
  absl::StatusOr<std::vector<Message>> out = absl::UnknownError("not finished");
  bool finished = false;
  DumpRetrying(request, attempts, [&](absl::StatusOr<std::vector<Message>> r) {
    out = std::move(r);
    finished = true;
  });
  RunUntil([&] { return finished; });
  return out;
}

}  // namespace vfguard::netlink
