#include "agent/pass_worker.h"

#include <utility>

#include "agent/heap_release.h"

namespace vfguard::agent {

PassWorker::PassWorker() : thread_([this] { Run(std::thread()); }) {}

PassWorker::~PassWorker() {
  std::thread last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    jobs_.clear();
    // A thread that retires after this sees stopping_ and starts none.
    last = std::move(thread_);
  }
  wake_.notify_one();
  last.join();
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

void PassWorker::Retire() {
  std::thread self = std::move(thread_);
  thread_ = std::thread([this, self = std::move(self)]() mutable { Run(std::move(self)); });
}

void PassWorker::Run(std::thread predecessor) {
  if (predecessor.joinable()) {
    // Nothing is allocated on this thread before the join: its first
    // malloc then finds the predecessor's arena free and takes it.
    predecessor.join();
    ReleaseFreeHeap();  // its own arena's top, then every arena's free pages
    std::lock_guard<std::mutex> lock(mu_);
    ++trims_;
    --running_;  // the job that asked for the trim
  }
  worker_id_.store(std::this_thread::get_id());
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    job();
    job = nullptr;  // what it holds is freed on this thread, before it exits
    lock.lock();
    if (trim_ && jobs_.empty() && !stopping_) {
      trim_ = false;
      Retire();  // still `running_`: backlog() counts the trim
      return;
    }
    --running_;
  }
}

}  // namespace vfguard::agent
