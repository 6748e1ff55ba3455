#include "agent/checkpoint.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/policy_codec.h"
#include "api/checkpoint.pb.h"
#include "common/file_io.h"

namespace vfguard::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kPolicy[] = R"json({
  "networks": [{"id": "n", "segmentation": "vlan", "vlan_id": 10, "generation": "3"}],
  "security_groups": [{"id": "g", "rules": [{"direction": "ingress", "protocol": "tcp",
                                             "port_range_min": 22, "port_range_max": 22}]}],
  "ports": [{"id": "a", "network_id": "n", "mac_address": "02:00:00:00:00:01",
             "fixed_ips": ["10.0.0.1"], "security_group_ids": ["g"], "vf_index": 1}]
})json";

Checkpoint Sample() {
  Checkpoint c;
  c.desired = PolicyFromJson(kPolicy).value();
  c.slots.port_slot = {{"a", 1}};
  c.slots.port_zone = {{"a", 4097}};
  c.slots.network_slot = {{"n", 1}};
  c.hardware_rejections = {{"chain 3 prio 2 handle 1", 95, "mlx5_core: no ARP keys"}};
  return c;
}

void ExpectSame(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a.desired, b.desired))
      << a.desired.ShortDebugString() << "\nvs\n"
      << b.desired.ShortDebugString();
  EXPECT_EQ(a.slots, b.slots);
  EXPECT_EQ(a.hardware_rejections, b.hardware_rejections);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Header fields rewritten with a correct checksum, to reach the checks that
// come after it.
std::string Reseal(std::string bytes) {
  uint64_t sum = Fnv1a64(std::string_view(bytes).substr(kCheckpointHeaderSize),
                         Fnv1a64(std::string_view(bytes).substr(0, 20)));
  for (int i = 0; i < 8; ++i) bytes[20 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  return bytes;
}

std::string WithPayload(std::string header, const std::string& payload) {
  header.resize(kCheckpointHeaderSize);
  uint64_t len = payload.size();
  for (int i = 0; i < 8; ++i) header[12 + i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return Reseal(header + payload);
}

class CheckpointFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/checkpoint_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.pb";
  }
  void TearDown() override {
    chmod(dir_.c_str(), 0700);
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::string path_;
};

TEST(CheckpointCodec, RoundTrip) {
  Checkpoint c = Sample();
  absl::StatusOr<Checkpoint> back = DecodeCheckpoint(EncodeCheckpoint(c));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, c);
  EXPECT_EQ(back->desired.networks(0).generation(), 3u);  // the message is kept whole
}

TEST(CheckpointCodec, EncodingIsDeterministic) {
  Checkpoint c = Sample();
  c.slots.port_slot = {{"a", 1}, {"b", 2}, {"c", 3}};
  c.slots.port_zone = {{"a", 1}, {"b", 2}, {"c", 3}};
  EXPECT_EQ(EncodeCheckpoint(c), EncodeCheckpoint(c));
}

TEST(CheckpointCodec, EmptyStateRoundTrips) {
  absl::StatusOr<Checkpoint> back = DecodeCheckpoint(EncodeCheckpoint(Checkpoint{}));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, Checkpoint{});
}

TEST(CheckpointCodec, EachCorruptionKindHasItsMessage) {
  std::string good = EncodeCheckpoint(Sample());
  EXPECT_EQ(DecodeCheckpoint("").status().message(),
            "truncated: 0 bytes, shorter than the 28-byte header");
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_EQ(DecodeCheckpoint(bad_magic).status().message(), "not a vfguard checkpoint (bad magic)");
  size_t payload = good.size() - kCheckpointHeaderSize;
  EXPECT_EQ(DecodeCheckpoint(good.substr(0, good.size() - 1)).status().message(),
            "truncated: header says " + std::to_string(payload) + " payload bytes, file has " +
                std::to_string(payload - 1));
  EXPECT_EQ(DecodeCheckpoint(good + "xy").status().message(),
            "2 unexpected bytes after the payload");

  std::string flipped = good;
  flipped.back() ^= 0x01;
  absl::Status s = DecodeCheckpoint(flipped).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(s.message()).rfind("checksum mismatch (expected 0x", 0), 0u) << s;

  std::string v2 = good;
  v2[8] = 2;
  EXPECT_EQ(DecodeCheckpoint(v2).status().code(), absl::StatusCode::kDataLoss);  // unsealed
  s = DecodeCheckpoint(Reseal(v2)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "unsupported format version 2 (this agent reads version 1)");

  s = DecodeCheckpoint(WithPayload(good, "\xff\xff\xff")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "payload does not parse as vfguard.api.v1.Checkpoint");
}

