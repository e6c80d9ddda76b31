// The dynamic batcher on its own, with a fake executor: batches fill up to the limit or the
// delay, rows go back to the right requests, loads fail and retry, Stop() drains.
#include "targets/worker/model_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace autoscale {
namespace {

using namespace std::chrono_literals;

// Doubles its input; records batch sizes; can hold a pass until released.
class FakeExecutor final : public Executor {
 public:
  struct Shared {
    std::mutex mu;
    std::vector<int> batches;  // samples per pass
    std::promise<void> release;
    std::shared_future<void> gate;
    std::atomic<bool> hold{false};
    std::atomic<bool> fail{false};  // passes fail (Internal)
    std::atomic<int> entered{0};
  };
  FakeExecutor(std::shared_ptr<Shared> s, bool batchable) : s_(std::move(s)), b_(batchable) {}

  Result<HostTensor> Forward(const HostTensor& input, PassTimes* times) override {
    ++s_->entered;
    if (s_->hold) s_->gate.wait();
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->batches.push_back(static_cast<int>(input.shape[0]));
    }
    if (s_->fail) return Status::Internal("model 'fake' failed (test)");
    *times = PassTimes{0.25, 1.5, 0.5};
    HostTensor out = input;
    for (float& v : out.data) v *= 2;
    return out;
  }
  const std::vector<int64_t>& output_shape() const override { return shape_; }
  bool batchable() const override { return b_; }

 private:
  std::shared_ptr<Shared> s_;
  bool b_;
  std::vector<int64_t> shape_ = {2};
};

struct Fixture {
  std::shared_ptr<FakeExecutor::Shared> shared = std::make_shared<FakeExecutor::Shared>();
  std::atomic<int> loads{0};
  std::atomic<int> fail_loads{0};  // this many loads fail first
  bool batchable = true;

  ModelLoader Loader() {
    shared->gate = shared->release.get_future().share();
    return [this]() -> Result<LoadedModel> {
      ++loads;
      if (fail_loads > 0) {
        --fail_loads;
        return Status::InvalidArgument("bad.yaml:1:1: input_shape missing");
      }
      auto spec = std::make_shared<ModelSpec>();
      spec->name = "fake";
      spec->input_shape = {2};
      return LoadedModel{spec, std::make_unique<FakeExecutor>(shared, batchable)};
    };
  }
  std::vector<int> batches() {
    std::lock_guard<std::mutex> lock(shared->mu);
    return shared->batches;
  }
};

WireTensor Input(float a, int64_t batch = 1) {
  WireTensor t;
  t.name = "input";
  t.shape = {batch, 2};
  for (int64_t i = 0; i < batch; ++i) {
    t.fp32.push_back(a + i);
    t.fp32.push_back(-a - i);
  }
  return t;
}

std::future<Result<InferOutcome>> Submit(ModelQueue& q, WireTensor t) {
  auto p = std::make_shared<std::promise<Result<InferOutcome>>>();
  auto f = p->get_future();
  q.Submit(std::move(t), [p](Result<InferOutcome> r) { p->set_value(std::move(r)); });
  return f;
}

Result<InferOutcome> Get(std::future<Result<InferOutcome>>& f) {
  if (f.wait_for(10s) != std::future_status::ready) return Status::Internal("no answer in 10 s");
  return f.get();
}

BatchingOptions Batching(int max_batch, std::chrono::microseconds delay) {
  BatchingOptions o;
  o.max_batch_size = max_batch;
  o.max_queue_delay_us = delay.count();
  return o;
}

TEST(ModelQueueTest, FullBatchRunsWithoutWaitingOutTheDelay) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), Batching(4, 10s), nullptr, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<Result<InferOutcome>>> fs;
  for (int i = 0; i < 4; ++i) fs.push_back(Submit(q, Input(10.0f * i)));
  for (int i = 0; i < 4; ++i) {
    Result<InferOutcome> r = Get(fs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 4);
    EXPECT_EQ(r->output.shape, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(r->output.data, (std::vector<float>{20.0f * i, -20.0f * i}));  // its own row
    EXPECT_DOUBLE_EQ(r->compute_ms, 2.25);  // the pass with its copies to and from the device
    EXPECT_GE(r->queue_ms, 0);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(fx.batches(), (std::vector<int>{4}));
  EXPECT_EQ(fx.loads, 1);
}

TEST(ModelQueueTest, LoneRequestRunsAfterTheDelay) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), Batching(8, 50ms), nullptr, nullptr);
  q.Load();
  auto info = std::make_shared<std::promise<void>>();
  q.WhenLoaded([info](Result<ModelInfo>) { info->set_value(); });
  info->get_future().wait();
  const auto t0 = std::chrono::steady_clock::now();
  auto f = Submit(q, Input(1));
  Result<InferOutcome> r = Get(f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_GE(r->queue_ms, 49.0);
  EXPECT_EQ(r->batch_size, 1);
}

