// ctnetlink codec: create messages decode back to the same entry (the dump
// format shares the attribute layout), fixed header fields, and that no
// truncation of a valid message reads past its end (checked under ASan).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include "netlink/conntrack.h"

namespace vfguard::netlink {
namespace {

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

}  // namespace
}  // namespace vfguard::netlink
