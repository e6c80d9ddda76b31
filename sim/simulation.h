// The simulation loop: one request through observe, decide, execute in the world model, learn,
// record (DESIGN.md, "One request, end to end"; the daemon shares all but execute).
#pragma once

#include <array>
#include <span>
#include <vector>

#include "env/cost_model.h"
#include "policies/policy.h"
#include "sim/metrics.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace autoscale {

struct EpisodeRecording {
  RunMetrics* metrics = nullptr;             // evaluation metrics; null while training
  RunMetrics* series = nullptr;              // energy-over-time series (training too)
  size_t series_offset = 0;                  // position of this episode in the run's series
  const std::vector<int>* oracle = nullptr;  // the oracle's action per request, for agreement
  std::vector<int>* actions = nullptr;       // where to store each chosen action (optional)
};

// Steps one policy through one episode, a request at a time. Requests with no feasible action
// (none can meet the accuracy floor, say) count as failed in the metrics and skip the policy.
// With the world's queue model (WorldOptions::queueing) it keeps when each local target is free
// again: each request observes its wait per target (Observation::wait_ms) and occupies the
// targets of the action that ran it (a given-up offload: its fallback's target, from the
// deadline on).
class EpisodeRunner {
 public:
  // `world` must be built on `episode`. Training mode lets the policy explore.
  EpisodeRunner(Policy& policy, const CostModel& cost_model, const Episode& episode, World& world,
                bool training, const EpisodeRecording& rec);

  // Runs request `index()`; false once the episode is over (then Finish() has run).
  bool Step();
  size_t index() const { return i_; }

 private:
  Policy& policy_;
  const CostModel& cm_;
  const Episode& ep_;
  World& world_;
  EpisodeRecording rec_;
  Observer observer_;
  std::vector<int> feasible_;
  // Per model: its feasible actions at the last accuracy floor and link states seen with it
  // (CostModel::UsableLinks), reused while both hold (the traces hold their values between
  // samples, and a stream has few request classes).
  struct FeasibleMemo {
    bool valid = false;
    float min_accuracy = 0;
    uint32_t links = 0;
    int n = 0;
    std::vector<int> actions;
  };
  std::vector<FeasibleMemo> feasible_memo_;
  // The feasible actions of `obs`, from the memo where it holds.
  std::span<const int> FeasibleOf(const Observation& obs);
  size_t i_ = 0;
  // Queues: when each target is free again, in episode seconds (-inf: never busy).
  std::array<double, kMaxWaitTargets> free_at_s_;
  bool queueing_ = false;

  void ObserveQueues(Observation& obs) const;
  void Occupy(const Observation& obs, int action);
};

// Replays the whole episode.
void RunEpisode(Policy& policy, const CostModel& cost_model, const Episode& episode, World& world,
                bool training, const EpisodeRecording& rec);

}  // namespace autoscale
