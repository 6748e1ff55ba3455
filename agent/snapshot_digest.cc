// SnapshotDigest: the snapshot's proto built on an arena and hashed as it is
// serialized.
#include "agent/snapshot_digest.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <string_view>

#include "agent/checkpoint.h"
#include "agent/policy_codec.h"
#include "api/vfguard.pb.h"

namespace vfguard::agent {
namespace {

// Fnv1a64 over what is written to it, in order, without keeping the bytes.
class HashingStream : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  explicit HashingStream(uint64_t seed) : hash_(seed) {}
  bool Next(void** data, int* size) override {
    Consume();
    *data = buffer_;
    *size = sizeof buffer_;
    filled_ = sizeof buffer_;
    return true;
  }
  void BackUp(int count) override { filled_ -= static_cast<size_t>(count); }
  int64_t ByteCount() const override { return consumed_ + static_cast<int64_t>(filled_); }
  // The hash of everything written (after the CodedOutputStream is gone).
  uint64_t Finish() {
    Consume();
    return hash_;
  }

 private:
  void Consume() {
    hash_ = Fnv1a64(std::string_view(buffer_, filled_), hash_);
    consumed_ += static_cast<int64_t>(filled_);
    filled_ = 0;
  }
  char buffer_[4096];
  size_t filled_ = 0;
  int64_t consumed_ = 0;
  uint64_t hash_;
};

// Where the digest's proto copy of the snapshot is built: a few blocks of
// this size, not one heap block per field. A pass makes that copy after its
// writes; a walk of the worker's arena at 100 ports attributed ~100 kB of
// its holes to those small blocks (docs/performance.md, "What the daemon's
// worker arena held at 100 ports").
constexpr size_t kDigestArenaBlock = 64 * 1024;

}  // namespace

uint64_t SnapshotDigest(const policy::Snapshot& s, uint64_t seed) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = kDigestArenaBlock;
  options.max_block_size = kDigestArenaBlock;
  google::protobuf::Arena arena(options);
  auto* policy = google::protobuf::Arena::CreateMessage<api::v1::Policy>(&arena);
  FillPolicyFromSnapshot(s, *policy);
  HashingStream stream(seed);
  {
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    policy->SerializeToCodedStream(&coded);
  }
  return stream.Finish();
}

}  // namespace vfguard::agent
