// The pipelined CPU target (issue 14, point 1): outputs equal a whole forward pass for graphs
// with skips, branches and concatenations, at every split; requests stream from several callers
// at once; the split is balanced and said; what it cannot run is refused.
#include "targets/cpu/pipeline_target.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "targets/cpu/cpu_target.h"
#include "targets/cpu/host_memory.h"
#include "targets/cpu/torch_model.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"

namespace autoscale {
namespace {

std::shared_ptr<const ModelSpec> Zoo(const std::string& name) {
  static ModelStore* store = new ModelStore();
  auto spec = store->Get(name);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

// Two (or more) unpinned one-thread stages: the same on any host, one CPU or many.
std::unique_ptr<PipelinedCpuTarget> Make(int stages = 2, double power_mw = 0) {
  PipelineOptions o;
  o.profile_warmup = 1;
  o.profile_runs = 3;
  o.refine_requests = 0;  // the split as predicted (the measured search has its own test)
  o.base_power_mw = power_mw > 0 ? 100 : 0;
  for (int s = 0; s < stages; ++s) o.stages.push_back({{}, 1, power_mw});
  auto t = PipelinedCpuTarget::Create(o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

torch::Tensor Reference(const ModelSpec& spec, const HostTensor& in) {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  TorchGraph bare(*spec.graph);
  bare.UseChannelsLast();  // the stages' layout (PipelineOptions::channels_last)
  torch::Tensor y = bare.Forward(WrapFloat(in.data.data(), in.shape)).contiguous().clone();
  at::set_num_threads(threads);
  return y;
}

void ExpectSame(const torch::Tensor& ref, const InferenceResult& r, const std::string& what) {
  ASSERT_EQ(std::vector<int64_t>(ref.sizes().begin(), ref.sizes().end()), r.output.shape) << what;
  const torch::Tensor got = WrapFloat(r.output.data.data(), r.output.shape);
  EXPECT_TRUE(torch::allclose(got, ref, 1e-5, 1e-6))
      << what << ": max abs difference " << (got - ref).abs().max().item<float>();
}

TEST(PipelinedCpuTarget, MatchesAWholeForwardPass) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->stages(), 2);
  // Skips (resnet18), branches and concatenations (inception_v1, squeezenet), depthwise and
  // inverted residuals (mobilenet_v2), an LSTM (kws_lstm).
  for (const char* name :
       {"squeezenet_1_1", "resnet18", "inception_v1", "mobilenet_v2", "kws_lstm"}) {
    auto spec = Zoo(name);
    const HostTensor in = MakeHostInput(*spec, 11);
    auto r = t->Run(*spec, Precision::kFp32, 0, in);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    ExpectSame(Reference(*spec, in), *r, name);
    EXPECT_GT(r->latency_ms, 0);
    auto plan = t->Plan(*spec, Precision::kFp32);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->split.stages(), 2);
  }
}

TEST(PipelinedCpuTarget, EverySplitGivesTheSameOutput) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 5);
  const torch::Tensor ref = Reference(*spec, in);
  ASSERT_TRUE(t->Prepare(*spec, Precision::kFp32).ok());
  const int n = static_cast<int>(spec->graph->graph.nodes().size());
  for (int k = 1; k < n; ++k) {
    ASSERT_TRUE(t->SetSplit(*spec, Precision::kFp32, {0, k}).ok()) << k;
    auto r = t->Run(*spec, Precision::kFp32, 0, in);
    ASSERT_TRUE(r.ok()) << "cut " << k << ": " << r.status().ToString();
    ExpectSame(ref, *r, "cut before node " + std::to_string(k));
  }
  // Three stages too.
  auto t3 = Make(3);
  ASSERT_NE(t3, nullptr);
  auto r = t3->Run(*spec, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSame(ref, *r, "three stages");
}

TEST(PipelinedCpuTarget, ConcurrentCallersEachGetTheirOwnAnswer) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("resnet18");
  constexpr int kCallers = 6, kEach = 3;
  std::vector<HostTensor> inputs;
  std::vector<torch::Tensor> refs;
  for (int i = 0; i < kCallers * kEach; ++i) {
    inputs.push_back(MakeHostInput(*spec, 100 + i));
    refs.push_back(Reference(*spec, inputs.back()));
  }
  std::vector<Result<InferenceResult>> results(inputs.size(), Status::Internal("not run"));
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int k = 0; k < kEach; ++k) {
        const int i = c * kEach + k;
        results[i] = t->Run(*spec, Precision::kFp32, 0, inputs[i]);
      }
    });
  }
  for (auto& th : callers) th.join();
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    ExpectSame(refs[i], *results[i], "request " + std::to_string(i));
  }
}

