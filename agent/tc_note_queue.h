// The tc notifications waiting to be judged (agent/tc_event.h), in their
// compact form and in batches: the reactor pushes, the worker takes them
// all at once in one job.
//
// Why batches: every filter a pass writes comes back on RTNLGRP_TC while
// the worker is still busy with that pass. Queued one job per notification
// (a std::function holding a decoded filter, ~600 B) the daemon's RSS
// peaked at tens of MB after a large pass and the figure depended on when it
// was read; as one vector of TcNote (48 B each) behind one job it does not.
//
// Contract: Push returns true exactly when the queue was empty; the caller
// then posts one job that calls Take. The worker runs jobs in order, so a
// batch is judged after every job posted before its first note arrived
// (the pass whose writes caused it), as a job of its own per note would be,
// and before any job posted after its notes arrived: the same order as one
// job per note, with one job instead of many. Thread-safe.
#ifndef VFGUARD_AGENT_TC_NOTE_QUEUE_H_
#define VFGUARD_AGENT_TC_NOTE_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "agent/tc_event.h"

namespace vfguard::agent {

class TcNoteQueue {
 public:
  // True when the queue was empty: post a job that calls Take.
  bool Push(const TcNote& note);
  // Every note pushed since the last Take, in arrival order.
  std::vector<TcNote> Take();

  struct Stats {
    uint64_t notes = 0;       // pushed in all
    uint64_t batches = 0;     // Push calls that returned true (jobs posted)
    uint64_t taken = 0;       // handed to Take's callers
    size_t peak_pending = 0;  // most notes waiting at once
    size_t peak_bytes = 0;    // most bytes the waiting notes held (vector capacity)
  };
  Stats stats() const;

 private:
  mutable std::mutex mu_;
  std::vector<TcNote> pending_;
  Stats stats_;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_NOTE_QUEUE_H_
