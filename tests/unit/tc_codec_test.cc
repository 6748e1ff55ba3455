// tc codec encoders: every encoder against the bytes iproute2's tc sends for
// the same object (fixtures/req_*.hex, captured by fixtures/regenerate_requests.sh),
// decoding those requests back, message packing, and validation errors.
#include "netlink/tc_codec.h"

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

constexpr MacAddr kMac1 = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint16_t kIp = 0x0800, kIpv6 = 0x86dd, kArp = 0x0806, kVlan = 0x8100, kAll = 0x0003;

TcAction Gact(GactAction::Verdict v, uint32_t chain = 0) { return {GactAction{v, chain}}; }

FlowerFilter L2Filter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 0;
  f.prio = 1;
  f.handle = 1;
  f.protocol = kAll;
  f.keys.indev = "lo";
  f.keys.eth_dst = Exact(kMac1);
  f.keys.eth_src = Masked<MacAddr>{{0x02, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0, 0, 0}};
  f.actions = {Gact(GactAction::Verdict::kGotoChain, 7)};
  return f;
}

FlowerFilter Ipv4TcpFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 2;
  f.prio = 10;
  f.handle = 2;
  f.protocol = kIp;
  f.skip_hw = true;
  f.keys.eth_type = kIp;
  f.keys.ip_proto = 6;
  f.keys.ipv4_src = Masked<Ipv4Addr>{{10, 0, 0, 0}, {255, 0, 0, 0}};
  f.keys.ipv4_dst = Exact(Ipv4Addr{192, 168, 1, 1});
  f.keys.tcp_src = Masked<uint16_t>{1024, 0xfc00};
  f.keys.tcp_dst = Exact<uint16_t>(80);
  f.actions = {{CtAction{.zone = 3}}, Gact(GactAction::Verdict::kGotoChain, 4)};
  return f;
}

FlowerFilter Ipv6UdpFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 3;
  f.prio = 20;
  f.handle = 3;
  f.protocol = kIpv6;
  f.skip_sw = true;
  f.keys.eth_type = kIpv6;
  f.keys.ip_proto = 17;
  Ipv6Addr net{0x20, 0x01, 0x0d, 0xb8};
  Ipv6Addr host = net;
  host[15] = 1;
  f.keys.ipv6_src = Masked<Ipv6Addr>{net, {0xff, 0xff, 0xff, 0xff}};
  f.keys.ipv6_dst = Exact(host);
  f.keys.udp_dst = Exact<uint16_t>(53);
  f.actions = {Gact(GactAction::Verdict::kDrop)};
  return f;
}

FlowerFilter SctpFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.prio = 11;
  f.handle = 4;
  f.protocol = kIp;
  f.keys.eth_type = kIp;
  f.keys.ip_proto = 132;
  f.keys.sctp_src = Exact<uint16_t>(7);
  f.keys.sctp_dst = Masked<uint16_t>{5000, 0xff00};
  f.actions = {Gact(GactAction::Verdict::kPipe), Gact(GactAction::Verdict::kOk)};
  return f;
}

FlowerFilter IcmpFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.prio = 12;
  f.handle = 5;
  f.protocol = kIp;
  f.keys.eth_type = kIp;
  f.keys.ip_proto = 1;
  f.keys.icmpv4_type = Exact<uint8_t>(8);
  f.keys.icmpv4_code = Exact<uint8_t>(0);
  f.actions = {Gact(GactAction::Verdict::kOk)};
  return f;
}

FlowerFilter Icmpv6Filter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.prio = 13;
  f.handle = 6;
  f.protocol = kIpv6;
  f.keys.eth_type = kIpv6;
  f.keys.ip_proto = 58;
  f.keys.icmpv6_type = Exact<uint8_t>(134);
  f.keys.icmpv6_code = Masked<uint8_t>{0, 0xf0};
  f.actions = {Gact(GactAction::Verdict::kDrop)};
  return f;
}

