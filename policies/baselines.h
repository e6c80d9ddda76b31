// Baseline policies: one target always (`static`), least predicted energy (`model_greedy`),
// uniform choice (`random`) and the oracle that knows every action's true outcome.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"
#include "policies/policy.h"

namespace autoscale {

// Always the same target (by name) at a precision and level; when that action is not feasible
// for a request (link down, precision missing) it falls back to the action with the least
// predicted energy among the feasible ones, so it never fails to answer.
class StaticPolicy : public Policy {
 public:
  StaticPolicy(const PolicyContext& ctx, int action);
  std::string_view name() const override { return "static"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override;
  int action() const { return action_; }

 private:
  const CostModel* cost_model_;
  RewardConfig reward_;
  int action_;
};

// The action whose predicted outcome (CostModel::Predict, given the observation) has the best
// reward: least energy among those predicted to meet the constraints.
class ModelGreedyPolicy : public Policy {
 public:
  explicit ModelGreedyPolicy(const PolicyContext& ctx);
  std::string_view name() const override { return "model_greedy"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override;

 private:
  const CostModel* cost_model_;
  RewardConfig reward_;
  // CostModel::PredictFeasible()'s outputs, per action.
  std::vector<float> latency_, energy_;
  std::vector<int32_t> flags_;
};

class RandomPolicy : public Policy {
 public:
  explicit RandomPolicy(const PolicyContext& ctx) : rng_(Mix64(ctx.seed, 0xA5ull)) {}
  std::string_view name() const override { return "random"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override {
    return feasible[rng_.Below(static_cast<uint32_t>(feasible.size()))];
  }

 private:
  Rng rng_;
};

// Best true reward for this very request: the bound no policy can beat.
class OraclePolicy : public Policy {
 public:
  explicit OraclePolicy(const PolicyContext& ctx) : oracle_(ctx.oracle), reward_(ctx.reward) {}
  std::string_view name() const override { return "oracle"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override;

 private:
  const OutcomeOracle* oracle_;
  RewardConfig reward_;
};

// Index of the best-reward action of `feasible` under `outcome_of` (ties: the first).
template <typename F>
int ArgmaxReward(const Observation& obs, std::span<const int> feasible, const RewardConfig& rc,
                 F outcome_of) {
  int best_a = feasible[0];
  double best = Reward(outcome_of(best_a), obs, rc);
  for (size_t k = 1; k < feasible.size(); ++k) {
    double r = Reward(outcome_of(feasible[k]), obs, rc);
    if (r > best) {
      best = r;
      best_a = feasible[k];
    }
  }
  return best_a;
}

}  // namespace autoscale
