// NetlinkSocket against a socketpair peer that speaks netlink framing:
// sequence matching (also out of order), extack (capped and with the request
// echoed), batch and window limits, dumps with DUMP_INTR and retry, dumps
// failing in NLMSG_DONE, truncation, ENOBUFS (injected through the receive
// hook, which a socketpair cannot produce), events.
#include "netlink/nl_socket.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

namespace vfguard::netlink {
namespace {

Message Request(uint16_t type) {
  Message m(NLMSG_HDRLEN + 4, 0);
  auto* h = reinterpret_cast<nlmsghdr*>(m.data());
  h->nlmsg_len = m.size();
  h->nlmsg_type = type;
  return m;
}

// Builds an NLMSG_ERROR for `seq` with `error` and an optional extack text.
Message ErrorReply(uint32_t seq, int error, const std::string& extack = "") {
  size_t attr_len = extack.empty() ? 0 : NLA_ALIGN(NLA_HDRLEN + extack.size() + 1);
  Message m(NLMSG_HDRLEN + sizeof(nlmsgerr) + attr_len, 0);
  auto* h = reinterpret_cast<nlmsghdr*>(m.data());
  h->nlmsg_len = m.size();
  h->nlmsg_type = NLMSG_ERROR;
  h->nlmsg_seq = seq;
  h->nlmsg_flags = NLM_F_CAPPED | (extack.empty() ? 0 : NLM_F_ACK_TLVS);
  auto* e = reinterpret_cast<nlmsgerr*>(m.data() + NLMSG_HDRLEN);
  e->error = -error;
  e->msg.nlmsg_len = NLMSG_HDRLEN;
  e->msg.nlmsg_seq = seq;
  if (!extack.empty()) {
    auto* a = reinterpret_cast<nlattr*>(m.data() + NLMSG_HDRLEN + sizeof(nlmsgerr));
    a->nla_type = NLMSGERR_ATTR_MSG;
    a->nla_len = NLA_HDRLEN + extack.size() + 1;
    memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, extack.c_str(), extack.size() + 1);
  }
  return m;
}

Message Part(uint32_t seq, uint16_t type, uint16_t flags, uint8_t tag) {
  Message m(NLMSG_HDRLEN + 4, 0);
  auto* h = reinterpret_cast<nlmsghdr*>(m.data());
  h->nlmsg_len = m.size();
  h->nlmsg_type = type;
  h->nlmsg_seq = seq;
  h->nlmsg_flags = flags;
  m[NLMSG_HDRLEN] = tag;
  return m;
}

// Reads one datagram and returns the headers of the messages in it.
std::vector<nlmsghdr> ReadRequests(int fd) {
  std::vector<uint8_t> buf(1 << 16);
  ssize_t n = recv(fd, buf.data(), buf.size(), 0);
  std::vector<nlmsghdr> out;
  size_t len = n > 0 ? n : 0;
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
       h = NLMSG_NEXT(h, len)) {
    out.push_back(*h);
  }
  return out;
}

void SendDatagram(int fd, const std::vector<Message>& msgs) {
  Message all;
  for (const Message& m : msgs) all.insert(all.end(), m.begin(), m.end());
  ASSERT_EQ(send(fd, all.data(), all.size(), 0), static_cast<ssize_t>(all.size()));
}

class NlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
    peer_ = fds[1];
    SocketOptions opts;
    opts.set_buffers = false;
    opts.receive_chunk_bytes = 4096;
    sock_ = NetlinkSocket::FromFd(io_, fds[0], opts);
  }
  void TearDown() override { close(peer_); }
  boost::asio::io_context io_;
  std::unique_ptr<NetlinkSocket> sock_;
  int peer_ = -1;
};

