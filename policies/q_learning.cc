#include "policies/q_learning.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>

#include "core/file_util.h"
#include "core/strings.h"
#include "core/vector_clones.h"
#include "policies/argmax.h"
#include "policies/policy_keys.h"

namespace autoscale {

namespace {
constexpr const char* kFeatureNames[kNumStateFeatures] = {
    "conv_layers", "fc_layers", "recurrent_layers", "macs",          "cpu_load",
    "gpu_load",    "mem_load",  "wifi_rssi_dbm",    "cell_rsrp_dbm", "uplink_mbps"};
constexpr const char* kMagic = "autoscale-qtable 2";
constexpr const char* kMagicV1 = "autoscale-qtable 1";

inline int Bucket(const std::vector<double>& edges, double v) {
  int b = 0;
  for (double e : edges) b += v >= e;
  return b;
}
// Most states a bucket layout may have (the table holds states x actions entries).
constexpr double kMaxStates = 1 << 20;
// Largest magnitude a Q value may take: far beyond any reward (energies and penalties are at
// most ~1e12 mJ), far inside float's range, so a value can never round to infinity. Loads
// refuse values past it; learning clamps its targets to it.
constexpr double kMaxAbsQ = 1e18;
// Most a retry's back-off may double: 2^20 x retry_after decisions.
constexpr int kMaxBackoff = 20;

const char* PriorName(QPrior p) { return p == QPrior::kModel ? "model" : "none"; }

}  // namespace

const char* StateFeatureName(int feature) { return kFeatureNames[feature]; }

double QTableEntries(const QLearningOptions& options, int num_actions) {
  double states = 1;
  for (const auto& e : options.edges) states *= static_cast<double>(e.size() + 1);
  return states * static_cast<double>(num_actions);
}

Result<QLearningOptions> ParseQLearningOptions(const ConfigNode* params) {
  QLearningOptions o;
  if (params == nullptr || params->IsNull()) return o;
  const KeyTable& keys = QLearningKeys();
  RETURN_IF_ERROR(keys.Check(*params));
  if (auto pr = params->Optional("prior")) {
    ASSIGN_OR_RETURN(std::string v, keys.String(*params, "prior"));
    if (v == "model") {
      o.prior = QPrior::kModel;
    } else if (v == "none") {
      o.prior = QPrior::kNone;
    } else {
      return pr->Error(
          "prior must be 'model' (start from the cost model's predictions) or "
          "'none' (AutoScale's zero-initialised table), got '" +
          v + "'");
    }
  }
  for (auto [key, dst] : {std::pair{"safe_margin", &o.safe_margin},
                          {"explore_bonus", &o.explore_bonus},
                          {"retry_after", &o.retry_after},
                          {"pool_weight", &o.pool_weight},
                          {"learning_rate", &o.learning_rate},
                          {"learning_rate_min", &o.learning_rate_min},
                          {"discount", &o.discount},
                          {"epsilon_start", &o.epsilon_start},
                          {"epsilon_end", &o.epsilon_end},
                          {"epsilon_decay_requests", &o.epsilon_decay_requests},
                          {"epsilon_eval", &o.epsilon_eval}}) {
    ASSIGN_OR_RETURN(*dst, keys.Number(*params, key));
  }
  ASSIGN_OR_RETURN(o.calibrate, keys.Bool(*params, "calibrate"));
  ASSIGN_OR_RETURN(o.learn_during_eval, keys.Bool(*params, "learn_during_eval"));
  if (o.prior == QPrior::kModel && o.discount > 0) {
    return params->Child("discount")
        ->Error(
            "discount applies to 'prior: none' only: with the model prior each request's value is "
            "its own predicted reward plus a correction (requests are independent)");
  }
  if (auto t = params->Optional("table")) {
    ASSIGN_OR_RETURN(o.table, t->AsString());
    if (!o.table.empty() && o.table[0] != '/') o.table = params->Directory() + "/" + o.table;
  }
  if (auto b = params->Optional("buckets")) {
    RETURN_IF_ERROR(QLearningBucketKeys().Check(*b));
    for (int f = 0; f < kNumStateFeatures; ++f) {
      auto e = b->Optional(kFeatureNames[f]);
      if (!e) continue;
      ASSIGN_OR_RETURN(std::vector<double> edges, e->AsDoubleList());
      if (edges.size() > 32) return e->Error("at most 32 bucket edges");
      for (size_t i = 1; i < edges.size(); ++i) {
        if (edges[i] <= edges[i - 1]) return e->Error("bucket edges must increase");
      }
      o.edges[f] = std::move(edges);
    }
    double states = 1;
    for (const auto& e : o.edges) states *= static_cast<double>(e.size() + 1);
    if (states > kMaxStates) {
      return b->Error("these buckets make " + FormatDouble(states) + " states; at most " +
                      FormatDouble(kMaxStates) + " are allowed");
    }
  }
  return o;
}

QLearningPolicy::QLearningPolicy(const PolicyContext& ctx, QLearningOptions options)
    : cost_model_(ctx.cost_model),
      reward_(ctx.reward),
      options_(std::move(options)),
      rng_(Mix64(ctx.seed, 0x51ull)),
      num_actions_(ctx.cost_model->actions().size()) {
  for (int f = 0; f < kNumStateFeatures; ++f) {
    for (double e : options_.edges[f]) edges_f_[f].push_back(static_cast<float>(e));
  }
  model_part_.resize(std::max(0, ctx.cost_model->num_models()));
  for (int f = kNumStateFeatures - 1; f >= 0; --f) {
    stride_[f] = num_states_;
    num_states_ *= static_cast<int>(options_.edges[f].size()) + 1;
  }
  // prior: none. Rewards are negative, so zero is optimistic: every feasible action gets tried
  // once. prior: model: zero is "as predicted".
  rows_.assign(num_states_, -1);
  // Per-action arrays the value pass reads or writes, with its slack (kPassSlack).
  const size_t padded = static_cast<size_t>(num_actions_) + kPassSlack;
  zero_q_.assign(padded, 0.0f);
  zero_visits_.assign(padded, 0);
  zero_sqrt_visits_.assign(padded, 1.0f);
  if (options_.prior == QPrior::kModel) {
    pooled_.assign(num_actions_, 0.0f);
    pooled_n_.assign(num_actions_, 0);
    prior_scratch_.assign(padded, 0.0f);
    value_scratch_.assign(padded, 0.0f);
    score_scratch_.assign(padded, 0.0f);
    retry_scratch_.assign(padded, 0.0f);
    safe_scratch_.assign(padded, 0);
    feasible_mask_.assign(padded, 0);
    score_key_.assign(padded, 0);
    retry_key_.assign(padded, 0);
    pooled_term_.assign(padded, 0.0f);
    prior_cache_.resize(cost_model_->num_models());
    num_load_buckets_ = static_cast<int>((options_.edges[kFeatCpuLoad].size() + 1) *
                                         (options_.edges[kFeatGpuLoad].size() + 1) *
                                         (options_.edges[kFeatMemLoad].size() + 1));
    num_models_ = std::max(1, cost_model_->num_models());
    calibration_.assign(static_cast<size_t>(num_actions_) * num_models_ * num_load_buckets_,
                        Calibration{});
    calibration_model_.assign(static_cast<size_t>(num_actions_) * num_models_, Calibration{});
    calibration_all_.assign(num_actions_, Calibration{});
    latency_factor_.assign(calibration_.size() + kPassSlack, 0.0f);
    energy_factor_.assign(calibration_.size() + kPassSlack, 0.0f);
    latency_factor_model_.assign(calibration_model_.size() + kPassSlack, 0.0f);
    energy_factor_model_.assign(calibration_model_.size() + kPassSlack, 0.0f);
    latency_factor_all_.assign(padded, 1.0f);
    energy_factor_all_.assign(padded, 1.0f);
  }
}

int QLearningPolicy::LoadBucket(const Observation& obs) const {
  return LoadBucketOf(BucketOf(kFeatCpuLoad, obs.cpu_load), BucketOf(kFeatGpuLoad, obs.gpu_load),
                      BucketOf(kFeatMemLoad, obs.mem_load));
}

int QLearningPolicy::LoadBucketOf(int cpu, int gpu, int mem) const {
  return (cpu * static_cast<int>(edges_f_[kFeatGpuLoad].size() + 1) + gpu) *
             static_cast<int>(edges_f_[kFeatMemLoad].size() + 1) +
         mem;
}

namespace {

// Calibrate()'s steps for a calibration that has seen n samples: the median's step in log
// space, max(0.01, 0.5 / (1 + n)), as the factors exp(+step) and exp(-step) that move the median
// ratio up or down by it, and the mean's weight, max(0.02, 1 / (1 + n)); from n = 50 on, all are
// their floors.
struct CalibrationSteps {
  double up, down, alpha;
};
constexpr int kStepTableSize = 64;
// The bounds of a measured-to-predicted ratio that calibration takes: e^-5 and e^5.
constexpr double kMinRatio = 0.006737946999085467, kMaxRatio = 148.4131591025766;
const std::array<CalibrationSteps, kStepTableSize> kCalibrationSteps = [] {
  std::array<CalibrationSteps, kStepTableSize> t{};
  for (int n = 0; n < kStepTableSize; ++n) {
    const double step = std::max(0.01, 0.5 / (1.0 + n));
    t[n] = {std::exp(step), std::exp(-step), std::max(0.02, 1.0 / (1.0 + n))};
  }
  return t;
}();
static_assert(0.5 / kStepTableSize < 0.01 && 1.0 / kStepTableSize < 0.02);

}  // namespace

void QLearningPolicy::Calibrate(Calibration& c, double latency_ratio, double energy_ratio) {
  // Latency: the median ratio (a stochastic-approximation median in log space), robust to the
  // tail (a fallback at the deadline, a radio promotion) that would pull a mean up and make an
  // action that usually meets its bound look as if it never did; the tail's penalties are the
  // state correction's to learn. Energy: the mean ratio, since energy adds up.
  // The median moves by a step in log space towards the sample, never past it: the sample
  // clamped between the factor times exp(-step) and times exp(+step), the same walk without a
  // log, an exp or a branch per request.
  const CalibrationSteps& k = kCalibrationSteps[std::min<uint32_t>(c.n, kStepTableSize - 1)];
  const double f = c.latency_factor;
  c.latency_factor = static_cast<float>(std::min(std::max(latency_ratio, f * k.down), f * k.up));
  c.energy_factor += static_cast<float>(k.alpha * (energy_ratio - c.energy_factor));
  if (c.n != std::numeric_limits<uint32_t>::max()) ++c.n;
}

void QLearningPolicy::CalibrateAll(int action, int model, int load_bucket, double latency_ratio,
                                   double energy_ratio) {
  const size_t ma = static_cast<size_t>(model) * num_actions_ + action;
  Calibration& cell = calibration_[CellOf(model, load_bucket) + action];
  Calibration& per_model = calibration_model_[ma];
  Calibration& per_action = calibration_all_[action];
  Calibrate(cell, latency_ratio, energy_ratio);
  Calibrate(per_model, latency_ratio, energy_ratio);
  Calibrate(per_action, latency_ratio, energy_ratio);
  // The factors Decide() reads (0 where not seen yet).
  auto set = [](std::vector<float>& lf, std::vector<float>& ef, size_t at, const Calibration& c) {
    lf[at] = c.latency_factor;
    ef[at] = c.energy_factor;
  };
  set(latency_factor_, energy_factor_, CellOf(model, load_bucket) + action, cell);
  set(latency_factor_model_, energy_factor_model_, ma, per_model);
  set(latency_factor_all_, energy_factor_all_, action, per_action);
}

int QLearningPolicy::EnsureRow(int state) {
  if (rows_[state] >= 0) return rows_[state];
  rows_[state] = num_rows_++;
  // The slack after the last row (see kPassSlack) was never written: the new row starts there
  // with the values a new row takes.
  const size_t n = static_cast<size_t>(num_rows_) * num_actions_ + kPassSlack;
  q_.resize(n, 0.0f);
  visits_.resize(n, 0);
  if (options_.prior == QPrior::kModel) {
    retry_at_.resize(n, 0);
    backoff_.resize(n, 0);
    sqrt_visits_.resize(n, 1.0f);
  }
  return rows_[state];
}

int QLearningPolicy::StateOf(const Observation& obs) const {
  int load_bucket;
  return StateOf(obs, &load_bucket);
}

int QLearningPolicy::StateOf(const Observation& obs, int* load_bucket) const {
  const auto& e = options_.edges;
  // The model's features: the same for every request of a model, so worked out again only
  // when they change.
  ModelPart& m = obs.model >= 0 && static_cast<size_t>(obs.model) < model_part_.size()
                     ? model_part_[obs.model]
                     : model_part_other_;
  if (!(m.conv_layers == obs.conv_layers && m.fc_layers == obs.fc_layers &&
        m.recurrent_layers == obs.recurrent_layers && m.macs == obs.macs)) {
    m = {obs.conv_layers, obs.fc_layers, obs.recurrent_layers, obs.macs,
         Bucket(e[kFeatConvLayers], obs.conv_layers) * stride_[kFeatConvLayers] +
             Bucket(e[kFeatFcLayers], obs.fc_layers) * stride_[kFeatFcLayers] +
             Bucket(e[kFeatRecurrentLayers], obs.recurrent_layers) * stride_[kFeatRecurrentLayers] +
             Bucket(e[kFeatMacs], obs.macs) * stride_[kFeatMacs]};
  }
  const int cpu = BucketOf(kFeatCpuLoad, obs.cpu_load);
  const int gpu = BucketOf(kFeatGpuLoad, obs.gpu_load);
  const int mem = BucketOf(kFeatMemLoad, obs.mem_load);
  *load_bucket = LoadBucketOf(cpu, gpu, mem);
  const int wifi = BucketOf(kFeatWifiRssi, obs.wifi_rssi_dbm);
  return m.state + cpu * stride_[kFeatCpuLoad] + gpu * stride_[kFeatGpuLoad] +
         mem * stride_[kFeatMemLoad] + wifi * stride_[kFeatWifiRssi] +
         // With Wi-Fi up (at or above its first edge), offloads go over Wi-Fi: the cellular
         // signal would only split states. Below it they go over cellular, which then counts.
         (wifi > 0 ? 0 : BucketOf(kFeatCellRsrp, obs.cell_rsrp_dbm)) * stride_[kFeatCellRsrp] +
         // The throughput the phone last measured on the link an offload would take.
         BucketOf(kFeatUplinkMbps, wifi > 0               ? obs.wifi_up_mbps
                                   : obs.cell_connected() ? obs.cell_up_mbps
                                                          : 0.0f) *
             stride_[kFeatUplinkMbps];
}

double QLearningPolicy::epsilon() const {
  if (!training_) return options_.epsilon_eval;
  if (options_.epsilon_decay_requests <= 0) return options_.epsilon_end;
  double frac = std::min(1.0, train_decisions_ / options_.epsilon_decay_requests);
  return options_.epsilon_start + (options_.epsilon_end - options_.epsilon_start) * frac;
}

void QLearningPolicy::Update(int state, int action, double target) {
  // A NaN reward (an outcome that is not a number) teaches nothing; an infinite or huge one is
  // clamped, so the table stays finite whatever the world reports.
  if (std::isnan(target)) return;
  target = std::clamp(target, -kMaxAbsQ, kMaxAbsQ);
  const size_t i = At(EnsureRow(state), action);
  const double alpha =
      std::max(options_.learning_rate_min, options_.learning_rate / (1.0 + visits_[i]));
  q_[i] += static_cast<float>(alpha * (target - q_[i]));
  if (visits_[i] != std::numeric_limits<uint32_t>::max()) ++visits_[i];
}

double QLearningPolicy::PriorReward(const Observation& obs, int action) const {
  const Outcome o = cost_model_->Predict(action, obs);
  const Calibration& c = CalibrationOf(action, obs.model, LoadBucket(obs));
  return PriorOf(o.latency_ms * c.latency_factor, o.energy_mj * c.energy_factor, MissFlags(o, obs),
                 obs.latency_bound_ms);
}

double QLearningPolicy::ModelValue(int state, int action, double prior) const {
  return prior + std::abs(prior) * Correction(Visits(state, action), Q(state, action), action);
}

double QLearningPolicy::Value(const Observation& obs, int action) {
  const int s = StateOf(obs);
  if (options_.prior == QPrior::kNone) return Q(s, action);
  return ModelValue(s, action, PriorReward(obs, action));
}

namespace {

// A float's order key: an int32 that compares as the float does (-0 and +0 alike), so that
// the greatest of an array's keys is a vectorisable integer maximum. Not for NaN.
inline int32_t OrderKey(float x) {
  const int32_t b = std::bit_cast<int32_t>(x + 0.0f);  // -0 + 0 = +0
  return b ^ ((b >> 31) & 0x7fffffff);
}
// Below every float's key (-infinity's is INT32_MIN + 0x7fffff).
constexpr int32_t kNoKey = std::numeric_limits<int32_t>::min();

// The loop of QLearningPolicy::ValuePass(), with every array a restrict parameter: GCC vectorises
// it only so (not through restrict locals of a member function). Built for AVX-512, AVX2 and
// the baseline x86-64 (SSE2), chosen at load time (core/vector_clones.h): the same operations in
// the same order (no fused multiply-add), so all give the same values bit for bit.
AUTOSCALE_VECTOR_CLONES void ValuesOf(
    const float* __restrict lf, const float* __restrict ef, const float* __restrict lf_model,
    const float* __restrict ef_model, const float* __restrict lf_all,
    const float* __restrict ef_all, const float* __restrict raw_latency,
    const float* __restrict raw_energy, const int32_t* __restrict raw_misses,
    const float* __restrict pooled, const float* __restrict qrow, const uint32_t* __restrict vrow,
    const float* __restrict sqrt_visits, const uint32_t* __restrict retry_at,
    const int32_t* __restrict feasible, uint32_t now, float* __restrict prior_out,
    float* __restrict value_out, float* __restrict score_out, float* __restrict retry_out,
    int32_t* __restrict score_key, int32_t* __restrict retry_key, int32_t* __restrict safe_out,
    int num_actions, float bound, float safe_latency, float qos, float acc, float bonus_weight,
    int32_t* __restrict max_score_key, int32_t* __restrict max_retry_key) {
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  for (int a = 0; a < num_actions; ++a) {
    // CalibrationOf(): the cell's factors, else the model's, else the action's (a factor is
    // never 0 once seen). Everything is loaded first and then selected, so nothing branches.
    const float lc = lf[a], ec = ef[a], lm = lf_model[a], em = ef_model[a];
    const float la = lf_all[a], ea = ef_all[a];
    const float lfa = lc != 0.0f ? lc : (lm != 0.0f ? lm : la);
    const float efa = lc != 0.0f ? ec : (lm != 0.0f ? em : ea);
    // PriorOf().
    const float latency = raw_latency[a] * lfa;
    const int32_t m = raw_misses[a];
    const float late = (m & 1) != 0 ? qos : (latency > bound ? qos : 0.0f);
    const float prior = -(raw_energy[a] * efa) - late - (m != 0 ? acc : 0.0f);
    const bool safe = latency <= safe_latency;
    // Correction(), with the pooled one precomputed per action.
    const uint32_t n = vrow[a];
    const float q = qrow[a], p = pooled[a];
    const float correction = n != 0 ? q : p;
    const float magnitude = std::fabs(prior);
    const float value = prior + magnitude * correction;
    // Directed exploration: actions tried few times here get a bonus in proportion to the
    // stakes (the predicted reward's size), shrinking as they are tried; unsafe ones none.
    const float bonus = bonus_weight * magnitude / sqrt_visits[a];  // sqrt(1 + n)
    prior_out[a] = prior;
    value_out[a] = value;
    const float score = value + (safe ? bonus : 0.0f);
    score_out[a] = score;
    safe_out[a] = safe ? 1 : 0;
    // A retry candidate: tried here (and so possibly rejected), its back-off passed, safe.
    const uint32_t due = retry_at[a];
    const float if_due = due <= now ? prior : kNever;
    const float if_tried = n != 0 ? if_due : kNever;
    const float retry = safe ? if_tried : kNever;
    retry_out[a] = retry;
    // The same as order keys, kNoKey where the action is not feasible or not a number.
    score_key[a] = feasible[a] != 0 && score == score ? OrderKey(score) : kNoKey;
    retry_key[a] = feasible[a] != 0 && retry == retry ? OrderKey(retry) : kNoKey;
  }
  // The greatest of each kind of key (kNoKey: none), in a loop of their own: GCC vectorises
  // neither loop where the maxima are in the first.
  int32_t max_score = kNoKey, max_retry = kNoKey;
  for (int a = 0; a < num_actions; ++a) {
    max_score = std::max(max_score, score_key[a]);
    max_retry = std::max(max_retry, retry_key[a]);
  }
  *max_score_key = max_score;
  *max_retry_key = max_retry;
}

// The greatest of `n` order keys (kNoKey when n is 0).
AUTOSCALE_VECTOR_CLONES int32_t MaxKey(const int32_t* __restrict key, int n) {
  int32_t m = kNoKey;
  for (int a = 0; a < n; ++a) m = key[a] > m ? key[a] : m;
  return m;
}

// Whether `ids` increase strictly.
AUTOSCALE_VECTOR_CLONES bool Increasing(std::span<const int> ids) {
  int ok = 1;
  for (size_t k = 1; k < ids.size(); ++k) ok &= ids[k] > ids[k - 1];
  return ok != 0;
}

// Whether two keys hold the same bits (a NaN field included; -0 and +0 differ): inline, where
// memcmp() was a call costing 4% of a simulated request.
template <size_t N>
bool SameBits(const std::array<float, N>& x, const std::array<float, N>& y) {
  uint32_t diff = 0;
  for (size_t i = 0; i < N; ++i) {
    diff |= std::bit_cast<uint32_t>(x[i]) ^ std::bit_cast<uint32_t>(y[i]);
  }
  return diff == 0;
}

// The first action whose key is `m` (one is).
int FirstWithKey(const int32_t* key, int32_t m) {
  int a = 0;
  while (key[a] != m) ++a;
  return a;
}

}  // namespace

void QLearningPolicy::ValuePass(const Observation& obs, int lb, const PriorCache& cache,
                                const float* qrow, const uint32_t* vrow, const uint32_t* retry_at,
                                const float* sqrt_visits) {
  // The value of every action, in one pass over arrays indexed by action (those not feasible
  // are computed too and ignored), without branches, in float, so that it vectorises.
  const size_t cell = CellOf(obs.model, lb);
  const size_t mo = static_cast<size_t>(obs.model) * num_actions_;
  ValuesOf(&latency_factor_[cell], &energy_factor_[cell], &latency_factor_model_[mo],
           &energy_factor_model_[mo], latency_factor_all_.data(), energy_factor_all_.data(),
           cache.latency.data(), cache.energy.data(), cache.misses.data(), pooled_term_.data(),
           qrow, vrow, sqrt_visits, retry_at, feasible_mask_.data(),
           static_cast<uint32_t>(std::min<uint64_t>(decisions_, UINT32_MAX)), prior_scratch_.data(),
           value_scratch_.data(), score_scratch_.data(), retry_scratch_.data(), score_key_.data(),
           retry_key_.data(), safe_scratch_.data(), PassLength(), obs.latency_bound_ms,
           static_cast<float>(options_.safe_margin * obs.latency_bound_ms),
           static_cast<float>(reward_.qos_penalty_mj),
           static_cast<float>(reward_.accuracy_penalty_mj),
           static_cast<float>(options_.explore_bonus), &max_score_key_, &max_retry_key_);
}

int QLearningPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  int load_bucket;
  const int s = StateOf(obs, &load_bucket);
  if (pending_) {
    float best = -std::numeric_limits<float>::infinity();
    for (int a : feasible) best = std::max(best, Q(s, a));
    Update(pending_state_, pending_action_, pending_reward_ + options_.discount * best);
    pending_ = false;
  }
  last_state_ = s;
  ++decisions_;
  const double eps = epsilon();
  if (training_) ++train_decisions_;
  if (options_.prior == QPrior::kModel) {
    // Predicted outcome of every feasible action: its reward is the prior, its latency says
    // whether trying it is safe. Reused while the model's observation is unchanged.
    PriorCache& cache = prior_cache_[obs.model];
    std::array<float, kPriorKeySize> key = {
        obs.cpu_load,      obs.gpu_load,       obs.mem_load,         obs.wifi_rssi_dbm,
        obs.cell_rsrp_dbm, obs.wifi_down_mbps, obs.wifi_up_mbps,     obs.cell_down_mbps,
        obs.cell_up_mbps,  obs.p2p_rssi_dbm,   obs.latency_bound_ms, obs.min_accuracy};
    std::copy(obs.wait_ms.begin(), obs.wait_ms.end(), key.begin() + 12);
    // Compared as bytes: the same predictions follow from the same bits (a NaN field
    // included), and a -0 taken for +0 only costs a prediction.
    if (!cache.valid || !SameBits(cache.key, key)) {
      if (cache.latency.empty()) {
        cache.latency.assign(num_actions_ + kPassSlack, 0.0f);
        cache.energy.assign(num_actions_ + kPassSlack, 0.0f);
        cache.misses.assign(num_actions_ + kPassSlack, 0);
      }
      cost_model_->PredictFeasible(obs, feasible, cache.latency.data(), cache.energy.data(),
                                   cache.misses.data());
      cache.key = key;
      cache.valid = true;
    }
    const int lb = options_.calibrate ? load_bucket : 0;
    const int row = rows_[s];
    const float* qrow = row < 0 ? zero_q_.data() : &q_[At(row, 0)];
    const uint32_t* vrow = row < 0 ? zero_visits_.data() : &visits_[At(row, 0)];
    // Rows hold the retry schedule; a state without one has tried nothing (zero_visits_ reads
    // as "never tried" and as a retry time of 0).
    // The feasible actions as a mask over all of them. Offered in increasing order (as
    // CostModel::Feasible gives them), the first feasible action with the best score is the
    // lowest-numbered one: found in one vectorised pass over the mask's order keys. In any
    // other order, by walking the list.
    // Every action feasible (as in most requests) keeps the mask of the last such request.
    const bool increasing = Increasing(feasible);
    const bool all_feasible = increasing && feasible.size() == static_cast<size_t>(num_actions_);
    if (!(all_feasible && mask_all_)) {
      std::fill(feasible_mask_.begin(), feasible_mask_.end(), 0);
      for (const int a : feasible) feasible_mask_[a] = 1;
      mask_all_ = all_feasible;
    }
    ValuePass(obs, lb, cache, qrow, vrow, row < 0 ? zero_visits_.data() : &retry_at_[At(row, 0)],
              row < 0 ? zero_sqrt_visits_.data() : &sqrt_visits_[At(row, 0)]);
    constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
    int greedy;
    if (increasing) {
      const int32_t best = max_score_key_;
      // Every score NaN or -infinity (a prediction that is not a number): the first feasible
      // action.
      greedy = best > OrderKey(kMinusInf) ? FirstWithKey(score_key_.data(), best) : feasible[0];
    } else {
      const int greedy_at = FirstArgMax(score_scratch_.data(), feasible, kMinusInf, -1);
      greedy = feasible[greedy_at < 0 ? 0 : greedy_at];
    }
    const float greedy_value = value_scratch_[greedy];
    int choice = greedy;
    last_retry_ = false;
    if (eps > 0 && rng_.Uniform() < eps) {
      // Epsilon-greedy. While training (the simulator's replay, where nothing real is at
      // stake) among every feasible action, so that a model wrong about an action's latency
      // cannot hide it; online, among the safe ones only (all of them when none is).
      int safe_count = 0;
      for (const int a : feasible) safe_count += safe_scratch_[a];
      const bool only_safe = !training_ && safe_count > 0;
      int k = static_cast<int>(
          rng_.Below(static_cast<uint32_t>(only_safe ? safe_count : feasible.size())));
      for (const int a : feasible) {
        if (only_safe && !safe_scratch_[a]) continue;
        if (k-- == 0) {
          choice = a;
          break;
        }
      }
    } else if (row >= 0) {
      // A retry: a safe action the model prefers to the greedy choice but that experience here
      // rejected, once its back-off has passed. The one the model likes best.
      int retry = -1;
      if (increasing) {
        // Above the greedy value (never above NaN), the greedy action aside. Looked for only
        // when some action's key is above it, and again without the greedy action only when
        // its key is the greatest.
        if (greedy_value == greedy_value && max_retry_key_ > OrderKey(greedy_value)) {
          int32_t best = max_retry_key_;
          if (retry_key_[greedy] == best) {
            retry_key_[greedy] = kNoKey;
            best = MaxKey(retry_key_.data(), PassLength());
          }
          if (best > OrderKey(greedy_value)) retry = FirstWithKey(retry_key_.data(), best);
        }
      } else {
        const int retry_at = FirstArgMax(retry_scratch_.data(), feasible, greedy_value, greedy);
        if (retry_at >= 0) retry = feasible[retry_at];
      }
      if (retry >= 0) {
        const size_t i = At(row, retry);
        retry_at_[i] =
            decisions_ + static_cast<uint64_t>(options_.retry_after * std::ldexp(1.0, backoff_[i]));
        if (backoff_[i] < kMaxBackoff) ++backoff_[i];
        choice = retry;
        last_retry_ = true;
      }
    }
    last_action_ = choice;
    last_prior_ = prior_scratch_[choice];
    last_raw_latency_ = cache.latency[choice];
    last_raw_energy_ = cache.energy[choice];
    last_misses_ = cache.misses[choice];
    last_load_bucket_ = lb;
    last_greedy_value_ = greedy_value;
    return choice;
  }
  if (eps > 0 && rng_.Uniform() < eps) {
    return feasible[rng_.Below(static_cast<uint32_t>(feasible.size()))];
  }
  // Greedy. While training, untried actions keep their optimistic zero and get tried; when
  // exploiting, only actions with experience compete (an untried one is not better for being
  // unknown) unless the state is entirely new.
  const int r = rows_[s];
  const float* row = r < 0 ? zero_q_.data() : &q_[At(r, 0)];
  const uint32_t* seen = r < 0 ? zero_visits_.data() : &visits_[At(r, 0)];
  const bool skip_untried = !training_;
  int best_a = -1;
  float best = -std::numeric_limits<float>::infinity();
  for (const int a : feasible) {
    if (skip_untried && seen[a] == 0) continue;
    if (row[a] > best || best_a < 0) {
      best = row[a];
      best_a = a;
    }
  }
  if (best_a >= 0) return best_a;
  for (const int a : feasible) {
    if (row[a] > best || best_a < 0) {
      best = row[a];
      best_a = a;
    }
  }
  return best_a;
}

