#include "policy/shared_text.h"

#include <cstring>
#include <new>

namespace vfguard::policy {

SharedText::SharedText(std::string_view text) {
  if (text.empty()) return;
  // The bytes follow the header in the same block.
  void* block = ::operator new(sizeof(Rep) + text.size());
  rep_ = new (block) Rep{{1}, static_cast<uint32_t>(text.size())};
  std::memcpy(reinterpret_cast<char*>(rep_ + 1), text.data(), text.size());
}

void SharedText::Release() {
  if (rep_ != nullptr && rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    rep_->~Rep();
    ::operator delete(rep_);
  }
  rep_ = nullptr;
}

}  // namespace vfguard::policy
