// FakeTcBackend: the kernel's answers for each op the reconciler sends (the
// kernel test runs the same scenario against the real kernel), drift, hardware
// acceptance, counters and write counts. Both backends answer with
// netlink/errno_status.h's statuses (errno_status_test).
#include "tests/fakes/fake_tc_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "netlink/errno_status.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

using netlink::ErrnoFromStatus;
using netlink::ExtackFromStatus;
using netlink::FlowerFilter;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr uint32_t kBlock = 9;

netlink::FlowerFilter Filter(uint32_t chain, uint16_t prio, uint32_t handle,
                             uint16_t protocol = 0x0800) {
  FlowerFilter f;
  f.owner = netlink::TcBlock{kBlock};
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = protocol;
  if (protocol == 0x0800) {
    f.keys.eth_type = 0x0800;
    f.keys.ip_proto = 6;
  }
  f.skip_hw = true;
  f.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kDrop}, {}}};
  return f;
}

TcOp Clsact(TcOp::Kind kind, uint32_t ifindex, uint32_t block = kBlock) {
  TcOp op;
  op.kind = kind;
  op.qdisc = netlink::ClsactQdisc{ifindex, block};
  return op;
}

TcOp FilterOp(TcOp::Kind kind, FlowerFilter f) {
  TcOp op;
  op.kind = kind;
  op.filter = std::move(f);
  return op;
}

std::vector<int> Errnos(const std::vector<absl::Status>& statuses) {
  std::vector<int> out;
  for (const absl::Status& s : statuses) out.push_back(ErrnoFromStatus(s));
  return out;
}

std::vector<FlowerFilter> Stripped(const std::vector<FlowerFilter>& dump) {
  std::vector<FlowerFilter> out;
  for (const FlowerFilter& f : dump) out.push_back(netlink::WithoutStatus(f));
  return out;
}

class FakeTcBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.AddDevice(3, "rep_a");
    fake_.AddDevice(4, "rep_b");
  }
  FakeTcBackend fake_;
};

TEST_F(FakeTcBackendTest, ClsactLifecycle) {
  std::vector<absl::Status> r = fake_.Apply({
      Clsact(TcOp::Kind::kCreateClsact, 3),
      Clsact(TcOp::Kind::kCreateClsact, 3),
      Clsact(TcOp::Kind::kCreateClsact, 4),
      Clsact(TcOp::Kind::kCreateClsact, 77),
      Clsact(TcOp::Kind::kDeleteClsact, 4),
      Clsact(TcOp::Kind::kDeleteClsact, 4),
  });
  EXPECT_THAT(Errnos(r), ElementsAre(0, EEXIST, 0, ENODEV, 0, ENOENT));
  absl::StatusOr<std::map<uint32_t, uint32_t>> dump = fake_.DumpClsact();
  ASSERT_TRUE(dump.ok());
  EXPECT_THAT(*dump, ElementsAre(Pair(3u, kBlock)));
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kCreateClsact), 4u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kDeleteClsact), 2u);
}

TEST_F(FakeTcBackendTest, FiltersLikeTheKernel) {
  // No device bound to the block yet.
  std::vector<absl::Status> r = fake_.Apply({FilterOp(TcOp::Kind::kCreateFilter, Filter(1, 1, 1))});
  ASSERT_EQ(Errnos(r), std::vector<int>{EINVAL});
  EXPECT_EQ(ExtackFromStatus(r[0]), "Block of given index was not found");

  FlowerFilter replaced = Filter(1, 1, 1);
  replaced.keys.ip_proto = 17;
  FlowerFilter other_proto = Filter(1, 1, 2, 0x86dd);
  other_proto.keys = {};
  r = fake_.Apply({
      Clsact(TcOp::Kind::kCreateClsact, 3),
      FilterOp(TcOp::Kind::kCreateFilter, Filter(1, 1, 1)),
      FilterOp(TcOp::Kind::kCreateFilter, Filter(1, 1, 1)),
      FilterOp(TcOp::Kind::kCreateFilter, Filter(1, 2, 1)),
      FilterOp(TcOp::Kind::kReplaceFilter, replaced),
      FilterOp(TcOp::Kind::kReplaceFilter, Filter(1, 1, 5)),
      FilterOp(TcOp::Kind::kCreateFilter, other_proto),
      FilterOp(TcOp::Kind::kDeleteFilter, Filter(1, 2, 1)),
      FilterOp(TcOp::Kind::kDeleteFilter, Filter(1, 2, 1)),
  });
  EXPECT_THAT(Errnos(r), ElementsAre(0, 0, EEXIST, 0, 0, ENOENT, EINVAL, 0, ENOENT));
  absl::StatusOr<std::vector<FlowerFilter>> dump = fake_.DumpBlock(kBlock);
  ASSERT_TRUE(dump.ok());
  EXPECT_EQ(Stripped(*dump), std::vector<FlowerFilter>{replaced});
  EXPECT_TRUE((*dump)[0].status.not_in_hw);
  EXPECT_FALSE((*dump)[0].status.in_hw);
  // Other blocks are empty, as the kernel's dump of an unknown block is.
  EXPECT_TRUE(fake_.DumpBlock(kBlock + 1)->empty());
}