// StartRun (Target's asynchronous run, which the daemon's engine uses for targets that take
// several requests at once): returns once the request is in, answers from the last stage's
// thread with each stage's time, and refuses what Run refuses through the callback.
TEST(PipelinedCpuTarget, StartRunAnswersFromTheLastStageWithStageTimes) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->description().max_concurrent, 64);
  EXPECT_EQ(t->description().stages, 2);
  auto spec = Zoo("squeezenet_1_1");
  ASSERT_TRUE(t->Prepare(*spec, Precision::kFp32).ok());
  constexpr int kRequests = 4;
  std::vector<std::promise<Result<InferenceResult>>> done(kRequests);
  std::vector<std::thread::id> answered_on(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    t->StartRun(*spec, Precision::kFp32, 0, MakeHostInput(*spec, 40 + i),
                [&, i](Result<InferenceResult> r) {
                  answered_on[i] = std::this_thread::get_id();
                  done[i].set_value(std::move(r));
                });
  }
  for (int i = 0; i < kRequests; ++i) {
    Result<InferenceResult> r = done[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectSame(Reference(*spec, MakeHostInput(*spec, 40 + i)), *r, "request " + std::to_string(i));
    ASSERT_EQ(r->stage_ms.size(), 2u);
    EXPECT_GT(r->stage_ms[0], 0);
    EXPECT_GT(r->stage_ms[1], 0);
    EXPECT_LE(r->stage_ms[0] + r->stage_ms[1], r->latency_ms + 1e-6);
    EXPECT_NE(answered_on[i], std::this_thread::get_id());
  }
  std::promise<Result<InferenceResult>> refused;
  t->StartRun(*spec, Precision::kFp32, 1, MakeHostInput(*spec, 1),
              [&](Result<InferenceResult> r) { refused.set_value(std::move(r)); });
  Result<InferenceResult> r = refused.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("one frequency level"), std::string::npos);
}

TEST(PipelinedCpuTarget, PlainCpuTargetsChangingThreadCountsBesideItChangeNothing) {
  // Two plain CPU targets with other thread counts run on another thread meanwhile, each setting
  // libtorch's thread count (and clearing what that clears) on every run, as the daemon's
  // targets do: the pipeline's answers stay right.
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("resnet18");
  auto other = Zoo("squeezenet_1_1");
  CpuOptions one, two;
  one.use_counters = two.use_counters = false;
  one.threads = 1;
  two.threads = 2;
  auto cpu1 = CpuTarget::Create(one);
  auto cpu2 = CpuTarget::Create(two);
  const HostTensor other_in = MakeHostInput(*other, 3);
  const torch::Tensor other_ref = Reference(*other, other_in);
  std::atomic<bool> stop{false};
  std::atomic<int> plain_runs{0}, plain_wrong{0};
  std::thread plain([&] {
    while (!stop) {
      for (CpuTarget* c : {cpu1.get(), cpu2.get()}) {
        auto r = c->Run(*other, Precision::kFp32, 0, other_in);
        if (!r.ok() || !torch::allclose(WrapFloat(r->output.data.data(), r->output.shape),
                                        other_ref, 1e-4, 1e-5)) {
          ++plain_wrong;
        }
        ++plain_runs;
      }
    }
  });
  std::vector<HostTensor> inputs;
  std::vector<torch::Tensor> refs;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back(MakeHostInput(*spec, 200 + i));
    refs.push_back(Reference(*spec, inputs.back()));
  }
  std::vector<std::future<Result<InferenceResult>>> futures;
  for (const HostTensor& in : inputs) futures.push_back(t->Submit(*spec, Precision::kFp32, 0, in));
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectSame(refs[i], *r, "request " + std::to_string(i));
  }
  stop = true;
  plain.join();
  EXPECT_GT(plain_runs.load(), 0);
  EXPECT_EQ(plain_wrong.load(), 0);
}

