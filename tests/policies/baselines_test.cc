#include "policies/baselines.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "env/cost_model.h"
#include "env/profiles.h"
#include "policies/policy_test_util.h"
#include "policies/reward.h"

namespace autoscale {
namespace {

// ---- Helpers ----------------------------------------------------------------------------------

using testing::FeasibleOf;
using testing::MakeCostModel;
using testing::ObsFor;

// sd845 with mobilenet_v1 (0), vgg16 (1) and kws_lstm (2), built once.
const CostModel& Sd845() {
  static const CostModel* cm =
      MakeCostModel("sd845", {"mobilenet_v1", "vgg16", "kws_lstm"}).release();
  return *cm;
}

PolicyContext Ctx(const CostModel& cm, uint64_t seed = 1) {
  PolicyContext ctx;
  ctx.cost_model = &cm;
  ctx.seed = seed;
  return ctx;
}

// A spread of requests: every model, idle and loaded, Wi-Fi strong, weak or off, cellular or
// not, tight and loose latency bounds, accuracy floors.
std::vector<Observation> VariedObservations(const CostModel& cm) {
  std::vector<Observation> out;
  for (int m = 0; m < cm.num_models(); ++m) {
    for (float load : {0.0f, 0.5f, 0.95f}) {
      for (int net = 0; net < 4; ++net) {
        for (float bound : {std::numeric_limits<float>::infinity(), 100.0f, 25.0f}) {
          Observation o = ObsFor(cm, m);
          o.cpu_load = load;
          o.gpu_load = load / 2;
          o.mem_load = load / 3;
          o.latency_bound_ms = bound;
          o.min_accuracy = m == 0 && load > 0.9f ? 0.703f : 0;  // mobilenet: no int8
          if (net == 1) {                                       // weak Wi-Fi
            o.wifi_rssi_dbm = -85;
            o.wifi_down_mbps = 3;
            o.wifi_up_mbps = 1;
          } else if (net >= 2) {  // Wi-Fi off; LTE strong or weak
            o.wifi_rssi_dbm = kNoSignalDbm;
            o.wifi_down_mbps = o.wifi_up_mbps = 0;
            o.cell_rsrp_dbm = net == 2 ? -85 : -116;
            o.cell_down_mbps = net == 2 ? 30 : 1.5f;
            o.cell_up_mbps = net == 2 ? 10 : 0.4f;
          }
          if (net == 3) o.p2p_rssi_dbm = -50;  // a nearby tablet
          out.push_back(o);
        }
      }
    }
  }
  return out;
}

// The best-reward action by brute force: highest reward, first on ties.
template <typename F>
int BruteForceBest(const Observation& obs, const std::vector<int>& feasible, const RewardConfig& rc,
                   F outcome_of) {
  int best = -1;
  double best_r = 0;
  for (int a : feasible) {
    const double r = Reward(outcome_of(a), obs, rc);
    if (best < 0 || r > best_r) {
      best = a;
      best_r = r;
    }
  }
  return best;
}

// Ground truth from a table; counts its calls.
class FakeOracle : public OutcomeOracle {
 public:
  explicit FakeOracle(std::map<int, Outcome> outcomes) : outcomes_(std::move(outcomes)) {}
  Outcome TrueOutcome(int action) const override {
    ++calls_;
    auto it = outcomes_.find(action);
    EXPECT_NE(it, outcomes_.end()) << "asked about action " << action;
    return it == outcomes_.end() ? Outcome{} : it->second;
  }
  int calls() const { return calls_; }