TEST(ModelQueueTest, SplitsAtMaxBatchAndKeepsMultiRowRequestsWhole) {
  Fixture fx;
  fx.shared->hold = true;
  std::vector<int> observed;
  ModelQueue q(
      "fake", fx.Loader(), Batching(4, 0us),
      [&](const BatchReport& b) { observed.push_back(b.samples); }, nullptr);
  auto first = Submit(q, Input(0));
  while (fx.shared->entered == 0) std::this_thread::sleep_for(1ms);  // the first pass is held
  std::vector<std::future<Result<InferOutcome>>> fs;
  fs.push_back(Submit(q, Input(1, 3)));  // 3 rows
  fs.push_back(Submit(q, Input(5, 2)));  // 2 rows: does not fit beside the 3
  fs.push_back(Submit(q, Input(8)));
  fs.push_back(Submit(q, Input(9)));
  fx.shared->release.set_value();
  ASSERT_TRUE(Get(first).ok());
  Result<InferOutcome> a = Get(fs[0]);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->output.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(a->output.data, (std::vector<float>{2, -2, 4, -4, 6, -6}));
  EXPECT_EQ(a->batch_size, 3);
  Result<InferOutcome> b = Get(fs[1]);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->output.data, (std::vector<float>{10, -10, 12, -12}));
  EXPECT_EQ(b->batch_size, 4);  // with the two single rows
  EXPECT_EQ(Get(fs[3])->output.data, (std::vector<float>{18, -18}));
  EXPECT_EQ(fx.batches(), (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(observed, (std::vector<int>{1, 3, 4}));
}

// The observer hears of every pass before its requests are answered: samples, requests, and
// Triton's compute input / infer / output split (the executor's times, plus joining the
// requests' inputs and cutting out their rows on the host); a failed pass is reported as such.
TEST(ModelQueueTest, ReportsEachPassWithItsTimes) {
  Fixture fx;
  std::mutex mu;
  std::vector<BatchReport> reports;  // guarded by mu
  ModelQueue q(
      "fake", fx.Loader(), Batching(4, 10s),
      [&](const BatchReport& b) {
        std::lock_guard<std::mutex> lock(mu);
        reports.push_back(b);
      },
      nullptr);
  std::vector<std::future<Result<InferOutcome>>> fs;
  fs.push_back(Submit(q, Input(1, 3)));
  fs.push_back(Submit(q, Input(2)));
  for (auto& f : fs) ASSERT_TRUE(Get(f).ok());
  fx.shared->fail = true;
  auto failed = Submit(q, Input(3, 4));
  EXPECT_EQ(Get(failed).status().code(), StatusCode::kInternal);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(reports[0].ok);
  EXPECT_EQ(reports[0].samples, 4);
  EXPECT_EQ(reports[0].requests, 2);
  EXPECT_DOUBLE_EQ(reports[0].compute_ms, 1.5);
  EXPECT_GE(reports[0].input_ms, 0.25);
  EXPECT_GE(reports[0].output_ms, 0.5);
  EXPECT_FALSE(reports[1].ok);
  EXPECT_EQ(reports[1].samples, 4);
  EXPECT_EQ(reports[1].requests, 1);
}

// Issue 10, item 8: a request's own batch runs as one pass, so it may not exceed
// max_batch_size; it is refused before its input is converted.
TEST(ModelQueueTest, RequestBatchOverMaxBatchIsRefused) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), Batching(2, 0us), nullptr, nullptr);
  auto big_future = Submit(q, Input(1, 3));
  Result<InferOutcome> big = Get(big_future);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find(
                "the request's batch of 3 samples exceeds the worker's max_batch_size of 2"),
            std::string::npos)
      << big.status().message();
  auto fits_future = Submit(q, Input(1, 2));
  Result<InferOutcome> fits = Get(fits_future);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->output.shape[0], 2);
  EXPECT_EQ(fx.batches(), (std::vector<int>{2}));
}

