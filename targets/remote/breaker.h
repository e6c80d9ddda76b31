// A circuit breaker for one remote worker: after `failures_to_open` consecutive failures
// (transport errors, 5xx answers, deadline expiries, failed health probes) it opens and requests
// fail fast; after `open_cooldown_ms` a half-open probe may close it again. Plain state with no
// lock of its own: the owner (RemoteTarget) guards it. Times are passed in, so tests need no
// sleeps.
#pragma once

#include <chrono>
#include <string>

namespace autoscale {

struct BreakerOptions {
  int failures_to_open = 3;
  int open_cooldown_ms = 1000;  // open this long before a half-open probe may close it
};

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit CircuitBreaker(BreakerOptions options) : options_(options) {}

  // Whether a request may go to the worker now. Closed: yes. Open: no, except that once the
  // cooldown has passed and `trial_allowed`, one request becomes the half-open trial (state
  // kHalfOpen; others are refused until its outcome is recorded).
  bool Allow(Clock::time_point now, bool trial_allowed);
  // Whether a health probe may close the breaker now: open (or half-open) and cooled down.
  bool ProbeDue(Clock::time_point now) const;

  // A request or probe that the worker answered properly: closes the breaker.
  void Success();
  // A worker failure; `reason` says what failed. Opens the breaker at the threshold, and again at
  // once when a half-open trial or probe fails (the cooldown restarts).
  void Failure(const std::string& reason, Clock::time_point now);
  // A request that ended with no verdict on the worker (cancelled at shutdown): frees the trial.
  void Abandon();

  State state() const { return state_; }
  bool open() const { return state_ != State::kClosed; }
  int consecutive_failures() const { return failures_; }
  int opened_count() const { return opened_count_; }  // how often it opened, for metrics
  // "breaker open after 3 failures: <the last failure>", or "" while closed.
  std::string Reason() const;

 private:
  const BreakerOptions options_;
  State state_ = State::kClosed;
  int failures_ = 0;
  int failures_at_open_ = 0;
  int opened_count_ = 0;
  bool trial_in_flight_ = false;
  Clock::time_point opened_at_{};
  std::string last_failure_;
};

}  // namespace autoscale