 private:
  std::map<int, Outcome> outcomes_;
  mutable int calls_ = 0;
};

Outcome Out(float latency_ms, float energy_mj, float accuracy = 0.9f, bool failed = false) {
  Outcome o;
  o.latency_ms = latency_ms;
  o.energy_mj = energy_mj;
  o.accuracy = accuracy;
  o.failed = failed;
  return o;
}

// ---- Reward -----------------------------------------------------------------------------------

TEST(RewardTest, EnergyOnlyWhenConstraintsAreMet) {
  Observation obs;
  obs.latency_bound_ms = 100;
  obs.min_accuracy = 0.7f;
  RewardConfig rc;
  rc.qos_penalty_mj = 1000;
  rc.accuracy_penalty_mj = 300;
  EXPECT_DOUBLE_EQ(Reward(Out(50, 123.5f, 0.75f), obs, rc), -123.5);
  // The bounds themselves are met.
  EXPECT_DOUBLE_EQ(Reward(Out(100, 10, 0.7f), obs, rc), -10);
  // No bound (the default) never penalises.
  EXPECT_DOUBLE_EQ(Reward(Out(1e9f, 10, 0), Observation{}, rc), -10);
}

TEST(RewardTest, QosPenaltyForAMissedBoundOrAFailure) {
  Observation obs;
  obs.latency_bound_ms = 100;
  obs.min_accuracy = 0.7f;
  RewardConfig rc;
  rc.qos_penalty_mj = 1000;
  rc.accuracy_penalty_mj = 300;
  EXPECT_DOUBLE_EQ(Reward(Out(100.5f, 10, 0.8f), obs, rc), -1010);
  // A failure misses both the bound and the floor: no output came back.
  EXPECT_DOUBLE_EQ(Reward(Out(20, 10, 0.8f, true), obs, rc), -1310);
  // Penalties scale with the configuration.
  rc.qos_penalty_mj = 0;
  EXPECT_DOUBLE_EQ(Reward(Out(100.5f, 10, 0.8f), obs, rc), -10);
}

TEST(RewardTest, AccuracyPenaltyForAMissedFloor) {
  Observation obs;
  obs.latency_bound_ms = 100;
  obs.min_accuracy = 0.7f;
  RewardConfig rc;
  rc.qos_penalty_mj = 1000;
  rc.accuracy_penalty_mj = 300;
  EXPECT_DOUBLE_EQ(Reward(Out(50, 10, 0.69f), obs, rc), -310);
  EXPECT_DOUBLE_EQ(Reward(Out(150, 10, 0.69f), obs, rc), -1310);
  // Defaults: 10000 each.
  EXPECT_DOUBLE_EQ(Reward(Out(150, 10, 0.69f), obs, RewardConfig{}), -20010);
}

// ---- Static -----------------------------------------------------------------------------------

TEST(StaticPolicyTest, ReturnsItsActionWhenFeasible) {
  const CostModel& cm = Sd845();
  const int gpu = cm.actions().Find("gpu", Precision::kFp16, 1);
  ASSERT_GE(gpu, 0);
  StaticPolicy p(Ctx(cm), gpu);
  EXPECT_EQ(p.name(), "static");
  EXPECT_EQ(p.action(), gpu);
  EXPECT_FALSE(p.learns());
  for (const Observation& obs : VariedObservations(cm)) {
    const auto f = FeasibleOf(cm, obs);
    if (std::find(f.begin(), f.end(), gpu) == f.end()) continue;
    EXPECT_EQ(p.Decide(obs, f), gpu);
  }
  // Even when it is a bad choice.
  const Observation obs = ObsFor(cm, 1);
  const std::vector<int> f = {cm.actions().Find("cpu_big", Precision::kFp32), gpu};
  EXPECT_EQ(p.Decide(obs, f), gpu);
}

TEST(StaticPolicyTest, FallsBackToTheBestPredictedFeasibleAction) {
  const CostModel& cm = Sd845();
  const int cloud = cm.actions().Find("cloud", Precision::kFp32);
  ASSERT_GE(cloud, 0);
  PolicyContext ctx = Ctx(cm);
  ctx.reward.qos_penalty_mj = 500;
  StaticPolicy p(ctx, cloud);
  int fallbacks = 0;
  std::set<int> chosen;
  for (const Observation& obs : VariedObservations(cm)) {
    auto f = FeasibleOf(cm, obs);
    f.erase(std::remove(f.begin(), f.end(), cloud), f.end());  // the cloud is unreachable
    const int want = BruteForceBest(obs, f, ctx.reward, [&](int a) { return cm.Predict(a, obs); });
    const int got = p.Decide(obs, f);
    EXPECT_EQ(got, want) << "got " << cm.actions().names[got] << ", want "
                         << cm.actions().names[want];
    chosen.insert(got);
    ++fallbacks;
  }
  EXPECT_GT(fallbacks, 0);
  EXPECT_GE(chosen.size(), 2u);  // the fallback depends on the request
}

// ---- Model greedy -----------------------------------------------------------------------------

TEST(ModelGreedyPolicyTest, PicksTheBestPredictedReward) {
  const CostModel& cm = Sd845();
  for (double qos : {10000.0, 50.0}) {
    SCOPED_TRACE(qos);
    PolicyContext ctx = Ctx(cm);
    ctx.reward.qos_penalty_mj = qos;
    ModelGreedyPolicy p(ctx);
    EXPECT_EQ(p.name(), "model_greedy");
    std::set<int> chosen;
    int penalised = 0;
    for (const Observation& obs : VariedObservations(cm)) {
      const auto f = FeasibleOf(cm, obs);
      ASSERT_FALSE(f.empty());
      const int want =
          BruteForceBest(obs, f, ctx.reward, [&](int a) { return cm.Predict(a, obs); });
      const int got = p.Decide(obs, f);
      EXPECT_EQ(got, want) << "got " << cm.actions().names[got] << ", want "
                           << cm.actions().names[want];
      chosen.insert(got);
      // Whether the least-energy action was passed over for the bound.
      int least = f[0];
      for (int a : f) {
        if (cm.Predict(a, obs).energy_mj < cm.Predict(least, obs).energy_mj) least = a;
      }
      penalised += least != got;
    }
    EXPECT_GE(chosen.size(), 3u);  // the answer depends on the request
    if (qos > 1000) {
      EXPECT_GT(penalised, 0);  // the latency bound matters
    } else {
      EXPECT_EQ(penalised, 0);  // a small penalty is not worth the energy
    }
  }
}

TEST(ModelGreedyPolicyTest, OrderOfFeasibleActionsOnlyBreaksTies) {
  const CostModel& cm = Sd845();
  ModelGreedyPolicy p(Ctx(cm));
  const Observation obs = ObsFor(cm, 1);
  auto f = FeasibleOf(cm, obs);
  const int forward = p.Decide(obs, f);
  std::reverse(f.begin(), f.end());
  EXPECT_EQ(p.Decide(obs, f), forward);
  // A single feasible action is the answer.
  const std::vector<int> one = {f[3]};
  EXPECT_EQ(p.Decide(obs, one), f[3]);
}

// ---- Random -----------------------------------------------------------------------------------

TEST(RandomPolicyTest, DeterministicPerSeedAndCoversEveryFeasibleAction) {
  const CostModel& cm = Sd845();
  const Observation obs = ObsFor(cm, 0);
  const auto f = FeasibleOf(cm, obs);
  auto run = [&](uint64_t seed) {
    RandomPolicy p(Ctx(cm, seed));
    std::vector<int> out;
    for (int i = 0; i < 3000; ++i) out.push_back(p.Decide(obs, f));
    return out;
  };
  const auto a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::map<int, int> counts;
  for (int x : a) {
    ASSERT_NE(std::find(f.begin(), f.end(), x), f.end()) << x;
    ++counts[x];
  }
  EXPECT_EQ(counts.size(), f.size());
  // Roughly uniform: each action within a factor of two of its share.
  const double share = 3000.0 / static_cast<double>(f.size());
  for (const auto& [action, n] : counts) {
    EXPECT_GT(n, share / 2) << cm.actions().names[action];
    EXPECT_LT(n, share * 2) << cm.actions().names[action];
  }
  RandomPolicy p(Ctx(cm));
  EXPECT_EQ(p.name(), "random");
  const std::vector<int> sub = {f[2], f[5]};
  std::set<int> seen;
  for (int i = 0; i < 100; ++i) seen.insert(p.Decide(obs, sub));
  EXPECT_EQ(seen, (std::set<int>{f[2], f[5]}));
}

// ---- Oracle -----------------------------------------------------------------------------------

TEST(OraclePolicyTest, PicksTheBestTrueOutcome) {
  const CostModel& cm = Sd845();
  Observation obs = ObsFor(cm, 0);
  obs.latency_bound_ms = 40;
  obs.min_accuracy = 0.7f;
  // 3 is cheapest but too slow, 5 is cheap but too inaccurate, 7 failed: 9 is the answer.
  FakeOracle oracle({{1, Out(10, 90)},
                     {3, Out(60, 5)},
                     {5, Out(10, 8, 0.6f)},
                     {7, Out(10, 1, 0.9f, true)},
                     {9, Out(39, 30)},
                     {11, Out(40, 31)}});
  PolicyContext ctx = Ctx(cm);
  ctx.oracle = &oracle;
  OraclePolicy p(ctx);
  EXPECT_EQ(p.name(), "oracle");
  const std::vector<int> all = {1, 3, 5, 7, 9, 11};
  EXPECT_EQ(p.Decide(obs, all), 9);
  EXPECT_EQ(oracle.calls(), 6);
  // Only feasible actions are considered.
  const std::vector<int> some = {1, 3, 5, 11};
  EXPECT_EQ(p.Decide(obs, some), 11);
  // With small penalties, a violation can be worth it.
  ctx.reward.qos_penalty_mj = 1;
  OraclePolicy cheap(ctx);
  EXPECT_EQ(cheap.Decide(obs, all), 3);
  // Ties go to the first in feasible order.
  FakeOracle tied({{2, Out(10, 5)}, {4, Out(10, 5)}, {6, Out(10, 6)}});
  ctx.oracle = &tied;
  OraclePolicy tie_breaker(ctx);
  const std::vector<int> fwd = {6, 4, 2}, rev = {2, 4, 6};
  EXPECT_EQ(tie_breaker.Decide(obs, fwd), 4);
  EXPECT_EQ(tie_breaker.Decide(obs, rev), 2);
  // The oracle ignores the cost model: its predictions disagree with the fake truth.
  const std::vector<int> pair = {1, 9};
  oracle = FakeOracle({{1, Out(1, 1)}, {9, Out(1, 2)}});
  EXPECT_EQ(p.Decide(obs, pair), 1);
}

TEST(BaselinesTest, NoLearnedState) {
  const CostModel& cm = Sd845();
  ModelGreedyPolicy p(Ctx(cm));
  EXPECT_FALSE(p.learns());
  EXPECT_TRUE(p.Save("/nonexistent/dir/q.table").ok());
  Status st = p.Load("/nonexistent/dir/q.table");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'model_greedy' has no learned state"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
