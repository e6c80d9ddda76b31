#include "targets/worker/executor.h"

#include <c10/core/CPUAllocator.h>
#include <dlfcn.h>
#include <torch/cuda.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>

#include "targets/cpu/torch_model.h"

namespace autoscale {

namespace {

std::string FirstLine(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

std::string ShapeOf(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(t.size(i));
  }
  s += ']';
  return s;
}

// Threads that each run one shard of a batch with one intra-op thread of their own. Run() hands
// out shards 0..n-1 and returns when all are done (called by one thread at a time: the batcher).
class ShardPool {
 public:
  explicit ShardPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { Loop(i); });
  }
  ~ShardPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    start_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Runs shard(i) for i in [0, n) on threads 0..n-1 (n <= size()) and waits for them.
  void Run(int n, const std::function<void(int)>& shard) {
    std::unique_lock<std::mutex> lock(mu_);
    shard_ = &shard;
    shards_ = n;
    pending_ = n;
    ++generation_;
    start_.notify_all();
    done_.wait(lock, [&] { return pending_ == 0; });
    shard_ = nullptr;
  }

 private:
  void Loop(int index) {
    // One OpenMP thread here: the shards are the parallelism.
    at::set_num_threads(1);
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= shards_) continue;
      const std::function<void(int)>* shard = shard_;
      lock.unlock();
      (*shard)(index);
      lock.lock();
      if (--pending_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(int)>* shard_ = nullptr;  // guarded by mu_
  int shards_ = 0, pending_ = 0;                     // guarded by mu_
  uint64_t generation_ = 0;                          // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
};

// libtorch's intra-op thread count (and the oneDNN cache that changing it clears) and OpenBLAS's
// thread count are process-wide, and each model's queue runs its passes on a thread of its own:
// two models' CPU passes at once would change them under each other (openblas_set_num_threads
// while another thread is inside OpenBLAS is not safe). CPU passes take turns; each uses every
// thread it is given anyway. Device passes do not touch these settings.
std::mutex& CpuPassMutex() {
  static std::mutex mu;
  return mu;
}

class TorchExecutor final : public Executor {
 public:
  TorchExecutor(std::string name, std::unique_ptr<TorchModel> model, torch::Device device,
                int threads)
      : name_(std::move(name)), model_(std::move(model)), device_(device), threads_(threads) {
    if (device_.is_cpu() && threads_ > 1 && model_->concurrent_forward()) {
      shards_ = std::make_unique<ShardPool>(threads_);
    }
  }

