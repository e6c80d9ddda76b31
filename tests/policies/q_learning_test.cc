#include "policies/q_learning.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/strings.h"
#include "env/cost_model.h"
#include "env/profiles.h"
#include "policies/policy_test_util.h"
#include "policies/reward.h"

namespace autoscale {
namespace {

// ---- Helpers ----------------------------------------------------------------------------------

using testing::ConfigRoot;
using testing::Contains;
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

// No exploration at all: decisions are greedy and deterministic.
QLearningOptions GreedyOptions() {
  QLearningOptions o;
  o.prior = QPrior::kNone;  // AutoScale's plain table: these tests are about its mechanics
  o.epsilon_start = 0;
  o.epsilon_end = 0;
  o.epsilon_eval = 0;
  return o;
}

// An outcome that meets every constraint and costs `energy_mj`: its reward is -energy_mj.
Outcome Cost(float energy_mj) {
  Outcome o;
  o.latency_ms = 1;
  o.energy_mj = energy_mj;
  o.accuracy = 1;
  return o;
}

// One request: decide among `feasible`, then learn `outcome` for the chosen action.
int Step(QLearningPolicy& p, const Observation& obs, std::vector<int> feasible,
         const Outcome& outcome) {
  const int a = p.Decide(obs, feasible);
  p.Learn(obs, a, outcome);
  return a;
}

// A fresh folder for one test's files, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const char* env = std::getenv("AUTOSCALE_TEST_TMP");
    std::filesystem::path base = env != nullptr && *env != '\0'
                                     ? std::filesystem::path(env)
                                     : std::filesystem::temp_directory_path();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = base / ("policies_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
                    std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

std::string Unlines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The whole table, for before/after comparisons.
struct Table {
  std::vector<float> q;
  std::vector<uint32_t> visits;
  bool operator==(const Table&) const = default;
};

Table Snapshot(const QLearningPolicy& p, int num_actions) {
  Table t;
  for (int s = 0; s < p.num_states(); ++s) {
    for (int a = 0; a < num_actions; ++a) {
      t.q.push_back(p.Q(s, a));
      t.visits.push_back(p.Visits(s, a));
    }
  }
  return t;
}

// Trains `p` on a few states with predicted outcomes so that its table is not trivial.
void TrainSome(QLearningPolicy& p, const CostModel& cm, int requests) {
  for (int i = 0; i < requests; ++i) {
    Observation obs = ObsFor(cm, i % cm.num_models());
    obs.cpu_load = static_cast<float>((i / 3) % 4) * 0.25f;
    const auto feasible = FeasibleOf(cm, obs);
    const int a = p.Decide(obs, feasible);
    p.Learn(obs, a, cm.Predict(a, obs));
  }
  p.EndEpisode();
}

Result<QLearningOptions> ParseYaml(const std::string& yaml) {
  auto node = ConfigNode::LoadString(yaml, "params.yaml");
  if (!node.ok()) return node.status();
  return ParseQLearningOptions(&*node);
}

// ---- State ------------------------------------------------------------------------------------

TEST(QLearningStateTest, DefaultLayoutHasOneStatePerBucketCombination) {
  QLearningPolicy p(Ctx(Sd845()), QLearningOptions{});
  int want = 1;
  for (const auto& e : QLearningOptions{}.edges) want *= static_cast<int>(e.size()) + 1;
  EXPECT_EQ(p.num_states(), want);
  EXPECT_EQ(p.num_states(), 3 * 2 * 2 * 5 * 3 * 3 * 3 * 5 * 5 * 4);
  EXPECT_EQ(p.name(), "q_learning");
  EXPECT_TRUE(p.learns());
}

TEST(QLearningStateTest, EdgesAreInclusiveOnTheLowerBound) {
  // Edges chosen so that neither float nor double rounding helps: 0.7f and 0.9f lie below 0.7
  // and 0.9, while a load of "0.7" must still count as reaching the 0.7 edge.
  QLearningOptions o;
  o.edges[kFeatConvLayers] = {10, 50};
  o.edges[kFeatFcLayers] = {1, 3};
  o.edges[kFeatRecurrentLayers] = {1};
  o.edges[kFeatMacs] = {1e8, 2.5e9};
  o.edges[kFeatCpuLoad] = {0.1, 0.7};
  o.edges[kFeatGpuLoad] = {0.3, 0.9};
  o.edges[kFeatMemLoad] = {0.45};
  o.edges[kFeatWifiRssi] = {-85.5, -70};
  o.edges[kFeatCellRsrp] = {-115, -99.5};
  o.edges[kFeatUplinkMbps] = {1, 4.5};
  QLearningPolicy p(Ctx(Sd845()), o);

  // Every feature in bucket 0 (Wi-Fi off, so the cellular signal counts).
  Observation base;
  base.conv_layers = 0;
  base.macs = 0;
  base.cpu_load = base.gpu_load = base.mem_load = 0;
  const int s0 = p.StateOf(base);
  EXPECT_EQ(s0, 0);

  using Setter = std::function<void(Observation&, double)>;
  const Setter set[kNumStateFeatures] = {
      [](Observation& x, double v) { x.conv_layers = static_cast<int32_t>(v); },
      [](Observation& x, double v) { x.fc_layers = static_cast<int32_t>(v); },
      [](Observation& x, double v) { x.recurrent_layers = static_cast<int32_t>(v); },
      [](Observation& x, double v) { x.macs = v; },
      [](Observation& x, double v) { x.cpu_load = static_cast<float>(v); },
      [](Observation& x, double v) { x.gpu_load = static_cast<float>(v); },
      [](Observation& x, double v) { x.mem_load = static_cast<float>(v); },
      [](Observation& x, double v) { x.wifi_rssi_dbm = static_cast<float>(v); },
      [](Observation& x, double v) { x.cell_rsrp_dbm = static_cast<float>(v); },
      // Wi-Fi off, LTE connected below its first edge: the uplink is LTE's.
      [](Observation& x, double v) {
        x.cell_rsrp_dbm = -150;
        x.cell_up_mbps = static_cast<float>(v);
      },
  };
  for (int f = 0; f < kNumStateFeatures; ++f) {
    SCOPED_TRACE(StateFeatureName(f));
    const auto& edges = o.edges[f];
    auto state_at = [&](double v) {
      Observation x = base;
      set[f](x, v);
      return p.StateOf(x);
    };
    const int stride = state_at(edges[0]) - s0;
    ASSERT_GT(stride, 0);
    for (size_t k = 0; k < edges.size(); ++k) {
      SCOPED_TRACE(edges[k]);
      // Integer features step by one below an edge; the others by a small fraction.
      const double below = f <= kFeatRecurrentLayers ? edges[k] - 1
                           : f == kFeatMacs          ? edges[k] * (1 - 1e-9)
                                                     : edges[k] - 1e-3;
      EXPECT_EQ(state_at(below), s0 + static_cast<int>(k) * stride);
      EXPECT_EQ(state_at(edges[k]), s0 + static_cast<int>(k + 1) * stride);
    }
    EXPECT_EQ(state_at(edges.back() * (edges.back() < 0 ? 0.5 : 2)),
              s0 + static_cast<int>(edges.size()) * stride);
  }
}

TEST(QLearningStateTest, DistinctBucketCombinationsGetDistinctStates) {
  // One representative value per bucket of every feature: the encoding is injective, except that
  // the cellular signal is folded away while Wi-Fi is connected.
  const QLearningOptions o;
  QLearningPolicy p(Ctx(Sd845()), o);
  std::array<std::vector<double>, kNumStateFeatures> reps;
  for (int f = 0; f < kNumStateFeatures; ++f) {
    const auto& e = o.edges[f];
    reps[f].push_back(f == kFeatWifiRssi || f == kFeatCellRsrp ? kNoSignalDbm : e[0] - 1);
    for (size_t k = 0; k < e.size(); ++k) reps[f].push_back(e[k]);
  }
  std::set<int> states;
  size_t combos = 0;
  std::array<size_t, kNumStateFeatures> idx{};
  while (true) {
    Observation x;
    x.conv_layers = static_cast<int32_t>(reps[kFeatConvLayers][idx[kFeatConvLayers]]);
    x.fc_layers = static_cast<int32_t>(reps[kFeatFcLayers][idx[kFeatFcLayers]]);
    x.recurrent_layers =
        static_cast<int32_t>(reps[kFeatRecurrentLayers][idx[kFeatRecurrentLayers]]);
    x.macs = reps[kFeatMacs][idx[kFeatMacs]];
    x.cpu_load = static_cast<float>(reps[kFeatCpuLoad][idx[kFeatCpuLoad]]);
    x.gpu_load = static_cast<float>(reps[kFeatGpuLoad][idx[kFeatGpuLoad]]);
    x.mem_load = static_cast<float>(reps[kFeatMemLoad][idx[kFeatMemLoad]]);
    x.wifi_rssi_dbm = static_cast<float>(reps[kFeatWifiRssi][idx[kFeatWifiRssi]]);
    x.cell_rsrp_dbm = static_cast<float>(reps[kFeatCellRsrp][idx[kFeatCellRsrp]]);
    x.wifi_up_mbps = x.cell_up_mbps =
        static_cast<float>(reps[kFeatUplinkMbps][idx[kFeatUplinkMbps]]);
    const int s = p.StateOf(x);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, p.num_states());
    states.insert(s);
    ++combos;
    int f = 0;
    while (f < kNumStateFeatures && ++idx[f] == reps[f].size()) idx[f++] = 0;
    if (f == kNumStateFeatures) break;
  }
  EXPECT_EQ(combos, static_cast<size_t>(p.num_states()));
  // Wi-Fi in one of its 4 upper buckets: the cellular signal is folded away, the uplink is
  // Wi-Fi's. Wi-Fi off: 5 cellular buckets; the uplink is LTE's when LTE is connected, else none
  // (one state).
  const size_t wifi = o.edges[kFeatWifiRssi].size() + 1, cell = o.edges[kFeatCellRsrp].size() + 1,
               up = o.edges[kFeatUplinkMbps].size() + 1;
  EXPECT_EQ(states.size(), combos / (wifi * cell * up) * ((wifi - 1) * up + (cell - 1) * up + 1));
}

TEST(QLearningStateTest, CellularSignalIgnoredWhenWifiConnected) {
  QLearningPolicy p(Ctx(Sd845()), QLearningOptions{});
  Observation obs = ObsFor(Sd845(), 0);
  obs.wifi_rssi_dbm = -65;
  obs.cell_rsrp_dbm = kNoSignalDbm;
  const int no_cell = p.StateOf(obs);
  obs.cell_rsrp_dbm = -118;
  EXPECT_EQ(p.StateOf(obs), no_cell);
  obs.cell_rsrp_dbm = -85;
  EXPECT_EQ(p.StateOf(obs), no_cell);

  // Without Wi-Fi the cellular signal separates states.
  obs.wifi_rssi_dbm = kNoSignalDbm;
  obs.cell_rsrp_dbm = -118;
  const int weak = p.StateOf(obs);
  obs.cell_rsrp_dbm = -85;
  const int strong = p.StateOf(obs);
  EXPECT_NE(weak, strong);
  EXPECT_NE(weak, no_cell);
}

TEST(QLearningStateTest, CellularSignalCountsWhenWifiIsBelowItsFirstEdge) {
  // Wi-Fi below its first edge (-90 dBm, the Wi-Fi profile's minimum signal) carries no offload:
  // the cost model sends it over cellular, so the cellular signal must still tell states apart.
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), QLearningOptions{});
  Observation obs = ObsFor(cm, 0);
  obs.wifi_rssi_dbm = -93;
  obs.cell_rsrp_dbm = -118;
  obs.cell_down_mbps = 2;
  obs.cell_up_mbps = 0.5;
  const int weak = p.StateOf(obs);
  obs.cell_rsrp_dbm = -85;
  obs.cell_down_mbps = 30;
  obs.cell_up_mbps = 10;
  const int strong = p.StateOf(obs);
  EXPECT_NE(weak, strong);
}

