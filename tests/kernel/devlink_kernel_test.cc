// Kernel tier for netlink/devlink: the devlink genetlink family resolves with
// its "config" group, the port dump works (this VM has no devlink devices: the
// Debian kernel ships no netdevsim and there is no NIC), and asking a missing
// device for its eswitch mode is an error carrying the kernel's errno.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>

#include "netlink/devlink.h"

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
