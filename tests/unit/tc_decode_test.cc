// tc codec decoders: replies captured from the real kernel (fixtures/dump_*.hex,
// err_*.hex), kernel-shaped dumps with stats, acks with extack, and damaged
// input (truncation, corruption, lengths that lie).
#include <arpa/inet.h>
#include <errno.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/gen_stats.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_gact.h>

#include <string>

#include "netlink/tc_codec.h"
#include "tests/unit/tc_cases.h"
#include "tests/unit/tc_test_support.h"

namespace vfguard::netlink {
namespace {

using testing::AlignedBuffer;
using ::testing::HasSubstr;
using testing::HexDump;
using testing::ReadHexFile;

std::vector<uint8_t> Fixture(const std::string& name) {
  std::vector<uint8_t> bytes = ReadHexFile(std::string(TC_FIXTURE_DIR) + "/" + name);
  EXPECT_FALSE(bytes.empty()) << "missing fixture " << name;
  return bytes;
}

template <typename Encode>
std::vector<uint8_t> EncodeWith(Encode encode) {
  AlignedBuffer buf(4096);
  absl::StatusOr<size_t> len = encode(buf.span());
  EXPECT_TRUE(len.ok()) << len.status();
  return len.ok() ? buf.Prefix(*len) : std::vector<uint8_t>{};
}

// Builds an NLMSG_ERROR the way the kernel does for a failed request with
// extended ack: error, echoed request header (capped), then the TLVs.
std::vector<uint8_t> ErrorMessage(int error, const std::string& extack) {
  AlignedBuffer buf(512);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.span().data());
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_CAPPED | (extack.empty() ? 0 : NLM_F_ACK_TLVS);
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  err->error = error;
  err->msg.nlmsg_len = 200;  // the original request was longer; capped
  err->msg.nlmsg_type = 44;
  if (!extack.empty()) mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, extack.c_str());
  return buf.Prefix(nlh->nlmsg_len);
}

TEST(TcCodecTest, AckCarriesErrnoAndExtack) {
  EXPECT_TRUE(DecodeAck(ErrorMessage(0, "")).ok());
  absl::Status s = DecodeAck(ErrorMessage(-EOPNOTSUPP, "TC offload is disabled on net device"));
  EXPECT_EQ(ErrnoFromStatus(s), EOPNOTSUPP);
  EXPECT_EQ(ExtackFromStatus(s), "TC offload is disabled on net device");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("EOPNOTSUPP"));
  absl::Status plain = DecodeAck(ErrorMessage(-EEXIST, ""));
  EXPECT_EQ(ErrnoFromStatus(plain), EEXIST);
  EXPECT_EQ(ExtackFromStatus(plain), "");
  absl::StatusOr<std::vector<FlowerFilter>> dump = DecodeFilterDump(ErrorMessage(-ENOENT, ""));
  EXPECT_EQ(ErrnoFromStatus(dump.status()), ENOENT);
}

TEST(TcCodecTest, DumpRecordWithoutOptionsIsSkipped) {
  // The kernel sends one record per (chain, prio, protocol) without a handle
  // or options before that prio's filters.
  FlowerFilter f = testing::TcRoundTripCases(5, "lo", 1)[4].filter;  // icmp
  f.handle = 0;
  std::vector<uint8_t> bytes =
      EncodeWith([&](absl::Span<uint8_t> out) { return EncodeDelFilter(f, 0, out); });
  bytes[4] = 44;  // RTM_NEWTFILTER
  absl::StatusOr<std::optional<FlowerFilter>> got = DecodeFilterMessage(bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST(TcCodecTest, TruncatedOrCorruptedMessagesFailCleanly) {
  std::vector<uint8_t> good = EncodeWith([](absl::Span<uint8_t> out) {
    return EncodeNewFilter(testing::TcRoundTripCases(5, "lo", 1)[1].filter,  // ipv4_tcp
                           CreateMode::kCreateExclusive, 0, out);
  });
  int errors = 0;
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + len);
    errors += !DecodeFilterMessage(cut).ok();
  }
  EXPECT_EQ(errors, static_cast<int>(good.size())) << "every truncation must be an error";
  // Single-byte corruption anywhere must not crash; many are detected.
  int detected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= x;
      detected += !DecodeFilterMessage(bad).ok();
    }
  }
  EXPECT_GT(detected, 0);
}

// A dump shaped like the kernel's (fl_dump + tcf_action_dump_1): a record per
// (chain, prio) without options, then the filter with flags, in_hw_count,
// per-action stats and timing, padding and attributes newer than our headers.
class KernelShapedDump {
 public:
  KernelShapedDump() : buf_(4096) {}

  void AddProtoRecord(uint32_t chain, uint16_t prio) {
    nlmsghdr* nlh = Start(RTM_NEWTFILTER, chain, prio, 0);
    mnl_attr_put_strz(nlh, TCA_KIND, "flower");
    End(nlh);
  }

