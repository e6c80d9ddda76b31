// Policy: decides where each request runs and learns from what happened (DESIGN.md).
//
// Actions are ids into the ActionSpace of the device the policy was made for (given at creation
// through PolicyContext). Only feasible actions are offered: a target that is down, a precision
// the model lacks or an accuracy under the request's floor never reaches Decide(). Policies are
// not thread-safe; each run owns its own instance.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/status.h"
#include "env/cost_model.h"
#include "env/types.h"
#include "policies/reward.h"

namespace autoscale {

// Ground truth for the request being decided: what each action would really cost. Only the
// simulator can provide it; only the oracle asks.
class OutcomeOracle {
 public:
  virtual ~OutcomeOracle() = default;
  virtual Outcome TrueOutcome(int action) const = 0;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;

  // Returns one element of `feasible` (never empty).
  virtual int Decide(const Observation& obs, std::span<const int> feasible) = 0;
  // Feedback for the action Decide() chose for `obs`. Default: ignore.
  virtual void Learn(const Observation& obs, int action, const Outcome& outcome) {}
  // Training lets a learning policy explore; evaluation exploits. Default: no effect.
  virtual void SetTraining(bool training) {}
  // Ends an episode (the end of a trace): pending updates are applied without bootstrapping.
  virtual void EndEpisode() {}
  // Whether the policy learns from feedback (and so needs a training phase).
  virtual bool learns() const { return false; }

  // Learned state. Save writes atomically (temporary file, then rename). Policies without
  // learned state return OK from Save and fail Load with InvalidArgument.
  virtual Status Save(const std::string& path) const { return Status::Ok(); }
  virtual Status Load(const std::string& path) {
    return Status::InvalidArgument("policy '" + std::string(name()) + "' has no learned state");
  }
};

// What a factory gets. Pointers are owned elsewhere and outlive the policy.
struct PolicyContext {
  const CostModel* cost_model = nullptr;  // the device's action space and predictions
  const OutcomeOracle* oracle = nullptr;  // set only by the simulator
  RewardConfig reward;
  uint64_t seed = 1;
};

// Creates a policy by name ("q_learning", "static", "model_greedy", "random", "oracle") with
// parameters from `params` (a YAML map, or null for defaults). An unknown name lists the valid
// ones; an unknown parameter suggests the nearest valid one.
Result<std::unique_ptr<Policy>> CreatePolicy(const std::string& name, const ConfigNode* params,
                                             const PolicyContext& ctx);
std::vector<std::string> PolicyNames();

}  // namespace autoscale
