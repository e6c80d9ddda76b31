// The pipelined CPU target in the daemon (issue 14, point 1): its binding (backend
// cpu_pipeline), requests streaming through it several at once while other targets stay
// serialised, and the queues in the observation (Observation::wait_ms) that move a model-greedy
// policy's decisions to the pipeline when a queue builds on the plain CPU target.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "agent/engine.h"
#include "env/profiles.h"
#include "test_util.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/cpu_target.h"
#include "targets/cpu/pipeline_target.h"
#endif

namespace autoscale {
namespace {

Result<DaemonConfig> Parse(const std::string& yaml) {
  auto root = ConfigNode::LoadString("{models: [squeezenet_1_1], " + yaml + "}", "d.yaml");
  EXPECT_TRUE(root.ok());
  return ParseDaemonConfig(*root);
}

void ExpectError(const std::string& yaml, const std::string& path, const std::string& what) {
  auto c = Parse(yaml);
  ASSERT_FALSE(c.ok()) << yaml;
  const std::string& m = c.status().message();
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
}

TEST(DaemonConfig, PipelineBinding) {
  auto c = Parse(
      "targets: {cpu_pipeline: {backend: cpu_pipeline, max_in_flight: 4, search_requests: 0, "
      "stages: [{cpus: '0', threads: 1}, {cpus: '1-2'}]}}");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const TargetBinding& b = c->targets[0];
  EXPECT_EQ(b.backend, "cpu_pipeline");
  ASSERT_EQ(b.stages.size(), 2u);
  EXPECT_EQ(b.stages[0].cpus, std::vector<int>{0});
  EXPECT_EQ(b.stages[0].threads, 1);
  EXPECT_EQ(b.stages[1].cpus, (std::vector<int>{1, 2}));
  EXPECT_EQ(b.stages[1].threads, 0);
  EXPECT_EQ(b.max_in_flight, 4);
  EXPECT_EQ(b.search_requests, 0);
  // Defaults: the target chooses the stages.
  c = Parse("targets: {cpu_pipeline: {backend: cpu_pipeline}}");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->targets[0].stages.empty());
  EXPECT_EQ(c->targets[0].max_in_flight, 8);
  EXPECT_EQ(c->targets[0].search_requests, 12);
}

TEST(DaemonConfig, BadPipelineBindingsNameTheKey) {
  ExpectError("targets: {p: {backend: cpu_pipelined}}", "targets.p.backend",
              "expected cpu, cpu_pipeline, opencl, dsp or remote");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: [{cpus: '0'}, {cpus: '0-1'}]}}",
              "targets.p.stages[1].cpus", "CPU 0 is also stage 0's");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: [{cpus: '3-1'}]}}",
              "targets.p.stages[0].cpus", "bad CPU list '3-1'");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: [{cpu: '1'}]}}", "targets.p.stages[0]",
              "did you mean 'cpus'");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: [{threads: -1}]}}",
              "targets.p.stages[0].threads", "");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: []}}", "targets.p.stages",
              "expected 1 to 8 stages, got 0");
  ExpectError("targets: {p: {backend: cpu_pipeline, stages: {cpus: '0'}}}", "targets.p.stages", "");
  ExpectError("targets: {p: {backend: cpu_pipeline, max_in_flight: 0}}", "targets.p.max_in_flight",
              "");
  ExpectError("targets: {p: {backend: cpu_pipeline, threads: 2}}", "targets.p.threads",
              "sets threads per stage");
  ExpectError("targets: {p: {backend: cpu_pipeline, cpus: '0-1'}}", "targets.p.cpus",
              "pins each stage");
  ExpectError("targets: {p: {backend: cpu_pipeline, cpufreq: auto}}", "targets.p.cpufreq",
              "only cpu targets take 'cpufreq'");
  ExpectError("targets: {cpu_big: {backend: cpu, stages: [{cpus: '0'}]}}", "targets.cpu_big.stages",
              "only cpu_pipeline targets take 'stages'");
  ExpectError("targets: {cpu_big: {backend: cpu, max_in_flight: 2}}",
              "targets.cpu_big.max_in_flight", "only cpu_pipeline targets take 'max_in_flight'");
}

