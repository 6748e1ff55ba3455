// The activation BPF program under BPF_PROG_TEST_RUN: every fixture's verdict
// and exactly the ring-buffer events it produces.
//
// The watched ifindex comes from __sk_buff.ingress_ifindex in ctx_in (the
// kernel copies it into skb_iif unchecked), so the test needs no devices; the
// fallback to skb->ifindex is exercised with ifindex 1 (lo), the only device
// a test run may name without creating one.
#include <linux/pkt_cls.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "offload/activation_monitor.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::Arp;
using bpf_test::Frame;
using bpf_test::Icmp6Nd;
using bpf_test::Ipv4Tcp;
using bpf_test::Mac;
using bpf_test::TestRun;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint32_t kPort = 4242;  // a watched ifindex (need not exist)
constexpr uint32_t kCookie = 0xc0ffee01;
constexpr uint32_t kOtherPort = 4343;
constexpr uint16_t kArp = 0x0806;
constexpr uint16_t kRarp = 0x8035;

const Mac kVmMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const Mac kZeroMac{};
const std::array<uint8_t, 4> kVmIp{10, 0, 0, 5};
const std::array<uint8_t, 4> kOtherIp{10, 0, 0, 1};
const std::array<uint8_t, 4> kNoIp{0, 0, 0, 0};
const std::array<uint8_t, 16> kVmIp6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
const std::array<uint8_t, 16> kLinkLocal{0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                                         0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56};

ActivationEvent Expected(ActivationKind kind, int ip_version, absl::Span<const uint8_t> ip,
                         uint32_t ifindex = kPort, uint32_t cookie = kCookie) {
  ActivationEvent e;
  e.ifindex = ifindex;
  e.cookie = cookie;
  e.kind = kind;
  e.mac = kVmMac;
  e.ip_version = ip_version;
  std::copy(ip.begin(), ip.end(), e.ip.begin());
  return e;
}

Frame Padded(Frame f, size_t len) {
  f.resize(std::max(f.size(), len), 0);
  return f;
}

class ActivationProgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto monitor =
        ActivationMonitor::Create(io_, [this](const ActivationEvent& e) { events_.push_back(e); });
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    monitor_ = std::move(*monitor);
    ASSERT_TRUE(monitor_->Watch(kPort, kCookie).ok());
  }

  // Runs `frame` from `ingress_ifindex`, checks the verdict is "continue",
  // and returns the events the run submitted.
  std::vector<ActivationEvent> Run(const Frame& frame, uint32_t ingress_ifindex = kPort,
                                   uint32_t ifindex = 0) {
    events_.clear();
    bpf_test::RunResult r = TestRun(monitor_->prog_fd(), frame, ingress_ifindex, ifindex);
    EXPECT_EQ(r.err, 0) << std::strerror(r.err);
    EXPECT_EQ(r.verdict, TC_ACT_UNSPEC) << "the program must never decide";
    absl::StatusOr<int> drained = monitor_->Drain();
    EXPECT_TRUE(drained.ok()) << drained.status();
    if (drained.ok()) {
      EXPECT_EQ(*drained, static_cast<int>(events_.size()));
    }
    EXPECT_EQ(monitor_->bad_records(), 0u);
    return events_;
  }

  boost::asio::io_context io_;
  std::unique_ptr<ActivationMonitor> monitor_;
  std::vector<ActivationEvent> events_;
};

Frame RarpRequest() { return Arp(kRarp, 3, kVmMac, kNoIp, kVmMac, kNoIp); }
Frame GarpRequest() { return Arp(kArp, 1, kVmMac, kVmIp, kZeroMac, kVmIp); }
Frame GarpReply() {
  return Arp(kArp, 2, kVmMac, kVmIp, Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kVmIp);
}
Frame UnsolicitedNa(bool with_option) {
  return Icmp6Nd(kVmMac, kLinkLocal, 136, 0, /*flags=O*/ 0x20, kVmIp6, with_option);
}

TEST_F(ActivationProgTest, RarpRequestReportsRarpWithoutAddress) {
  EXPECT_THAT(Run(RarpRequest()), ElementsAre(Expected(ActivationKind::kRarp, 0, {})));
  // QEMU pads its announcement to the Ethernet minimum.
  EXPECT_THAT(Run(Padded(RarpRequest(), 60)), ElementsAre(Expected(ActivationKind::kRarp, 0, {})));
}

