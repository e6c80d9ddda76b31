// QLearningPolicy: AutoScale's agent (Kim and Wu, MICRO 2020): tabular Q-learning over a
// discretised state of model features, co-runner load, signal strength and link throughput;
// actions are the device's (target, precision, frequency level) triples, filtered to the
// feasible ones.
//
// With `prior: model` (the default) the agent starts from its cost model instead of from
// nothing (issue 12): an action's value is the reward the cost model predicts for this very
// request, plus a learned correction. The table holds that correction, relative to the
// prediction's size, per state and action, and pooled per action over all states (what a state
// never visited starts from). A fresh agent therefore decides like the model-greedy baseline and
// learns only where reality differs from the prediction. Exploration is safe (never an action
// predicted to miss the latency bound by more than `safe_margin`), directed (a bonus for actions
// tried few times in this state, in proportion to the prediction's size) and never stops: an
// action the model prefers but experience rejected is retried after a back-off that doubles with
// each retry that confirms it (so a target that recovered is found again).
// `prior: none` is AutoScale's plain table: zero-initialised, optimistic while training,
// trying nothing new while evaluating.
#pragma once

#include <array>
#include <cmath>
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
  kFeatUplinkMbps,  // measured uplink throughput of the link an offload would use
  kNumStateFeatures
};
const char* StateFeatureName(int feature);

enum class QPrior : uint8_t { kNone = 0, kModel = 1 };

struct QLearningOptions {
  QPrior prior = QPrior::kModel;
  // Exploration with `prior: model` (see the file comment). While training, epsilon-greedy
  // picks among the safe actions only.
  double safe_margin = 1.5;         // never explore an action predicted over bound x this
  bool calibrate = true;            // learn per action how reality scales the model's outcome
  double explore_bonus = 0.05;      // bonus: this x |predicted reward| / sqrt(1 + visits)
  double retry_after = 64;          // first retry of a rejected action after this many decisions
  double pool_weight = 1.0;         // share of the pooled correction a state never visited takes
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
      {2, 8, 32},               // uplink Mbit/s (Wi-Fi's when it carries offloads, else LTE's)
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
  // The value the agent gives `action` for `obs` now (prior and learned correction; without a
  // prior, the table's value), as Decide() compares them.
  double Value(const Observation& obs, int action);
  void Learn(const Observation& obs, int action, const Outcome& outcome) override;
  void SetTraining(bool training) override { training_ = training; }
  void EndEpisode() override;
  bool learns() const override { return true; }
  Status Save(const std::string& path) const override;
  Status Load(const std::string& path) override;

  // Introspection for tests and reports.
  int StateOf(const Observation& obs) const;
  int num_states() const { return num_states_; }
  float Q(int state, int action) const {
    const int r = rows_[state];
    return r < 0 ? 0.0f : q_[At(r, action)];
  }
  uint32_t Visits(int state, int action) const {
    const int r = rows_[state];
    return r < 0 ? 0u : visits_[At(r, action)];
  }
  // With `prior: model`: the pooled correction of an action (relative to the prediction).
  float PooledCorrection(int action) const { return pooled_[action]; }
  // With `prior: model` and calibration: how reality scales the model's latency and energy of
  // `action` for `model` over all loads (1 before any sample).
  float LatencyFactor(int action, int model) const {
    return calibration_model_[static_cast<size_t>(model) * num_actions_ + action].latency_factor;
  }
  float EnergyFactor(int action, int model) const {
    return calibration_model_[static_cast<size_t>(model) * num_actions_ + action].energy_factor;
  }
  // States that have a row (were ever updated).
  int rows_in_use() const { return num_rows_; }
  double epsilon() const;
  const QLearningOptions& options() const { return options_; }