TEST(QLearningStateTest, ShippedModelsGetDistinctStatesWithDefaultEdges) {
  ProfileCatalog catalog(ConfigRoot());
  const std::vector<std::string> names = catalog.Available("models");
  ASSERT_GE(names.size(), 9u);
  auto cm = MakeCostModel("sd845", names);
  ASSERT_NE(cm, nullptr);
  QLearningPolicy p(Ctx(*cm), QLearningOptions{});
  std::set<int> states;
  for (int m = 0; m < cm->num_models(); ++m) {
    const int s = p.StateOf(ObsFor(*cm, m));
    EXPECT_TRUE(states.insert(s).second) << names[m] << " shares state " << s;
  }
}

// ---- Learning ---------------------------------------------------------------------------------

TEST(QLearningTest, TriesEveryFeasibleActionBeforeRepeating) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), GreedyOptions());
  const Observation obs = ObsFor(cm, 0);
  const auto feasible = FeasibleOf(cm, obs);
  ASSERT_GE(feasible.size(), 10u);
  std::vector<int> chosen;
  for (size_t i = 0; i < feasible.size(); ++i) {
    const int a = p.Decide(obs, feasible);
    chosen.push_back(a);
    p.Learn(obs, a, cm.Predict(a, obs));
  }
  // Each once, in feasible order (untried actions tie at the optimistic zero).
  EXPECT_EQ(chosen, feasible);
  const int s = p.StateOf(obs);
  for (int a : feasible) EXPECT_EQ(p.Visits(s, a), 1u) << cm.actions().names[a];

  // Then the best one, again and again.
  int best = feasible[0];
  for (int a : feasible) {
    if (Reward(cm.Predict(a, obs), obs, {}) > Reward(cm.Predict(best, obs), obs, {})) best = a;
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Step(p, obs, feasible, cm.Predict(best, obs)), best);
  EXPECT_EQ(p.Visits(s, best), 6u);
}

TEST(QLearningTest, ExactQValuesFollowTheLearningRateSchedule) {
  const CostModel& cm = Sd845();
  QLearningOptions o = GreedyOptions();
  o.learning_rate = 0.8;
  o.learning_rate_min = 0.3;  // alpha: 0.8, 0.4, max(0.3, 0.267) = 0.3, 0.3, ...
  QLearningPolicy p(Ctx(cm), o);
  const Observation obs = ObsFor(cm, 1);
  const int s = p.StateOf(obs);
  const int a = FeasibleOf(cm, obs)[3];
  const double rewards[] = {-10, -20, -30, -40, -50};
  const double alphas[] = {0.8, 0.4, 0.3, 0.3, 0.3};
  float want = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Step(p, obs, {a}, Cost(static_cast<float>(-rewards[i]))), a);
    want += static_cast<float>(alphas[i] * (rewards[i] - want));
    EXPECT_FLOAT_EQ(p.Q(s, a), want) << "update " << i;
    EXPECT_EQ(p.Visits(s, a), static_cast<uint32_t>(i + 1));
  }
  // Hand-computed: -8, -12.8, -17.96, -24.572, -32.2004.
  EXPECT_NEAR(p.Q(s, a), -32.2004, 1e-4);
  // Nothing else moved.
  EXPECT_EQ(p.Q(s, a + 1), 0.0f);
  EXPECT_EQ(p.Visits(s, a + 1), 0u);
}

