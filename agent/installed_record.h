// The reconciler's persisted record of what it installed (issue 9: a cheap
// restart). Written after every pass that changed the installed set or
// audited, in the agent's state directory, and removed before a pass's
// first write, so a record on disk always describes a kernel the agent left
// alone since. It names its writer (the agent binary and the boot), so a
// record from before a reboot (the kernel's tc state is gone) or from
// another build is never trusted.
//
// A restarted agent loads it and checks it against the kernel cheaply (the
// clsact qdiscs bound to its block, and every filter of the block's chain 0,
// the dispatch, by content hash); if they agree, the first pass trusts the
// record instead of dumping everything, and the full audit runs as a
// separate pass soon after start (agent/reconciler.h). `inputs` is a digest
// of everything the pipeline is computed from (desired state, slots,
// devices, offer answers, the ND check's state): when the
// first pass's inputs have the same digest, its translations are taken from
// the record instead of being computed again, and nothing is planned: only a
// pass without errors (which left installed == wanted) writes a digest, others
// write 0, which no pass's inputs have.
#ifndef VFGUARD_AGENT_INSTALLED_RECORD_H_
#define VFGUARD_AGENT_INSTALLED_RECORD_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/installed_set.h"

namespace vfguard::agent {

// A placed filter's kernel filter as the reconciler last translated it,
// kept per placed filter between passes (8 bytes): only the content hash,
// which tells whether the kernel holds that filter without translating it
// again. Its key (owner, chain, prio, handle) and protocol come from the IR
// filter (offload::KernelIdentity); the IR key from the placement it was
// made for; its shape and jump from the installed set's entry at that key
// when that entry has this content (a content hash covers the protocol,
// the key layout and the actions, so equal content is the same shape and
// jump); otherwise the filter is translated again (it has to be written
// anyway). Two flags take the content hash's top bits: it is compared on
// its low 62 (Holds); a collision stays negligible.
struct TranslatedFilter {
  static constexpr uint64_t kContentMask = (uint64_t{1} << 62) - 1;
  uint64_t content : 62 = 0;  // InstalledEntry::content & kContentMask
  uint64_t valid : 1 = 0;     // installed as flower and translated
  uint64_t hardware : 1 = 0;  // placed in hardware (no skip_hw)

  static TranslatedFilter Of(uint64_t content, bool hardware) {
    return {content & kContentMask, 1, hardware ? 1u : 0u};
  }
  // Whether an installed entry with `content` is this translation.
  bool Holds(uint64_t installed_content) const {
    return valid && (installed_content & kContentMask) == content;
  }
  // The record's form: the fields in one word (content, then valid at bit
  // 62 and hardware at bit 63).
  uint64_t Bits() const { return content | uint64_t{valid} << 62 | uint64_t{hardware} << 63; }
  static TranslatedFilter FromBits(uint64_t bits) {
    return {bits & kContentMask, (bits >> 62) & 1, bits >> 63};
  }
  bool operator==(const TranslatedFilter&) const = default;
};
static_assert(sizeof(TranslatedFilter) == 8, "one word per placed filter (issue 9's RSS)");

struct InstalledRecord {
  uint64_t identity = 0;  // of the writer (binary and boot); another's is not trusted
  uint32_t block = 0;
  uint64_t inputs = 0;                  // digest of the pass's inputs (above)
  std::map<uint32_t, uint32_t> clsact;  // ifindex -> ingress block, as in InstalledSet
  InstalledSet::Filters filters;
  std::vector<TranslatedFilter> translated;  // per placed filter, in placement order
  bool operator==(const InstalledRecord&) const = default;
};

std::string EncodeInstalledRecord(const InstalledRecord& record);
// InvalidArgument (naming what is wrong) for bytes that are not a whole
// record of this format version.
absl::StatusOr<InstalledRecord> DecodeInstalledRecord(std::string_view bytes);

// Atomic replace (common/file_io.h); the directory is created if missing.
absl::Status SaveInstalledRecord(const std::string& path, const InstalledRecord& record);
// NotFound when there is none.
absl::StatusOr<InstalledRecord> LoadInstalledRecord(const std::string& path);
// Removes it; a missing file is fine.
absl::Status RemoveInstalledRecord(const std::string& path);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_INSTALLED_RECORD_H_
