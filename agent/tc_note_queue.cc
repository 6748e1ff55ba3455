#include "agent/tc_note_queue.h"

#include <algorithm>
#include <utility>

namespace vfguard::agent {

bool TcNoteQueue::Push(const TcNote& note) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool first = pending_.empty();
  pending_.push_back(note);
  ++stats_.notes;
  if (first) ++stats_.batches;
  stats_.peak_pending = std::max(stats_.peak_pending, pending_.size());
  stats_.peak_bytes = std::max(stats_.peak_bytes, pending_.capacity() * sizeof(TcNote));
  return first;
}

std::vector<TcNote> TcNoteQueue::Take() {
  std::vector<TcNote> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(pending_);  // the next batch starts with no capacity held
  stats_.taken += out.size();
  return out;
}

TcNoteQueue::Stats TcNoteQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace vfguard::agent
