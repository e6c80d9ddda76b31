// FP32 TorchGraph vs post-training INT8 (TorchInt8Graph) per zoo model, batch 1: latency, and
// the INT8 model's top-1 agreement with FP32 and mean relative L2 error of the logits over
// seeded inputs MakeInput(graph, seed = 0..99) (computed once per model and engine, outside
// the timed loop). The zoo's weights are seeded, not trained: top-1 margins are small, so read
// agreement together with the relative error.
//
//   build/bench/int8_bench [--threads=1] [--agreement_inputs=100] [--calibration_inputs=16]
//                          [--ranges=mse|minmax] [--engines=onednn,qnnpack]
//                          [--model_dir=DIR] [--benchmark_filter=resnet18]
//
// --model_dir: the users' TorchScript models in DIR (NAME.pt with its NAME.yaml sidecar)
// instead of the zoo, imported into the graph IR with their own weights as the model store
// serves them (batch-norm folded); INT8 calibrates on the sidecar's sample folder when it names
// one (as the CPU target does), else on seeded inputs. A model the import could not map fully
// has no graph to quantize: its benchmarks are skipped with the ops it could not map.
//
// Benchmarks: fp32/<model>, then int8/<model>/<engine> for every quantized engine this libtorch
// has, the default engine first; BM_Int8MaxPool/channels:C/pad:P, the quantized max pool with
// and without its channel padding (QuantizedMaxPool2d); BM_Int8Cat/channels:C/table:T, the
// quantized concatenation, libtorch's and QuantizedCatChannelsLast. Counters on the int8 runs:
// top1_agree, rel_l2 (mean ||int8 - fp32|| / ||fp32||), speedup (fp32 time / int8 time, when
// fp32/<model> ran before), threads; on the fp32 runs top1_margin (mean FP32 top-1 minus top-2
// logit over the logits' standard deviation: how easily an error swaps the top two). Both run with
// torch::set_num_threads(--threads).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "targets/cpu/cpu_target.h"
#include "targets/cpu/torch_int8.h"
#include "targets/model_store.h"
#include "zoo/torchscript/torchscript_import.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

struct Flags {
  int threads = 1;
  int agreement_inputs = 100;
  int calibration_inputs = Int8Options{}.calibration_inputs;
  Int8Ranges ranges = Int8Options{}.ranges;
  std::vector<std::string> engines;  // empty = every supported engine
  std::string model_dir;             // users' models instead of the zoo's
};
Flags& flags() {
  static Flags f;
  return f;
}

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "int8_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

torch::Tensor Input(const Graph& g, uint64_t seed) {
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  const std::vector<float> x = MakeInput(g, seed);
  return WrapFloat(x.data(), shape).clone();
}

// Everything one model's benchmarks share, built on first use (so a filter skips the work).
struct ModelContext {
  std::string error;  // why this model cannot be benchmarked ("" when it can)
  Graph graph;
  WeightedGraph weighted;
  std::unique_ptr<TorchGraph> fp32;
  std::vector<torch::Tensor> reference;  // FP32 logits of the agreement inputs
  double margin = 0;                     // mean FP32 (top-1 - top-2 logit) / std of the logits
  Int8Calibration calibration;
  double fp32_seconds = 0;  // per inference, once fp32/<model> has run
  std::map<std::string, std::unique_ptr<TorchInt8Graph>> int8;
};

