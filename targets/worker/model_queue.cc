#include "targets/worker/model_queue.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/logging.h"
#include "targets/worker/tail_batching.h"

namespace autoscale {

namespace {

double MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

ModelQueue::ModelQueue(std::string name, ModelLoader load, BatchingOptions options,
                       BatchObserver on_batch, Gauge* depth)
    : name_(std::move(name)),
      load_(std::move(load)),
      options_(options),
      on_batch_(std::move(on_batch)),
      depth_(depth) {
  thread_ = std::thread([this] { Run(); });
}

ModelQueue::~ModelQueue() { Stop(); }

void ModelQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<ModelInfo> ModelQueue::info() const {
  std::lock_guard<std::mutex> lock(mu_);
  return info_;
}

Status ModelQueue::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void ModelQueue::Load() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (info_ || stopping_) return;
    load_requested_ = true;
  }
  cv_.notify_all();
}

void ModelQueue::WhenLoaded(std::function<void(Result<ModelInfo>)> done) {
  std::optional<ModelInfo> info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!info_ && !stopping_) {
      waiters_.push_back(std::move(done));
      cv_.notify_all();
      return;
    }
    info = info_;
  }
  if (info) {
    done(*info);
  } else {
    done(Status::Unavailable("model '" + name_ + "' is not loaded and the worker is stopping"));
  }
}

bool ModelQueue::Convert(Job& job, const ModelInfo& info) const {
  // The request's own batch, checked before its input is converted (4 bytes per value): it
  // runs in one pass, so it may not exceed what a pass takes.
  const std::vector<int64_t>& wire_shape = job.wire.shape;
  const int64_t samples =
      wire_shape.size() == info.spec->input_shape.size() + 1 ? wire_shape[0] : 1;
  Result<HostTensor> in = Status::Internal("unset");
  if (!info.batchable && samples > 1) {
    in = Status::InvalidArgument("model '" + name_ +
                                 "' takes one sample per request (it does not accept a batch); "
                                 "got a batch of " +
                                 std::to_string(samples));
  } else if (samples > options_.max_batch_size) {
    in = Status::InvalidArgument("model '" + name_ + "': the request's batch of " +
                                 std::to_string(samples) +
                                 " samples exceeds the worker's max_batch_size of " +
                                 std::to_string(options_.max_batch_size) + "; send at most " +
                                 std::to_string(options_.max_batch_size) + " samples per request");
  } else {
    in = ToHostTensor(std::move(job.wire), info.spec->input_shape);
  }
  if (!in.ok()) {
    job.done(in.status());
    return false;
  }
  job.input = std::move(in).value();
  job.wire = WireTensor();
  job.converted = true;
  return true;
}

void ModelQueue::Submit(WireTensor input, InferDone done) {
  Job job;
  job.enqueued = Clock::now();
  job.done = std::move(done);
  job.wire = std::move(input);
  std::optional<ModelInfo> info = this->info();
  if (info && !Convert(job, *info)) return;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (info_ && !job.converted) {  // the load finished since: convert before queueing
      info = info_;
      lock.unlock();
      if (!Convert(job, *info)) return;
      lock.lock();
    }
    Status refused;
    if (stopping_) {
      refused = Status::Unavailable("model '" + name_ + "': the worker is shutting down");
    } else if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      refused = Status::Unavailable("model '" + name_ + "': queue full (" +
                                    std::to_string(options_.max_queue) + " requests waiting)");
    }
    if (!refused.ok()) {
      lock.unlock();
      job.done(refused);
      return;
    }
    if (job.converted) queued_samples_ += static_cast<int>(job.input.shape[0]);
    queue_.push_back(std::move(job));
    SetDepthLocked();
  }
  cv_.notify_all();
}

void ModelQueue::SetDepthLocked() {
  if (depth_ != nullptr) depth_->Set(static_cast<double>(queue_.size()));
}

