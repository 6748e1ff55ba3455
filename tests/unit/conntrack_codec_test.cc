// ctnetlink codec: requests match hand-derived golden bytes; dump replies
// captured from the Debian 6.1 kernel (real ICMP/UDP/TCP/ICMPv6 traffic
// through act_ct, and an entry created through ctnetlink) decode to what was
// sent; create messages decode back to the same entry (the dump format
// shares the attribute layout); no truncation of a valid message reads past
// its end (checked under ASan).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include <set>

#include "netlink/conntrack.h"
#include "tests/unit/tc_test_support.h"

namespace vfguard::netlink {
namespace {

using ::vfguard::netlink::testing::HexDump;
using ::vfguard::netlink::testing::ReadHexFile;

std::vector<uint8_t> Fixture(const std::string& name) {
  return ReadHexFile(std::string(TC_FIXTURE_DIR) + "/" + name);
}

// The messages of a fixture that holds several back to back.
std::vector<Message> Messages(const std::vector<uint8_t>& bytes) {
  std::vector<Message> out;
  size_t off = 0;
  while (off + NLMSG_HDRLEN <= bytes.size()) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(bytes.data() + off);
    if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > bytes.size()) break;
    out.emplace_back(bytes.begin() + off, bytes.begin() + off + h->nlmsg_len);
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  return out;
}

CtAddress Addr(int family, const char* text) {
  CtAddress a;
  a.family = family;
  inet_pton(family, text, a.bytes.data());
  return a;
}

CtEntry TcpEntry() {
  CtEntry e;
  e.zone = 300;
  e.orig.src.family = e.orig.dst.family = AF_INET;
  inet_pton(AF_INET, "10.0.0.5", e.orig.src.bytes.data());
  inet_pton(AF_INET, "10.0.0.7", e.orig.dst.bytes.data());
  e.orig.proto = IPPROTO_TCP;
  e.orig.src_port = 1234;
  e.orig.dst_port = 80;
  e.reply = e.orig;
  std::swap(e.reply.src, e.reply.dst);
  std::swap(e.reply.src_port, e.reply.dst_port);
  e.status = IPS_CONFIRMED | IPS_SEEN_REPLY;
  e.timeout = 120;
  e.mark = 7;
  e.tcp_state = 3;
  return e;
}

TEST(ConntrackCodec, CreateRoundTripsThroughTheDecoder) {
  CtEntry e = TcpEntry();
  Message m = EncodeCtCreate(e);
  const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
  EXPECT_EQ(h->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW);
  EXPECT_EQ(h->nlmsg_flags, NLM_F_CREATE | NLM_F_EXCL);
  EXPECT_EQ(h->nlmsg_len, m.size());
  auto d = DecodeCtEntry(m);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, e);
}

TEST(ConntrackCodec, IcmpV6Tuple) {
  CtEntry e;
  e.orig.src.family = e.orig.dst.family = AF_INET6;
  inet_pton(AF_INET6, "fd00::1", e.orig.src.bytes.data());
  inet_pton(AF_INET6, "fd00::2", e.orig.dst.bytes.data());
  e.orig.proto = IPPROTO_ICMPV6;
  e.orig.icmp_id = 99;
  e.orig.icmp_type = 128;
  e.reply = e.orig;
  std::swap(e.reply.src, e.reply.dst);
  e.reply.icmp_type = 129;
  e.status = IPS_CONFIRMED;
  e.timeout = 30;
  auto d = DecodeCtEntry(EncodeCtCreate(e));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, e);
}

TEST(ConntrackCodec, DeleteCarriesTupleAndZone) {
  Message m = EncodeCtDelete(TcpEntry());
  auto d = DecodeCtEntry(m);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->orig, TcpEntry().orig);
  EXPECT_EQ(d->zone, 300);
}

TEST(ConntrackCodec, TruncationsNeverReadPastTheBuffer) {
  Message m = EncodeCtCreate(TcpEntry());
  for (size_t len = 0; len < m.size(); ++len) {
    Message cut(m.begin(), m.begin() + len);
    if (cut.size() >= sizeof(nlmsghdr)) {
      reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = cut.size();
    }
    auto d = DecodeCtEntry(cut);
    // Cuts that happen to end on an attribute boundary may still decode;
    // none may read past the buffer (ASan checks that in the sanitize tier).
    if (d.ok()) {
      EXPECT_EQ(d->orig.proto, IPPROTO_TCP);
    }
  }
  Message wrong = m;
  reinterpret_cast<nlmsghdr*>(wrong.data())->nlmsg_type = 16;
  EXPECT_FALSE(DecodeCtEntry(wrong).ok());
}

TEST(ConntrackGolden, CreateMatchesHandDerivedBytes) {
  std::vector<uint8_t> golden = Fixture("conntrack_req_create_tcp.hex");
  ASSERT_EQ(golden.size(), 172u);
  CtEntry e = TcpEntry();
  e.status = IPS_SEEN_REPLY;  // the encoder adds IPS_CONFIRMED itself
  Message m = EncodeCtCreate(e);
  EXPECT_EQ(m, golden) << "encoded:" << HexDump(m) << "\ngolden:" << HexDump(golden);
}

