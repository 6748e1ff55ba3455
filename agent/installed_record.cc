#include "agent/installed_record.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/file_io.h"

namespace vfguard::agent {
namespace {

// "vfgREC" + format version; bump the version when the layout changes.
constexpr uint64_t kMagic = 0x7666675245430005ULL;

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_integral_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    out_.append(bytes, sizeof(T));
  }
  void PutKey(const FilterKey& k) {
    if (const auto* b = std::get_if<netlink::TcBlock>(&k.owner)) {
      Put<uint8_t>(0);
      Put(b->index);
      Put<uint32_t>(0);
    } else {
      const auto& d = std::get<netlink::TcDevice>(k.owner);
      Put<uint8_t>(1);
      Put(d.ifindex);
      Put(d.parent);
    }
    Put(k.chain);
    Put(k.prio);
    Put(k.handle);
  }
  void PutEntry(const InstalledEntry& e) {
    Put(e.protocol);
    Put(e.jump);
    Put(e.shape);
    Put(e.content);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  T Get() {
    T v{};
    if (in_.size() < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return v;
  }
  FilterKey GetKey() {
    FilterKey k;
    const auto kind = Get<uint8_t>();
    const auto a = Get<uint32_t>();
    const auto b = Get<uint32_t>();
    if (kind == 0) {
      k.owner = netlink::TcBlock{a};
    } else if (kind == 1) {
      k.owner = netlink::TcDevice{a, b};
    } else {
      ok_ = false;
    }
    k.chain = Get<uint32_t>();
    k.prio = Get<uint16_t>();
    k.handle = Get<uint32_t>();
    return k;
  }
  InstalledEntry GetEntry() {
    InstalledEntry e;
    e.protocol = Get<uint16_t>();
    e.jump = Get<uint32_t>();
    e.shape = Get<uint32_t>();
    e.content = Get<uint64_t>();
    return e;
  }
  // A count of records of at least `min_bytes` each that the rest can hold.
  uint64_t GetCount(size_t min_bytes) {
    const auto n = Get<uint64_t>();
    if (n > in_.size() / min_bytes) ok_ = false;
    return ok_ ? n : 0;
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

constexpr size_t kKeyBytes = 1 + 4 + 4 + 4 + 2 + 4;
constexpr size_t kEntryBytes = 2 + 4 + 4 + 8;
constexpr size_t kTranslatedBytes = 8;

}  // namespace

std::string EncodeInstalledRecord(const InstalledRecord& r) {
  Writer w;
  w.Put(kMagic);
  w.Put(r.identity);
  w.Put(r.block);
  w.Put(r.inputs);
  w.Put<uint64_t>(r.clsact.size());
  for (const auto& [ifindex, block] : r.clsact) {
    w.Put(ifindex);
    w.Put(block);
  }
  w.Put<uint64_t>(r.filters.size());
  for (const auto& [key, entry] : r.filters) {
    w.PutKey(key);
    w.PutEntry(entry);
  }
  w.Put<uint64_t>(r.translated.size());
  for (const TranslatedFilter& t : r.translated) {
    w.Put(t.Bits());
  }
  return w.Take();
}

absl::StatusOr<InstalledRecord> DecodeInstalledRecord(std::string_view bytes) {
  Reader in(bytes);
  if (in.Get<uint64_t>() != kMagic || !in.ok()) {
    return absl::InvalidArgumentError("installed record: not a record of this format version");
  }
  InstalledRecord r;
  r.identity = in.Get<uint64_t>();
  r.block = in.Get<uint32_t>();
  r.inputs = in.Get<uint64_t>();
  for (uint64_t n = in.GetCount(8); n > 0 && in.ok(); --n) {
    const auto ifindex = in.Get<uint32_t>();
    r.clsact[ifindex] = in.Get<uint32_t>();
  }
  std::optional<InstalledFilter> last;
  const uint64_t filters = in.GetCount(kKeyBytes + kEntryBytes);
  r.filters.reserve(filters);
  for (uint64_t n = filters; n > 0 && in.ok(); --n) {
    const FilterKey key = in.GetKey();
    const std::optional<InstalledFilter> f = InstalledFilter::Of(key, in.GetEntry());
    if (!f) return absl::InvalidArgumentError("installed record: a filter the set cannot hold");
    // Written in key order (checked): each insert is an append, and the set
    // is sorted as InstalledSet::Restore takes it.
    if (last && !InstalledFilter::Less()(*last, *f)) {
      return absl::InvalidArgumentError("installed record: filters out of key order");
    }
    r.filters.insert(r.filters.end(), *f);
    last = f;
  }
  const uint64_t translated = in.GetCount(kTranslatedBytes);
  r.translated.reserve(translated);
  for (uint64_t n = translated; n > 0 && in.ok(); --n) {
    r.translated.push_back(TranslatedFilter::FromBits(in.Get<uint64_t>()));
  }
  if (!in.ok()) return absl::InvalidArgumentError("installed record: truncated or damaged");
  if (!in.done()) return absl::InvalidArgumentError("installed record: trailing bytes");
  return r;
}

absl::Status SaveInstalledRecord(const std::string& path, const InstalledRecord& record) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
    }
  }
  return common::WriteFileAtomically(path, EncodeInstalledRecord(record));
}

absl::StatusOr<InstalledRecord> LoadInstalledRecord(const std::string& path) {
  absl::StatusOr<std::string> bytes = common::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeInstalledRecord(*bytes);
}

absl::Status RemoveInstalledRecord(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("unlink ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace vfguard::agent
