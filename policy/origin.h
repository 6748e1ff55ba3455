// Origin: why an IR filter exists, e.g. "port p1: ingress sg web rule 3
// allow IPv4 tcp dport 80-80 priority 103". Shown by trace and rules
// listings; never sent to the kernel.
//
// The text is held as two shared pieces (SharedText), a head and a tail, whose
// concatenation is the text. Origins are nearly unique per filter, but
// their parts are not: the head names the owner ("port p1: "), the tail
// repeats across every port with the same rule. The interner
// (policy/interner.h) splits a text after its first ": " and shares both
// pieces. A Filter keeps only the tail and finds the head in its context
// (Filter::rare(), shared by the owner's filters), so its origin costs it
// one pointer; Filter::origin() puts the two together. Comparisons are of
// the texts, so the split is invisible except to memory.
#ifndef VFGUARD_POLICY_ORIGIN_H_
#define VFGUARD_POLICY_ORIGIN_H_

#include <compare>
#include <ostream>
#include <string>
#include <string_view>

#include "policy/shared_text.h"

namespace vfguard::policy {

class Origin {
 public:
  Origin() = default;
  Origin(const std::string& text) : tail_(text) {}  // NOLINT: implicit, as for a string
  Origin(const char* text) : tail_(text) {}         // NOLINT
  Origin(SharedText head, SharedText tail) : head_(std::move(head)), tail_(std::move(tail)) {}

  std::string str() const;
  operator std::string() const { return str(); }  // NOLINT: read as a string
  bool empty() const { return head_.empty() && tail_.empty(); }
  size_t size() const { return head_.size() + tail_.size(); }
  bool StartsWith(std::string_view prefix) const;
  const SharedText& head() const { return head_; }
  const SharedText& tail() const { return tail_; }

  friend bool operator==(const Origin& a, const Origin& b) { return Compare(a, b) == 0; }
  friend std::strong_ordering operator<=>(const Origin& a, const Origin& b) {
    return Compare(a, b) <=> 0;
  }
  friend bool operator==(const Origin& a, std::string_view b) { return a.Equals(b); }
  friend bool operator==(const Origin& a, const char* b) { return a.Equals(b); }
  friend bool operator==(const Origin& a, const std::string& b) { return a.Equals(b); }
  friend std::ostream& operator<<(std::ostream& os, const Origin& o) {
    return os << *o.head_ << *o.tail_;
  }

  // <0, 0, >0 as the texts of two origins compare (bytewise), given their
  // pieces (a Filter holds its head elsewhere), without building them.
  static int Compare(const SharedText& head_a, const SharedText& tail_a, const SharedText& head_b,
                     const SharedText& tail_b);

 private:
  static int Compare(const Origin& a, const Origin& b) {
    return Compare(a.head_, a.tail_, b.head_, b.tail_);
  }
  bool Equals(std::string_view text) const;

  SharedText head_;
  SharedText tail_;
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_ORIGIN_H_