TEST(ModelQueueTest, BadInputIsRejectedBeforeQueueing) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), Batching(4, 0us), nullptr, nullptr);
  WireTensor bad = Input(1);
  bad.shape = {1, 3};
  bad.fp32.push_back(0);
  auto f = Submit(q, bad);  // before the load: converted after it
  Result<InferOutcome> r = Get(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("does not fit the model's input [N, 2]"), std::string::npos)
      << r.status().message();
  auto g = Submit(q, bad);  // after the load: converted by Submit
  EXPECT_EQ(Get(g).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fx.batches().empty());
}

TEST(ModelQueueTest, FailedLoadAnswersEveryoneAndRetries) {
  Fixture fx;
  fx.fail_loads = 1;
  BatchingOptions b = Batching(4, 0us);
  b.load_retry_backoff_ms = 0;
  ModelQueue q("fake", fx.Loader(), b, nullptr, nullptr);
  auto f = Submit(q, Input(1));
  Result<InferOutcome> r = Get(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(r.status().message(),
            "model 'fake' could not be loaded: bad.yaml:1:1: input_shape missing");
  EXPECT_EQ(q.last_error().message(), r.status().message());
  EXPECT_FALSE(q.info().has_value());
  auto g = Submit(q, Input(1));  // the next request loads again, and this time it works
  ASSERT_TRUE(Get(g).ok());
  EXPECT_EQ(fx.loads, 2);
  EXPECT_TRUE(q.last_error().ok());
  ASSERT_TRUE(q.info().has_value());
  EXPECT_EQ(q.info()->output_shape, (std::vector<int64_t>{2}));
}

// After a failed load, requests within the back-off get its error without a new load: clients
// cannot make a broken model load back to back (each load parses the whole file).
TEST(ModelQueueTest, FailedLoadIsNotRetriedWithinTheBackOff) {
  Fixture fx;
  fx.fail_loads = 1;
  BatchingOptions b = Batching(4, 0us);
  b.load_retry_backoff_ms = 300;
  ModelQueue q("fake", fx.Loader(), b, nullptr, nullptr);
  auto f = Submit(q, Input(1));
  ASSERT_FALSE(Get(f).ok());
  for (int i = 0; i < 5; ++i) {
    auto g = Submit(q, Input(1));
    Result<InferOutcome> r = Get(g);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("input_shape missing (not loaded again for"),
              std::string::npos)
        << r.status().message();
  }
  EXPECT_EQ(fx.loads, 1);
  std::this_thread::sleep_for(350ms);
  auto h = Submit(q, Input(1));
  ASSERT_TRUE(Get(h).ok());
  EXPECT_EQ(fx.loads, 2);
}

TEST(ModelQueueTest, UnbatchableModelRunsOneByOne) {
  Fixture fx;
  fx.batchable = false;
  ModelQueue q("fake", fx.Loader(), Batching(8, 20ms), nullptr, nullptr);
  std::vector<std::future<Result<InferOutcome>>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(Submit(q, Input(i)));
  for (auto& f : fs) EXPECT_EQ(Get(f)->batch_size, 1);
  auto multi = Submit(q, Input(1, 2));
  Result<InferOutcome> r = Get(multi);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("takes one sample per request"), std::string::npos);
  EXPECT_EQ(fx.batches(), (std::vector<int>{1, 1, 1}));
}

TEST(ModelQueueTest, StopDrainsWithoutWaitingAndRefusesNewWork) {
  Fixture fx;
  BatchingOptions o = Batching(64, 30s);
  o.max_queue = 5;
  Gauge depth;
  ModelQueue q("fake", fx.Loader(), o, nullptr, &depth);
  std::vector<std::future<Result<InferOutcome>>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(Submit(q, Input(i)));
  auto full = Submit(q, Input(9));
  Result<InferOutcome> refused = Get(full);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("queue full"), std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  q.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  for (auto& f : fs) {
    Result<InferOutcome> r = Get(f);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 5);
  }
  EXPECT_EQ(depth.value(), 0);
  auto late = Submit(q, Input(1));
  EXPECT_EQ(Get(late).status().code(), StatusCode::kUnavailable);
  auto info = std::make_shared<std::promise<Status>>();
  q.WhenLoaded([info](Result<ModelInfo> r) { info->set_value(r.status()); });
  EXPECT_TRUE(info->get_future().get().ok());  // loaded during the drain
}