ModelContext& Context(const std::string& model) {
  static auto* contexts = new std::map<std::string, std::unique_ptr<ModelContext>>();
  auto& ctx = (*contexts)[model];
  if (ctx) return *ctx;
  ctx = std::make_unique<ModelContext>();
  Int8Options opt;
  opt.calibration_inputs = flags().calibration_inputs;
  opt.ranges = flags().ranges;
  if (flags().model_dir.empty()) {
    auto g = BuildZooModel(model);
    if (!g.ok()) Die(g.status());
    ctx->graph = std::move(g).value();
    auto w = PrepareForInference(ctx->graph);
    if (!w.ok()) Die(w.status());
    ctx->weighted = std::move(w).value();
  } else {
    // A user's model: the imported graph with the file's weights (never seeded ones).
    static auto* store = new ModelStore(flags().model_dir);
    auto spec = store->Get(model);
    if (!spec.ok()) {
      ctx->error = spec.status().ToString();
      return *ctx;
    }
    if (!(*spec)->is_graph()) {
      ctx->error = Int8RefusalForTorchScript(**spec);
      return *ctx;
    }
    ctx->weighted = *(*spec)->graph;
    ctx->graph = ctx->weighted.graph;
    auto samples = LoadCalibrationSamples(**spec, kMaxCalibrationSamples);
    if (!samples.ok()) {
      ctx->error = samples.status().ToString();
      return *ctx;
    }
    opt.calibration_samples = std::move(samples).value();
  }
  ctx->fp32 = std::make_unique<TorchGraph>(ctx->weighted);
  for (int i = 0; i < flags().agreement_inputs; ++i) {
    ctx->reference.push_back(ctx->fp32->Forward(Input(ctx->graph, i)));
    const torch::Tensor top2 = std::get<0>(ctx->reference.back().topk(2, 1));
    ctx->margin += ((top2[0][0] - top2[0][1]) / ctx->reference.back().std()).item<double>() /
                   flags().agreement_inputs;
  }
  auto cal = CalibrateInt8(*ctx->fp32, opt);
  if (!cal.ok()) Die(cal.status());
  ctx->calibration = std::move(cal).value();
  return *ctx;
}

template <typename F>
double TimeLoop(benchmark::State& state, F&& run) {
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(run());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return state.iterations() > 0 ? s / static_cast<double>(state.iterations()) : 0.0;
}

void BM_Fp32(benchmark::State& state, const std::string& model) {
  ModelContext& ctx = Context(model);
  if (!ctx.error.empty()) {
    state.SkipWithError(ctx.error.c_str());
    return;
  }
  const torch::Tensor x = Input(ctx.graph, 0);
  ctx.fp32_seconds = TimeLoop(state, [&] { return ctx.fp32->Forward(x); });
  state.counters["threads"] = flags().threads;
  state.counters["top1_margin"] = ctx.margin;
}

void BM_Int8(benchmark::State& state, const std::string& model, const std::string& engine) {
  ModelContext& ctx = Context(model);
  if (!ctx.error.empty()) {
    state.SkipWithError(ctx.error.c_str());
    return;
  }
  auto& q = ctx.int8[engine];
  Int8Options opt;
  opt.engine = engine;
  auto built = TorchInt8Graph::Build(ctx.weighted, ctx.calibration, opt);
  if (!built.ok()) {
    state.SkipWithError(built.status().ToString().c_str());
    return;
  }
  q = std::move(built).value();
  // Agreement over the seeded inputs, batch 1 like the FP32 reference (untimed).
  double agree = 0, rel_l2 = 0;
  for (int i = 0; i < flags().agreement_inputs; ++i) {
    const torch::Tensor& f = ctx.reference[i];
    const torch::Tensor y = q->Forward(Input(ctx.graph, i));
    agree += f.argmax(1).item<int64_t>() == y.argmax(1).item<int64_t>();
    rel_l2 += ((y - f).norm() / f.norm()).item<double>();
  }
  const torch::Tensor x = Input(ctx.graph, 0);
  const double seconds = TimeLoop(state, [&] { return q->Forward(x); });
  const int n = std::max(1, flags().agreement_inputs);
  state.counters["top1_agree"] = agree / n;
  state.counters["rel_l2"] = rel_l2 / n;
  state.counters["threads"] = flags().threads;
  if (ctx.fp32_seconds > 0 && seconds > 0) state.counters["speedup"] = ctx.fp32_seconds / seconds;
  state.SetLabel(q->Summary());
}

