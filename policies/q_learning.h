// QLearningPolicy: AutoScale's agent (Kim and Wu, MICRO 2020): tabular Q-learning over a
// discretised state of model features, co-runner load and signal strength; actions are the
// device's (target, precision, frequency level) triples, filtered to the feasible ones.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"
#include "policies/policy.h"

namespace autoscale {

// Bucket edges per state feature: a value v falls in bucket #(edges <= v).
enum StateFeature : int {
  kFeatConvLayers = 0,
  kFeatFcLayers,
  kFeatRecurrentLayers,
  kFeatMacs,
  kFeatCpuLoad,
  kFeatGpuLoad,
  kFeatMemLoad,
  kFeatWifiRssi,
  kFeatCellRsrp,
  kNumStateFeatures
};
const char* StateFeatureName(int feature);

struct QLearningOptions {
  double learning_rate = 1.0;       // alpha for a state-action's first update
  double learning_rate_min = 0.05;  // alpha = max(min, learning_rate / (1 + visits))
  // gamma. Requests are independent: an action does not change the next request's state, so
  // bootstrapping from it only adds the next request's value as noise; 0 is the right default.
  double discount = 0.0;
  double epsilon_start = 0.2;             // exploration while training, decaying linearly ...
  double epsilon_end = 0.02;              // ... to this ...
  double epsilon_decay_requests = 20000;  // ... over this many training decisions
  double epsilon_eval = 0.0;              // exploration while evaluating
  bool learn_during_eval = true;          // keep learning online after training
  std::string table;                      // a saved Q-table to start from ("" = start empty)
  std::array<std::vector<double>, kNumStateFeatures> edges = {{
      {30, 70},                 // conv layers
      {2},                      // fc layers
      {1},                      // recurrent layers
      {0.4e9, 1e9, 3e9, 10e9},  // MACs
      {0.25, 0.6},              // co-runner CPU load
      {0.25, 0.6},              // co-runner GPU load
      {0.3, 0.6},               // memory load
      {-90, -80, -70, -60},     // Wi-Fi RSSI dBm (below the first: not connected)
      {-125, -110, -100, -90},  // LTE RSRP dBm (below the first: not connected)
  }};
};

Result<QLearningOptions> ParseQLearningOptions(const ConfigNode* params);

// Most entries (states x actions) a Q-table may have: 2^24, 128 MiB of values and visit counts.
// The bucket layout alone allows 2^20 states, and a device up to 64 targets x 32 levels x 3
// precisions, so their product is checked before the table is allocated.
inline constexpr double kMaxQTableEntries = double(1 << 24);
// The entries of a table for `options`' bucket layout and `num_actions` actions.
double QTableEntries(const QLearningOptions& options, int num_actions);

class QLearningPolicy : public Policy {
 public:
  QLearningPolicy(const PolicyContext& ctx, QLearningOptions options);

  std::string_view name() const override { return "q_learning"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override;
  void Learn(const Observation& obs, int action, const Outcome& outcome) override;
  void SetTraining(bool training) override { training_ = training; }
  void EndEpisode() override;
  bool learns() const override { return true; }
  Status Save(const std::string& path) const override;
  Status Load(const std::string& path) override;

  // Introspection for tests and reports.
  int StateOf(const Observation& obs) const;
  int num_states() const { return num_states_; }
  float Q(int state, int action) const { return q_[Index(state, action)]; }
  uint32_t Visits(int state, int action) const { return visits_[Index(state, action)]; }
  double epsilon() const;
  const QLearningOptions& options() const { return options_; }

 private:
  size_t Index(int state, int action) const {
    return static_cast<size_t>(state) * num_actions_ + static_cast<size_t>(action);
  }
  void Update(int state, int action, double target);
  std::string Fingerprint() const;  // layout the saved table must match

  const CostModel* cost_model_;
  RewardConfig reward_;
  QLearningOptions options_;
  Rng rng_;
  int num_actions_;
  int num_states_ = 1;
  std::array<int, kNumStateFeatures> stride_{};
  std::vector<float> q_;
  std::vector<uint32_t> visits_;
  bool training_ = true;
  uint64_t train_decisions_ = 0;
  int last_state_ = -1;
  // A transition waiting for the next state to bootstrap from (when discount > 0).
  bool pending_ = false;
  int pending_state_ = 0, pending_action_ = 0;
  double pending_reward_ = 0;
};

}  // namespace autoscale
