// P-CNN's calibration in the daemon (EngineOptions::calibration): answers at INT8 are re-run at
// FP32 while the engine is idle, the observed top-1 agreement updates INT8's accuracy estimate,
// and once that falls below a request's floor INT8 is no longer offered for it. The model here
// flips its top-1 at INT8 for every other input (tests/agent/user_model_fakes.h), as one whose
// logits are nearly tied does; its sidecar claims INT8 loses almost nothing.
#include <filesystem>
#include <future>
#include <string>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "agent/service.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"
#include "user_model_fakes.h"

namespace autoscale {
namespace {

using testing::FakeImporter;
using testing::FlippingTarget;

FlippingTarget* g_cpu = nullptr;  // the engine's target, for run counts

DaemonConfig TiedConfig(const std::string& dir, double sample_rate) {
  testing::WriteFile(dir + "/tied.pt", "a network with nearly tied logits");
  testing::WriteFile(dir + "/tied.yaml",
                     "input_shape: [3, 224, 224]\n"
                     "accuracy: {fp32: 0.9, int8: 0.89, source: \"an optimistic model card\"}\n");
  DaemonConfig c;
  c.device = "sd845";
  c.models = {"tied"};
  c.model_dir = dir;
  c.engine.default_latency_bound_ms = 500;
  c.probes.interval_ms = 50;
  c.engine.calibration.sample_rate = sample_rate;
  c.engine.calibration.prior_samples = 5;
  // Always INT8 on cpu_big while it is feasible (else the least-energy feasible action).
  c.policy = "static";
  auto params = ConfigNode::LoadString("{target: cpu_big, precision: int8}");
  EXPECT_TRUE(params.ok());
  c.policy_params = *params;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  c.targets.push_back(cpu);
  return c;
}

LocalTargetFactory Flipping() {
  return [](const TargetBinding& b, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
    auto t = std::make_unique<FlippingTarget>(b.name);
    g_cpu = t.get();
    return std::unique_ptr<Target>(std::move(t));
  };
}

// An input whose first value is `v` (odd ones flip at INT8).
HostTensor Input(int v) {
  HostTensor t;
  t.shape = {1, 3, 224, 224};
  t.data.assign(3 * 224 * 224, 0.0f);
  t.data[0] = static_cast<float>(v);
  for (int i = 1; i < 10; ++i) t.data[i] = static_cast<float>(i);
  return t;
}

Engine::Reply Ask(Engine& e, int v, float floor) {
  std::promise<Engine::Reply> done;
  Engine::Request r;
  r.model = "tied";
  r.input = Input(v);
  r.min_accuracy = floor;
  e.Submit(std::move(r), [&](Engine::Reply reply) { done.set_value(std::move(reply)); });
  Engine::Reply reply = done.get_future().get();
  e.WaitCalibrationIdle();  // the sample it gave (if any) has been run at FP32
  return reply;
}

bool IsInt8(const Engine::Reply& r) { return r.action.find("/int8/") != std::string::npos; }

TEST(Calibration, PoorInt8AgreementStopsInt8ForFloorsItMisses) {
  FakeImporter importer;
  auto engine = BuildEngine(TiedConfig(testing::TempDir("calib_tied"), 1.0), testing::ConfigRoot(),
                            Flipping());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;
  const float floor = 0.85f;  // the sidecar's 0.89 meets it; half agreement (0.45) does not
  std::vector<std::string> actions;
  for (int v = 0; v < 10; ++v) {
    Engine::Reply r = Ask(e, v, floor);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    actions.push_back(r.action);
  }
  // INT8 first (the sidecar's figure meets the floor), then, once two samples (one agreeing,
  // one not) pulled the estimate to 0.9 x (5 x 0.989 + 1) / 7 = 0.764, never again.
  EXPECT_TRUE(actions[0].find("/int8/") != std::string::npos) << actions[0];
  EXPECT_TRUE(actions[1].find("/int8/") != std::string::npos) << actions[1];
  for (size_t i = 2; i < actions.size(); ++i) {
    EXPECT_TRUE(actions[i].find("/fp32/") != std::string::npos) << i << ": " << actions[i];
  }
  const int model = e.ModelIndex("tied");
  EXPECT_NEAR(e.CurrentAccuracy(model, Precision::kInt8), 0.9 * (5 * 0.89 / 0.9 + 1) / 7, 1e-5);
  EXPECT_FLOAT_EQ(e.CurrentAccuracy(model, Precision::kFp32), 0.9f);

  // A floor the estimate still meets keeps INT8 (and keeps calibrating it).
  Engine::Reply low = Ask(e, 11, 0.5f);
  EXPECT_TRUE(IsInt8(low)) << low.action;

  // Stats and Prometheus show the agreement per model and precision.
  const nlohmann::json stats = nlohmann::json::parse(e.StatsJson());
  const nlohmann::json& cell = stats["calibration"]["models"]["tied"]["int8"];
  EXPECT_EQ(cell["samples"], 3) << stats;
  EXPECT_EQ(cell["agreed"], 1) << stats;
  EXPECT_NEAR(cell["agreement"].get<double>(), 1.0 / 3, 1e-9) << stats;
  EXPECT_DOUBLE_EQ(cell["profile_accuracy"].get<double>(), 0.89) << stats;
  EXPECT_LT(cell["accuracy"].get<double>(), 0.85) << stats;
  const std::string metrics = e.metrics().Render();
  EXPECT_NE(metrics.find("autoscaled_calibration_agreement{model=\"tied\",precision=\"int8\"} "
                         "0.333"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("autoscaled_calibration_samples_total{model=\"tied\",precision=\"int8\","
                         "result=\"disagree\"} 2"),
            std::string::npos)
      << metrics;
  // The service's /v2/stats carries the same section.
  DaemonService service(&e);
  EXPECT_NE(service.StatsJson().find("\"calibration\""), std::string::npos);
}

TEST(Calibration, OffByDefaultAndNoFp32RunsThen) {
  FakeImporter importer;
  auto engine = BuildEngine(TiedConfig(testing::TempDir("calib_off"), 0.0), testing::ConfigRoot(),
                            Flipping());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const int fp32_before = g_cpu->fp32_runs;  // start-up measurement (none: int8 is stated)
  for (int v = 0; v < 6; ++v) {
    Engine::Reply r = Ask(**engine, v, 0.85f);
    ASSERT_TRUE(r.status.ok());
    EXPECT_TRUE(IsInt8(r)) << r.action;  // the stated 0.89 stands: nothing observed
  }
  EXPECT_EQ(g_cpu->fp32_runs, fp32_before);
  const nlohmann::json stats = nlohmann::json::parse((*engine)->StatsJson());
  EXPECT_EQ(stats["calibration"]["models"]["tied"]["int8"]["samples"], 0) << stats;
  EXPECT_TRUE(stats["calibration"]["models"]["tied"]["int8"]["agreement"].is_null()) << stats;
}

// Samples wait for idle moments; beyond max_pending they are dropped and counted, never queued
// without bound.
TEST(Calibration, SamplesBeyondMaxPendingAreDroppedAndCounted) {
  FakeImporter importer;
  DaemonConfig c = TiedConfig(testing::TempDir("calib_pending"), 1.0);
  c.engine.calibration.max_pending = 2;
  auto engine = BuildEngine(c, testing::ConfigRoot(), Flipping());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  // Ten requests in flight at once (floor 0: INT8 stays feasible; the target held until all
  // are queued): the engine is not idle until the last is answered, so two samples wait and
  // the other eight are dropped.
  g_cpu->Hold();
  std::vector<std::future<Engine::Reply>> replies;
  std::vector<std::shared_ptr<std::promise<Engine::Reply>>> promises;
  for (int v = 0; v < 10; ++v) {
    auto p = std::make_shared<std::promise<Engine::Reply>>();
    replies.push_back(p->get_future());
    Engine::Request r;
    r.model = "tied";
    r.input = Input(2 * v);  // even: all agree
    r.min_accuracy = 0.0f;
    (*engine)->Submit(std::move(r), [p](Engine::Reply reply) { p->set_value(std::move(reply)); });
  }
  g_cpu->Release();
  for (auto& f : replies) ASSERT_TRUE(f.get().status.ok());
  (*engine)->WaitCalibrationIdle();
  const nlohmann::json cell =
      nlohmann::json::parse((*engine)->StatsJson())["calibration"]["models"]["tied"]["int8"];
  EXPECT_EQ(cell["samples"], 2) << cell;
  EXPECT_EQ(cell["agreed"], 2) << cell;
  EXPECT_EQ(cell["dropped"], 8) << cell;
}

TEST(Calibration, ConfigKeysAreParsedAndCheckedWithTheirPaths) {
  const std::string dir = testing::TempDir("calib_config");
  auto parse = [&](const std::string& extra) {
    auto root = ConfigNode::LoadString(
        "models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\nseed: 7\n" + extra,
        dir + "/d.yaml");
    EXPECT_TRUE(root.ok()) << root.status().message();
    return ParseDaemonConfig(*root);
  };
  auto c = parse("");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->engine.calibration.sample_rate, 0);  // off unless configured
  c = parse(
      "calibration: {sample_rate: 0.25, max_pending: 4, prior_samples: 50}\n"
      "accuracy_estimate: {samples: 12, seed: 3, batch: 4}\nmodel_dir: .\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->engine.calibration.sample_rate, 0.25);
  EXPECT_EQ(c->engine.calibration.max_pending, 4);
  EXPECT_DOUBLE_EQ(c->engine.calibration.prior_samples, 50);
  EXPECT_EQ(c->engine.calibration.seed, 7u);
  EXPECT_EQ(c->agreement.max_samples, 12);
  EXPECT_EQ(c->agreement.seed, 3u);
  EXPECT_EQ(c->agreement.batch, 4);
  EXPECT_EQ(std::filesystem::path(c->model_dir), std::filesystem::path(dir + "/"));
  c = parse("calibration: {}\n");  // present: on, at the documented default
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->engine.calibration.sample_rate, 0.05);
  for (const auto& [bad, key] : std::vector<std::pair<std::string, std::string>>{
           {"calibration: {sample_rate: 1.5}\n", "calibration.sample_rate"},
           {"calibration: {sample_rat: 0.5}\n", "did you mean 'sample_rate'?"},
           {"calibration: {max_pending: 0}\n", "calibration.max_pending"},
           {"accuracy_estimate: {samples: 0}\n", "accuracy_estimate.samples"},
           {"model_dir: no_such_folder\n", "is not a folder"}}) {
    auto r = parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace autoscale
