#include "policy/interner.h"

#include "absl/container/flat_hash_set.h"

namespace vfguard::policy {
namespace {

template <typename Set>
void DropUnheld(Set& set) {
  absl::erase_if(set, [](const auto& v) { return v.Unique(); });
}

}  // namespace

SharedText Interner::Text(std::string_view s) {
  if (s.empty()) return {};
  auto it = texts_.find(s);
  if (it != texts_.end()) return *it;
  return *texts_.insert(SharedText(s)).first;
}

Shared<std::string> Interner::Id(std::string_view s) {
  if (s.empty()) return {};
  auto it = ids_.find(s);
  if (it != ids_.end()) return *it;
  return *ids_.insert(Shared<std::string>(std::string(s))).first;
}

std::optional<Shared<std::string>> Interner::Unshared(const DeviceRef& d) {
  Shared<std::string> id = Id(*d.port_id);
  if (id.SameStorage(d.port_id)) return std::nullopt;
  return id;
}

void Interner::ShareDevices(Shared<FlowerMatch>& m) {
  if (!m->indev) return;
  if (auto id = Unshared(*m->indev)) m.Mutable().indev->port_id = *std::move(id);
}

void Interner::ShareDevices(Shared<std::vector<Action>>& actions) {
  for (size_t i = 0; i < actions.size(); ++i) {
    if (auto id = Unshared(actions[i].device)) actions.Mutable()[i].device.port_id = *std::move(id);
  }
}

void Interner::ShareDevices(Shared<FilterRare>& rare) {
  if (!rare->egress_of) return;
  if (auto id = Unshared(*rare->egress_of)) rare.Mutable().egress_of->port_id = *std::move(id);
}

template <typename T>
Shared<T> Interner::Insert(Set<T>& set, const Shared<T>& v) {
  auto it = set.find(v);
  if (it != set.end()) return *it;
  // New here (a small share of the lookups): its devices are shared first.
  Shared<T> own = v;
  ShareDevices(own);
  return *set.insert(std::move(own)).first;
}

void Interner::Intern(Filter& f) {
  f.match = Insert(matches_, f.match);
  f.actions = Insert(actions_, f.actions);
  if (f.rare.HasStorage()) f.rare = Insert(rare_, f.rare);
  if (f.origin.head().empty()) {
    // Built as one text: split after the owner ("port p1: ").
    std::string_view text = *f.origin.tail();
    size_t colon = text.find(": ");
    size_t cut = colon == std::string_view::npos ? 0 : colon + 2;
    f.origin = Origin(Text(text.substr(0, cut)), Text(text.substr(cut)));
  } else {
    f.origin = Origin(Text(*f.origin.head()), Text(*f.origin.tail()));
  }
}

namespace {

// The value `memo` holds for the value at `v`'s address, made by `make` on
// first sight.
template <typename T, typename Make>
Shared<T> Memoized(absl::flat_hash_map<const void*, Shared<T>>& memo, const Shared<T>& v,
                   Make make) {
  auto [it, inserted] = memo.try_emplace(&*v);
  if (inserted) it->second = make();
  return it->second;
}

}  // namespace

void Interner::Adopt(Filter& f, Memo& memo) {
  f.match = Memoized(memo.matches, f.match, [&] { return Insert(matches_, f.match); });
  f.actions = Memoized(memo.actions, f.actions, [&] { return Insert(actions_, f.actions); });
  if (f.rare.HasStorage()) {
    f.rare = Memoized(memo.rare, f.rare, [&] { return Insert(rare_, f.rare); });
  }
  // Intern split the text already (an empty head: it had no owner).
  auto text = [&](const SharedText& t) -> SharedText {
    if (t.empty()) return {};
    auto [it, inserted] = memo.texts.try_emplace((*t).data());
    if (inserted) it->second = *texts_.insert(t).first;  // the other's copy, if new here
    return it->second;
  };
  f.origin = Origin(text(f.origin.head()), text(f.origin.tail()));
}

void Interner::Prune() {
  DropUnheld(matches_);
  DropUnheld(actions_);
  DropUnheld(rare_);
  DropUnheld(texts_);
  DropUnheld(ids_);
}

}  // namespace vfguard::policy