void QLearningPolicy::Learn(const Observation& obs, int action, const Outcome& outcome) {
  if (!training_ && !options_.learn_during_eval) return;
  const int s = last_state_ >= 0 ? last_state_ : StateOf(obs);
  const double r = Reward(outcome, obs, reward_);
  if (options_.prior == QPrior::kModel) {
    if (std::isnan(r)) return;
    const bool decided = action == last_action_;
    double prior = decided ? last_prior_ : PriorReward(obs, action);
    // Calibration: how reality scaled the model's latency and energy for this action, here and
    // over all loads (a failure says nothing about either).
    if (options_.calibrate && decided && !outcome.failed && last_raw_latency_ > 0 &&
        last_raw_energy_ > 0 && outcome.latency_ms > 0 && outcome.energy_mj > 0 &&
        std::isfinite(outcome.latency_ms) && std::isfinite(outcome.energy_mj)) {
      // Ratios within e^-5 .. e^5.
      const double rl = std::clamp(static_cast<double>(outcome.latency_ms) / last_raw_latency_,
                                   kMinRatio, kMaxRatio);
      const double re = std::clamp(static_cast<double>(outcome.energy_mj) / last_raw_energy_,
                                   kMinRatio, kMaxRatio);
      CalibrateAll(action, obs.model, last_load_bucket_, rl, re);
      // The correction learns what the calibrated model still misses: against the prior as
      // calibrated now (the decided prediction, rescaled), or both would count the same error.
      const Calibration& c = CalibrationOf(action, obs.model, last_load_bucket_);
      prior = PriorOf(last_raw_latency_ * c.latency_factor, last_raw_energy_ * c.energy_factor,
                      last_misses_, obs.latency_bound_ms);
    }
    // The correction, relative to the prediction's size (1 mJ at least), so that it carries
    // over between models of a state and between states.
    const double rel = std::clamp((r - prior) / std::max(std::abs(prior), 1.0), -1e9, 1e9);
    const size_t i = At(EnsureRow(s), action);
    const bool retry = last_retry_ && decided;
    if (retry) {
      // A retry is news about a world that may have changed: it replaces what was learned.
      q_[i] = static_cast<float>(rel);
      visits_[i] = 1;
      sqrt_visits_[i] = SqrtVisits(1);
    } else {
      const double alpha =
          std::max(options_.learning_rate_min, options_.learning_rate / (1.0 + visits_[i]));
      q_[i] += static_cast<float>(alpha * (rel - q_[i]));
      if (visits_[i] != std::numeric_limits<uint32_t>::max()) ++visits_[i];
      sqrt_visits_[i] = SqrtVisits(visits_[i]);
    }
    const double ag = std::max(0.02, 1.0 / (1.0 + pooled_n_[action]));
    pooled_[action] += static_cast<float>(ag * (rel - pooled_[action]));
    ++pooled_n_[action];
    pooled_term_[action] = static_cast<float>(PooledTerm(action));
    // A retry that found the action good again ends its back-off.
    if (retry && ModelValue(s, action, prior) >= last_greedy_value_) {
      backoff_[i] = 0;
      retry_at_[i] = 0;
    }
    last_retry_ = false;
    last_action_ = -1;
    return;
  }
  if (options_.discount == 0) {
    Update(s, action, r);
    return;
  }
  pending_ = true;
  pending_state_ = s;
  pending_action_ = action;
  pending_reward_ = r;
}