TEST(QLearningTest, FirstUpdateWithDefaultsTakesTheRewardAndThenAverages) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), GreedyOptions());  // learning_rate 1: alpha = 1/(1+visits)
  const Observation obs = ObsFor(cm, 0);
  const int s = p.StateOf(obs);
  const int a = FeasibleOf(cm, obs)[0];
  Step(p, obs, {a}, Cost(30));
  EXPECT_FLOAT_EQ(p.Q(s, a), -30);
  Step(p, obs, {a}, Cost(10));
  EXPECT_FLOAT_EQ(p.Q(s, a), -20);  // alpha 1/2
  Step(p, obs, {a}, Cost(50));
  EXPECT_FLOAT_EQ(p.Q(s, a), -30);  // alpha 1/3: the running mean
}

TEST(QLearningTest, LearnsTheRewardIncludingPenalties) {
  const CostModel& cm = Sd845();
  PolicyContext ctx = Ctx(cm);
  ctx.reward.qos_penalty_mj = 1000;
  ctx.reward.accuracy_penalty_mj = 300;
  QLearningPolicy p(ctx, GreedyOptions());
  Observation obs = ObsFor(cm, 0);
  obs.latency_bound_ms = 50;
  obs.min_accuracy = 0.6f;
  const int s = p.StateOf(obs);
  const auto feasible = FeasibleOf(cm, obs);
  Outcome slow = Cost(7);
  slow.latency_ms = 80;
  Step(p, obs, {feasible[0]}, slow);
  EXPECT_FLOAT_EQ(p.Q(s, feasible[0]), -1007);
  Outcome inaccurate = Cost(7);
  inaccurate.accuracy = 0.5f;
  Step(p, obs, {feasible[1]}, inaccurate);
  EXPECT_FLOAT_EQ(p.Q(s, feasible[1]), -307);
  Outcome failed = Cost(7);
  failed.failed = true;
  Step(p, obs, {feasible[2]}, failed);
  EXPECT_FLOAT_EQ(p.Q(s, feasible[2]), -1307);
}

TEST(QLearningTest, DiscountDefersTheUpdateAndBootstrapsFromFeasibleActions) {
  const CostModel& cm = Sd845();
  QLearningOptions o = GreedyOptions();
  o.discount = 0.5;
  const Observation first = ObsFor(cm, 0);
  const Observation next = ObsFor(cm, 1);
  const auto f1 = FeasibleOf(cm, first);
  const auto f2 = FeasibleOf(cm, next);
  const int a = f1[0];
  const int b = f2[1], c = f2[2], d = f2[3];

  // Seeds Q(next, b) = -10 and Q(next, c) = -4: episodes of one request, flushed unbootstrapped.
  auto seeded = [&] {
    auto p = std::make_unique<QLearningPolicy>(Ctx(cm), o);
    Step(*p, next, {b}, Cost(10));
    p->EndEpisode();
    Step(*p, next, {c}, Cost(4));
    p->EndEpisode();
    const int s2 = p->StateOf(next);
    EXPECT_FLOAT_EQ(p->Q(s2, b), -10);
    EXPECT_FLOAT_EQ(p->Q(s2, c), -4);
    return p;
  };
  const int s1 = QLearningPolicy(Ctx(cm), o).StateOf(first);

  {  // Bootstraps from the best of the next request's feasible actions.
    auto p = seeded();
    Step(*p, first, {a}, Cost(100));
    EXPECT_EQ(p->Q(s1, a), 0.0f);  // deferred
    EXPECT_EQ(p->Visits(s1, a), 0u);
    const std::vector<int> next_feasible = {b, c};
    p->Decide(next, next_feasible);
    EXPECT_FLOAT_EQ(p->Q(s1, a), -100 + 0.5 * -4);
    EXPECT_EQ(p->Visits(s1, a), 1u);
  }
  {  // Only feasible actions count: c is not offered this time.
    auto p = seeded();
    Step(*p, first, {a}, Cost(100));
    const std::vector<int> next_feasible = {b};
    p->Decide(next, next_feasible);
    EXPECT_FLOAT_EQ(p->Q(s1, a), -100 + 0.5 * -10);
  }
  {  // An untried feasible action bootstraps with its optimistic zero.
    auto p = seeded();
    Step(*p, first, {a}, Cost(100));
    const std::vector<int> next_feasible = {b, d};
    p->Decide(next, next_feasible);
    EXPECT_FLOAT_EQ(p->Q(s1, a), -100);
  }
  {  // EndEpisode flushes without bootstrapping, exactly once.
    auto p = seeded();
    Step(*p, first, {a}, Cost(100));
    p->EndEpisode();
    EXPECT_FLOAT_EQ(p->Q(s1, a), -100);
    EXPECT_EQ(p->Visits(s1, a), 1u);
    p->EndEpisode();
    const std::vector<int> next_feasible = {b, c};
    p->Decide(next, next_feasible);
    EXPECT_FLOAT_EQ(p->Q(s1, a), -100);
    EXPECT_EQ(p->Visits(s1, a), 1u);
  }
}

TEST(QLearningTest, EpsilonDecaysLinearlyWhileTrainingAndUsesEvalValueOtherwise) {
  const CostModel& cm = Sd845();
  QLearningOptions o;
  o.epsilon_start = 0.5;
  o.epsilon_end = 0.1;
  o.epsilon_decay_requests = 10;
  o.epsilon_eval = 0.03;
  QLearningPolicy p(Ctx(cm), o);
  const Observation obs = ObsFor(cm, 0);
  const auto feasible = FeasibleOf(cm, obs);
  EXPECT_DOUBLE_EQ(p.epsilon(), 0.5);
  for (int i = 0; i < 5; ++i) p.Decide(obs, feasible);
  EXPECT_NEAR(p.epsilon(), 0.3, 1e-12);
  p.SetTraining(false);
  EXPECT_DOUBLE_EQ(p.epsilon(), 0.03);
  for (int i = 0; i < 20; ++i) p.Decide(obs, feasible);  // evaluation does not advance decay
  p.SetTraining(true);
  EXPECT_NEAR(p.epsilon(), 0.3, 1e-12);
  for (int i = 0; i < 5; ++i) p.Decide(obs, feasible);
  EXPECT_NEAR(p.epsilon(), 0.1, 1e-12);
  for (int i = 0; i < 50; ++i) p.Decide(obs, feasible);
  EXPECT_NEAR(p.epsilon(), 0.1, 1e-12);  // stays at the end value

  o.epsilon_decay_requests = 0;  // no decay period: the end value from the start
  QLearningPolicy q(Ctx(cm), o);
  EXPECT_DOUBLE_EQ(q.epsilon(), 0.1);
}

TEST(QLearningTest, ExplorationRateMatchesEpsilon) {
  // After every action has been tried, a greedy policy repeats the best; with epsilon 1 it
  // spreads uniformly; in evaluation epsilon_eval applies.
  const CostModel& cm = Sd845();
  const Observation obs = ObsFor(cm, 0);
  const auto feasible = FeasibleOf(cm, obs);
  auto distinct_choices = [&](QLearningPolicy& p, int n) {
    std::set<int> seen;
    for (int i = 0; i < n; ++i) seen.insert(p.Decide(obs, feasible));
    return seen.size();
  };
  QLearningOptions o = GreedyOptions();
  o.learn_during_eval = false;
  QLearningPolicy greedy(Ctx(cm), o);
  for (size_t i = 0; i < feasible.size(); ++i) {
    const int a = greedy.Decide(obs, feasible);
    greedy.Learn(obs, a, cm.Predict(a, obs));
  }
  EXPECT_EQ(distinct_choices(greedy, 200), 1u);

  o.epsilon_start = o.epsilon_end = 1;
  QLearningPolicy explorer(Ctx(cm), o);
  EXPECT_EQ(distinct_choices(explorer, 2000), feasible.size());

  o.epsilon_start = o.epsilon_end = 0;
  o.epsilon_eval = 1;
  QLearningPolicy eval(Ctx(cm), o);
  eval.SetTraining(false);
  EXPECT_EQ(distinct_choices(eval, 2000), feasible.size());
}