TEST(CheckpointCodec, ExactChecksumMessage) {
  std::string good = EncodeCheckpoint(Checkpoint{});
  // FNV-1a 64 of the 20 header bytes and the payload, computed independently.
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < good.size(); ++i) {
    if (i >= 20 && i < kCheckpointHeaderSize) continue;
    h ^= static_cast<unsigned char>(good[i]);
    h *= 0x100000001b3ull;
  }
  std::string bad = good;
  for (int i = 0; i < 8; ++i) bad[20 + i] = 0;
  char expected[128];
  std::snprintf(expected, sizeof expected,
                "checksum mismatch (expected 0x0000000000000000, got 0x%016llx)",
                static_cast<unsigned long long>(h));
  EXPECT_EQ(DecodeCheckpoint(bad).status().message(), expected);
}

TEST(CheckpointCodec, InvalidContentIsRefused) {
  Checkpoint c = Sample();
  c.slots.port_zone["a"] = 0;
  absl::Status s = DecodeCheckpoint(EncodeCheckpoint(c)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "slots.port_zone[a]: 0 is out of range 1-65535");

  // Values the in-memory type cannot even hold are caught at the proto level.
  api::v1::Checkpoint msg;
  (*msg.mutable_slots()->mutable_port_zone())["a"] = 65536;
  EXPECT_EQ(DecodeCheckpoint(WithPayload(EncodeCheckpoint(Checkpoint{}), msg.SerializeAsString()))
                .status()
                .message(),
            "slots.port_zone[a]: 65536 is out of range 1-65535");
  msg.Clear();
  (*msg.mutable_slots()->mutable_port_slot())["a"] = (1u << 20) + 1;
  EXPECT_EQ(DecodeCheckpoint(WithPayload(EncodeCheckpoint(Checkpoint{}), msg.SerializeAsString()))
                .status()
                .message(),
            "slots.port_slot[a]: 1048577 is out of range 1-1048576");

  c = Sample();
  c.desired.mutable_ports(0)->set_mac_address("01:00:00:00:00:01");
  EXPECT_EQ(DecodeCheckpoint(EncodeCheckpoint(c)).status().message(),
            "desired state is invalid: ports[a].mac_address: 01:00:00:00:00:01 is a "
            "multicast/broadcast MAC");
}

