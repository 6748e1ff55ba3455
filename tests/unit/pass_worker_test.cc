// PassWorker: jobs in order, and the trim a pass asks for waits until the
// queue behind it (the tc notifications of its writes) is empty.
#include "agent/pass_worker.h"

#include <future>
#include <vector>

#include "gtest/gtest.h"

namespace vfguard::agent {
namespace {

TEST(PassWorkerTest, RunsJobsInOrder) {
  std::vector<int> seen;
  std::promise<void> done;
  {
    PassWorker w;
    for (int i = 0; i < 5; ++i) w.Post([&seen, i] { seen.push_back(i); });
    w.Post([&done] { done.set_value(); });
    done.get_future().wait();
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(PassWorkerTest, TrimWaitsForTheJobsQueuedBehindThePass) {
  PassWorker w;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<size_t> trims_in_event;
  // The "pass" asks for a trim; an "event" queued behind it runs first.
  std::promise<void> pass_started;
  w.Post([&] {
    pass_started.set_value();
    released.wait();
    w.TrimWhenIdle();
  });
  pass_started.get_future().wait();
  w.Post([&] { trims_in_event.set_value(w.trims()); });
  EXPECT_EQ(w.trims(), 0u);
  release.set_value();
  EXPECT_EQ(trims_in_event.get_future().get(), 0u);  // not yet: the queue was not empty
  while (w.backlog() != 0) std::this_thread::yield();
  EXPECT_EQ(w.trims(), 1u);
  // Once: a job that does not ask trims nothing.
  std::promise<void> again;
  w.Post([&] { again.set_value(); });
  again.get_future().wait();
  while (w.backlog() != 0) std::this_thread::yield();
  EXPECT_EQ(w.trims(), 1u);
}

}  // namespace
}  // namespace vfguard::agent