// ---- Tail-aware batching (tail_batching.h), with latency tables given instead of measured ----

// latency(b) = ceil(b / wave) * 10 ms for b = 1..max_batch: a GPU that runs `wave` samples a wave.
std::vector<double> Stepped(int max_batch, int wave) {
  std::vector<double> t;
  for (int b = 1; b <= max_batch; ++b) t.push_back(((b + wave - 1) / wave) * 10.0);
  return t;
}

BatchingOptions TailAware(int max_batch, std::chrono::microseconds delay, std::vector<double> table,
                          double tolerance = 0.0) {
  BatchingOptions o = Batching(max_batch, delay);
  o.tail_aware = true;
  o.tail_tolerance = tolerance;
  o.batch_latency_ms = std::move(table);
  return o;
}

Result<ModelInfo> LoadNow(ModelQueue& q) {
  auto p = std::make_shared<std::promise<Result<ModelInfo>>>();
  auto f = p->get_future();
  q.WhenLoaded([p](Result<ModelInfo> r) { p->set_value(std::move(r)); });
  if (f.wait_for(10s) != std::future_status::ready) return Status::Internal("no load in 10 s");
  return f.get();
}

std::vector<int> OneTo(int n) {
  std::vector<int> v;
  for (int i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

TEST(TailAwareQueueTest, LoadGivesTheTableAndThePreferredSizes) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), TailAware(16, 1ms, Stepped(16, 8), 0.1), nullptr, nullptr);
  Result<ModelInfo> info = LoadNow(q);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->tail_aware());
  EXPECT_EQ(info->batch_latency_ms, Stepped(16, 8));
  std::vector<int> want = OneTo(8);
  want.insert(want.end(), {15, 16});  // 15: 1.33 ms a sample, 7% over 1.25
  EXPECT_EQ(info->preferred_batch_sizes, want);
  EXPECT_TRUE(fx.batches().empty());  // a given table: nothing ran to measure it

  Fixture plain;
  ModelQueue p("fake", plain.Loader(), Batching(16, 1ms), nullptr, nullptr);
  Result<ModelInfo> off = LoadNow(p);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->tail_aware());
  EXPECT_TRUE(off->batch_latency_ms.empty());

  Fixture wrong;
  ModelQueue w("fake", wrong.Loader(), TailAware(16, 1ms, Stepped(8, 8)), nullptr, nullptr);
  Result<ModelInfo> bad = LoadNow(w);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "model 'fake' could not be loaded: the latency table for tail-aware batching has 8 "
            "entries; it needs one per batch size 1..16");
}

TEST(TailAwareQueueTest, MeasuresTheTableAtLoadWhenNoneIsGiven) {
  Fixture fx;
  BatchingOptions o = TailAware(4, 1ms, {}, 0.1);
  o.tail_timed_runs = 2;
  ModelQueue q("fake", fx.Loader(), o, nullptr, nullptr);
  Result<ModelInfo> info = LoadNow(q);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  // 2 rounds of each size 1..4 in turn, each run twice (the second timed), on the model itself.
  EXPECT_EQ(fx.batches(), (std::vector<int>{1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4}));
  // The fake reports 2.25 ms for any batch: no steps, so every size is preferred.
  EXPECT_EQ(info->batch_latency_ms, (std::vector<double>{2.25, 2.25, 2.25, 2.25}));
  EXPECT_EQ(info->preferred_batch_sizes, OneTo(4));
}

TEST(TailAwareQueueTest, OffForAModelThatDoesNotBatch) {
  Fixture fx;
  fx.batchable = false;
  ModelQueue q("fake", fx.Loader(), TailAware(8, 1ms, {}), nullptr, nullptr);
  Result<ModelInfo> info = LoadNow(q);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->tail_aware());
  EXPECT_TRUE(fx.batches().empty());  // nothing measured
}

