// OpenCL target vs the libtorch CPU reference, per zoo CNN: FP32 latency of one inference
// (batch 1) on each, the ratio, and, for models where OpenCL is more than 5x slower, where the
// OpenCL time goes by kernel (OpenCL profiling events).
//
//   build/bench/opencl_bench                          # every CNN in the zoo
//   build/bench/opencl_bench --benchmark_filter=resnet
//   build/bench/opencl_bench --profile_all            # kernel breakdown of every model
//
// Thread counts: libtorch runs with torch::set_num_threads(N) where N is the OpenCL device's
// compute units (PoCL: one worker thread per unit, POCL_MAX_PTHREAD_COUNT=1 for a one-core
// comparison); both are printed in the header. On a phone the OpenCL device is the GPU and the
// comparison is against its CPU instead. Set POCL_CACHE_DIR so that PoCL's compiled kernels
// are reused between runs.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "targets/cpu/torch_model.h"
#include "targets/opencl/opencl_target.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

struct Model {
  ModelSpec spec;
  HostTensor input;
  double gmacs = 0;
};

// Built once per model (weights are seeded, VGG-16's take a few seconds).
const Model& GetModel(const std::string& name) {
  static auto* models = new std::map<std::string, Model>();
  auto it = models->find(name);
  if (it != models->end()) return it->second;
  Model m;
  Result<Graph> g = BuildZooModel(name);
  Result<WeightedGraph> wg = PrepareForInference(*g);
  for (const GraphNode& n : g->nodes()) m.gmacs += static_cast<double>(n.macs) * 1e-9;
  m.spec.name = name;
  m.spec.input_shape = g->input_shape();
  m.spec.graph = std::make_shared<const WeightedGraph>(std::move(wg).value());
  m.input = MakeHostInput(m.spec, 7);
  return models->emplace(name, std::move(m)).first->second;
}

OpenClTarget& ClTarget(bool profile) {
  static OpenClTarget* plain = OpenClTarget::Create({}).release();
  static OpenClTarget* profiled = [] {
    OpenClOptions o;
    o.profile_kernels = true;
    return OpenClTarget::Create(o).release();
  }();
  return profile ? *profiled : *plain;
}

struct Row {
  double gmacs = 0, torch_ms = 0, opencl_ms = 0;
};
std::map<std::string, Row>& Rows() {
  static auto* rows = new std::map<std::string, Row>();
  return *rows;
}