FlowerFilter ArpFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 1;
  f.prio = 14;
  f.handle = 7;
  f.protocol = kArp;
  f.keys.eth_type = kArp;
  f.keys.arp_sip = Masked<Ipv4Addr>{{10, 0, 0, 0}, {255, 255, 255, 0}};
  f.keys.arp_tip = Exact(Ipv4Addr{10, 0, 0, 1});
  f.keys.arp_op = Exact<uint8_t>(1);
  f.keys.arp_sha = Exact(kMac1);
  f.keys.arp_tha = Masked<MacAddr>{{}, {0, 0, 0, 0, 0, 0xff}};
  f.actions = {Gact(GactAction::Verdict::kTrap)};
  return f;
}

FlowerFilter CtFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 9;
  f.prio = 15;
  f.handle = 8;
  f.protocol = kIp;
  f.keys.eth_type = kIp;
  f.keys.ct_state = Masked<uint16_t>{0x0a, 0x0a};  // +trk+est
  f.keys.ct_zone = Exact<uint16_t>(5);
  f.keys.ct_mark = Masked<uint32_t>{7, 0xff};
  f.actions = {Gact(GactAction::Verdict::kContinue)};
  return f;
}

FlowerFilter VlanFilter() {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.prio = 16;
  f.handle = 9;
  f.protocol = kVlan;
  f.keys.eth_type = kVlan;
  f.keys.vlan_id = 100;
  f.keys.vlan_eth_type = kIp;
  f.actions = {{VlanAction{.op = VlanAction::Op::kPop}},
               {MirredAction{.mode = MirredAction::Mode::kRedirect, .ifindex = 1}}};
  return f;
}

FlowerFilter DeviceActionsFilter() {
  FlowerFilter f;
  f.owner = TcDevice{1, kClsactIngressParent};
  f.prio = 17;
  f.handle = 10;
  f.protocol = kAll;
  f.actions = {{VlanAction{.op = VlanAction::Op::kPush, .vlan_id = 10, .protocol = kVlan}},
               {MirredAction{.mode = MirredAction::Mode::kMirror, .ifindex = 1}},
               {CtAction{.clear = true}},
               {CtAction{.commit = true}}};
  return f;
}

struct FilterCase {
  const char* fixture;
  FlowerFilter (*make)();
  CreateMode mode;
  friend void PrintTo(const FilterCase& c, std::ostream* os) { *os << c.fixture; }
};

const FilterCase kFilterCases[] = {
    {"req_filter_l2.hex", &L2Filter, CreateMode::kCreateExclusive},
    {"req_filter_ipv4_tcp.hex", &Ipv4TcpFilter, CreateMode::kCreateExclusive},
    {"req_filter_ipv6_udp.hex", &Ipv6UdpFilter, CreateMode::kCreateOrReplace},
    {"req_filter_sctp.hex", &SctpFilter, CreateMode::kCreateExclusive},
    {"req_filter_icmp.hex", &IcmpFilter, CreateMode::kCreateExclusive},
    {"req_filter_icmpv6.hex", &Icmpv6Filter, CreateMode::kCreateExclusive},
    {"req_filter_arp.hex", &ArpFilter, CreateMode::kCreateExclusive},
    {"req_filter_ct.hex", &CtFilter, CreateMode::kCreateExclusive},
    {"req_filter_vlan.hex", &VlanFilter, CreateMode::kCreateExclusive},
    {"req_filter_dev_actions.hex", &DeviceActionsFilter, CreateMode::kCreateExclusive},
};

class FilterGoldenTest : public ::testing::TestWithParam<FilterCase> {};

TEST_P(FilterGoldenTest, EncodesWhatTcSends) {
  const FilterCase& c = GetParam();
  std::vector<uint8_t> actual = EncodeWith(
      [&](absl::Span<uint8_t> out) { return EncodeNewFilter(c.make(), c.mode, 0, out); });
  EXPECT_EQ(HexDump(actual), HexDump(Fixture(c.fixture)));
}