TEST_F(NlSocketTest, BatchSharesOneSendAndMatchesAcksBySequenceOutOfOrder) {
  std::thread peer([&] {
    std::vector<nlmsghdr> reqs = ReadRequests(peer_);
    ASSERT_EQ(reqs.size(), 4u) << "all requests in one sendmsg";
    for (const nlmsghdr& h : reqs) {
      EXPECT_TRUE(h.nlmsg_flags & NLM_F_REQUEST);
      EXPECT_TRUE(h.nlmsg_flags & NLM_F_ACK);
    }
    // Reply in reverse order; the third fails with an extack.
    SendDatagram(peer_, {ErrorReply(reqs[3].nlmsg_seq, 0),
                         ErrorReply(reqs[2].nlmsg_seq, EOPNOTSUPP, "skip_sw not supported"),
                         ErrorReply(reqs[1].nlmsg_seq, 0), ErrorReply(reqs[0].nlmsg_seq, 0)});
  });
  std::vector<RequestResult> r =
      sock_->SendBatchSync({Request(1), Request(2), Request(3), Request(4)});
  peer.join();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(r[0].status.ok());
  EXPECT_TRUE(r[1].status.ok());
  EXPECT_EQ(r[2].errno_value, EOPNOTSUPP);
  EXPECT_EQ(r[2].status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(r[2].status.message().find("skip_sw not supported"), std::string::npos) << r[2].status;
  EXPECT_TRUE(r[3].status.ok());
}

TEST_F(NlSocketTest, WindowLimitsUnacknowledgedBytes) {
  SocketOptions opts;
  opts.set_buffers = false;
  opts.max_inflight_bytes = 2 * (NLMSG_HDRLEN + 4);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  auto sock = NetlinkSocket::FromFd(io_, fds[0], opts);
  std::vector<size_t> datagram_sizes;
  std::thread peer([&] {
    size_t acked = 0;
    while (acked < 5) {
      std::vector<nlmsghdr> reqs = ReadRequests(fds[1]);
      datagram_sizes.push_back(reqs.size());
      std::vector<Message> acks;
      for (const nlmsghdr& h : reqs) acks.push_back(ErrorReply(h.nlmsg_seq, 0));
      SendDatagram(fds[1], acks);
      acked += reqs.size();
    }
  });
  auto r = sock->SendBatchSync({Request(1), Request(1), Request(1), Request(1), Request(1)});
  peer.join();
  close(fds[1]);
  EXPECT_EQ(r.size(), 5u);
  size_t total = 0;
  for (size_t n : datagram_sizes) {
    EXPECT_LE(n, 2u);  // never more than the window unacknowledged
    total += n;
  }
  EXPECT_EQ(total, 5u);
  EXPECT_GE(datagram_sizes.size(), 3u);
}

TEST_F(NlSocketTest, DumpCollectsPartsUntilDone) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(reqs[0].nlmsg_flags & NLM_F_DUMP);
    uint32_t seq = reqs[0].nlmsg_seq;
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI, 1), Part(seq, 100, NLM_F_MULTI, 2)});
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI, 3), Part(seq, NLMSG_DONE, NLM_F_MULTI, 0)});
  });
  auto parts = sock_->DumpSync(Request(100));
  peer.join();
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[2][NLMSG_HDRLEN], 3);
}

TEST_F(NlSocketTest, InterruptedDumpIsAbortedAndRetried) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    uint32_t seq = reqs[0].nlmsg_seq;
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI | NLM_F_DUMP_INTR, 1),
                         Part(seq, NLMSG_DONE, NLM_F_MULTI, 0)});
    reqs = ReadRequests(peer_);
    seq = reqs[0].nlmsg_seq;
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI, 7), Part(seq, NLMSG_DONE, NLM_F_MULTI, 0)});
  });
  auto parts = sock_->DumpWithRetry(Request(100));
  peer.join();
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0][NLMSG_HDRLEN], 7);
}

TEST_F(NlSocketTest, RetriesStopAfterTheGivenAttempts) {
  int dumps_seen = 0;
  std::thread peer([&] {
    for (int i = 0; i < 3; ++i) {
      auto reqs = ReadRequests(peer_);
      ASSERT_EQ(reqs.size(), 1u);
      ++dumps_seen;
      uint32_t seq = reqs[0].nlmsg_seq;
      SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI | NLM_F_DUMP_INTR, 1),
                           Part(seq, NLMSG_DONE, NLM_F_MULTI, 0)});
    }
  });
  absl::StatusOr<std::vector<Message>> result = absl::UnknownError("not called");
  bool finished = false;
  sock_->DumpRetrying(Request(100), 3, [&](absl::StatusOr<std::vector<Message>> r) {
    result = std::move(r);
    finished = true;
  });
  while (!finished) io_.run_one();
  peer.join();
  EXPECT_EQ(dumps_seen, 3);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
}

