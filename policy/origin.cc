#include "policy/origin.h"

#include <algorithm>

namespace vfguard::policy {

std::string Origin::str() const {
  std::string out(*head_);
  out += *tail_;
  return out;
}

bool Origin::StartsWith(std::string_view prefix) const {
  std::string_view head = *head_;
  if (prefix.size() <= head.size()) return head.substr(0, prefix.size()) == prefix;
  if (prefix.substr(0, head.size()) != head) return false;
  return std::string_view(*tail_).substr(0, prefix.size() - head.size()) ==
         prefix.substr(head.size());
}

bool Origin::Equals(std::string_view text) const {
  return size() == text.size() && StartsWith(text);
}

int Origin::Compare(const SharedText& head_a, const SharedText& tail_a, const SharedText& head_b,
                    const SharedText& tail_b) {
  if (head_a.SameStorage(head_b) && tail_a.SameStorage(tail_b)) return 0;
  // Walk both texts piece by piece: each is head then tail.
  std::string_view x[2] = {*head_a, *tail_a};
  std::string_view y[2] = {*head_b, *tail_b};
  size_t i = 0;
  size_t j = 0;
  while (true) {
    while (i < 2 && x[i].empty()) ++i;
    while (j < 2 && y[j].empty()) ++j;
    if (i == 2 || j == 2) return (i == 2 ? 0 : 1) - (j == 2 ? 0 : 1);
    const size_t n = std::min(x[i].size(), y[j].size());
    if (int c = x[i].substr(0, n).compare(y[j].substr(0, n)); c != 0) return c;
    x[i].remove_prefix(n);
    y[j].remove_prefix(n);
  }
}

}  // namespace vfguard::policy
