#include "policy/interner.h"

#include "absl/container/flat_hash_set.h"

namespace vfguard::policy {

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
  if (!rare->origin_head.empty()) {
    SharedText head = Text(*rare->origin_head);
    if (!head.SameStorage(rare->origin_head)) rare.Mutable().origin_head = std::move(head);
  }
  if (!rare->egress_of) return;
  if (auto id = Unshared(*rare->egress_of)) rare.Mutable().egress_of->port_id = *std::move(id);
}

template <typename T, typename Set>
Shared<T> Interner::Insert(Set& set, const Shared<T>& v) {
  auto it = set.find(v);
  if (it != set.end()) return *it;
  // New here (a small share of the lookups): its devices are shared first.
  Shared<T> own = v;
  ShareDevices(own);
  return *set.insert(std::move(own)).first;
}

template <typename T, typename Set>
Shared<T> Interner::Find(Set& set, const T& v) {
  auto it = set.find(v);
  if (it != set.end()) return *it;
  return Insert(set, Shared<T>(v));
}

Shared<FlowerMatch> Interner::Match(const FlowerMatch& m) { return Find(matches_, m); }

Shared<FilterRare> Interner::Rare(const FilterRare& r) { return Find(rare_, r); }

Shared<std::vector<Action>> Interner::Actions(absl::Span<const Action> a) {
  auto it = actions_.find(a);
  if (it != actions_.end()) return *it;
  return Insert(actions_, Shared<std::vector<Action>>(std::vector<Action>(a.begin(), a.end())));
}

SharedText Interner::Text(std::string_view s) {
  if (s.empty()) return {};
  auto it = texts_.find(s);
  if (it != texts_.end()) return *it;
  return *texts_.insert(SharedText(s)).first;
}

Origin Interner::OriginOf(std::string_view text) {
  // Split after the owner ("port p1: ").
  const size_t colon = text.find(": ");
  const size_t cut = colon == std::string_view::npos ? 0 : colon + 2;
  return Origin(Text(text.substr(0, cut)), Text(text.substr(cut)));
}

void Interner::SetOrigin(Filter& f, const Origin& origin, const FilterRare& rare) {
  f.origin_tail_ = origin.tail();
  const SharedText& head = origin.head();
  const bool plain = !rare.egress_of && rare.nd_allowed.empty() && !rare.set_match;
  if (plain && head.empty()) {
    f.rare_ = Shared<FilterRare>();  // the default context, without storage
    return;
  }
  if (!last_context_.HasStorage() || !last_context_->origin_head.SameStorage(head) ||
      !last_context_->SameFields(rare)) {
    FilterRare context;
    if (!plain) context = rare;
    context.origin_head = head;
    last_context_ = Find(rare_, context);
  }
  f.rare_ = last_context_;
}

void Interner::Intern(Filter& f) {
  f.match = Insert(matches_, f.match);
  f.actions = Insert(actions_, f.actions);
  const Origin built = f.origin();
  const Origin origin = built.head().empty() ? OriginOf(*built.tail())  // built as one text
                                             : Origin(Text(*built.head()), Text(*built.tail()));
  f.origin_tail_ = origin.tail();
  if (!f.rare_.HasStorage() && origin.head().empty()) return;
  Shared<FilterRare> context = std::move(f.rare_);
  if (!context->origin_head.SameStorage(origin.head())) {
    context.Mutable().origin_head = origin.head();
  }
  f.rare_ = Insert(rare_, context);
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
  // A value new here is copied (Match, Actions, Rare, Text), not taken
  // over: the copy is made on this thread, so no value kept outlives the
  // other thread in its allocator arena (see the header).
  const Shared<FlowerMatch>& match =
      Memoized(memo.matches, f.match, [&] { return Match(*f.match); });
  if (!match.SameStorage(f.match)) f.match = match;
  const Shared<std::vector<Action>>& actions =
      Memoized(memo.actions, f.actions, [&] { return Actions(*f.actions); });
  if (!actions.SameStorage(f.actions)) f.actions = actions;
  // The context holds the origin head (Rare copies it as a text of ours).
  if (f.rare_.HasStorage()) {
    const Shared<FilterRare>& rare = Memoized(memo.rare, f.rare_, [&] { return Rare(*f.rare_); });
    if (!rare.SameStorage(f.rare_)) f.rare_ = rare;
  }
  // The other interner split the text already.
  if (!f.origin_tail_.empty()) {
    auto [it, inserted] = memo.texts.try_emplace((*f.origin_tail_).data());
    if (inserted) it->second = Text(*f.origin_tail_);
    if (!it->second.SameStorage(f.origin_tail_)) f.origin_tail_ = it->second;
  }
}

void Interner::ReserveFor(const Interner& other) {
  matches_.reserve(matches_.size() + other.matches_.size());
  actions_.reserve(actions_.size() + other.actions_.size());
  rare_.reserve(rare_.size() + other.rare_.size());
  texts_.reserve(texts_.size() + other.texts_.size());
  ids_.reserve(ids_.size() + other.ids_.size());
}

void Interner::Prune() {
  last_context_ = Shared<FilterRare>();  // held by no filter, perhaps
  auto drop_unheld = [](auto& set) {
    absl::erase_if(set, [](const auto& v) { return v.Unique(); });
  };
  drop_unheld(matches_);
  drop_unheld(actions_);
  drop_unheld(rare_);
  drop_unheld(texts_);
  drop_unheld(ids_);
}

}  // namespace vfguard::policy
