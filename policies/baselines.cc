#include "policies/baselines.h"

#include <algorithm>

namespace autoscale {

StaticPolicy::StaticPolicy(const PolicyContext& ctx, int action)
    : cost_model_(ctx.cost_model), reward_(ctx.reward), action_(action) {}

int StaticPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  if (std::find(feasible.begin(), feasible.end(), action_) != feasible.end()) return action_;
  return ArgmaxReward(obs, feasible, reward_, [&](int a) { return cost_model_->Predict(a, obs); });
}

ModelGreedyPolicy::ModelGreedyPolicy(const PolicyContext& ctx)
    : cost_model_(ctx.cost_model),
      reward_(ctx.reward),
      latency_(ctx.cost_model->actions().size()),
      energy_(latency_.size()),
      flags_(latency_.size()) {}

int ModelGreedyPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  // Every prediction at once (the same values as Predict()); Reward() of each, from its flags.
  cost_model_->PredictFeasible(obs, feasible, latency_.data(), energy_.data(), flags_.data());
  int best_a = -1;
  double best = 0;
  for (const int a : feasible) {
    const double r = RewardOf(latency_[a], energy_[a], flags_[a], obs.latency_bound_ms, reward_);
    if (best_a < 0 || r > best) {
      best = r;
      best_a = a;
    }
  }
  return best_a;
}

int OraclePolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  return ArgmaxReward(obs, feasible, reward_, [&](int a) { return oracle_->TrueOutcome(a); });
}

}  // namespace autoscale
