// One model's request queue and its batcher thread (the worker's dynamic batcher). The thread
// loads the model, forms batches, runs them and hands each request its rows. No HTTP here: each
// request's outcome goes to its callback. No torch either: the model is behind Executor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/prometheus.h"
#include "core/status.h"
#include "targets/kserve/kserve.h"
#include "targets/target.h"
#include "targets/worker/executor.h"

namespace autoscale {

struct LoadedModel {
  std::shared_ptr<const ModelSpec> spec;
  std::unique_ptr<Executor> executor;
};
// Builds the model; called on the batcher thread.
using ModelLoader = std::function<Result<LoadedModel>()>;

// What a loaded model looks like from outside.
struct ModelInfo {
  std::shared_ptr<const ModelSpec> spec;
  std::vector<int64_t> output_shape;  // without the batch
  bool batchable = true;
  // Tail-aware batching (BatchingOptions::tail_aware), on for this model when asked and it
  // batches: its latency per batch size ([b - 1]: ms for a pass of b samples, measured at load
  // or given) and the sizes its batches close at (PreferredBatchSizes). Both empty when off.
  std::vector<double> batch_latency_ms;
  std::vector<int> preferred_batch_sizes;
  bool tail_aware() const { return !preferred_batch_sizes.empty(); }
};

struct InferOutcome {
  HostTensor output;      // this request's rows of the batch's output
  double compute_ms = 0;  // the batch's forward pass with its copies (PassTimes::total_ms)
  double queue_ms = 0;    // from Submit to the start of the pass
  int batch_size = 0;     // samples in the pass
};
using InferDone = std::function<void(Result<InferOutcome>)>;

struct BatchingOptions {
  // Samples per pass (1 = no batching); a request of more samples is refused (InvalidArgument).
  int max_batch_size = 8;
  int64_t max_queue_delay_us = 2000;  // how long the oldest request waits for company
  int max_queue = 1024;               // queued requests beyond which Submit answers Unavailable
  // After a failed load, requests are answered with its error, without loading again, for this
  // long, doubling with each failure up to 30 s (0: every request tries again).
  int load_retry_backoff_ms = 1000;
  // Tail-aware batching (targets/worker/tail_batching.h): at load, the latency of each batch
  // size 1..max_batch_size is measured on the model's device, and batches are then closed only
  // at the preferred sizes it gives (PreferredBatchSizes with `tail_tolerance`), waiting within
  // the oldest request's max_queue_delay_us to fill one (RequestsToBatch). Off: plain dynamic
  // batching. Ignored for a model that does not batch.
  bool tail_aware = false;
  double tail_tolerance = 0.1;
  int tail_timed_runs = 5;  // timed passes per batch size after one warm-up; the median counts
  // With tail_aware, this table instead of a measurement ([b - 1]: ms for a pass of b samples,
  // max_batch_size entries, else the load fails): for tests, or a table measured before.
  std::vector<double> batch_latency_ms;
  // At load, run every batch size 1..max_batch_size twice (WarmBatchSizes) unless tail-aware
  // batching measured them already: the worker sets it on CUDA, where a shape's first pass pays
  // for cuDNN's algorithm choice and the allocator's new blocks (ResNet-50's first passes of the
  // sizes 1..64 took 2.7-4.3 s on an H200, the second ones 0.51-0.57 s; README).
  bool warm_batch_sizes = false;
};

// One forward pass as the batcher saw it, for the worker's metrics. The three times are
// Triton's compute input / infer / output of the pass (once per pass, not per request).
struct BatchReport {
  int samples = 0;        // in the pass
  int requests = 0;       // whose samples it held
  bool ok = false;        // the pass ran and each request got its rows (else each got the error)
  double input_ms = 0;    // the requests' inputs joined into the batch, and onto the device
  double compute_ms = 0;  // the forward pass
  double output_ms = 0;   // the output back on the host, and each request's rows cut out
};

class ModelQueue {
 public:
  // Called on the batcher thread after each pass, before its requests are answered.
  using BatchObserver = std::function<void(const BatchReport&)>;

  // Starts the batcher thread; the model loads on first need. `depth` (may be null) follows the
  // number of queued requests.
  ModelQueue(std::string name, ModelLoader load, BatchingOptions options, BatchObserver on_batch,
             Gauge* depth);
  ~ModelQueue();  // Stop()
  ModelQueue(const ModelQueue&) = delete;
  ModelQueue& operator=(const ModelQueue&) = delete;

  // Queues one request. Its input is converted with ToHostTensor now when the model is loaded,
  // else on the batcher thread after the load. `done` gets the outcome or the error: a bad input
  // is InvalidArgument, a failed load or pass Internal, a full or stopped queue Unavailable. It
  // runs on the batcher thread, or on the caller's before Submit returns. Thread-safe.
  void Submit(WireTensor input, InferDone done);

  // Calls `done` with the model's info once it is loaded (at once when it is; with tail-aware
  // batching, loaded includes its batch latencies measured), or with the load error (Internal)
  // or Unavailable after Stop(). Starts the load when needed. Thread-safe.
  void WhenLoaded(std::function<void(Result<ModelInfo>)> done);
  // Starts loading in the background unless loaded or loading.
  void Load();

  // The info when loaded; nullopt before.
  std::optional<ModelInfo> info() const;
  // The error of the last failed load (OK when none failed, or the last load succeeded).
  Status last_error() const;

  // Refuses new requests, answers the queued ones (without waiting out batch delays) and joins
  // the thread. Idempotent.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    WireTensor wire;   // until converted
    HostTensor input;  // [n, input_shape...] once converted
    bool converted = false;
    Clock::time_point enqueued;
    InferDone done;
  };

  void Run();
  // Loads the model (lock released meanwhile); answers waiters, and the queue on failure.
  void LoadLocked(std::unique_lock<std::mutex>& lock);
  // Converts `job`'s input for the loaded model; false (and `done` answered) on error.
  bool Convert(Job& job, const ModelInfo& info) const;
  // Runs one batch and answers its jobs (lock not held).
  void RunBatch(std::vector<Job>& jobs, int samples);
  void SetDepthLocked();
  // The samples of the first (at most max_batch + 1) queued requests, oldest first: what
  // RequestsToBatch decides on.
  void HeadSamplesLocked(int max_batch, std::vector<int>* head) const;
  // With tail-aware batching, measures (or takes) `info`'s batch latencies and preferred sizes,
  // and logs them; errors name the batch size that failed.
  Status PlanTailAwareBatching(ModelInfo& info);
  // BatchingOptions::warm_batch_sizes, after PlanTailAwareBatching.
  Status WarmUp(const ModelInfo& info);

  const std::string name_;
  const ModelLoader load_;
  const BatchingOptions options_;
  const BatchObserver on_batch_;
  Gauge* const depth_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;   // guarded by mu_
  int queued_samples_ = 0;  // of converted jobs in queue_; guarded by mu_
  std::vector<std::function<void(Result<ModelInfo>)>> waiters_;  // guarded by mu_
  bool load_requested_ = false;                                  // guarded by mu_
  bool stopping_ = false;                                        // guarded by mu_
  std::optional<ModelInfo> info_;       // set once, by the thread; guarded by mu_
  Status last_error_;                   // guarded by mu_
  int load_backoff_ms_ = 0;             // guarded by mu_
  Clock::time_point retry_load_at_;     // guarded by mu_
  std::unique_ptr<Executor> executor_;  // the batcher thread's, once loaded
  std::thread thread_;
};

}  // namespace autoscale
