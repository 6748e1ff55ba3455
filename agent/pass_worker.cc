#include "agent/pass_worker.h"

#include <utility>

#include "agent/heap_release.h"

namespace vfguard::agent {

PassWorker::PassWorker() : thread_([this] { Loop(); }) {}

PassWorker::~PassWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    jobs_.clear();
  }
  wake_.notify_one();
  thread_.join();
}

void PassWorker::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

size_t PassWorker::backlog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size() + running_;
}

void PassWorker::TrimWhenIdle() {
  std::lock_guard<std::mutex> lock(mu_);
  trim_ = true;
}

size_t PassWorker::trims() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trims_;
}

void PassWorker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    job();
    lock.lock();
    if (trim_ && jobs_.empty()) {  // still `running_`: backlog() counts the trim
      trim_ = false;
      lock.unlock();
      ReleaseFreeHeap();  // its own arena's top, then every arena's free pages
      lock.lock();
      ++trims_;
    }
    --running_;
  }
}

}  // namespace vfguard::agent