TEST_F(ActivationProgTest, GratuitousArpRequestAndReplyReportTheSenderIp) {
  EXPECT_THAT(Run(GarpRequest()), ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp)));
  EXPECT_THAT(Run(GarpReply()), ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp)));
  EXPECT_THAT(Run(Padded(GarpRequest(), 60)),
              ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp)));
}

TEST_F(ActivationProgTest, UnsolicitedNaReportsTheTarget) {
  EXPECT_THAT(Run(UnsolicitedNa(false)),
              ElementsAre(Expected(ActivationKind::kUnsolicitedNa, 6, kVmIp6)));
  EXPECT_THAT(Run(UnsolicitedNa(true)),
              ElementsAre(Expected(ActivationKind::kUnsolicitedNa, 6, kVmIp6)));
  // Router and override flags do not matter, only solicited does.
  EXPECT_THAT(Run(Icmp6Nd(kVmMac, kLinkLocal, 136, 0, 0xa0, kVmIp6, true)),
              ElementsAre(Expected(ActivationKind::kUnsolicitedNa, 6, kVmIp6)));
}

TEST_F(ActivationProgTest, OrdinaryTrafficReportsNothing) {
  struct Case {
    const char* name;
    Frame frame;
  };
  std::vector<Case> cases = {
      {"solicited NA", Icmp6Nd(kVmMac, kLinkLocal, 136, 0, 0x60, kVmIp6, true)},
      {"solicited NA, no other flag", Icmp6Nd(kVmMac, kLinkLocal, 136, 0, 0x40, kVmIp6, false)},
      {"NA with code 1", Icmp6Nd(kVmMac, kLinkLocal, 136, 1, 0x20, kVmIp6, false)},
      {"neighbor solicitation", Icmp6Nd(kVmMac, kLinkLocal, 135, 0, 0, kVmIp6, true)},
      {"NA layout in UDP", Icmp6Nd(kVmMac, kLinkLocal, 136, 0, 0x20, kVmIp6, false, 17)},
      {"ordinary ARP request", Arp(kArp, 1, kVmMac, kVmIp, kZeroMac, kOtherIp)},
      {"ordinary ARP reply", Arp(kArp, 2, kVmMac, kVmIp, kVmMac, kOtherIp)},
      {"ARP probe (sender 0.0.0.0)", Arp(kArp, 1, kVmMac, kNoIp, kZeroMac, kVmIp)},
      {"ARP with both IPs 0.0.0.0", Arp(kArp, 1, kVmMac, kNoIp, kZeroMac, kNoIp)},
      {"GARP with opcode 3", Arp(kArp, 3, kVmMac, kVmIp, kZeroMac, kVmIp)},
      {"GARP on a non-Ethernet hardware type", Arp(kArp, 1, kVmMac, kVmIp, kZeroMac, kVmIp, 6)},
      {"RARP reply (opcode 4)", Arp(kRarp, 4, kVmMac, kNoIp, kVmMac, kNoIp)},
      {"RARP with ARP request opcode", Arp(kRarp, 1, kVmMac, kNoIp, kVmMac, kNoIp)},
      {"IPv4 TCP SYN", Ipv4Tcp(kVmMac, kVmIp, kOtherIp)},
      {"bare Ethernet header", bpf_test::Ethernet(kVmMac, kVmMac, kArp)},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Run(c.frame), IsEmpty()) << c.name;
  }
}

TEST_F(ActivationProgTest, FramesFromUnwatchedPortsReportNothing) {
  for (const Frame& f : {RarpRequest(), GarpRequest(), GarpReply(), UnsolicitedNa(true)}) {
    EXPECT_THAT(Run(f, kOtherPort), IsEmpty());
    EXPECT_THAT(Run(f, kPort + 1), IsEmpty());
  }
  // ingress_ifindex 0 falls back to skb->ifindex (lo here), not watched.
  EXPECT_THAT(Run(GarpRequest(), 0, 1), IsEmpty());
}

