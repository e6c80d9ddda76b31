// The simulation loop: one request through observe, decide, execute in the world model, learn,
// record (DESIGN.md, "One request, end to end"; the daemon shares all but execute).
#pragma once

#include <vector>

#include "env/cost_model.h"
#include "policies/policy.h"
#include "sim/metrics.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace autoscale {

struct EpisodeRecording {
  RunMetrics* metrics = nullptr;            // evaluation metrics; null while training
  RunMetrics* series = nullptr;             // energy-over-time series (training too)
  size_t series_offset = 0;                 // position of this episode in the run's series
  const std::vector<int>* oracle = nullptr; // the oracle's action per request, for agreement
  std::vector<int>* actions = nullptr;      // where to store each chosen action (optional)
};

// Replays `episode` through `policy` against `world` (which must be built on the same episode).
// Training mode lets the policy explore. Requests with no feasible action (none can meet the
// accuracy floor, say) are counted as failed in the metrics and skipped by the policy.
void RunEpisode(Policy& policy, const CostModel& cost_model, const Episode& episode, World& world,
                bool training, const EpisodeRecording& rec);

}  // namespace autoscale