void QLearningPolicy::EndEpisode() {
  if (pending_) Update(pending_state_, pending_action_, pending_reward_);
  pending_ = false;
  last_state_ = -1;
}

std::string QLearningPolicy::BucketLayout() const {
  std::string fp;
  for (int f = 0; f < kNumStateFeatures; ++f) {
    fp += kFeatureNames[f];
    fp += ':';
    for (size_t i = 0; i < options_.edges[f].size(); ++i) {
      if (i > 0) fp += ',';
      fp += FormatDouble(options_.edges[f][i], 17);
    }
    fp += ';';
  }
  return fp;
}

namespace {

// One action of a saved table, as written on its "A" line.
struct SavedAction {
  std::string target, kind, precision;
  int level = 0, levels = 1;
};

// Levels of the target of action `a` (remote targets have one).
int LevelsOf(const CostModel& cm, int a) {
  const Action& act = cm.actions().actions[a];
  const auto& targets = cm.device().targets;
  if (act.target >= targets.size() || IsRemote(targets[act.target].kind)) return 1;
  return std::max<int>(1, static_cast<int>(targets[act.target].levels.size()));
}

std::string DescribeTargets(const std::vector<std::pair<std::string, std::string>>& targets) {
  std::string out;
  for (const auto& [name, kind] : targets) {
    if (!out.empty()) out += ", ";
    out += name;
    out += " (";
    out += kind;
    out += ')';
  }
  return out;
}

}  // namespace

