// A bound on the bytes that requests being served hold at once (the worker's --max-queue-bytes,
// the daemon's max_inflight_mb): a charge that does not fit is refused whole, so the bound is
// never passed, not even briefly. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>

namespace autoscale {

class ByteBudget {
 public:
  explicit ByteBudget(size_t limit) : limit_(limit) {}

  // Charges `bytes`; false (nothing charged) when they do not fit under the limit.
  bool TryHold(size_t bytes) {
    size_t cur = held_.load();
    do {
      if (bytes > limit_ || cur > limit_ - bytes) return false;
    } while (!held_.compare_exchange_weak(cur, cur + bytes));
    return true;
  }
  void Release(size_t bytes) { held_.fetch_sub(bytes); }

  size_t held() const { return held_.load(); }
  size_t limit() const { return limit_; }
  // Not thread-safe: set it before the budget is shared.
  void set_limit(size_t limit) { limit_ = limit; }

 private:
  size_t limit_;
  std::atomic<size_t> held_{0};
};

}  // namespace autoscale
