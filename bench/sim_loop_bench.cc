// One simulated request through the whole loop: observe (trace cursors), filter feasible
// actions, decide (Q-learning), execute in the world model (cost model + seeded noise), learn,
// record metrics. Target (issue #2): at least 5 million requests per second on one core.
//
//   build/bench/sim_loop_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "policies/q_learning.h"
#include "sim/experiment.h"
#include "sim/simulation.h"

namespace autoscale {
namespace {

struct Fixture {
  Experiment exp;
  const Scenario* scenario = nullptr;
  std::shared_ptr<const CostModel> cm;
  Episode episode;
};

Fixture& Shared() {
  static Fixture* f = [] {
    auto* fx = new Fixture();
    auto exp =
        LoadExperiment(std::string(AUTOSCALE_SOURCE_DIR) + "/configs/experiments/default.yaml");
    if (!exp.ok()) {
      std::fprintf(stderr, "%s\n", exp.status().ToString().c_str());
      std::exit(1);
    }
    fx->exp = std::move(exp).value();
    // A busy scenario: moderate load flips states, Wi-Fi signal wanders.
    for (const auto& sc : fx->exp.scenarios) {
      if (sc.name == "sd845/wifi_weak/moderate/realtime") fx->scenario = &sc;
    }
    fx->cm = fx->exp.cost_models.at("sd845");
    auto ep = BuildEpisode(*fx->scenario, fx->exp.models, *fx->exp.catalog, 0, 1 << 20, 1, 0);
    if (!ep.ok()) std::exit(1);
    fx->episode = std::move(ep).value();
    return fx;
  }();
  return *f;
}

void RunLoop(benchmark::State& state, bool training, QPrior prior = QPrior::kModel) {
  Fixture& fx = Shared();
  PolicyContext ctx;
  ctx.cost_model = fx.cm.get();
  ctx.reward = fx.exp.reward;
  QLearningOptions options;
  options.prior = prior;
  // On the heap, as the simulator's CreatePolicy() makes it.
  auto made = std::make_unique<QLearningPolicy>(ctx, options);
  QLearningPolicy& policy = *made;
  World world(*fx.cm, fx.episode, fx.exp.world, 7);
  RunMetrics metrics(static_cast<int>(fx.cm->actions().target_names.size()), 50, fx.episode.size());
  EpisodeRecording rec;
  rec.metrics = training ? nullptr : &metrics;
  rec.series = &metrics;
  auto runner = std::make_unique<EpisodeRunner>(policy, *fx.cm, fx.episode, world, training, rec);
  for (auto _ : state) {
    if (!runner->Step()) {
      state.PauseTiming();
      metrics =
          RunMetrics(static_cast<int>(fx.cm->actions().target_names.size()), 50, fx.episode.size());
      runner = std::make_unique<EpisodeRunner>(policy, *fx.cm, fx.episode, world, training, rec);
      state.ResumeTiming();
      runner->Step();
    }
  }
  state.SetItemsProcessed(state.iterations());
  benchmark::DoNotOptimize(metrics.energy_mj());
}

void BM_SimulatedRequest_QLearningTrain(benchmark::State& state) { RunLoop(state, true); }
void BM_SimulatedRequest_QLearningEval(benchmark::State& state) { RunLoop(state, false); }
// AutoScale's plain table (`prior: none`), for comparison.
void BM_SimulatedRequest_NoPriorTrain(benchmark::State& state) {
  RunLoop(state, true, QPrior::kNone);
}
void BM_SimulatedRequest_NoPriorEval(benchmark::State& state) {
  RunLoop(state, false, QPrior::kNone);
}
BENCHMARK(BM_SimulatedRequest_QLearningTrain);
BENCHMARK(BM_SimulatedRequest_QLearningEval);
BENCHMARK(BM_SimulatedRequest_NoPriorTrain);
BENCHMARK(BM_SimulatedRequest_NoPriorEval);

}  // namespace
}  // namespace autoscale

BENCHMARK_MAIN();