TEST(PipelinedCpuTarget, RequestsInFlightFinishWhenTheTargetGoes) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 2);
  std::vector<std::future<Result<InferenceResult>>> futures;
  for (int i = 0; i < 8; ++i) futures.push_back(t->Submit(*spec, Precision::kFp32, 0, in));
  t.reset();
  for (auto& f : futures) {
    auto r = f.get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
}

TEST(PipelinedCpuTarget, TheSplitIsBalancedAndSaid) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("mobilenet_v2");
  ASSERT_TRUE(t->Prepare(*spec, Precision::kFp32).ok());
  auto plan = t->Plan(*spec, Precision::kFp32);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const StageSplit& s = plan->split;
  ASSERT_EQ(s.stages(), 2);
  EXPECT_EQ(s.begin[0], 0);
  // No other cut of the measured costs has a faster slowest stage (each stage's times were
  // measured on its own cores, so the two rows differ by the machine's noise).
  const int n = static_cast<int>(plan->node_names.size());
  for (int k = 1; k < n; ++k) {
    auto other = EvaluateSplit(plan->costs, {0, k});
    ASSERT_TRUE(other.ok());
    EXPECT_GE(other->bottleneck_ms, s.bottleneck_ms * (1 - 1e-9)) << "cut " << k;
  }
  EXPECT_GT(s.bottleneck_ms, 0);
  // The same split evaluated again, and said.
  auto again = EvaluateSplit(plan->costs, s.begin);
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(again->bottleneck_ms, s.bottleneck_ms);
  const std::string text = plan->Describe();
  EXPECT_NE(text.find("stage 0: layers 0"), std::string::npos) << text;
  EXPECT_NE(text.find("stage 1: layers " + std::to_string(s.begin[1])), std::string::npos) << text;
  EXPECT_NE(text.find("requests/s"), std::string::npos) << text;
  ASSERT_EQ(plan->single_stage_ms.size(), 2u);
  EXPECT_GT(plan->single_stage_ms[0], 0);
}

TEST(PipelinedCpuTarget, SplitsByTheLayerPredictorWithoutTimingTheModel) {
  // A fit from in-model runs of two other networks, as a device profile's layer_model holds it.
  CpuOptions co;
  co.threads = 1;
  co.use_counters = false;
  auto cpu = CpuTarget::Create(co);
  std::vector<std::shared_ptr<const ModelSpec>> specs;
  std::vector<InModelRun> runs;
  for (const char* name : {"squeezenet_1_1", "resnet18"}) {
    specs.push_back(Zoo(name));
    auto t = cpu->TimeNodes(*specs.back(), Precision::kFp32, 1, 2);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    runs.push_back({name, &specs.back()->graph->graph, t->node_ms, t->run_ms});
  }
  auto fit = FitLayerModelInModel(runs);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  PipelineOptions o;
  o.stages = {{{}, 1, 0}, {{}, 1, 0}};
  o.refine_requests = 0;
  o.layer_fits = {std::make_shared<const LayerFit>(*fit)};
  auto t = PipelinedCpuTarget::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto spec = Zoo("mobilenet_v2");
  const HostTensor in = MakeHostInput(*spec, 9);
  auto r = (*t)->Run(*spec, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSame(Reference(*spec, in), *r, "predicted split");
  auto plan = (*t)->Plan(*spec, Precision::kFp32);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->source, "predicted");
  EXPECT_NE(plan->Describe().find("split from predicted layer times"), std::string::npos);
  // The predicted node times add up to the predictor's whole-model time on each stage.
  for (size_t s = 0; s < 2; ++s) {
    double sum = 0;
    for (double v : plan->costs.layer_ms[s]) sum += v;
    EXPECT_NEAR(sum, plan->single_stage_ms[s], 1e-9 * sum);
  }
  EXPECT_LE(plan->split.bottleneck_ms, plan->single_stage_ms[0]);
  // Fits that cannot be used.
  o.layer_fits = {std::make_shared<const LayerFit>()};
  EXPECT_FALSE(PipelinedCpuTarget::Create(o).ok());
  o.layer_fits = {std::make_shared<const LayerFit>(*fit), std::make_shared<const LayerFit>(*fit),
                  std::make_shared<const LayerFit>(*fit)};
  EXPECT_FALSE(PipelinedCpuTarget::Create(o).ok());
}

