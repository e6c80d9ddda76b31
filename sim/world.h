// World: the simulated ground truth for one episode. The cost model gives each action's expected
// cost; the world adds seeded noise that is a pure function of (seed, request, action), so every
// policy run over the same episode meets exactly the same world, and the oracle can ask what any
// action would have cost for the request at hand.
#pragma once

#include <cstdint>
#include <vector>

#include "env/cost_model.h"
#include "policies/policy.h"
#include "sim/scenario.h"

namespace autoscale {

struct WorldOptions {
  double compute_noise = 0.05;     // lognormal sigma of compute time, per request and action
  double network_noise = 0.10;     // lognormal sigma of link throughput
  double remote_failure_rate = 0;  // probability that an offload's connection drops
  // Queues (issue 14): a request waits for the local targets its action occupies until the
  // requests before it have left them (EpisodeRunner), so requests arriving faster than a
  // target serves them queue up, and a pipelined target takes a request per slowest stage.
  // Off: every request finds its target idle (the world before queues were modelled).
  bool queueing = false;
};

class World : public OutcomeOracle {
 public:
  World(const CostModel& cost_model, const Episode& episode, const WorldOptions& options,
        uint64_t seed);

  // Selects the request the next TrueOutcome()/Execute() calls concern.
  void SetRequest(size_t index, const Observation& obs) {
    index_ = index;
    obs_ = &obs;
  }
  // What running `action` on the current request costs (the ground truth).
  Outcome Execute(int action) const;
  Outcome TrueOutcome(int action) const override { return Execute(action); }
  // For the queue model: when each target that Execute(action) occupies is free again, in ms
  // after the request's arrival, into `busy_end` (kMaxWaitTargets entries; others untouched).
  // The same run as Execute(action) (same noise); for an offload, its fallback's run when it
  // was given up (nothing otherwise).
  void Occupy(int action, float* busy_end) const;
  const WorldOptions& options() const { return opt_; }

 private:
  float ComputeFactor(uint64_t key) const;  // the run-to-run noise of one execution
  // The conditions of executing `action` on the current request (`key`: its noise seed).
  Conditions ConditionsOf(int action, uint64_t key) const;

  const CostModel& cm_;
  const Episode& ep_;
  WorldOptions opt_;
  uint64_t seed_;
  float compute_bias_, network_bias_;  // -sigma^2/2: keeps the noise mean-preserving
  // The lognormal factors exp(sigma z - sigma^2/2) of compute time and link throughput, per
  // level of z (FastNormalIndex()).
  std::vector<float> compute_factor_, network_factor_;
  std::vector<bool> remote_;  // per action: offloads
  size_t index_ = 0;
  const Observation* obs_ = nullptr;
};

}  // namespace autoscale
