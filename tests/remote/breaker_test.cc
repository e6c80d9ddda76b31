// The circuit breaker's states and the link estimator's formulas, with no network.
#include "targets/remote/breaker.h"

#include <gtest/gtest.h>

#include "targets/remote/link_estimator.h"

namespace autoscale {
namespace {

using namespace std::chrono_literals;
using Clock = CircuitBreaker::Clock;

TEST(CircuitBreaker, OpensAtTheThresholdAndASuccessResets) {
  CircuitBreaker b({.failures_to_open = 3, .open_cooldown_ms = 100});
  const Clock::time_point t0 = Clock::now();
  b.Failure("a", t0);
  b.Failure("b", t0);
  b.Success();  // consecutive failures only
  b.Failure("c", t0);
  b.Failure("d", t0);
  EXPECT_TRUE(b.Allow(t0, true));
  b.Failure("e", t0);
  EXPECT_TRUE(b.open());
  EXPECT_EQ(b.Reason(), "breaker open after 3 failures: e");
  EXPECT_EQ(b.opened_count(), 1);
  EXPECT_FALSE(b.Allow(t0 + 50ms, true));
  EXPECT_FALSE(b.ProbeDue(t0 + 50ms));
  EXPECT_TRUE(b.ProbeDue(t0 + 100ms));
}

TEST(CircuitBreaker, OneHalfOpenTrialAtATime) {
  CircuitBreaker b({.failures_to_open = 1, .open_cooldown_ms = 100});
  const Clock::time_point t0 = Clock::now();
  b.Failure("down", t0);
  EXPECT_FALSE(b.Allow(t0 + 200ms, /*trial_allowed=*/false));  // probes do the trial
  EXPECT_TRUE(b.Allow(t0 + 200ms, true));
  EXPECT_EQ(b.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_FALSE(b.Allow(t0 + 200ms, true));
  b.Failure("still down", t0 + 210ms);  // re-opens, the cooldown restarts
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.Allow(t0 + 250ms, true));
  EXPECT_TRUE(b.Allow(t0 + 310ms, true));
  b.Abandon();
  EXPECT_TRUE(b.Allow(t0 + 310ms, true));
  b.Success();
  EXPECT_FALSE(b.open());
  EXPECT_EQ(b.Reason(), "");
}

TEST(LinkEstimator, RttFromProbesAndSmallExchanges) {
  LinkEstimator l;
  l.AddProbe(10, 0);
  EXPECT_DOUBLE_EQ(l.estimate().rtt_ms, 10);
  l.AddProbe(25, 5);  // a fresh connection: its set-up is not the RTT
  EXPECT_DOUBLE_EQ(l.estimate().rtt_ms, 10 + LinkEstimator::kAlpha * (20 - 10));
  LinkEstimator s;
  s.AddExchange(
      {.elapsed_ms = 30, .bytes_up = 100, .bytes_down = 100, .compute_ms = 15, .queue_ms = 5});
  EXPECT_DOUBLE_EQ(s.estimate().rtt_ms, 10);
  s.AddExchange({.elapsed_ms = 30, .bytes_up = 100, .bytes_down = 100});  // no worker times
  EXPECT_EQ(s.estimate().samples, 1);
}

TEST(LinkEstimator, ThroughputFromLargeExchanges) {
  LinkEstimator l;
  l.AddProbe(10, 0);
  // 1 MB up, small down: 10 ms RTT + 5 ms compute + 80 ms upload = 95 ms -> 100 Mbit/s.
  l.AddExchange({.elapsed_ms = 95,
                 .write_ms = 20,
                 .bytes_up = 1000000,
                 .bytes_down = 1000,
                 .compute_ms = 5,
                 .queue_ms = 0});
  EXPECT_NEAR(l.estimate().up_mbps, 100, 1e-9);
  EXPECT_EQ(l.estimate().down_mbps, 0);
  // 1 MB down: 10 + 5 + 40 ms -> 200 Mbit/s (the 1 kB upload's share is 0.08 ms at 100).
  l.AddExchange({.elapsed_ms = 55.08,
                 .bytes_up = 1000,
                 .bytes_down = 1000000,
                 .compute_ms = 5,
                 .queue_ms = 0});
  EXPECT_NEAR(l.estimate().down_mbps, 200, 1e-6);
}

}  // namespace
}  // namespace autoscale