TEST(PipelinedCpuTarget, TheMeasuredSearchKeepsTheFastestCandidate) {
  PipelineOptions o;
  o.profile_warmup = 1;
  o.profile_runs = 2;
  o.refine_requests = 4;
  o.stages = {{{}, 1, 0}, {{}, 1, 0}};
  auto t = PipelinedCpuTarget::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 4);
  auto r = (*t)->Run(*spec, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSame(Reference(*spec, in), *r, "after the search");
  auto plan = (*t)->Plan(*spec, Precision::kFp32);
  ASSERT_TRUE(plan.ok());
  const int n = static_cast<int>(plan->node_names.size());
  ASSERT_GE(plan->candidates.size(), 3u);  // the balanced cut, some eighths, all but the last
  bool balanced = false, last = false;
  double best = 0;
  for (const auto& [k, rate] : plan->candidates) {
    EXPECT_GT(k, 0);
    EXPECT_LT(k, n);
    EXPECT_GT(rate, 0);
    balanced |= k == plan->balanced_cut;
    last |= k == n - 1;
    best = std::max(best, rate);
  }
  EXPECT_TRUE(balanced);
  EXPECT_TRUE(last);
  for (const auto& [k, rate] : plan->candidates) {
    if (k == plan->split.begin[1]) {
      EXPECT_DOUBLE_EQ(rate, best);
    }
  }
  // The second phase: the coarse winner beside the cuts halfway to its neighbours (strictly
  // between them), and the chosen split the fastest of these.
  if (!plan->refined.empty()) {
    std::vector<int> coarse;
    int coarse_best = -1;
    for (const auto& [k, rate] : plan->candidates) {
      coarse.push_back(k);
      if (rate == best && coarse_best < 0) coarse_best = k;
    }
    std::sort(coarse.begin(), coarse.end());
    const auto at = std::find(coarse.begin(), coarse.end(), coarse_best);
    const int lo = at == coarse.begin() ? coarse_best : *(at - 1);
    const int hi = at + 1 == coarse.end() ? coarse_best : *(at + 1);
    EXPECT_EQ(plan->refined[0].first, coarse_best);
    double refined_best = 0;
    for (const auto& [k, rate] : plan->refined) {
      EXPECT_GE(k, lo);
      EXPECT_LE(k, hi);
      EXPECT_GT(rate, 0);
      refined_best = std::max(refined_best, rate);
    }
    for (size_t i = 1; i < plan->refined.size(); ++i) {
      EXPECT_EQ(std::count(coarse.begin(), coarse.end(), plan->refined[i].first), 0);
    }
    bool chosen = false;
    for (const auto& [k, rate] : plan->refined) {
      if (k == plan->split.begin[1]) {
        EXPECT_DOUBLE_EQ(rate, refined_best);
        chosen = true;
      }
    }
    EXPECT_TRUE(chosen);
    EXPECT_NE(plan->Describe().find("around the fastest"), std::string::npos) << plan->Describe();
  }
  EXPECT_NE(plan->Describe().find("measured search over"), std::string::npos) << plan->Describe();
}

