// What a batch costs per sample: a bare TorchGraph forward of a zoo model at batch 1..16, with 1
// and 2 intra-op threads, in the NCHW layout (the CPU target) and channels-last (the worker on the
// CPU). The worker's allocator cache and BLAS thread cap are installed as the worker installs them,
// so the figures are those its batcher sees without the HTTP side. Counter samples = samples per
// second of wall time.
//
//   batch_scaling_bench [--benchmark_filter=mobilenet_v2/8/2/] [--benchmark_repetitions=3]
//
// Arguments of each case: batch / threads / layout (0 NCHW, 1 channels-last).
#include <benchmark/benchmark.h>

#include <map>

#include "targets/cpu/torch_model.h"
#include "targets/model_store.h"
#include "targets/worker/executor.h"

namespace autoscale {
namespace {

struct Fixture {
  std::shared_ptr<const ModelSpec> spec;
  std::unique_ptr<TorchGraph> nchw;
  std::unique_ptr<TorchGraph> nhwc;
};

Fixture& Get(const std::string& name) {
  static ModelStore* store = new ModelStore();
  static std::map<std::string, Fixture>* fixtures = new std::map<std::string, Fixture>();
  auto it = fixtures->find(name);
  if (it != fixtures->end()) return it->second;
  InstallCachingHostAllocator(size_t{1} << 30);  // WorkerOptions::host_cache_bytes' default
  SetBlasThreads(1);
  Fixture f;
  auto spec = store->Get(name);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().ToString().c_str());
    std::abort();
  }
  f.spec = *spec;
  f.nchw = std::make_unique<TorchGraph>(*f.spec->graph);
  f.nhwc = std::make_unique<TorchGraph>(*f.spec->graph);
  f.nhwc->UseChannelsLast();
  return fixtures->emplace(name, std::move(f)).first->second;
}

void BM_Forward(benchmark::State& state, const char* name) {
  Fixture& f = Get(name);
  const int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  const TorchGraph& model = state.range(2) == 1 ? *f.nhwc : *f.nchw;
  const HostTensor in = MakeHostInput(*f.spec, 1, batch);
  const torch::Tensor x = WrapFloat(in.data.data(), in.shape);
  c10::InferenceMode guard;
  for (auto _ : state) {
    torch::Tensor y = model.Forward(x).contiguous();
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["samples"] =
      benchmark::Counter(static_cast<double>(batch) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Forward, mobilenet_v2, "mobilenet_v2")
    ->ArgsProduct({{1, 2, 4, 8, 16}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0);

}  // namespace
}  // namespace autoscale

BENCHMARK_MAIN();
