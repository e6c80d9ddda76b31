// The CPU target's cost over a bare libtorch forward pass of the same model, same process,
// batch 1, same thread count (the target: at most 2% for ResNet-18 and MobileNet v2).
//
// BM_Bare: TorchGraph::Forward on a ready tensor. BM_Target: CpuTarget::Run on a HostTensor
// (input check, wrap, thread/affinity check, timing, energy, output copy). BM_Paired alternates
// the two in one loop and reports the medians and their difference as counters, which cancels
// most of the drift a shared machine adds between separate benchmarks. --threads=N sets the
// thread count of both (default: one per allowed CPU).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>

#include "targets/cpu/cpu_target.h"
#include "targets/cpu/torch_model.h"
#include "targets/model_store.h"

namespace autoscale {
namespace {

int g_threads = 0;  // --threads=N; 0 = the target's default (one per allowed CPU)

struct Fixture {
  std::shared_ptr<const ModelSpec> spec;
  std::unique_ptr<TorchGraph> bare;
  std::unique_ptr<CpuTarget> target;
  HostTensor input;
  torch::Tensor tensor;
};

Fixture& Get(const std::string& model) {
  static ModelStore* store = new ModelStore();
  static std::map<std::string, Fixture>* fixtures = new std::map<std::string, Fixture>();
  auto it = fixtures->find(model);
  if (it != fixtures->end()) return it->second;
  Fixture f;
  f.spec = *store->Get(model);
  f.bare = std::make_unique<TorchGraph>(*f.spec->graph);
  f.bare->UseChannelsLast();  // the target's FP32 layout (CpuOptions::channels_last)
  CpuOptions o;
  o.use_counters = false;
  o.threads = g_threads;
  f.target = CpuTarget::Create(o);
  f.input = MakeHostInput(*f.spec, 1);
  f.tensor = WrapFloat(f.input.data.data(), f.input.shape);
  if (!f.target->Prepare(*f.spec, Precision::kFp32).ok()) std::abort();
  at::set_num_threads(f.target->threads());  // the bare pass gets the same threads
  return fixtures->emplace(model, std::move(f)).first->second;
}

void BM_Bare(benchmark::State& state, const char* model) {
  Fixture& f = Get(model);
  at::set_num_threads(f.target->threads());
  for (auto _ : state) {
    torch::Tensor y = f.bare->Forward(f.tensor);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["threads"] = f.target->threads();
}

void BM_Target(benchmark::State& state, const char* model) {
  Fixture& f = Get(model);
  for (auto _ : state) {
    auto r = f.target->Run(*f.spec, Precision::kFp32, 0, f.input);
    if (!r.ok()) state.SkipWithError(r.status().message().c_str());
    benchmark::DoNotOptimize(r->output.data.data());
  }
  state.counters["threads"] = f.target->threads();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void BM_Paired(benchmark::State& state, const char* model) {
  Fixture& f = Get(model);
  at::set_num_threads(f.target->threads());
  std::vector<double> bare, target;
  using Clock = std::chrono::steady_clock;
  bool bare_first = true;  // alternate the order so neither side always runs on a warm cache
  for (auto _ : state) {
    auto run_bare = [&] {
      const auto t0 = Clock::now();
      torch::Tensor y = f.bare->Forward(f.tensor);
      benchmark::DoNotOptimize(y.data_ptr());
      bare.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    };
    auto run_target = [&] {
      const auto t0 = Clock::now();
      auto r = f.target->Run(*f.spec, Precision::kFp32, 0, f.input);
      benchmark::DoNotOptimize(r->output.data.data());
      target.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    };
    if (bare_first) {
      run_bare();
      run_target();
    } else {
      run_target();
      run_bare();
    }
    bare_first = !bare_first;
  }
  const double b = Median(bare), t = Median(target);
  state.counters["bare_ms"] = b;
  state.counters["target_ms"] = t;
  state.counters["overhead_pct"] = 100.0 * (t - b) / b;
  state.counters["pairs"] = static_cast<double>(bare.size());
}

// The target's FP32 layout: NCHW against channels-last (CpuOptions::channels_last), runs of the
// two targets alternated in one loop; counters: the medians and nchw_ms / nhwc_ms.
void BM_Layout(benchmark::State& state, const char* model) {
  static ModelStore* store = new ModelStore();
  auto spec = store->Get(model);
  if (!spec.ok()) {
    state.SkipWithError(spec.status().message().c_str());
    return;
  }
  std::unique_ptr<CpuTarget> targets[2];
  for (int cl = 0; cl < 2; ++cl) {
    CpuOptions o;
    o.use_counters = false;
    o.threads = g_threads;
    o.channels_last = cl == 1;
    targets[cl] = CpuTarget::Create(o);
    if (!targets[cl]->Prepare(**spec, Precision::kFp32).ok()) std::abort();
  }
  const HostTensor input = MakeHostInput(**spec, 1);
  std::vector<double> ms[2];
  using Clock = std::chrono::steady_clock;
  int first = 0;  // alternate the order
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      const int cl = (first + k) % 2;
      const auto t0 = Clock::now();
      auto r = targets[cl]->Run(**spec, Precision::kFp32, 0, input);
      if (!r.ok()) {
        state.SkipWithError(r.status().message().c_str());
        return;
      }
      ms[cl].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    first ^= 1;
  }
  const double nchw = Median(ms[0]), nhwc = Median(ms[1]);
  state.counters["nchw_ms"] = nchw;
  state.counters["nhwc_ms"] = nhwc;
  state.counters["speedup"] = nchw / nhwc;
  state.counters["threads"] = targets[1]->threads();
}

BENCHMARK_CAPTURE(BM_Bare, resnet18, "resnet18")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Target, resnet18, "resnet18")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Paired, resnet18, "resnet18")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5);
BENCHMARK_CAPTURE(BM_Bare, mobilenet_v2, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Target, mobilenet_v2, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Paired, mobilenet_v2, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5);

#define LAYOUT(model) \
  BENCHMARK_CAPTURE(BM_Layout, model, #model)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3)
LAYOUT(inception_v1);
LAYOUT(inception_v3);
LAYOUT(mobilenet_v1);
LAYOUT(mobilenet_v2);
LAYOUT(resnet18);
LAYOUT(resnet50);
LAYOUT(squeezenet_1_1);
LAYOUT(vgg16);
#undef LAYOUT

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      autoscale::g_threads = std::atoi(a.c_str() + 10);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
