#include "targets/cpu/pipeline_target.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <semaphore>
#include <thread>

#include "core/strings.h"
#include "targets/cpu/host_memory.h"
#include "targets/cpu/torch_model.h"
#include "targets/layer_profiler.h"

namespace autoscale {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string CpuListText(const std::vector<int>& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(cpus[i]);
  }
  return s;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// One stage's thread: pinned to its core group, with its own intra-op thread count, running
// the tasks posted to it in order.
class StageWorker {
 public:
  StageWorker(PipelineStageOptions options, int threads)
      : options_(std::move(options)), threads_(threads) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StageWorker() { Stop(); }
  // Runs what was posted so far (and what that posts here), then ends the thread.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }
  // Runs `task` on the stage's thread and waits for it.
  void RunAndWait(const std::function<void()>& task) {
    std::promise<void> done;
    Post([&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  }
  const std::string& setup_note() const { return setup_note_; }
  int threads() const { return threads_; }
  const PipelineStageOptions& options() const { return options_; }

 private:
  void SetUp() {
    if (!options_.cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int c : options_.cpus) CPU_SET(c, &set);
      if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        setup_note_ = "pinning to CPUs " + CpuListText(options_.cpus) + " was refused by the OS";
      } else if (threads_ > 1) {
        // OpenMP's workers for this thread start on the first parallel region and inherit the
        // affinity set above; set it again inside, as CpuTarget::PinThreads does.
        at::set_num_threads(threads_);
        at::parallel_for(0, threads_, 1,
                         [&](int64_t, int64_t) { sched_setaffinity(0, sizeof(set), &set); });
      }
    }
    at::set_num_threads(threads_);  // this thread's count (OpenMP: per calling thread)
  }
  void Loop() {
    SetUp();
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  PipelineStageOptions options_;
  int threads_;
  std::string setup_note_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::string PipelinePlan::Describe() const {
  std::string out =
      "split from " +
      std::string(source == "predicted" ? "predicted layer times" : "measured node times") + ": " +
      DescribeSplit(split, costs, node_names);
  out += "; predicted: " + FormatDouble(split.throughput_per_s(), 4) +
         " requests/s (slowest stage " + FormatDouble(split.bottleneck_ms, 4) + " ms), latency " +
         FormatDouble(split.latency_ms, 4) + " ms";
  if (!candidates.empty()) {
    double balanced_rate = 0, chosen_rate = 0;
    for (const auto& [k, rate] : candidates) {
      if (k == balanced_cut) balanced_rate = rate;
      if (k == split.begin[1]) chosen_rate = rate;
    }
    for (const auto& [k, rate] : refined) {
      if (k == split.begin[1]) chosen_rate = rate;
    }
    out += "; measured search over " + std::to_string(candidates.size()) + " splits";
    if (!refined.empty()) {
      out += ", then " + std::to_string(refined.size()) + " around the fastest";
    }
    out += ": stage 1 from node " + std::to_string(split.begin[1]) + " at " +
           FormatDouble(chosen_rate, 4) + " requests/s (the balanced one, from node " +
           std::to_string(balanced_cut) + ": " + FormatDouble(balanced_rate, 4) + ")";
  }
  for (size_t s = 0; s < single_stage_ms.size(); ++s) {
    out += s == 0 ? "; whole model on one stage's cores: " : ", ";
    out += "stage " + std::to_string(s) + " " + FormatDouble(single_stage_ms[s], 4) + " ms";
  }
  return out;
}

struct PipelinedCpuTarget::Impl {
  PipelineOptions options;
  std::vector<std::unique_ptr<StageWorker>> workers;
  std::unique_ptr<std::counting_semaphore<>> slots;

  struct Prepared {
    std::unique_ptr<TorchGraph> graph;
    PipelinePlan plan;
    std::shared_ptr<const std::vector<int>> begin;  // node where each stage starts
  };
  mutable std::mutex mu;  // guards `models` and each Prepared's `plan` and `begin`
  std::map<std::string, std::shared_ptr<Prepared>> models;
  std::mutex prepare_mu;  // one Prepare at a time (it occupies every stage)

  // One request on its way through the stages.
  struct Job {
    std::shared_ptr<Prepared> model;
    std::shared_ptr<const std::vector<int>> begin;
    torch::Tensor input;  // until stage 0 converts it into values[0]
    std::vector<torch::Tensor> values;
    RunCallback done;
    Clock::time_point t0;
    std::vector<double> stage_ms;
  };
  void RunStage(const std::shared_ptr<Job>& job, size_t s);
  void Finish(const std::shared_ptr<Job>& job, Result<InferenceResult> r);
  // Admits a job (waiting for a slot) and posts it to stage 0.
  void Admit(const std::shared_ptr<Job>& job, const torch::Tensor& input);
  Status Profile(Prepared& p, const std::string& model_name);
  // Node times from the layer fits instead (options.layer_fits).
  void Predict(Prepared& p);
  std::future<Result<InferenceResult>> Start(const std::shared_ptr<Prepared>& p,
                                             std::shared_ptr<const std::vector<int>> begin,
                                             const torch::Tensor& input);
  // The hand-off estimate at every cut.
  void HandOffs(Prepared& p);
  // The measured split search of two stages (PipelineOptions::refine_requests); sets p's split.
  Status Search(const std::shared_ptr<Prepared>& p, const ModelSpec& model, int n);
  // Each cut's median rate over options.refine_rounds interleaved rounds.
  Result<std::vector<double>> MeasureCuts(const std::shared_ptr<Prepared>& p,
                                          const std::vector<int>& cuts, const torch::Tensor& input);
};

void PipelinedCpuTarget::Impl::Finish(const std::shared_ptr<Job>& job, Result<InferenceResult> r) {
  job->values.clear();
  // The slot first: `done` may start another request.
  slots->release();
  RunCallback done = std::move(job->done);
  done(std::move(r));
}

void PipelinedCpuTarget::Impl::Admit(const std::shared_ptr<Job>& job, const torch::Tensor& input) {
  job->stage_ms.assign(workers.size(), 0.0);
  slots->acquire();
  job->t0 = Clock::now();
  // Stage 0 converts the input (to channels-last): a parallel copy on the caller's thread would
  // use that thread's OpenMP team, which is neither a stage's threads nor on its cores. A
  // submitting thread that another target had left two OpenMP threads slowed MobileNet v2's
  // stream from 89 to 65-72 requests/s on a 2-vCPU VM (pipeline_bench, BM_Pipelined alone and
  // after BM_IntraOp).
  job->input = input;
  workers[0]->Post([this, job] { RunStage(job, 0); });
}

void PipelinedCpuTarget::Impl::RunStage(const std::shared_ptr<Job>& job, size_t s) {
  const auto& begin = *job->begin;
  const int n = static_cast<int>(job->model->graph->graph().nodes().size());
  const int b = begin[s];
  const int e = s + 1 < begin.size() ? begin[s + 1] : n;
  const Clock::time_point t0 = Clock::now();
  try {
    if (s == 0) {
      job->values = job->model->graph->Begin(job->input);
      job->input = torch::Tensor();
    }
    job->model->graph->RunNodes(job->values, b, e);
  } catch (const std::exception& ex) {
    std::string what = ex.what();
    Finish(job, Status::Internal("stage " + std::to_string(s) + " of the pipeline (nodes " +
                                 std::to_string(b) + "-" + std::to_string(e - 1) +
                                 ") failed: " + what.substr(0, what.find('\n'))));
    return;
  }
  job->stage_ms[s] = MsSince(t0);
  if (s + 1 < workers.size()) {
    workers[s + 1]->Post([this, job, s] { RunStage(job, s + 1); });
    return;
  }
  InferenceResult r;
  try {
    torch::Tensor out = job->model->graph->Output(job->values).contiguous().to(torch::kFloat32);
    r.output.shape.assign(out.sizes().begin(), out.sizes().end());
    r.output.data.assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
  } catch (const std::exception& ex) {
    std::string what = ex.what();
    Finish(job, Status::Internal("the pipeline's output could not be read: " +
                                 what.substr(0, what.find('\n'))));
    return;
  }
  r.latency_ms = MsSince(job->t0);
  double uj = options.base_power_mw * r.latency_ms;
  for (size_t i = 0; i < workers.size(); ++i) {
    uj += workers[i]->options().power_mw * job->stage_ms[i];
  }
  r.energy_mj = uj / 1000.0;
  r.energy_source = EnergySource::kModelled;
  r.stage_ms = job->stage_ms;
  Finish(job, std::move(r));
}

std::future<Result<InferenceResult>> PipelinedCpuTarget::Impl::Start(
    const std::shared_ptr<Prepared>& p, std::shared_ptr<const std::vector<int>> begin,
    const torch::Tensor& input) {
  auto job = std::make_shared<Job>();
  job->model = p;
  job->begin = std::move(begin);
  auto promise = std::make_shared<std::promise<Result<InferenceResult>>>();
  auto future = promise->get_future();
  job->done = [promise](Result<InferenceResult> r) { promise->set_value(std::move(r)); };
  Admit(job, input);
  return future;
}

Result<double> StreamThroughput(const std::function<std::future<Result<InferenceResult>>()>& start,
                                int requests, int window) {
  std::deque<std::future<Result<InferenceResult>>> inflight;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point first = t0, full_end = t0;
  // After the result numbered `full` (from 1), nothing more is submitted: the window drains.
  const int full = requests - window + 1;
  int submitted = 0;
  Status failure;
  for (int done = 1; done <= requests; ++done) {
    while (submitted < requests && static_cast<int>(inflight.size()) < window) {
      inflight.push_back(start());
      ++submitted;
    }
    Result<InferenceResult> r = inflight.front().get();
    inflight.pop_front();
    if (!r.ok() && failure.ok()) failure = r.status();
    if (done == 1) first = Clock::now();
    if (done == full) full_end = Clock::now();
  }
  if (!failure.ok()) return failure;
  // The steady state: the results while `window` requests were in flight, from the first result
  // on. The fill before it (a request's trip through every stage) and the drain after it (the
  // last requests, the stages no longer all busy: on a 2-vCPU VM a stage ran up to twice as fast
  // alone) would both favour a split whose stages are unbalanced.
  if (full >= 2) return (full - 1) / (std::chrono::duration<double>(full_end - first).count());
  if (requests >= 2) return (requests - 1) / (MsSince(first) / 1e3);
  return requests / (MsSince(t0) / 1e3);
}

Result<std::vector<double>> PipelinedCpuTarget::Impl::MeasureCuts(
    const std::shared_ptr<Prepared>& p, const std::vector<int>& cuts, const torch::Tensor& input) {
  const int rounds = std::max(1, options.refine_rounds);
  // Each round streams a share of the requests through every cut in turn, so that the machine's
  // drift (up to 2x within minutes on a shared VM) and its bursts fall on all of them alike; at
  // least three results each with the window full (StreamThroughput's steady state), and at
  // least options.refine_min_ms of them by the cut's predicted slowest stage.
  const int window = 2 * static_cast<int>(workers.size());
  const int base = std::max(window + 3, (options.refine_requests + rounds - 1) / rounds);
  std::vector<int> per_round(cuts.size(), base);
  for (size_t i = 0; i < cuts.size(); ++i) {
    Result<StageSplit> split = EvaluateSplit(p->plan.costs, {0, cuts[i]});
    if (!split.ok()) continue;
    const double slowest = *std::max_element(split->stage_ms.begin(), split->stage_ms.end());
    if (slowest > 0 && options.refine_min_ms > 0) {
      const double steady = std::min(1000.0, std::ceil(options.refine_min_ms / slowest));
      per_round[i] = std::max(base, window + static_cast<int>(steady));
    }
  }
  std::vector<std::vector<double>> rates(cuts.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < cuts.size(); ++i) {
      auto begin = std::make_shared<const std::vector<int>>(std::vector<int>{0, cuts[i]});
      ASSIGN_OR_RETURN(double rate, StreamThroughput([&] { return Start(p, begin, input); },
                                                     per_round[i], window));
      rates[i].push_back(rate);
    }
  }
  std::vector<double> medians;
  for (const std::vector<double>& v : rates) medians.push_back(Median(v));
  return medians;
}

Status PipelinedCpuTarget::Impl::Search(const std::shared_ptr<Prepared>& p, const ModelSpec& model,
                                        int n) {
  // Coarse: the balanced cut, cuts at eighths of stage 0's work, and all but the last node on
  // stage 0.
  PipelinePlan& plan = p->plan;
  const int balanced = plan.split.begin[1];
  std::vector<int> cuts = {balanced, n - 1};
  const std::vector<double>& row = plan.costs.layer_ms[0];
  std::vector<double> before(n, 0.0);  // stage 0's work before node k
  for (int k = 1; k < n; ++k) before[k] = before[k - 1] + row[k - 1];
  const double total = before[n - 1] + row[n - 1];
  for (int eighth = 1, k = 1; k < n && eighth < 8; ++k) {
    if (before[k] >= total * eighth / 8.0) {
      cuts.push_back(k);
      while (eighth < 8 && before[k] >= total * eighth / 8.0) ++eighth;
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), model.input_shape.begin(), model.input_shape.end());
  const torch::Tensor input = torch::rand(shape) * 2 - 1;
  // Warm up on the balanced split (first passes pay for allocations and kernel choices).
  {
    auto begin = std::make_shared<const std::vector<int>>(std::vector<int>{0, balanced});
    RETURN_IF_ERROR(StreamThroughput([&] { return Start(p, begin, input); },
                                     options.refine_requests, 2 * static_cast<int>(workers.size()))
                        .status());
  }
  ASSIGN_OR_RETURN(std::vector<double> coarse, MeasureCuts(p, cuts, input));
  plan.balanced_cut = balanced;
  size_t best = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    plan.candidates.emplace_back(cuts[i], coarse[i]);
    if (coarse[i] > coarse[best]) best = i;
  }
  // Fine: the cuts halfway (in stage 0's work) between the fastest and its neighbours, measured
  // again beside it; the fastest of these stays.
  std::vector<int> fine = {cuts[best]};
  auto halfway = [&](int a, int b) {
    const double mid = (before[a] + before[b]) / 2;
    int k = a;
    while (k < b && before[k] < mid) ++k;
    if (k > a && k < b && std::find(fine.begin(), fine.end(), k) == fine.end()) fine.push_back(k);
  };
  if (best > 0) halfway(cuts[best - 1], cuts[best]);
  if (best + 1 < cuts.size()) halfway(cuts[best], cuts[best + 1]);
  int chosen = cuts[best];
  if (fine.size() > 1) {
    ASSIGN_OR_RETURN(std::vector<double> rates, MeasureCuts(p, fine, input));
    size_t f = 0;
    for (size_t i = 0; i < fine.size(); ++i) {
      plan.refined.emplace_back(fine[i], rates[i]);
      if (rates[i] > rates[f]) f = i;
    }
    chosen = fine[f];
  }
  ASSIGN_OR_RETURN(plan.split, EvaluateSplit(plan.costs, {0, chosen}));
  return Status::Ok();
}

Status PipelinedCpuTarget::Impl::Profile(Prepared& p, const std::string& model_name) {
  const Graph& g = p.graph->graph();
  const size_t n = g.nodes().size();
  PipelinePlan& plan = p.plan;
  plan.costs.layer_ms.assign(workers.size(), std::vector<double>(n, 0.0));
  plan.node_names.clear();
  for (const GraphNode& node : g.nodes()) plan.node_names.push_back(node.name);
  // The input: batch 1, seeded.
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  const torch::Tensor input =
      torch::rand(shape, torch::TensorOptions().dtype(torch::kFloat32)) * 2 - 1;
  // Every stage times whole forward passes at the same time, as the stages run in the pipeline:
  // the cores then share the memory bandwidth and caches as they will when requests stream
  // (timed alone, a stage looks faster than it runs beside the others).
  const size_t stages = workers.size();
  std::vector<std::vector<std::vector<double>>> per_node(stages,
                                                         std::vector<std::vector<double>>(n));
  std::vector<std::vector<double>> whole(stages);
  std::vector<std::string> failures(stages);
  std::vector<std::promise<void>> done(stages);
  for (size_t s = 0; s < stages; ++s) {
    workers[s]->Post([&, s] {
      try {
        for (int r = 0; r < options.profile_warmup + options.profile_runs; ++r) {
          std::vector<double> times(n, 0.0);
          Clock::time_point last = Clock::now();
          const Clock::time_point start = last;
          NodeObserver observe = [&](int node, const torch::Tensor&) {
            const Clock::time_point now = Clock::now();
            if (node >= 0 && static_cast<size_t>(node) < n) {
              times[node] += std::chrono::duration<double, std::milli>(now - last).count();
            }
            last = now;
          };
          p.graph->Forward(input, observe);
          if (r < options.profile_warmup) continue;
          whole[s].push_back(MsSince(start));
          for (size_t i = 0; i < n; ++i) per_node[s][i].push_back(times[i]);
        }
      } catch (const std::exception& ex) {
        std::string what = ex.what();
        failures[s] = "stage " + std::to_string(s) + ": " + what.substr(0, what.find('\n'));
      }
      done[s].set_value();
    });
  }
  std::string failure;
  for (size_t s = 0; s < stages; ++s) {
    done[s].get_future().wait();
    if (failure.empty()) failure = failures[s];
  }
  if (!failure.empty()) {
    return Status::Internal("model '" + model_name + "' failed while timing its nodes on " +
                            failure);
  }
  plan.single_stage_ms.clear();
  for (size_t s = 0; s < stages; ++s) {
    for (size_t i = 0; i < n; ++i) plan.costs.layer_ms[s][i] = Median(per_node[s][i]);
    plan.single_stage_ms.push_back(Median(whole[s]));
  }
  HandOffs(p);
  plan.source = "measured";
  return Status::Ok();
}

void PipelinedCpuTarget::Impl::HandOffs(Prepared& p) {
  const Graph& g = p.graph->graph();
  const size_t n = g.nodes().size();
  PipelinePlan& plan = p.plan;
  // Hand-offs: the tensors live at each cut, at batch 1.
  plan.costs.handoff_ms.assign(n, 0.0);
  for (size_t k = 1; k < n; ++k) {
    double bytes = 0;
    for (int node : p.graph->LiveAt(static_cast<int>(k))) {
      bytes += 4.0 * static_cast<double>(NumElements(g.node(node).out_shape));
    }
    plan.costs.handoff_ms[k] = options.handoff_fixed_ms + bytes / (options.handoff_gb_per_s * 1e6);
  }
}

void PipelinedCpuTarget::Impl::Predict(Prepared& p) {
  const Graph& g = p.graph->graph();
  const size_t n = g.nodes().size();
  PipelinePlan& plan = p.plan;
  plan.source = "predicted";
  plan.node_names.clear();
  for (const GraphNode& node : g.nodes()) plan.node_names.push_back(node.name);
  const std::vector<GraphLayer> layers = GraphLayers(g);
  std::vector<LayerDescriptor> descriptors;
  for (const GraphLayer& l : layers) descriptors.push_back(l.desc);
  const double in_elements = static_cast<double>(NumElements(g.input_shape()));
  const double out_elements = static_cast<double>(NumElements(g.node(g.output()).out_shape));
  plan.costs.layer_ms.assign(workers.size(), std::vector<double>(n, 0.0));
  plan.single_stage_ms.clear();
  for (size_t s = 0; s < workers.size(); ++s) {
    const LayerFit& fit = *options.layer_fits[std::min(s, options.layer_fits.size() - 1)];
    std::vector<double>& row = plan.costs.layer_ms[s];
    // A layer's time on its main node (the batch-norm and activation fused into it cost
    // nothing more; an op's first use its cold code), the run's overhead on the input and the
    // output node, as PredictModelMs counts them.
    const std::vector<double> layer_ms = PredictLayersInRunMs(fit, descriptors);
    for (size_t j = 0; j < layers.size(); ++j) {
      if (!layers[j].nodes.empty()) row[layers[j].nodes.front()] += layer_ms[j];
    }
    row[0] += fit.overhead_ms + fit.overhead_ms_per_melement * in_elements / 1e6;
    row[n - 1] += fit.overhead_ms_per_melement * out_elements / 1e6;
    plan.single_stage_ms.push_back(PredictModelMs(fit, descriptors, in_elements, out_elements));
  }
  HandOffs(p);
}

void DefaultPipelineStages(const std::string& sysfs_root, std::vector<PipelineStageOptions>* stages,
                           std::string* how) {
  const std::vector<int> allowed = AllowedCpus();
  stages->clear();
  const std::vector<CpuCluster> clusters = DetectCpuClusters(sysfs_root);
  if (clusters.size() >= 2) {
    for (const CpuCluster& c : clusters) stages->push_back({c.cpus, 0, 0});
    *how = "one stage per cpufreq cluster";
  } else if (allowed.size() >= 2) {
    const size_t half = allowed.size() / 2;
    stages->push_back({{allowed.begin(), allowed.begin() + half}, 0, 0});
    stages->push_back({{allowed.begin() + half, allowed.end()}, 0, 0});
    *how = "no CPU clusters in cpufreq: the allowed CPUs in two halves";
  } else {
    stages->push_back({allowed, 0, 0});
    *how = "one CPU: a single stage";
  }
}

Result<std::unique_ptr<PipelinedCpuTarget>> PipelinedCpuTarget::Create(PipelineOptions options) {
  // The stages set their own intra-op thread counts: only the OpenMP backend keeps that count
  // per thread.
  if (at::get_parallel_info().find("parallel backend: OpenMP") == std::string::npos) {
    return Status::Unavailable(
        "the pipelined CPU target needs libtorch's OpenMP backend (its thread count is per "
        "thread there); this libtorch's is another, where one stage's count would change the "
        "others'");
  }
  UseOneBlasThread();  // the stages' GEMMs in their own threads (see host_memory.h)
  const std::vector<int> allowed = AllowedCpus();
  std::string how;
  if (options.stages.empty()) {
    DefaultPipelineStages(options.sysfs_root, &options.stages, &how);
  } else {
    how = "stages as configured";
  }
  for (size_t s = 0; s < options.stages.size(); ++s) {
    const PipelineStageOptions& st = options.stages[s];
    if (st.threads < 0) {
      return Status::InvalidArgument("pipeline stage " + std::to_string(s) + ": threads " +
                                     std::to_string(st.threads) + " is negative");
    }
    for (int c : st.cpus) {
      if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
        return Status::InvalidArgument("pipeline stage " + std::to_string(s) + ": CPU " +
                                       std::to_string(c) + " is not one this process may use (" +
                                       CpuListText(allowed) + ")");
      }
    }
  }
  if (options.profile_runs < 1 || options.profile_warmup < 0) {
    return Status::InvalidArgument("the pipeline's node timing needs at least one run");
  }
  if (!(options.handoff_gb_per_s > 0) || !(options.handoff_fixed_ms >= 0)) {
    return Status::InvalidArgument(
        "the pipeline's hand-off model needs a positive copy rate and "
        "a non-negative fixed cost");
  }
  for (const auto& fit : options.layer_fits) {
    if (fit == nullptr || fit->empty()) {
      return Status::InvalidArgument("a pipeline stage's layer fit is empty (no measured layers)");
    }
  }
  if (options.layer_fits.size() > 1 && options.layer_fits.size() != options.stages.size()) {
    return Status::InvalidArgument("the pipeline has " + std::to_string(options.stages.size()) +
                                   " stages and " + std::to_string(options.layer_fits.size()) +
                                   " layer fits (give one, or one per stage)");
  }
  if (options.max_in_flight < 1) {
    return Status::InvalidArgument("the pipeline needs room for at least one request");
  }
  auto impl = std::make_unique<Impl>();
  impl->slots = std::make_unique<std::counting_semaphore<>>(options.max_in_flight);
  std::string device = "pipeline of " + std::to_string(options.stages.size()) + " stage(s): ";
  std::string notes;
  for (size_t s = 0; s < options.stages.size(); ++s) {
    const PipelineStageOptions& st = options.stages[s];
    const int threads =
        st.threads > 0 ? st.threads : std::max<int>(1, static_cast<int>(st.cpus.size()));
    impl->workers.push_back(std::make_unique<StageWorker>(st, threads));
    if (s > 0) device += " | ";
    device += (st.cpus.empty() ? std::string("any CPU") : "CPUs " + CpuListText(st.cpus)) + ", " +
              std::to_string(threads) + " thread(s)";
  }
  impl->options = std::move(options);
  auto t = std::unique_ptr<PipelinedCpuTarget>(new PipelinedCpuTarget(std::move(impl)));
  t->desc_.name = t->impl_->options.name;
  t->desc_.kind = TargetKind::kCpu;
  t->desc_.precisions = {Precision::kFp32};
  t->desc_.levels = 1;
  t->desc_.max_concurrent = t->impl_->options.max_in_flight;
  t->desc_.stages = static_cast<int>(t->impl_->workers.size());
  t->desc_.device = device;
  t->desc_.notes =
      std::string("libtorch FP32, stages split by ") +
      (t->impl_->options.layer_fits.empty() ? "measured node times" : "the layer-level predictor") +
      " (" + how + "); latency measured end to end; energy modelled from the stages' power";
  if (!t->impl_->options.note.empty()) t->desc_.notes += "; " + t->impl_->options.note;
  for (const auto& w : t->impl_->workers) {
    w->RunAndWait([] {});  // wait for the set-up, so that its note is there
    if (!w->setup_note().empty()) t->desc_.notes += "; " + w->setup_note();
  }
  return t;
}