TEST(ModelQueueWarmUpTest, WarmsEverySizeOnceUnlessTheTailAwareTableMeasuredThem) {
  // Plain batching with the warm-up (as on CUDA): each size twice, in turn, before any request.
  Fixture fx;
  BatchingOptions o = Batching(3, 1ms);
  o.warm_batch_sizes = true;
  ModelQueue q("fake", fx.Loader(), o, nullptr, nullptr);
  ASSERT_TRUE(LoadNow(q).ok());
  EXPECT_EQ(fx.batches(), (std::vector<int>{1, 1, 2, 2, 3, 3}));

  // Tail-aware batching measured the sizes already: no second warm-up.
  Fixture measured;
  BatchingOptions m = TailAware(3, 1ms, {}, 0.1);
  m.tail_timed_runs = 1;
  m.warm_batch_sizes = true;
  ModelQueue t("fake", measured.Loader(), m, nullptr, nullptr);
  ASSERT_TRUE(LoadNow(t).ok());
  EXPECT_EQ(measured.batches(), (std::vector<int>{1, 1, 2, 2, 3, 3}));

  // Off (the CPU), or a model that does not batch: nothing runs at load.
  Fixture off;
  ModelQueue n("fake", off.Loader(), Batching(3, 1ms), nullptr, nullptr);
  ASSERT_TRUE(LoadNow(n).ok());
  EXPECT_TRUE(off.batches().empty());
  Fixture single;
  single.batchable = false;
  ModelQueue u("fake", single.Loader(), o, nullptr, nullptr);
  ASSERT_TRUE(LoadNow(u).ok());
  EXPECT_TRUE(single.batches().empty());

  // A pass that fails at load fails the load, naming the size.
  Fixture failing;
  failing.shared->fail = true;
  ModelQueue f("fake", failing.Loader(), o, nullptr, nullptr);
  Result<ModelInfo> bad = LoadNow(f);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "model 'fake' could not be loaded: warming up batch size 1: model 'fake' failed "
            "(test)");
}

// 9 queued is a second wave for one sample: within the budget the batcher waits, and when 16
// (two full waves) are queued it runs them as one batch.
TEST(TailAwareQueueTest, WaitsWithinTheBudgetToFillAPreferredSize) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), TailAware(16, 5s, Stepped(16, 8)), nullptr, nullptr);
  ASSERT_TRUE(LoadNow(q).ok());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<Result<InferOutcome>>> fs;
  for (int i = 0; i < 9; ++i) fs.push_back(Submit(q, Input(i)));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fx.shared->entered, 0);  // 8 were there to run: it did not cut them off
  for (int i = 9; i < 16; ++i) fs.push_back(Submit(q, Input(i)));
  for (int i = 0; i < 16; ++i) {
    Result<InferOutcome> r = Get(fs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 16);
    EXPECT_EQ(r->output.data, (std::vector<float>{2.0f * i, -2.0f * i}));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);  // full: it did not wait out the 5 s
  EXPECT_EQ(fx.batches(), (std::vector<int>{16}));
}

// At the budget, 11 queued run as the 8 of a full wave; the 3 left wait for company under their
// own budget and then run. Plain batching runs all 11 at once (a second wave for 3 samples).
TEST(TailAwareQueueTest, ClosesTheLargestPreferredSizeAtTheBudget) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), TailAware(16, 100ms, Stepped(16, 8)), nullptr, nullptr);
  ASSERT_TRUE(LoadNow(q).ok());
  std::vector<std::future<Result<InferOutcome>>> fs;
  std::vector<std::chrono::steady_clock::time_point> sent;
  for (int i = 0; i < 11; ++i) {
    sent.push_back(std::chrono::steady_clock::now());
    fs.push_back(Submit(q, Input(i)));
  }
  for (int i = 0; i < 11; ++i) {
    Result<InferOutcome> r = Get(fs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, i < 8 ? 8 : 3) << i;
    EXPECT_EQ(r->output.data, (std::vector<float>{2.0f * i, -2.0f * i}));
    // It waited out the budget of its batch's oldest request (0, or 8 for the 3 left), and not
    // much beyond it: a request sent after the oldest waited that much less (on a loaded machine
    // the 11 submissions took 4 ms).
    const double after_oldest =
        std::chrono::duration<double, std::milli>(sent[i] - sent[i < 8 ? 0 : 8]).count();
    EXPECT_GE(r->queue_ms + after_oldest, 99.0) << i;
    EXPECT_LT(r->queue_ms, 100.0 + 400.0) << i;
  }
  EXPECT_EQ(fx.batches(), (std::vector<int>{8, 3}));

  Fixture plain_fx;
  ModelQueue plain("fake", plain_fx.Loader(), Batching(16, 100ms), nullptr, nullptr);
  ASSERT_TRUE(LoadNow(plain).ok());
  std::vector<std::future<Result<InferOutcome>>> ps;
  for (int i = 0; i < 11; ++i) ps.push_back(Submit(plain, Input(i)));
  for (auto& f : ps) ASSERT_TRUE(Get(f).ok());
  EXPECT_EQ(plain_fx.batches(), (std::vector<int>{11}));
}

