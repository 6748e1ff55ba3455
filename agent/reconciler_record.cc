// The reconciler's persisted record (agent/installed_record.h): a restart
// that trusts it instead of a full audit, and keeping it current.
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/checkpoint.h"
#include "agent/filter_hash.h"
#include "agent/reconciler.h"
#include "agent/snapshot_digest.h"

namespace vfguard::agent {
namespace {

template <typename T>
uint64_t MixValue(uint64_t h, const T& v) {
  return Fnv1a64(std::string_view(reinterpret_cast<const char*>(&v), sizeof(T)), h);
}

}  // namespace

void Reconciler::SetRecord(std::string path, std::string identity) {
  record_path_ = std::move(path);
  record_identity_ = std::move(identity);
}

void Reconciler::RequestAudit() {
  installed_.RequestAudit();
  DropRecord();
}

void Reconciler::DropRecord() {
  if (record_path_.empty() || !record_on_disk_) return;
  if (absl::Status s = RemoveInstalledRecord(record_path_); !s.ok()) {
    log_.Warn("installed_record_remove_failed", {{"status", s}});
  }
  record_on_disk_ = false;
}

uint64_t Reconciler::InputsDigest(const policy::SlotAssignment& slots,
                                  const OfferBook& offers) const {
  uint64_t h = Fnv1a64(record_identity_);
  h = MixValue(h, block_);
  h = SnapshotDigest(*effective_, h);
  for (const auto* m : {&slots.port_slot, &slots.network_slot}) {
    for (const auto& [id, v] : *m) h = MixValue(Fnv1a64(id, h), v);
  }
  for (const auto& [id, v] : slots.port_zone) h = MixValue(Fnv1a64(id, h), v);
  if (view_.uplink) h = MixValue(Fnv1a64(view_.uplink->name, h), view_.uplink->ifindex);
  for (const auto& [port, dev] : view_.port_representors) {
    h = MixValue(Fnv1a64(dev.name, Fnv1a64(port, h)), dev.ifindex);
  }
  for (const std::string& key : used_offers_) {
    const HardwareRejection* answer = offers.Find(key);
    h = MixValue(Fnv1a64(key, h), answer != nullptr ? answer->error_number : -1);
  }
  h = MixValue(h, static_cast<uint8_t>(nd_attached_));
  h = MixValue(h, static_cast<uint8_t>(set_match_ != nullptr));  // the compiler's set lookups
  return h == kUnsettledInputs ? h + 1 : h;
}

absl::StatusOr<bool> Reconciler::TrustRecord(InstalledRecord& record, ReconcileReport& report) {
  if (record.identity != Fnv1a64(record_identity_) || record.block != block_) return false;
  ++report.dumps;
  absl::StatusOr<std::map<uint32_t, uint32_t>> qdiscs = tc_.DumpClsact();
  if (!qdiscs.ok()) return qdiscs.status();
  auto bound = [this](const std::map<uint32_t, uint32_t>& m) {
    std::map<uint32_t, uint32_t> out;
    for (const auto& [ifindex, block] : m) {
      if (block == block_) out[ifindex] = block;
    }
    return out;
  };
  if (bound(*qdiscs) != bound(record.clsact)) return false;
  // Chain 0 is the dispatch: every frame's first filter. A block that was
  // emptied or rebuilt behind the agent's back differs here.
  ++report.dumps;
  absl::StatusOr<std::vector<netlink::FlowerFilter>> chain0 =
      tc_.DumpChain(netlink::TcBlock{block_}, 0);
  if (!chain0.ok()) return chain0.status();
  // The record's chain 0 of the block: a range of the ordered set.
  const netlink::FilterOwner block = netlink::TcBlock{block_};
  const size_t recorded = std::distance(record.filters.lower_bound(FilterKey{block, 0, 0, 0}),
                                        record.filters.lower_bound(FilterKey{block, 1, 0, 0}));
  if (recorded != chain0->size()) return false;
  for (const netlink::FlowerFilter& f : *chain0) {
    auto it = record.filters.find(KeyOf(f));
    if (it == record.filters.end() || it->entry().content != ContentHash(f)) return false;
  }
  installed_.ReplaceClsact(*std::move(qdiscs));
  installed_.Restore(std::move(record.filters));  // not needed after this
  installed_.AuditDone();
  return true;
}

absl::StatusOr<std::optional<InstalledRecord>> Reconciler::LoadTrustedRecord(
    ReconcileReport& report) {
  record_on_disk_ = true;  // whatever is there goes before the first write
  absl::StatusOr<InstalledRecord> loaded = LoadInstalledRecord(record_path_);
  if (!loaded.ok()) {
    if (!absl::IsNotFound(loaded.status())) {
      log_.Warn("installed_record_unusable", {{"status", loaded.status()}, {"action", "audit"}});
    }
    return std::nullopt;
  }
  absl::StatusOr<bool> trusted = TrustRecord(*loaded, report);
  if (!trusted.ok()) return trusted.status();
  if (!*trusted) {
    log_.Warn("installed_record_disagrees", {{"action", "audit"}});
    return std::nullopt;
  }
  return *std::move(loaded);
}

void Reconciler::SaveRecord(uint64_t inputs) {
  if (record_path_.empty() || installed_.audit_needed()) return;
  InstalledRecord record;
  record.identity = Fnv1a64(record_identity_);
  record.block = block_;
  record.inputs = inputs;
  record.clsact = installed_.clsact();
  record.filters = installed_.filters();
  record.translated = translated_;
  if (absl::Status s = SaveInstalledRecord(record_path_, record); !s.ok()) {
    log_.Warn("installed_record_save_failed", {{"path", record_path_}, {"status", s}});
    return;
  }
  record_on_disk_ = true;
}

}  // namespace vfguard::agent
