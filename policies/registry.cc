// Policy factories by name (STYLE.md 4).
#include "core/registry.h"
#include "core/strings.h"

#include <functional>

#include "policies/baselines.h"
#include "policies/policy.h"
#include "policies/policy_keys.h"
#include "policies/q_learning.h"

namespace autoscale {

namespace {

using Factory =
    std::function<Result<std::unique_ptr<Policy>>(const ConfigNode*, const PolicyContext&)>;

Status NoParams(const ConfigNode* params) {
  if (params == nullptr || params->IsNull()) return Status::Ok();
  return params->CheckKeys(std::initializer_list<std::string_view>{});
}

Result<std::unique_ptr<Policy>> MakeStatic(const ConfigNode* params, const PolicyContext& ctx) {
  const ActionSpace& space = ctx.cost_model->actions();
  // Without params, the table's defaults.
  const KeyTable& keys = StaticPolicyKeys();
  std::string target = *keys.Spec("target").def_string;
  std::string precision = *keys.Spec("precision").def_string;
  int64_t level = static_cast<int64_t>(*keys.Spec("level").def_number);
  if (params != nullptr && !params->IsNull()) {
    RETURN_IF_ERROR(keys.Check(*params));
    ASSIGN_OR_RETURN(target, keys.String(*params, "target"));
    ASSIGN_OR_RETURN(precision, keys.String(*params, "precision"));
    ASSIGN_OR_RETURN(level, keys.Integer(*params, "level"));
  }
  auto where = [&](std::string_view key) -> Status {
    if (params == nullptr || !params->Has(key)) return Status::InvalidArgument("static policy: ");
    return params->Child(key)->Error("");
  };
  auto fail = [&](std::string_view key, const std::string& what) -> Status {
    Status w = where(key);
    return Status::InvalidArgument(w.message() + what);
  };
  bool known = false;
  for (const auto& t : space.target_names) known = known || t == target;
  if (!known) {
    std::string msg = "unknown target '" + target + "'";
    std::string near = NearestName(target, space.target_names);
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    return fail("target", msg + " (valid targets of device '" + ctx.cost_model->device().name +
                              "': " + JoinNames(space.target_names) + ")");
  }
  auto p = ParsePrecision(precision);
  if (!p.ok()) return fail("precision", p.status().message());
  int a = space.Find(target, *p, static_cast<int>(level));
  if (a < 0) {
    return fail("level", "target '" + target + "' has no action at precision " + precision +
                             " and level " + std::to_string(level));
  }
  return std::unique_ptr<Policy>(new StaticPolicy(ctx, a));
}

const Registry<Factory>& Policies() {
  static const Registry<Factory>* r = [] {
    auto* reg = new Registry<Factory>("policy");
    reg->Register(
        "q_learning",
        [](const ConfigNode* params, const PolicyContext& ctx) -> Result<std::unique_ptr<Policy>> {
          ASSIGN_OR_RETURN(QLearningOptions o, ParseQLearningOptions(params));
          const int actions = ctx.cost_model->actions().size();
          const double entries = QTableEntries(o, actions);
          if (entries > kMaxQTableEntries) {
            const std::string what =
                "these buckets with device '" + ctx.cost_model->device().name + "''s " +
                std::to_string(actions) + " actions make a Q-table of " +
                FormatDouble(entries) + " entries; at most " + FormatDouble(kMaxQTableEntries) +
                " are allowed (use fewer bucket edges)";
            if (params != nullptr && params->Has("buckets")) {
              return params->Child("buckets")->Error(what);
            }
            return Status::InvalidArgument("q_learning: " + what);
          }
          auto policy = std::make_unique<QLearningPolicy>(ctx, o);
          if (!o.table.empty()) {
            Status st = policy->Load(o.table);
            if (!st.ok()) return params->Child("table")->Error(st.message());
          }
          return std::unique_ptr<Policy>(std::move(policy));
        });
    reg->Register("static", MakeStatic);
    reg->Register(
        "model_greedy",
        [](const ConfigNode* params, const PolicyContext& ctx) -> Result<std::unique_ptr<Policy>> {
          RETURN_IF_ERROR(NoParams(params));
          return std::unique_ptr<Policy>(new ModelGreedyPolicy(ctx));
        });
    reg->Register(
        "random",
        [](const ConfigNode* params, const PolicyContext& ctx) -> Result<std::unique_ptr<Policy>> {
          RETURN_IF_ERROR(NoParams(params));
          return std::unique_ptr<Policy>(new RandomPolicy(ctx));
        });
    reg->Register(
        "oracle",
        [](const ConfigNode* params, const PolicyContext& ctx) -> Result<std::unique_ptr<Policy>> {
          RETURN_IF_ERROR(NoParams(params));
          if (ctx.oracle == nullptr) {
            return Status::InvalidArgument(
                "policy 'oracle' needs the simulator's ground truth; it cannot run on a device");
          }
          return std::unique_ptr<Policy>(new OraclePolicy(ctx));
        });
    return reg;
  }();
  return *r;
}

}  // namespace

Result<std::unique_ptr<Policy>> CreatePolicy(const std::string& name, const ConfigNode* params,
                                             const PolicyContext& ctx) {
  if (ctx.cost_model == nullptr) return Status::Internal("PolicyContext without a cost model");
  ASSIGN_OR_RETURN(const Factory* f, Policies().Find(name));
  return (*f)(params, ctx);
}

std::vector<std::string> PolicyNames() { return Policies().Names(); }

}  // namespace autoscale
