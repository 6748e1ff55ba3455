// Kernel tier for netlink/devlink: the devlink genetlink family resolves with
// its "config" group, the port dump works (this VM has no devlink devices: the
// Debian kernel ships no netdevsim and there is no NIC), and asking a missing
// device for its eswitch mode is an error carrying the kernel's errno.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>

#include "netlink/devlink.h"
#include "tests/kernel/nl_capture.h"

namespace vfguard::netlink {
namespace {

TEST(DevlinkKernel, ResolvesFamilyDumpsPortsAndReportsMissingDevice) {
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_GENERIC);
  ASSERT_TRUE(sock.ok()) << sock.status();
  auto dl = Devlink::Resolve(**sock);
  ASSERT_TRUE(dl.ok()) << dl.status();
  EXPECT_GT(dl->family().id, 0x10) << "dynamic genetlink ids start above GENL_MIN_ID";
  EXPECT_TRUE(dl->family().multicast_groups.count("config"));
  auto ports = dl->Ports();
  ASSERT_TRUE(ports.ok()) << ports.status();
  printf("devlink family %u, %zu port(s)\n", dl->family().id, ports->size());
  auto mode = dl->Mode("pci", "0000:99:00.0");
  EXPECT_FALSE(mode.ok());
  EXPECT_EQ(mode.status().code(), absl::StatusCode::kNotFound) << mode.status();
  // Port events: joining the "config" group works (no device sends any here).
  auto events = NetlinkSocket::Open(io, NETLINK_GENERIC);
  ASSERT_TRUE(events.ok());
  auto watcher = Devlink::Resolve(**events);
  ASSERT_TRUE(watcher.ok());
  absl::Status watch = watcher->WatchPorts([](const DevlinkPortEvent&) {});
  EXPECT_TRUE(watch.ok()) << watch;
  auto raw = (*sock)->RequestSync(EncodeGetFamily("devlink"));
  ASSERT_TRUE(raw.ok());
  testing::CaptureFixture("devlink_family_reply.hex",
                          "CTRL_CMD_NEWFAMILY reply to CTRL_CMD_GETFAMILY \"devlink\"", *raw);
  printf("eswitch of a missing device: %s\n", mode.status().ToString().c_str());
}

}  // namespace
}  // namespace vfguard::netlink

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    printf("SKIP: needs root\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