TEST(QLearningTest, EvaluationSkipsUntriedActionsUnlessTheStateIsNew) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), GreedyOptions());
  const Observation obs = ObsFor(cm, 0);
  const auto f = FeasibleOf(cm, obs);
  const int a = f[0], b = f[1], c = f[2];
  Step(p, obs, {a}, Cost(5));
  Step(p, obs, {b}, Cost(3));
  const std::vector<int> abc = {a, b, c};
  const std::vector<int> cab = {c, a, b};

  // Training: the untried c still has its optimistic zero and wins.
  EXPECT_EQ(p.Decide(obs, abc), c);
  // Evaluation: only tried actions compete, whatever their order.
  p.SetTraining(false);
  EXPECT_EQ(p.Decide(obs, abc), b);
  EXPECT_EQ(p.Decide(obs, cab), b);
  // Only untried actions offered: falls back to the first of them.
  const std::vector<int> untried = {f[4], f[3]};
  EXPECT_EQ(p.Decide(obs, untried), f[4]);
  // A state never seen: the first feasible action.
  Observation fresh = ObsFor(cm, 1);
  fresh.cpu_load = 0.9f;
  ASSERT_NE(p.StateOf(fresh), p.StateOf(obs));
  const auto ff = FeasibleOf(cm, fresh);
  EXPECT_EQ(p.Decide(fresh, ff), ff[0]);
}

TEST(QLearningTest, LearnDuringEvalOption) {
  const CostModel& cm = Sd845();
  const Observation obs = ObsFor(cm, 0);
  const int a = FeasibleOf(cm, obs)[0];
  for (bool online : {true, false}) {
    SCOPED_TRACE(online);
    QLearningOptions o = GreedyOptions();
    o.learn_during_eval = online;
    QLearningPolicy p(Ctx(cm), o);
    const int s = p.StateOf(obs);
    Step(p, obs, {a}, Cost(10));
    p.SetTraining(false);
    Step(p, obs, {a}, Cost(20));
    EXPECT_FLOAT_EQ(p.Q(s, a), online ? -15 : -10);
    EXPECT_EQ(p.Visits(s, a), online ? 2u : 1u);
  }
}

TEST(QLearningTest, ConvergesToTheCheapestAction) {
  const CostModel& cm = Sd845();
  QLearningOptions o;  // defaults: epsilon-greedy exploration
  o.epsilon_decay_requests = 2000;
  QLearningPolicy p(Ctx(cm, 7), o);
  std::vector<Observation> obs = {ObsFor(cm, 0), ObsFor(cm, 1)};
  obs[0].latency_bound_ms = 30;   // mobilenet: the DSP, cheapest by far
  obs[1].latency_bound_ms = 100;  // vgg16: only the cloud is fast enough
  obs[1].cpu_load = 0.5f;

  std::vector<int> best(obs.size());
  for (size_t i = 0; i < obs.size(); ++i) {
    const auto feasible = FeasibleOf(cm, obs[i]);
    std::vector<double> r;
    for (int a : feasible) r.push_back(Reward(cm.Predict(a, obs[i]), obs[i], {}));
    const size_t k = std::max_element(r.begin(), r.end()) - r.begin();
    best[i] = feasible[k];
    std::vector<double> sorted = r;
    std::sort(sorted.rbegin(), sorted.rend());
    // Clearly cheapest: the runner-up costs at least 5% more.
    ASSERT_LT(sorted[1], sorted[0] * 1.05) << "obs " << i;
  }
  ASSERT_NE(best[0], best[1]);  // the policy has to tell the states apart

  for (int i = 0; i < 3000; ++i) {
    const Observation& x = obs[i % obs.size()];
    const auto feasible = FeasibleOf(cm, x);
    const int a = p.Decide(x, feasible);
    ASSERT_NE(std::find(feasible.begin(), feasible.end(), a), feasible.end());
    p.Learn(x, a, cm.Predict(a, x));
  }
  p.EndEpisode();
  p.SetTraining(false);
  for (size_t i = 0; i < obs.size(); ++i) {
    EXPECT_EQ(p.Decide(obs[i], FeasibleOf(cm, obs[i])), best[i])
        << "want " << cm.actions().names[best[i]];
  }
}

// ---- Save and Load ----------------------------------------------------------------------------

TEST(QLearningSaveLoadTest, RoundTrip) {
  const CostModel& cm = Sd845();
  TempDir dir;
  QLearningOptions o;
  o.learning_rate = 0.7;  // Q values that are not round numbers
  QLearningPolicy p(Ctx(cm), o);
  TrainSome(p, cm, 400);
  const Table before = Snapshot(p, cm.actions().size());
  const std::string path = dir.File("q.table");
  ASSERT_TRUE(p.Save(path).ok());

  // Atomic write: the file and nothing else (no temporary left behind).
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{"q.table"});
  const std::vector<std::string> lines = Lines(ReadText(path));
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0], "autoscale-qtable 2");
  EXPECT_EQ(lines.back(), "end");

  QLearningPolicy fresh(Ctx(cm), o);
  EXPECT_FALSE(Snapshot(fresh, cm.actions().size()) == before);
  Status st = fresh.Load(path);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Snapshot(fresh, cm.actions().size()) == before);

  // Saving the loaded table reproduces the file byte for byte.
  ASSERT_TRUE(fresh.Save(dir.File("again.table")).ok());
  EXPECT_EQ(ReadText(dir.File("again.table")), ReadText(path));

  // The loaded policy decides like the original, in every state the training visited (their
  // rows, visit counts and exploration bonuses came from the file).
  p.SetTraining(false);
  fresh.SetTraining(false);
  for (int m = 0; m < cm.num_models(); ++m) {
    for (int load = 0; load < 4; ++load) {
      Observation obs = ObsFor(cm, m);
      obs.cpu_load = static_cast<float>(load) * 0.25f;
      const auto f = FeasibleOf(cm, obs);
      EXPECT_EQ(fresh.Decide(obs, f), p.Decide(obs, f)) << "model " << m << ", load " << load;
    }
  }
}

TEST(QLearningSaveLoadTest, SaveReplacesAnExistingFileAndFailsInAMissingFolder) {
  const CostModel& cm = Sd845();
  TempDir dir;
  const std::string path = dir.File("q.table");
  WriteText(path, "old contents\n");
  QLearningPolicy p(Ctx(cm), GreedyOptions());
  TrainSome(p, cm, 30);
  ASSERT_TRUE(p.Save(path).ok());
  EXPECT_EQ(Lines(ReadText(path))[0], "autoscale-qtable 2");
  EXPECT_FALSE(p.Save(dir.File("no/such/folder/q.table")).ok());
}

