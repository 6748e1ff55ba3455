// Kernel tier for netlink/conntrack: entries created by real traffic through
// `ct zone N` (act_ct on a veth: ICMP, UDP, TCP, ICMPv6) are counted and
// flushed per zone, one zone without touching another; an entry created
// through ctnetlink reads back. With VFGUARD_NL_CAPTURE_DIR the raw dump
// replies become unit-tier fixtures.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "netlink/conntrack.h"
#include "tests/kernel/nl_capture.h"

namespace vfguard::netlink {
namespace {

int Sh(const std::string& cmd) {
  int rc = system(cmd.c_str());
  if (rc != 0) fprintf(stderr, "failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

CtAddress V4(const char* text) {
  CtAddress a;
  a.family = AF_INET;
  inet_pton(AF_INET, text, a.bytes.data());
  return a;
}

CtAddress V6(const char* text) {
  CtAddress a;
  a.family = AF_INET6;
  inet_pton(AF_INET6, text, a.bytes.data());
  return a;
}

// The raw dump messages of `zone`, for fixtures.
std::vector<Message> RawZone(NetlinkSocket& sock, uint16_t zone) {
  std::vector<Message> out;
  auto parts = sock.DumpWithRetry(EncodeCtDump(AF_UNSPEC));
  if (!parts.ok()) return out;
  for (Message& m : *parts) {
    auto e = DecodeCtEntry(m);
    if (e.ok() && e->zone == zone) out.push_back(std::move(m));
  }
  return out;
}

// Two veth pairs into a peer namespace; traffic on pair N is tracked in zone N.
void SetUpZones() {
  ASSERT_EQ(Sh("ip netns add ctpeer"), 0);
  for (int zone : {7, 8}) {
    std::string a = "a" + std::to_string(zone), b = "b" + std::to_string(zone);
    std::string net = "192.0." + std::to_string(zone) + ".";
    ASSERT_EQ(Sh("ip link add " + a + " type veth peer name " + b + " netns ctpeer"), 0);
    std::string net6 = "fd00:" + std::to_string(zone) + "::";
    ASSERT_EQ(Sh("ip addr add " + net + "1/24 dev " + a + " && ip addr add " + net6 + "1/64 dev " +
                 a + " nodad && ip link set " + a + " up"),
              0);
    ASSERT_EQ(Sh("ip -n ctpeer addr add " + net + "2/24 dev " + b + " && ip -n ctpeer addr add " +
                 net6 + "2/64 dev " + b + " nodad && ip -n ctpeer link set " + b +
                 " up && ip -n ctpeer link set lo up"),
              0);
    ASSERT_EQ(Sh("tc qdisc add dev " + a + " clsact"), 0);
    for (const char* hook : {"ingress", "egress"}) {
      for (const char* proto : {"ip", "ipv6"}) {
        ASSERT_EQ(Sh("tc filter add dev " + a + " " + hook + " protocol " + proto +
                     " flower action ct zone " + std::to_string(zone) + " commit"),
                  0);
      }
    }
  }
}

TEST(ConntrackKernel, CountsAndFlushesEntriesPerZone) {
  SetUpZones();
  // Four flows in zone 7 (ICMP, UDP, TCP, ICMPv6), one in zone 8.
  ASSERT_EQ(Sh("ping -c 2 -i 0.2 -W 2 192.0.7.2 >/dev/null"), 0);
  ASSERT_EQ(Sh("echo x | nc -u -w 1 192.0.7.2 5353 >/dev/null 2>&1; true"), 0);
  // The listener may take a while to start on a loaded machine: wait until
  // it listens (a refused attempt would add a conntrack entry of its own).
  ASSERT_EQ(Sh("(ip netns exec ctpeer timeout 20 nc -l 192.0.7.2 8080 >/dev/null &) && "
               "for i in $(seq 80); do ip netns exec ctpeer ss -Hltn 'sport = :8080' | "
               "grep -q . && break; sleep 0.1; done && "
               "echo hello | nc -N -w 2 192.0.7.2 8080"),
            0);
  ASSERT_EQ(Sh("ping -6 -c 2 -i 0.2 -W 2 fd00:7::2 >/dev/null"), 0);
  ASSERT_EQ(Sh("ping -c 2 -i 0.2 -W 2 192.0.8.2 >/dev/null"), 0);
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_NETFILTER);
  ASSERT_TRUE(sock.ok()) << sock.status();
  Conntrack ct(**sock);
  auto zone7 = ct.DumpZone(7);
  ASSERT_TRUE(zone7.ok()) << zone7.status();
  EXPECT_GE(zone7->size(), 4u);
  bool saw_icmp = false, saw_udp = false, saw_tcp = false, saw_icmpv6 = false;
  for (const CtEntry& e : *zone7) {
    EXPECT_EQ(e.zone, 7);
    if (e.orig.proto == IPPROTO_ICMP) {
      saw_icmp = true;
      EXPECT_EQ(e.orig.dst, V4("192.0.7.2"));
      EXPECT_EQ(e.reply.src, V4("192.0.7.2"));
      EXPECT_EQ(e.orig.icmp_type, 8) << "echo request";
      EXPECT_EQ(e.reply.icmp_type, 0) << "echo reply";
    } else if (e.orig.proto == IPPROTO_UDP) {
      saw_udp = e.orig.dst_port == 5353;
    } else if (e.orig.proto == IPPROTO_TCP) {
      saw_tcp = e.orig.dst_port == 8080 && e.reply.src_port == 8080;
      EXPECT_TRUE(e.tcp_state.has_value()) << "TCP entries carry protoinfo";
    } else if (e.orig.proto == IPPROTO_ICMPV6) {
      saw_icmpv6 = true;
      EXPECT_EQ(e.orig.dst, V6("fd00:7::2"));
      EXPECT_EQ(e.orig.icmp_type, 128) << "echo request";
    }
  }
  EXPECT_TRUE(saw_icmp);
  EXPECT_TRUE(saw_udp);
  EXPECT_TRUE(saw_tcp);
  EXPECT_TRUE(saw_icmpv6);
  testing::CaptureFixture("conntrack_dump_zone7_traffic.hex",
                          "ctnetlink dump replies of zone 7 after ICMP, UDP, TCP and ICMPv6 "
                          "through act_ct zone 7",
                          RawZone(**sock, 7));
  auto count8 = ct.CountZone(8);
  ASSERT_TRUE(count8.ok());
  EXPECT_GE(*count8, 1u);
  // Address-filtered delete: nothing in zone 7 involves 192.0.8.2.
  auto none = ct.DeleteZone(7, V4("192.0.8.2"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);
  auto deleted = ct.DeleteZone(7);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, zone7->size());
  EXPECT_EQ(*ct.CountZone(7), 0u);
  EXPECT_EQ(*ct.CountZone(8), *count8) << "another zone is untouched";
  printf("zone 7: %zu entries flushed; zone 8 kept %zu\n", *deleted, *count8);
}

TEST(ConntrackKernel, CreatedEntryReadsBackAndDeletesByAddress) {
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_NETFILTER);
  ASSERT_TRUE(sock.ok());
  Conntrack ct(**sock);
  CtEntry e;
  e.zone = 9;
  e.orig.src = V4("198.51.100.1");
  e.orig.dst = V4("198.51.100.2");
  e.orig.proto = IPPROTO_TCP;
  e.orig.src_port = 40000;
  e.orig.dst_port = 80;
  e.reply = e.orig;
  std::swap(e.reply.src, e.reply.dst);
  std::swap(e.reply.src_port, e.reply.dst_port);
  e.status = IPS_SEEN_REPLY | IPS_ASSURED;
  e.timeout = 300;
  e.tcp_state = 3;  // TCP_CONNTRACK_ESTABLISHED
  absl::Status st = ct.Create(e);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(ct.Create(e).code(), absl::StatusCode::kAlreadyExists);
  auto zone9 = ct.DumpZone(9);
  ASSERT_TRUE(zone9.ok());
  ASSERT_EQ(zone9->size(), 1u);
  EXPECT_EQ((*zone9)[0].orig, e.orig);
  EXPECT_EQ((*zone9)[0].reply, e.reply);
  EXPECT_EQ((*zone9)[0].tcp_state, std::optional<uint8_t>(3));
  EXPECT_TRUE((*zone9)[0].status & IPS_CONFIRMED) << "inserted into the table";
  EXPECT_TRUE((*zone9)[0].status & IPS_SEEN_REPLY) << "created as established";
  testing::CaptureFixture("conntrack_dump_created_tcp.hex",
                          "ctnetlink dump reply for an ESTABLISHED TCP entry created through "
                          "ctnetlink in zone 9 (198.51.100.1:40000 -> .2:80, timeout 300)",
                          RawZone(**sock, 9));
  auto deleted = ct.DeleteZone(9, V4("198.51.100.2"));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);
  EXPECT_EQ(*ct.CountZone(9), 0u);
}

}  // namespace
}  // namespace vfguard::netlink

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    printf("SKIP: needs root\n");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
    return 77;
  }
  if (system("ip link add ctprobe type veth peer name ctprobe1 2>/dev/null && "
             "tc qdisc add dev ctprobe clsact 2>/dev/null && "
             "tc filter add dev ctprobe ingress protocol ip flower action ct zone 1 2>/dev/null && "
             "ip link del ctprobe") != 0) {
    printf("SKIP: kernel lacks veth/clsact/cls_flower/act_ct\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