// The pipelined backend binds the profile's pipelined targets, and only it does.
TEST(DaemonConfig, PipelineBackendAndPipelinedTargetGoTogether) {
  auto device = ProfileCatalog(testing::ConfigRoot()).Device("sd845");
  ASSERT_TRUE(device.ok()) << device.status().message();
  auto c = Parse("targets: {cpu_big: {backend: cpu_pipeline}}");
  ASSERT_TRUE(c.ok());
  Status s = CheckTargetsOnDevice(*c, **device);
  EXPECT_NE(s.message().find("targets.cpu_big: backend cpu_pipeline runs a pipelined target, and "
                             "device 'sd845''s 'cpu_big' is a processor (its pipelined targets: "
                             "cpu_pipeline)"),
            std::string::npos)
      << s.message();
  c = Parse("targets: {cpu_pipeline: {backend: cpu}}");
  ASSERT_TRUE(c.ok());
  s = CheckTargetsOnDevice(*c, **device);
  EXPECT_NE(s.message().find("targets.cpu_pipeline: device 'sd845''s 'cpu_pipeline' is pipelined "
                             "(stages cpu_big, cpu_little): bind it with backend cpu_pipeline"),
            std::string::npos)
      << s.message();
  c = Parse("targets: {cpu_big: {backend: cpu}, cpu_pipeline: {backend: cpu_pipeline}}");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(CheckTargetsOnDevice(*c, **device).ok());
}

#if AUTOSCALE_HAVE_TORCH

constexpr char kModel[] = "squeezenet_1_1";

// The daemon's view of this machine for these tests: `cpu_big`, the plain CPU target with one
// thread (a queue of its own), and the pipeline's two stages as core groups of their own
// (`core0`, `core1`). The rates make the plain target the cheaper choice when nothing waits
// (the same speed at half the power), so the pipeline is chosen only for a queue.
std::string VmProfile() {
  // One core at 40 GMAC/s drawing `power_mw`.
  auto core = [](const std::string& name, const std::string& power_mw) {
    return "  - name: " + name + R"(
    kind: cpu
    precisions: [fp32]
    gmacs_per_s: {conv: {fp32: 40}, fc: {fp32: 2}, recurrent: {fp32: 2}}
    layer_overhead_us: 5
    memory_bound_fraction: 0
    interference: {cpu: 0, gpu: 0, mem: 0}
    cores: 1
    levels: [{freq_mhz: 2000, power_mw: )" +
           power_mw + "}]\n";
  };
  return testing::WriteFile(
      testing::TempDir("pipeline_engine") + "/vm2.yaml", R"(
name: vm2
description: "a 2-CPU host as the daemon's tests see it"
role: phone
base_power_mw: 500
idle_power_mw: 400
queue_ms: 0
targets:
)" + core("cpu_big", "1000") + core("core0", "2000") + core("core1", "2000") +
                                                             R"(  - name: cpu_pipeline
    kind: cpu
    pipeline: {stages: [core0, core1]}
    precisions: [fp32]
)");
}

DaemonConfig PipeConfig(const std::string& policy) {
  DaemonConfig c;
  c.device = VmProfile();
  c.models = {kModel};
  c.policy = policy;
  c.seed = 3;
  c.engine.save_interval_s = 0;
  c.engine.default_latency_bound_ms = 60000;
  c.engine.fallback = "cpu_big";
  c.probes.interval_ms = 50;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  cpu.threads = 1;
  c.targets.push_back(cpu);
  TargetBinding pipe;
  pipe.name = "cpu_pipeline";
  pipe.backend = "cpu_pipeline";
  c.targets.push_back(pipe);
  return c;
}

// The real targets: the libtorch CPU target and the pipelined one, a stage on each of two CPUs
// (unpinned on a one-CPU host), one thread each, the split as predicted (no measured search).
LocalTargetFactory RealTargets() {
  return
      [](const TargetBinding& b, const DeviceProfile& device) -> Result<std::unique_ptr<Target>> {
        if (b.backend == "cpu_pipeline") {
          PipelineOptions o;
          o.name = b.name;
          o.refine_requests = 0;
          o.profile_warmup = 1;
          o.profile_runs = 3;
          o.max_in_flight = 8;
          const std::vector<int> cpus = AllowedCpus();
          for (size_t s = 0; s < 2; ++s) {
            o.stages.push_back(
                {cpus.size() >= 2 ? std::vector<int>{cpus[s]} : std::vector<int>{}, 1, 2000});
          }
          ASSIGN_OR_RETURN(std::unique_ptr<PipelinedCpuTarget> t, PipelinedCpuTarget::Create(o));
          return std::unique_ptr<Target>(std::move(t));
        }
        CpuOptions o;
        o.name = b.name;
        o.threads = 1;
        o.use_counters = false;
        o.set_frequency = false;
        o.power = PowerModelFor(device, device.targets[device.FindTarget(b.name)]);
        return std::unique_ptr<Target>(CpuTarget::Create(o));
      };
}

struct Answer {
  Engine::Reply reply;
  std::chrono::steady_clock::time_point at;  // when it was answered
};

