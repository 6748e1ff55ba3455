// The ND check BPF program (offload/bpf/nd_check.bpf.c) under
// BPF_PROG_TEST_RUN: each fixture's verdict, and agreement with the
// simulator's model of the program (policy::CheckNdMessage) on random NS/NA.
//
// The port is __sk_buff.ingress_ifindex from ctx_in (need not exist).
#include <linux/pkt_cls.h>

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "offload/nd_check_program.h"
#include "policy/model.h"
#include "policy/nd_check.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::Frame;
using bpf_test::TestRun;
using policy::IpAddr;
using policy::IpPrefix;
using policy::MacAddr;
using policy::NdAllowed;
using policy::NdBody;
using policy::NdOption;

constexpr uint32_t kPort = 4242;
constexpr uint32_t kUnknownPort = 4343;
constexpr int32_t kContinue = TC_ACT_UNSPEC;
constexpr int32_t kDrop = TC_ACT_SHOT;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }
MacAddr Mac(const char* s) { return *MacAddr::Parse(s); }

const MacAddr kVmMac = Mac("52:54:00:12:34:56");
const MacAddr kOtherMac = Mac("52:54:00:12:34:57");
const MacAddr kPairMac = Mac("02:aa:00:00:00:01");
const IpAddr kVmIp = Ip("fd00::11");
const IpAddr kOtherIp = Ip("fd00::12");
const IpAddr kVip = Ip("fd00::100");
const NdOption kTlla{policy::kNdOptTargetLla, 1, kVmMac};
const NdOption kSlla{policy::kNdOptSourceLla, 1, kVmMac};

// The port's ND map entry: fd00::11, its link-local, and fd00:9::/64 with
// the pair MAC (plus `extra` with the port MAC).
std::vector<NdAllowed> Entry(std::vector<IpAddr> extra = {}) {
  std::vector<IpAddr> fixed = {kVmIp};
  return policy::NdAllowedOf(kVmMac, fixed, extra, {{kPairMac, *IpPrefix::Parse("fd00:9::/64")}});
}

struct Nd {
  MacAddr src_mac = kVmMac;
  IpAddr src_ip = kVmIp;
  uint8_t type = policy::kIcmp6NeighborAdvertisement;
  uint8_t code = 0;
  uint8_t hop_limit = 255;
  std::vector<uint8_t> body;
  std::optional<uint16_t> tag;  // an 802.1Q tag left in the frame's data
  uint8_t next_header = 58;
};

Frame Build(const Nd& nd) {
  Frame f;
  const uint8_t dst[6] = {0x33, 0x33, 0, 0, 0, 1};
  bpf_test::PutBytes(f, dst, 6);
  bpf_test::PutBytes(f, nd.src_mac.bytes);
  if (nd.tag) {
    bpf_test::Put16(f, 0x8100);
    bpf_test::Put16(f, *nd.tag);
  }
  bpf_test::Put16(f, 0x86dd);
  f.insert(f.end(), {0x60, 0, 0, 0});
  bpf_test::Put16(f, static_cast<uint16_t>(4 + nd.body.size()));
  f.push_back(nd.next_header);
  f.push_back(nd.hop_limit);
  bpf_test::PutBytes(f, nd.src_ip.bytes);
  bpf_test::PutBytes(f, Ip("ff02::1").bytes);
  f.insert(f.end(), {nd.type, nd.code, 0, 0});
  f.insert(f.end(), nd.body.begin(), nd.body.end());
  return f;
}

Nd Na(const IpAddr& target, std::vector<NdOption> options) {
  Nd nd;
  nd.body = NdBody(target, options, 0x20);
  return nd;
}

Nd Ns(const IpAddr& src, std::vector<NdOption> options) {
  Nd nd;
  nd.type = policy::kIcmp6NeighborSolicitation;
  nd.src_ip = src;
  nd.body = NdBody(kOtherIp, options);
  return nd;
}

// The simulator's abstract frame for `nd` (untagged, whole).
policy::Packet ModelPacket(const Nd& nd) {
  policy::Packet p;
  p.in = policy::DeviceRef::OfPort("p");
  p.src_mac = nd.src_mac;
  p.eth_type = policy::kEthIPv6;
  p.src_ip = nd.src_ip;
  p.ip_proto = policy::kProtoIcmpv6;
  p.icmp_type = nd.type;
  p.icmp_code = nd.code;
  p.hop_limit = nd.hop_limit;
  p.nd_body = nd.body;
  return p;
}

class NdCheckProgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto program = NdCheckProgram::Create();
    ASSERT_TRUE(program.ok()) << program.status();
    program_ = std::move(*program);
    ASSERT_TRUE(program_->Sync({{kPort, Entry()}}).ok());
  }

  int32_t Run(const Frame& frame, uint32_t ifindex = kPort) {
    bpf_test::RunResult r = TestRun(program_->prog_fd(), frame, ifindex);
    EXPECT_EQ(r.err, 0) << std::strerror(r.err);
    return r.verdict;
  }
  int32_t Run(const Nd& nd) { return Run(Build(nd)); }

  std::unique_ptr<NdCheckProgram> program_;
};

TEST_F(NdCheckProgTest, GoodNaContinues) {
  EXPECT_EQ(Run(Na(kVmIp, {kTlla})), kContinue);
  EXPECT_EQ(Run(Na(kVmIp, {})), kContinue) << "the TLLA option is optional";
  EXPECT_EQ(Run(Na(IpAddr::LinkLocalFromMac(kVmMac), {kTlla})), kContinue) << "EUI-64 link-local";
  Frame padded = Build(Na(kVmIp, {kTlla}));
  padded.resize(padded.size() + 6, 0xee);  // bytes past the IPv6 payload are ignored
  EXPECT_EQ(Run(padded), kContinue);
}

TEST_F(NdCheckProgTest, SpoofedTargetAndWrongTllaAreDropped) {
  EXPECT_EQ(Run(Na(kOtherIp, {kTlla})), kDrop);
  EXPECT_EQ(Run(Na(kOtherIp, {})), kDrop);
  EXPECT_EQ(Run(Na(kVmIp, {{policy::kNdOptTargetLla, 1, kOtherMac}})), kDrop);
  EXPECT_EQ(Run(Na(IpAddr::LinkLocalFromMac(kOtherMac), {kTlla})), kDrop);
}

TEST_F(NdCheckProgTest, AllowedPairTargetNeedsThePairMac) {
  Nd nd = Na(Ip("fd00:9::77"), {{policy::kNdOptTargetLla, 1, kPairMac}});
  nd.src_mac = kPairMac;
  EXPECT_EQ(Run(nd), kContinue);
  nd.body = NdBody(Ip("fd00:9::77"), {kTlla}, 0x20);
  nd.src_mac = kVmMac;
  EXPECT_EQ(Run(nd), kDrop) << "the pair's prefix is allowed with the pair's MAC only";
}

TEST_F(NdCheckProgTest, NsChecksTheSourceLinkLayerOption) {
  EXPECT_EQ(Run(Ns(kVmIp, {kSlla})), kContinue);
  EXPECT_EQ(Run(Ns(kVmIp, {})), kContinue);
  EXPECT_EQ(Run(Ns(kVmIp, {{policy::kNdOptSourceLla, 1, kOtherMac}})), kDrop);
  // A TLLA option in an NS is not a source address: not checked.
  EXPECT_EQ(Run(Ns(kVmIp, {{policy::kNdOptTargetLla, 1, kOtherMac}})), kContinue);
}

TEST_F(NdCheckProgTest, DadNsMustNotCarryASourceLinkLayerOption) {
  EXPECT_EQ(Run(Ns(IpAddr::AnyV6(), {})), kContinue);
  EXPECT_EQ(Run(Ns(IpAddr::AnyV6(), {kSlla})), kDrop);
}