TEST_F(NlSocketTest, InterruptedDumpWithoutRetryReportsAborted) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    uint32_t seq = reqs[0].nlmsg_seq;
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI | NLM_F_DUMP_INTR, 1),
                         Part(seq, NLMSG_DONE, NLM_F_MULTI, 0)});
  });
  auto parts = sock_->DumpSync(Request(100));
  peer.join();
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kAborted);
}

TEST_F(NlSocketTest, TruncatedDatagramFailsInFlightRequests) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    Message big = Part(reqs[0].nlmsg_seq, 100, NLM_F_MULTI, 1);
    big.resize(8192);  // larger than the 4096-byte receive chunk
    reinterpret_cast<nlmsghdr*>(big.data())->nlmsg_len = big.size();
    SendDatagram(peer_, {big});
  });
  auto parts = sock_->DumpSync(Request(100));
  peer.join();
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(NlSocketTest, SequenceZeroMessagesAreEvents) {
  int events = 0;
  sock_->SetEventHandler([&](const nlmsghdr& h) { events += h.nlmsg_type == 16 ? 1 : 0; });
  std::thread peer([&] {
    SendDatagram(peer_, {Part(0, 16, 0, 1), Part(0, 16, 0, 2)});
    auto reqs = ReadRequests(peer_);
    SendDatagram(peer_, {ErrorReply(reqs[0].nlmsg_seq, 0)});
  });
  // A request keeps the reactor reading until its ack; the events arrive first.
  auto r = sock_->SendBatchSync({Request(1)});
  peer.join();
  EXPECT_TRUE(r[0].status.ok());
  EXPECT_EQ(events, 2);
}

TEST_F(NlSocketTest, BatchesRespectTheMaximumBatchSize) {
  SocketOptions opts;
  opts.set_buffers = false;
  opts.max_batch_bytes = 3 * (NLMSG_HDRLEN + 4);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  auto sock = NetlinkSocket::FromFd(io_, fds[0], opts);
  std::vector<size_t> datagram_sizes;
  std::thread peer([&] {
    size_t acked = 0;
    while (acked < 7) {
      std::vector<nlmsghdr> reqs = ReadRequests(fds[1]);
      datagram_sizes.push_back(reqs.size());
      std::vector<Message> acks;
      for (const nlmsghdr& h : reqs) acks.push_back(ErrorReply(h.nlmsg_seq, 0));
      SendDatagram(fds[1], acks);
      acked += reqs.size();
    }
  });
  std::vector<Message> requests(7, Request(1));
  auto r = sock->SendBatchSync(std::move(requests));
  peer.join();
  close(fds[1]);
  ASSERT_EQ(r.size(), 7u);
  for (const RequestResult& result : r) EXPECT_TRUE(result.status.ok()) << result.status;
  // 7 messages at 3 per sendmsg: 3 + 3 + 1, all sent before any ack is needed.
  EXPECT_EQ(datagram_sizes, (std::vector<size_t>{3, 3, 1}));
}

