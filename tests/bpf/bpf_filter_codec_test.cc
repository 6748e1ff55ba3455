// cls_bpf request encoding against bytes written out by hand from the kernel
// UAPI (linux/rtnetlink.h, linux/pkt_cls.h), little-endian host.
#include "netlink/bpf_filter_codec.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::netlink {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<uint8_t> Encode(const BpfFilter& f, CreateMode mode, uint32_t seq) {
  alignas(4) std::array<uint8_t, 512> buf{};
  absl::StatusOr<size_t> n = EncodeNewBpfFilter(f, mode, seq, absl::MakeSpan(buf));
  EXPECT_TRUE(n.ok()) << n.status();
  if (!n.ok()) return {};
  return std::vector<uint8_t>(buf.begin(), buf.begin() + *n);
}

BpfFilter ActivationAttach() {
  BpfFilter f;
  f.owner = TcBlock{7};
  f.chain = 0;
  f.prio = 1;
  f.prog_fd = 5;
  f.name = "vfguard_activation";
  return f;
}

TEST(BpfFilterCodecTest, AttachInSharedBlockGolden) {
  // clang-format off
  const std::vector<uint8_t> expected = {
      // nlmsghdr: len 104, RTM_NEWTFILTER (44), REQUEST|ACK|EXCL|CREATE, seq 0x01020304, pid 0
      104, 0, 0, 0,  44, 0,  0x05, 0x06,  0x04, 0x03, 0x02, 0x01,  0, 0, 0, 0,
      // tcmsg: family 0, pads, ifindex TCM_IFINDEX_MAGIC_BLOCK, handle 0, parent = block 7,
      // info = prio 1 << 16 | htons(ETH_P_ALL)
      0, 0, 0, 0,  0xff, 0xff, 0xff, 0xff,  0, 0, 0, 0,  7, 0, 0, 0,  0x00, 0x03, 0x01, 0x00,
      // TCA_CHAIN (11) = 0
      8, 0, 11, 0,  0, 0, 0, 0,
      // TCA_KIND (1) = "bpf"
      8, 0, 1, 0,  'b', 'p', 'f', 0,
      // TCA_OPTIONS (2), 52 bytes, no NLA_F_NESTED (as iproute2 sends it)
      52, 0, 2, 0,
      //   TCA_BPF_FD (6) = 5
      8, 0, 6, 0,  5, 0, 0, 0,
      //   TCA_BPF_NAME (7) = "vfguard_activation" + NUL: 23 bytes, one byte of padding
      23, 0, 7, 0,  'v', 'f', 'g', 'u', 'a', 'r', 'd', '_', 'a', 'c', 't', 'i', 'v', 'a', 't',
      'i', 'o', 'n', 0,  0,
      //   TCA_BPF_FLAGS (8) = TCA_BPF_FLAG_ACT_DIRECT
      8, 0, 8, 0,  1, 0, 0, 0,
      //   TCA_BPF_FLAGS_GEN (9) = TCA_CLS_FLAGS_SKIP_HW
      8, 0, 9, 0,  1, 0, 0, 0,
  };
  // clang-format on
  EXPECT_THAT(Encode(ActivationAttach(), CreateMode::kCreateExclusive, 0x01020304),
              ElementsAreArray(expected));
}

TEST(BpfFilterCodecTest, OptionalPartsAndDeviceOwner) {
  BpfFilter f = ActivationAttach();
  f.owner = TcDevice{.ifindex = 9, .parent = 0xfffffff2};  // clsact ingress
  f.name.clear();
  f.direct_action = false;
  f.skip_hw = false;
  f.handle = 0x10;
  f.chain = 3;
  f.protocol = 0x0806;
  // clang-format off
  const std::vector<uint8_t> expected = {
      72, 0, 0, 0,  44, 0,  0x05, 0x04,  9, 0, 0, 0,  0, 0, 0, 0,  // REQUEST|ACK|CREATE
      0, 0, 0, 0,  9, 0, 0, 0,  0x10, 0, 0, 0,  0xf2, 0xff, 0xff, 0xff,  0x08, 0x06, 0x01, 0x00,
      8, 0, 11, 0,  3, 0, 0, 0,
      8, 0, 1, 0,  'b', 'p', 'f', 0,
      20, 0, 2, 0,
      8, 0, 6, 0,  5, 0, 0, 0,
      8, 0, 8, 0,  0, 0, 0, 0,
  };
  // clang-format on
  EXPECT_THAT(Encode(f, CreateMode::kCreateOrReplace, 9), ElementsAreArray(expected));
}

