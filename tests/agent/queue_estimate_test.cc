// The daemon's queue estimate (agent/queue_estimate.h): when each stage of a target is free,
// from the requests handed to it and their expected stage times, moved by how late the oldest
// one finished; measured stage times replace the prediction. Time is given, not read, so these
// are exact.
#include "agent/queue_estimate.h"

#include <gtest/gtest.h>

namespace autoscale {
namespace {

using Clock = QueueEstimate::Clock;

Clock::time_point At(Clock::time_point t0, double ms) {
  return t0 + std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
}

TEST(QueueEstimate, AnIdleTargetHasNoWait) {
  QueueEstimate q(1, 4);
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(q.WaitMs(t0), std::vector<double>{0.0});
  EXPECT_EQ(q.inside(), 0);
}

TEST(QueueEstimate, OneStageWaitsForEveryRequestAhead) {
  QueueEstimate q(1, 4);
  const Clock::time_point t0 = Clock::now();
  const uint64_t a = q.Add(t0, {10});
  const uint64_t b = q.Add(t0, {10});
  q.Add(At(t0, 1), {5});
  EXPECT_EQ(q.inside(), 3);
  EXPECT_NEAR(q.WaitMs(t0)[0], 25, 1e-6);
  EXPECT_NEAR(q.WaitMs(At(t0, 4))[0], 21, 1e-6);
  // The first finished 3 ms late: the others move by as much.
  q.Done(a, At(t0, 13), 0, {13});
  EXPECT_NEAR(q.WaitMs(At(t0, 13))[0], 15, 1e-6);
  // The second early: the last moves up.
  q.Done(b, At(t0, 20), 0, {7});
  EXPECT_NEAR(q.WaitMs(At(t0, 20))[0], 5, 1e-6);
  EXPECT_EQ(q.inside(), 1);
}

TEST(QueueEstimate, TheLastRequestOutLeavesTheTargetIdle) {
  QueueEstimate q(2, 4);
  const Clock::time_point t0 = Clock::now();
  const uint64_t a = q.Add(t0, {10, 10});
  q.Done(a, At(t0, 5), 0, {});  // early, failed: no measurement
  EXPECT_EQ(q.WaitMs(At(t0, 5)), (std::vector<double>{0.0, 0.0}));
  // Later arrivals start from then, not from the old expectation.
  q.Add(At(t0, 6), {10, 10});
  const std::vector<double> w = q.WaitMs(At(t0, 6));
  EXPECT_NEAR(w[0], 10, 1e-6);
  EXPECT_NEAR(w[1], 20, 1e-6);
}

// A pipeline as a tandem: request k enters stage s when it has left stage s - 1 and stage s has
// finished request k - 1.
TEST(QueueEstimate, StagesFormATandem) {
  QueueEstimate q(2, 4);
  const Clock::time_point t0 = Clock::now();
  q.Add(t0, {6, 4});  // stage 0: 0-6, stage 1: 6-10
  q.Add(t0, {6, 4});  // 6-12, 12-16
  q.Add(t0, {6, 4});  // 12-18, 18-22
  std::vector<double> w = q.WaitMs(t0);
  EXPECT_NEAR(w[0], 18, 1e-6);
  EXPECT_NEAR(w[1], 22, 1e-6);
  // A slow last stage is the bottleneck: its queue grows by 8 per request, the first by 2.
  QueueEstimate slow(2, 4);
  slow.Add(t0, {2, 8});  // 0-2, 2-10
  slow.Add(t0, {2, 8});  // 2-4, 10-18
  w = slow.WaitMs(t0);
  EXPECT_NEAR(w[0], 4, 1e-6);
  EXPECT_NEAR(w[1], 18, 1e-6);
}

TEST(QueueEstimate, OutOfOrderFinishMovesNothing) {
  QueueEstimate q(2, 4);
  const Clock::time_point t0 = Clock::now();
  q.Add(t0, {6, 4});
  const uint64_t b = q.Add(t0, {6, 4});
  q.Done(b, At(t0, 7), 0, {});  // failed in stage 0 while the first was in stage 1
  EXPECT_EQ(q.inside(), 1);
  const std::vector<double> w = q.WaitMs(At(t0, 7));
  EXPECT_NEAR(w[0], 5, 1e-6);  // unchanged: 12 - 7
  EXPECT_NEAR(w[1], 9, 1e-6);
}

TEST(QueueEstimate, MeasuredTimesReplaceThePrediction) {
  QueueEstimate q(2, 4, /*weight=*/0.5);
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(q.Expected(1, {3, 5}), (std::vector<double>{3, 5}));
  EXPECT_EQ(q.Expected(1, {3}), (std::vector<double>{3, 0}));  // a missing stage: 0
  const uint64_t a = q.Add(t0, {3, 5});
  q.Done(a, At(t0, 10), 1, {4, 6});
  EXPECT_EQ(q.Expected(1, {3, 5}), (std::vector<double>{4, 6}));
  const uint64_t b = q.Add(At(t0, 10), {4, 6});
  q.Done(b, At(t0, 20), 1, {8, 2});
  EXPECT_EQ(q.Expected(1, {3, 5}), (std::vector<double>{6, 4}));  // halfway
  EXPECT_EQ(q.Expected(2, {3, 5}), (std::vector<double>{3, 5}));  // another cell: predicted
  // A two-stage target's run without stage times does not enter the average.
  const uint64_t c = q.Add(At(t0, 20), {6, 4});
  q.Done(c, At(t0, 30), 2, {10});
  EXPECT_EQ(q.Expected(2, {3, 5}), (std::vector<double>{3, 5}));
  // One stage: a run's time, or its stages' sum.
  QueueEstimate one(1, 2);
  const uint64_t d = one.Add(t0, {1});
  one.Done(d, At(t0, 1), 0, {2, 3});
  EXPECT_EQ(one.Expected(0, {1}), std::vector<double>{5});
}

}  // namespace
}  // namespace autoscale