TEST_P(FilterGoldenTest, DecodesItsOwnRequestBack) {
  const FilterCase& c = GetParam();
  FlowerFilter want = c.make();
  std::vector<uint8_t> bytes =
      EncodeWith([&](absl::Span<uint8_t> out) { return EncodeNewFilter(want, c.mode, 0, out); });
  absl::StatusOr<std::optional<FlowerFilter>> got = DecodeFilterMessage(bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, want) << "got  " << DebugString(**got) << "\nwant " << DebugString(want);
}

TEST_P(FilterGoldenTest, DecodesTcsRequestToTheSameFilter) {
  const FilterCase& c = GetParam();
  absl::StatusOr<std::optional<FlowerFilter>> got = DecodeFilterMessage(Fixture(c.fixture));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, c.make()) << DebugString(**got);
}

INSTANTIATE_TEST_SUITE_P(AllKeysAndActions, FilterGoldenTest, ::testing::ValuesIn(kFilterCases),
                         [](const auto& info) {
                           std::string name = info.param.fixture;
                           name = name.substr(4, name.size() - 8);  // req_*.hex
                           return name;
                         });

TEST(TcCodecTest, ClsactWithSharedBlockMatchesTc) {
  std::vector<uint8_t> actual = EncodeWith([](absl::Span<uint8_t> out) {
    return EncodeNewClsact({.ifindex = 1, .ingress_block = 5}, CreateMode::kCreateExclusive, 0,
                           out);
  });
  EXPECT_EQ(HexDump(actual), HexDump(Fixture("req_qdisc_clsact_block.hex")));
}

TEST(TcCodecTest, ClsactReplaceWithoutBlockMatchesTc) {
  std::vector<uint8_t> actual = EncodeWith([](absl::Span<uint8_t> out) {
    return EncodeNewClsact({.ifindex = 1}, CreateMode::kCreateOrReplace, 0, out);
  });
  EXPECT_EQ(HexDump(actual), HexDump(Fixture("req_qdisc_clsact_replace.hex")));
}

TEST(TcCodecTest, DeleteMatchesTcWithoutOptions) {
  FlowerFilter f;
  f.owner = TcBlock{5};
  f.chain = 3;
  f.prio = 10;
  f.handle = 7;
  f.protocol = kIp;
  f.keys.eth_type = kIp;  // not sent on delete
  std::vector<uint8_t> actual =
      EncodeWith([&](absl::Span<uint8_t> out) { return EncodeDelFilter(f, 0, out); });
  EXPECT_EQ(HexDump(actual), HexDump(Fixture("req_filter_del.hex")));
}

TEST(TcCodecTest, DumpRequestsMatchTc) {
  EXPECT_EQ(HexDump(EncodeWith([](absl::Span<uint8_t> out) {
              return EncodeDumpFilters(TcBlock{5}, std::nullopt, 0, out);
            })),
            HexDump(Fixture("req_dump_block.hex")));
  EXPECT_EQ(HexDump(EncodeWith(
                [](absl::Span<uint8_t> out) { return EncodeDumpFilters(TcDevice{1}, 4, 0, out); })),
            HexDump(Fixture("req_dump_dev_chain.hex")));
}

TEST(TcCodecTest, SeqIsWrittenAndMessagesPackBackToBack) {
  AlignedBuffer buf(4096);
  absl::Span<uint8_t> out = buf.span();
  absl::StatusOr<size_t> first = EncodeNewFilter(L2Filter(), CreateMode::kCreateExclusive, 7, out);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(*first % 4, 0u);
  absl::StatusOr<size_t> second =
      EncodeNewFilter(CtFilter(), CreateMode::kCreateExclusive, 8, out.subspan(*first));
  ASSERT_TRUE(second.ok()) << second.status();
  const auto* a = reinterpret_cast<const nlmsghdr*>(out.data());
  const auto* b = reinterpret_cast<const nlmsghdr*>(out.data() + *first);
  EXPECT_EQ(a->nlmsg_seq, 7u);
  EXPECT_EQ(b->nlmsg_seq, 8u);
  EXPECT_EQ(a->nlmsg_len, *first);
  absl::StatusOr<std::vector<FlowerFilter>> both =
      DecodeFilterDump(absl::MakeConstSpan(out.data(), *first + *second));
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0], L2Filter());
  EXPECT_EQ((*both)[1], CtFilter());
}