bool Contains(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST(BpfFilterCodecTest, ClassifierModeCarriesClassidAndActions) {
  BpfFilter f = ActivationAttach();
  f.direct_action = false;
  f.classid = 0x00010002;
  TcAction go;
  go.op = GactAction{GactAction::Verdict::kGotoChain, 7};
  f.actions = {go};
  std::vector<uint8_t> got = Encode(f, CreateMode::kCreateOrReplace, 1);
  // TCA_BPF_FLAGS (8) = 0: classifier mode; TCA_BPF_CLASSID (3) = 0x00010002.
  EXPECT_TRUE(Contains(got, {8, 0, 8, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(Contains(got, {8, 0, 3, 0, 2, 0, 1, 0}));
  // TCA_BPF_ACT (1), then action 1 of kind "gact" (TCA_ACT_KIND 1).
  const std::vector<uint8_t> kind = {9, 0, 1, 0, 'g', 'a', 'c', 't', 0};
  ASSERT_TRUE(Contains(got, kind));
  auto at = std::search(got.begin(), got.end(), kind.begin(), kind.end());
  const size_t kind_off = static_cast<size_t>(at - got.begin());
  ASSERT_GE(kind_off, 8u);
  EXPECT_EQ(got[kind_off - 2], 1) << "action entry 1";
  EXPECT_EQ(got[kind_off - 6], 1) << "TCA_BPF_ACT";
  // gact's control TC_ACT_GOTO_CHAIN | 7 in its parms.
  EXPECT_TRUE(Contains(got, {7, 0, 0, 0x20}));
  // Without them, neither attribute is sent.
  BpfFilter plain = f;
  plain.actions.clear();
  plain.classid.reset();
  std::vector<uint8_t> base = Encode(plain, CreateMode::kCreateOrReplace, 1);
  EXPECT_FALSE(Contains(base, {8, 0, 3, 0, 2, 0, 1, 0}));
  EXPECT_FALSE(Contains(base, kind));

  f.direct_action = true;
  alignas(4) std::array<uint8_t, 512> buf{};
  absl::StatusOr<size_t> refused =
      EncodeNewBpfFilter(f, CreateMode::kCreateOrReplace, 1, absl::MakeSpan(buf));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("classifier mode"));
}

TEST(BpfFilterCodecTest, DeleteCarriesKindButNoOptions) {
  alignas(4) std::array<uint8_t, 128> buf{};
  BpfFilter f = ActivationAttach();
  f.prog_fd = -1;  // not needed to delete
  absl::StatusOr<size_t> n = EncodeDelBpfFilter(f, 2, absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  // clang-format off
  const std::vector<uint8_t> expected = {
      52, 0, 0, 0,  45, 0,  0x05, 0x00,  2, 0, 0, 0,  0, 0, 0, 0,  // RTM_DELTFILTER, REQUEST|ACK
      0, 0, 0, 0,  0xff, 0xff, 0xff, 0xff,  0, 0, 0, 0,  7, 0, 0, 0,  0x00, 0x03, 0x01, 0x00,
      8, 0, 11, 0,  0, 0, 0, 0,
      8, 0, 1, 0,  'b', 'p', 'f', 0,
  };
  // clang-format on
  EXPECT_THAT(std::vector<uint8_t>(buf.begin(), buf.begin() + *n), ElementsAreArray(expected));
}

TEST(BpfFilterCodecTest, RefusesBadInputAndShortBuffers) {
  alignas(4) std::array<uint8_t, 512> buf{};
  BpfFilter f = ActivationAttach();
  f.prog_fd = -1;
  EXPECT_THAT(EncodeNewBpfFilter(f, CreateMode::kCreateExclusive, 1, absl::MakeSpan(buf))
                  .status()
                  .message(),
              HasSubstr("prog_fd"));
  f = ActivationAttach();
  f.owner = TcBlock{0};
  EXPECT_EQ(
      EncodeNewBpfFilter(f, CreateMode::kCreateExclusive, 1, absl::MakeSpan(buf)).status().code(),
      absl::StatusCode::kInvalidArgument);
  f.owner = TcDevice{.ifindex = 0};
  EXPECT_EQ(EncodeDelBpfFilter(f, 1, absl::MakeSpan(buf)).status().code(),
            absl::StatusCode::kInvalidArgument);
  f = ActivationAttach();
  for (size_t len : {0, 16, 40, 100}) {
    EXPECT_EQ(
        EncodeNewBpfFilter(f, CreateMode::kCreateExclusive, 1, absl::MakeSpan(buf.data(), len))
            .status()
            .code(),
        absl::StatusCode::kResourceExhausted)
        << len;
  }
  EXPECT_TRUE(
      EncodeNewBpfFilter(f, CreateMode::kCreateExclusive, 1, absl::MakeSpan(buf.data(), 104)).ok());
}

}  // namespace
}  // namespace vfguard::netlink
