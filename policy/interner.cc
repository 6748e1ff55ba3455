#include "policy/interner.h"

#include "absl/container/flat_hash_set.h"

namespace vfguard::policy {

template <typename T, typename Set>
Shared<T> Interner::Find(Set& set, const T& v) {
  auto it = set.find(v);
  if (it != set.end()) return *it;
  return Insert(set, Shared<T>(v));
}

Shared<FlowerMatch> Interner::Match(const FlowerMatch& m) { return Find(matches_, m); }

Shared<std::vector<Action>> Interner::Actions(absl::Span<const Action> a) {
  auto it = actions_.find(a);
  if (it != actions_.end()) return *it;
  return Insert(actions_, Shared<std::vector<Action>>(std::vector<Action>(a.begin(), a.end())));
}

Shared<std::string> Interner::Text(std::string_view s) {
  if (s.empty()) return {};
  auto it = texts_.find(s);
  if (it != texts_.end()) return *it;
  return Insert(texts_, Shared<std::string>(std::string(s)));
}

Origin Interner::OriginOf(std::string_view text) {
  // Split after the owner ("port p1: ").
  const size_t colon = text.find(": ");
  const size_t cut = colon == std::string_view::npos ? 0 : colon + 2;
  return Origin(Text(text.substr(0, cut)), Text(text.substr(cut)));
}

void Interner::Intern(Filter& f) {
  f.match = Insert(matches_, f.match);
  f.actions = Insert(actions_, f.actions);
  if (f.origin.head()->empty()) {
    f.origin = OriginOf(*f.origin.tail());  // built as one text
  } else {
    f.origin = Origin(Text(*f.origin.head()), Text(*f.origin.tail()));
  }
}

namespace {

// The value `memo` holds for the value at `v`'s address, made by `make` on
// first sight.
template <typename T, typename Make>
const Shared<T>& Memoized(Interner::Memo::Of<T>& memo, const Shared<T>& v, Make make) {
  const void* address = &*v;
  if (address == memo.last) return *memo.last_value;
  auto [it, inserted] = memo.by_address.try_emplace(address);
  if (inserted) it->second = make();
  memo.last = address;
  memo.last_value = &it->second;
  return it->second;
}

}  // namespace

void Interner::Adopt(Filter& f, Memo& memo) {
  const Shared<FlowerMatch>& match =
      Memoized(memo.matches, f.match, [&] { return Insert(matches_, f.match); });
  if (!match.SameStorage(f.match)) f.match = match;
  const Shared<std::vector<Action>>& actions =
      Memoized(memo.actions, f.actions, [&] { return Insert(actions_, f.actions); });
  if (!actions.SameStorage(f.actions)) f.actions = actions;
  // Intern split the text already (an empty head: it had no owner).
  auto text = [&](Memo::Of<std::string>& m,
                  const Shared<std::string>& t) -> const Shared<std::string>& {
    return Memoized(m, t, [&]() -> Shared<std::string> {
      if (t->empty()) return {};
      return Insert(texts_, t);  // the other's copy, if new here
    });
  };
  const Shared<std::string>& head = text(memo.heads, f.origin.head());
  const Shared<std::string>& tail = text(memo.tails, f.origin.tail());
  if (!head.SameStorage(f.origin.head()) || !tail.SameStorage(f.origin.tail())) {
    f.origin = Origin(head, tail);
  }
}

void Interner::ReserveFor(const Interner& other) {
  matches_.reserve(matches_.size() + other.matches_.size());
  actions_.reserve(actions_.size() + other.actions_.size());
  texts_.reserve(texts_.size() + other.texts_.size());
}

void Interner::Prune() {
  auto drop_unheld = [](auto& set) {
    absl::erase_if(set, [](const auto& v) { return v.Unique(); });
  };
  drop_unheld(matches_);
  drop_unheld(actions_);
  drop_unheld(texts_);
}

}  // namespace vfguard::policy