  Result<HostTensor> Forward(const HostTensor& input, PassTimes* times) override {
    std::unique_lock<std::mutex> cpu_turn;
    if (device_.is_cpu()) cpu_turn = std::unique_lock<std::mutex>(CpuPassMutex());
    // libtorch here uses OpenMP, whose thread count is per calling thread: set it on ours.
    if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
    HostTensor out;
    try {
      c10::InferenceMode guard;
      using Clock = std::chrono::steady_clock;
      auto ms = [](Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
      };
      const auto t0 = Clock::now();
      torch::Tensor x = WrapFloat(input.data.data(), input.shape);
      if (!device_.is_cpu()) x = x.to(device_);
      const auto t1 = Clock::now();
      torch::Tensor y = RunOn(x);
      // Kernels run asynchronously on a GPU: the pass is done when the device is.
      if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
      const auto t2 = Clock::now();
      // The result on the host as contiguous float (a no-op for a CPU pass's float output).
      y = y.to(torch::kCPU, torch::kFloat32).contiguous();
      if (y.dim() < 1 || y.size(0) != input.shape[0]) {
        return Status::Internal("model '" + name_ + "' returned " + ShapeOf(y) +
                                " for a batch of " + std::to_string(input.shape[0]));
      }
      out.shape.assign(y.sizes().begin(), y.sizes().end());
      out.data.assign(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
      const auto t3 = Clock::now();
      *times = PassTimes{ms(t0, t1), ms(t1, t2), ms(t2, t3)};
    } catch (const std::exception& e) {
      return Status::Internal("model '" + name_ + "' failed on " + device_.str() + ": " +
                              FirstLine(e));
    }
    return out;
  }

  const std::vector<int64_t>& output_shape() const override { return output_shape_; }
  bool batchable() const override { return batchable_; }

  // Runs zeros of batch 1 and keeps the output's shape without the batch; with `try_batch`, runs
  // batch 2 too and records whether it worked.
  Status Probe(const std::vector<int64_t>& input_shape, bool try_batch) {
    auto zeros = [&](int64_t batch) {
      HostTensor z;
      z.shape = {batch};
      z.shape.insert(z.shape.end(), input_shape.begin(), input_shape.end());
      z.data.assign(static_cast<size_t>(NumElements(z.shape)), 0.0f);
      return z;
    };
    PassTimes times;
    Result<HostTensor> y = Forward(zeros(1), &times);
    if (!y.ok()) return y.status();
    output_shape_.assign(y->shape.begin() + 1, y->shape.end());
    if (try_batch) {
      Result<HostTensor> y2 = Forward(zeros(2), &times);
      batchable_ = y2.ok() && std::equal(y2->shape.begin() + 1, y2->shape.end(),
                                         output_shape_.begin(), output_shape_.end());
    }
    return Status::Ok();
  }

 private:
  // The forward pass of `x`, on the model's device; the result stays where the model put it.
  torch::Tensor RunOn(const torch::Tensor& x) const {
    const bool sharded = shards_ && x.size(0) > 1;
    if (device_.is_cpu()) {
      // A single pass with T threads is faster with T BLAS threads (MobileNet v2, batch 1,
      // 2 threads, 16 clients: 76-81 vs 57-68 req/s in worker_bench), while shards calling
      // OpenBLAS at once want one each (144-161 vs 105 req/s at batch 8). Process-wide.
      SetBlasThreads(sharded ? 1 : threads_);
    }
    return sharded ? Sharded(x) : model_->Forward(x);
  }

  // A batch on the CPU split by samples into one shard per thread, each run with one intra-op
  // thread: the threads then meet once per batch instead of at every operator's barrier, where
  // one preempted thread (by the HTTP threads on a small machine) stalls the others. MobileNet v2,
  // batch 8, 2 threads: 5.8 ms per sample both ways alone (batch_scaling_bench), but under
  // 16 clients' HTTP traffic the shards keep more of it (worker_bench).
  torch::Tensor Sharded(const torch::Tensor& x) const {
    const int64_t batch = x.size(0);
    const int n = static_cast<int>(std::min<int64_t>(batch, shards_->size()));
    std::vector<torch::Tensor> outs(static_cast<size_t>(n));
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    shards_->Run(n, [&](int i) {
      // Shard i: samples [i * batch / n, (i + 1) * batch / n).
      const int64_t lo = i * batch / n, hi = (i + 1) * batch / n;
      try {
        c10::InferenceMode guard;
        outs[static_cast<size_t>(i)] = model_->Forward(x.slice(0, lo, hi));
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    });
    for (const std::exception_ptr& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    return torch::cat(outs, 0);
  }

  const std::string name_;
  const std::unique_ptr<TorchModel> model_;
  const torch::Device device_;
  const int threads_;
  std::unique_ptr<ShardPool> shards_;  // CPU, threads > 1, a model that allows it; else null
  std::vector<int64_t> output_shape_;
  bool batchable_ = true;
};

}  // namespace

Result<std::string> ResolveDevice(const std::string& requested) {
  if (requested == "cpu") return std::string("cpu");
  if (requested == "auto") return std::string(torch::cuda::is_available() ? "cuda" : "cpu");
  if (requested == "cuda") {
    if (!torch::cuda::is_available()) {
      return Status::Unavailable(
          "device 'cuda' requested, but libtorch sees no CUDA device (built without CUDA, or "
          "no GPU visible); use --device cpu or auto");
    }
    return std::string("cuda");
  }
  return Status::InvalidArgument("unknown device '" + requested + "' (valid: auto, cpu, cuda)");
}

int EffectiveThreads(int threads) {
  if (threads > 0) return threads;
  return std::max<int>(1, static_cast<int>(AllowedCpus().size()));
}

Result<std::unique_ptr<Executor>> LoadExecutor(const ModelSpec& spec, const std::string& device,
                                               int threads) {
  std::unique_ptr<TorchModel> model;
  if (spec.is_graph()) {
    try {
      auto graph = std::make_unique<TorchGraph>(*spec.graph);
      // On the CPU, NHWC lets oneDNN convolve without reordering each layer's activations:
      // MobileNet v2 with 2 threads, batch 8, 5.6 vs 7.6 ms per sample and batch 1, 9.0 vs
      // 10.5 ms (build/bench/batch_scaling_bench, 2-vCPU EPYC).
      if (device != "cuda") graph->UseChannelsLast();
      model = std::move(graph);
    } catch (const std::exception& e) {
      return Status::Internal("model '" + spec.name +
                              "': building the graph failed: " + FirstLine(e));
    }
  } else {
    ASSIGN_OR_RETURN(model, TorchScriptModel::Load(spec.torchscript_path, spec.input_shape));
  }
  const torch::Device dev = device == "cuda" ? torch::Device(torch::kCUDA) : torch::kCPU;
  try {
    model->To(dev);
  } catch (const std::exception& e) {
    return Status::Internal("model '" + spec.name + "' could not be moved to " + device + ": " +
                            FirstLine(e));
  }
  auto ex =
      std::make_unique<TorchExecutor>(spec.name, std::move(model), dev, EffectiveThreads(threads));
  RETURN_IF_ERROR(ex->Probe(spec.input_shape, /*try_batch=*/!spec.is_graph()));
  return std::unique_ptr<Executor>(std::move(ex));
}

}  // namespace autoscale
