// One background thread that runs the agent's slow work (reconcile passes,
// counter refreshes, judging tc events against the installed set) in the
// order it was posted, so the reactor never waits for the kernel.
//
// Contract: jobs run one at a time on the worker thread, first in, first
// out; whatever a job owns (the reconciler, the tc and conntrack backends)
// is touched by no other thread. A job hands results back to the reactor by
// posting to its io_context. The destructor lets the job in progress finish
// (a pass is never cut short between writes), drops the ones not started
// (they have touched nothing), then joins; Post after destruction began is
// a bug.
#ifndef VFGUARD_AGENT_PASS_WORKER_H_
#define VFGUARD_AGENT_PASS_WORKER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace vfguard::agent {

class PassWorker {
 public:
  PassWorker();
  ~PassWorker();
  PassWorker(const PassWorker&) = delete;
  PassWorker& operator=(const PassWorker&) = delete;

  void Post(std::function<void()> job);
  // Called by a job that freed much transient heap (a reconcile pass): once
  // the queue is next empty, the worker hands free heap pages back to the
  // kernel (ReleaseFreeHeap, agent/heap_release.h: its own arena's top
  // too). Not at once: the tc notifications a pass's writes cause are
  // decoded on the reactor and wait behind it as one batch of compact notes
  // (agent/tc_note_queue.h), freed when judged; trimming after them keeps
  // the daemon's RSS at what it holds, not at the peak of its last pass.
  void TrimWhenIdle();
  // Trims done (for tests and benches); backlog() counts one in progress.
  size_t trims() const;
  // Jobs posted and not yet finished (for tests and status).
  size_t backlog() const;
  // True on the worker thread (for assertions).
  bool OnWorker() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  size_t running_ = 0;
  bool stopping_ = false;
  bool trim_ = false;
  size_t trims_ = 0;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_PASS_WORKER_H_