void ModelQueue::LoadLocked(std::unique_lock<std::mutex>& lock) {
  load_requested_ = false;
  lock.unlock();
  Result<LoadedModel> loaded = load_();
  Result<ModelInfo> result = Status::Internal("unreachable");
  if (loaded.ok()) {
    ModelInfo info;
    info.spec = loaded->spec;
    info.output_shape = loaded->executor->output_shape();
    info.batchable = loaded->executor->batchable();
    executor_ = std::move(loaded->executor);
    Status st = PlanTailAwareBatching(info);
    if (st.ok()) st = WarmUp(info);
    if (!st.ok()) {
      executor_.reset();
      result = Status::Internal("model '" + name_ + "' could not be loaded: " + st.message());
    } else {
      result = std::move(info);
    }
  } else {
    result =
        Status::Internal("model '" + name_ + "' could not be loaded: " + loaded.status().message());
  }
  lock.lock();
  std::vector<std::function<void(Result<ModelInfo>)>> waiters;
  waiters.swap(waiters_);
  std::deque<Job> pending;
  pending.swap(queue_);  // none converted: nothing converts before the load
  queued_samples_ = 0;
  if (result.ok()) {
    info_ = *result;
    last_error_ = Status::Ok();
    load_backoff_ms_ = 0;
  } else {
    last_error_ = result.status();
    // Clients must not be able to make it load again and again, back to back.
    load_backoff_ms_ = load_backoff_ms_ == 0 ? options_.load_retry_backoff_ms
                                             : std::min(2 * load_backoff_ms_, 30000);
    retry_load_at_ = Clock::now() + std::chrono::milliseconds(load_backoff_ms_);
  }
  SetDepthLocked();
  lock.unlock();

  for (auto& w : waiters) w(result);
  std::deque<Job> converted;
  for (Job& job : pending) {
    if (!result.ok()) {
      job.done(result.status());
    } else if (Convert(job, *result)) {
      converted.push_back(std::move(job));
    }
  }
  lock.lock();
  // Requests submitted meanwhile were converted by Submit and queued behind these.
  for (auto it = converted.rbegin(); it != converted.rend(); ++it) {
    queued_samples_ += static_cast<int>(it->input.shape[0]);
    queue_.push_front(std::move(*it));
  }
  SetDepthLocked();
}

void ModelQueue::HeadSamplesLocked(int max_batch, std::vector<int>* head) const {
  head->clear();
  for (const Job& job : queue_) {
    if (static_cast<int>(head->size()) > max_batch) break;
    head->push_back(static_cast<int>(job.input.shape[0]));
  }
}

Status ModelQueue::PlanTailAwareBatching(ModelInfo& info) {
  const int max_batch = options_.max_batch_size;
  if (!options_.tail_aware || !info.batchable || max_batch < 2) return Status::Ok();
  std::vector<double> table = options_.batch_latency_ms;
  std::vector<double> spread;  // of the measured passes per size; none for a given table
  const char* source = "given";
  if (table.empty()) {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(table, MeasureBatchLatency(*executor_, info.spec->input_shape, max_batch,
                                                options_.tail_timed_runs, &spread));
    Log().info("model '{}': measured latency per batch size 1..{} in {:.1f} s", name_, max_batch,
               MsBetween(start, Clock::now()) / 1000);
    // Passes of one size that differ by more than the tolerance (a busy machine, a CPU sharing
    // its cores) widen it (PreferredBatchSizes): say so, since fewer batches are then cut.
    const auto worst = std::max_element(spread.begin(), spread.end());
    if (worst != spread.end() && *worst > options_.tail_tolerance) {
      Log().warn(
          "model '{}': the timed passes of batch size {} differ by {:.0f}% of their median, more "
          "than the tail-aware tolerance of {:.0f}%; steps smaller than a size's own spread are "
          "not taken for waves",
          name_, worst - spread.begin() + 1, *worst * 100, options_.tail_tolerance * 100);
    }
    source = "measured";
  } else if (static_cast<int>(table.size()) != max_batch) {
    return Status::InvalidArgument(
        "the latency table for tail-aware batching has " + std::to_string(table.size()) +
        " entries; it needs one per batch size 1.." + std::to_string(max_batch));
  }
  ASSIGN_OR_RETURN(info.preferred_batch_sizes,
                   PreferredBatchSizes(table, options_.tail_tolerance, spread));
  std::string ms;
  for (size_t i = 0; i < table.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%zu: %.2f", i > 0 ? ", " : "", i + 1, table[i]);
    ms += buf;
  }
  Log().info(
      "model '{}': tail-aware batching; latency per batch size ({}, ms) {}; batches close at "
      "{} (per-sample time within {:.0f}%, or the size's measured spread, of the best at or "
      "below the size)",
      name_, source, ms, FormatBatchSizes(info.preferred_batch_sizes),
      options_.tail_tolerance * 100);
  info.batch_latency_ms = std::move(table);
  return Status::Ok();
}

Status ModelQueue::WarmUp(const ModelInfo& info) {
  const int max_batch = options_.max_batch_size;
  const bool measured = options_.tail_aware && options_.batch_latency_ms.empty();
  if (!options_.warm_batch_sizes || !info.batchable || max_batch < 2 || measured) {
    return Status::Ok();
  }
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(WarmUpTimes w, WarmBatchSizes(*executor_, info.spec->input_shape, max_batch));
  Log().info(
      "model '{}': warmed batch sizes 1..{} in {:.1f} s: their first passes took {:.0f} ms, the "
      "second ones {:.0f} ms",
      name_, max_batch, MsBetween(start, Clock::now()) / 1000, w.first_ms, w.second_ms);
  return Status::Ok();
}

