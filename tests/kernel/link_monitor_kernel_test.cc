// Kernel tier for netlink/link_monitor: add, rename, up, down and delete of
// real links arrive as events; a flood into a tiny receive buffer is repaired
// by a resync whose view equals the kernel's.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "netlink/link_monitor.h"

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
  auto mon = LinkMonitor::Start(
      io,
      [&](LinkChange c, const Link& l) {
        if (c == LinkChange::kAdded) added.insert(l.name);
      },
      /*receive_buffer=*/4096);
  ASSERT_TRUE(mon.ok()) << mon.status();
  ASSERT_EQ(Sh("for i in $(seq 1 300); do echo link add fl$i type dummy; done | ip -batch -"), 0);
  for (int i = 0; i < 100 && (*mon)->resyncs() == 0; ++i) {
    io.run_for(std::chrono::milliseconds(50));
  }
  io.run_for(std::chrono::milliseconds(500));
  EXPECT_GE((*mon)->resyncs(), 1u) << "a 4 KiB buffer cannot hold 300 link events";
  EXPECT_EQ(static_cast<int>((*mon)->links().size()), CountLinksByIp());
  EXPECT_EQ(added.size(), 300u) << "every new link reported once, through events or the resync";
  printf("flood: 300 links, %llu resync(s), %zu added events\n",
         static_cast<unsigned long long>((*mon)->resyncs()), added.size());
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