TEST(QLearningSaveLoadTest, TableTransfersAcrossModelSets) {
  // States are model features, not model ids: a table learned with some models loads into a
  // policy for others on the same device with the same buckets.
  TempDir dir;
  auto a = MakeCostModel("sd845", {"mobilenet_v1", "vgg16"});
  auto b = MakeCostModel("sd845", {"resnet50", "mobilenet_v1", "kws_lstm"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  QLearningPolicy p(Ctx(*a), GreedyOptions());
  TrainSome(p, *a, 100);
  ASSERT_TRUE(p.Save(dir.File("q")).ok());
  QLearningPolicy q(Ctx(*b), GreedyOptions());
  Status st = q.Load(dir.File("q"));
  ASSERT_TRUE(st.ok()) << st.ToString();
  const int sa = p.StateOf(ObsFor(*a, 0));
  const int sb = q.StateOf(ObsFor(*b, 1));  // mobilenet_v1 in both
  EXPECT_EQ(sa, sb);
  for (int act = 0; act < a->actions().size(); ++act) EXPECT_EQ(q.Q(sb, act), p.Q(sa, act));
}

class QLearningLoadErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = std::make_unique<QLearningPolicy>(Ctx(cm_), GreedyOptions());
    TrainSome(*policy_, cm_, 200);
    good_ = dir_.File("good.table");
    ASSERT_TRUE(policy_->Save(good_).ok());
    good_lines_ = Lines(ReadText(good_));
    ASSERT_GE(good_lines_.size(), 6u);
    // The first entry line: after the header (magic, prior, buckets, actions N, N action lines,
    // size).
    first_entry_ = 5 + cm_.actions().size();
    ASSERT_EQ(good_lines_[first_entry_ - 1].rfind("size ", 0), 0u);
    before_ = Snapshot(*policy_, cm_.actions().size());
    // Load into a policy whose table differs from the file, to see that nothing changes.
    target_ = std::make_unique<QLearningPolicy>(Ctx(cm_), GreedyOptions());
    TrainSome(*target_, cm_, 50);
    target_before_ = Snapshot(*target_, cm_.actions().size());
  }

  // Writes `lines` to a file and loads it into target_; expects an error naming file:line.
  Status LoadLines(const std::vector<std::string>& lines, const std::string& name) {
    const std::string path = dir_.File(name);
    WriteText(path, Unlines(lines));
    Status st = target_->Load(path);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(Snapshot(*target_, cm_.actions().size()) == target_before_)
        << "a failed Load changed the table";
    return st;
  }

  const CostModel& cm_ = Sd845();
  TempDir dir_;
  std::unique_ptr<QLearningPolicy> policy_, target_;
  std::string good_;
  std::vector<std::string> good_lines_;
  size_t first_entry_ = 0;
  Table before_, target_before_;
  // "FILE:LINE: " of the first entry line.
  std::string EntryMark(const std::string& name) const {
    return dir_.File(name) + ":" + std::to_string(first_entry_ + 1) + ": ";
  }
};

TEST_F(QLearningLoadErrorTest, MissingFile) {
  Status st = target_->Load(dir_.File("absent.table"));
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "absent.table"));
  EXPECT_TRUE(Snapshot(*target_, cm_.actions().size()) == target_before_);
}

TEST_F(QLearningLoadErrorTest, WrongMagic) {
  auto lines = good_lines_;
  lines[0] = "autoscale-qtable 3";
  Status st = LoadLines(lines, "magic.table");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(st.message(), dir_.File("magic.table") + ":1:"));
  EXPECT_TRUE(Contains(st.message(), "not a Q-table"));

  st = LoadLines({"hello"}, "short.table");
  EXPECT_TRUE(Contains(st.message(), dir_.File("short.table") + ":1:"));

  // A table of the first format says why it cannot be used.
  lines[0] = "autoscale-qtable 1";
  st = LoadLines(lines, "v1.table");
  EXPECT_TRUE(Contains(st.message(), dir_.File("v1.table") + ":1: a version 1 table"))
      << st.message();
}

TEST_F(QLearningLoadErrorTest, NoTargetMapsOntoTheDevice) {
  // Every action of the table on a DSP called "npu": sd810 has no DSP, so nothing maps, and the
  // error lists both sides.
  auto lines = good_lines_;
  for (size_t i = 4; i + 1 < first_entry_; ++i) {
    auto f = Split(lines[i], ' ');
    ASSERT_EQ(f.size(), 6u);
    lines[i] = "A npu dsp " + std::string(f[3]) + " 0 1";
  }
  WriteText(dir_.File("npu.table"), Unlines(lines));
  auto other = MakeCostModel("sd810", {"mobilenet_v1", "vgg16", "kws_lstm"});
  ASSERT_NE(other, nullptr);
  QLearningPolicy foreign(Ctx(*other), GreedyOptions());
  Status st = foreign.Load(dir_.File("npu.table"));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), dir_.File("npu.table") + ":4: no action of the table maps "
                                                              "onto device 'sd810'"))
      << st.message();
  EXPECT_TRUE(Contains(st.message(), "the table's targets are npu (dsp)")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "cpu_big (cpu)")) << st.message();

  // A table learned with the other prior is refused, naming both.
  QLearningPolicy model_prior(Ctx(cm_), QLearningOptions{});
  st = model_prior.Load(good_);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), good_ + ":2: the table was learned with 'prior none'"))
      << st.message();
}

TEST_F(QLearningLoadErrorTest, WrongSizeLine) {
  auto lines = good_lines_;
  lines[first_entry_ - 1] = "size 1 1";
  Status st = LoadLines(lines, "size.table");
  EXPECT_TRUE(
      Contains(st.message(), dir_.File("size.table") + ":" + std::to_string(first_entry_) + ":"))
      << st.message();
}

TEST_F(QLearningLoadErrorTest, TruncatedWithoutEnd) {
  auto lines = good_lines_;
  ASSERT_EQ(lines.back(), "end");
  lines.pop_back();
  Status st = LoadLines(lines, "truncated.table");
  EXPECT_TRUE(Contains(st.message(), dir_.File("truncated.table") + ":"));
  EXPECT_TRUE(Contains(st.message(), "truncated"));

  // Cut after the header: no entries, no end.
  st = LoadLines({lines[0], lines[1], lines[2]}, "header_only.table");
  EXPECT_TRUE(Contains(st.message(), "truncated"));
}

TEST_F(QLearningLoadErrorTest, MalformedLines) {
  struct Case {
    std::string line;
    std::string what;
  };
  const std::vector<Case> cases = {
      {"0 x -1.5 1", "expected 'STATE ACTION Q VISITS'"},
      {"0 1 -1.5", "expected 'STATE ACTION Q VISITS'"},
      {"0 1 -1.5 1 9", "expected 'STATE ACTION Q VISITS'"},
      {"0 1 abc 1", "expected 'STATE ACTION Q VISITS'"},
      {"", "expected 'STATE ACTION Q VISITS'"},
      {"-1 0 -1 1", "out of range"},
      {std::to_string(policy_->num_states()) + " 0 -1 1", "out of range"},
      {"0 " + std::to_string(cm_.actions().size()) + " -1 1", "out of range"},
      {"0 0 -1 0", "out of range"},
      {"0 0 -1 4294967296", "out of range"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].line);
    auto lines = good_lines_;
    lines.insert(lines.begin() + first_entry_, cases[i].line);
    const std::string name = "bad" + std::to_string(i) + ".table";
    Status st = LoadLines(lines, name);
    EXPECT_TRUE(Contains(st.message(), EntryMark(name))) << st.message();
    EXPECT_TRUE(Contains(st.message(), cases[i].what));
  }

  auto lines = good_lines_;
  lines.push_back("0 0 -1 1");
  Status st = LoadLines(lines, "after_end.table");
  EXPECT_TRUE(Contains(st.message(),
                       dir_.File("after_end.table") + ":" + std::to_string(lines.size()) + ":"));
  EXPECT_TRUE(Contains(st.message(), "after 'end'"));
}

// Issue 10, item 6: an entry of 1e300 loaded as float inf, learning spread it, the save wrote
// "inf" and the next start refused its own file. Out-of-range values are refused at their line.
TEST_F(QLearningLoadErrorTest, HugeOrNonFiniteValuesAreRefusedAtTheirLine) {
  for (const char* v : {"1e300", "-1e300", "3.5e38", "1e19", "inf", "nan"}) {
    SCOPED_TRACE(v);
    auto lines = good_lines_;
    lines.insert(lines.begin() + first_entry_, std::string("0 0 ") + v + " 1");
    const std::string name = std::string("huge_") + v + ".table";
    Status st = LoadLines(lines, name);
    EXPECT_TRUE(Contains(st.message(), EntryMark(name))) << st.message();
  }
  // Large but representable values load.
  auto lines = good_lines_;
  lines.insert(lines.begin() + first_entry_, "0 0 -1e17 1");
  WriteText(dir_.File("big.table"), Unlines(lines));
  EXPECT_TRUE(target_->Load(dir_.File("big.table")).ok());
}