// max_batch 12 over waves of 8: only 1-8 are preferred. 8 queued run at once, since nothing
// better can fill (plain batching would wait out the 10 s budget for 12). A queue of 13 that
// built up behind a held pass runs as the 8 of a wave; the 5 left wait, within their own budget,
// for company, and run when the queue is stopped (plain: 12, then 1).
TEST(TailAwareQueueTest, SplitsAQueueIntoAPreferredBatchAndTheRest) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), TailAware(12, 10s, Stepped(12, 8), 0.1), nullptr, nullptr);
  Result<ModelInfo> info = LoadNow(q);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->preferred_batch_sizes, OneTo(8));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<Result<InferOutcome>>> first;
  for (int i = 0; i < 8; ++i) first.push_back(Submit(q, Input(i)));
  for (auto& f : first) {
    Result<InferOutcome> r = Get(f);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 8);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  fx.shared->hold = true;
  std::vector<std::future<Result<InferOutcome>>> held;
  for (int i = 0; i < 8; ++i) held.push_back(Submit(q, Input(100 + i)));
  while (fx.shared->entered < 2) std::this_thread::sleep_for(1ms);  // that pass is held
  std::vector<std::future<Result<InferOutcome>>> fs;
  for (int i = 0; i < 13; ++i) fs.push_back(Submit(q, Input(i)));
  fx.shared->release.set_value();
  for (auto& f : held) ASSERT_TRUE(Get(f).ok());
  for (int i = 0; i < 8; ++i) {
    Result<InferOutcome> r = Get(fs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 8);
    EXPECT_EQ(r->output.data, (std::vector<float>{2.0f * i, -2.0f * i}));
  }
  std::this_thread::sleep_for(100ms);
  for (int i = 8; i < 13; ++i) {
    EXPECT_EQ(fs[i].wait_for(0s), std::future_status::timeout) << i << " ran without waiting";
  }
  q.Stop();
  for (int i = 8; i < 13; ++i) {
    Result<InferOutcome> r = Get(fs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->batch_size, 5);
    EXPECT_EQ(r->output.data, (std::vector<float>{2.0f * i, -2.0f * i}));
  }
  EXPECT_EQ(fx.batches(), (std::vector<int>{8, 8, 8, 5}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

// Clients sending requests of 1 to 3 samples at once through a tail-aware queue: each is
// answered exactly once, with its own rows, and every batch fits max_batch.
TEST(TailAwareQueueTest, EveryRequestIsAnsweredExactlyOnce) {
  Fixture fx;
  ModelQueue q("fake", fx.Loader(), TailAware(16, 2ms, Stepped(16, 8), 0.1), nullptr, nullptr);
  constexpr int kClients = 4, kEach = 60;
  std::vector<std::atomic<int>> answers(kClients * kEach);
  std::atomic<int> wrong{0};
  std::atomic<long> samples_sent{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        const int id = c * kEach + i;
        const int64_t n = 1 + (id % 3);
        samples_sent += n;
        WireTensor in = Input(static_cast<float>(id), n);
        std::vector<float> want = in.fp32;
        for (float& v : want) v *= 2;
        auto done = std::make_shared<std::promise<void>>();
        q.Submit(std::move(in), [&, id, want, done](Result<InferOutcome> r) {
          ++answers[id];
          if (!r.ok() || r->output.data != want || r->batch_size > 16) ++wrong;
          done->set_value();
        });
        if (i % 4 == 3) done->get_future().wait();  // now and then, wait for the answer
      }
    });
  }
  for (auto& t : clients) t.join();
  q.Stop();  // answers whatever is still queued
  for (int id = 0; id < kClients * kEach; ++id) EXPECT_EQ(answers[id], 1) << id;
  EXPECT_EQ(wrong, 0);
  long ran = 0;
  for (int b : fx.batches()) {
    EXPECT_LE(b, 16);
    ran += b;
  }
  EXPECT_EQ(ran, samples_sent);
}

}  // namespace
}  // namespace autoscale
