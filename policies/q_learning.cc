#include "policies/q_learning.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/file_util.h"
#include "core/strings.h"

namespace autoscale {

namespace {
constexpr const char* kFeatureNames[kNumStateFeatures] = {
    "conv_layers", "fc_layers", "recurrent_layers", "macs",         "cpu_load",
    "gpu_load",    "mem_load",  "wifi_rssi_dbm",    "cell_rsrp_dbm"};
constexpr const char* kMagic = "autoscale-qtable 1";

inline int Bucket(const std::vector<double>& edges, double v) {
  int b = 0;
  for (double e : edges) b += v >= e;
  return b;
}
// For the float features: compare at float precision, or a value written as the edge (0.7 in a
// trace, 0.7 in the config) would fall below it (0.7f < 0.7).
inline int BucketF(const std::vector<double>& edges, float v) {
  int b = 0;
  for (double e : edges) b += v >= static_cast<float>(e);
  return b;
}
// Most states a bucket layout may have (the table holds states x actions entries).
constexpr double kMaxStates = 1 << 20;
// Largest magnitude a Q value may take: far beyond any reward (energies and penalties are at
// most ~1e12 mJ), far inside float's range, so a value can never round to infinity. Loads
// refuse values past it; learning clamps its targets to it.
constexpr double kMaxAbsQ = 1e18;
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
  RETURN_IF_ERROR(params->CheckKeys({"learning_rate", "learning_rate_min", "discount",
                                     "epsilon_start", "epsilon_end", "epsilon_decay_requests",
                                     "epsilon_eval", "learn_during_eval", "buckets", "table"}));
  ASSIGN_OR_RETURN(o.learning_rate, params->GetDoubleIn("learning_rate", 0, 1, o.learning_rate));
  ASSIGN_OR_RETURN(o.learning_rate_min,
                   params->GetDoubleIn("learning_rate_min", 0, 1, o.learning_rate_min));
  ASSIGN_OR_RETURN(o.discount, params->GetDoubleIn("discount", 0, 0.999, o.discount));
  ASSIGN_OR_RETURN(o.epsilon_start, params->GetDoubleIn("epsilon_start", 0, 1, o.epsilon_start));
  ASSIGN_OR_RETURN(o.epsilon_end, params->GetDoubleIn("epsilon_end", 0, 1, o.epsilon_end));
  ASSIGN_OR_RETURN(o.epsilon_decay_requests, params->GetDoubleIn("epsilon_decay_requests", 0, 1e12,
                                                                 o.epsilon_decay_requests));
  ASSIGN_OR_RETURN(o.epsilon_eval, params->GetDoubleIn("epsilon_eval", 0, 1, o.epsilon_eval));
  ASSIGN_OR_RETURN(o.learn_during_eval, params->GetBool("learn_during_eval", o.learn_during_eval));
  if (auto t = params->Optional("table")) {
    ASSIGN_OR_RETURN(o.table, t->AsString());
    if (!o.table.empty() && o.table[0] != '/') o.table = params->Directory() + "/" + o.table;
  }
  if (auto b = params->Optional("buckets")) {
    std::vector<std::string> names(kFeatureNames, kFeatureNames + kNumStateFeatures);
    RETURN_IF_ERROR(b->CheckKeys(names));
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
  for (int f = kNumStateFeatures - 1; f >= 0; --f) {
    stride_[f] = num_states_;
    num_states_ *= static_cast<int>(options_.edges[f].size()) + 1;
  }
  // Rewards are negative, so zero is optimistic: every feasible action gets tried once.
  q_.assign(static_cast<size_t>(num_states_) * num_actions_, 0.0f);
  visits_.assign(q_.size(), 0);
}

int QLearningPolicy::StateOf(const Observation& obs) const {
  const auto& e = options_.edges;
  const int wifi = BucketF(e[kFeatWifiRssi], obs.wifi_rssi_dbm);
  return Bucket(e[kFeatConvLayers], obs.conv_layers) * stride_[kFeatConvLayers] +
         Bucket(e[kFeatFcLayers], obs.fc_layers) * stride_[kFeatFcLayers] +
         Bucket(e[kFeatRecurrentLayers], obs.recurrent_layers) * stride_[kFeatRecurrentLayers] +
         Bucket(e[kFeatMacs], obs.macs) * stride_[kFeatMacs] +
         BucketF(e[kFeatCpuLoad], obs.cpu_load) * stride_[kFeatCpuLoad] +
         BucketF(e[kFeatGpuLoad], obs.gpu_load) * stride_[kFeatGpuLoad] +
         BucketF(e[kFeatMemLoad], obs.mem_load) * stride_[kFeatMemLoad] +
         wifi * stride_[kFeatWifiRssi] +
         // With Wi-Fi up (at or above its first edge), offloads go over Wi-Fi: the cellular
         // signal would only split states. Below it they go over cellular, which then counts.
         (wifi > 0 ? 0 : BucketF(e[kFeatCellRsrp], obs.cell_rsrp_dbm)) * stride_[kFeatCellRsrp];
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
  const size_t i = Index(state, action);
  const double alpha =
      std::max(options_.learning_rate_min, options_.learning_rate / (1.0 + visits_[i]));
  q_[i] += static_cast<float>(alpha * (target - q_[i]));
  if (visits_[i] != std::numeric_limits<uint32_t>::max()) ++visits_[i];
}

int QLearningPolicy::Decide(const Observation& obs, std::span<const int> feasible) {
  const int s = StateOf(obs);
  const float* row = &q_[Index(s, 0)];
  if (pending_) {
    float best = -std::numeric_limits<float>::infinity();
    for (int a : feasible) best = std::max(best, row[a]);
    Update(pending_state_, pending_action_, pending_reward_ + options_.discount * best);
    pending_ = false;
  }
  last_state_ = s;
  const double eps = epsilon();
  if (training_) ++train_decisions_;
  if (eps > 0 && rng_.Uniform() < eps) {
    return feasible[rng_.Below(static_cast<uint32_t>(feasible.size()))];
  }
  // Greedy. While training, untried actions keep their optimistic zero and get tried; when
  // exploiting, only actions with experience compete (an untried one is not better for being
  // unknown) unless the state is entirely new.
  const uint32_t* seen = &visits_[Index(s, 0)];
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

std::string QLearningPolicy::Fingerprint() const {
  std::string fp = "actions=" + JoinNames(cost_model_->actions().names, ",") + ";buckets=";
  for (int f = 0; f < kNumStateFeatures; ++f) {
    fp += std::string(kFeatureNames[f]) + ":";
    for (double e : options_.edges[f]) fp += FormatDouble(e, 17) + ",";
    fp += ";";
  }
  return fp;
}

Status QLearningPolicy::Save(const std::string& path) const {
  std::string out = std::string(kMagic) + "\n";
  out += "fingerprint " + Fingerprint() + "\n";
  out += "size " + std::to_string(num_states_) + " " + std::to_string(num_actions_) + "\n";
  char buf[96];
  for (int s = 0; s < num_states_; ++s) {
    for (int a = 0; a < num_actions_; ++a) {
      const size_t i = Index(s, a);
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
  out += "end\n";
  return WriteFileAtomic(path, out);
}

Status QLearningPolicy::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<std::string_view> lines = Split(text, '\n');
  auto bad = [&](size_t line, const std::string& what) {
    return Status::InvalidArgument(path + ":" + std::to_string(line + 1) + ": " + what);
  };
  if (lines.size() < 3 || lines[0] != kMagic)
    return bad(0, "not a Q-table (expected '" + std::string(kMagic) + "')");
  const std::string fp = "fingerprint " + Fingerprint();
  if (lines[1] != fp) {
    return bad(1, "the table was learned for another action space or bucket layout");
  }
  const std::string size_line =
      "size " + std::to_string(num_states_) + " " + std::to_string(num_actions_);
  if (lines[2] != size_line) return bad(2, "expected '" + size_line + "'");
  std::vector<float> q(q_.size(), 0.0f);
  std::vector<uint32_t> visits(q_.size(), 0);
  bool ended = false;
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty() && i + 1 == lines.size()) break;
    if (lines[i] == "end") {
      ended = true;
      continue;
    }
    if (ended) return bad(i, "data after 'end'");
    auto f = SplitWhitespace(lines[i]);
    long long s = 0, a = 0, n = 0;
    double v = 0;
    if (f.size() != 4 || !ParseInt64(f[0], &s) || !ParseInt64(f[1], &a) || !ParseDouble(f[2], &v) ||
        !ParseInt64(f[3], &n)) {
      return bad(i, "expected 'STATE ACTION Q VISITS'");
    }
    if (s < 0 || s >= num_states_ || a < 0 || a >= num_actions_ || n <= 0 || n > 0xffffffffLL) {
      return bad(i, "state, action or visit count out of range");
    }
    if (!(std::fabs(v) <= kMaxAbsQ)) {
      return bad(i, "Q value " + std::string(f[2]) + " is outside [-" + FormatDouble(kMaxAbsQ) +
                        ", " + FormatDouble(kMaxAbsQ) + "]");
    }
    q[Index(static_cast<int>(s), static_cast<int>(a))] = static_cast<float>(v);
    visits[Index(static_cast<int>(s), static_cast<int>(a))] = static_cast<uint32_t>(n);
  }
  if (!ended) return bad(lines.size() - 1, "truncated: no 'end' line");
  q_ = std::move(q);
  visits_ = std::move(visits);
  pending_ = false;
  return Status::Ok();
}

}  // namespace autoscale
