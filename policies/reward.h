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

}  // namespace autoscale
