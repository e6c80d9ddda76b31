#include "sim/experiment.h"

#include <gtest/gtest.h>

#include "sim/report.h"
#include "test_util.h"

namespace autoscale {
namespace {

// A minimal valid experiment; `extra` is appended, `policies` replaces the policy list.
std::string Yaml(const std::string& extra = "", const std::string& policies = "[q_learning]") {
  return "name: t\nconfig_root: " + testing::ConfigRoot() +
         "\nseeds: [1]\ntrain_requests: 300\neval_requests: 100\n"
         "models: [mobilenet_v1, vgg16]\n"
         "networks:\n  good: {wifi: {signal_dbm: -55}, cellular: none, p2p_dbm: -50}\n"
         "loads:\n  idle: {cpu: 0.0, gpu: 0.0, mem: 0.1}\n"
         "requests:\n  rt: {latency_bound_ms: 50, rate_hz: 5}\n"
         "grid: {devices: [sd845], networks: [good], loads: [idle], requests: [rt]}\n"
         "policies: " +
         policies + "\n" + extra;
}

Result<Experiment> Parse(const std::string& text) {
  auto root = ConfigNode::LoadString(text, "exp.yaml");
  if (!root.ok()) return root.status();
  return ParseExperiment(*root, testing::ConfigRoot());
}

TEST(Experiment, ParsesAMinimalExperiment) {
  auto exp = Parse(Yaml());
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->name, "t");
  ASSERT_EQ(exp->scenarios.size(), 1u);
  EXPECT_EQ(exp->scenarios[0].name, "sd845/good/idle/rt");
  EXPECT_EQ(exp->models.size(), 2u);
  EXPECT_EQ(exp->policies.size(), 1u);
  EXPECT_EQ(exp->cost_models.count("sd845"), 1u);
}

TEST(Experiment, UnknownTopLevelKeySuggestsTheNearest) {
  auto exp = Parse(Yaml("train_request: 5\n"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("exp.yaml:"), std::string::npos);
  EXPECT_NE(exp.status().message().find("did you mean 'train_requests'?"), std::string::npos)
      << exp.status().message();
}

TEST(Experiment, UnknownPolicyListsTheValidNamesWithItsLocation) {
  auto exp = Parse(Yaml("", "[q_learnig]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:14:12:"), std::string::npos) << m;
  EXPECT_NE(m.find("policies[0]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'q_learning'?"), std::string::npos) << m;
  EXPECT_NE(m.find("model_greedy, oracle, q_learning, random, static"), std::string::npos) << m;
}

TEST(Experiment, UnknownStaticTargetListsTheDeviceTargets) {
  auto exp = Parse(Yaml("", "[{name: static, params: {target: gpuu}}]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("policies[0].params.target"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'gpu'?"), std::string::npos) << m;
  EXPECT_NE(m.find("cpu_big, cpu_little, gpu, dsp, cloud, nearby"), std::string::npos) << m;
}

TEST(Experiment, BadPolicyParameterNamesItsPath) {
  auto exp = Parse(Yaml("", "[{name: q_learning, params: {learning_rat: 0.5}}]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("policies[0].params.learning_rat"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'learning_rate'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownDeviceSuggestsAShippedOne) {
  std::string y = Yaml();
  y.replace(y.find("devices: [sd845]"), 16, "devices: [sd8455]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("grid.devices[0]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'sd845'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownConditionListsTheDefinedOnes) {
  std::string y = Yaml();
  y.replace(y.find("loads: [idle]"), 13, "loads: [idel]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("grid.loads"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'idle'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownModelIsLocated) {
  std::string y = Yaml();
  y.replace(y.find("vgg16]"), 6, "vgg61]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:6:"), std::string::npos) << m;
  EXPECT_NE(m.find("models[1]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'vgg16'?"), std::string::npos) << m;
}

TEST(Experiment, MalformedYamlNamesFileLineAndColumn) {
  std::string dir = testing::TempDir("exp_syntax");
  std::string path = testing::WriteFile(dir + "/bad.yaml", "name: x\nseeds: [1, 2\n");
  auto exp = LoadExperiment(path);
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find(path + ":3:1: YAML syntax error"), std::string::npos)
      << exp.status().message();
}

TEST(Experiment, WrongTypeNamesTheKeyPath) {
  auto exp = Parse(Yaml("world: {compute_noise: lots}\n"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("world.compute_noise: expected a number, got 'lots'"),
            std::string::npos)
      << exp.status().message();
}

TEST(Experiment, RunsAndReportsEveryPolicy) {
  auto exp = Parse(Yaml("",
                        "[q_learning, model_greedy, oracle, random, "
                        "{name: static, label: always_cloud, params: {target: cloud}}]"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto res = RunExperiment(*exp);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->runs.size(), 5u);
  for (const RunSummary& r : res->runs) {
    EXPECT_EQ(r.requests, 100u) << r.policy;
    EXPECT_GT(r.energy_mj_per_inference, 0) << r.policy;
    EXPECT_GE(r.energy_vs_oracle, 0.999) << r.policy << ": nothing beats the oracle";
  }
  EXPECT_DOUBLE_EQ(res->runs[2].energy_vs_oracle, 1.0);
  EXPECT_DOUBLE_EQ(res->runs[2].oracle_agreement, 1.0);
  EXPECT_DOUBLE_EQ(res->runs[4].efficiency_vs_cloud, 1.0);
  // The oracle's QoS violations bound every other policy's.
  for (const RunSummary& r : res->runs) {
    EXPECT_GE(r.qos_violation_rate + 1e-12, res->runs[2].qos_violation_rate) << r.policy;
  }
  const std::string json = SummaryJson(*exp, *res);
  for (const char* key :
       {"\"scenario\"", "\"policy\"", "\"seed\"", "\"requests\"", "\"energy_mj_per_inference\"",
        "\"latency_ms_p50\"", "\"latency_ms_p99\"", "\"qos_violation_rate\"",
        "\"accuracy_violation_rate\"", "\"oracle_agreement\"", "\"energy_vs_oracle\"",
        "\"efficiency_vs_cpu\"", "\"efficiency_vs_cloud\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
}

TEST(Experiment, AccuracyFloorAboveEveryVariantFailsEveryRequest) {
  std::string y = Yaml();
  y.replace(y.find("rt: {latency_bound_ms: 50"), 25,
            "rt: {min_accuracy: 0.99, latency_bound_ms: 50");
  auto exp = Parse(y);
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto res = RunExperiment(*exp);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_DOUBLE_EQ(res->runs[0].accuracy_violation_rate, 1.0);
  EXPECT_DOUBLE_EQ(res->runs[0].failure_rate, 1.0);
}

}  // namespace
}  // namespace autoscale