 private:
  // The table's rows are allocated on a state's first update: most states of a layout are never
  // visited (the default's 162,000 states x 33 actions would be 70 MB per agent, zeroed per run).
  size_t At(int row, int action) const {
    return static_cast<size_t>(row) * num_actions_ + static_cast<size_t>(action);
  }
  int EnsureRow(int state);
  void Update(int state, int action, double target);
  // Predicted reward of `action` for `obs` (prior: model), its prediction calibrated.
  double PriorReward(const Observation& obs, int action) const;
  // Reward() of a calibrated prediction: its latency and energy, and MissFlags() of the raw one.
  double PriorOf(float latency, float energy, int32_t misses, float bound) const {
    return RewardOf(latency, energy, misses, bound, reward_);
  }
  // The learned correction of `action` in a state where it was tried `n` times with value `q`:
  // that, or where never tried, pool_weight x the pooled one (without calibration only: with
  // it, the calibration is what carries to a state never visited, and a pooled correction
  // would count the same error twice).
  double Correction(uint32_t n, float q, int action) const {
    if (n > 0) return q;
    return !options_.calibrate && pooled_n_[action] > 0 ? options_.pool_weight * pooled_[action]
                                                        : 0.0;
  }
  // Value from a prior and the table: prior + |prior| x correction; the correction is the
  // state's own, or pool_weight x the pooled one where the state never tried the action.
  double ModelValue(int state, int action, double prior) const;
  std::string BucketLayout() const;  // "conv_layers:30,70;..." : what a saved table must match

