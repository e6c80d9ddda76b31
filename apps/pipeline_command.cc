// `autoscale pipeline`: Pipe-it's split of a model into pipeline stages on this machine's core
// groups (targets/cpu/pipeline_target.h): which nodes each stage runs, the measured stage times
// behind the choice and what it predicts; with --measure, the pipeline's measured throughput
// against the CPU target's intra-operator parallelism on all cores.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/commands.h"
#include "apps/local_targets.h"
#include "core/strings.h"
#include "env/pipeline.h"
#include "env/profiles.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/cpu_target.h"
#include "targets/cpu/host_memory.h"
#include "targets/cpu/pipeline_target.h"
#endif

namespace autoscale {

namespace {

constexpr const char* kPipelineAbout =
    R"(Splits MODEL (a zoo model, or a TorchScript model of --model-dir) into pipeline stages, one per
core group, as Pipe-it does on a big.LITTLE phone (seed 001_305b350fbb653f19.txt): each stage
runs a contiguous range of the graph's nodes with its own threads, parallel only inside its
group, and requests stream through the stages. Every node is timed on each stage's cores (the
median of --runs runs inside whole forward passes), the hand-off at each cut is estimated from
the tensors live there, and the split whose slowest stage is fastest is chosen (dynamic
programming over the cut points; env/pipeline.h). Prints the stages, their node ranges and
predicted times, and the predicted throughput (1 / slowest stage) and latency (sum of stages).
With two stages, a measured search then streams --search requests through each of a few
candidate splits, in three interleaved rounds, then through the cuts halfway between the
fastest and its neighbours, and keeps the fastest median: what two busy stages do to each other
depends on the split (on a 2-vCPU VM a memory-bound network ran fastest almost unsplit), and
one measurement of a split varies by up to 15% there.

Stages: --stage CPUS once per stage ("0-3", "4,5"); by default one per cpufreq cluster, or,
without cpufreq (a virtual machine), the allowed CPUs in two halves. FP32 only.
With --measure N: N batch-1 requests through the pipeline (2 per stage in flight) and N through
the plain CPU target on all the stages' CPUs (intra-operator parallelism), and the ratio; both
allocate through a caching host allocator, as the worker does.

With --profile DEVICE.yaml (no libtorch needed): the split the simulator predicts on that
device's processors instead, nothing run. --stage-targets names the stages' targets in order
(default: the device's CPU targets, fastest first, e.g. cpu_big then cpu_little); each layer's
time there comes from the target's layer model where the profile has one, else from its GMAC/s
per layer class and per-layer overhead (the cost model's formula, layer by layer). Prints the
stages, the predicted throughput, and each stage target's throughput running the whole model.
)";

struct PipelineArgs {
  std::string model;
  std::string model_dir;
  std::string profile;
  std::string stage_targets;
  std::vector<std::string> stages;
  int runs = 9;
  int search = 12;
  int measure = 0;
  bool json = false;
};

// MODEL, from the zoo or --model-dir.
Result<std::shared_ptr<const ModelSpec>> LoadModel(const PipelineArgs& a) {
  std::error_code ec;
  if (!a.model_dir.empty() && !std::filesystem::is_directory(a.model_dir, ec)) {
    return Status::NotFound("model folder '" + a.model_dir + "' does not exist or is not a folder");
  }
  InstallModelReaders();
  ModelStore store(a.model_dir);
  return store.Get(a.model);
}

// The split on a device profile's processors (--profile), torch-free.
int PredictOnDevice(const PipelineArgs& a) {
  auto device = LoadDeviceProfile(a.profile);
  if (!device.ok()) return Fail(device.status());
  std::vector<std::string> stages = cli::SplitList(a.stage_targets);
  if (stages.empty()) {
    for (const TargetProfile& t : device->targets) {
      if (t.kind == TargetKind::kCpu && !t.is_pipeline()) stages.push_back(t.name);
    }
  }
  auto spec = LoadModel(a);
  if (!spec.ok()) return Fail(spec.status());
  if (!(*spec)->is_graph()) {
    return Fail(
        Status::InvalidArgument("model '" + a.model + "' has no graph to split into stages"));
  }
  const std::vector<LayerDescriptor> layers = LayerDescriptors((*spec)->graph->graph);
  auto costs = DeviceStageCosts(*device, stages, Precision::kFp32, layers);
  if (!costs.ok()) return Fail(costs.status());
  auto split = BalanceStages(*costs);
  if (!split.ok()) return Fail(split.status());
  std::vector<double> alone;
  for (const auto& row : costs->layer_ms) {
    double sum = 0;
    for (double v : row) sum += v;
    alone.push_back(sum);
  }
  const double best_alone = *std::min_element(alone.begin(), alone.end());
  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["device"] = device->name;
    j["stages"] = nlohmann::json::array();
    const int n = static_cast<int>(layers.size());
    for (int s = 0; s < split->stages(); ++s) {
      const int b = split->begin[s];
      const int e = s + 1 < split->stages() ? split->begin[s + 1] : n;
      j["stages"].push_back({{"target", stages[s]},
                             {"first_layer", b},
                             {"last_layer", e - 1},
                             {"predicted_ms", split->stage_ms[s]},
                             {"handoff_ms", s > 0 ? costs->handoff_ms[b] : 0.0},
                             {"whole_model_ms", alone[s]}});
    }
    j["predicted_per_s"] = split->throughput_per_s();
    j["predicted_latency_ms"] = split->latency_ms;
    j["best_single_target_per_s"] = 1e3 / best_alone;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on %s (predicted from the device profile, FP32)\n", a.model.c_str(),
              device->name.c_str());
  std::printf("%-6s %-14s %-22s %10s %10s %12s\n", "stage", "target", "layers", "pred. ms",
              "hand-off", "whole model");
  const int n = static_cast<int>(layers.size());
  for (int s = 0; s < split->stages(); ++s) {
    const int b = split->begin[s];
    const int e = s + 1 < split->stages() ? split->begin[s + 1] : n;
    const std::string range = std::to_string(b) + " " + layers[b].op + " - " +
                              std::to_string(e - 1) + " " + layers[e - 1].op;
    std::printf("%-6d %-14s %-22s %10.3f %10.3f %12.3f\n", s, stages[s].c_str(), range.c_str(),
                split->stage_ms[s], s > 0 ? costs->handoff_ms[b] : 0.0, alone[s]);
  }
  std::printf(
      "predicted: %.1f requests/s (slowest stage %.3f ms), latency %.3f ms; the fastest "
      "single target %.1f requests/s: %.2fx\n",
      split->throughput_per_s(), split->bottleneck_ms, split->latency_ms, 1e3 / best_alone,
      split->throughput_per_s() * best_alone / 1e3);
  return 0;
}

int RunPipeline(const PipelineArgs& a) {
  if (!a.profile.empty()) return PredictOnDevice(a);
  if (!a.stage_targets.empty()) {
    return Fail(
        Status::InvalidArgument("--stage-targets names a device profile's targets: it "
                                "needs --profile"));
  }
#if !AUTOSCALE_HAVE_TORCH
  (void)a;
  return Fail(Status::Unavailable(
      "this build has no libtorch: the pipelined CPU target needs it (configure with "
      "-DAUTOSCALE_WITH_TORCH=ON); --profile DEVICE.yaml predicts a split without it"));
#else
  auto spec = LoadModel(a);
  if (!spec.ok()) return Fail(spec.status());
  PipelineOptions o;
  o.profile_runs = a.runs;
  o.refine_requests = a.search;
  std::vector<int> all_cpus;
  for (size_t s = 0; s < a.stages.size(); ++s) {
    auto cpus = ParseCpuList(a.stages[s]);
    if (!cpus.ok()) return Fail(cpus.status().WithPrefix("--stage " + a.stages[s]));
    o.stages.push_back({*cpus, 0, 0});
    all_cpus.insert(all_cpus.end(), cpus->begin(), cpus->end());
  }
  // Measuring: every pass allocates through the caching host allocator (as the worker's do), so
  // that the figures compare how the cores are used rather than how many freed buffers glibc
  // hands back to the kernel (on a VM, re-faulting them can cost more than the convolutions).
  if (a.measure > 0) InstallCachingHostAllocator(size_t{1} << 30);
  auto target = PipelinedCpuTarget::Create(o);
  if (!target.ok()) return Fail(target.status());
  PipelinedCpuTarget& t = **target;
  if (Status st = t.Prepare(**spec, Precision::kFp32); !st.ok()) return Fail(st);
  auto plan = t.Plan(**spec, Precision::kFp32);
  if (!plan.ok()) return Fail(plan.status());
  const StageSplit& split = plan->split;
  const int n = static_cast<int>(plan->node_names.size());

  double pipelined = 0, intra = 0;
  int intra_threads = 0;
  if (a.measure > 0) {
    const HostTensor input = MakeHostInput(**spec, 1);
    auto submit_pipe = [&] { return t.Submit(**spec, Precision::kFp32, 0, input); };
    Result<double> rate = StreamThroughput(submit_pipe, std::min(a.measure, 8), 2 * t.stages());
    if (rate.ok())
      rate = StreamThroughput(submit_pipe, a.measure, 2 * t.stages());  // after warm-up
    if (!rate.ok()) return Fail(rate.status());
    pipelined = *rate;
    CpuOptions c;
    c.use_counters = false;
    c.cpus = all_cpus;  // the stages' CPUs; none given: every allowed CPU
    std::unique_ptr<CpuTarget> cpu = CpuTarget::Create(c);
    intra_threads = cpu->threads();
    auto submit_cpu = [&] {
      std::promise<Result<InferenceResult>> p;
      p.set_value(cpu->Run(**spec, Precision::kFp32, 0, input));
      return p.get_future();
    };
    // On a thread of its own, as the daemon runs a target on its executor thread.
    std::thread([&] {
      rate = StreamThroughput(submit_cpu, std::min(a.measure, 8), 1);  // warm
      if (rate.ok()) rate = StreamThroughput(submit_cpu, a.measure, 1);
    }).join();
    if (!rate.ok()) return Fail(rate.status());
    intra = *rate;
  }

  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["target"] = t.description().device;
    j["stages"] = nlohmann::json::array();
    for (int s = 0; s < split.stages(); ++s) {
      const int b = split.begin[s];
      const int e = s + 1 < split.stages() ? split.begin[s + 1] : n;
      j["stages"].push_back({{"cores", plan->stage_devices[s]},
                             {"first_node", b},
                             {"last_node", e - 1},
                             {"first", plan->node_names[b]},
                             {"last", plan->node_names[e - 1]},
                             {"predicted_ms", split.stage_ms[s]},
                             {"handoff_ms", s > 0 ? plan->costs.handoff_ms[b] : 0.0},
                             {"whole_model_ms", plan->single_stage_ms[s]}});
    }
    j["predicted_per_s"] = split.throughput_per_s();
    j["predicted_latency_ms"] = split.latency_ms;
    if (a.measure > 0) {
      j["measured_per_s"] = pipelined;
      j["intra_op_per_s"] = intra;
      j["intra_op_threads"] = intra_threads;
      j["ratio"] = intra > 0 ? pipelined / intra : 0.0;
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on %s\n", a.model.c_str(), t.description().device.c_str());
  std::printf("%-6s %-24s %-28s %-28s %10s %10s %12s\n", "stage", "cores", "first node",
              "last node", "pred. ms", "hand-off", "whole model");
  for (int s = 0; s < split.stages(); ++s) {
    const int b = split.begin[s];
    const int e = s + 1 < split.stages() ? split.begin[s + 1] : n;
    const std::string first = std::to_string(b) + " " + plan->node_names[b];
    const std::string last = std::to_string(e - 1) + " " + plan->node_names[e - 1];
    std::printf("%-6d %-24s %-28s %-28s %10.3f %10.3f %12.3f\n", s, plan->stage_devices[s].c_str(),
                first.c_str(), last.c_str(), split.stage_ms[s],
                s > 0 ? plan->costs.handoff_ms[b] : 0.0, plan->single_stage_ms[s]);
  }
  std::printf("predicted: %.1f requests/s (slowest stage %.3f ms), latency %.3f ms\n",
              split.throughput_per_s(), split.bottleneck_ms, split.latency_ms);
  if (a.measure > 0) {
    std::printf(
        "measured over %d requests: pipelined %.1f requests/s; intra-op on %d thread(s) "
        "%.1f requests/s; ratio %.3f (Pipe-it reports 1.39 on a phone)\n",
        a.measure, pipelined, intra_threads, intra, intra > 0 ? pipelined / intra : 0.0);
  }
  return 0;
#endif
}

}  // namespace

cli::Command AddPipelineCommand(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "pipeline", "split a model into pipeline stages on core groups (Pipe-it) and say how");
  sub->footer(kPipelineAbout);
  auto a = std::make_shared<PipelineArgs>();
  sub->add_option("MODEL", a->model, "a zoo model or a TorchScript model of --model-dir")
      ->type_name("NAME")
      ->required();
  sub->add_option("--model-dir", a->model_dir, "TorchScript models (NAME.pt with NAME.yaml)")
      ->type_name("DIR");
  sub->add_option("--profile", a->profile,
                  "predict the split on this device profile's processors instead of this "
                  "machine's (nothing runs; no libtorch needed)")
      ->type_name("FILE");
  sub->add_option("--stage-targets", a->stage_targets,
                  "with --profile: the stages' targets, in order (default: the device's CPU "
                  "targets)")
      ->type_name("A,B,...");
  sub->add_option("--stage", a->stages,
                  "the CPUs of one stage, once per stage, in pipeline order (\"0-3\", \"4,5\")")
      ->type_name("CPUS");
  sub->add_option("--runs", a->runs, "timed forward passes per stage behind the split")
      ->check(cli::IntegerIn(1, 1000))
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--search", a->search,
                  "with two stages: requests streamed through each of a few candidate splits "
                  "(the balanced one, cuts at eighths of the work, all but the last node on stage "
                  "0) in 3 interleaved rounds, then through the cuts halfway between the fastest "
                  "median and its neighbours; the fastest median kept. 0: the balanced split as "
                  "predicted")
      ->check(cli::IntegerIn(0, 10000))
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--measure", a->measure,
                  "also stream N requests through the pipeline and through the CPU target's "
                  "intra-op parallelism, and print both throughputs")
      ->check(cli::IntegerIn(1, 1'000'000))
      ->type_name("N");
  sub->add_flag("--json", a->json,
                "print JSON: model, target, stages [{cores, first_node, last_node, first, last, "
                "predicted_ms, handoff_ms, whole_model_ms}], predicted_per_s, "
                "predicted_latency_ms (and measured_per_s, intra_op_per_s, intra_op_threads, "
                "ratio with --measure)");
  return {sub, [a] { return RunPipeline(*a); }};
}

}  // namespace autoscale