// StreamThroughput counts the steady state: neither the pipeline's fill nor its drain. Eight
// requests, four in flight: the first result comes 1 s after the start (a trip through every
// stage), the next four every 50 ms with the window full, and the last three, submitted no
// more, 1 ms apart (stages that no longer share the machine run faster). The full window's 20
// per second is the rate; the whole run's average (8 in 1.2 s: 6.6 per second) would charge the
// fill, and first to last (7 in 203 ms: 34 per second) the drain.
TEST(StreamThroughput, CountsTheSteadyStateNotThePipelinesFillOrDrain) {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::now();
  int started = 0;
  auto start = [&] {
    const int i = started++;
    const auto at = i <= 4 ? t0 + 1000ms + i * 50ms : t0 + 1200ms + (i - 4) * 1ms;
    return std::async(std::launch::async, [at]() -> Result<InferenceResult> {
      std::this_thread::sleep_until(at);
      return InferenceResult{};
    });
  };
  auto rate = StreamThroughput(start, 8, 4);
  ASSERT_TRUE(rate.ok()) << rate.status().ToString();
  EXPECT_EQ(started, 8);
  // Late wake-ups only move it down (by 30 ms of lateness to 17); neither bias comes near.
  EXPECT_LE(*rate, 21.0);
  EXPECT_GE(*rate, 12.0);
  // A failure is returned, after every request was waited for.
  started = 0;
  auto failing = [&] {
    ++started;
    std::promise<Result<InferenceResult>> p;
    p.set_value(started == 2 ? Result<InferenceResult>(Status::Unavailable("stage 1 failed"))
                             : Result<InferenceResult>(InferenceResult{}));
    return p.get_future();
  };
  auto failed = StreamThroughput(failing, 5, 2);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.status().ToString().find("stage 1 failed"), std::string::npos);
  EXPECT_EQ(started, 5);
}

// Every local CPU target leaves OpenBLAS one thread when created, whatever it was: its pool's
// unpinned threads spin after each GEMM on the cores the stages and intra-op threads need.
TEST(CpuTargets, LeaveOpenBlasOneThread) {
  SetBlasThreads(2);
  if (BlasThreads() != 2) GTEST_SKIP() << "no OpenBLAS with a thread pool in this process";
  CpuOptions c;
  c.use_counters = false;
  c.threads = 2;
  auto cpu = CpuTarget::Create(c);
  EXPECT_EQ(BlasThreads(), 1);
  SetBlasThreads(2);
  auto pipeline = Make();
  ASSERT_NE(pipeline, nullptr);
  EXPECT_EQ(BlasThreads(), 1);
}

// Threads of this process now.
int ProcessThreads() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Prepare builds on the caller's thread (the daemon's main thread) with one libtorch thread and
// gives its count back: a team of OpenMP threads started there halved the same target's intra-op
// throughput on its own thread (OneTorchThreadHere, host_memory.h).
TEST(CpuTargets, PrepareStartsNoOpenMpThreadsForTheCaller) {
  auto spec = Zoo("mobilenet_v2");
  CpuOptions c;
  c.use_counters = false;
  c.threads = 2;
  auto cpu = CpuTarget::Create(c);
  auto pipeline = Make();
  ASSERT_NE(pipeline, nullptr);
  int before = 0, after = 0, count = 0;
  std::thread([&] {
    at::set_num_threads(2);
    before = ProcessThreads();
    EXPECT_TRUE(cpu->Prepare(*spec, Precision::kFp32).ok());
    EXPECT_TRUE(pipeline->Prepare(*spec, Precision::kFp32).ok());
    after = ProcessThreads();
    count = at::get_num_threads();
  }).join();
  EXPECT_EQ(after, before);
  EXPECT_EQ(count, 2);
}