void BM_Torch(benchmark::State& state, const std::string& name) {
  const Model& m = GetModel(name);
  const TorchGraph graph(*m.spec.graph);
  c10::InferenceMode guard;
  const torch::Tensor x = WrapFloat(m.input.data.data(), m.input.shape);
  graph.Forward(x);  // warm-up: oneDNN primitive creation
  for (auto _ : state) benchmark::DoNotOptimize(graph.Forward(x));
  Rows()[name].gmacs = m.gmacs;
  state.counters["GMAC/s"] = benchmark::Counter(m.gmacs * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void BM_OpenCl(benchmark::State& state, const std::string& name) {
  OpenClTarget& t = ClTarget(false);
  if (!t.available()) {
    state.SkipWithError(("no OpenCL device: " + t.description().unavailable_reason).c_str());
    return;
  }
  const Model& m = GetModel(name);
  const Status prep = t.Prepare(m.spec, Precision::kFp32);
  if (!prep.ok()) {
    state.SkipWithError(prep.ToString().c_str());
    return;
  }
  if (!t.Run(m.spec, Precision::kFp32, 0, m.input).ok()) {  // warm-up: PoCL compiles per shape
    state.SkipWithError("warm-up run failed");
    return;
  }
  double total_ms = 0;
  for (auto _ : state) {
    Result<InferenceResult> r = t.Run(m.spec, Precision::kFp32, 0, m.input);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    total_ms += r->latency_ms;
  }
  Rows()[name].gmacs = m.gmacs;
  Rows()[name].opencl_ms = total_ms / static_cast<double>(state.iterations());
  state.counters["GMAC/s"] = benchmark::Counter(m.gmacs * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  const double torch_ms = Rows()[name].torch_ms;
  if (torch_ms > 0) state.counters["x_cpu"] = Rows()[name].opencl_ms / torch_ms;
}

// Reports each benchmark's mean real time into Rows() as it finishes (so that the OpenCL run of
// a model can report its ratio to the CPU run registered just before it).
class Reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string n = r.benchmark_name();
      const double ms = r.GetAdjustedRealTime();  // in the benchmark's unit: ms
      // "torch/<model>/min_time:.../real_time"
      if (n.rfind("torch/", 0) == 0) Rows()[n.substr(6, n.find('/', 6) - 6)].torch_ms = ms;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

// The 1, 5 and 15 minute load averages: other work on the machine skews both sides (libtorch's
// OpenMP threads most, as each parallel region waits for its slowest thread).
std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return f ? a + " " + b + " " + c : "unknown";
}

void PrintProfile(const std::string& name) {
  OpenClTarget& t = ClTarget(true);
  const Model& m = GetModel(name);
  if (!t.Run(m.spec, Precision::kFp32, 0, m.input).ok()) return;  // warm-up
  t.ResetKernelProfile();
  constexpr int kRuns = 3;
  for (int i = 0; i < kRuns; ++i) {
    if (!t.Run(m.spec, Precision::kFp32, 0, m.input).ok()) return;
  }
  const std::map<std::string, KernelTime> profile = t.kernel_profile();
  std::vector<std::pair<std::string, KernelTime>> k(profile.begin(), profile.end());
  double total = 0;
  for (const auto& [_, v] : k) total += v.ms;
  std::sort(k.begin(), k.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  std::printf("  %s: %.1f ms of kernels per run\n", name.c_str(), total / kRuns);
  for (const auto& [kernel, v] : k) {
    if (v.ms / total < 0.005) continue;
    std::printf("    %-16s %5.1f%%  %8.2f ms/run  %4ld launches/run\n", kernel.c_str(),
                100 * v.ms / total, v.ms / kRuns, static_cast<long>(v.launches / kRuns));
  }
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) {
  using namespace autoscale;
  // --profile_all: print the kernel breakdown of every model, not only the slow ones.
  bool profile_all = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--profile_all") {
      profile_all = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  const TargetDescription& d = ClTarget(false).description();
  // The same thread count on both sides: PoCL's compute units are the cores it uses.
  int cpu_threads = static_cast<int>(at::get_num_threads());
  if (d.available) {
    const size_t at = d.device.find(" compute units");
    const size_t from = d.device.rfind(", ", at);
    if (at != std::string::npos && from != std::string::npos) {
      cpu_threads = std::stoi(d.device.substr(from + 2, at - from - 2));
    }
  }
  torch::set_num_threads(cpu_threads);
  std::printf("OpenCL device: %s\nlibtorch: %d intra-op threads\nload average at start: %s\n",
              d.available ? d.device.c_str() : d.unavailable_reason.c_str(),
              static_cast<int>(at::get_num_threads()), LoadAverage().c_str());
  std::vector<std::string> names;
  for (const std::string& n : ZooModelNames()) {
    if (n == "kws_lstm") continue;  // not a CNN: the OpenCL target does not run it
    names.push_back(n);
    benchmark::RegisterBenchmark(("torch/" + n).c_str(), BM_Torch, n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("opencl/" + n).c_str(), BM_OpenCl, n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0);
  }
  Reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nload average at end: %s\n", LoadAverage().c_str());
  std::printf("\n%-16s %7s %10s %10s %9s %12s\n", "model", "GMACs", "cpu ms", "opencl ms",
              "opencl/cpu", "opencl GMAC/s");
  std::vector<std::string> slow;
  for (const auto& [name, r] : Rows()) {
    if (r.opencl_ms <= 0) continue;
    const double ratio = r.torch_ms > 0 ? r.opencl_ms / r.torch_ms : 0;
    std::printf("%-16s %7.2f %10.1f %10.1f %9.2fx %12.1f\n", name.c_str(), r.gmacs, r.torch_ms,
                r.opencl_ms, ratio, r.gmacs / (r.opencl_ms * 1e-3));
    if (ratio > 5 || profile_all) slow.push_back(name);
  }
  if (!slow.empty()) {
    std::printf("\nWhere OpenCL time goes (%s):\n",
                profile_all ? "all models" : "models more than 5x slower than the CPU");
  }
  for (const std::string& name : slow) PrintProfile(name);
  benchmark::Shutdown();
  return 0;
}
