// Kernel tier for netlink/nl_socket: real rtnetlink batches, and a flood of
// link events into a monitor socket with a tiny receive buffer, which must
// produce the ENOBUFS "state lost" signal and a resync dump that matches the
// kernel. Runs in a private network namespace; exits 77 with the reason when
// that is not possible.
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "netlink/nl_socket.h"

namespace vfguard::netlink {
namespace {

constexpr int kLinks = 400;

Message NewDummy(const std::string& name) {
  Message buf(512);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = RTM_NEWLINK;
  h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(h, IFLA_IFNAME, name.c_str());
  nlattr* info = mnl_attr_nest_start(h, IFLA_LINKINFO);
  mnl_attr_put_strz(h, IFLA_INFO_KIND, "dummy");
  mnl_attr_nest_end(h, info);
  buf.resize(h->nlmsg_len);
  return buf;
}

Message GetLinks() {
  Message buf(64);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = RTM_GETLINK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  buf.resize(h->nlmsg_len);
  return buf;
}

int CountLinksByIp() {
  FILE* p = popen("ip -o link show | wc -l", "r");
  int n = -1;
  if (p != nullptr && fscanf(p, "%d", &n) != 1) n = -1;
  if (p != nullptr) pclose(p);
  return n;
}

TEST(NetlinkSocketKernel, BatchCreatesLinksAndReportsPerRequestErrors) {
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_ROUTE);
  ASSERT_TRUE(sock.ok()) << sock.status();
  std::vector<Message> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(NewDummy("b" + std::to_string(i)));
  batch.push_back(NewDummy("b7"));  // duplicate: EEXIST for this one only
  std::vector<RequestResult> r = (*sock)->SendBatchSync(std::move(batch));
  ASSERT_EQ(r.size(), 51u);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(r[i].status.ok()) << i << ": " << r[i].status;
  EXPECT_EQ(r[50].errno_value, EEXIST) << r[50].status;
  auto dump = (*sock)->DumpWithRetry(GetLinks());
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(static_cast<int>(dump->size()), CountLinksByIp());
}

TEST(NetlinkSocketKernel, EventFloodIntoTinyBufferSignalsEnobufsAndResyncs) {
  boost::asio::io_context monitor_io;
  SocketOptions tiny;
  tiny.receive_buffer = 4096;
  auto monitor = NetlinkSocket::Open(monitor_io, NETLINK_ROUTE, tiny);
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  int events = 0;
  int resyncs = 0;
  (*monitor)->SetEventHandler([&](const nlmsghdr& h) {
    if (h.nlmsg_type == RTM_NEWLINK || h.nlmsg_type == RTM_DELLINK) ++events;
  });
  (*monitor)->SetResyncHandler([&] { ++resyncs; });
  ASSERT_TRUE((*monitor)->Subscribe(RTNLGRP_LINK).ok());

  // Flood from another socket while the monitor is not reading.
  boost::asio::io_context control_io;
  auto control = NetlinkSocket::Open(control_io, NETLINK_ROUTE);
  ASSERT_TRUE(control.ok());
  std::vector<Message> batch;
  for (int i = 0; i < kLinks; ++i) batch.push_back(NewDummy("f" + std::to_string(i)));
  for (const RequestResult& r : (*control)->SendBatchSync(std::move(batch))) {
    ASSERT_TRUE(r.status.ok()) << r.status;
  }
  // Now let the monitor drain: the kernel dropped events, so it must say so.
  monitor_io.poll();
  EXPECT_GE((*monitor)->enobufs_count(), 1u);
  EXPECT_GE(resyncs, 1);
  EXPECT_LT(events, kLinks) << "a 4 KiB buffer cannot hold every event";
  // Resync: a full dump through the monitor socket itself matches reality.
  auto dump = (*monitor)->DumpWithRetry(GetLinks());
  ASSERT_TRUE(dump.ok()) << dump.status();
  int names = 0;
  for (const Message& m : *dump) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    if (h->nlmsg_type == RTM_NEWLINK) ++names;
  }
  EXPECT_EQ(names, CountLinksByIp());
  EXPECT_GE(names, kLinks);
  printf("flood: %d links created, %d events seen, %llu ENOBUFS, resync dump %d links\n", kLinks,
         events, static_cast<unsigned long long>((*monitor)->enobufs_count()), names);
}

}  // namespace
}  // namespace vfguard::netlink

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    printf("SKIP: needs root (network namespaces, rtnetlink writes)\n");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    printf("SKIP: unshare(CLONE_NEWNET) failed: %s\n", strerror(errno));
    return 77;
  }
  if (system("ip link add vfgprobe type dummy 2>/dev/null && ip link del vfgprobe") != 0) {
    printf("SKIP: kernel has no dummy links\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