  void AddFilter(uint32_t chain, uint16_t prio, uint32_t handle, const char* action_kind) {
    nlmsghdr* nlh = Start(RTM_NEWTFILTER, chain, prio, handle);
    mnl_attr_put_strz(nlh, TCA_KIND, "flower");
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    uint16_t eth_type = htons(0x0800);
    mnl_attr_put(nlh, TCA_FLOWER_KEY_ETH_TYPE, 2, &eth_type);
    mnl_attr_put_u8(nlh, TCA_FLOWER_KEY_IP_PROTO, 6);
    mnl_attr_put_u32(nlh, TCA_FLOWER_FLAGS, TCA_CLS_FLAGS_SKIP_HW | TCA_CLS_FLAGS_NOT_IN_HW);
    mnl_attr_put_u32(nlh, TCA_FLOWER_IN_HW_COUNT, 0);
    mnl_attr_put_u32(nlh, 250, 0xdeadbeef);  // from a newer kernel: ignored
    nlattr* acts = mnl_attr_nest_start(nlh, TCA_FLOWER_ACT);
    nlattr* act = mnl_attr_nest_start(nlh, 1);
    mnl_attr_put_strz(nlh, TCA_ACT_KIND, action_kind);
    nlattr* stats = mnl_attr_nest_start(nlh, TCA_ACT_STATS);
    uint8_t basic[16] = {};
    uint64_t bytes = 1234;
    uint32_t packets = 7;
    std::memcpy(basic, &bytes, 8);
    std::memcpy(basic + 8, &packets, 4);
    mnl_attr_put(nlh, TCA_STATS_BASIC, sizeof(basic), basic);
    bytes = 100;
    packets = 1;
    std::memcpy(basic, &bytes, 8);
    std::memcpy(basic + 8, &packets, 4);
    mnl_attr_put(nlh, TCA_STATS_BASIC_HW, sizeof(basic), basic);
    uint8_t queue[20] = {};
    mnl_attr_put(nlh, TCA_STATS_QUEUE, sizeof(queue), queue);
    mnl_attr_nest_end(nlh, stats);
    mnl_attr_put_u32(nlh, TCA_ACT_IN_HW_COUNT, 0);
    nlattr* act_opts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
    tc_gact parms{};
    parms.action = TC_ACT_SHOT;
    parms.index = 17;
    parms.refcnt = 1;
    parms.bindcnt = 1;
    mnl_attr_put(nlh, TCA_GACT_PARMS, sizeof(parms), &parms);
    mnl_attr_put(nlh, TCA_GACT_PAD, 0, nullptr);
    tcf_t tm{.install = 900, .lastuse = 250, .expires = 0, .firstuse = 300};
    mnl_attr_put(nlh, TCA_GACT_TM, sizeof(tm), &tm);
    mnl_attr_nest_end(nlh, act_opts);
    mnl_attr_nest_end(nlh, act);
    mnl_attr_nest_end(nlh, acts);
    mnl_attr_nest_end(nlh, opts);
    End(nlh);
  }

  void AddDone() {
    nlmsghdr* nlh = Start(NLMSG_DONE, 0, 0, 0);
    End(nlh);
  }

  std::vector<uint8_t> Bytes() { return buf_.Prefix(used_); }

 private:
  nlmsghdr* Start(uint16_t type, uint32_t chain, uint16_t prio, uint32_t handle) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.span().data() + used_);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_MULTI;
    if (type == NLMSG_DONE) {
      mnl_nlmsg_put_extra_header(nlh, sizeof(int));
      return nlh;
    }
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
    tcm->tcm_ifindex = static_cast<int>(TCM_IFINDEX_MAGIC_BLOCK);
    tcm->tcm_parent = 5;
    tcm->tcm_handle = handle;
    tcm->tcm_info = TC_H_MAKE(static_cast<uint32_t>(prio) << 16, htons(0x0800));
    mnl_attr_put_u32(nlh, TCA_CHAIN, chain);
    return nlh;
  }
  void End(nlmsghdr* nlh) { used_ += MNL_ALIGN(nlh->nlmsg_len); }

  AlignedBuffer buf_;
  size_t used_ = 0;
};