// Learning clamps what it learns from: infinite or NaN outcomes never make a value non-finite,
// and the table saved afterwards loads back.
TEST(QLearningTest, NonFiniteOutcomesKeepTheTableFinite) {
  const CostModel& cm = Sd845();
  PolicyContext ctx = Ctx(cm);
  QLearningPolicy p(ctx, GreedyOptions());
  Observation obs = ObsFor(cm, 0);
  const int s = p.StateOf(obs);
  const auto feasible = FeasibleOf(cm, obs);
  Outcome inf = Cost(7);
  inf.energy_mj = std::numeric_limits<float>::infinity();
  Step(p, obs, {feasible[0]}, inf);
  EXPECT_TRUE(std::isfinite(p.Q(s, feasible[0])));
  EXPECT_LT(p.Q(s, feasible[0]), -1e17f);
  Outcome nan = Cost(7);
  nan.energy_mj = std::numeric_limits<float>::quiet_NaN();
  Step(p, obs, {feasible[1]}, nan);
  EXPECT_TRUE(std::isfinite(p.Q(s, feasible[1])));
  for (int i = 0; i < 5; ++i) Step(p, obs, {feasible[0]}, inf);
  EXPECT_TRUE(std::isfinite(p.Q(s, feasible[0])));
  TempDir dir;
  ASSERT_TRUE(p.Save(dir.File("q.table")).ok());
  EXPECT_FALSE(Contains(ReadText(dir.File("q.table")), "inf"));
  QLearningPolicy again(ctx, GreedyOptions());
  Status st = again.Load(dir.File("q.table"));
  EXPECT_TRUE(st.ok()) << st.ToString();
}

// A table path that is not a regular file (issue 10: params.table: /dev/zero) is refused, not
// read until memory runs out.
TEST_F(QLearningLoadErrorTest, DeviceFileIsRefused) {
  Status st = target_->Load("/dev/zero");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "/dev/zero: not a regular file")) << st.message();
}

TEST_F(QLearningLoadErrorTest, TheUneditedFileLoads) {
  // The control for the cases above: the file they edit is sound.
  Status st = target_->Load(good_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Snapshot(*target_, cm_.actions().size()) == before_);
}

// ---- Options ----------------------------------------------------------------------------------

TEST(QLearningOptionsTest, NullAndEmptyGiveDefaults) {
  auto o = ParseQLearningOptions(nullptr);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->learning_rate, QLearningOptions{}.learning_rate);
  EXPECT_EQ(o->edges, QLearningOptions{}.edges);
  auto n = ParseYaml("~");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->discount, 0.0);
}

TEST(QLearningOptionsTest, ParsesEveryKey) {
  auto o = ParseYaml(R"(
prior: none
safe_margin: 2
explore_bonus: 0.1
retry_after: 10
pool_weight: 0.5
learning_rate: 0.5
learning_rate_min: 0.01
discount: 0.9
epsilon_start: 0.4
epsilon_end: 0.05
epsilon_decay_requests: 1234
epsilon_eval: 0.01
learn_during_eval: false
buckets:
  cpu_load: [0.1, 0.5, 0.9]
  macs: []
  wifi_rssi_dbm: [-80]
)");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->learning_rate, 0.5);
  EXPECT_EQ(o->learning_rate_min, 0.01);
  EXPECT_EQ(o->discount, 0.9);
  EXPECT_EQ(o->prior, QPrior::kNone);
  EXPECT_EQ(o->safe_margin, 2);
  EXPECT_EQ(o->explore_bonus, 0.1);
  EXPECT_EQ(o->retry_after, 10);
  EXPECT_EQ(o->pool_weight, 0.5);
  EXPECT_EQ(o->epsilon_start, 0.4);
  EXPECT_EQ(o->epsilon_end, 0.05);
  EXPECT_EQ(o->epsilon_decay_requests, 1234);
  EXPECT_EQ(o->epsilon_eval, 0.01);
  EXPECT_FALSE(o->learn_during_eval);
  EXPECT_EQ(o->edges[kFeatCpuLoad], (std::vector<double>{0.1, 0.5, 0.9}));
  EXPECT_TRUE(o->edges[kFeatMacs].empty());
  EXPECT_EQ(o->edges[kFeatWifiRssi], std::vector<double>{-80});
  EXPECT_EQ(o->edges[kFeatGpuLoad], QLearningOptions{}.edges[kFeatGpuLoad]);  // untouched
}

TEST(QLearningOptionsTest, UnknownKeysSuggestTheNearest) {
  auto o = ParseYaml("learning_rat: 0.5\n");
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(Contains(o.status().message(), "params.yaml:1:"));
  EXPECT_TRUE(Contains(o.status().message(), "unknown key 'learning_rat'"));
  EXPECT_TRUE(Contains(o.status().message(), "did you mean 'learning_rate'?"));

  o = ParseYaml("buckets:\n  cpu_lod: [0.5]\n");
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(Contains(o.status().message(), "params.yaml:2:"));
  EXPECT_TRUE(Contains(o.status().message(), "did you mean 'cpu_load'?"));
}

TEST(QLearningOptionsTest, BucketEdgesMustIncrease) {
  for (const char* yaml : {"buckets: {cpu_load: [0.5, 0.5]}", "buckets: {macs: [3e9, 1e9]}",
                           "buckets: {wifi_rssi_dbm: [-60, -70, -50]}"}) {
    SCOPED_TRACE(yaml);
    auto o = ParseYaml(yaml);
    ASSERT_FALSE(o.ok());
    EXPECT_TRUE(Contains(o.status().message(), "bucket edges must increase"));
    EXPECT_TRUE(Contains(o.status().message(), "params.yaml:1:"));
  }
  auto o = ParseYaml("buckets: {cpu_load: 0.5}");
  EXPECT_FALSE(o.ok());
  std::string many = "buckets: {macs: [";
  for (int i = 0; i < 33; ++i) many += std::to_string(i) + (i < 32 ? ", " : "]}");
  o = ParseYaml(many);
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(Contains(o.status().message(), "at most 32"));
}

TEST(QLearningOptionsTest, RejectsLayoutsWithTooManyStates) {
  // 9 features x 20 edges would be 21^9 (about 8e11) states: an error, not an overflow or a
  // failed allocation.
  std::string yaml = "buckets:\n";
  for (int f = 0; f < kNumStateFeatures; ++f) {
    yaml += std::string("  ") + StateFeatureName(f) + ": [";
    for (int i = 0; i < 20; ++i) yaml += std::to_string(i) + (i < 19 ? ", " : "]\n");
  }
  auto o = ParseYaml(yaml);
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(Contains(o.status().message(), "params.yaml:2:"));
  EXPECT_TRUE(Contains(o.status().message(), "states"));
}

TEST(QLearningOptionsTest, RejectsValuesOutOfRange) {
  for (const char* yaml :
       {"learning_rate: 1.5", "learning_rate: -0.1", "learning_rate_min: 2", "discount: 1",
        "discount: -0.5", "epsilon_start: 1.01", "epsilon_end: -1", "epsilon_eval: 3",
        "epsilon_decay_requests: -5", "learning_rate: fast", "learn_during_eval: maybe",
        "prior: oracle", "safe_margin: 0.5", "explore_bonus: -1", "retry_after: 0",
        "pool_weight: -1", "pool_weight: 2", "discount: 0.5"}) {
    SCOPED_TRACE(yaml);
    auto o = ParseYaml(yaml);
    ASSERT_FALSE(o.ok());
    EXPECT_TRUE(Contains(o.status().message(), "params.yaml:1:"));
  }
  auto o = ParseYaml("learning_rate: 1.5");
  EXPECT_TRUE(Contains(o.status().message(), "[0, 1]"));
  // The bounds themselves are fine.
  EXPECT_TRUE(
      ParseYaml("prior: none\nlearning_rate: 1\nlearning_rate_min: 0\ndiscount: 0.999").ok());
}

