// Shared<T>: an immutable value held by reference count, with value
// semantics.
//
// The IR repeats the same matches, action lists and origin texts across
// thousands of filters (every port of a group gets the group's rule
// matches). A Shared<T> is one pointer; copies share one heap copy of the
// value, so an interned value (policy/interner.h) costs its size once, not
// once per filter. Equality and ordering are those of the values (equal
// pointers short-cut), so whether two handles share storage is invisible
// to everything but memory. Copies may cross threads (atomic count); the
// value is never changed while shared (Mutable copies first).
#ifndef VFGUARD_POLICY_SHARED_H_
#define VFGUARD_POLICY_SHARED_H_

#include <atomic>
#include <compare>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <utility>

namespace vfguard::policy {

template <typename T>
class Shared {
 public:
  // The default T, without an allocation.
  Shared() = default;
  Shared(T value) : rep_(new Rep(std::move(value))) {}  // NOLINT: implicit, as for a T member
  template <typename E>
  requires std::constructible_from<T, std::initializer_list<E>> Shared(
      std::initializer_list<E> init)
      : Shared(T(init)) {}  // NOLINT: `actions = {Drop()}`
  Shared(const Shared& other) : rep_(other.rep_) {
    if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Shared(Shared&& other) noexcept : rep_(std::exchange(other.rep_, nullptr)) {}
  Shared& operator=(Shared other) noexcept {
    std::swap(rep_, other.rep_);
    return *this;
  }
  ~Shared() { Release(); }

  const T& get() const { return rep_ != nullptr ? rep_->value : Default(); }
  const T& operator*() const { return get(); }
  const T* operator->() const { return &get(); }
  operator const T&() const { return get(); }  // NOLINT: read as a T

  // The value, for a change: copies it first unless this handle is its only
  // holder, so no other handle sees the change.
  T& Mutable() {
    if (rep_ == nullptr) {
      rep_ = new Rep(T{});
    } else if (rep_->refs.load(std::memory_order_acquire) != 1) {
      Rep* copy = new Rep(rep_->value);
      Release();
      rep_ = copy;
    }
    return rep_->value;
  }

  // Whether this handle is the only holder of its heap copy (the interner
  // drops values nothing else holds).
  bool Unique() const { return rep_ != nullptr && rep_->refs.load(std::memory_order_acquire) == 1; }
  bool SameStorage(const Shared& other) const { return rep_ == other.rep_; }
  // Whether this handle has a heap copy (a default-constructed one has not).
  bool HasStorage() const { return rep_ != nullptr; }

  // Read-only container access, for T a container (an action list).
  auto begin() const requires requires(const T& t) { t.begin(); }
  { return get().begin(); }
  auto end() const requires requires(const T& t) { t.end(); }
  { return get().end(); }
  auto size() const requires requires(const T& t) { t.size(); }
  { return get().size(); }
  bool empty() const requires requires(const T& t) { t.empty(); }
  { return get().empty(); }
  decltype(auto) operator[](size_t i) const requires requires(const T& t) { t[i]; }
  { return get()[i]; }
  decltype(auto) front() const requires requires(const T& t) { t.front(); }
  { return get().front(); }
  decltype(auto) back() const requires requires(const T& t) { t.back(); }
  { return get().back(); }

  friend bool operator==(const Shared& a, const Shared& b) {
    return a.rep_ == b.rep_ || a.get() == b.get();
  }
  friend bool operator==(const Shared& a, const T& b) { return a.get() == b; }
  friend auto operator<=>(const Shared& a, const Shared& b) {
    using R = decltype(a.get() <=> b.get());
    if (a.rep_ == b.rep_) return R(std::strong_ordering::equal);
    return a.get() <=> b.get();
  }

 private:
  struct Rep {
    explicit Rep(T v) : value(std::move(v)) {}
    std::atomic<uint32_t> refs{1};
    T value;
  };
  // Immutable: the value of every handle without storage.
  static const T& Default() {
    static const T kDefault{};
    return kDefault;
  }
  void Release() {
    if (rep_ != nullptr && rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete rep_;
    rep_ = nullptr;
  }

  Rep* rep_ = nullptr;
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_SHARED_H_
