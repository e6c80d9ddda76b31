#include "sim/simulation.h"

#include <span>
#include <vector>

namespace autoscale {

void RunEpisode(Policy& policy, const CostModel& cm, const Episode& ep, World& world,
                bool training, const EpisodeRecording& rec) {
  policy.SetTraining(training);
  Observer observer(ep, cm.models());
  std::vector<int> feasible(cm.actions().size());
  const auto& actions = cm.actions().actions;
  if (rec.actions) rec.actions->assign(ep.size(), -1);
  for (size_t i = 0; i < ep.size(); ++i) {
    const Observation obs = observer.At(i);
    const int n = cm.Feasible(obs, feasible);
    if (n == 0) {
      if (rec.metrics) {
        Outcome none;
        none.failed = true;
        rec.metrics->Record(obs, 0, none, rec.oracle && (*rec.oracle)[i] < 0);
      }
      continue;
    }
    world.SetRequest(i, obs);
    const int a = policy.Decide(obs, std::span<const int>(feasible.data(), n));
    const Outcome out = world.Execute(a);
    policy.Learn(obs, a, out);
    if (rec.metrics) {
      rec.metrics->Record(obs, actions[a].target, out, rec.oracle && (*rec.oracle)[i] == a);
    }
    if (rec.series) rec.series->RecordSeries(rec.series_offset + i, out.energy_mj);
    if (rec.actions) (*rec.actions)[i] = a;
  }
  policy.EndEpisode();
}

}  // namespace autoscale
