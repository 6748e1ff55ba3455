// The installed record (agent/installed_record.h) and the restart that
// trusts it (Reconciler::SetRecord): the codec, the cheap restart (two small
// dumps, no write, no translation), every way the record can disagree with
// the kernel or the process (then a full audit repairs), drift it cannot
// see (repaired by the audit the restart leaves due), and the record never
// describing a kernel that is being written.
#include "agent/installed_record.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/policy_codec.h"
#include "agent/reconciler.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_set_match_hook.h"
#include "tests/fakes/fake_tc_backend.h"
#include "tests/unit/snapshot_from_json.h"

namespace vfguard::agent {
namespace {

constexpr uint32_t kBlock = 77;

constexpr char kPolicy[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"}],
  "security_groups": [
    {"id": "web", "rules": [
      {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
      {"direction": "egress"}]}],
  "ports": [
    {"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
     "fixed_ips": ["10.0.0.10"], "security_group_ids": ["web"], "vf_index": 1},
    {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
     "fixed_ips": ["10.0.0.11"], "security_group_ids": ["web"], "vf_index": 2}]
})json";

policy::Snapshot Load(std::string_view json) { return test_support::SnapshotFromJson(json); }

TEST(InstalledRecordCodec, RoundTripsAndRefusesDamage) {
  InstalledRecord r;
  r.identity = 7;
  r.block = kBlock;
  r.inputs = 0x1234;
  r.clsact = {{1, kBlock}, {11, 0}};
  InstalledEntry e{0x0800, 42, 5, 6};
  r.filters.insert(*InstalledFilter::Of(FilterKey{netlink::TcBlock{kBlock}, 3, 4, 5}, e));
  r.filters.insert(*InstalledFilter::Of(
      FilterKey{netlink::TcDevice{11, netlink::kClsactEgressParent}, 0, 2, 1}, e));
  EXPECT_EQ(sizeof(TranslatedFilter), 8u);
  r.translated.push_back(TranslatedFilter::Of(6, false));
  r.translated.push_back(TranslatedFilter{0, 0, 1});  // hardware, not installed as flower
  r.translated.push_back(TranslatedFilter::Of(~uint64_t{0}, true));
  const std::string bytes = EncodeInstalledRecord(r);
  absl::StatusOr<InstalledRecord> back = DecodeInstalledRecord(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(DecodeInstalledRecord(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(DecodeInstalledRecord(bytes + "x").ok());
  std::string other = bytes;
  other[0] ^= 1;  // another format version
  EXPECT_FALSE(DecodeInstalledRecord(other).ok());
  EXPECT_FALSE(DecodeInstalledRecord("").ok());
  // The filters follow the clsacts' count and entries (two of 8 bytes) and
  // their own count, 35 bytes each: swapped or repeated, they are refused
  // (the set is filled in key order, InstalledSet::Restore).
  const size_t first = 8 + 8 + 4 + 8 + 8 + 2 * 8 + 8;
  constexpr size_t kFilterBytes = 35;
  const std::string a = bytes.substr(first, kFilterBytes);
  const std::string b = bytes.substr(first + kFilterBytes, kFilterBytes);
  std::string swapped = bytes;
  swapped.replace(first, 2 * kFilterBytes, b + a);
  absl::StatusOr<InstalledRecord> out_of_order = DecodeInstalledRecord(swapped);
  ASSERT_FALSE(out_of_order.ok());
  EXPECT_NE(out_of_order.status().message().find("key order"), std::string::npos)
      << out_of_order.status();
  std::string repeated = bytes;
  repeated.replace(first, 2 * kFilterBytes, a + a);
  EXPECT_FALSE(DecodeInstalledRecord(repeated).ok());
}

TEST(TranslatedFilter, KeepsTheContentHashLessItsTopTwoBits) {
  const uint64_t content = 0xc123456789abcdefULL;  // top bits set
  const TranslatedFilter t = TranslatedFilter::Of(content, true);
  EXPECT_TRUE(t.valid);
  EXPECT_TRUE(t.hardware);
  EXPECT_TRUE(t.Holds(content));
  EXPECT_TRUE(t.Holds(content & TranslatedFilter::kContentMask)) << "compared on 62 bits";
  EXPECT_FALSE(t.Holds(content ^ 1));
  EXPECT_FALSE(t.Holds(content ^ (uint64_t{1} << 61)));
  EXPECT_FALSE(TranslatedFilter{}.Holds(0)) << "not translated: holds nothing";
  const TranslatedFilter s = TranslatedFilter::Of(content, false);
  EXPECT_FALSE(s.hardware);
  EXPECT_NE(s, t);
  EXPECT_EQ(TranslatedFilter::FromBits(t.Bits()), t);
  EXPECT_EQ(TranslatedFilter::FromBits(s.Bits()), s);
}

TEST(InstalledRecordCodec, RefusesTheFormerLayout) {
  // The former format (version 4: 17-byte translations with shape and
  // jump) must not be read as this one.
  InstalledRecord r;
  r.translated.push_back(TranslatedFilter::Of(6, false));
  std::string bytes = EncodeInstalledRecord(r);
  const uint64_t v4 = 0x7666675245430004ULL;
  bytes.replace(0, 8, reinterpret_cast<const char*>(&v4), 8);
  absl::StatusOr<InstalledRecord> old = DecodeInstalledRecord(bytes);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("format version"), std::string::npos) << old.status();
}

class InstalledRecordTest : public ::testing::Test {
 protected:
  InstalledRecordTest() : log_(sink_, common::LogLevel::kWarn) {
    fake_.AddDevice(1, "uplink0");
    fake_.AddDevice(11, "rep1");
    fake_.AddDevice(12, "rep2");
    snapshot_ = Load(kPolicy);
    slots_ = *policy::AssignSlots(snapshot_, {});
    view_.uplink = offload::Netdev{1, "uplink0"};
    view_.port_representors = {{"a", {11, "rep1"}}, {"b", {12, "rep2"}}};
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("installed_record_test.", getpid(), ".",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "installed.rec").string();
  }
  ~InstalledRecordTest() override { std::filesystem::remove_all(dir_); }

  // A process of the agent: a fresh Reconciler with the record.
  std::unique_ptr<Reconciler> Process(const std::string& identity = "build-1") {
    auto r = std::make_unique<Reconciler>(fake_, log_, kBlock);
    r->SetRecord(path_, identity);
    return r;
  }
  ReconcileReport Run(Reconciler& r) {
    fake_.ResetWrites();
    fake_.ResetCalls();
    return r.Run(snapshot_, slots_, view_, offers_);
  }
  // Installs everything with a first process, which leaves its record.
  std::map<FakeTcBackend::FilterKey, netlink::FlowerFilter> Install() {
    auto first = Process();
    ReconcileReport cold = Run(*first);
    EXPECT_TRUE(cold.status.ok()) << cold.status;
    EXPECT_GT(cold.writes, 20);
    EXPECT_TRUE(std::filesystem::exists(path_)) << "the record is written after the pass";
    return fake_.filters();
  }
  // A filter of the block outside chain 0, and one in chain 0.
  netlink::FlowerFilter BlockFilter(bool chain0) const {
    for (const auto& [key, f] : fake_.filters()) {
      if (std::holds_alternative<netlink::TcBlock>(f.owner) && (f.chain == 0) == chain0) return f;
    }
    ADD_FAILURE() << "no such filter";
    return {};
  }

  std::ostringstream sink_;
  common::Logger log_;
  FakeTcBackend fake_;
  policy::Snapshot snapshot_;
  policy::SlotAssignment slots_;
  EswitchView view_;
  OfferBook offers_;
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(InstalledRecordTest, ARestartTrustsAnAgreeingRecordAndLeavesTheAuditDue) {
  const auto installed = Install();
  auto second = Process();
  ReconcileReport restart = Run(*second);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_TRUE(restart.trusted_record);
  EXPECT_FALSE(restart.audited);
  EXPECT_EQ(restart.dumps, 2) << "the clsact qdiscs and chain 0 of the block, nothing else";
  EXPECT_EQ(fake_.dump_calls(), 2);
  EXPECT_EQ(restart.writes, 0);
  EXPECT_EQ(fake_.apply_calls(), 0);
  EXPECT_EQ(restart.translated, 0) << "same inputs: the record's translations are reused";
  EXPECT_EQ(fake_.filters(), installed);
  EXPECT_TRUE(second->audit_due()) << "the record was only checked in part";
  EXPECT_FALSE(std::filesystem::exists(path_)) << "no record while the audit is due";
  std::vector<bool> settled = second->Settled();
  EXPECT_EQ(std::count(settled.begin(), settled.end(), true), static_cast<long>(restart.filters));
  // The audit that follows finds nothing to do and writes the record again.
  ReconcileReport audit = Run(*second);
  EXPECT_TRUE(audit.audited);
  EXPECT_EQ(audit.writes, 0);
  EXPECT_TRUE(std::filesystem::exists(path_));
  // Then passes cost nothing again.
  ReconcileReport idle = Run(*second);
  EXPECT_EQ(idle.dumps + idle.writes + idle.translated, 0);
}

TEST_F(InstalledRecordTest, ARecordThatDisagreesInChainZeroIsNotTrustedAndTheAuditRepairs) {
  const auto installed = Install();
  netlink::FlowerFilter changed = BlockFilter(/*chain0=*/true);
  changed.keys.eth_src = netlink::Masked<netlink::MacAddr>{{2, 0, 0, 0, 0, 0x99}, {}};
  ASSERT_TRUE(fake_.ModifyFilterBehind(changed).ok());
  auto second = Process();
  ReconcileReport restart = Run(*second);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_FALSE(restart.trusted_record);
  EXPECT_TRUE(restart.audited);
  EXPECT_GE(restart.writes, 1) << "the changed dispatch filter, put back";
  EXPECT_LE(restart.writes, 2) << "(deleted and created again if its shape changed)";
  EXPECT_EQ(fake_.filters(), installed);
  EXPECT_NE(sink_.str().find("installed_record_disagrees"), std::string::npos);
}

TEST_F(InstalledRecordTest, AClsactRemovedWhileDownMakesTheRestartAudit) {
  const auto installed = Install();
  ASSERT_TRUE(fake_.DeleteClsactBehind(12).ok());  // rep2's hooks and binding gone
  auto second = Process();
  ReconcileReport restart = Run(*second);
  EXPECT_FALSE(restart.trusted_record);
  EXPECT_TRUE(restart.audited);
  EXPECT_GT(restart.writes, 0);
  EXPECT_EQ(fake_.filters(), installed);
}

TEST_F(InstalledRecordTest, DriftOutsideChainZeroIsRepairedByTheAuditTheRestartLeavesDue) {
  const auto installed = Install();
  const netlink::FlowerFilter gone = BlockFilter(/*chain0=*/false);
  ASSERT_TRUE(fake_.DeleteFilterBehind(FakeTcBackend::KeyOf(gone)).ok());
  auto second = Process();
  ReconcileReport restart = Run(*second);
  EXPECT_TRUE(restart.trusted_record) << "the cheap check cannot see this";
  EXPECT_EQ(restart.writes, 0);
  ASSERT_TRUE(second->audit_due());
  ReconcileReport audit = Run(*second);
  EXPECT_TRUE(audit.audited);
  EXPECT_EQ(audit.writes, 1);
  EXPECT_EQ(fake_.filters(), installed);
}

// Only a pass without errors vouches that installed == wanted: a record saved
// after an error is still trusted (the kernel check passes), but its
// translations are not taken, so the restart translates and plans in full.
TEST_F(InstalledRecordTest, ARecordSavedAfterAnErrorDoesNotSkipThePlan) {
  FakeSetMatchHook hook;
  hook.fail = absl::UnavailableError("set-match maps unavailable");
  auto first = Process();
  first->SetSetMatch(&hook);
  ReconcileReport cold = Run(*first);
  ASSERT_GT(cold.errors, 0);
  ASSERT_GT(cold.writes, 20) << "the flower filters were written";
  ASSERT_TRUE(std::filesystem::exists(path_)) << "no audit is due: the record is saved";
  const auto installed = fake_.filters();
  hook.fail = absl::OkStatus();
  auto second = Process();
  second->SetSetMatch(&hook);
  ReconcileReport restart = Run(*second);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_TRUE(restart.trusted_record);
  EXPECT_EQ(restart.translated, restart.filters) << "no shortcut after an error";
  EXPECT_EQ(restart.writes, 0);
  EXPECT_EQ(fake_.filters(), installed);
  // The same without the error: the record's translations and no plan.
  auto clean = Process();
  clean->SetSetMatch(&hook);
  ASSERT_EQ(Run(*clean).errors, 0);
  ASSERT_TRUE(std::filesystem::exists(path_));
  auto third = Process();
  third->SetSetMatch(&hook);
  ReconcileReport settled = Run(*third);
  EXPECT_TRUE(settled.trusted_record);
  EXPECT_EQ(settled.translated, 0);
  EXPECT_EQ(settled.filters, restart.filters);
}

TEST_F(InstalledRecordTest, AnotherWriterOrBlockIsNotTrusted) {
  Install();
  auto upgraded = Process("build-2");
  ReconcileReport restart = Run(*upgraded);
  EXPECT_FALSE(restart.trusted_record);
  EXPECT_TRUE(restart.audited);
  EXPECT_EQ(restart.writes, 0);
  // Its audit wrote a record of its own, which the same build trusts.
  auto again = Process("build-2");
  EXPECT_TRUE(Run(*again).trusted_record);
  // A damaged record is no record.
  auto third = Process("build-2");
  Run(*third);  // audits (the record was dropped by the trusted pass)...
  ASSERT_TRUE(std::filesystem::exists(path_));
  std::filesystem::resize_file(path_, 10);
  auto fourth = Process("build-2");
  ReconcileReport damaged = Run(*fourth);
  EXPECT_FALSE(damaged.trusted_record);
  EXPECT_TRUE(damaged.audited);
  EXPECT_NE(sink_.str().find("installed_record_unusable"), std::string::npos);
}

TEST_F(InstalledRecordTest, ARecordOfTheFormerFormatIsRefusedAndTheRestartAudits) {
  const auto installed = Install();
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 8u);
  const uint64_t v4 = 0x7666675245430004ULL;  // 16-byte translations
  bytes.replace(0, 8, reinterpret_cast<const char*>(&v4), 8);
  {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto upgraded = Process();
  ReconcileReport restart = Run(*upgraded);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_FALSE(restart.trusted_record);
  EXPECT_TRUE(restart.audited);
  EXPECT_EQ(restart.writes, 0);
  EXPECT_EQ(fake_.filters(), installed);
  EXPECT_NE(sink_.str().find("installed_record_unusable"), std::string::npos);
  EXPECT_NE(sink_.str().find("format version"), std::string::npos);
  // Its audit wrote a record of this format, which the next restart trusts.
  auto again = Process();
  EXPECT_TRUE(Run(*again).trusted_record);
}

TEST_F(InstalledRecordTest, ChangedInputsAreTranslatedAndWrittenAfterATrustedRestart) {
  const auto installed = Install();
  // While the agent was down, port b left the desired state.
  snapshot_.ports.erase("b");
  view_.port_representors.erase("b");
  auto second = Process();
  ReconcileReport restart = Run(*second);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_TRUE(restart.trusted_record);
  EXPECT_GT(restart.translated, 0) << "other inputs: the record's translations do not apply";
  EXPECT_GT(restart.writes, 0);
  // The result equals a cold install of the smaller state.
  const auto after = fake_.filters();
  FakeTcBackend clean;
  clean.AddDevice(1, "uplink0");
  clean.AddDevice(11, "rep1");
  clean.AddDevice(12, "rep2");
  Reconciler cold(clean, log_, kBlock);
  OfferBook book;
  ASSERT_TRUE(cold.Run(snapshot_, slots_, view_, book).status.ok());
  EXPECT_EQ(after, clean.filters());
}

// A restart that takes the record's translations but still has to plan (a
// clsact bound to the block is no longer wanted): a recorded entry outside
// chain 0 whose content is not its filter's translation (which the cheap
// check does not look at) is translated again and rewritten, the others are
// neither translated nor written.
TEST_F(InstalledRecordTest, ARecordedEntryThatIsNotItsTranslationIsRewritten) {
  const auto installed = Install();
  fake_.AddDevice(99, "gone-rep");
  TcOp stray;
  stray.kind = TcOp::Kind::kCreateClsact;
  stray.qdisc = netlink::ClsactQdisc{99, kBlock};
  ASSERT_TRUE(fake_.Apply({stray}).at(0).ok());
  absl::StatusOr<InstalledRecord> record = LoadInstalledRecord(path_);
  ASSERT_TRUE(record.ok()) << record.status();
  record->clsact[99] = kBlock;
  const FilterKey lying = KeyOf(BlockFilter(/*chain0=*/false));
  auto it = record->filters.find(lying);
  ASSERT_NE(it, record->filters.end());
  InstalledEntry entry = it->entry();
  entry.content ^= 1;
  record->filters.insert_or_assign(*InstalledFilter::Of(lying, entry));
  ASSERT_TRUE(SaveInstalledRecord(path_, *record).ok());

  auto second = Process();
  ReconcileReport restart = Run(*second);
  ASSERT_TRUE(restart.status.ok()) << restart.status;
  EXPECT_TRUE(restart.trusted_record);
  EXPECT_EQ(restart.translated, 1) << "only the entry that is not its translation";
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kReplaceFilter), 1u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kCreateFilter), 0u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kDeleteFilter), 0u);
  EXPECT_EQ(fake_.writes().Of(TcOp::Kind::kDeleteClsact), 1u);
  EXPECT_EQ(fake_.filters(), installed);
  // Settled() agrees: every wanted filter is held as translated.
  const std::vector<bool> settled = second->Settled();
  EXPECT_EQ(std::count(settled.begin(), settled.end(), true), restart.filters);
}

TEST_F(InstalledRecordTest, NoRecordDescribesAKernelBeingWritten) {
  Install();
  // A change: the record must be gone before the first write reaches the
  // kernel, and back (describing the result) after the pass.
  snapshot_.ports.erase("b");
  auto same = Process();
  ASSERT_TRUE(Run(*same).trusted_record);
  ReconcileReport audit = Run(*same);  // the due audit writes the record
  ASSERT_TRUE(audit.audited);
  ASSERT_TRUE(std::filesystem::exists(path_));
  int ops = 0, with_record = 0;
  fake_.SetObserver([&](const TcOp&, const absl::Status&) {
    ++ops;
    with_record += std::filesystem::exists(path_) ? 1 : 0;
  });
  snapshot_ = Load(kPolicy);
  ReconcileReport change = Run(*same);
  EXPECT_GT(change.writes, 0);
  EXPECT_EQ(ops, change.writes);
  EXPECT_EQ(with_record, 0);
  EXPECT_TRUE(std::filesystem::exists(path_));
  fake_.SetObserver(nullptr);
  // And a restart now trusts the record of the change.
  auto next = Process();
  ReconcileReport restart = Run(*next);
  EXPECT_TRUE(restart.trusted_record);
  EXPECT_EQ(restart.writes, 0);
  EXPECT_EQ(restart.translated, 0);
}

}  // namespace
}  // namespace vfguard::agent
