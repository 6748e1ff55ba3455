// NetlinkSocket against a socketpair peer that speaks netlink framing:
// sequence matching (also out of order), extack, dumps with DUMP_INTR and
// retry, truncation, events.
#include "netlink/nl_socket.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
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

TEST(NlSocketStatus, MapsErrnoAndKeepsExtack) {
  absl::Status st = StatusFromErrno(EEXIST, "Filter already exists");
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("Filter already exists"), std::string::npos);
  EXPECT_NE(st.message().find("errno 17"), std::string::npos);
}

}  // namespace
}  // namespace vfguard::netlink