TEST_F(NdCheckProgTest, FrameTruncatedAtEveryLength) {
  for (bool tagged : {false, true}) {
    for (Nd nd : {Na(kVmIp, {kTlla}), Ns(kVmIp, {kSlla})}) {
      if (tagged) nd.tag = 100;
      const Frame full = Build(nd);
      ASSERT_EQ(Run(full), kContinue);
      // Up to the ICMPv6 type the frame is not recognisably ND (flower would
      // not have sent it here); from the type on, the IPv6 payload length
      // runs past the frame's end.
      const size_t l2 = tagged ? 18 : 14;
      const size_t type_end = l2 + 40 + 1;
      for (size_t len = 14; len < full.size(); ++len) {
        Frame cut(full.begin(), full.begin() + len);
        bpf_test::RunResult r = TestRun(program_->prog_fd(), cut, kPort);
        if (!tagged && len < l2 + 40) {
          // BPF_PROG_TEST_RUN refuses an IPv6 frame without a whole IPv6
          // header; the tagged frames cover these lengths in the program.
          EXPECT_EQ(r.err, EINVAL) << "length " << len;
          continue;
        }
        ASSERT_EQ(r.err, 0) << "length " << len << ": " << std::strerror(r.err);
        EXPECT_EQ(r.verdict, len < type_end ? kContinue : kDrop)
            << (tagged ? "tagged" : "untagged") << " length " << len;
      }
    }
  }
}

TEST_F(NdCheckProgTest, MessageShortenedAtEveryLength) {
  // The IPv6 payload length agrees with the frame, but the message is short.
  const Nd full = Na(kVmIp, {kTlla});
  for (size_t len = 0; len < full.body.size(); ++len) {
    Nd cut = full;
    cut.body.resize(len);
    EXPECT_EQ(Run(cut), len == policy::kNdFixedBytes ? kContinue : kDrop) << "body " << len;
  }
}

TEST_F(NdCheckProgTest, MalformedOptionsAreDropped) {
  EXPECT_EQ(Run(Na(kVmIp, {{policy::kNdOptTargetLla, 0, kVmMac}})), kDrop);
  EXPECT_EQ(Run(Ns(kVmIp, {{14, 0, MacAddr{}}})), kDrop) << "length 0 of any type";
  Nd past = Na(kVmIp, {{policy::kNdOptTargetLla, 2, kVmMac}});
  past.body.resize(past.body.size() - 8);  // claims 16 bytes, holds 8
  EXPECT_EQ(Run(past), kDrop);
}

TEST_F(NdCheckProgTest, SeveralOptions) {
  const NdOption nonce{14, 1, Mac("01:02:03:04:05:06")};
  EXPECT_EQ(Run(Ns(kVmIp, {nonce, kSlla})), kContinue);
  EXPECT_EQ(Run(Ns(kVmIp, {kSlla, {policy::kNdOptSourceLla, 1, kOtherMac}})), kDrop);
  EXPECT_EQ(Run(Na(kVmIp, {kTlla, {policy::kNdOptTargetLla, 1, kOtherMac}})), kDrop);
  EXPECT_EQ(Run(Na(kVmIp, {{policy::kNdOptSourceLla, 1, kOtherMac}, kTlla})), kContinue);
  EXPECT_EQ(Run(Na(kVmIp, {{3, 4, MacAddr{}}, kTlla})), kContinue) << "a 32-byte option";
  std::vector<NdOption> eight(8, nonce);
  EXPECT_EQ(Run(Na(kVmIp, eight)), kContinue);
  eight.push_back(nonce);
  EXPECT_EQ(Run(Na(kVmIp, eight)), kDrop) << "more than 8 options";
}

TEST_F(NdCheckProgTest, HopLimitAndCode) {
  Nd nd = Na(kVmIp, {kTlla});
  nd.hop_limit = 254;
  EXPECT_EQ(Run(nd), kDrop);
  nd = Ns(kVmIp, {kSlla});
  nd.hop_limit = 1;
  EXPECT_EQ(Run(nd), kDrop);
  nd = Na(kVmIp, {kTlla});
  nd.code = 1;
  EXPECT_EQ(Run(nd), kDrop);
}

TEST_F(NdCheckProgTest, TaggedFramesAreCheckedAlike) {
  Nd nd = Na(kVmIp, {kTlla});
  nd.tag = 100;
  EXPECT_EQ(Run(nd), kContinue);
  nd = Na(kOtherIp, {kTlla});
  nd.tag = 100;
  EXPECT_EQ(Run(nd), kDrop);
  nd = Ns(IpAddr::AnyV6(), {kSlla});
  nd.tag = 7;
  EXPECT_EQ(Run(nd), kDrop);
}