TEST_F(NlSocketTest, ExtackIsFoundAfterAnEchoedRequest) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    // Not NLM_F_CAPPED: the whole 20-byte request is echoed before the TLVs.
    Message m = ErrorReply(reqs[0].nlmsg_seq, EINVAL, "");
    auto* h = reinterpret_cast<nlmsghdr*>(m.data());
    h->nlmsg_flags = NLM_F_ACK_TLVS;
    reinterpret_cast<nlmsgerr*>(m.data() + NLMSG_HDRLEN)->msg.nlmsg_len = NLMSG_HDRLEN + 4;
    m.insert(m.end(), 4, 0xee);  // the echoed request's payload
    std::string text = "Unknown device type";
    Message attr(NLA_ALIGN(NLA_HDRLEN + text.size() + 1), 0);
    auto* a = reinterpret_cast<nlattr*>(attr.data());
    a->nla_type = NLMSGERR_ATTR_MSG;
    a->nla_len = NLA_HDRLEN + text.size() + 1;
    memcpy(attr.data() + NLA_HDRLEN, text.c_str(), text.size() + 1);
    m.insert(m.end(), attr.begin(), attr.end());
    reinterpret_cast<nlmsghdr*>(m.data())->nlmsg_len = m.size();
    SendDatagram(peer_, {m});
  });
  auto r = sock_->SendBatchSync({Request(16)});
  peer.join();
  EXPECT_EQ(r[0].errno_value, EINVAL);
  EXPECT_EQ(r[0].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r[0].status.message().find("Unknown device type"), std::string::npos) << r[0].status;
}

TEST_F(NlSocketTest, DumpFailingInDoneReportsTheErrnoAndExtack) {
  std::thread peer([&] {
    auto reqs = ReadRequests(peer_);
    uint32_t seq = reqs[0].nlmsg_seq;
    // NLMSG_DONE whose payload is -ENOBUFS, followed by an extack message.
    std::string text = "dump buffer exhausted";
    Message done(NLMSG_LENGTH(4) + NLA_ALIGN(NLA_HDRLEN + text.size() + 1), 0);
    auto* h = reinterpret_cast<nlmsghdr*>(done.data());
    h->nlmsg_len = done.size();
    h->nlmsg_type = NLMSG_DONE;
    h->nlmsg_flags = NLM_F_MULTI | NLM_F_ACK_TLVS;
    h->nlmsg_seq = seq;
    int32_t err = -EMSGSIZE;
    memcpy(done.data() + NLMSG_HDRLEN, &err, 4);
    auto* a = reinterpret_cast<nlattr*>(done.data() + NLMSG_LENGTH(4));
    a->nla_type = NLMSGERR_ATTR_MSG;
    a->nla_len = NLA_HDRLEN + text.size() + 1;
    memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, text.c_str(), text.size() + 1);
    SendDatagram(peer_, {Part(seq, 100, NLM_F_MULTI, 1), done});
  });
  auto parts = sock_->DumpSync(Request(100));
  peer.join();
  ASSERT_FALSE(parts.ok());
  EXPECT_NE(parts.status().message().find("errno 90"), std::string::npos) << parts.status();
  EXPECT_NE(parts.status().message().find("dump buffer exhausted"), std::string::npos);
}

// A receive hook that fails the next read with `inject` (once), then reads.
struct FaultyReceive {
  std::shared_ptr<std::atomic<int>> inject = std::make_shared<std::atomic<int>>(0);
  NetlinkSocket::ReceiveFn fn() const {
    auto next = inject;
    return [next](int fd, msghdr* msg, int flags) -> ssize_t {
      if (int err = next->exchange(0); err != 0) {
        errno = err;
        return -1;
      }
      return ::recvmsg(fd, msg, flags);
    };
  }
};

TEST_F(NlSocketTest, EnobufsFailsInFlightRequestsSignalsResyncAndKeepsTheSocket) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  SocketOptions opts;
  opts.set_buffers = false;
  FaultyReceive faulty;
  auto sock = NetlinkSocket::FromFd(io_, fds[0], opts, faulty.fn());
  int resyncs = 0;
  int events = 0;
  sock->SetResyncHandler([&] { ++resyncs; });
  sock->SetEventHandler([&](const nlmsghdr&) { ++events; });
  std::thread peer([&] {
    auto reqs = ReadRequests(fds[1]);
    ASSERT_EQ(reqs.size(), 2u);
    // The kernel lost messages: the next read reports ENOBUFS, then the acks
    // (which the socket can no longer trust to be complete) arrive late.
    faulty.inject->store(ENOBUFS);
    SendDatagram(fds[1], {ErrorReply(reqs[0].nlmsg_seq, 0)});
    reqs = ReadRequests(fds[1]);  // the socket is still usable
    ASSERT_EQ(reqs.size(), 1u);
    SendDatagram(fds[1], {Part(0, 16, 0, 1), ErrorReply(reqs[0].nlmsg_seq, 0)});
  });
  auto first = sock->SendBatchSync({Request(1), Request(2)});
  ASSERT_EQ(first.size(), 2u);
  for (const RequestResult& r : first) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
    EXPECT_NE(r.status.message().find("resync"), std::string::npos);
  }
  EXPECT_EQ(resyncs, 1);
  EXPECT_EQ(sock->enobufs_count(), 1u);
  auto second = sock->SendBatchSync({Request(3)});
  peer.join();
  close(fds[1]);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].status.ok()) << second[0].status;
  EXPECT_EQ(events, 1);
  EXPECT_EQ(resyncs, 1);
}

