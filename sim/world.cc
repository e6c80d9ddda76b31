#include "sim/world.h"

#include <cmath>

#include "core/random.h"

namespace autoscale {

World::World(const CostModel& cost_model, const Episode& episode, const WorldOptions& options,
             uint64_t seed)
    : cm_(cost_model),
      ep_(episode),
      opt_(options),
      seed_(seed),
      compute_bias_(static_cast<float>(-0.5 * options.compute_noise * options.compute_noise)),
      network_bias_(static_cast<float>(-0.5 * options.network_noise * options.network_noise)) {
  const ActionSpace& space = cost_model.actions();
  for (const Action& a : space.actions) remote_.push_back(IsRemote(space.target_kinds[a.target]));
  // Each noise factor for each of the normal deviate's levels: the same float operations as
  // computing it per request, so the same values, without an exp per request.
  compute_factor_.resize(kFastNormalLevels);
  network_factor_.resize(kFastNormalLevels);
  for (int k = 0; k < kFastNormalLevels; ++k) {
    const float z = FastNormalLevel(k);
    compute_factor_[k] = std::exp(static_cast<float>(opt_.compute_noise * z) + compute_bias_);
    network_factor_[k] = std::exp(static_cast<float>(opt_.network_noise * z) + network_bias_);
  }
}

float World::ComputeFactor(uint64_t key) const { return compute_factor_[FastNormalIndex(key)]; }

void World::Occupy(int action, float* busy_end) const {
  const uint64_t key = Mix64(seed_, index_, static_cast<uint64_t>(action));
  if (!remote_[action]) {
    cm_.QueuedLatencyMs(action, *obs_, cm_.RunMs(action, *obs_, ComputeFactor(key)), busy_end);
    return;
  }
  // An offload occupies nothing local unless it was given up and its fallback ran.
  float fallback_at = -1;
  cm_.Evaluate(action, *obs_, ConditionsOf(action, key), &fallback_at);
  const int fb = cm_.fallback_action();
  if (fallback_at < 0 || fb < 0) return;
  cm_.QueuedLatencyMs(fb, *obs_, cm_.RunMs(fb, *obs_, ComputeFactor(key)), busy_end, fallback_at);
}

Outcome World::Execute(int action) const {
  const uint64_t key = Mix64(seed_, index_, static_cast<uint64_t>(action));
  return cm_.Evaluate(action, *obs_, ConditionsOf(action, key));
}

Conditions World::ConditionsOf(int action, uint64_t key) const {
  Conditions c;
  c.compute_factor = ComputeFactor(key);
  c.prev_gap_s = ep_.PrevGap(index_);
  c.next_gap_s = ep_.NextGap(index_);
  if (remote_[action]) {
    const uint64_t k2 = Mix64(key);
    c.network_factor = network_factor_[FastNormalIndex(k2)];
    const uint64_t k3 = Mix64(k2);
    c.drop = opt_.remote_failure_rate > 0 && ToUnit(k3) < opt_.remote_failure_rate;
  }
  return c;
}

}  // namespace autoscale