Status QLearningPolicy::Save(const std::string& path) const {
  // Version 2: the actions are described (target name and kind, precision, level of how many),
  // so that a table loads on another device whose targets map by name or kind and whose levels
  // map by rank.
  std::string out = std::string(kMagic) + "\n";
  out += "prior ";
  out += PriorName(options_.prior);
  out += "\nbuckets " + BucketLayout() + "\n";
  const ActionSpace& space = cost_model_->actions();
  out += "actions " + std::to_string(num_actions_) + "\n";
  for (int a = 0; a < num_actions_; ++a) {
    const Action& act = space.actions[a];
    out += "A ";
    out += space.target_names[act.target];
    out += ' ';
    out += TargetKindName(space.target_kinds[act.target]);
    out += ' ';
    out += PrecisionName(act.precision);
    out += ' ' + std::to_string(act.level) + ' ' + std::to_string(LevelsOf(*cost_model_, a)) + "\n";
  }
  out += "size " + std::to_string(num_states_) + " " + std::to_string(num_actions_) + "\n";
  char buf[96];
  for (int s = 0; s < num_states_; ++s) {
    if (rows_[s] < 0) continue;
    for (int a = 0; a < num_actions_; ++a) {
      const size_t i = At(rows_[s], a);
      if (visits_[i] == 0) continue;
      if (!std::isfinite(q_[i]) || std::fabs(q_[i]) > kMaxAbsQ) {
        // Never reached (Update clamps), but a file that Load() refuses is never written.
        return Status::Internal(path + ": Q value of state " + std::to_string(s) + ", action " +
                                std::to_string(a) + " is " + FormatDouble(q_[i]) +
                                "; refusing to save a table that could not be loaded back");
      }
      std::snprintf(buf, sizeof(buf), "%d %d %.9g %u\n", s, a, q_[i], visits_[i]);
      out += buf;
    }
  }
  for (int a = 0; a < static_cast<int>(pooled_.size()); ++a) {
    if (pooled_n_[a] == 0 || !std::isfinite(pooled_[a])) continue;
    std::snprintf(buf, sizeof(buf), "P %d %.9g %llu\n", a, pooled_[a],
                  static_cast<unsigned long long>(pooled_n_[a]));
    out += buf;
  }
  out += "end\n";
  return WriteFileAtomic(path, out);
}

