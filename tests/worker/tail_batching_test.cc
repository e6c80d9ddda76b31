// Tail-aware batching's pure parts: the preferred sizes from stepped (GPU-like) and smooth
// (CPU-like) latency tables, the batcher's decision, the mode's resolution per device, and the
// measurement of a table through an executor whose latency steps.
#include "targets/worker/tail_batching.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>

namespace autoscale {
namespace {

// latency(b) = ceil(b / wave) * wave_ms for b = 1..max_batch: a GPU that runs `wave` samples per
// wave.
std::vector<double> Stepped(int max_batch, int wave, double wave_ms) {
  std::vector<double> t;
  for (int b = 1; b <= max_batch; ++b) t.push_back(((b + wave - 1) / wave) * wave_ms);
  return t;
}

std::vector<int> Range(int lo, int hi) {
  std::vector<int> r(static_cast<size_t>(hi - lo + 1));
  std::iota(r.begin(), r.end(), lo);
  return r;
}

std::vector<int> Concat(std::initializer_list<std::vector<int>> parts) {
  std::vector<int> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<int> Preferred(const std::vector<double>& table, double tolerance) {
  Result<std::vector<int>> p = PreferredBatchSizes(table, tolerance);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : std::vector<int>{};
}

TEST(PreferredBatchSizesTest, SteppedTableKeepsTheWellFilledWaves) {
  // ceil(b / 8) * 10 ms: 1.25 ms per sample at every full wave; 9 costs 2.22.
  const std::vector<double> t = Stepped(32, 8, 10);
  EXPECT_EQ(Preferred(t, 0.0), Concat({Range(1, 8), {16, 24, 32}}));
  // Within 10% of 1.25 ms: 15/16 of two waves, 22/24 of three, 30/32 of four.
  EXPECT_EQ(Preferred(t, 0.1), Concat({Range(1, 8), Range(15, 16), Range(22, 24), Range(30, 32)}));
  // A tolerance so wide that a half-empty second wave passes: 12 costs 1.67 ms (x1.33); 17, a
  // third wave for one sample, still does not (1.76 ms, x1.41).
  EXPECT_EQ(Preferred(t, 0.34), Concat({Range(1, 8), Range(12, 16), Range(18, 32)}));
}

TEST(PreferredBatchSizesTest, SmoothTablesPreferEverySize) {
  // A fixed cost plus a cost per sample (a GPU below its first full wave, or a CPU): the time per
  // sample only falls, so nothing is cut and tail-aware batching batches as plain batching does.
  std::vector<double> fixed_plus_linear, linear, noisy;
  for (int b = 1; b <= 16; ++b) {
    fixed_plus_linear.push_back(4.0 + 2.0 * b);
    linear.push_back(6.0 * b);
    noisy.push_back(6.0 * b * (1 + 0.04 * std::sin(b)));  // +-4%: measurement noise
  }
  EXPECT_EQ(Preferred(fixed_plus_linear, 0.1), Range(1, 16));
  EXPECT_EQ(Preferred(linear, 0.0), Range(1, 16));
  EXPECT_EQ(Preferred(noisy, 0.1), Range(1, 16));
}

// What a busy 2-core VM measured for MobileNet v2 (median of 5 passes per size, ms) while
// another benchmark ran: 3, 5, 7 and 8 look like new waves. The passes of each size spread by 50%
// or more, so none of those steps is taken for a wave; a quiet GPU's 2% spread leaves the
// tolerance to decide.
TEST(PreferredBatchSizesTest, StepsWithinTheMeasurementSpreadAreNotCut) {
  const std::vector<double> busy = {20.3, 41.4, 71.5, 82.8, 119.0, 108.0, 163.6, 223.3};
  EXPECT_EQ(Preferred(busy, 0.1), (std::vector<int>{1, 2, 4, 6}));
  const std::vector<double> wide(8, 0.6);
  Result<std::vector<int>> p = PreferredBatchSizes(busy, 0.1, wide);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, Range(1, 8));
  // One noisy size is kept by its own spread: 8 is 27.9 ms a sample, 55% over 18.0 at 6.
  std::vector<double> one(8, 0.02);
  one[7] = 0.6;
  EXPECT_EQ(*PreferredBatchSizes(busy, 0.1, one), (std::vector<int>{1, 2, 4, 6, 8}));
  const std::vector<double> t = Stepped(32, 8, 10);
  const std::vector<double> quiet(32, 0.02);
  EXPECT_EQ(*PreferredBatchSizes(t, 0.1, quiet), Preferred(t, 0.1));
  const std::vector<double> short_spread(4, 0.0), negative(32, -0.1);
  EXPECT_EQ(PreferredBatchSizes(t, 0.1, short_spread).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PreferredBatchSizes(t, 0.1, negative).status().code(), StatusCode::kInvalidArgument);
}

TEST(PreferredBatchSizesTest, BatchesThatCostMorePerSampleAreNotPreferred) {
  // Latency growing faster than the batch (b^2): batching only hurts, so only 1 is preferred.
  std::vector<double> quadratic;
  for (int b = 1; b <= 8; ++b) quadratic.push_back(1.0 * b * b);
  EXPECT_EQ(Preferred(quadratic, 0.1), std::vector<int>{1});
  EXPECT_EQ(Preferred({5.0}, 0.0), std::vector<int>{1});
}

TEST(PreferredBatchSizesTest, BadTablesAreRefused) {
  EXPECT_EQ(PreferredBatchSizes({}, 0.1).status().code(), StatusCode::kInvalidArgument);
  const std::vector<double> zero = {1.0, 0.0};
  Result<std::vector<int>> r = PreferredBatchSizes(zero, 0.1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("latency of batch size 2 must be a finite number of ms > 0"),
            std::string::npos)
      << r.status().message();
  const std::vector<double> nan = {1.0, std::nan("")};
  EXPECT_EQ(PreferredBatchSizes(nan, 0.1).status().code(), StatusCode::kInvalidArgument);
  const std::vector<double> ok = {1.0, 2.0};
  EXPECT_EQ(PreferredBatchSizes(ok, -0.5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PreferredBatchSizes(ok, INFINITY).status().code(), StatusCode::kInvalidArgument);
}

std::vector<int> Ones(int n) { return std::vector<int>(static_cast<size_t>(n), 1); }

// RequestsToBatch over vectors (braced lists do not convert to a span in C++20).
int Decide(const std::vector<int>& samples, int max_batch, const std::vector<int>& preferred,
           bool may_wait) {
  return RequestsToBatch(samples, max_batch, preferred, may_wait);
}

TEST(RequestsToBatchTest, PlainBatchingWaitsForAFullBatchOrTheBudget) {
  const std::vector<int> none;
  EXPECT_EQ(Decide(Ones(5), 8, none, /*may_wait=*/true), 0);
  EXPECT_EQ(Decide(Ones(5), 8, none, false), 5);
  EXPECT_EQ(Decide(Ones(8), 8, none, true), 8);
  EXPECT_EQ(Decide(Ones(9), 8, none, true), 8);
  // Requests stay whole and in order: 3 + 2 does not fit in 4 beside each other.
  EXPECT_EQ(Decide({3, 2, 1}, 4, none, true), 1);
  EXPECT_EQ(Decide({3, 1, 2}, 4, none, true), 2);
  EXPECT_EQ(Decide({}, 4, none, false), 0);
}

TEST(RequestsToBatchTest, TailAwareWaitsForAPreferredSizeAndCutsBackToOneAtTheBudget) {
  // Waves of 8 up to 32, tolerance 0: 1-8, 16, 24, 32.
  const std::vector<int> p = Preferred(Stepped(32, 8, 10), 0.0);
  // 9 queued: a new wave for one sample. Within the budget: wait (16 may still fill); at the
  // budget: the 8 of the full wave run, the ninth stays queued.
  EXPECT_EQ(Decide(Ones(9), 32, p, true), 0);
  EXPECT_EQ(Decide(Ones(9), 32, p, false), 8);
  EXPECT_EQ(Decide(Ones(20), 32, p, false), 16);
  // A preferred size below max_batch: still waits for more within the budget, as plain would.
  EXPECT_EQ(Decide(Ones(16), 32, p, true), 0);
  EXPECT_EQ(Decide(Ones(16), 32, p, false), 16);
  EXPECT_EQ(Decide(Ones(5), 32, p, false), 5);
  // More than max_batch queued: max_batch when it is preferred.
  EXPECT_EQ(Decide(Ones(40), 32, p, true), 32);
}

TEST(RequestsToBatchTest, TailAwareClosesAtOnceWhenNoLargerPreferredSizeCanFill) {
  // max_batch 12 over waves of 8: 9-12 start a second wave, so only 1-8 are preferred. With 8
  // queued nothing better can come: run them now rather than wait out the budget for 12.
  const std::vector<int> p = Preferred(Stepped(12, 8, 10), 0.1);
  ASSERT_EQ(p, Range(1, 8));
  EXPECT_EQ(Decide(Ones(8), 12, p, true), 8);
  EXPECT_EQ(Decide(Ones(7), 12, p, true), 0);
  // A full queue of 12 runs the 8 of the first wave even within the budget (plain runs 12).
  EXPECT_EQ(Decide(Ones(12), 12, p, true), 8);
  EXPECT_EQ(Decide(Ones(12), 12, {}, true), 12);
}

TEST(RequestsToBatchTest, TailAwareKeepsRequestsWholeAndInOrder) {
  const std::vector<int> p = {1, 2, 3, 4, 8};  // waves of 4 up to 8, tolerance 0
  // 3 + 3 = 6 is not preferred, and 3 + 3 + 3 does not fit: at the budget, the first 3 alone.
  EXPECT_EQ(Decide({3, 3, 3}, 8, p, false), 1);
  EXPECT_EQ(Decide({3, 3, 2}, 8, p, true), 3);  // 8: full and preferred
  // No run from the front is a preferred size: the longest run that fits, so none starves.
  const std::vector<int> only8 = {8};
  EXPECT_EQ(Decide({3, 3}, 8, only8, false), 2);
  EXPECT_EQ(Decide({3, 3}, 8, only8, true), 0);
}

TEST(ResolveTailAwareBatchingTest, AutoIsOnForCudaOnlyAndBadModesAreNamed) {
  EXPECT_EQ(*ResolveTailAwareBatching("auto", "cuda"), true);
  EXPECT_EQ(*ResolveTailAwareBatching("auto", "cpu"), false);  // the CPU default is off
  EXPECT_EQ(*ResolveTailAwareBatching("on", "cpu"), true);
  EXPECT_EQ(*ResolveTailAwareBatching("off", "cuda"), false);
  Result<bool> bad = ResolveTailAwareBatching("yes", "cpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("unknown tail-aware batching mode 'yes' (valid: auto, on, "
                                        "off"),
            std::string::npos)
      << bad.status().message();
}

TEST(FormatBatchSizesTest, RangesOfConsecutiveSizes) {
  EXPECT_EQ(FormatBatchSizes(Concat({Range(1, 8), Range(15, 16), {24}})), "1-8, 15-16, 24");
  EXPECT_EQ(FormatBatchSizes(std::vector<int>{}), "");
}

// Sleeps ceil(b / 4) * 4 ms per pass of b samples and reports it as the pass's compute time.
class SteppedExecutor final : public Executor {
 public:
  Result<HostTensor> Forward(const HostTensor& input, PassTimes* times) override {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t b = input.shape[0];
    if (fail_at_ > 0 && b == fail_at_) return Status::Internal("model 'stepped': out of memory");
    std::this_thread::sleep_for(std::chrono::milliseconds((b + 3) / 4 * 4));
    *times = PassTimes{
        0, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
        0};
    ++passes_;
    HostTensor out;
    out.shape = {b, 1};
    out.data.assign(static_cast<size_t>(b), 0.0f);
    return out;
  }
  const std::vector<int64_t>& output_shape() const override { return shape_; }
  bool batchable() const override { return true; }

  int passes_ = 0;
  int64_t fail_at_ = 0;

 private:
  std::vector<int64_t> shape_ = {1};
};

TEST(MeasureBatchLatencyTest, MeasuresTheStepsAndTheirPreferredSizes) {
  SteppedExecutor ex;
  std::vector<double> spread;
  Result<std::vector<double>> t = MeasureBatchLatency(ex, {2}, 6, 3, &spread);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 6u);
  EXPECT_EQ(ex.passes_, 6 * 3 * 2);  // 3 rounds of 2 passes (one timed) per size
  ASSERT_EQ(spread.size(), 6u);
  for (double s : spread) EXPECT_GE(s, 0);
  for (int b = 1; b <= 4; ++b) EXPECT_GE((*t)[b - 1], 4.0) << b;
  for (int b = 5; b <= 6; ++b) EXPECT_GE((*t)[b - 1], 8.0) << b;
  // 5 and 6 start a second wave: 1.6 and 1.33 ms per sample against 1 at 4.
  EXPECT_EQ(Preferred(*t, 0.1), Range(1, 4));

  SteppedExecutor failing;
  failing.fail_at_ = 3;
  Result<std::vector<double>> f = MeasureBatchLatency(failing, {2}, 6, 3);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(),
            "measuring the latency of batch size 3: model 'stepped': out of memory");
  EXPECT_EQ(MeasureBatchLatency(ex, {2}, 6, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(WarmBatchSizesTest, RunsEverySizeTwiceAndNamesTheOneThatFails) {
  SteppedExecutor ex;
  Result<WarmUpTimes> w = WarmBatchSizes(ex, {2}, 6);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(ex.passes_, 6 * 2);
  // Sizes 1-4 sleep 4 ms a pass, 5-6 8 ms: at least 32 ms in each set of passes.
  EXPECT_GE(w->first_ms, 32.0);
  EXPECT_GE(w->second_ms, 32.0);

  SteppedExecutor failing;
  failing.fail_at_ = 5;
  Result<WarmUpTimes> f = WarmBatchSizes(failing, {2}, 6);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "warming up batch size 5: model 'stepped': out of memory");
  EXPECT_EQ(failing.passes_, 4 * 2);
}

}  // namespace
}  // namespace autoscale