TEST(ConntrackGolden, DeleteMatchesHandDerivedBytes) {
  std::vector<uint8_t> golden = Fixture("conntrack_req_delete_icmp.hex");
  ASSERT_EQ(golden.size(), 88u);
  CtEntry e;
  e.zone = 7;
  e.orig.src = Addr(AF_INET, "10.0.0.5");
  e.orig.dst = Addr(AF_INET, "10.0.0.7");
  e.orig.proto = IPPROTO_ICMP;
  e.orig.icmp_id = 0x1234;
  e.orig.icmp_type = 8;
  Message m = EncodeCtDelete(e);
  EXPECT_EQ(m, golden) << "encoded:" << HexDump(m) << "\ngolden:" << HexDump(golden);
}

TEST(ConntrackGolden, ZoneDumpMatchesHandDerivedBytes) {
  std::vector<uint8_t> golden = Fixture("conntrack_req_dump_zone7.hex");
  ASSERT_EQ(golden.size(), 28u);
  Message m = EncodeCtDump(AF_UNSPEC, 7);
  EXPECT_EQ(m, golden) << "encoded:" << HexDump(m) << "\ngolden:" << HexDump(golden);
  EXPECT_EQ(EncodeCtDump(AF_UNSPEC).size(), 20u) << "no zone, no CTA_ZONE";
}

TEST(ConntrackKernelReplies, TrafficThroughActCtDecodes) {
  std::vector<Message> parts = Messages(Fixture("conntrack_dump_zone7_traffic.hex"));
  ASSERT_EQ(parts.size(), 4u);
  std::set<int> protos;
  for (const Message& m : parts) {
    auto e = DecodeCtEntry(m);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->zone, 7);
    EXPECT_TRUE(e->status & IPS_CONFIRMED);
    // act_ct moved the UDP flow into its flowtable (IPS_OFFLOAD): such
    // entries age there and report a ctnetlink timeout of 0.
    if (!(e->status & IPS_OFFLOAD)) EXPECT_GT(e->timeout, 0u) << int{e->orig.proto};
    protos.insert(e->orig.proto);
    switch (e->orig.proto) {
      case IPPROTO_ICMP:
        EXPECT_EQ(e->orig.src, Addr(AF_INET, "192.0.7.1"));
        EXPECT_EQ(e->orig.dst, Addr(AF_INET, "192.0.7.2"));
        EXPECT_EQ(e->orig.icmp_type, 8);
        EXPECT_EQ(e->reply.icmp_type, 0);
        EXPECT_EQ(e->orig.icmp_id, e->reply.icmp_id);
        EXPECT_TRUE(e->status & IPS_SEEN_REPLY) << "the ping was answered";
        break;
      case IPPROTO_UDP:
        EXPECT_EQ(e->orig.dst_port, 5353);
        EXPECT_EQ(e->reply.src_port, 5353);
        EXPECT_EQ(e->reply.dst_port, e->orig.src_port);
        break;
      case IPPROTO_TCP:
        EXPECT_EQ(e->orig.dst_port, 8080);
        ASSERT_TRUE(e->tcp_state.has_value());
        EXPECT_TRUE(e->status & IPS_ASSURED) << "a completed handshake and data";
        break;
      case IPPROTO_ICMPV6:
        EXPECT_EQ(e->orig.src, Addr(AF_INET6, "fd00:7::1"));
        EXPECT_EQ(e->orig.dst, Addr(AF_INET6, "fd00:7::2"));
        EXPECT_EQ(e->orig.icmp_type, 128);
        EXPECT_EQ(e->reply.icmp_type, 129);
        break;
      default:
        ADD_FAILURE() << "unexpected protocol " << int{e->orig.proto};
    }
  }
  EXPECT_EQ(protos, (std::set<int>{IPPROTO_ICMP, IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMPV6}));
}

TEST(ConntrackKernelReplies, CreatedEntryReadsBackAsSent) {
  std::vector<Message> parts = Messages(Fixture("conntrack_dump_created_tcp.hex"));
  ASSERT_EQ(parts.size(), 1u);
  auto e = DecodeCtEntry(parts[0]);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->zone, 9);
  EXPECT_EQ(e->orig.src, Addr(AF_INET, "198.51.100.1"));
  EXPECT_EQ(e->orig.dst, Addr(AF_INET, "198.51.100.2"));
  EXPECT_EQ(e->orig.src_port, 40000);
  EXPECT_EQ(e->orig.dst_port, 80);
  EXPECT_EQ(e->reply.src_port, 80);
  EXPECT_EQ(e->reply.dst_port, 40000);
  EXPECT_EQ(e->tcp_state, std::optional<uint8_t>(3));
  EXPECT_EQ(e->status & (IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED),
            IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED);
  EXPECT_LE(e->timeout, 300u);
  EXPECT_GT(e->timeout, 290u);
  // Deleting what was dumped addresses the same tuple and zone.
  auto again = DecodeCtEntry(EncodeCtDelete(*e));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->orig, e->orig);
  EXPECT_EQ(again->zone, 9);
}

TEST(ConntrackKernelReplies, EveryTruncationOfARealReplyIsRejectedOrDecodes) {
  std::vector<Message> parts = Messages(Fixture("conntrack_dump_zone7_traffic.hex"));
  ASSERT_FALSE(parts.empty());
  for (const Message& m : parts) {
    for (size_t len = 0; len < m.size(); ++len) {
      Message cut(m.begin(), m.begin() + len);
      if (len >= NLMSG_HDRLEN) reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = len;
      (void)DecodeCtEntry(cut);  // must not read past `cut` (ASan)
    }
  }
}

}  // namespace
}  // namespace vfguard::netlink
