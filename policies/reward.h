// Reward: the objective every policy serves. Least device energy, with penalties for a missed
// latency bound or accuracy floor (AutoScale, MICRO 2020, Section 4: energy-based reward with a
// QoS penalty). The oracle maximises the same reward with perfect knowledge.
#pragma once

#include "env/types.h"

namespace autoscale {

struct RewardConfig {
  double qos_penalty_mj = 10000;       // charged when the latency bound is missed (or it failed)
  double accuracy_penalty_mj = 10000;  // charged when the accuracy floor is missed
};

inline double Reward(const Outcome& o, const Observation& obs, const RewardConfig& c) {
  double r = -static_cast<double>(o.energy_mj);
  if (MissesLatency(o, obs)) r -= c.qos_penalty_mj;
  if (MissesAccuracy(o, obs)) r -= c.accuracy_penalty_mj;
  return r;
}

// Reward() of an outcome given as its latency, energy and MissFlags(): MissesLatency() is a
// failure or a latency over `bound`, MissesAccuracy() any flag.
inline double RewardOf(float latency, float energy, int32_t miss_flags, float bound,
                       const RewardConfig& c) {
  return -static_cast<double>(energy) -
         ((miss_flags & 1) || latency > bound ? c.qos_penalty_mj : 0.0) -
         (miss_flags != 0 ? c.accuracy_penalty_mj : 0.0);
}

}  // namespace autoscale
