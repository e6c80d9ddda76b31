#include "policies/baselines.h"

#include <algorithm>

namespace autoscale {

StaticPolicy::StaticPolicy(const PolicyContext& ctx, int action)
    : cost_model_(ctx.cost_model), reward_(ctx.reward), action_(action) {}

int StaticPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  if (std::find(feasible.begin(), feasible.end(), action_) != feasible.end()) return action_;
  return ArgmaxReward(obs, feasible, reward_, [&](int a) { return cost_model_->Predict(a, obs); });
}

int ModelGreedyPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  return ArgmaxReward(obs, feasible, reward_, [&](int a) { return cost_model_->Predict(a, obs); });
}

int OraclePolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  return ArgmaxReward(obs, feasible, reward_, [&](int a) { return oracle_->TrueOutcome(a); });
}

}  // namespace autoscale
