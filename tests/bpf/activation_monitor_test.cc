// The activation monitor end to end: a frame run through the loaded program
// (BPF_PROG_TEST_RUN) reaches the handler through the ring buffer's epoll fd
// on a running io_context, and the monitor's own contract (Watch limits,
// decoding, teardown with a pending read).
#include "offload/activation_monitor.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "offload/bpf/activation_event.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::Arp;
using bpf_test::Frame;
using bpf_test::Mac;
using bpf_test::TestRun;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint32_t kPort = 5151;
const Mac kVmMac{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};

Frame Garp(uint8_t last_octet) {
  return Arp(0x0806, 1, kVmMac, {192, 168, 7, last_octet}, Mac{}, {192, 168, 7, last_octet});
}

ActivationEvent ExpectedGarp(uint8_t last_octet, uint32_t cookie) {
  ActivationEvent e;
  e.ifindex = kPort;
  e.cookie = cookie;
  e.kind = ActivationKind::kGarp;
  e.mac = kVmMac;
  e.ip_version = 4;
  e.ip[0] = 192;
  e.ip[1] = 168;
  e.ip[2] = 7;
  e.ip[3] = last_octet;
  return e;
}

TEST(ActivationMonitorTest, DeliversEventsOnTheIoContext) {
  boost::asio::io_context io;
  std::vector<ActivationEvent> got;
  auto monitor = ActivationMonitor::Create(io, [&](const ActivationEvent& e) {
    got.push_back(e);
    io.stop();
  });
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  ASSERT_TRUE((*monitor)->Watch(kPort, 9).ok());

  // Two rounds: the read re-arms after delivering.
  for (uint8_t round = 1; round <= 2; ++round) {
    got.clear();
    io.restart();
    boost::asio::post(io, [&] {
      bpf_test::RunResult r = TestRun((*monitor)->prog_fd(), Garp(round), kPort);
      EXPECT_EQ(r.err, 0);
    });
    io.run_for(std::chrono::seconds(5));
    EXPECT_THAT(got, ElementsAre(ExpectedGarp(round, 9))) << "round " << int{round};
  }
}

TEST(ActivationMonitorTest, HandlerMayUnwatchTheFirstReporter) {
  boost::asio::io_context io;
  std::vector<ActivationEvent> got;
  ActivationMonitor* raw = nullptr;
  auto monitor = ActivationMonitor::Create(io, [&](const ActivationEvent& e) {
    got.push_back(e);
    EXPECT_TRUE(raw->Unwatch(e.ifindex).ok());  // what the agent does on activation
  });
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  raw = monitor->get();
  ASSERT_TRUE(raw->Watch(kPort, 3).ok());
  ASSERT_EQ(TestRun(raw->prog_fd(), Garp(1), kPort).err, 0);
  io.run_for(std::chrono::milliseconds(500));
  ASSERT_EQ(TestRun(raw->prog_fd(), Garp(2), kPort).err, 0);
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_THAT(got, ElementsAre(ExpectedGarp(1, 3)));
}

TEST(ActivationMonitorTest, SeveralEventsBeforeAWakeupAreAllDelivered) {
  boost::asio::io_context io;
  std::vector<ActivationEvent> got;
  auto monitor = ActivationMonitor::Create(io, [&](const ActivationEvent& e) {
    got.push_back(e);
    if (got.size() == 3) io.stop();
  });
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  ASSERT_TRUE((*monitor)->Watch(kPort, 4).ok());
  for (uint8_t i = 1; i <= 3; ++i) ASSERT_EQ(TestRun((*monitor)->prog_fd(), Garp(i), kPort).err, 0);
  io.run_for(std::chrono::seconds(5));
  EXPECT_THAT(got, ElementsAre(ExpectedGarp(1, 4), ExpectedGarp(2, 4), ExpectedGarp(3, 4)));
}

TEST(ActivationMonitorTest, DestroyingWithAPendingReadIsSafe) {
  boost::asio::io_context io;
  int calls = 0;
  int prog_fd_copy = -1;
  {
    auto monitor = ActivationMonitor::Create(io, [&](const ActivationEvent&) { ++calls; });
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    ASSERT_TRUE((*monitor)->Watch(kPort, 1).ok());
    // Keep the program (and with it its maps) alive past the monitor.
    prog_fd_copy = dup((*monitor)->prog_fd());
    io.poll();  // the read is armed and pending
  }
  ASSERT_GE(prog_fd_copy, 0);
  // An event submitted now has no reader; running the io_context must not
  // call into the destroyed monitor.
  EXPECT_EQ(TestRun(prog_fd_copy, Garp(1), kPort).err, 0);
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(calls, 0);
  close(prog_fd_copy);
}

TEST(ActivationMonitorTest, WatchRejectsZeroAndAFullMap) {
  boost::asio::io_context io;
  auto monitor = ActivationMonitor::Create(io, nullptr);
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  EXPECT_EQ((*monitor)->Watch(0, 1).code(), absl::StatusCode::kInvalidArgument);
  for (uint32_t i = 1; i <= 4096; ++i) ASSERT_TRUE((*monitor)->Watch(i, i).ok()) << i;
  absl::Status full = (*monitor)->Watch(4097, 1);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(full.message(), HasSubstr("4096"));
  EXPECT_TRUE((*monitor)->Watch(4096, 5).ok()) << "replacing a cookie needs no new slot";
  ASSERT_TRUE((*monitor)->Unwatch(1).ok());
  EXPECT_TRUE((*monitor)->Watch(4097, 1).ok()) << "an unwatched slot is reusable";
}

TEST(ActivationMonitorTest, DecodeRefusesForeignRecords) {
  vfguard_activation_event raw{};
  raw.ifindex = 7;
  raw.cookie = 8;
  raw.kind = VFGUARD_ACTIVATION_UNSOLICITED_NA;
  raw.family = 10;
  std::memcpy(raw.mac, kVmMac.data(), 6);
  raw.ip[0] = 0xfd;
  raw.ip[15] = 1;
  auto bytes = [](const vfguard_activation_event& r) {
    const auto* p = reinterpret_cast<const uint8_t*>(&r);
    return std::vector<uint8_t>(p, p + sizeof(r));
  };
  absl::StatusOr<ActivationEvent> ok = DecodeActivationEvent(bytes(raw));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ToString(*ok), "unsolicited-na ifindex=7 cookie=8 mac=02:aa:bb:cc:dd:01 ip=fd00::1");

  std::vector<uint8_t> short_record = bytes(raw);
  short_record.pop_back();
  EXPECT_THAT(DecodeActivationEvent(short_record).status().message(), HasSubstr("35 bytes"));
  raw.kind = 99;
  EXPECT_THAT(DecodeActivationEvent(bytes(raw)).status().message(), HasSubstr("unknown kind 99"));
  raw.kind = VFGUARD_ACTIVATION_GARP;
  raw.family = 3;
  EXPECT_THAT(DecodeActivationEvent(bytes(raw)).status().message(),
              HasSubstr("unknown address family 3"));
}

}  // namespace
}  // namespace vfguard::offload

VFGUARD_BPF_TEST_MAIN()