Status QLearningPolicy::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<std::string_view> lines = Split(text, '\n');
  auto bad = [&](size_t line, const std::string& what) {
    return Status::InvalidArgument(path + ":" + std::to_string(line + 1) + ": " + what);
  };
  if (!lines.empty() && lines[0] == kMagicV1) {
    return bad(0,
               "a version 1 table (written before link-throughput states and action "
               "descriptions); its states do not map onto this agent's: delete it or retrain");
  }
  if (lines.empty() || lines[0] != kMagic)
    return bad(0, "not a Q-table (expected '" + std::string(kMagic) + "')");
  const std::string prior_line = std::string("prior ") + PriorName(options_.prior);
  if (lines.size() > 1 && lines[1] != prior_line) {
    return bad(1, "the table was learned with '" + std::string(lines[1]) + "'; this agent has '" +
                      prior_line + "' (the values mean different things)");
  }
  if (lines.size() < 5) return bad(lines.size() - 1, "truncated: the header is incomplete");
  const std::string buckets_line = "buckets " + BucketLayout();
  if (lines[2] != buckets_line) {
    // Name the first feature whose edges differ.
    std::string_view saved = lines[2].substr(std::min<size_t>(8, lines[2].size()));
    std::vector<std::string_view> theirs = Split(saved, ';');
    std::vector<std::string_view> ours = Split(std::string_view(buckets_line).substr(8), ';');
    std::string what = "the table's state buckets differ from this agent's";
    for (size_t f = 0; f < std::max(theirs.size(), ours.size()); ++f) {
      const std::string_view t = f < theirs.size() ? theirs[f] : "(none)";
      const std::string_view o = f < ours.size() ? ours[f] : "(none)";
      if (t != o) {
        what += ": table '" + std::string(t) + "', agent '" + std::string(o) + "'";
        break;
      }
    }
    return bad(2, what);
  }
  long long n_saved = 0;
  {
    auto f = SplitWhitespace(lines[3]);
    if (f.size() != 2 || f[0] != "actions" || !ParseInt64(f[1], &n_saved) || n_saved < 1 ||
        n_saved > 65535) {
      return bad(3, "expected 'actions N' (1 to 65535)");
    }
  }
  if (lines.size() < static_cast<size_t>(5 + n_saved)) return bad(lines.size() - 1, "truncated");
  // Map each saved action onto this device's: its target by name (same kind), else the k-th
  // target of that kind to the k-th here; its level by rank; the same precision.
  const ActionSpace& space = cost_model_->actions();
  std::vector<SavedAction> saved(n_saved);
  std::vector<std::pair<std::string, std::string>> saved_targets;
  for (long long k = 0; k < n_saved; ++k) {
    const size_t ln = 4 + k;
    auto f = SplitWhitespace(lines[ln]);
    long long level = 0, levels = 0;
    if (f.size() != 6 || f[0] != "A" || !ParseInt64(f[4], &level) || !ParseInt64(f[5], &levels) ||
        levels < 1 || levels > 256 || level < 0 || level >= levels) {
      return bad(ln, "expected 'A TARGET KIND PRECISION LEVEL LEVELS'");
    }
    if (!ParseTargetKind(f[2]).ok())
      return bad(ln, "unknown target kind '" + std::string(f[2]) + "'");
    if (!ParsePrecision(f[3]).ok()) return bad(ln, "unknown precision '" + std::string(f[3]) + "'");
    saved[k] = {std::string(f[1]), std::string(f[2]), std::string(f[3]), static_cast<int>(level),
                static_cast<int>(levels)};
    std::pair<std::string, std::string> t{saved[k].target, saved[k].kind};
    if (std::find(saved_targets.begin(), saved_targets.end(), t) == saved_targets.end()) {
      saved_targets.push_back(t);
    }
  }
  std::vector<std::pair<std::string, std::string>> our_targets;
  for (size_t t = 0; t < space.target_names.size(); ++t) {
    our_targets.push_back(
        {space.target_names[t], std::string(TargetKindName(space.target_kinds[t]))});
  }
  // Saved target -> our target index (-1: none).
  std::map<std::string, int> target_map;
  {
    std::map<std::string, int> next_of_kind;  // kind -> how many saved targets of it seen
    for (const auto& [name, kind] : saved_targets) {
      int to = -1;
      for (size_t t = 0; t < our_targets.size(); ++t) {
        if (our_targets[t].first == name && our_targets[t].second == kind) to = static_cast<int>(t);
      }
      const int nth = next_of_kind[kind]++;
      if (to < 0) {
        int seen = 0;
        for (size_t t = 0; t < our_targets.size(); ++t) {
          if (our_targets[t].second != kind) continue;
          if (seen++ == nth) to = static_cast<int>(t);
        }
      }
      target_map[name] = to;
    }
  }
  std::vector<int> action_map(n_saved, -1);
  int mapped = 0;
  for (long long k = 0; k < n_saved; ++k) {
    const SavedAction& sa = saved[k];
    const int t = target_map[sa.target];
    if (t < 0) continue;
    const Precision p = *ParsePrecision(sa.precision);
    // Level by rank: the same index when the counts agree, else the same relative position.
    for (int a = 0; a < num_actions_; ++a) {
      const Action& act = space.actions[a];
      if (act.target != t || act.precision != p) continue;
      const int ours = LevelsOf(*cost_model_, a);
      const int want = ours == sa.levels ? sa.level
                       : sa.levels == 1
                           ? 0
                           : static_cast<int>(std::lround(static_cast<double>(sa.level) *
                                                          (ours - 1) / (sa.levels - 1)));
      if (act.level == want) {
        action_map[k] = a;
        ++mapped;
        break;
      }
    }
  }
  if (mapped == 0) {
    return bad(3, "no action of the table maps onto device '" + cost_model_->device().name +
                      "': the table's targets are " + DescribeTargets(saved_targets) +
                      "; the device's are " + DescribeTargets(our_targets) +
                      " (targets map by name, else by kind; precisions must match)");
  }
  const size_t size_ln = 4 + n_saved;
  const std::string size_prefix = "size " + std::to_string(num_states_) + " ";
  if (lines[size_ln].substr(0, size_prefix.size()) != size_prefix) {
    return bad(size_ln, "expected '" + size_prefix + std::to_string(n_saved) + "'");
  }
  std::vector<int32_t> rows(num_states_, -1);
  int num_rows = 0;
  std::vector<float> q;
  std::vector<uint32_t> visits;
  std::vector<double> pooled_sum(num_actions_, 0.0);
  std::vector<uint64_t> pooled_n(num_actions_, 0);
  bool ended = false;
  for (size_t i = size_ln + 1; i < lines.size(); ++i) {
    if (lines[i].empty() && i + 1 == lines.size()) break;
    if (lines[i] == "end") {
      ended = true;
      continue;
    }
    if (ended) return bad(i, "data after 'end'");
    auto f = SplitWhitespace(lines[i]);
    if (!f.empty() && f[0] == "P") {
      long long a = 0, n = 0;
      double v = 0;
      if (f.size() != 4 || !ParseInt64(f[1], &a) || !ParseDouble(f[2], &v) ||
          !ParseInt64(f[3], &n) || a < 0 || a >= n_saved || n <= 0 || !(std::fabs(v) <= kMaxAbsQ)) {
        return bad(i, "expected 'P ACTION CORRECTION COUNT' with a finite correction");
      }
      const int to = action_map[a];
      if (to >= 0 && options_.prior == QPrior::kModel) {
        pooled_sum[to] += v * static_cast<double>(n);
        pooled_n[to] += static_cast<uint64_t>(n);
      }
      continue;
    }
    long long s = 0, a = 0, n = 0;
    double v = 0;
    if (f.size() != 4 || !ParseInt64(f[0], &s) || !ParseInt64(f[1], &a) || !ParseDouble(f[2], &v) ||
        !ParseInt64(f[3], &n)) {
      return bad(i, "expected 'STATE ACTION Q VISITS'");
    }
    if (s < 0 || s >= num_states_ || a < 0 || a >= n_saved || n <= 0 || n > 0xffffffffLL) {
      return bad(i, "state, action or visit count out of range");
    }
    if (!(std::fabs(v) <= kMaxAbsQ)) {
      return bad(i, "Q value " + std::string(f[2]) + " is outside [-" + FormatDouble(kMaxAbsQ) +
                        ", " + FormatDouble(kMaxAbsQ) + "]");
    }
    const int to = action_map[a];
    if (to < 0) continue;
    // Two saved actions on one of ours (more levels there than here): visit-weighted mean.
    if (rows[s] < 0) {
      rows[s] = num_rows++;
      q.resize(static_cast<size_t>(num_rows) * num_actions_, 0.0f);
      visits.resize(q.size(), 0);
    }
    const size_t j = At(rows[s], to);
    const double total = static_cast<double>(visits[j]) + static_cast<double>(n);
    q[j] = static_cast<float>((q[j] * static_cast<double>(visits[j]) + v * n) / total);
    visits[j] = static_cast<uint32_t>(std::min<double>(total, 0xffffffffu));
  }
  if (!ended) return bad(lines.size() - 1, "truncated: no 'end' line");
  rows_ = std::move(rows);
  num_rows_ = num_rows;
  q.resize(static_cast<size_t>(num_rows) * num_actions_ + kPassSlack, 0.0f);
  visits.resize(q.size(), 0);
  q_ = std::move(q);
  visits_ = std::move(visits);
  if (options_.prior == QPrior::kModel) {
    retry_at_.assign(q_.size(), 0);
    backoff_.assign(q_.size(), 0);
    sqrt_visits_.resize(q_.size());
    for (size_t i = 0; i < q_.size(); ++i) sqrt_visits_[i] = SqrtVisits(visits_[i]);
    for (int a = 0; a < num_actions_; ++a) {
      pooled_[a] = pooled_n[a] > 0 ? static_cast<float>(pooled_sum[a] / pooled_n[a]) : 0.0f;
      pooled_n_[a] = pooled_n[a];
      pooled_term_[a] = static_cast<float>(PooledTerm(a));
    }
  }
  pending_ = false;
  return Status::Ok();
}

}  // namespace autoscale
