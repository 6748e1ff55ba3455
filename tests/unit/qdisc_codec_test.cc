// Golden bytes for the qdisc codec: the dump and delete requests (the delete
// is `tc qdisc del dev X clsact` without handle and kind, see qdisc_codec.cc; the
// captured add is fixtures/req_qdisc_clsact_block.hex), and hand-built kernel
// dump replies.
#include "netlink/qdisc_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "netlink/tc_codec.h"
#include "tests/unit/tc_test_support.h"

namespace vfguard::netlink {
namespace {

using testing::AlignedBuffer;
using ::testing::HasSubstr;
using testing::HexDump;

TEST(QdiscCodec, DumpRequestGolden) {
  AlignedBuffer buf(256);
  absl::StatusOr<size_t> n = EncodeDumpQdiscs(5, buf.span());
  ASSERT_TRUE(n.ok()) << n.status();
  const std::vector<uint8_t> want = {
      0x24, 0x00, 0x00, 0x00, 0x26, 0x00, 0x01, 0x03,  // len 36, RTM_GETQDISC, REQUEST|DUMP
      0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 5, pid 0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // tcmsg: AF_UNSPEC, ifindex 0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // handle, parent
      0x00, 0x00, 0x00, 0x00,                          // info
  };
  EXPECT_EQ(buf.Prefix(*n), want) << HexDump(buf.Prefix(*n));
}

TEST(QdiscCodec, DeleteClsactGolden) {
  AlignedBuffer buf(256);
  absl::StatusOr<size_t> n = EncodeDelClsact(7, 9, buf.span());
  ASSERT_TRUE(n.ok()) << n.status();
  const std::vector<uint8_t> want = {
      0x24, 0x00, 0x00, 0x00, 0x25, 0x00, 0x05, 0x00,  // len 36, RTM_DELQDISC, REQUEST|ACK
      0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 9
      0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,  // AF_UNSPEC, ifindex 7
      0x00, 0x00, 0x00, 0x00, 0xf1, 0xff, 0xff, 0xff,  // handle 0, parent clsact
      0x00, 0x00, 0x00, 0x00,                          // info; no TCA_KIND
  };
  EXPECT_EQ(buf.Prefix(*n), want) << HexDump(buf.Prefix(*n));
}

TEST(QdiscCodec, EncodersRefuseBadInput) {
  AlignedBuffer buf(256);
  absl::StatusOr<size_t> n = EncodeDelClsact(0, 1, buf.span());
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("ifindex"));
  AlignedBuffer small(20);
  EXPECT_EQ(EncodeDelClsact(3, 1, small.span()).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EncodeDumpQdiscs(1, small.span()).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// clsact on ifindex 3 bound to block 5 (with TCA_HW_OFFLOAD, which the
// decoder skips), noqueue on ifindex 1, NLMSG_DONE.
const std::vector<uint8_t> kDump = {
    0x40, 0x00, 0x00, 0x00, 0x24, 0x00, 0x02, 0x00,  // len 64, RTM_NEWQDISC, MULTI
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 1
    0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,  // ifindex 3
    0x00, 0x00, 0xff, 0xff, 0xf1, 0xff, 0xff, 0xff,  // handle ffff:0, parent clsact
    0x01, 0x00, 0x00, 0x00,                          // info
    0x0b, 0x00, 0x01, 0x00, 'c',  'l',  's',  'a',   // TCA_KIND "clsact"
    'c',  't',  0x00, 0x00,                          //
    0x05, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,  // TCA_HW_OFFLOAD 0
    0x08, 0x00, 0x0d, 0x00, 0x05, 0x00, 0x00, 0x00,  // TCA_INGRESS_BLOCK 5
    0x30, 0x00, 0x00, 0x00, 0x24, 0x00, 0x02, 0x00,  // len 48, RTM_NEWQDISC, MULTI
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // ifindex 1
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,  // handle 0, parent root
    0x02, 0x00, 0x00, 0x00,                          //
    0x0c, 0x00, 0x01, 0x00, 'n',  'o',  'q',  'u',   // TCA_KIND "noqueue"
    'e',  'u',  'e',  0x00,                          //
    0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00,  // NLMSG_DONE
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00,
};

TEST(QdiscCodec, DecodesDump) {
  absl::StatusOr<std::vector<QdiscInfo>> q = DecodeQdiscDump(kDump);
  ASSERT_TRUE(q.ok()) << q.status();
  std::vector<QdiscInfo> want = {
      QdiscInfo{3, 0xffff0000, 0xfffffff1, "clsact", 5},
      QdiscInfo{1, 0, 0xffffffff, "noqueue", 0},
  };
  EXPECT_EQ(*q, want);

  absl::StatusOr<QdiscInfo> one = DecodeQdiscMessage(absl::MakeConstSpan(kDump).subspan(0, 64));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, want[0]);
}

TEST(QdiscCodec, MalformedInputIsNamed) {
  // Cut inside the first message.
  absl::StatusOr<QdiscInfo> cut = DecodeQdiscMessage(absl::MakeConstSpan(kDump).subspan(0, 40));
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(cut.status().message(), HasSubstr("truncated"));
  absl::StatusOr<std::vector<QdiscInfo>> cut_dump =
      DecodeQdiscDump(absl::MakeConstSpan(kDump).subspan(0, 70));
  ASSERT_FALSE(cut_dump.ok());
  EXPECT_THAT(cut_dump.status().message(), HasSubstr("truncated"));

  // TCA_INGRESS_BLOCK with 2 bytes.
  std::vector<uint8_t> short_block(kDump.begin(), kDump.begin() + 64);
  short_block[56] = 0x06;
  absl::StatusOr<QdiscInfo> bad = DecodeQdiscMessage(short_block);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("TCA_INGRESS_BLOCK"));

  // No TCA_KIND: the noqueue message cut to its tcmsg.
  std::vector<uint8_t> no_kind(kDump.begin() + 64, kDump.begin() + 64 + 36);
  no_kind[0] = 36;
  absl::StatusOr<QdiscInfo> kindless = DecodeQdiscMessage(no_kind);
  ASSERT_FALSE(kindless.ok());
  EXPECT_THAT(kindless.status().message(), HasSubstr("TCA_KIND"));

  // Not a qdisc message.
  std::vector<uint8_t> filter = short_block;
  filter[4] = 0x2c;  // RTM_NEWTFILTER
  absl::StatusOr<QdiscInfo> wrong = DecodeQdiscMessage(filter);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("not a qdisc"));
}

TEST(QdiscCodec, DumpErrorCarriesErrno) {
  const std::vector<uint8_t> err = {
      0x24, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // NLMSG_ERROR
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
      0xff, 0xff, 0xff, 0xff,                          // -EPERM
      0x24, 0x00, 0x00, 0x00, 0x26, 0x00, 0x01, 0x03,  // the request's header
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  absl::StatusOr<std::vector<QdiscInfo>> q = DecodeQdiscDump(err);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(ErrnoFromStatus(q.status()), EPERM);
}

}  // namespace
}  // namespace vfguard::netlink
