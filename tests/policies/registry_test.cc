// CreatePolicy / PolicyNames (policies/registry.cc).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "env/cost_model.h"
#include "env/profiles.h"
#include "policies/baselines.h"
#include "policies/policy.h"
#include "policies/policy_test_util.h"
#include "policies/q_learning.h"

namespace autoscale {
namespace {

using testing::Contains;

const CostModel& Sd845() {
  static const CostModel* cm = testing::MakeCostModel("sd845", {"mobilenet_v1", "vgg16"}).release();
  return *cm;
}

class NullOracle : public OutcomeOracle {
 public:
  Outcome TrueOutcome(int) const override { return {}; }
};

PolicyContext Ctx(const OutcomeOracle* oracle = nullptr) {
  PolicyContext ctx;
  ctx.cost_model = &Sd845();
  ctx.oracle = oracle;
  return ctx;
}

ConfigNode Yaml(const std::string& text) {
  auto n = ConfigNode::LoadString(text, "exp.yaml");
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return *n;
}

Result<std::unique_ptr<Policy>> Create(const std::string& name, const std::string& params_yaml,
                                       const PolicyContext& ctx) {
  ConfigNode params = Yaml(params_yaml);
  return CreatePolicy(name, &params, ctx);
}

TEST(PolicyRegistryTest, NamesAreTheDocumentedPolicies) {
  const std::vector<std::string> names = PolicyNames();
  EXPECT_EQ(names,
            (std::vector<std::string>{"model_greedy", "oracle", "q_learning", "random", "static"}));
}

TEST(PolicyRegistryTest, EveryNameCreatesWithDefaults) {
  NullOracle oracle;
  const PolicyContext ctx = Ctx(&oracle);
  for (const std::string& name : PolicyNames()) {
    SCOPED_TRACE(name);
    auto p = CreatePolicy(name, nullptr, ctx);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_NE(*p, nullptr);
    EXPECT_EQ((*p)->name(), name);
    EXPECT_EQ((*p)->learns(), name == "q_learning");
    // A null YAML node is the same as no parameters.
    auto q = Create(name, "~", ctx);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    EXPECT_EQ((*q)->name(), name);
  }
}

TEST(PolicyRegistryTest, UnknownNameListsValidNamesAndSuggestsTheNearest) {
  auto p = CreatePolicy("q_learnig", nullptr, Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  const std::string& msg = p.status().message();
  EXPECT_TRUE(Contains(msg, "unknown policy 'q_learnig'"));
  EXPECT_TRUE(Contains(msg, "did you mean 'q_learning'?"));
  for (const std::string& name : PolicyNames()) EXPECT_TRUE(Contains(msg, name));

  p = CreatePolicy("xyzzy_foo_bar", nullptr, Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_FALSE(Contains(p.status().message(), "did you mean"));
  EXPECT_TRUE(Contains(p.status().message(), "model_greedy, oracle, q_learning, random, static"));
}

TEST(PolicyRegistryTest, NeedsACostModel) {
  PolicyContext ctx;
  auto p = CreatePolicy("random", nullptr, ctx);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInternal);
}

TEST(PolicyRegistryTest, QLearningParamsAreParsed) {
  auto p = Create("q_learning", "prior: none\ndiscount: 0.5\nbuckets: {cpu_load: [0.5]}\n", Ctx());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto* q = dynamic_cast<QLearningPolicy*>(p->get());
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->options().discount, 0.5);
  EXPECT_EQ(q->options().edges[kFeatCpuLoad], std::vector<double>{0.5});

  p = Create("q_learning", "discont: 0.5\n", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(), "exp.yaml:1:"));
  EXPECT_TRUE(Contains(p.status().message(), "did you mean 'discount'?"));
}

// Same class as issue 10, item 4: 2^20 states (the bucket cap) times a device's actions could
// ask for billions of entries; the product is checked before the table is allocated.
TEST(PolicyRegistryTest, QLearningTableSizeIsCappedBeforeAllocating) {
  const int actions = Sd845().actions().size();
  ASSERT_GT(actions, 20);
  // 31^4 = 923,521 states (within the 2^20 state cap) x the device's actions.
  std::string edges31 = "[";
  for (int i = 0; i < 30; ++i) edges31 += (i ? ", " : "") + std::to_string(i + 1);
  edges31 += "]";
  const std::string yaml = "buckets: {conv_layers: [], fc_layers: [], recurrent_layers: [], "
                           "wifi_rssi_dbm: [], cell_rsrp_dbm: [], uplink_mbps: [], macs: " + edges31 +
                           ", cpu_load: " + edges31 + ", gpu_load: " + edges31 +
                           ", mem_load: " + edges31 + "}";
  auto p = Create("q_learning", yaml, Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(), "exp.yaml:1:10: buckets: these buckets with device "
                                             "'sd845''s " + std::to_string(actions) + " actions"))
      << p.status().message();
  EXPECT_TRUE(Contains(p.status().message(), "at most 1.67772e+07")) << p.status().message();
}

