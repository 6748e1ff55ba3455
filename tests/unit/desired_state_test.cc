// DesiredState: checkpoint first, the policy file only when its content
// changed, every change validated whole and durable before it is current.
#include "agent/desired_state.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/checkpoint.h"
#include "common/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kOnePort[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"}],
  "ports": [{"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
             "fixed_ips": ["10.0.0.10"], "vf_index": 1}]
})json";

constexpr char kTwoPorts[] = R"json({
  "networks": [{"id": "flat", "segmentation": "flat"}],
  "ports": [{"id": "a", "network_id": "flat", "mac_address": "02:00:00:00:00:0a",
             "fixed_ips": ["10.0.0.10"], "vf_index": 1},
            {"id": "b", "network_id": "flat", "mac_address": "02:00:00:00:00:0b",
             "fixed_ips": ["10.0.0.11"], "vf_index": 2}]
})json";

class DesiredStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/desired_state_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.checkpoint_path = dir_ + "/state.pb";
    options_.policy_file = dir_ + "/policy.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WritePolicy(std::string_view text) {
    ASSERT_TRUE(common::WriteFileAtomically(options_.policy_file, text).ok());
  }
  absl::StatusOr<std::unique_ptr<DesiredState>> Open() { return DesiredState::Open(options_); }

  std::string dir_;
  DesiredState::Options options_;
};

TEST_F(DesiredStateTest, FirstStartWithoutAnythingIsEmpty) {
  options_.policy_file.clear();
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->snapshot()->ports.empty());
  EXPECT_FALSE(std::filesystem::exists(options_.checkpoint_path));
}

TEST_F(DesiredStateTest, ThePolicyFileSeedsAndIsCheckpointedWithGenerationOne) {
  WritePolicy(kOnePort);
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->snapshot()->ports.size(), 1u);
  EXPECT_EQ((*s)->policy().ports(0).generation(), 1u);
  EXPECT_EQ((*s)->slots().port_slot.at("a"), 1u);
  auto ckpt = LoadCheckpoint(options_.checkpoint_path);
  ASSERT_TRUE(ckpt.ok() && ckpt->has_value());
  EXPECT_EQ((*ckpt)->policy_file_digest, Fnv1a64(kOnePort));
}

TEST_F(DesiredStateTest, AnApiChangeSurvivesARestartWhileTheFileIsUnchanged) {
  WritePolicy(kOnePort);
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Mutate([](api::v1::Policy& p) {
                      p.mutable_ports(0)->add_vips("10.0.0.100");
                      return absl::OkStatus();
                    })
                    .ok());
  }
  auto restarted = Open();
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  ASSERT_EQ((*restarted)->snapshot()->ports.at("a").vips.size(), 1u);
  // Editing the file replaces the state with the file's.
  WritePolicy(kTwoPorts);
  auto changed = (*restarted)->ReloadPolicyFile();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ((*restarted)->snapshot()->ports.size(), 2u);
  EXPECT_TRUE((*restarted)->snapshot()->ports.at("a").vips.empty());
  // The same content again is no change.
  changed = (*restarted)->ReloadPolicyFile();
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

TEST_F(DesiredStateTest, GenerationsCarryOverForUnchangedObjects) {
  WritePolicy(kOnePort);
  auto s = Open();
  ASSERT_TRUE(s.ok());
  WritePolicy(kTwoPorts);
  ASSERT_TRUE((*s)->ReloadPolicyFile().ok());
  std::map<std::string, uint64_t> gen;
  for (const api::v1::Policy policy = (*s)->policy(); const auto& p : policy.ports()) {
    gen[p.id()] = p.generation();
  }
  EXPECT_EQ(gen["a"], 1u);  // unchanged
  EXPECT_EQ(gen["b"], 1u);  // new
  const std::string edited =
      std::string(kTwoPorts).replace(std::string(kTwoPorts).find("10.0.0.11"), 9, "10.0.0.12");
  WritePolicy(edited);
  ASSERT_TRUE((*s)->ReloadPolicyFile().ok());
  for (const api::v1::Policy policy = (*s)->policy(); const auto& p : policy.ports()) {
    gen[p.id()] = p.generation();
  }
  EXPECT_EQ(gen["a"], 1u);
  EXPECT_EQ(gen["b"], 2u);
}

TEST_F(DesiredStateTest, AnInvalidFileChangesNothingAndNamesFileAndField) {
  WritePolicy(kOnePort);
  auto s = Open();
  ASSERT_TRUE(s.ok());
  const std::string before = *common::ReadFile(options_.checkpoint_path);
  std::string bad = kTwoPorts;
  bad.replace(bad.find("10.0.0.11"), 9, "10.0.0.300");
  WritePolicy(bad);
  auto changed = (*s)->ReloadPolicyFile();
  ASSERT_FALSE(changed.ok());
  EXPECT_THAT(std::string(changed.status().message()), HasSubstr(options_.policy_file));
  EXPECT_THAT(std::string(changed.status().message()), HasSubstr("fixed_ips[0]"));
  EXPECT_EQ((*s)->snapshot()->ports.size(), 1u);
  EXPECT_EQ(*common::ReadFile(options_.checkpoint_path), before);
}

TEST_F(DesiredStateTest, ARejectedMutationChangesNothing) {
  WritePolicy(kOnePort);
  auto s = Open();
  ASSERT_TRUE(s.ok());
  const std::string before = *common::ReadFile(options_.checkpoint_path);
  absl::Status st = (*s)->Mutate([](api::v1::Policy& p) {
    p.mutable_ports(0)->set_network_id("nowhere");
    return absl::OkStatus();
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ((*s)->snapshot()->ports.at("a").network_id, "flat");
  EXPECT_EQ(*common::ReadFile(options_.checkpoint_path), before);
  st = (*s)->Mutate([](api::v1::Policy&) { return absl::AbortedError("stale generation"); });
  EXPECT_TRUE(absl::IsAborted(st));
  EXPECT_EQ(*common::ReadFile(options_.checkpoint_path), before);
}

TEST_F(DesiredStateTest, ACorruptCheckpointStopsTheStart) {
  WritePolicy(kOnePort);
  ASSERT_TRUE(Open().ok());
  std::string bytes = *common::ReadFile(options_.checkpoint_path);
  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_TRUE(common::WriteFileAtomically(options_.checkpoint_path, bytes).ok());
  auto s = Open();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("corrupt"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(options_.checkpoint_path));
}

TEST_F(DesiredStateTest, SlotsAndZonesAreStableAcrossChangesAndRestarts) {
  WritePolicy(kTwoPorts);
  uint16_t zone_b = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    zone_b = (*s)->slots().port_zone.at("b");
    // Remove a: b keeps its zone.
    ASSERT_TRUE((*s)->Mutate([](api::v1::Policy& p) {
                      p.mutable_ports()->DeleteSubrange(0, 1);
                      return absl::OkStatus();
                    })
                    .ok());
    EXPECT_EQ((*s)->slots().port_zone.at("b"), zone_b);
  }
  auto restarted = Open();
  ASSERT_TRUE(restarted.ok());
  EXPECT_EQ((*restarted)->slots().port_zone.at("b"), zone_b);
  EXPECT_FALSE((*restarted)->slots().port_zone.contains("a"));
}

}  // namespace
}  // namespace vfguard::agent