// ---- The model prior (issue 12) ---------------------------------------------------------------

namespace prior_tests {

// The action with the best predicted reward among `feasible` (what model_greedy picks).
int BestPredicted(const CostModel& cm, const Observation& obs, const std::vector<int>& feasible) {
  int best = feasible[0];
  double best_r = -1e300;
  for (int a : feasible) {
    const double r = Reward(cm.Predict(a, obs), obs, {});
    if (r > best_r) {
      best_r = r;
      best = a;
    }
  }
  return best;
}

// Observations across models, loads and links, for decisions without experience.
std::vector<Observation> Variety(const CostModel& cm) {
  std::vector<Observation> out;
  for (int m = 0; m < cm.num_models(); ++m) {
    for (float load : {0.0f, 0.5f, 0.9f}) {
      for (float up : {0.5f, 5.0f, 40.0f}) {
        for (float bound : {30.0f, 100.0f, 1000.0f}) {
          Observation o = ObsFor(cm, m);
          o.cpu_load = load;
          o.gpu_load = load / 2;
          o.wifi_up_mbps = up;
          o.wifi_down_mbps = 2 * up;
          o.latency_bound_ms = bound;
          out.push_back(o);
        }
      }
    }
  }
  return out;
}

QLearningOptions NoExploration() {
  QLearningOptions o;  // prior: model
  o.epsilon_start = o.epsilon_end = o.epsilon_eval = 0;
  o.explore_bonus = 0;
  return o;
}

TEST(QLearningPriorTest, WithoutExperienceDecidesAsTheCostModelPredicts) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), NoExploration());
  p.SetTraining(false);
  int differs = 0, n = 0;
  for (const Observation& obs : Variety(cm)) {
    const auto f = FeasibleOf(cm, obs);
    ++n;
    differs += p.Decide(obs, f) != BestPredicted(cm, obs, f);
    // Value() is the predicted reward while nothing was learned.
    EXPECT_DOUBLE_EQ(p.Value(obs, f[0]), Reward(cm.Predict(f[0], obs), obs, {}));
  }
  EXPECT_EQ(differs, 0) << "of " << n;
  EXPECT_GE(n, 50);

  // AutoScale's plain table (prior: none) picks its first feasible action, whatever it costs.
  QLearningOptions none = NoExploration();
  none.prior = QPrior::kNone;
  QLearningPolicy q(Ctx(cm), none);
  q.SetTraining(false);
  const Observation obs = Variety(cm)[0];
  const auto f = FeasibleOf(cm, obs);
  EXPECT_EQ(q.Decide(obs, f), f[0]);
}

// Queues (issue 14): the same request seen with a long queue on the target the agent would pick
// is a different request. Its predictions are not reused from the idle one (they once were: the
// prediction cache ignored the waits, and under a queue the agent kept sending requests to a
// target whose queue grew without bound).
TEST(QLearningPriorTest, SeesTheTargetsQueues) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), NoExploration());
  p.SetTraining(false);
  Observation obs = Variety(cm)[0];
  obs.latency_bound_ms = 1000;
  const auto f = FeasibleOf(cm, obs);
  const int idle = p.Decide(obs, f);
  ASSERT_EQ(idle, BestPredicted(cm, obs, f));
  const int t = cm.actions().actions[idle].target;
  ASSERT_FALSE(IsRemote(cm.actions().target_kinds[t]));
  obs.wait_ms[t] = 5000;  // the chosen target is busy for 5 s
  const int queued = p.Decide(obs, f);
  EXPECT_NE(cm.actions().actions[queued].target, t);
  EXPECT_EQ(queued, BestPredicted(cm, obs, f));
  EXPECT_DOUBLE_EQ(p.Value(obs, idle), Reward(cm.Predict(idle, obs), obs, {}));
  obs.wait_ms[t] = 0;
  EXPECT_EQ(p.Decide(obs, f), idle);
}

// Reality differs from the model: the target the model prefers for a request costs 3x the
// predicted energy. The agent learns it in the state where it happens, and the pooled correction
// moves a state it never visited as well.
TEST(QLearningPriorTest, LearnsWhereRealityDiffersAndGeneralisesToUnseenStates) {
  const CostModel& cm = Sd845();
  QLearningPolicy p(Ctx(cm), NoExploration());
  p.SetTraining(false);
  const Observation seen = Variety(cm)[4];  // mobilenet_v1, no load, 5 Mbit/s, 100 ms
  const std::vector<int> f = FeasibleOf(cm, seen);
  const int preferred = BestPredicted(cm, seen, f);
  const int wrong_target = cm.actions().actions[preferred].target;
  auto reality = [&](int a, const Observation& obs) {
    Outcome o = cm.Predict(a, obs);
    if (cm.actions().actions[a].target == wrong_target) o.energy_mj *= 3;
    return o;
  };
  int first = -1, last = -1;
  for (int i = 0; i < 20; ++i) {
    const int a = p.Decide(seen, f);
    if (i == 0) first = a;
    last = a;
    p.Learn(seen, a, reality(a, seen));
  }
  EXPECT_EQ(first, preferred);
  EXPECT_NE(cm.actions().actions[last].target, wrong_target) << cm.actions().names[last];

  // Another state (heavier memory load, another bucket), never visited: what was learned
  // applies there too (the calibration over all loads): the value is near the real reward,
  // not the predicted one.
  Observation unseen = seen;
  unseen.mem_load = 0.9f;
  ASSERT_NE(p.StateOf(unseen), p.StateOf(seen));
  ASSERT_EQ(p.Visits(p.StateOf(unseen), preferred), 0u);
  const double real = Reward(reality(preferred, unseen), unseen, {});
  EXPECT_NEAR(p.Value(unseen, preferred), real, 0.15 * std::abs(real));
  EXPECT_LT(p.Value(unseen, preferred), 2 * Reward(cm.Predict(preferred, unseen), unseen, {}));

  // Without calibration the pooled correction carries it: about -2 (3x the predicted energy).
  QLearningOptions o = NoExploration();
  o.calibrate = false;
  QLearningPolicy q(Ctx(cm), o);
  q.SetTraining(false);
  for (int i = 0; i < 20; ++i) {
    const int a = q.Decide(seen, f);
    q.Learn(seen, a, reality(a, seen));
  }
  EXPECT_LT(q.PooledCorrection(preferred), -1.0);
  EXPECT_NEAR(q.Value(unseen, preferred), real, 0.15 * std::abs(real));
}