PipelinedCpuTarget::PipelinedCpuTarget(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PipelinedCpuTarget::~PipelinedCpuTarget() {
  // Stop the stages in order, each after the one before it has drained: a request in stage 0
  // posts to stage 1, which must still run it (and every worker must still exist then).
  for (auto& w : impl_->workers) w->Stop();
}

int PipelinedCpuTarget::stages() const { return static_cast<int>(impl_->workers.size()); }

Status PipelinedCpuTarget::Supports(const ModelSpec& model, Precision precision) const {
  if (precision != Precision::kFp32) {
    return Status::Unavailable(
        "the pipelined CPU target runs FP32 only (INT8 stages are not "
        "built)");
  }
  if (!model.is_graph()) {
    return Status::InvalidArgument("model '" + model.name +
                                   "' has no graph to split into stages (a TorchScript file the "
                                   "import could not map runs on the plain CPU target)");
  }
  if (static_cast<int>(model.graph->graph.nodes().size()) < stages() + 1) {
    return Status::InvalidArgument("model '" + model.name + "' has fewer nodes than the " +
                                   std::to_string(stages()) + " pipeline stages");
  }
  return Status::Ok();
}

Status PipelinedCpuTarget::Prepare(const ModelSpec& model, Precision precision) {
  RETURN_IF_ERROR(Supports(model, precision));
  std::lock_guard<std::mutex> prepare(impl_->prepare_mu);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->models.count(model.name)) return Status::Ok();
  }
  RETURN_IF_ERROR(CheckWeights(model.graph->graph, model.graph->weights));
  // The graph, its layout and the profile's input are made on the caller's thread: with one
  // libtorch thread, so that it gets no OpenMP team (see OneTorchThreadHere); the stages time
  // and run on their own threads.
  OneTorchThreadHere one;
  auto p = std::make_shared<Impl::Prepared>();
  try {
    p->graph = std::make_unique<TorchGraph>(*model.graph);
    if (impl_->options.channels_last) p->graph->UseChannelsLast();
  } catch (const std::exception& e) {
    return Status::InvalidArgument("model '" + model.name + "': " + e.what());
  }
  if (impl_->options.layer_fits.empty()) {
    RETURN_IF_ERROR(impl_->Profile(*p, model.name));
  } else {
    impl_->Predict(*p);
  }
  ASSIGN_OR_RETURN(p->plan.split, BalanceStages(p->plan.costs));
  const int n = static_cast<int>(model.graph->graph.nodes().size());
  if (impl_->options.refine_requests > 0 && impl_->workers.size() == 2 && n >= 3) {
    RETURN_IF_ERROR(impl_->Search(p, model, n));
  }
  for (const auto& w : impl_->workers) {
    const auto& c = w->options().cpus;
    p->plan.stage_devices.push_back(
        (c.empty() ? std::string("any CPU") : "CPUs " + CpuListText(c)) + ", " +
        std::to_string(w->threads()) + " thread(s)");
  }
  p->begin = std::make_shared<const std::vector<int>>(p->plan.split.begin);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->models.emplace(model.name, std::move(p));
  return Status::Ok();
}