TEST_F(NlSocketTest, InterruptedReadIsRetried) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  SocketOptions opts;
  opts.set_buffers = false;
  FaultyReceive faulty;
  auto sock = NetlinkSocket::FromFd(io_, fds[0], opts, faulty.fn());
  int resyncs = 0;
  sock->SetResyncHandler([&] { ++resyncs; });
  std::thread peer([&] {
    auto reqs = ReadRequests(fds[1]);
    faulty.inject->store(EINTR);
    SendDatagram(fds[1], {ErrorReply(reqs[0].nlmsg_seq, EEXIST)});
  });
  auto r = sock->SendBatchSync({Request(1)});
  peer.join();
  close(fds[1]);
  EXPECT_EQ(r[0].errno_value, EEXIST);
  EXPECT_EQ(resyncs, 0);
}

TEST_F(NlSocketTest, MulticastNotificationEchoingARequestsSeqIsAnEvent) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  SocketOptions opts;
  opts.set_buffers = false;
  // The next datagram read is marked as coming from multicast group 1, as the
  // kernel's sender address would be for a notification.
  auto mark_multicast = std::make_shared<std::atomic<bool>>(false);
  auto sock = NetlinkSocket::FromFd(io_, fds[0], opts,
                                    [mark_multicast](int fd, msghdr* msg, int flags) -> ssize_t {
                                      ssize_t n = ::recvmsg(fd, msg, flags);
                                      if (n >= 0 && mark_multicast->exchange(false)) {
                                        sockaddr_nl from{};
                                        from.nl_family = AF_NETLINK;
                                        from.nl_groups = 1;
                                        memcpy(msg->msg_name, &from, sizeof(from));
                                        msg->msg_namelen = sizeof(from);
                                      }
                                      return n;
                                    });
  std::vector<uint32_t> event_seqs;
  sock->SetEventHandler([&](const nlmsghdr& h) { event_seqs.push_back(h.nlmsg_seq); });
  uint32_t seq = 0;
  std::thread peer([&] {
    auto reqs = ReadRequests(fds[1]);
    seq = reqs[0].nlmsg_seq;
    // A notification caused by our own request, carrying its seq, comes
    // first; it must neither complete nor fail the request.
    mark_multicast->store(true);
    SendDatagram(fds[1], {ErrorReply(seq, EEXIST)});
    while (mark_multicast->load()) std::this_thread::yield();
    SendDatagram(fds[1], {ErrorReply(seq, 0)});
  });
  auto r = sock->SendBatchSync({Request(17)});
  peer.join();
  close(fds[1]);
  EXPECT_TRUE(r[0].status.ok()) << r[0].status;
  EXPECT_EQ(event_seqs, (std::vector<uint32_t>{seq}));
}

TEST_F(NlSocketTest, EventsAreReadWithoutAnyRequestInFlight) {
  int events = 0;
  sock_->SetEventHandler([&](const nlmsghdr&) { ++events; });
  SendDatagram(peer_, {Part(0, 16, 0, 1)});
  SendDatagram(peer_, {Part(0, 17, 0, 2)});
  for (int i = 0; i < 100 && events < 2; ++i) io_.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(events, 2);
}