TEST(TcCodecTest, DecodesKernelShapedDumpWithStats) {
  KernelShapedDump dump;
  dump.AddProtoRecord(3, 10);
  dump.AddFilter(3, 10, 1, "gact");
  dump.AddFilter(3, 10, 2, "gact");
  dump.AddDone();
  dump.AddFilter(3, 10, 3, "gact");  // after NLMSG_DONE: not part of the dump
  absl::StatusOr<std::vector<FlowerFilter>> got = DecodeFilterDump(dump.Bytes());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  const FlowerFilter& f = (*got)[0];
  EXPECT_EQ(std::get<TcBlock>(f.owner).index, 5u);
  EXPECT_EQ(f.chain, 3u);
  EXPECT_EQ(f.prio, 10);
  EXPECT_EQ(f.handle, 1u);
  EXPECT_EQ(f.protocol, 0x0800);
  EXPECT_EQ(f.keys.eth_type, 0x0800);
  EXPECT_EQ(f.keys.ip_proto, 6);
  EXPECT_TRUE(f.skip_hw);
  EXPECT_FALSE(f.skip_sw);
  EXPECT_TRUE(f.status.not_in_hw);
  EXPECT_FALSE(f.status.in_hw);
  ASSERT_EQ(f.actions.size(), 1u);
  EXPECT_EQ(std::get<GactAction>(f.actions[0].op).verdict, GactAction::Verdict::kDrop);
  EXPECT_EQ(f.actions[0].stats.packets, 7u);
  EXPECT_EQ(f.actions[0].stats.bytes, 1234u);
  EXPECT_EQ(f.actions[0].stats.hw_packets, 1u);
  EXPECT_EQ(f.actions[0].stats.hw_bytes, 100u);
  EXPECT_EQ(f.actions[0].stats.idle_ms, 2500u);  // 250 USER_HZ ticks
  EXPECT_EQ(f.status.packets, 7u);
  EXPECT_EQ(f.status.bytes, 1234u);
  EXPECT_EQ(f.status.idle_ms, 2500u);
  EXPECT_EQ((*got)[1].handle, 2u);
}

TEST(TcCodecTest, UnsupportedActionKindIsAnErrorNamingIt) {
  KernelShapedDump dump;
  dump.AddFilter(0, 1, 1, "pedit");
  absl::StatusOr<std::vector<FlowerFilter>> got = DecodeFilterDump(dump.Bytes());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("'pedit'"));
}

// Replies captured from the real kernel by tests/kernel/tc_roundtrip_test
// (fixtures/dump_*.hex): each must decode to exactly the filter that test
// installed. In its namespace the mirred target v1b had ifindex 4.
class KernelDumpTest : public ::testing::TestWithParam<testing::Case> {};

TEST_P(KernelDumpTest, DecodesToTheInstalledFilter) {
  const testing::Case& c = GetParam();
  absl::StatusOr<std::optional<FlowerFilter>> got =
      DecodeFilterMessage(Fixture("dump_" + c.name + ".hex"));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(WithoutStatus(**got), c.filter)
      << "kernel " << DebugString(**got) << "\nwant   " << DebugString(c.filter);
  EXPECT_TRUE((*got)->status.not_in_hw);
  EXPECT_FALSE((*got)->status.in_hw);
  EXPECT_EQ((*got)->status.in_hw_count, 0u);
  EXPECT_EQ((*got)->status.packets, 0u);
  for (const TcAction& a : (*got)->actions) EXPECT_TRUE(a.stats.idle_ms.has_value());
}

INSTANTIATE_TEST_SUITE_P(Debian61, KernelDumpTest,
                         ::testing::ValuesIn(testing::TcRoundTripCases(1, "v0a", 4)),
                         [](const auto& info) { return info.param.name; });

TEST(TcCodecTest, KernelRejectionsDecodeToErrnoAndExtack) {
  absl::Status skip_sw = DecodeAck(Fixture("err_skip_sw.hex"));
  EXPECT_EQ(ErrnoFromStatus(skip_sw), EOPNOTSUPP) << skip_sw;
  absl::Status no_block = DecodeAck(Fixture("err_no_block.hex"));
  EXPECT_EQ(ErrnoFromStatus(no_block), EINVAL) << no_block;
  EXPECT_EQ(ExtackFromStatus(no_block), "Block of given index was not found");
}

TEST(TcCodecTest, LengthAbove2GiBIsRejectedNotFollowed) {
  // Found by tc_decode_fuzz: libmnl's mnl_nlmsg_ok takes nlmsg_len >= 2^31 as
  // negative and lets it through.
  std::vector<uint8_t> bytes = Fixture("req_filter_del.hex");
  bytes[3] = 0xbc;
  EXPECT_FALSE(DecodeFilterMessage(bytes).ok());
  EXPECT_FALSE(DecodeFilterDump(bytes).ok());
  EXPECT_FALSE(DecodeAck(bytes).ok());
}

TEST(TcCodecTest, NonFlowerKindIsAnErrorNamingIt) {
  std::vector<uint8_t> bytes = Fixture("req_filter_del.hex");
  // "flower" -> "matcha": still NUL-terminated, another kind.
  std::string text(bytes.begin(), bytes.end());
  size_t at = text.find("flower");
  ASSERT_NE(at, std::string::npos);
  std::memcpy(bytes.data() + at, "matcha", 6);
  bytes[4] = 44;
  absl::StatusOr<std::optional<FlowerFilter>> got = DecodeFilterMessage(bytes);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("matcha"));
}

}  // namespace
}  // namespace vfguard::netlink