Result<PipelinePlan> PipelinedCpuTarget::Plan(const ModelSpec& model, Precision precision) const {
  RETURN_IF_ERROR(Supports(model, precision));
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->models.find(model.name);
  if (it == impl_->models.end()) {
    return Status::InvalidArgument("model '" + model.name + "' is not prepared on target '" +
                                   desc_.name + "'");
  }
  return it->second->plan;
}

Status PipelinedCpuTarget::SetSplit(const ModelSpec& model, Precision precision,
                                    const std::vector<int>& begin) {
  RETURN_IF_ERROR(Prepare(model, precision));
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& p = *impl_->models.at(model.name);
  ASSIGN_OR_RETURN(StageSplit split, EvaluateSplit(p.plan.costs, begin));
  p.plan.split = split;
  p.begin = std::make_shared<const std::vector<int>>(begin);  // requests inside keep theirs
  return Status::Ok();
}

void PipelinedCpuTarget::StartRun(const ModelSpec& model, Precision precision, int level,
                                  HostTensor input, RunCallback done) {
  if (level != 0) {
    return done(Status::InvalidArgument("target '" + desc_.name +
                                        "' has one frequency level (0); got level " +
                                        std::to_string(level)));
  }
  if (Status st = CheckInput(model, input); !st.ok()) {
    return done(st.WithPrefix("target '" + desc_.name + "'"));
  }
  if (Status st = Prepare(model, precision); !st.ok()) return done(st);
  auto job = std::make_shared<Impl::Job>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    const auto& p = impl_->models.at(model.name);
    job->model = p;
    job->begin = p->begin;
  }
  job->done = std::move(done);
  // The input is copied into a tensor the job owns: the caller's buffer may go before stage 0
  // runs.
  torch::Tensor in = torch::empty(input.shape, torch::kFloat32);
  std::copy(input.data.begin(), input.data.end(), in.data_ptr<float>());
  impl_->Admit(job, in);
}

std::future<Result<InferenceResult>> PipelinedCpuTarget::Submit(const ModelSpec& model,
                                                                Precision precision, int level,
                                                                HostTensor input) {
  auto promise = std::make_shared<std::promise<Result<InferenceResult>>>();
  auto future = promise->get_future();
  StartRun(model, precision, level, std::move(input),
           [promise](Result<InferenceResult> r) { promise->set_value(std::move(r)); });
  return future;
}

Result<InferenceResult> PipelinedCpuTarget::Run(const ModelSpec& model, Precision precision,
                                                int level, const HostTensor& input) {
  return Submit(model, precision, level, input).get();
}

}  // namespace autoscale