TEST(PipelinedCpuTarget, ModelsEnergyFromTheStagesPower) {
  auto t = Make(2, 1000);
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("squeezenet_1_1");
  auto r = t->Run(*spec, Precision::kFp32, 0, MakeHostInput(*spec, 1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->energy_source, EnergySource::kModelled);
  // Base power over the whole latency, each stage's over its own part of it.
  EXPECT_GE(r->energy_mj, 100 * r->latency_ms / 1000.0);
  EXPECT_LE(r->energy_mj, (100 + 2 * 1000) * r->latency_ms / 1000.0);
  EXPECT_GT(r->energy_mj, 100 * r->latency_ms / 1000.0);
}

TEST(PipelinedCpuTarget, RefusesWhatItCannotRun) {
  auto t = Make();
  ASSERT_NE(t, nullptr);
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 1);
  auto int8 = t->Run(*spec, Precision::kInt8, 0, in);
  ASSERT_FALSE(int8.ok());
  EXPECT_NE(int8.status().message().find("FP32 only"), std::string::npos);
  auto level = t->Run(*spec, Precision::kFp32, 1, in);
  ASSERT_FALSE(level.ok());
  EXPECT_NE(level.status().message().find("one frequency level"), std::string::npos);
  HostTensor wrong = in;
  wrong.shape = {1, 3, 10, 10};
  wrong.data.resize(300);
  auto bad = t->Run(*spec, Precision::kFp32, 0, wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cpu_pipeline"), std::string::npos)
      << bad.status().ToString();
  ModelSpec script;
  script.name = "scripted";
  script.torchscript_path = "/nonexistent.pt";
  script.input_shape = {3};
  auto no_graph = t->Supports(script, Precision::kFp32);
  ASSERT_FALSE(no_graph.ok());
  EXPECT_NE(no_graph.message().find("no graph"), std::string::npos);
  auto other = Zoo("resnet18");
  EXPECT_FALSE(t->Plan(*other, Precision::kFp32).ok());  // not prepared
  ASSERT_TRUE(t->Prepare(*spec, Precision::kFp32).ok());
  EXPECT_FALSE(t->SetSplit(*spec, Precision::kFp32, {0, 0}).ok());
  EXPECT_FALSE(t->SetSplit(*spec, Precision::kFp32, {0}).ok());
  EXPECT_FALSE(t->SetSplit(*spec, Precision::kFp32, {0, 1000}).ok());
  // Options.
  PipelineOptions o;
  o.stages = {{{100000}, 1, 0}};
  auto no_cpu = PipelinedCpuTarget::Create(o);
  ASSERT_FALSE(no_cpu.ok());
  EXPECT_NE(no_cpu.status().message().find("CPU 100000"), std::string::npos);
  o.stages = {{{}, -1, 0}};
  EXPECT_FALSE(PipelinedCpuTarget::Create(o).ok());
  o.stages = {{{}, 1, 0}};
  o.handoff_gb_per_s = 0;
  EXPECT_FALSE(PipelinedCpuTarget::Create(o).ok());
}

TEST(PipelinedCpuTarget, StagesKeepTheirOwnThreadCount) {
  // A stage sets its intra-op thread count on its own thread; the caller's stays as it was.
  const int before = at::get_num_threads();
  PipelineOptions o;
  o.profile_warmup = 0;
  o.profile_runs = 1;
  o.refine_requests = 0;
  o.stages = {{{}, 1, 0}, {{}, 1, 0}};
  at::set_num_threads(2);
  auto t = PipelinedCpuTarget::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto spec = Zoo("squeezenet_1_1");
  ASSERT_TRUE((*t)->Run(*spec, Precision::kFp32, 0, MakeHostInput(*spec, 1)).ok());
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(before);
}

}  // namespace
}  // namespace autoscale