  const CostModel* cost_model_;
  RewardConfig reward_;
  QLearningOptions options_;
  Rng rng_;
  int num_actions_;
  int num_states_ = 1;
  std::array<int, kNumStateFeatures> stride_{};
  std::vector<int32_t> rows_;  // per state: its row, -1 before its first update
  int num_rows_ = 0;
  std::vector<float> q_;  // num_rows_ x num_actions_
  std::vector<uint32_t> visits_;
  std::vector<float> zero_q_;  // what a state without a row reads
  std::vector<uint32_t> zero_visits_;
  bool training_ = true;
  uint64_t train_decisions_ = 0;
  uint64_t decisions_ = 0;
  int last_state_ = -1;
  // prior: model. Per (state, action): the decision count at which a rejected action may be
  // retried and how many retries confirmed the rejection; per action: the pooled correction
  // and its update count. The prior of the decided action, for Learn().
  std::vector<uint32_t> retry_at_;
  std::vector<uint8_t> backoff_;
  std::vector<float> pooled_;
  std::vector<uint64_t> pooled_n_;
  // Per (state, action): sqrt(1 + visits), as the exploration bonus divides by it (kept with
  // the visits, so that the decision's vectorised pass reads it rather than taking a root per
  // action); zero_sqrt_visits_ for a state without a row.
  std::vector<float> sqrt_visits_, zero_sqrt_visits_;
  static float SqrtVisits(uint32_t n) { return std::sqrt(1.0f + static_cast<float>(n)); }
  // Decide()'s per action: predicted reward (calibrated), value, score (value and exploration
  // bonus), the predicted reward where it may be retried now (else -infinity), and whether it is
  // safe to try (1) or not (0).
  std::vector<float> prior_scratch_, value_scratch_, score_scratch_, retry_scratch_;
  std::vector<int32_t> safe_scratch_;
  // The feasible actions (1) of the request as a mask, and the score and retry candidates as
  // order keys (comparing as the floats do), INT32_MIN where not feasible or not a number.
  std::vector<int32_t> feasible_mask_, score_key_, retry_key_;
  int32_t max_score_key_ = 0, max_retry_key_ = 0;  // the greatest of each, from ValuePass()
  bool mask_all_ = false;                          // feasible_mask_ is all ones
  // Per action: Correction() where the state never tried it (0 with calibration).
  std::vector<float> pooled_term_;
  double PooledTerm(int action) const { return Correction(0, 0.0f, action); }
  // Per model: the cost model's prediction of each action for the last observation seen with
  // that model. The simulator's traces hold their values between samples, so a model's
  // next request often sees the same loads and links: the predictions are reused then. The key
  // is every observed field a prediction depends on, the targets' waits included.
  static constexpr int kPriorKeySize = 12 + kMaxWaitTargets;
  struct PriorCache {
    std::array<float, kPriorKeySize> key{};
    bool valid = false;
    std::vector<float> latency, energy;  // the cost model's, uncalibrated
    std::vector<int32_t> misses;         // bit 0: fails; bit 1: under the accuracy floor
  };
  std::vector<PriorCache> prior_cache_;
  // The decision's pass (ValuesOf) runs over every action and on to a multiple of 8, the
  // vector width, so that it needs no remainder loop (5% of a simulated request with 34
  // actions). Every array it reads or writes therefore has kPassSlack elements after the last
  // action's (after its last row, cell or model): never written, and ignored, as
  // feasible_mask_'s are 0.
  static constexpr int kPassSlack = 8;
  int PassLength() const { return (num_actions_ + kPassSlack - 1) / kPassSlack * kPassSlack; }
  // Fills the scratch arrays above for every action, from the model's predictions in `cache`,
  // the calibration at load bucket `lb` and the state's row (`qrow`, `vrow`, `retry_at`).
  void ValuePass(const Observation& obs, int lb, const PriorCache& cache, const float* qrow,
                 const uint32_t* vrow, const uint32_t* retry_at, const float* sqrt_visits);
  // The model calibrated by experience: per action, model and co-runner load bucket (and
  // coarser, for cells not seen yet), the median ratio of measured to predicted latency and
  // the mean ratio of energy: the factors that scale the model's predictions.
  struct Calibration {
    float latency_factor = 1;  // median ratio of latency
    float energy_factor = 1;   // mean ratio of energy
    uint32_t n = 0;
  };
  int LoadBucket(const Observation& obs) const;
  // The load bucket of the CPU, GPU and memory loads' own buckets.
  int LoadBucketOf(int cpu, int gpu, int mem) const;
  // StateOf(), also giving LoadBucket().
  int StateOf(const Observation& obs, int* load_bucket) const;
  // The bucket of a float feature's value: how many of its edges (as floats) are <= it. As
  // floats, or a value written as the edge (0.7 in a trace, 0.7 in the config) would fall below
  // it (0.7f < 0.7).
  int BucketOf(int feature, float v) const {
    int b = 0;
    for (const float e : edges_f_[feature]) b += v >= e;
    return b;
  }
  std::array<std::vector<float>, kNumStateFeatures> edges_f_;
  // StateOf()'s part from the model's features, per model index for the last features seen
  // with it (a cache: StateOf() is const, and, like Decide(), for one thread at a time).
  struct ModelPart {
    int32_t conv_layers = -1, fc_layers = -1, recurrent_layers = -1;
    double macs = -1;
    int state = 0;
  };
  mutable std::vector<ModelPart> model_part_;
  mutable ModelPart model_part_other_;  // an index outside the cost model's models
  void Calibrate(Calibration& c, double latency_ratio, double energy_ratio);
  // The calibration of `action` for `model` at a load bucket: that cell's when it has seen
  // something, else the action's for the model over all loads, else the action's over all
  // models (a remote target's latency ratio depends on the model: a fixed delay weighs more on a
  // small one).
  const Calibration& CalibrationOf(int action, int model, int load_bucket) const {
    const size_t ma = static_cast<size_t>(model) * num_actions_ + action;
    const Calibration& c = calibration_[CellOf(model, load_bucket) + action];
    if (c.n > 0) return c;
    const Calibration& m = calibration_model_[ma];
    return m.n > 0 ? m : calibration_all_[action];
  }
  // Where a model's and load bucket's cells start in calibration_: the actions of one (model,
  // load bucket) are contiguous, as Decide() reads them.
  size_t CellOf(int model, int load_bucket) const {
    return (static_cast<size_t>(model) * num_load_buckets_ + load_bucket) * num_actions_;
  }
  // Calibrates the cell of (action, model, load bucket), the model's and the action's with one
  // measured ratio, and their factors below.
  void CalibrateAll(int action, int model, int load_bucket, double latency_ratio,
                    double energy_ratio);
  int num_load_buckets_ = 1, num_models_ = 1;
  std::vector<Calibration> calibration_, calibration_model_, calibration_all_;
  // The latency and energy factors of each Calibration, laid out as the three vectors above so
  // that a decision reads its model's and load bucket's as arrays (0: not seen yet; the
  // action's start at 1). Written by CalibrateAll().
  std::vector<float> latency_factor_, energy_factor_;
  std::vector<float> latency_factor_model_, energy_factor_model_;
  std::vector<float> latency_factor_all_, energy_factor_all_;
  float last_raw_latency_ = 0, last_raw_energy_ = 0;
  int32_t last_misses_ = 0;
  int last_load_bucket_ = 0;
  int last_action_ = -1;
  double last_prior_ = 0, last_greedy_value_ = 0;
  bool last_retry_ = false;
  // A transition waiting for the next state to bootstrap from (when discount > 0).
  bool pending_ = false;
  int pending_state_ = 0, pending_action_ = 0;
  double pending_reward_ = 0;
};

}  // namespace autoscale
