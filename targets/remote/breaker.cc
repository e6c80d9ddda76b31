#include "targets/remote/breaker.h"

namespace autoscale {

bool CircuitBreaker::Allow(Clock::time_point now, bool trial_allowed) {
  if (state_ == State::kClosed) return true;
  if (!trial_allowed || trial_in_flight_ || !ProbeDue(now)) return false;
  state_ = State::kHalfOpen;
  trial_in_flight_ = true;
  return true;
}

bool CircuitBreaker::ProbeDue(Clock::time_point now) const {
  return state_ != State::kClosed &&
         now - opened_at_ >= std::chrono::milliseconds(options_.open_cooldown_ms);
}

void CircuitBreaker::Success() {
  state_ = State::kClosed;
  failures_ = 0;
  trial_in_flight_ = false;
}

void CircuitBreaker::Failure(const std::string& reason, Clock::time_point now) {
  ++failures_;
  last_failure_ = reason;
  trial_in_flight_ = false;
  if (state_ != State::kClosed || failures_ >= options_.failures_to_open) {
    if (state_ == State::kClosed) {
      ++opened_count_;
      failures_at_open_ = failures_;
    }
    state_ = State::kOpen;
    opened_at_ = now;
  }
}

void CircuitBreaker::Abandon() {
  if (trial_in_flight_) {
    trial_in_flight_ = false;
    if (state_ == State::kHalfOpen) state_ = State::kOpen;
  }
}

std::string CircuitBreaker::Reason() const {
  if (state_ == State::kClosed) return "";
  return "breaker open after " + std::to_string(failures_at_open_) + " failures: " + last_failure_;
}

}  // namespace autoscale