// Submits one request per input at once (with `bound`, when given) and waits for every answer.
std::vector<Answer> Burst(Engine& e, const std::vector<HostTensor>& inputs,
                          std::optional<float> bound = std::nullopt,
                          const std::function<void()>& after_submit = nullptr) {
  std::vector<std::promise<Answer>> promises(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Engine::Request r;
    r.id = std::to_string(i);
    r.model = kModel;
    r.input = inputs[i];
    r.latency_bound_ms = bound;
    e.Submit(std::move(r), [&promises, i](Engine::Reply reply) {
      promises[i].set_value({std::move(reply), std::chrono::steady_clock::now()});
    });
  }
  if (after_submit) after_submit();
  std::vector<Answer> out;
  for (auto& p : promises) out.push_back(p.get_future().get());
  return out;
}

std::vector<HostTensor> Inputs(const ModelSpec& spec, int n, uint64_t seed0) {
  std::vector<HostTensor> v;
  for (int i = 0; i < n; ++i) v.push_back(MakeHostInput(spec, seed0 + i));
  return v;
}

// The most answers whose runs inside their target overlapped at one moment: each run is
// [answered - its measured latency, answered], shrunk by `slack_ms` at both ends.
int MaxOverlap(const std::vector<Answer>& answers, const std::string& target, double slack_ms) {
  std::vector<std::pair<double, int>> events;
  const auto t0 = answers.front().at;
  for (const Answer& a : answers) {
    if (a.reply.target != target) continue;
    const double end = std::chrono::duration<double, std::milli>(a.at - t0).count();
    const double begin = end - a.reply.result.latency_ms;
    if (end - begin <= 2 * slack_ms) continue;
    events.push_back({begin + slack_ms, +1});
    events.push_back({end - slack_ms, -1});
  }
  std::sort(events.begin(), events.end());  // an end before a begin at the same time
  int inside = 0, most = 0;
  for (const auto& [t, d] : events) most = std::max(most, inside += d);
  return most;
}

// The reference outputs: the plain CPU target, one request at a time.
std::vector<HostTensor> References(const ModelSpec& spec, const std::vector<HostTensor>& inputs) {
  CpuOptions o;
  o.threads = 1;
  o.use_counters = false;
  o.set_frequency = false;
  auto cpu = CpuTarget::Create(o);
  std::vector<HostTensor> out;
  for (const HostTensor& in : inputs) {
    auto r = cpu->Run(spec, Precision::kFp32, 0, in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    out.push_back(r.ok() ? r->output : HostTensor{});
  }
  return out;
}

void ExpectClose(const HostTensor& want, const HostTensor& got, const std::string& what) {
  ASSERT_EQ(want.shape, got.shape) << what;
  float worst = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    worst = std::max(worst, std::abs(want.data[i] - got.data[i]));
  }
  EXPECT_LT(worst, 1e-3f) << what;
}

nlohmann::json Stats(const Engine& e) { return nlohmann::json::parse(e.StatsJson()); }

// A streaming target's requests overlap inside it, the plain target's never do, and every
// request of a burst is answered with its own output.
TEST(EnginePipeline, RequestsStreamThroughThePipelineAndStaySerialElsewhere) {
  auto engine = BuildEngine(PipeConfig("random"), testing::ConfigRoot(), RealTargets());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;
  EXPECT_EQ(e.PrepareLocal(), 2);
  const ModelSpec& spec = e.models()[0].spec;
  const std::vector<HostTensor> inputs = Inputs(spec, 24, 100);
  const std::vector<HostTensor> want = References(spec, inputs);
  const std::vector<Answer> got = Burst(e, inputs);
  int on_pipeline = 0, on_cpu = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const Engine::Reply& r = got[i].reply;
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.message();
    ExpectClose(want[i], r.result.output, "request " + std::to_string(i) + " on " + r.target);
    if (r.target == "cpu_pipeline") {
      ++on_pipeline;
      EXPECT_EQ(r.result.stage_ms.size(), 2u);
    } else {
      ++on_cpu;
      EXPECT_TRUE(r.result.stage_ms.empty());
    }
  }
  ASSERT_GE(on_pipeline, 3) << "the random policy sent too few requests to the pipeline";
  ASSERT_GE(on_cpu, 3) << "the random policy sent too few requests to the plain target";
  const int pipe_overlap = MaxOverlap(got, "cpu_pipeline", 0.5);
  const int cpu_overlap = MaxOverlap(got, "cpu_big", 0.5);
  std::printf(
      "[ figures  ] burst of %zu: %d on the pipeline (at most %d inside at once), %d on "
      "cpu_big (at most %d)\n",
      got.size(), on_pipeline, pipe_overlap, on_cpu, cpu_overlap);
  EXPECT_GE(pipe_overlap, 2);
  EXPECT_EQ(cpu_overlap, 1);
  const nlohmann::json stats = Stats(e);
  EXPECT_EQ(stats["answered"], 24) << stats;
  EXPECT_EQ(stats["queues"]["cpu_pipeline"]["inside"], 0) << stats;
}

