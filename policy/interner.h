// Interner: makes equal IR values share one heap copy.
//
// The compiler builds each filter with its own match, action list, rare
// fields and origin text; Intern replaces them with an equal value seen
// before, so a group's rule compiled on 4,000 ports holds its match once.
// The port ids inside a value seen for the first time (DeviceRef::port_id)
// are interned with the texts, so a port's id is held once. An origin is
// split after its first ": " (head "port p1: ", tail "ingress sg web rule
// 3 ...") and both pieces are interned. Values compare equal either way
// (policy/shared.h), so interning changes memory, never the IR.
//
// One Interner per compile (Compile) or kept across updates
// (IncrementalCompiler, which calls Prune so that values of replaced parts
// do not stay alive through the interner alone). Not thread-safe.
#ifndef VFGUARD_POLICY_INTERNER_H_
#define VFGUARD_POLICY_INTERNER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "policy/ir.h"
#include "policy/shared_text.h"

namespace vfguard::policy {

class Interner {
 public:
  void Intern(Filter& f);
  void Intern(std::vector<Filter>& filters) {
    for (Filter& f : filters) Intern(f);
  }
  // Address -> this interner's equal value, for Adopt.
  struct Memo {
    absl::flat_hash_map<const void*, Shared<FlowerMatch>> matches;
    absl::flat_hash_map<const void*, Shared<std::vector<Action>>> actions;
    absl::flat_hash_map<const void*, Shared<FilterRare>> rare;
    absl::flat_hash_map<const void*, SharedText> texts;  // by the bytes' address
  };
  // Interns `f`, whose values another Interner (of another thread, still
  // alive) interned already: each of its distinct values is hashed here once
  // and then found by address in `memo`. The result equals Intern's.
  void Adopt(Filter& f, Memo& memo);
  // Forgets values no filter holds any more.
  void Prune();
  // Values held (matches, action lists, rare fields, origin pieces and port
  // ids).
  size_t size() const { return matches_.size() + actions_.size() + rare_.size() + texts_.size(); }

 private:
  template <typename T>
  struct ValueHash {
    size_t operator()(const Shared<T>& v) const { return absl::Hash<T>{}(*v); }
  };
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>{}(s); }
    size_t operator()(const SharedText& s) const { return (*this)(*s); }
    size_t operator()(const Shared<std::string>& s) const { return (*this)(std::string_view(*s)); }
  };
  struct TextEq {
    using is_transparent = void;
    static std::string_view View(std::string_view s) { return s; }
    static std::string_view View(const SharedText& s) { return *s; }
    static std::string_view View(const Shared<std::string>& s) { return *s; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  SharedText Text(std::string_view s);
  Shared<std::string> Id(std::string_view s);
  // `set`'s value equal to `v`, inserted (its port ids interned) if new.
  template <typename T>
  using Set = absl::flat_hash_set<Shared<T>, ValueHash<T>>;
  template <typename T>
  Shared<T> Insert(Set<T>& set, const Shared<T>& v);
  // This interner's copy of `d`'s port id, unless `d` holds it already.
  std::optional<Shared<std::string>> Unshared(const DeviceRef& d);
  void ShareDevices(Shared<FlowerMatch>& m);
  void ShareDevices(Shared<std::vector<Action>>& actions);
  void ShareDevices(Shared<FilterRare>& rare);

  Set<FlowerMatch> matches_;
  Set<std::vector<Action>> actions_;
  Set<FilterRare> rare_;
  absl::flat_hash_set<SharedText, TextHash, TextEq> texts_;         // origin pieces
  absl::flat_hash_set<Shared<std::string>, TextHash, TextEq> ids_;  // DeviceRef::port_id
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_INTERNER_H_
