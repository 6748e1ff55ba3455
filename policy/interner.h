// Interner: makes equal IR values share one heap copy.
//
// The compiler builds each filter with its own match, action list, rare
// fields and origin text; Intern replaces them with an equal value seen
// before, so a group's rule compiled on 4,000 ports holds its match once.
// The port ids inside a value seen for the first time (DeviceRef::port_id)
// are interned with the texts, so a port's id is held once. An origin is
// split after its first ": " (head "port p1: ", tail "ingress sg web rule
// 3 ...") and both pieces are interned; the head goes into the filter's
// context (Filter::rare, FilterRare::origin_head), which is interned too, so
// the filters of one owner share one context value. Values compare equal
// either way (policy/shared.h), so interning changes memory, never the IR.
//
// The compiler interns while it builds instead (Match, Actions, Text,
// OriginOf, SetOrigin: a value seen before costs a lookup, not a heap copy,
// and a filter is never interned twice); Intern is for filters built
// otherwise.
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
#include "absl/types/span.h"
#include "policy/ir.h"
#include "policy/shared_text.h"

namespace vfguard::policy {

class Interner {
 public:
  void Intern(Filter& f);
  void Intern(std::vector<Filter>& filters) {
    for (Filter& f : filters) Intern(f);
  }
  // Address -> this interner's equal value, for Adopt; and the last one
  // looked up (a port's filters come one after another, with one origin
  // head and often the same actions).
  struct Memo {
    template <typename T>
    struct Of {
      absl::flat_hash_map<const void*, Shared<T>> by_address;
      const void* last = nullptr;
      const Shared<T>* last_value = nullptr;  // in by_address (no insert since)
    };
    Of<FlowerMatch> matches;
    Of<std::vector<Action>> actions;
    Of<FilterRare> rare;  // with the origin heads
    // Origin tails, by the address of their bytes.
    absl::flat_hash_map<const void*, SharedText> texts;
  };
  // Interns `f`, whose values another Interner (of another thread, still
  // alive) interned already: each of its distinct values is hashed here once
  // and then found by address in `memo`. The result equals Intern's. A value
  // new here is copied rather than taken over, so that what the filters keep
  // is allocated by the calling thread: glibc gives each thread an arena of
  // its own, and values kept from a short-lived compiler thread would pin
  // its arena's pages (with the holes its temporaries left) after it exits.
  void Adopt(Filter& f, Memo& memo);
  // This interner's copy of a value, made on first sight.
  Shared<FlowerMatch> Match(const FlowerMatch& m);
  Shared<std::vector<Action>> Actions(absl::Span<const Action> a);
  SharedText Text(std::string_view s);
  // An origin of `text`, split as Intern splits it.
  Origin OriginOf(std::string_view text);
  // An origin whose head (an owner, "port p1: ") this interner made.
  Origin OriginOf(const SharedText& head, std::string_view tail) {
    return Origin(head, Text(tail));
  }
  // Sets `f`'s origin to `origin`, whose pieces this interner made
  // (OriginOf, Text), and its rare fields to those of `rare` (whose
  // origin_head is not read): the tail in `f`, the head and the fields in
  // this interner's context value (Filter::rare). Consecutive filters of one
  // owner with the same fields get the same value without a lookup.
  void SetOrigin(Filter& f, const Origin& origin, const FilterRare& rare);
  void SetOrigin(Filter& f, const Origin& origin) { SetOrigin(f, origin, FilterRare{}); }
  // Room for `other`'s values besides those held, before adopting them, so
  // that the sets do not grow step by step.
  void ReserveFor(const Interner& other);
  // Forgets values no filter holds any more.
  void Prune();
  // Values held (matches, action lists, contexts, origin pieces and port
  // ids).
  size_t size() const {
    return matches_.size() + actions_.size() + rare_.size() + texts_.size() + ids_.size();
  }

 private:
  // Hash and equality of values, looked up as a Shared or as a plain value
  // (no copy made to find one).
  template <typename T>
  struct ValueHash {
    using is_transparent = void;
    size_t operator()(const T& v) const { return absl::Hash<T>{}(v); }
    size_t operator()(const Shared<T>& v) const { return (*this)(*v); }
  };
  template <typename T>
  struct ValueEq {
    using is_transparent = void;
    static const T& View(const T& v) { return v; }
    static const T& View(const Shared<T>& v) { return *v; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return &View(a) == &View(b) || View(a) == View(b);
    }
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
  // Action lists are also looked up as spans (an Add's `{Drop()}` makes no
  // vector): hashed and compared as spans either way.
  struct ActionsHash {
    using is_transparent = void;
    // As absl hashes a vector: the elements, then the size.
    struct Elements {
      absl::Span<const Action> a;
      template <typename H>
      friend H AbslHashValue(H h, const Elements& e) {
        return H::combine(H::combine_contiguous(std::move(h), e.a.data(), e.a.size()), e.a.size());
      }
    };
    size_t operator()(absl::Span<const Action> a) const { return absl::Hash<Elements>{}({a}); }
    size_t operator()(const Shared<std::vector<Action>>& a) const {
      return (*this)(absl::MakeConstSpan(*a));
    }
  };
  struct ActionsEq {
    using is_transparent = void;
    static absl::Span<const Action> View(absl::Span<const Action> a) { return a; }
    static absl::Span<const Action> View(const Shared<std::vector<Action>>& a) {
      return absl::MakeConstSpan(*a);
    }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  template <typename T>
  using ValueSet = absl::flat_hash_set<Shared<T>, ValueHash<T>, ValueEq<T>>;
  // The held copy equal to `v`; `v` itself (its port ids interned first)
  // if new.
  template <typename T, typename Set>
  Shared<T> Insert(Set& set, const Shared<T>& v);
  template <typename T, typename Set>
  Shared<T> Find(Set& set, const T& v);
  Shared<FilterRare> Rare(const FilterRare& r);
  Shared<std::string> Id(std::string_view s);
  // This interner's copy of `d`'s port id, unless `d` holds it already.
  std::optional<Shared<std::string>> Unshared(const DeviceRef& d);
  void ShareDevices(Shared<FlowerMatch>& m);
  void ShareDevices(Shared<std::vector<Action>>& actions);
  // Also makes the origin head this interner's text.
  void ShareDevices(Shared<FilterRare>& rare);

  ValueSet<FlowerMatch> matches_;
  absl::flat_hash_set<Shared<std::vector<Action>>, ActionsHash, ActionsEq> actions_;
  ValueSet<FilterRare> rare_;
  absl::flat_hash_set<SharedText, TextHash, TextEq> texts_;         // origin pieces
  Shared<FilterRare> last_context_;                                 // SetOrigin's last value
  absl::flat_hash_set<Shared<std::string>, TextHash, TextEq> ids_;  // DeviceRef::port_id
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_INTERNER_H_