TEST_F(FakeTcBackendTest, DevicesNamedByFiltersMustExist) {
  FlowerFilter indev = Filter(0, 1, 1);
  indev.keys.indev = "nope";
  FlowerFilter mirred = Filter(0, 1, 2);
  mirred.actions = {
      netlink::TcAction{netlink::MirredAction{netlink::MirredAction::Mode::kRedirect, 99}, {}}};
  FlowerFilter good = Filter(0, 1, 3);
  good.keys.indev = "rep_b";
  good.actions = {
      netlink::TcAction{netlink::MirredAction{netlink::MirredAction::Mode::kRedirect, 3}, {}}};
  std::vector<absl::Status> r = fake_.Apply({
      Clsact(TcOp::Kind::kCreateClsact, 3),
      FilterOp(TcOp::Kind::kCreateFilter, indev),
      FilterOp(TcOp::Kind::kCreateFilter, mirred),
      FilterOp(TcOp::Kind::kCreateFilter, good),
  });
  EXPECT_THAT(Errnos(r), ElementsAre(0, EINVAL, ENODEV, 0));
}

TEST_F(FakeTcBackendTest, InvalidFiltersGetTheEncodersErrorAndAreNotWrites) {
  FlowerFilter bad = Filter(0, 1, 1);
  bad.keys.eth_type.reset();  // ip_proto without its prerequisite
  fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 3)});
  fake_.ResetWrites();
  std::vector<absl::Status> r = fake_.Apply({FilterOp(TcOp::Kind::kCreateFilter, bad)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r[0].message()), ::testing::HasSubstr("ip_proto"));
  EXPECT_EQ(fake_.writes().Total(), 0u);
}

TEST_F(FakeTcBackendTest, SkipSwRefusedUnlessHardwareAccepts) {
  FlowerFilter hw = Filter(0, 1, 1 | (1u << 30));
  hw.skip_hw = false;
  hw.skip_sw = true;
  std::vector<absl::Status> r =
      fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 3), FilterOp(TcOp::Kind::kCreateFilter, hw)});
  EXPECT_THAT(Errnos(r), ElementsAre(0, EOPNOTSUPP));
  EXPECT_EQ(r[1].code(), absl::StatusCode::kUnimplemented);

  fake_.SetHardware([](const FlowerFilter& f) {
    return f.keys.ip_proto == 6 ? absl::OkStatus()
                                : netlink::ErrnoStatus(EOPNOTSUPP, "mlx5_core: unsupported key");
  });
  FlowerFilter udp = hw;
  udp.handle = 2 | (1u << 30);
  udp.keys.ip_proto = 17;
  r = fake_.Apply(
      {FilterOp(TcOp::Kind::kCreateFilter, hw), FilterOp(TcOp::Kind::kCreateFilter, udp)});
  EXPECT_THAT(Errnos(r), ElementsAre(0, EOPNOTSUPP));
  EXPECT_EQ(ExtackFromStatus(r[1]), "mlx5_core: unsupported key");
  absl::StatusOr<std::vector<FlowerFilter>> dump = fake_.DumpBlock(kBlock);
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 1u);
  EXPECT_TRUE((*dump)[0].status.in_hw);
  EXPECT_EQ((*dump)[0].status.in_hw_count, 1u);
}

TEST_F(FakeTcBackendTest, CountersShowInDumps) {
  fake_.Apply(
      {Clsact(TcOp::Kind::kCreateClsact, 3), FilterOp(TcOp::Kind::kCreateFilter, Filter(2, 3, 4))});
  const FakeTcBackend::FilterKey key = FakeTcBackend::KeyOf(Filter(2, 3, 4));
  ASSERT_TRUE(fake_.SetCounters(key, 10, 1500).ok());
  EXPECT_FALSE(fake_.SetCounters(FakeTcBackend::KeyOf(Filter(2, 3, 5)), 1, 1).ok());
  absl::StatusOr<std::vector<FlowerFilter>> dump = fake_.DumpBlock(kBlock);
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 1u);
  EXPECT_EQ((*dump)[0].status.packets, 10u);
  EXPECT_EQ((*dump)[0].status.bytes, 1500u);
  EXPECT_EQ((*dump)[0].actions[0].stats.packets, 10u);
}

