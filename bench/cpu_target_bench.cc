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