TEST(PolicyRegistryTest, StaticDefaultsAndParams) {
  const ActionSpace& space = Sd845().actions();
  auto p = CreatePolicy("static", nullptr, Ctx());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto* s = dynamic_cast<StaticPolicy*>(p->get());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->action(), space.Find("cpu_big", Precision::kFp32, 0));

  p = Create("static", "{target: gpu, precision: fp16, level: 2}", Ctx());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  s = dynamic_cast<StaticPolicy*>(p->get());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->action(), space.Find("gpu", Precision::kFp16, 2));
  EXPECT_EQ(space.names[s->action()].rfind("gpu/fp16/", 0), 0u) << space.names[s->action()];

  p = Create("static", "{target: cloud}", Ctx());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(dynamic_cast<StaticPolicy*>(p->get())->action(), space.Find("cloud", Precision::kFp32));
}

TEST(PolicyRegistryTest, StaticUnknownTargetListsTheDevicesTargets) {
  auto p = Create("static", "target: cpu_bgi\n", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = p.status().message();
  EXPECT_TRUE(Contains(msg, "exp.yaml:1:"));
  EXPECT_TRUE(Contains(msg, "target: unknown target 'cpu_bgi'"));
  EXPECT_TRUE(Contains(msg, "did you mean 'cpu_big'?"));
  EXPECT_TRUE(Contains(msg,
                       "valid targets of device 'sd845': cpu_big, cpu_little, gpu, dsp, "
                       "cloud, nearby"));
}

TEST(PolicyRegistryTest, StaticBadPrecision) {
  auto p = Create("static", "target: gpu\nprecision: fp64\n", Ctx());
  ASSERT_FALSE(p.ok());
  const std::string& msg = p.status().message();
  EXPECT_TRUE(Contains(msg, "exp.yaml:2:"));
  EXPECT_TRUE(Contains(msg, "precision"));
  EXPECT_TRUE(Contains(msg, "unknown precision 'fp64'"));
  EXPECT_TRUE(Contains(msg, "fp32, fp16, int8"));
}

TEST(PolicyRegistryTest, StaticActionMissingFromTheDevice) {
  // The DSP runs int8 only; with an explicit precision the error points at the level ...
  auto p = Create("static", "target: dsp\nprecision: fp32\nlevel: 0\n", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(), "exp.yaml:3:"));
  EXPECT_TRUE(
      Contains(p.status().message(), "target 'dsp' has no action at precision fp32 and level 0"));
  p = Create("static", "target: gpu\nlevel: 9\n", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(), "exp.yaml:2:"));
  EXPECT_TRUE(Contains(p.status().message(), "level 9"));

  // ... and without one the message still reads as a sentence.
  p = Create("static", "target: dsp\n", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(),
                       "static policy: target 'dsp' has no action at precision fp32"));
  EXPECT_TRUE(Create("static", "target: dsp\nprecision: int8\n", Ctx()).ok());
}

TEST(PolicyRegistryTest, StaticRejectsUnknownParams) {
  auto p = Create("static", "{target: gpu, precison: fp16}", Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(Contains(p.status().message(), "did you mean 'precision'?"));
}

TEST(PolicyRegistryTest, OracleNeedsTheSimulatorsGroundTruth) {
  auto p = CreatePolicy("oracle", nullptr, Ctx());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(p.status().message(), "oracle"));
  EXPECT_TRUE(Contains(p.status().message(), "ground truth"));
  NullOracle oracle;
  EXPECT_TRUE(CreatePolicy("oracle", nullptr, Ctx(&oracle)).ok());
}

TEST(PolicyRegistryTest, ParameterlessPoliciesRejectParams) {
  NullOracle oracle;
  for (const char* name : {"model_greedy", "random", "oracle"}) {
    SCOPED_TRACE(name);
    auto p = Create(name, "seed: 3\n", Ctx(&oracle));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(p.status().message(), "exp.yaml:1:"));
    EXPECT_TRUE(Contains(p.status().message(), "unknown key 'seed'"));
    // Not a map at all.
    p = Create(name, "[1, 2]\n", Ctx(&oracle));
    EXPECT_FALSE(p.ok());
    // An empty map is fine.
    p = Create(name, "{}\n", Ctx(&oracle));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
  }
}

TEST(PolicyRegistryTest, SeedReachesTheRandomPolicy) {
  const CostModel& cm = Sd845();
  Observation obs;
  obs.model = 0;
  obs.wifi_rssi_dbm = -60;
  obs.wifi_down_mbps = 50;
  obs.wifi_up_mbps = 20;
  std::vector<int> f(cm.actions().size());
  f.resize(cm.Feasible(obs, f));
  auto draws = [&](uint64_t seed) {
    PolicyContext ctx = Ctx();
    ctx.seed = seed;
    auto p = CreatePolicy("random", nullptr, ctx);
    EXPECT_TRUE(p.ok());
    std::vector<int> out;
    for (int i = 0; i < 50; ++i) out.push_back((*p)->Decide(obs, f));
    return out;
  };
  EXPECT_EQ(draws(5), draws(5));
  EXPECT_NE(draws(5), draws(6));
}

}  // namespace
}  // namespace autoscale