TEST_F(NdCheckProgTest, OtherFramesContinueAndUnknownPortsAreDropped) {
  Nd echo = Na(kOtherIp, {});
  echo.type = 128;
  EXPECT_EQ(Run(echo), kContinue);
  Nd hbh = Na(kOtherIp, {});
  hbh.next_header = 0;  // not ICMPv6 right after the header
  EXPECT_EQ(Run(hbh), kContinue);
  EXPECT_EQ(Run(bpf_test::Ipv4Tcp({1, 2, 3, 4, 5, 6}, {10, 0, 0, 1}, {10, 0, 0, 2})), kContinue);
  EXPECT_EQ(Run(Build(Na(kVmIp, {kTlla})), kUnknownPort), kDrop) << "no map entry: fail closed";
  EXPECT_EQ(Run(Build(Ns(kVmIp, {})), kUnknownPort), kDrop);
}

TEST_F(NdCheckProgTest, VipFollowsTheMapWithoutReloadingTheProgram) {
  const int fd = program_->prog_fd();
  EXPECT_EQ(Run(Na(kVip, {kTlla})), kDrop);
  ASSERT_TRUE(program_->Sync({{kPort, Entry({kVip})}}).ok());
  EXPECT_EQ(Run(Na(kVip, {kTlla})), kContinue);
  const uint64_t writes = program_->map_writes();
  ASSERT_TRUE(program_->Sync({{kPort, Entry({kVip})}}).ok());
  EXPECT_EQ(program_->map_writes(), writes) << "an unchanged entry is not written again";
  ASSERT_TRUE(program_->Sync({{kPort, Entry()}}).ok());
  EXPECT_EQ(Run(Na(kVip, {kTlla})), kDrop);
  EXPECT_EQ(program_->prog_fd(), fd);
  ASSERT_TRUE(program_->Sync({}).ok());
  EXPECT_EQ(Run(Na(kVmIp, {kTlla})), kDrop) << "entry removed";
}

// Random NS/NA (targets, options, lengths, hop limits): the program and the
// simulator's model agree on every one.
TEST_F(NdCheckProgTest, ProgramAgreesWithTheSimulatorModel) {
  std::mt19937 rng(11);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<IpAddr> targets = {
      kVmIp,           kOtherIp,          kVip,           IpAddr::LinkLocalFromMac(kVmMac),
      Ip("fd00:9::1"), Ip("fd00:9:1::1"), IpAddr::AnyV6()};
  const std::vector<MacAddr> macs = {kVmMac, kOtherMac, kPairMac};
  const std::vector<NdAllowed> entry = Entry({kVip});
  ASSERT_TRUE(program_->Sync({{kPort, entry}}).ok());
  int drops = 0;
  constexpr int kCases = 3000;
  for (int i = 0; i < kCases; ++i) {
    std::vector<NdOption> options;
    for (int n = pick(4) == 0 ? pick(11) : pick(3); n > 0; --n) {
      options.push_back(NdOption{static_cast<uint8_t>(pick(4) == 0 ? 14 : 1 + pick(2)),
                                 static_cast<uint8_t>(pick(10) == 0 ? pick(3) : 1),
                                 macs[pick(macs.size())]});
    }
    Nd nd = pick(2) ? Na(targets[pick(targets.size())], options)
                    : Ns(pick(3) == 0 ? IpAddr::AnyV6() : kVmIp, options);
    nd.src_mac = macs[pick(2) == 0 ? pick(macs.size()) : 0];
    if (pick(10) == 0) nd.hop_limit = static_cast<uint8_t>(pick(256));
    if (pick(20) == 0) nd.code = 1;
    if (pick(8) == 0) nd.body.resize(pick(nd.body.size() + 1));
    policy::NdCheckResult model = policy::CheckNdMessage(ModelPacket(nd), entry);
    int32_t verdict = Run(nd);
    EXPECT_EQ(verdict, model.ok ? kContinue : kDrop) << "case " << i << ": " << model.reason;
    drops += verdict == kDrop;
  }
  std::printf("program vs model: %d cases, %d dropped, %d continued\n", kCases, drops,
              kCases - drops);
  EXPECT_GT(drops, kCases / 10);
  EXPECT_GT(kCases - drops, kCases / 10);
}

}  // namespace
}  // namespace vfguard::offload

VFGUARD_BPF_TEST_MAIN()