// Calibration takes the median ratio of measured to predicted latency (a tail of slow runs does
// not move it) and the mean ratio of energy; a wild ratio is clamped to e^-5 .. e^5.
TEST(QLearningPriorTest, CalibrationIsTheMedianLatencyRatioAndTheMeanEnergyRatio) {
  const CostModel& cm = Sd845();
  Observation obs = Variety(cm)[4];
  obs.latency_bound_ms = 1e6f;  // latency never costs: the decision stays where it is
  const std::vector<int> f = FeasibleOf(cm, obs);
  // Per 10 requests: latency 2x the prediction six times, 0.5x twice and 30x twice (median 2,
  // mean 7.3, geometric mean 2.6); energy 1.2x and 1.8x alternately (mean 1.5).
  const double latency_ratio[10] = {2, 0.5, 2, 30, 2, 0.5, 2, 30, 2, 2};
  QLearningPolicy p(Ctx(cm), NoExploration());
  p.SetTraining(false);
  // Every action's outcome is scaled alike: the first few move the decision while the actions
  // are calibrated one by one, then it settles.
  int decided = -1;
  for (int i = 0; i < 2000; ++i) {
    const int a = p.Decide(obs, f);
    decided = a;
    Outcome o = cm.Predict(a, obs);
    o.latency_ms = static_cast<float>(o.latency_ms * latency_ratio[i % 10]);
    o.energy_mj = static_cast<float>(o.energy_mj * (i % 2 == 0 ? 1.2 : 1.8));
    p.Learn(obs, a, o);
  }
  ASSERT_GE(p.Visits(p.StateOf(obs), decided), 1900u);
  // The median's step is 1% in log space, the mean's weight 2%: within those of the truth.
  EXPECT_NEAR(p.LatencyFactor(decided, obs.model), 2.0, 2.0 * 0.03);
  EXPECT_NEAR(p.EnergyFactor(decided, obs.model), 1.5, 1.5 * 0.03);
  // An action never run keeps its factors of 1.
  int other = -1;
  for (const int a : f) {
    if (p.Visits(p.StateOf(obs), a) == 0) other = a;
  }
  ASSERT_GE(other, 0) << "every feasible action was run";
  EXPECT_EQ(p.LatencyFactor(other, obs.model), 1.0f);
  EXPECT_EQ(p.EnergyFactor(other, obs.model), 1.0f);

  // Ratios of 10^6 and 10^-6 are taken as e^5 and e^-5: the factors stay finite and bounded.
  QLearningPolicy q(Ctx(cm), NoExploration());
  q.SetTraining(false);
  for (int i = 0; i < 3000; ++i) {
    const int a = q.Decide(obs, f);
    Outcome o = cm.Predict(a, obs);
    const double r = i < 1500 ? 1e6 : 1e-6;
    o.latency_ms = static_cast<float>(o.latency_ms * r);
    o.energy_mj = static_cast<float>(o.energy_mj * r);
    q.Learn(obs, a, o);
    for (const int b : f) {
      ASSERT_LE(q.LatencyFactor(b, obs.model), 148.42f) << "request " << i;
      ASSERT_GE(q.LatencyFactor(b, obs.model), 0.0067379f) << "request " << i;
      ASSERT_LE(q.EnergyFactor(b, obs.model), 148.42f) << "request " << i;
      ASSERT_GE(q.EnergyFactor(b, obs.model), 0.0067379f) << "request " << i;
    }
  }
}

// Online, exploration never tries an action predicted to miss the bound by more than
// safe_margin.
TEST(QLearningPriorTest, ExplorationIsSafe) {
  const CostModel& cm = Sd845();
  QLearningOptions o;
  o.epsilon_eval = 1.0;   // explore every time online
  o.explore_bonus = 1.0;  // and a large bonus
  QLearningPolicy p(Ctx(cm), o);
  p.SetTraining(false);
  int unsafe_offered = 0;
  for (const Observation& obs : Variety(cm)) {
    if (!std::isfinite(obs.latency_bound_ms)) continue;
    const auto f = FeasibleOf(cm, obs);
    bool any_safe = false;
    for (int a : f) {
      const bool safe = cm.Predict(a, obs).latency_ms <= o.safe_margin * obs.latency_bound_ms;
      any_safe |= safe;
      unsafe_offered += !safe;
    }
    if (!any_safe) continue;
    for (int i = 0; i < 20; ++i) {
      const int a = p.Decide(obs, f);
      EXPECT_LE(cm.Predict(a, obs).latency_ms, o.safe_margin * obs.latency_bound_ms)
          << cm.actions().names[a];
      p.Learn(obs, a, cm.Predict(a, obs));
    }
  }
  EXPECT_GT(unsafe_offered, 0);  // the test offered unsafe actions to refuse
}

// The preferred target fails for a while (an outage the observation does not show), then
// recovers. The agent leaves it, retries it with back-off, and comes back soon after the
// recovery.
TEST(QLearningPriorTest, RetriesARejectedActionAndFindsItRecovered) {
  const CostModel& cm = Sd845();
  QLearningOptions o = NoExploration();
  o.retry_after = 8;
  QLearningPolicy p(Ctx(cm), o);
  p.SetTraining(false);
  Observation obs = ObsFor(cm, 1);  // vgg16
  obs.latency_bound_ms = 2000;
  const auto f = FeasibleOf(cm, obs);
  const int preferred = BestPredicted(cm, obs, f);
  auto outcome = [&](int a, bool outage) {
    Outcome out = cm.Predict(a, obs);
    if (outage && a == preferred) {
      out.failed = true;
      out.latency_ms = 3000;
    }
    return out;
  };
  int on_cloud_during = 0, tries_during = 0;
  for (int i = 0; i < 600; ++i) {
    const int a = p.Decide(obs, f);
    on_cloud_during += a == preferred;
    p.Learn(obs, a, outcome(a, true));
    ++tries_during;
  }
  // It left the cloud and came back only for retries, ever rarer: 8, 16, 32, ... decisions apart.
  EXPECT_GE(on_cloud_during, 3);
  EXPECT_LE(on_cloud_during, 12);
  // Recovery: the cloud is chosen again within the current back-off, then kept.
  int first_back = -1;
  for (int i = 0; i < 2000; ++i) {
    const int a = p.Decide(obs, f);
    p.Learn(obs, a, outcome(a, false));
    if (a == preferred && first_back < 0) first_back = i;
  }
  ASSERT_GE(first_back, 0) << "never went back to the cloud";
  EXPECT_LE(first_back, 8 << 8);
  int last100 = 0;
  for (int i = 0; i < 100; ++i) {
    const int a = p.Decide(obs, f);
    p.Learn(obs, a, outcome(a, false));
    last100 += a == preferred;
  }
  EXPECT_EQ(last100, 100);
}

// A table learned on sd845 loads on sd855: same target names and kinds, levels by rank.
TEST(QLearningPriorTest, TableMovesBetweenPhones) {
  auto a = MakeCostModel("sd845", {"mobilenet_v1", "vgg16", "kws_lstm"});
  auto b = MakeCostModel("sd855", {"mobilenet_v1", "vgg16", "kws_lstm"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  TempDir dir;
  QLearningOptions o;
  QLearningPolicy p(Ctx(*a), o);
  for (const Observation& obs : Variety(*a)) {
    const auto f = FeasibleOf(*a, obs);
    for (int i = 0; i < 3; ++i) {
      const int act = p.Decide(obs, f);
      Outcome out = a->Predict(act, obs);
      out.energy_mj *= 1.5f;  // something learned
      p.Learn(obs, act, out);
    }
  }
  ASSERT_TRUE(p.Save(dir.File("sd845.table")).ok());
  QLearningPolicy q(Ctx(*b), o);
  Status st = q.Load(dir.File("sd845.table"));
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Every action of sd845 has a counterpart by name: each one's learned values carried over.
  int carried = 0;
  for (int s = 0; s < p.num_states(); ++s) {
    for (int act = 0; act < a->actions().size(); ++act) {
      if (p.Visits(s, act) == 0) continue;
      const Action& x = a->actions().actions[act];
      const int to = b->actions().Find(a->actions().target_names[x.target], x.precision, x.level);
      if (to < 0) continue;
      // Same level count on both phones for these targets: the same level.
      if (b->device().targets[b->actions().actions[to].target].levels.size() !=
          a->device().targets[x.target].levels.size()) {
        continue;
      }
      EXPECT_EQ(q.Visits(s, to), p.Visits(s, act));
      EXPECT_FLOAT_EQ(q.Q(s, to), p.Q(s, act));
      ++carried;
    }
  }
  EXPECT_GT(carried, 10);
  for (int act = 0; act < a->actions().size(); ++act) {
    const Action& x = a->actions().actions[act];
    const int to = b->actions().Find(a->actions().target_names[x.target], x.precision, x.level);
    if (to >= 0 && p.PooledCorrection(act) != 0) {
      EXPECT_NEAR(q.PooledCorrection(to), p.PooledCorrection(act), 1e-6);
    }
  }
}

}  // namespace prior_tests

}  // namespace
}  // namespace autoscale
