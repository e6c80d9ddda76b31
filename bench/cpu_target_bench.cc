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
#include <functional>
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

// Runs `a` and `b` once per benchmark iteration, alternating which goes first so that neither
// always runs on a warm cache; returns the median milliseconds of each and the pairs run. A
// run returning false stops the benchmark (it has set the error).
struct PairedMedians {
  double a_ms = 0, b_ms = 0;
  size_t pairs = 0;
};
PairedMedians TimePaired(benchmark::State& state, const std::function<bool()>& a,
                         const std::function<bool()>& b) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> ms[2];
  const std::function<bool()>* runs[2] = {&a, &b};
  int first = 0;
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      const int i = (first + k) % 2;
      const auto t0 = Clock::now();
      if (!(*runs[i])()) return {};
      ms[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    first ^= 1;
  }
  return {Median(ms[0]), Median(ms[1]), ms[0].size()};
}

void BM_Paired(benchmark::State& state, const char* model) {
  Fixture& f = Get(model);
  at::set_num_threads(f.target->threads());
  const PairedMedians m = TimePaired(
      state,
      [&] {
        torch::Tensor y = f.bare->Forward(f.tensor);
        benchmark::DoNotOptimize(y.data_ptr());
        return true;
      },
      [&] {
        auto r = f.target->Run(*f.spec, Precision::kFp32, 0, f.input);
        benchmark::DoNotOptimize(r->output.data.data());
        return true;
      });
  state.counters["bare_ms"] = m.a_ms;
  state.counters["target_ms"] = m.b_ms;
  state.counters["overhead_pct"] = 100.0 * (m.b_ms - m.a_ms) / m.a_ms;
  state.counters["pairs"] = static_cast<double>(m.pairs);
}

// The target's FP32 layout: NCHW against channels-last (CpuOptions::channels_last), runs of the
// two targets paired as in BM_Paired; counters: the medians and nchw_ms / nhwc_ms.
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
  auto run = [&](int cl) {
    return [&, cl] {
      auto r = targets[cl]->Run(**spec, Precision::kFp32, 0, input);
      if (!r.ok()) state.SkipWithError(r.status().message().c_str());
      return r.ok();
    };
  };
  const PairedMedians m = TimePaired(state, run(0), run(1));
  if (m.pairs == 0) return;
  state.counters["nchw_ms"] = m.a_ms;
  state.counters["nhwc_ms"] = m.b_ms;
  state.counters["speedup"] = m.a_ms / m.b_ms;
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

#define LAYOUT(model)                         \
  BENCHMARK_CAPTURE(BM_Layout, model, #model) \
      ->Unit(benchmark::kMillisecond)         \
      ->UseRealTime()                         \
      ->MinTime(3)
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
