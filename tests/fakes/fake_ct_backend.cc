#include "tests/fakes/fake_ct_backend.h"

#include "absl/strings/str_cat.h"

namespace vfguard::agent {
namespace {

// The smallest tuple, so that lower_bound finds a zone's first entry.
netlink::CtTuple MinTuple() {
  netlink::CtTuple t;
  t.src.family = 0;
  t.dst.family = 0;
  return t;
}

}  // namespace

absl::StatusOr<std::vector<netlink::CtEntry>> FakeCtBackend::DumpZone(uint16_t zone) {
  ++dump_calls_;
  dumped_zones_.push_back(zone);
  if (auto it = dump_failures_.find(zone); it != dump_failures_.end()) return it->second;
  std::vector<netlink::CtEntry> out;
  for (auto it = table_.lower_bound(Key{zone, MinTuple()});
       it != table_.end() && it->first.first == zone; ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::Status FakeCtBackend::Delete(const netlink::CtEntry& entry) {
  ++delete_calls_;
  Key key{entry.zone, entry.orig};
  if (auto it = delete_failures_.find(key); it != delete_failures_.end()) return it->second;
  if (table_.erase(key) == 0) {
    return absl::NotFoundError(absl::StrCat("conntrack: no such entry in zone ", entry.zone));
  }
  return absl::OkStatus();
}

absl::Status FakeCtBackend::Create(const netlink::CtEntry& entry) {
  ++create_calls_;
  auto [it, inserted] = table_.emplace(Key{entry.zone, entry.orig}, entry);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("conntrack: entry exists in zone ", entry.zone));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> FakeCtBackend::CountZone(uint16_t zone) {
  size_t n = 0;
  for (auto it = table_.lower_bound(Key{zone, MinTuple()});
       it != table_.end() && it->first.first == zone; ++it) {
    ++n;
  }
  return n;
}

std::vector<netlink::CtEntry> FakeCtBackend::All() const {
  std::vector<netlink::CtEntry> out;
  for (const auto& [key, e] : table_) out.push_back(e);
  return out;
}

bool FakeCtBackend::Contains(uint16_t zone, const netlink::CtTuple& orig) const {
  return table_.contains(Key{zone, orig});
}

}  // namespace vfguard::agent
