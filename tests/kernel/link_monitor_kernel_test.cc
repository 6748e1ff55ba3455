// Kernel tier for netlink/link_monitor: add, rename, up, down and delete of
// real links arrive as events; a flood of adds and deletes (dummy and veth)
// into a tiny receive buffer is repaired by a resync whose view equals
// `ip link`'s; DecodeLink reads the kernel's own RTM_NEWLINK/RTM_DELLINK
// (captured as unit fixtures with VFGUARD_NL_CAPTURE_DIR).
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "netlink/link_monitor.h"
#include "netlink/nl_socket.h"
#include "tests/kernel/nl_capture.h"

namespace vfguard::netlink {
namespace {

int Sh(const std::string& cmd) { return system(cmd.c_str()); }

int CountLinksByIp() {
  FILE* p = popen("ip -o link show | wc -l", "r");
  int n = -1;
  if (p != nullptr && fscanf(p, "%d", &n) != 1) n = -1;
  if (p != nullptr) pclose(p);
  return n;
}

// ifindex -> name as `ip -o link` lists them.
std::map<int, std::string> LinksByIp() {
  std::map<int, std::string> out;
  FILE* p = popen("ip -o link show", "r");
  if (p == nullptr) return out;
  char line[1024];
  while (fgets(line, sizeof(line), p) != nullptr) {
    int ifindex = 0;
    char name[IFNAMSIZ + 32] = {};
    if (sscanf(line, "%d: %47[^:@ ]", &ifindex, name) == 2) out[ifindex] = name;
  }
  pclose(p);
  return out;
}

Message GetLink(const std::string& name) {
  Message buf(256);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = RTM_GETLINK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(h, IFLA_IFNAME, name.c_str());
  buf.resize(h->nlmsg_len);
  return buf;
}

struct Event {
  LinkChange change;
  std::string name;
};

TEST(LinkMonitorKernel, ReportsAddRenameUpDownRemove) {
  boost::asio::io_context io;
  std::vector<Event> events;
  auto mon = LinkMonitor::Start(io, [&](LinkChange c, const Link& l) {
    events.push_back({c, l.name});
  });
  ASSERT_TRUE(mon.ok()) << mon.status();
  size_t initial = (*mon)->links().size();
  EXPECT_EQ(static_cast<int>(initial), CountLinksByIp());
  ASSERT_EQ(Sh("ip link add lm0 type dummy"), 0);
  ASSERT_EQ(Sh("ip link set lm0 name lm1"), 0);
  ASSERT_EQ(Sh("ip link set lm1 up"), 0);
  ASSERT_EQ(Sh("ip link set lm1 down"), 0);
  ASSERT_EQ(Sh("ip link del lm1"), 0);
  for (int i = 0; i < 50 && (events.empty() || events.back().change != LinkChange::kRemoved); ++i) {
    io.run_for(std::chrono::milliseconds(100));
  }
  std::vector<std::string> seen;
  for (const Event& e : events) seen.push_back(std::string(ToString(e.change)) + ":" + e.name);
  auto has = [&](const std::string& s) {
    return std::find(seen.begin(), seen.end(), s) != seen.end();
  };
  EXPECT_TRUE(has("added:lm0"));
  EXPECT_TRUE(has("renamed:lm1"));
  EXPECT_TRUE(has("up:lm1"));
  EXPECT_TRUE(has("down:lm1"));
  EXPECT_TRUE(has("removed:lm1"));
  EXPECT_EQ((*mon)->links().size(), initial);
}

TEST(LinkMonitorKernel, FloodIntoTinyBufferResyncsToTheKernelsView) {
  boost::asio::io_context io;
  std::set<std::string> added;
  std::set<std::string> removed;
  std::vector<absl::Status> resyncs;
  // Links that exist before the monitor starts and are deleted in the flood.
  ASSERT_EQ(Sh("for i in $(seq 1 100); do echo link add old$i type dummy; done | ip -batch -"), 0);
  auto mon = LinkMonitor::Start(
      io,
      [&](LinkChange c, const Link& l) {
        if (c == LinkChange::kAdded) added.insert(l.name);
        if (c == LinkChange::kRemoved) removed.insert(l.name);
      },
      /*receive_buffer=*/4096);
  ASSERT_TRUE(mon.ok()) << mon.status();
  (*mon)->SetResyncHandler([&](const absl::Status& st) { resyncs.push_back(st); });
  // 300 dummies and 50 veth pairs created, the 100 old links and 50 of the
  // new dummies deleted, while the monitor is not reading.
  ASSERT_EQ(Sh("{ for i in $(seq 1 300); do echo link add fl$i type dummy; done; "
               "for i in $(seq 1 50); do echo link add va$i type veth peer name vb$i; done; "
               "for i in $(seq 1 100); do echo link del old$i; done; "
               "for i in $(seq 1 50); do echo link del fl$i; done; } | ip -batch -"),
            0);
  for (int i = 0; i < 100 && resyncs.empty(); ++i) io.run_for(std::chrono::milliseconds(50));
  io.run_for(std::chrono::milliseconds(500));
  ASSERT_GE(resyncs.size(), 1u) << "a 4 KiB buffer cannot hold ~600 link events";
  for (const absl::Status& st : resyncs) EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ((*mon)->resyncs(), resyncs.size());
  std::map<int, std::string> monitor_view;
  for (const auto& [ifindex, link] : (*mon)->links()) monitor_view[ifindex] = link.name;
  std::map<int, std::string> kernel_view = LinksByIp();
  EXPECT_EQ(monitor_view, kernel_view) << "the resynced cache is what `ip link` shows";
  EXPECT_EQ(kernel_view.size(), 1u + 250u + 100u) << "lo, 250 dummies, 50 veth pairs";
  // Every change is reported once, through events or the resync's difference;
  // a link created and deleted between two reads may never be seen at all.
  for (int i = 51; i <= 300; ++i) EXPECT_TRUE(added.count("fl" + std::to_string(i))) << i;
  for (int i = 1; i <= 50; ++i) EXPECT_TRUE(added.count("va" + std::to_string(i))) << i;
  for (int i = 1; i <= 100; ++i) EXPECT_TRUE(removed.count("old" + std::to_string(i))) << i;
  std::set<std::string> names;
  for (const auto& [ifindex, name] : monitor_view) names.insert(name);
  for (int i = 1; i <= 50; ++i) EXPECT_FALSE(names.count("fl" + std::to_string(i))) << i;
  printf(
      "flood: ~700 link changes, %zu resync(s), %zu added and %zu removed reported, "
      "%zu links match ip link\n",
      resyncs.size(), added.size(), removed.size(), kernel_view.size());
}

TEST(LinkMonitorKernel, DecodesTheKernelsOwnLinkMessages) {
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_ROUTE);
  ASSERT_TRUE(sock.ok()) << sock.status();
  std::vector<Message> events;
  (*sock)->SetEventHandler([&](const nlmsghdr& h) {
    const auto* p = reinterpret_cast<const uint8_t*>(&h);
    events.emplace_back(p, p + h.nlmsg_len);
  });
  ASSERT_TRUE((*sock)->Subscribe(RTNLGRP_LINK).ok());
  ASSERT_EQ(Sh("ip link add fx0 type dummy && ip link set fx0 up && "
               "ip link add fxa type veth peer name fxb"),
            0);
  auto dummy = (*sock)->RequestSync(GetLink("fx0"));
  ASSERT_TRUE(dummy.ok()) << dummy.status();
  ASSERT_EQ(dummy->size(), 1u);
  auto veth = (*sock)->RequestSync(GetLink("fxa"));
  ASSERT_TRUE(veth.ok()) << veth.status();
  ASSERT_EQ(veth->size(), 1u);
  auto d = DecodeLink((*dummy)[0]);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "fx0");
  EXPECT_EQ(d->ifindex, static_cast<int>(if_nametoindex("fx0")));
  EXPECT_TRUE(d->up);
  auto v = DecodeLink((*veth)[0]);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "fxa");
  EXPECT_FALSE(v->up);
  events.clear();
  ASSERT_EQ(Sh("ip link set fx0 down && ip link set fx0 name fx1 && ip link del fx1"), 0);
  auto last_type = [&] {
    return events.empty() ? 0 : reinterpret_cast<const nlmsghdr*>(events.back().data())->nlmsg_type;
  };
  for (int i = 0; i < 40 && last_type() != RTM_DELLINK; ++i) {
    io.run_for(std::chrono::milliseconds(50));
  }
  for (const Message& m : events) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    auto link = DecodeLink(m);
    printf("event type %u: %s\n", h->nlmsg_type,
           link.ok() ? link->name.c_str() : link.status().ToString().c_str());
  }
  ASSERT_FALSE(events.empty());
  // 6.1 copies the deleting request's seq into RTM_DELLINK: the socket must
  // still deliver it as an event (it arrives through the multicast group).
  const auto* last = reinterpret_cast<const nlmsghdr*>(events.back().data());
  EXPECT_EQ(last->nlmsg_type, RTM_DELLINK);
  auto gone = DecodeLink(events.back());
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->name, "fx1");
  testing::CaptureFixture("link_monitor_newlink_dummy.hex",
                          "RTM_NEWLINK reply to RTM_GETLINK for dummy fx0 (up)", *dummy);
  testing::CaptureFixture("link_monitor_newlink_veth.hex",
                          "RTM_NEWLINK reply to RTM_GETLINK for veth fxa (peer fxb, down)", *veth);
  testing::CaptureFixture(
      "link_monitor_events_rename_delete.hex",
      "RTNLGRP_LINK events for `ip link set fx0 down; ip link set fx0 name fx1; ip link del fx1`",
      events);
}

}  // namespace
}  // namespace vfguard::netlink

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
    printf("SKIP: needs root and network namespaces\n");
    return 77;
  }
  if (system("ip link add lmprobe type dummy 2>/dev/null && ip link del lmprobe") != 0) {
    printf("SKIP: kernel has no dummy links\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