// Quantized max pooling (3x3, stride 2, padding 1) of a channels-last 1 x C x 112 x 112 input,
// libtorch's kernel as it is (pad 0) against QuantizedMaxPool2d padding the channels to a
// multiple of 32 (pad 1): libtorch 1.13 vectorises only such counts. Args: channels, pad.
void BM_Int8MaxPool(benchmark::State& state) {
  const int64_t c = state.range(0);
  const bool pad = state.range(1) != 0;
  torch::manual_seed(1);
  const torch::Tensor x = at::quantize_per_tensor(
      torch::randn({1, c, 112, 112}).contiguous(at::MemoryFormat::ChannelsLast), 0.03, 0,
      torch::kQUInt8);
  for (auto _ : state) {
    torch::Tensor y = QuantizedMaxPool2d(x, 3, 3, 2, 2, 1, 1, false, pad);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["channels"] = static_cast<double>(c);
}

// Quantized channel concatenation of two channels-last 1 x C x 28 x 28 inputs whose parameters
// differ from the output's (ShuffleNet's), libtorch's quantized::cat (table 0) against
// QuantizedCatChannelsLast (table 1). Args: channels, table.
void BM_Int8Cat(benchmark::State& state) {
  const int64_t c = state.range(0);
  const bool table = state.range(1) != 0;
  torch::manual_seed(1);
  auto part = [&](double scale, int64_t zp) {
    return at::quantize_per_tensor(
        torch::rand({1, c, 28, 28}).contiguous(at::MemoryFormat::ChannelsLast), scale, zp,
        torch::kQUInt8);
  };
  const std::vector<torch::Tensor> parts = {part(0.02, 3), part(0.03, 5)};
  for (auto _ : state) {
    torch::Tensor y = table ? QuantizedCatChannelsLast(parts, 0.025, 4, true)
                            : LibtorchQuantizedCat(parts, 0.025, 4);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["channels"] = static_cast<double>(c);
}

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Removes "--name=value" from argv and returns its value, or nullptr.
const char* TakeFlag(int& argc, char** argv, const char* name) {
  const size_t len = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') {
      const char* value = argv[i] + len + 1;
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      return value;
    }
  }
  return nullptr;
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) {
  using namespace autoscale;
  if (const char* v = TakeFlag(argc, argv, "--threads")) flags().threads = std::atoi(v);
  if (const char* v = TakeFlag(argc, argv, "--agreement_inputs")) {
    flags().agreement_inputs = std::atoi(v);
  }
  if (const char* v = TakeFlag(argc, argv, "--calibration_inputs")) {
    flags().calibration_inputs = std::atoi(v);
  }
  if (const char* v = TakeFlag(argc, argv, "--ranges")) {
    if (std::strcmp(v, "minmax") != 0 && std::strcmp(v, "mse") != 0) {
      std::fprintf(stderr, "int8_bench: --ranges takes minmax or mse\n");
      return 1;
    }
    flags().ranges = std::strcmp(v, "minmax") == 0 ? Int8Ranges::kMinMax : Int8Ranges::kMse;
  }
  if (const char* v = TakeFlag(argc, argv, "--engines")) {
    flags().engines = SplitNames(v);
  }
  std::vector<std::string> models = ZooModelNames();
  if (const char* v = TakeFlag(argc, argv, "--model_dir")) {
    flags().model_dir = v;
    InstallTorchScriptImporter();
    models.clear();
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(v, ec)) {
      if (e.path().extension() == ".pt") models.push_back(e.path().stem().string());
    }
    if (ec || models.empty()) {
      std::fprintf(stderr, "int8_bench: --model_dir=%s holds no NAME.pt files\n", v);
      return 1;
    }
    std::sort(models.begin(), models.end());
  }
  torch::set_num_threads(std::max(1, flags().threads));
  std::vector<std::string> engines =
      flags().engines.empty() ? SupportedInt8Engines() : flags().engines;
  const std::string def = DefaultInt8Engine();
  std::stable_partition(engines.begin(), engines.end(), [&](const auto& e) { return e == def; });
  for (const std::string& model : models) {
    benchmark::RegisterBenchmark(("fp32/" + model).c_str(), BM_Fp32, model)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (const std::string& engine : engines) {
      benchmark::RegisterBenchmark(("int8/" + model + "/" + engine).c_str(), BM_Int8, model, engine)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  benchmark::RegisterBenchmark("BM_Int8MaxPool", BM_Int8MaxPool)
      ->ArgsProduct({{24, 32, 58, 64, 116}, {0, 1}})
      ->ArgNames({"channels", "pad"})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_Int8Cat", BM_Int8Cat)
      ->ArgsProduct({{24, 32, 58, 64, 116}, {0, 1}})
      ->ArgNames({"channels", "table"})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("torch threads: %d; default INT8 engine: %s\n", torch::get_num_threads(),
              def.c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