TEST_F(FakeTcBackendTest, DriftIsVisibleAndNotCounted) {
  FlowerFilter udp = Filter(0, 1, 2);
  udp.keys.ip_proto = 17;
  std::vector<absl::Status> r =
      fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 3), Clsact(TcOp::Kind::kCreateClsact, 4),
                   FilterOp(TcOp::Kind::kCreateFilter, Filter(0, 1, 1)),
                   FilterOp(TcOp::Kind::kCreateFilter, udp)});
  EXPECT_THAT(Errnos(r), ElementsAre(0, 0, 0, 0));
  fake_.ResetWrites();
  FlowerFilter changed = udp;
  changed.actions[0].op = netlink::GactAction{netlink::GactAction::Verdict::kOk};
  ASSERT_TRUE(fake_.ModifyFilterBehind(changed).ok());
  ASSERT_TRUE(fake_.DeleteFilterBehind(FakeTcBackend::KeyOf(Filter(0, 1, 1))).ok());
  EXPECT_FALSE(fake_.DeleteFilterBehind(FakeTcBackend::KeyOf(Filter(0, 1, 1))).ok());
  EXPECT_EQ(Stripped(*fake_.DumpBlock(kBlock)), std::vector<FlowerFilter>{changed});

  // The block outlives one of its two devices, not both.
  ASSERT_TRUE(fake_.DeleteClsactBehind(3).ok());
  EXPECT_EQ(fake_.DumpBlock(kBlock)->size(), 1u);
  fake_.RemoveDevice(4);  // a representor going away takes its clsact along
  EXPECT_TRUE(fake_.DumpClsact()->empty());
  EXPECT_TRUE(fake_.DumpBlock(kBlock)->empty());
  EXPECT_EQ(fake_.writes().Total(), 0u);
  EXPECT_EQ(fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 4)})[0].code(),
            absl::StatusCode::kNotFound);  // ENODEV maps to NotFound
}

TEST_F(FakeTcBackendTest, BareVlanEthTypeIsNotKept) {
  FlowerFilter tagged = Filter(0, 4, 1, 0x8100);
  tagged.keys = {};
  tagged.keys.eth_type = 0x8100;
  fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 3), FilterOp(TcOp::Kind::kCreateFilter, tagged)});
  absl::StatusOr<std::vector<FlowerFilter>> dump = fake_.DumpBlock(kBlock);
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 1u);
  EXPECT_EQ((*dump)[0].keys, netlink::FlowerKeys{});
  EXPECT_EQ((*dump)[0].protocol, 0x8100);
}

TEST_F(FakeTcBackendTest, SameMatchUnderAnotherHandleIsEexist) {
  FlowerFilter second = Filter(0, 1, 2);
  FlowerFilter third = Filter(0, 1, 3);
  third.keys.ip_proto = 17;
  std::vector<absl::Status> r = fake_.Apply(
      {Clsact(TcOp::Kind::kCreateClsact, 3), FilterOp(TcOp::Kind::kCreateFilter, Filter(0, 1, 1)),
       FilterOp(TcOp::Kind::kCreateFilter, second), FilterOp(TcOp::Kind::kCreateFilter, third)});
  EXPECT_THAT(Errnos(r), ElementsAre(0, 0, EEXIST, 0));
  // Replacing a filter with its own match is fine.
  r = fake_.Apply({FilterOp(TcOp::Kind::kReplaceFilter, third)});
  EXPECT_THAT(Errnos(r), ElementsAre(0));
}

TEST_F(FakeTcBackendTest, WritesByKind) {
  fake_.Apply({Clsact(TcOp::Kind::kCreateClsact, 3),
               FilterOp(TcOp::Kind::kCreateFilter, Filter(0, 1, 1)),
               FilterOp(TcOp::Kind::kReplaceFilter, Filter(0, 1, 1)),
               FilterOp(TcOp::Kind::kDeleteFilter, Filter(0, 1, 1)),
               FilterOp(TcOp::Kind::kDeleteFilter, Filter(0, 1, 1))});
  const TcWriteCounts& w = fake_.writes();
  EXPECT_EQ(w.Of(TcOp::Kind::kCreateClsact), 1u);
  EXPECT_EQ(w.Of(TcOp::Kind::kCreateFilter), 1u);
  EXPECT_EQ(w.Of(TcOp::Kind::kReplaceFilter), 1u);
  EXPECT_EQ(w.Of(TcOp::Kind::kDeleteFilter), 2u);
  EXPECT_EQ(w.Total(), 5u);
  EXPECT_EQ(fake_.apply_calls(), 1);
}

}  // namespace
}  // namespace vfguard::agent
