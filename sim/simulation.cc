#include "sim/simulation.h"

#include <span>
#include <vector>

namespace autoscale {

EpisodeRunner::EpisodeRunner(Policy& policy, const CostModel& cost_model, const Episode& episode,
                             World& world, bool training, const EpisodeRecording& rec)
    : policy_(policy),
      cm_(cost_model),
      ep_(episode),
      world_(world),
      rec_(rec),
      observer_(episode, cost_model.models()),
      feasible_(cost_model.actions().size()) {
  policy_.SetTraining(training);
  if (rec_.actions) rec_.actions->assign(ep_.size(), -1);
}

bool EpisodeRunner::Step() {
  if (i_ >= ep_.size()) return false;
  const size_t i = i_++;
  const Observation obs = observer_.At(i);
  const int n = cm_.Feasible(obs, feasible_);
  if (n == 0) [[unlikely]] {
    if (rec_.metrics) {
      Outcome none;
      none.failed = true;
      rec_.metrics->Record(obs, 0, none, rec_.oracle && (*rec_.oracle)[i] < 0);
    }
  } else {
    world_.SetRequest(i, obs);
    const int a = policy_.Decide(obs, std::span<const int>(feasible_.data(), n));
    const Outcome out = world_.Execute(a);
    policy_.Learn(obs, a, out);
    if (rec_.metrics) {
      rec_.metrics->Record(obs, cm_.actions().actions[a].target, out,
                           rec_.oracle && (*rec_.oracle)[i] == a);
    }
    if (rec_.series) rec_.series->RecordSeries(rec_.series_offset + i, out.energy_mj);
    if (rec_.actions) (*rec_.actions)[i] = a;
  }
  if (i_ == ep_.size()) policy_.EndEpisode();
  return true;
}

void RunEpisode(Policy& policy, const CostModel& cm, const Episode& ep, World& world, bool training,
                const EpisodeRecording& rec) {
  EpisodeRunner runner(policy, cm, ep, world, training, rec);
  while (runner.Step()) {
  }
}

}  // namespace autoscale