TEST_F(ActivationProgTest, WatchUnwatchAndCookiesArePerPort) {
  ASSERT_TRUE(monitor_->Watch(kOtherPort, 77).ok());
  EXPECT_THAT(Run(GarpRequest(), kOtherPort),
              ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp, kOtherPort, 77)));
  EXPECT_THAT(Run(GarpRequest(), kPort), ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp)));
  ASSERT_TRUE(monitor_->Watch(kOtherPort, 78).ok());  // a new cookie replaces the old
  EXPECT_THAT(Run(RarpRequest(), kOtherPort),
              ElementsAre(Expected(ActivationKind::kRarp, 0, {}, kOtherPort, 78)));
  ASSERT_TRUE(monitor_->Unwatch(kOtherPort).ok());
  EXPECT_THAT(Run(RarpRequest(), kOtherPort), IsEmpty());
  EXPECT_TRUE(monitor_->Unwatch(kOtherPort).ok()) << "unwatching twice is fine";
  // Still reported for the port that stays watched, every time.
  EXPECT_THAT(Run(RarpRequest(), kPort), ElementsAre(Expected(ActivationKind::kRarp, 0, {})));
  EXPECT_THAT(Run(RarpRequest(), kPort), ElementsAre(Expected(ActivationKind::kRarp, 0, {})));
}

TEST_F(ActivationProgTest, FallsBackToIfindexWhenIngressIfindexIsZero) {
  ASSERT_TRUE(monitor_->Watch(1, 11).ok());
  EXPECT_THAT(Run(GarpRequest(), 0, 1),
              ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp, 1, 11)));
  // A non-zero ingress_ifindex wins over ifindex.
  EXPECT_THAT(Run(GarpRequest(), kPort, 1), ElementsAre(Expected(ActivationKind::kGarp, 4, kVmIp)));
}

// Every prefix of every activation frame. The kernel's test run refuses
// (EINVAL, the program does not run) a frame shorter than an Ethernet header
// and, for ethertype IPv6, one shorter than Ethernet + IPv6 header (54
// bytes); from there on the program runs, continues, and reports nothing
// until the frame is whole.
TEST_F(ActivationProgTest, TruncatedFramesReportNothingAtEveryLength) {
  struct Case {
    const char* name;
    Frame frame;
    size_t refused_below;
  };
  std::vector<Case> cases = {{"RARP", RarpRequest(), 14},
                             {"GARP request", GarpRequest(), 14},
                             {"GARP reply", GarpReply(), 14},
                             {"unsolicited NA", UnsolicitedNa(false), 54},
                             {"unsolicited NA with option", UnsolicitedNa(true), 54}};
  int ran = 0;
  for (const Case& c : cases) {
    ASSERT_EQ(Run(c.frame).size(), 1u) << c.name << " whole";
    for (size_t len = 0; len < c.frame.size(); ++len) {
      SCOPED_TRACE(absl::StrCat(c.name, " cut to ", len));
      Frame cut(c.frame.begin(), c.frame.begin() + len);
      if (len < c.refused_below) {
        events_.clear();
        bpf_test::RunResult r = TestRun(monitor_->prog_fd(), cut, kPort);
        EXPECT_EQ(r.err, EINVAL);
        ASSERT_TRUE(monitor_->Drain().ok());
        EXPECT_THAT(events_, IsEmpty());
        continue;
      }
      EXPECT_THAT(Run(cut), IsEmpty());
      ++ran;
    }
  }
  // 28 ARP lengths x 3 plus 24 and 32 NA lengths actually ran the program.
  EXPECT_EQ(ran, 28 * 3 + 24 + 32);
}

TEST_F(ActivationProgTest, EventsOfSeveralRunsQueueInOrder) {
  events_.clear();
  for (const Frame& f : {RarpRequest(), GarpRequest(), UnsolicitedNa(true)}) {
    bpf_test::RunResult r = TestRun(monitor_->prog_fd(), f, kPort);
    ASSERT_EQ(r.err, 0);
  }
  absl::StatusOr<int> n = monitor_->Drain();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  EXPECT_THAT(events_, ElementsAre(Expected(ActivationKind::kRarp, 0, {}),
                                   Expected(ActivationKind::kGarp, 4, kVmIp),
                                   Expected(ActivationKind::kUnsolicitedNa, 6, kVmIp6)));
}

}  // namespace
}  // namespace vfguard::offload

VFGUARD_BPF_TEST_MAIN()
