// SharedText: an immutable text held by reference count, in one heap block
// (count, length, bytes).
//
// What Shared<std::string> is for texts, at about half the memory: a
// Shared<std::string> spends a block on the count and the string object
// (48 bytes) and, past 15 characters, another on the bytes. The IR keeps
// thousands of interned origin pieces (policy/origin.h), so the difference
// counts. Copies share the block and may cross threads (atomic count);
// comparisons are of the texts.
#ifndef VFGUARD_POLICY_SHARED_TEXT_H_
#define VFGUARD_POLICY_SHARED_TEXT_H_

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>

namespace vfguard::policy {

class SharedText {
 public:
  // The empty text, without an allocation.
  SharedText() = default;
  explicit SharedText(std::string_view text);
  SharedText(const SharedText& other) : rep_(other.rep_) {
    if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedText(SharedText&& other) noexcept : rep_(std::exchange(other.rep_, nullptr)) {}
  SharedText& operator=(SharedText other) noexcept {
    std::swap(rep_, other.rep_);
    return *this;
  }
  ~SharedText() { Release(); }

  std::string_view view() const {
    return rep_ == nullptr ? std::string_view() : std::string_view(Bytes(rep_), rep_->size);
  }
  std::string_view operator*() const { return view(); }
  bool empty() const { return rep_ == nullptr; }
  size_t size() const { return rep_ == nullptr ? 0 : rep_->size; }

  // Whether this handle is the only holder of its block (the interner drops
  // texts nothing else holds).
  bool Unique() const { return rep_ != nullptr && rep_->refs.load(std::memory_order_acquire) == 1; }
  bool SameStorage(const SharedText& other) const { return rep_ == other.rep_; }

  friend bool operator==(const SharedText& a, const SharedText& b) {
    return a.rep_ == b.rep_ || a.view() == b.view();
  }

 private:
  struct Rep {
    std::atomic<uint32_t> refs;
    uint32_t size;
  };
  static const char* Bytes(const Rep* rep) { return reinterpret_cast<const char*>(rep + 1); }
  void Release();

  Rep* rep_ = nullptr;  // null: the empty text
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_SHARED_TEXT_H_