TEST_F(CheckpointFile, SaveThenLoad) {
  ASSERT_TRUE(SaveCheckpoint(path_, Sample()).ok());
  absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  ExpectSame(**loaded, Sample());
  EXPECT_FALSE(fs::exists(common::TempPathFor(path_)));
  EXPECT_EQ(fs::status(path_).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(CheckpointFile, MissingFileIsFirstStart) {
  absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(CheckpointFile, MissingStateDirectoryIsFirstStartToo) {
  // Both read as ENOENT; creating the directory is the caller's job.
  absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(dir_ + "/no/such/state.pb");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(CheckpointFile, TempFileFromACrashIsIgnoredAndRemoved) {
  // Crash before the first checkpoint was renamed into place.
  Spit(common::TempPathFor(path_), "half a checkp");
  absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
  EXPECT_FALSE(fs::exists(common::TempPathFor(path_)));

  // Crash while replacing an existing checkpoint: the old one is what counts.
  ASSERT_TRUE(SaveCheckpoint(path_, Sample()).ok());
  Checkpoint newer = Sample();
  newer.slots.port_zone["a"] = 9;
  std::string partial = EncodeCheckpoint(newer);
  Spit(common::TempPathFor(path_), partial.substr(0, partial.size() / 2));
  loaded = LoadCheckpoint(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->slots.port_zone.at("a"), 4097);
  EXPECT_FALSE(fs::exists(common::TempPathFor(path_)));

  // A leftover temp file does not get in the way of the next save either.
  Spit(common::TempPathFor(path_), std::string(100000, 'x'));
  ASSERT_TRUE(SaveCheckpoint(path_, newer).ok());
  EXPECT_EQ(Slurp(path_), EncodeCheckpoint(newer));
}

TEST_F(CheckpointFile, EveryTruncationIsRefusedWithTheFileName) {
  std::string good = EncodeCheckpoint(Sample());
  ASSERT_GT(good.size(), 100u);
  for (size_t len = 0; len < good.size(); ++len) {
    Spit(path_, good.substr(0, len));
    absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(path_);
    ASSERT_FALSE(loaded.ok()) << "length " << len;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << "length " << len;
    std::string msg(loaded.status().message());
    ASSERT_EQ(msg.rfind("checkpoint " + path_ + " is corrupt: truncated: ", 0), 0u) << msg;
    ASSERT_NE(msg.find("; refusing to start; move it aside to start from the policy file"),
              std::string::npos)
        << msg;
  }
}

TEST_F(CheckpointFile, EveryFlippedByteIsRefused) {
  std::string good = EncodeCheckpoint(Sample());
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      Spit(path_, bad);
      absl::StatusOr<std::optional<Checkpoint>> loaded = LoadCheckpoint(path_);
      ASSERT_FALSE(loaded.ok()) << "byte " << i << " mask " << int{mask};
      ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss)
          << "byte " << i << ": " << loaded.status();
      ASSERT_EQ(
          std::string(loaded.status().message()).rfind("checkpoint " + path_ + " is corrupt: ", 0),
          0u);
    }
  }
}

TEST_F(CheckpointFile, ExactRefusalMessage) {
  std::string good = EncodeCheckpoint(Sample());
  good[8] = 7;
  Spit(path_, Reseal(good));
  EXPECT_EQ(LoadCheckpoint(path_).status().message(),
            "checkpoint " + path_ +
                " has an unsupported format: unsupported format version 7 (this agent reads "
                "version 1); refusing to start; move it aside to start from the policy file");
  Spit(path_, "");
  EXPECT_EQ(LoadCheckpoint(path_).status().message(),
            "checkpoint " + path_ +
                " is corrupt: truncated: 0 bytes, shorter than the 28-byte header; refusing to "
                "start; move it aside to start from the policy file");
}

TEST_F(CheckpointFile, FailedWriteMidwayLeavesOldContent) {
  ASSERT_TRUE(SaveCheckpoint(path_, Sample()).ok());
  std::string old_bytes = Slurp(path_);
  Checkpoint bigger = Sample();
  for (int i = 0; i < 2000; ++i) {
    bigger.hardware_rejections.push_back({"filter " + std::to_string(i), 95, "mlx5_core: nope"});
  }
  ASSERT_GT(EncodeCheckpoint(bigger).size(), 16384u);

  // RLIMIT_FSIZE makes write() fail with EFBIG part-way through, even as root.
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 8192;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  absl::Status s = SaveCheckpoint(path_, bigger);
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot write " + common::TempPathFor(path_) + ": File too large"),
            std::string_view::npos)
      << s;
  EXPECT_EQ(Slurp(path_), old_bytes);
  EXPECT_FALSE(fs::exists(common::TempPathFor(path_)));
}

TEST_F(CheckpointFile, UncreatableTempFileLeavesOldContent) {
  ASSERT_TRUE(SaveCheckpoint(path_, Sample()).ok());
  std::string old_bytes = Slurp(path_);
  ASSERT_EQ(mkdir(common::TempPathFor(path_).c_str(), 0700), 0);  // open(O_WRONLY) fails: EISDIR
  Checkpoint other = Sample();
  other.slots.port_zone["a"] = 5;
  absl::Status s = SaveCheckpoint(path_, other);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "cannot save checkpoint: cannot create " + common::TempPathFor(path_) +
                             ": Is a directory");
  EXPECT_EQ(Slurp(path_), old_bytes);
}

TEST_F(CheckpointFile, ReadOnlyDirectoryLeavesOldContent) {
  ASSERT_TRUE(SaveCheckpoint(path_, Sample()).ok());
  std::string old_bytes = Slurp(path_);
  ASSERT_EQ(chmod(dir_.c_str(), 0500), 0);
  // Root ignores directory permissions, so the save runs in a child that
  // drops to an unprivileged user owning the directory.
  constexpr uid_t kNobody = 65534;
  bool root = geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown(dir_.c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(chown(path_.c_str(), kNobody, kNobody), 0);
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (root && (setgid(kNobody) != 0 || setuid(kNobody) != 0)) _exit(2);
    Checkpoint other = Sample();
    other.slots.port_zone["a"] = 5;
    absl::Status s = SaveCheckpoint(path_, other);
    _exit(absl::IsPermissionDenied(s) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: save did not fail with PermissionDenied; 2: setuid";
  EXPECT_EQ(Slurp(path_), old_bytes);
  EXPECT_FALSE(fs::exists(common::TempPathFor(path_)));
}

}  // namespace
}  // namespace vfguard::agent
