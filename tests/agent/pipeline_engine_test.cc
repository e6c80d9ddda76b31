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

}  // namespace
}  // namespace autoscale