// A peer that never answers: the blocking calls give up after the idle
// timeout with kDeadlineExceeded, for the request in flight and the ones
// still queued behind the window, and the socket stays usable.
TEST(NlSocketDeadline, SilentPeerFailsEveryRequestAfterTheIdleTimeout) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  boost::asio::io_context io;
  SocketOptions opts;
  opts.set_buffers = false;
  opts.idle_timeout = std::chrono::milliseconds(200);
  opts.max_inflight_bytes = NLMSG_HDRLEN + 4;  // one request in flight, the rest queued
  auto sock = NetlinkSocket::FromFd(io, fds[0], opts);
  const auto start = std::chrono::steady_clock::now();
  std::vector<RequestResult> r = sock->SendBatchSync({Request(1), Request(2), Request(3)});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.size(), 3u);
  for (const RequestResult& one : r) {
    EXPECT_EQ(one.status.code(), absl::StatusCode::kDeadlineExceeded) << one.status;
  }
  EXPECT_GE(took, std::chrono::milliseconds(200));
  absl::StatusOr<std::vector<Message>> d = sock->DumpSync(Request(5));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDeadlineExceeded) << d.status();
  // A late answer to a request that timed out is dropped; a new request works.
  std::vector<nlmsghdr> sent = ReadRequests(fds[1]);
  ASSERT_FALSE(sent.empty());
  SendDatagram(fds[1], {ErrorReply(sent[0].nlmsg_seq, 0)});
  std::thread peer([&] {
    for (;;) {
      std::vector<nlmsghdr> reqs = ReadRequests(fds[1]);
      if (reqs.empty()) return;
      if (reqs.back().nlmsg_type != 7) continue;  // what the timed-out calls left behind
      SendDatagram(fds[1], {ErrorReply(reqs.back().nlmsg_seq, 0)});
      return;
    }
  });
  std::vector<RequestResult> again = sock->SendBatchSync({Request(7)});
  peer.join();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].status.ok()) << again[0].status;
  close(fds[1]);
}

// The timeout is on silence, not on the whole call: a peer that answers
// slowly but steadily is waited for.
TEST(NlSocketDeadline, AnsweringPeerIsWaitedForLongerThanTheIdleTimeout) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  boost::asio::io_context io;
  SocketOptions opts;
  opts.set_buffers = false;
  opts.idle_timeout = std::chrono::milliseconds(300);
  opts.max_inflight_bytes = NLMSG_HDRLEN + 4;  // one at a time
  auto sock = NetlinkSocket::FromFd(io, fds[0], opts);
  std::thread peer([&] {
    for (int i = 0; i < 4; ++i) {
      std::vector<nlmsghdr> reqs = ReadRequests(fds[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));  // 600 ms in all
      for (const nlmsghdr& h : reqs) SendDatagram(fds[1], {ErrorReply(h.nlmsg_seq, 0)});
    }
  });
  std::vector<RequestResult> r =
      sock->SendBatchSync({Request(1), Request(2), Request(3), Request(4)});
  peer.join();
  ASSERT_EQ(r.size(), 4u);
  for (const RequestResult& one : r) EXPECT_TRUE(one.status.ok()) << one.status;
  close(fds[1]);
}

// A completion that sends (here: a failed sendmsg's callback queueing a new
// request) does not re-enter the send loop; its request goes out after.
TEST_F(NlSocketTest, ACallbackThatSendsIsQueuedNotReentered) {
  close(peer_);  // sendmsg now fails with ECONNREFUSED / ENOTCONN
  peer_ = -1;
  std::vector<absl::Status> seen;
  bool second_done = false;
  sock_->SendBatch({Request(1)}, [&](std::vector<RequestResult> r) {
    seen.push_back(r[0].status);
    sock_->SendBatch({Request(2)}, [&](std::vector<RequestResult> r2) {
      seen.push_back(r2[0].status);
      second_done = true;
    });
  });
  while (!second_done && io_.run_one_for(std::chrono::seconds(2)) > 0) {
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].ok());
  EXPECT_FALSE(seen[1].ok());
}

}  // namespace
}  // namespace vfguard::netlink