// Model-greedy with the queues in the observation: idle, the plain target (cheaper); once a
// queue builds on it past the latency bound, the pipeline; idle again, no wait anywhere.
TEST(EnginePipeline, AQueueOnThePlainTargetMovesModelGreedyToThePipeline) {
  auto engine = BuildEngine(PipeConfig("model_greedy"), testing::ConfigRoot(), RealTargets());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;
  ASSERT_EQ(e.PrepareLocal(), 2);
  const ModelSpec& spec = e.models()[0].spec;
  const DeviceProfile& device = e.cost_model().device();
  const int big = device.FindTarget("cpu_big");
  const int pipe = device.FindTarget("cpu_pipeline");
  const int core0 = device.FindTarget("core0"), core1 = device.FindTarget("core1");

  // Idle: nothing waits, and the plain target is chosen.
  Observation obs;
  const int idle_action = e.ObserveAndDecide(0, 60000, 0, &obs);
  ASSERT_GE(idle_action, 0);
  EXPECT_EQ(e.cost_model().actions().actions[idle_action].target, big);
  for (float w : obs.wait_ms) EXPECT_EQ(w, 0.0f);

  // A few requests one at a time, so the plain target has measured its run time.
  for (const Answer& a : Burst(e, Inputs(spec, 1, 1))) ASSERT_EQ(a.reply.target, "cpu_big");
  for (const Answer& a : Burst(e, Inputs(spec, 1, 2))) ASSERT_EQ(a.reply.target, "cpu_big");
  for (const Answer& a : Burst(e, Inputs(spec, 1, 3))) ASSERT_EQ(a.reply.target, "cpu_big");

  // What one request handed over now is expected to keep the plain target busy for.
  double expected_ms = 0;
  Burst(e, Inputs(spec, 1, 4), std::nullopt,
        [&] { expected_ms = Stats(e)["queues"]["cpu_big"]["wait_ms"][0].get<double>(); });
  ASSERT_GT(expected_ms, 0);
  // The bound: what cpu_big's run is predicted to take idle, plus 2.5 of those; the 4th request
  // of a burst then waits 3 runs for cpu_big, misses the bound there and meets it on the idle
  // pipeline.
  const float run_big = e.cost_model().RunMs(idle_action, obs, 1.0f);
  const float bound = static_cast<float>(run_big + 2.5 * expected_ms);
  const std::vector<HostTensor> inputs = Inputs(spec, 10, 200);
  const std::vector<HostTensor> want = References(spec, inputs);
  Observation during;
  int during_action = -1;
  const std::vector<Answer> got =
      Burst(e, inputs, bound, [&] { during_action = e.ObserveAndDecide(0, bound, 0, &during); });
  std::string decisions;
  int first_pipeline = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const Engine::Reply& r = got[i].reply;
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.message();
    ExpectClose(want[i], r.result.output, "request " + std::to_string(i));
    decisions += " " + r.target;
    if (r.target == "cpu_pipeline" && first_pipeline < 0) first_pipeline = static_cast<int>(i);
  }
  std::printf(
      "[ figures  ] one run on cpu_big expected %.1f ms, bound %.1f ms; decisions:%s; "
      "after the burst was submitted: wait cpu_big %.1f, core0 %.1f, core1 %.1f ms\n",
      expected_ms, bound, decisions.c_str(), during.wait_ms[big], during.wait_ms[core0],
      during.wait_ms[core1]);
  EXPECT_EQ(got[0].reply.target, "cpu_big");
  EXPECT_GE(first_pipeline, 1) << decisions;
  // The observation while the burst waited: cpu_big's queue, and the pipeline's stages.
  EXPECT_GT(during.wait_ms[big], expected_ms);
  EXPECT_GT(during.wait_ms[core0] + during.wait_ms[core1], 0);
  EXPECT_EQ(during.wait_ms[pipe], during.wait_ms[core0]);
  (void)during_action;
  const nlohmann::json stats = Stats(e);
  EXPECT_GT(stats["decisions"]["cpu_pipeline"].get<int>(), 0) << stats;
  EXPECT_EQ(stats["answered"], 14) << stats;

  // Idle again: no wait anywhere, and the plain target is chosen again.
  Observation after;
  const int after_action = e.ObserveAndDecide(0, 60000, 0, &after);
  for (float w : after.wait_ms) EXPECT_EQ(w, 0.0f);
  EXPECT_EQ(e.cost_model().actions().actions[after_action].target, big);
}

#endif  // AUTOSCALE_HAVE_TORCH

}  // namespace
}  // namespace autoscale
