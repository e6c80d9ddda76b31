#include "sim/simulation.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
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
      feasible_(cost_model.actions().size()),
      feasible_memo_(cost_model.links_cacheable() ? cost_model.num_models() : 0) {
  policy_.SetTraining(training);
  queueing_ = world.options().queueing;
  free_at_s_.fill(-std::numeric_limits<double>::infinity());
  if (rec_.actions) rec_.actions->assign(ep_.size(), -1);
}

void EpisodeRunner::ObserveQueues(Observation& obs) const {
  for (int t = 0; t < kMaxWaitTargets; ++t) {
    obs.wait_ms[t] = static_cast<float>(std::max(0.0, (free_at_s_[t] - obs.time_s) * 1e3));
  }
}

void EpisodeRunner::Occupy(const Observation& obs, int action) {
  std::array<float, kMaxWaitTargets> busy_end;
  busy_end.fill(-1.0f);
  world_.Occupy(action, busy_end.data());
  for (int t = 0; t < kMaxWaitTargets; ++t) {
    if (busy_end[t] >= 0) free_at_s_[t] = obs.time_s + busy_end[t] * 1e-3;
  }
}

std::span<const int> EpisodeRunner::FeasibleOf(const Observation& obs) {
  if (obs.model < 0 || static_cast<size_t>(obs.model) >= feasible_memo_.size()) {
    const int n = cm_.Feasible(obs, feasible_);
    return {feasible_.data(), static_cast<size_t>(n)};
  }
  FeasibleMemo& m = feasible_memo_[obs.model];
  const uint32_t links = cm_.UsableLinks(obs);
  // Compared as bits, so that a NaN floor is never taken for the last one.
  if (!m.valid ||
      std::bit_cast<uint32_t>(m.min_accuracy) != std::bit_cast<uint32_t>(obs.min_accuracy) ||
      m.links != links) {
    m.actions.resize(cm_.actions().size());
    m.n = cm_.Feasible(obs, m.actions);
    m.min_accuracy = obs.min_accuracy;
    m.links = links;
    m.valid = true;
  }
  return {m.actions.data(), static_cast<size_t>(m.n)};
}

bool EpisodeRunner::Step() {
  if (i_ >= ep_.size()) return false;
  const size_t i = i_++;
  Observation obs = observer_.At(i);
  if (queueing_) ObserveQueues(obs);
  const std::span<const int> feasible = FeasibleOf(obs);
  if (feasible.empty()) [[unlikely]] {
    // No action meets the request's accuracy floor (or none can run its model now). The request
    // is still served, honestly: on the most accurate action, at that action's real cost, and
    // counted as an accuracy violation (not as free). It is no choice of the policy's, so the
    // policy neither decides nor learns; every policy meets the same forced choice, so it
    // counts as agreeing with the oracle.
    const int a = cm_.MostAccurate(obs);
    Outcome out;
    out.failed = true;  // nothing can run the model at all: a failure, costing nothing
    if (a >= 0) {
      world_.SetRequest(i, obs);
      out = world_.Execute(a);
      if (queueing_) Occupy(obs, a);
    }
    if (rec_.metrics) {
      rec_.metrics->Record(obs, a >= 0 ? cm_.actions().actions[a].target : 0, out,
                           rec_.oracle && (*rec_.oracle)[i] < 0);
    }
    if (rec_.series && a >= 0) rec_.series->RecordSeries(rec_.series_offset + i, out.energy_mj);
  } else {
    world_.SetRequest(i, obs);
    const int a = policy_.Decide(obs, feasible);
    const Outcome out = world_.Execute(a);
    if (queueing_) Occupy(obs, a);
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
