#include "policies/policy_keys.h"

#include "core/strings.h"
#include "policies/q_learning.h"
#include "policies/reward.h"

namespace autoscale {

namespace {
using enum KeyType;
}  // namespace

const KeyTable& QLearningKeys() {
  static const QLearningOptions d;
  static const KeyTable t(
      "q_learning",
      "`policy: {name: q_learning, params: {...}}`: tabular Q-learning (AutoScale, MICRO 2020), "
      "by default starting from the cost model's predictions and learning a correction.",
      {
          Key("prior", kString,
              "`model`: start from the cost model's predictions and learn a correction; `none`: "
              "AutoScale's zero-initialised table")
              .Values("model | none")
              .DefaultString("model"),
          Key("calibrate", kBool, "learn per action how reality scales the model's outcome")
              .Default(d.calibrate),
          Key("safe_margin", kNumber,
              "never explore an action predicted over the latency bound x this")
              .Range(1, 1e3)
              .Default(d.safe_margin),
          Key("explore_bonus", kNumber, "bonus: this x |predicted reward| / sqrt(1 + visits)")
              .Range(0, 10)
              .Default(d.explore_bonus),
          Key("retry_after", kNumber, "first retry of a rejected action after this many decisions")
              .Range(1, 1e9)
              .Default(d.retry_after),
          Key("pool_weight", kNumber, "share of the pooled correction a state never visited takes")
              .Range(0, 1)
              .Default(d.pool_weight),
          Key("learning_rate", kNumber, "alpha for a state-action's first update")
              .Range(0, 1)
              .Default(d.learning_rate),
          Key("learning_rate_min", kNumber, "alpha = max(this, learning_rate / (1 + visits))")
              .Range(0, 1)
              .Default(d.learning_rate_min),
          Key("discount", kNumber, "gamma; with `prior: model` it must be 0")
              .Range(0, 0.999)
              .Default(d.discount),
          Key("epsilon_start", kNumber, "exploration while training, decaying linearly ...")
              .Range(0, 1)
              .Default(d.epsilon_start),
          Key("epsilon_end", kNumber, "... to this ...").Range(0, 1).Default(d.epsilon_end),
          Key("epsilon_decay_requests", kNumber, "... over this many training decisions")
              .Range(0, 1e12)
              .Default(d.epsilon_decay_requests),
          Key("epsilon_eval", kNumber, "exploration while evaluating")
              .Range(0, 1)
              .Default(d.epsilon_eval),
          Key("learn_during_eval", kBool, "keep learning online after training")
              .Default(d.learn_during_eval),
          Key("buckets", kMap, "state bucket edges per feature (see `q_learning.buckets`)"),
          Key("table", kString,
              "a saved Q-table to start from (`autoscale sim --save-tables`), relative to the "
              "file")
              .DefaultText("start empty"),
      });
  return t;
}

const KeyTable& QLearningBucketKeys() {
  static const KeyTable t = [] {
    const QLearningOptions d;
    std::vector<KeySpec> keys;
    for (int f = 0; f < kNumStateFeatures; ++f) {
      std::string def = "[";
      for (size_t i = 0; i < d.edges[f].size(); ++i) {
        def += (i ? ", " : "") + FormatDouble(d.edges[f][i]);
      }
      keys.push_back(Key(StateFeatureName(f), kNumbers,
                         "bucket edges of this state feature (a value >= an edge is above it)")
                         .Values("increasing, at most 32")
                         .DefaultText(def + "]"));
    }
    return KeyTable("q_learning.buckets",
                    "The state: each feature's value falls in one of its edges + 1 buckets; the "
                    "product over features, at most 2^20 states (and 2^24 states x actions), is "
                    "the table's size.",
                    std::move(keys));
  }();
  return t;
}

const KeyTable& StaticPolicyKeys() {
  static const KeyTable t(
      "static",
      "`{name: static, params: {...}}`: always the same action, the best feasible one by the "
      "cost model when it is not feasible. `model_greedy`, `random` and `oracle` (simulator "
      "only) take no params.",
      {
          Key("target", kString, "a target of the device profile").DefaultString("cpu_big"),
          Key("precision", kString, "a precision the target lists")
              .Values("fp32 | fp16 | int8")
              .DefaultString("fp32"),
          Key("level", kInteger, "frequency level, 0 = highest").AtLeast(0).Default(0),
      });
  return t;
}

const KeyTable& RewardKeys() {
  static const RewardConfig d;
  static const KeyTable t(
      "reward",
      "A decision's reward is minus its energy in mJ, less these penalties for a missed latency "
      "bound (or a failure) and a missed accuracy floor.",
      {
          Key("qos_penalty_mj", kNumber, "charged when the latency bound is missed or it failed")
              .Range(0, 1e12)
              .Default(d.qos_penalty_mj),
          Key("accuracy_penalty_mj", kNumber, "charged when the accuracy floor is missed")
              .Range(0, 1e12)
              .Default(d.accuracy_penalty_mj),
      });
  return t;
}

std::vector<const KeyTable*> PolicyParamTables() {
  return {&QLearningKeys(), &QLearningBucketKeys(), &StaticPolicyKeys()};
}

}  // namespace autoscale