void ModelQueue::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<int> head;  // HeadSamplesLocked's, kept for its capacity
  while (true) {
    cv_.wait(lock,
             [&] { return stopping_ || !queue_.empty() || !waiters_.empty() || load_requested_; });
    if (!info_) {
      if (queue_.empty() && waiters_.empty() && (stopping_ || !load_requested_)) {
        if (stopping_) break;
        continue;
      }
      if (!last_error_.ok() && Clock::now() < retry_load_at_) {
        // Within the back-off after a failed load: answer with its error, load nothing.
        load_requested_ = false;
        const auto wait_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(retry_load_at_ - Clock::now())
                .count();
        const Status st = Status::Internal(last_error_.message() + " (not loaded again for " +
                                           std::to_string(wait_ms) + " ms)");
        std::vector<std::function<void(Result<ModelInfo>)>> waiters;
        waiters.swap(waiters_);
        std::deque<Job> pending;
        pending.swap(queue_);
        SetDepthLocked();
        lock.unlock();
        for (auto& w : waiters) w(st);
        for (Job& job : pending) job.done(st);
        lock.lock();
        continue;
      }
      LoadLocked(lock);
      continue;
    }
    load_requested_ = false;
    for (auto& w : waiters_) {  // cannot happen once loaded, but answer rather than drop
      lock.unlock();
      w(*info_);
      lock.lock();
    }
    waiters_.clear();
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    // Wait for company until RequestsToBatch says how many requests to run: plain, until the
    // batch is full or the oldest request's delay has passed; tail-aware, while within that delay
    // a larger preferred size may still fill, and then only a preferred size (the rest stays
    // queued; tail_batching.h). Once told to stop, what is queued runs without waiting.
    const int max_batch = info_->batchable ? options_.max_batch_size : 1;
    const std::vector<int>& preferred = info_->preferred_batch_sizes;  // empty: plain
    const auto deadline =
        queue_.front().enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
    int take = 0;
    while (true) {
      HeadSamplesLocked(max_batch, &head);
      take = RequestsToBatch(head, max_batch, preferred, !stopping_ && Clock::now() < deadline);
      if (take > 0) break;
      cv_.wait_until(lock, deadline);
    }
    std::vector<Job> jobs;
    int samples = 0;
    for (int i = 0; i < take; ++i) {
      samples += static_cast<int>(queue_.front().input.shape[0]);
      jobs.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_samples_ -= samples;
    SetDepthLocked();
    lock.unlock();
    RunBatch(jobs, samples);
    lock.lock();
  }
}

void ModelQueue::RunBatch(std::vector<Job>& jobs, int samples) {
  const auto start = Clock::now();
  HostTensor batched;
  const HostTensor* input = &jobs[0].input;
  if (jobs.size() > 1) {
    batched.shape = jobs[0].input.shape;
    batched.shape[0] = samples;
    size_t total = 0;
    for (const Job& j : jobs) total += j.input.data.size();
    batched.data.resize(total);
    float* dst = batched.data.data();
    for (const Job& j : jobs) {
      std::memcpy(dst, j.input.data.data(), j.input.data.size() * sizeof(float));
      dst += j.input.data.size();
    }
    input = &batched;
  }
  BatchReport report;
  report.samples = samples;
  report.requests = static_cast<int>(jobs.size());
  const double join_ms = MsBetween(start, Clock::now());
  PassTimes times;
  Result<HostTensor> out = executor_->Forward(*input, &times);
  if (!out.ok()) {
    if (on_batch_) on_batch_(report);
    for (Job& j : jobs) j.done(out.status());
    return;
  }
  const auto split_start = Clock::now();
  const size_t row = out->data.size() / static_cast<size_t>(samples);
  std::vector<InferOutcome> outcomes(jobs.size());
  size_t offset = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const int64_t n = jobs[i].input.shape[0];
    InferOutcome& o = outcomes[i];
    o.output.shape = out->shape;
    o.output.shape[0] = n;
    o.output.data.assign(out->data.begin() + offset, out->data.begin() + offset + n * row);
    offset += n * row;
    o.compute_ms = times.total_ms();
    o.queue_ms = MsBetween(jobs[i].enqueued, start);
    o.batch_size = samples;
  }
  report.ok = true;
  report.input_ms = join_ms + times.input_ms;
  report.compute_ms = times.compute_ms;
  report.output_ms = times.output_ms + MsBetween(split_start, Clock::now());
  if (on_batch_) on_batch_(report);
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].done(std::move(outcomes[i]));
}

}  // namespace autoscale
