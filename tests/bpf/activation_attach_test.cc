// The activation program in a real shared tc block: attached with the
// cls_bpf request from netlink/bpf_filter_codec.h to block 7 at chain 0 prio
// 1 on a veth whose peer sends real frames from an AF_PACKET socket. Shows the attach request is
// accepted, the event arrives through the asio monitor, and every frame still reaches the next
// filter (TC_ACT_UNSPEC): the same program attached again at prio 2 reports each frame a second
// time. (The host kernel here has cls_bpf and cls_u32 but no cls_flower or act_gact, so the next
// filter is not a flower drop; the pipeline's flower rules are exercised in the kernel tier's VM.)
//
// Runs in a private network namespace (unshare), so it touches nothing of
// the host; needs root, veth, clsact and cls_bpf, and exits 77 naming what is
// missing.
#include <net/if.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netlink/bpf_filter_codec.h"
#include "netlink/tc_codec.h"
#include "offload/activation_monitor.h"
#include "tests/bpf/attach_support.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::Arp;
using bpf_test::CreateBpfFilter;
using bpf_test::DeleteBpfFilter;
using bpf_test::Frame;
using bpf_test::Mac;
using bpf_test::SendFrom;
using bpf_test::Shell;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kBlock = 7;
const Mac kVmMac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

TEST(ActivationAttachTest, RealGarpAndNaInASharedBlockAreReportedAndContinue) {
  boost::asio::io_context io;
  std::vector<ActivationEvent> got;
  auto monitor = ActivationMonitor::Create(io, [&](const ActivationEvent& e) {
    got.push_back(e);
    if (got.size() == 4) io.stop();
  });
  ASSERT_TRUE(monitor.ok()) << monitor.status();

  netlink::BpfFilter attach;
  attach.owner = netlink::TcBlock{kBlock};
  attach.chain = 0;
  attach.prio = 1;
  attach.prog_fd = (*monitor)->prog_fd();
  attach.name = ActivationMonitor::kProgramName;
  absl::Status created = CreateBpfFilter(attach, 1);
  ASSERT_TRUE(created.ok()) << created;
  std::string shown = Shell(absl::StrCat("tc filter show block ", kBlock, " chain 0 prio 1"));
  EXPECT_THAT(shown, HasSubstr("bpf"));
  EXPECT_THAT(shown, HasSubstr("vfguard_activation"));
  EXPECT_THAT(shown, HasSubstr("direct-action"));
  EXPECT_THAT(shown, HasSubstr("skip_hw"));
  // The same program again at prio 2: it only sees what prio 1 let continue.
  netlink::BpfFilter second = attach;
  second.prio = 2;
  created = CreateBpfFilter(second, 2);
  ASSERT_TRUE(created.ok()) << created;

  uint32_t va = if_nametoindex("va");
  ASSERT_TRUE((*monitor)->Watch(va, 42).ok());
  SendFrom("vb", Arp(0x0806, 1, kVmMac, {10, 1, 0, 9}, Mac{}, {10, 1, 0, 1}));  // ordinary
  SendFrom("vb", Arp(0x0806, 1, kVmMac, {10, 1, 0, 9}, Mac{}, {10, 1, 0, 9}));  // GARP
  const std::array<uint8_t, 16> ll{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  const std::array<uint8_t, 16> target{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  SendFrom("vb", bpf_test::Icmp6Nd(kVmMac, ll, 136, 0, 0x20, target, true));
  io.run_for(std::chrono::seconds(5));

  ActivationEvent garp;
  garp.ifindex = va;
  garp.cookie = 42;
  garp.kind = ActivationKind::kGarp;
  garp.mac = kVmMac;
  garp.ip_version = 4;
  garp.ip[0] = 10;
  garp.ip[1] = 1;
  garp.ip[3] = 9;
  ActivationEvent na = garp;
  na.kind = ActivationKind::kUnsolicitedNa;
  na.ip_version = 6;
  std::copy(target.begin(), target.end(), na.ip.begin());
  // Each reported twice, by prio 1 and then by prio 2: prio 1 continued.
  EXPECT_THAT(got, ElementsAre(garp, garp, na, na));

  // The delete request removes exactly the bpf filter.
  absl::Status deleted = DeleteBpfFilter(attach, 3);
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(Shell(absl::StrCat("tc filter show block ", kBlock, " chain 0 prio 1")), "");
  EXPECT_THAT(Shell(absl::StrCat("tc filter show block ", kBlock, " chain 0 prio 2")),
              HasSubstr("vfguard_activation"));
}

}  // namespace
}  // namespace vfguard::offload

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::vfguard::bpf_test::SkipUnlessBpfUsable();
  ::vfguard::bpf_test::SetUpMirrorNetnsOrSkip();
  return RUN_ALL_TESTS();
}