TEST(TcCodecTest, TooSmallBufferIsResourceExhaustedAtEverySize) {
  std::vector<uint8_t> full = EncodeWith([](absl::Span<uint8_t> out) {
    return EncodeNewFilter(DeviceActionsFilter(), CreateMode::kCreateExclusive, 0, out);
  });
  ASSERT_FALSE(full.empty());
  for (size_t size = 0; size < full.size(); size += 4) {
    AlignedBuffer buf(size);
    absl::StatusOr<size_t> len =
        EncodeNewFilter(DeviceActionsFilter(), CreateMode::kCreateExclusive, 0, buf.span());
    EXPECT_EQ(len.status().code(), absl::StatusCode::kResourceExhausted) << "size " << size;
  }
}

void ExpectInvalid(const FlowerFilter& f, const std::string& field) {
  AlignedBuffer buf(4096);
  absl::StatusOr<size_t> len = EncodeNewFilter(f, CreateMode::kCreateExclusive, 0, buf.span());
  EXPECT_EQ(len.status().code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(len.status().message()), HasSubstr(field));
}

TEST(TcCodecTest, RejectsKeysTheKernelWouldIgnore) {
  FlowerFilter f = Ipv4TcpFilter();
  f.keys.ip_proto = 17;
  ExpectInvalid(f, "tcp_src");
  f = Ipv4TcpFilter();
  f.keys.eth_type.reset();
  ExpectInvalid(f, "ip_proto");
  f = IcmpFilter();
  f.keys.eth_type = kIpv6;
  ExpectInvalid(f, "icmpv4_type");
  f = ArpFilter();
  f.keys.eth_type = kIp;
  ExpectInvalid(f, "arp_sip");
  f = VlanFilter();
  f.keys.eth_type = kIp;
  ExpectInvalid(f, "vlan_id");
  f = VlanFilter();
  f.keys.vlan_id = 4096;
  ExpectInvalid(f, "vlan_id");
  f = L2Filter();
  f.keys.indev = "a-name-longer-than-15";
  ExpectInvalid(f, "indev");
  f = Ipv6UdpFilter();
  f.keys.ipv4_dst = Exact(Ipv4Addr{1, 2, 3, 4});
  ExpectInvalid(f, "ipv6");
  f = Ipv4TcpFilter();
  f.keys.ipv4_src->mask = {};
  ExpectInvalid(f, "ipv4_src: an all-zero mask");
}

TEST(TcCodecTest, RejectsBadActionsAndOwners) {
  FlowerFilter f = L2Filter();
  f.actions = {{CtAction{.zone = 2, .clear = true}}};
  ExpectInvalid(f, "actions[0]");
  f.actions = {Gact(GactAction::Verdict::kOk), {MirredAction{.ifindex = 0}}};
  ExpectInvalid(f, "actions[1]");
  f.actions = {{VlanAction{.op = VlanAction::Op::kPush, .vlan_id = 4095}}};
  ExpectInvalid(f, "vlan push id");
  f.actions = {Gact(GactAction::Verdict::kGotoChain, 1u << 28)};
  ExpectInvalid(f, "goto chain");
  f.actions.assign(33, Gact(GactAction::Verdict::kPipe));
  ExpectInvalid(f, "actions");
  f = L2Filter();
  f.owner = TcBlock{0};
  ExpectInvalid(f, "block index");
  f = L2Filter();
  f.skip_hw = f.skip_sw = true;
  ExpectInvalid(f, "skip_hw");
}

}  // namespace
}  // namespace vfguard::netlink
