#include "sim/experiment.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>

#include "core/file_util.h"
#include "core/random.h"
#include "core/strings.h"
#include "env/user_models.h"
#include "policies/baselines.h"
#include "policies/policy_keys.h"
#include "policies/policy.h"
#include "sim/experiment_keys.h"
#include "sim/simulation.h"

namespace autoscale {

namespace {

Result<std::vector<std::string>> NameList(const ConfigNode& parent, const char* key) {
  ASSIGN_OR_RETURN(ConfigNode n, parent.Child(key));
  ASSIGN_OR_RETURN(std::vector<std::string> v, n.AsStringList());
  if (v.empty()) return n.Error("expected at least one name");
  return v;
}

Status ParsePolicies(const ConfigNode& list, Experiment& exp) {
  RETURN_IF_ERROR(list.ExpectSequence());
  if (list.size() == 0) return list.Error("expected at least one policy");
  if (list.size() > kMaxPolicies) {
    return list.Error("at most " + std::to_string(kMaxPolicies) + " policies are allowed, got " +
                      std::to_string(list.size()));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    ConfigNode p = list.At(i);
    PolicySpec spec;
    if (p.IsScalar()) {
      ASSIGN_OR_RETURN(spec.name, p.AsString());
    } else {
      RETURN_IF_ERROR(PolicyEntryKeys().Check(p));
      ASSIGN_OR_RETURN(spec.name, p.GetString("name"));
      ASSIGN_OR_RETURN(spec.label, p.GetString("label", ""));
      if (auto params = p.Optional("params")) spec.params = std::make_shared<ConfigNode>(*params);
    }
    if (spec.label.empty()) spec.label = spec.name;
    {
      // Labels name report rows and, with --save-tables, a folder: one path component.
      const ConfigNode where = p.IsMap() && p.Has("label") ? *p.Child("label") : p;
      std::string bad = CheckDisplayName(spec.label);
      if (bad.empty() && (spec.label.find('/') != std::string::npos || spec.label == "." ||
                          spec.label == "..")) {
        bad = "names a folder of --save-tables, so it must not hold '/' or be '.' or '..'";
      }
      if (!bad.empty()) return where.Error("policy label '" + ToValidUtf8(spec.label) + "' " + bad);
    }
    for (const auto& other : exp.policies) {
      if (other.label == spec.label) {
        return p.Error("two policies are labelled '" + spec.label + "'; give one a 'label'");
      }
    }
    // Validate name and parameters now, on every device, so errors surface before any run.
    for (const auto& [device, cm] : exp.cost_models) {
      PolicyContext ctx;
      ctx.cost_model = spec.name == "oracle" ? cm.get() : &exp.PolicyCostModel(device);
      struct NullOracle : OutcomeOracle {
        Outcome TrueOutcome(int) const override { return {}; }
      } oracle;
      ctx.oracle = &oracle;
      ctx.reward = exp.reward;
      auto made = CreatePolicy(spec.name, spec.params.get(), ctx);
      if (!made.ok()) {
        const std::string& msg = made.status().message();
        // Parameter errors already carry a location; name errors get this entry's.
        if (msg.rfind(p.file(), 0) == 0) return made.status();
        return p.Error(msg + (exp.cost_models.size() > 1 ? " (device '" + device + "')" : ""));
      }
    }
    exp.policies.push_back(std::move(spec));
  }
  return Status::Ok();
}

// A user's model whose sidecar states no FP32 accuracy has accuracy 0 at every precision: a
// floor above 0 on its requests could only ever be missed. Refused, naming the sidecar, rather
// than simulated as violations (a generated stream picks every model; a trace names its own).
Status CheckFloorsOnUnknownAccuracy(const RequestCondition& rq,
                                    const std::vector<ModelProfile>& models) {
  auto unknown = [&](const std::string& name) -> const ModelProfile* {
    for (const ModelProfile& m : models) {
      if (m.name == name && !m.accuracy_unknown.empty()) return &m;
    }
    return nullptr;
  };
  auto message = [](const ModelProfile& m, double floor) {
    std::string msg = "min_accuracy ";
    msg += FormatDouble(floor);
    msg += " asks for an accuracy that model '";
    msg += m.name;
    msg += "' does not state: ";
    msg += m.accuracy_unknown;
    return msg;
  };
  if (rq.trace) {
    const ConfigNode* where = rq.trace_node ? rq.trace_node.get() : rq.node.get();
    for (const RequestSpec& r : *rq.trace) {
      if (!(r.min_accuracy > 0)) continue;
      if (const ModelProfile* m = unknown(r.model)) {
        std::string msg = rq.trace_file;
        msg += ":";
        msg += std::to_string(r.line);
        msg += ": ";
        msg += message(*m, r.min_accuracy);
        return where ? where->Error(msg) : Status::InvalidArgument(msg);
      }
    }
    return Status::Ok();
  }
  if (!(rq.min_accuracy > 0)) return Status::Ok();
  for (const ModelProfile& m : models) {
    if (m.accuracy_unknown.empty()) continue;
    const ConfigNode* where = rq.min_accuracy_node ? rq.min_accuracy_node.get() : rq.node.get();
    std::string msg = "requests '";
    msg += rq.name;
    msg += "': ";
    msg += message(m, rq.min_accuracy);
    msg += " (generated requests pick every model of the experiment)";
    return where ? where->Error(msg) : Status::InvalidArgument(msg);
  }
  return Status::Ok();
}

// `beliefs: {DEVICE: PROFILE}`: PROFILE is a devices/ name of the config root, or a path to a
// device profile (beside the experiment first, then as given). Its action space must be the
// device's own: a policy's action ids index both.
Status ParseBeliefs(const ConfigNode& root, const ConfigNode& beliefs,
                    const std::vector<std::string>& devices, Experiment& exp) {
  RETURN_IF_ERROR(beliefs.ExpectMap());
  for (const auto& [device, node] : beliefs.Entries()) {
    auto world = exp.cost_models.find(device);
    if (world == exp.cost_models.end()) {
      std::string msg = "'";
      msg += ToValidUtf8(device);
      msg += "' is not a device of the grid";
      const std::string near = NearestName(device, devices);
      if (!near.empty()) {
        msg += "; did you mean '";
        msg += near;
        msg += "'?";
      }
      msg += " (grid devices: ";
      msg += JoinNames(devices);
      msg += ")";
      return node.Error(msg);
    }
    ASSIGN_OR_RETURN(std::string profile, node.AsString());
    if (profile.empty()) return node.Error("expected a device profile name or path");
    auto dev = exp.catalog->Device(profile);
    if (!dev.ok()) return node.Error(dev.status().message());
    const CostModel& truth = *world->second;
    const std::string diff = ActionSpaceDifference(truth.device(), **dev);
    if (!diff.empty()) {
      std::string msg = "the policies cannot believe '";
      msg += profile;
      msg += "' on device '";
      msg += device;
      msg += "': a belief must offer the device's actions, and ";
      msg += diff;
      return node.Error(msg);
    }
    auto cm = CostModel::Create(**dev, exp.models, *exp.catalog, exp.cost);
    if (!cm.ok()) return node.Error(cm.status().message());
    if ((*cm)->actions().actions != truth.actions().actions) {
      return node.Error("the policies cannot believe '" + profile + "' on device '" + device +
                        "': its action space differs from the device's");
    }
    exp.beliefs[device] = profile;
    exp.belief_cost_models[device] = std::shared_ptr<const CostModel>(std::move(cm).value());
  }
  return Status::Ok();
}

}  // namespace

std::string ActionSpaceDifference(const DeviceProfile& world, const DeviceProfile& belief) {
  auto precisions = [](const TargetProfile& t) {
    std::string out = "[";
    for (size_t i = 0; i < t.precisions.size(); ++i) {
      if (i) out += ", ";
      out += PrecisionName(t.precisions[i]);
    }
    return out + "]";
  };
  // "in sd845 but ... in sd845_believed"
  auto in = [](const DeviceProfile& d) {
    std::string out = " in ";
    out += d.name;
    return out;
  };
  const size_t n = std::min(world.targets.size(), belief.targets.size());
  for (size_t i = 0; i < n; ++i) {
    const TargetProfile& w = world.targets[i];
    const TargetProfile& b = belief.targets[i];
    std::string msg = "target ";
    if (w.name != b.name) {
      msg += std::to_string(i + 1);
      msg += " is '";
      msg += w.name;
      msg += "'";
      msg += in(world);
      msg += " but '";
      msg += b.name;
      msg += "'";
      msg += in(belief);
      return msg;
    }
    msg += "'";
    msg += w.name;
    msg += "'";
    if (w.kind != b.kind) {
      msg += " is of kind ";
      msg += TargetKindName(w.kind);
      msg += in(world);
      msg += " but ";
      msg += TargetKindName(b.kind);
      msg += in(belief);
      return msg;
    }
    if (w.precisions != b.precisions) {
      msg += " has precisions ";
      msg += precisions(w);
      msg += in(world);
      msg += " but ";
      msg += precisions(b);
      msg += in(belief);
      return msg;
    }
    if (w.levels.size() != b.levels.size()) {
      msg += " has ";
      msg += std::to_string(w.levels.size());
      msg += " levels";
      msg += in(world);
      msg += " but ";
      msg += std::to_string(b.levels.size());
      msg += in(belief);
      return msg;
    }
  }
  if (world.targets.size() != belief.targets.size()) {
    const bool more = belief.targets.size() > world.targets.size();
    const DeviceProfile& longer = more ? belief : world;
    std::string msg = world.name;
    msg += " has ";
    msg += std::to_string(world.targets.size());
    msg += " targets but ";
    msg += belief.name;
    msg += " has ";
    msg += std::to_string(belief.targets.size());
    msg += " (target '";
    msg += longer.targets[n].name;
    msg += "' is only";
    msg += in(longer);
    msg += ")";
    return msg;
  }
  return "";
}

const CostModel& Experiment::PolicyCostModel(const std::string& device) const {
  auto b = belief_cost_models.find(device);
  return b != belief_cost_models.end() ? *b->second : *cost_models.at(device);
}

Result<Experiment> LoadExperiment(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseExperiment(root, ConfigSearchRoots(root.Directory()));
}

Result<Experiment> ParseExperiment(const ConfigNode& root, const std::string& config_root) {
  return ParseExperiment(root, std::vector<std::string>{config_root});
}

Result<Experiment> ParseExperiment(const ConfigNode& root, std::vector<std::string> roots) {
  const KeyTable& keys = ExperimentKeys();
  RETURN_IF_ERROR(keys.Check(root));
  Experiment exp;
  exp.file = root.file();
  ASSIGN_OR_RETURN(exp.name, root.GetString("name"));
  {
    // The name is the default report folder, results/NAME: one plain path component.
    bool ok = !exp.name.empty() && exp.name.size() <= 128 && exp.name[0] != '.' &&
              exp.name[0] != '-';
    for (char c : exp.name) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.');
    }
    if (!ok) {
      return root.Child("name")->Error(
          "experiment name '" + ToValidUtf8(exp.name) +
          "' must be 1 to 128 letters, digits, '_', '-' or '.', not starting with '.' or '-' "
          "(it names the report folder results/NAME)");
    }
  }
  ASSIGN_OR_RETURN(exp.description, root.GetString("description", ""));
  // Where names are looked up: an explicit config_root (then the shipped configs), else the
  // roots the caller found (beside the file, then the shipped configs).
  if (auto cr = root.Optional("config_root")) {
    ASSIGN_OR_RETURN(std::string dir, cr->AsString());
    if (!dir.empty() && dir[0] != '/') dir = root.Directory() + "/" + dir;
    if (!std::filesystem::is_directory(dir + "/devices")) {
      return cr->Error("no devices/ folder under config root '" + dir + "'");
    }
    roots.erase(std::remove(roots.begin(), roots.end(), dir), roots.end());
    roots.insert(roots.begin(), dir);
  }
  if (roots.empty()) return root.Error("no folder to look up profiles in");
  exp.config_root = roots.front();
  exp.catalog = std::make_shared<ProfileCatalog>(roots, root.Directory());

  // Seeds and sizes.
  if (auto seeds = root.Optional("seeds")) {
    RETURN_IF_ERROR(seeds->ExpectSequence());
    for (size_t i = 0; i < seeds->size(); ++i) {
      ASSIGN_OR_RETURN(int64_t s, seeds->At(i).AsInt());
      if (s < 0) return seeds->At(i).Error("seeds must be non-negative");
      exp.seeds.push_back(static_cast<uint64_t>(s));
    }
    if (exp.seeds.empty()) return seeds->Error("expected at least one seed");
    if (exp.seeds.size() > kMaxSeeds) {
      return seeds->Error("at most " + std::to_string(kMaxSeeds) + " seeds are allowed, got " +
                          std::to_string(exp.seeds.size()));
    }
  } else {
    exp.seeds = {1};
  }
  ASSIGN_OR_RETURN(double train_n, keys.Number(root, "train_requests"));
  ASSIGN_OR_RETURN(double eval_n, keys.Number(root, "eval_requests"));
  ASSIGN_OR_RETURN(double epochs, keys.Number(root, "train_epochs"));
  ASSIGN_OR_RETURN(double bins, keys.Number(root, "series_bins"));
  exp.train_requests = static_cast<size_t>(train_n);
  exp.eval_requests = static_cast<size_t>(eval_n);
  exp.train_epochs = static_cast<int>(epochs);
  exp.series_bins = static_cast<int>(bins);

  // World and reward.
  if (auto w = root.Optional("world")) {
    const KeyTable& wk = WorldKeys();
    RETURN_IF_ERROR(wk.Check(*w));
    ASSIGN_OR_RETURN(exp.world.compute_noise, wk.Number(*w, "compute_noise"));
    ASSIGN_OR_RETURN(exp.world.network_noise, wk.Number(*w, "network_noise"));
    ASSIGN_OR_RETURN(exp.world.remote_failure_rate, wk.Number(*w, "remote_failure_rate"));
    ASSIGN_OR_RETURN(exp.cost.remote_timeout_ms, wk.Number(*w, "remote_timeout_ms"));
    ASSIGN_OR_RETURN(exp.world.queueing, wk.Bool(*w, "queueing"));
  }
  if (auto r = root.Optional("reward")) {
    const KeyTable& rk = RewardKeys();
    RETURN_IF_ERROR(rk.Check(*r));
    ASSIGN_OR_RETURN(exp.reward.qos_penalty_mj, rk.Number(*r, "qos_penalty_mj"));
    ASSIGN_OR_RETURN(exp.reward.accuracy_penalty_mj, rk.Number(*r, "accuracy_penalty_mj"));
  }

  // Models: a user's NAME.pt in model_dir is that model (its profile derived from the file),
  // before any shipped profile of the same name; other names come from configs/models.
  if (auto md = root.Optional("model_dir")) {
    ASSIGN_OR_RETURN(exp.model_dir, md->AsString());
    if (!exp.model_dir.empty() && exp.model_dir[0] != '/') {
      exp.model_dir = root.Directory() + "/" + exp.model_dir;
    }
    std::error_code ec;
    if (exp.model_dir.empty() || !std::filesystem::is_directory(exp.model_dir, ec)) {
      return md->Error("'" + exp.model_dir + "' is not a folder");
    }
  }
  {
    ASSIGN_OR_RETURN(ConfigNode mnode, root.Child("models"));
    std::vector<std::string> names;
    if (mnode.IsScalar() && mnode.raw().Scalar() == "all") {
      names = exp.catalog->Available("models");
      for (const std::string& u : UserModelNamesIn(exp.model_dir)) {
        if (std::find(names.begin(), names.end(), u) == names.end()) names.push_back(u);
      }
    } else {
      ASSIGN_OR_RETURN(names, mnode.AsStringList());
    }
    if (names.empty()) return mnode.Error("expected at least one model");
    for (size_t i = 0; i < names.size(); ++i) {
      const ConfigNode where = mnode.IsSequence() ? mnode.At(i) : mnode;
      for (size_t j = 0; j < i; ++j) {
        if (names[j] == names[i]) return where.Error("model '" + names[i] + "' is listed twice");
      }
      if (HasUserModel(exp.model_dir, names[i])) {
        auto m = ProfileUserModel(exp.model_dir, names[i]);
        if (!m.ok()) return where.Error(m.status().message());
        m->name = names[i];
        exp.models.push_back(std::move(m).value());
        continue;
      }
      auto m = exp.catalog->Model(names[i]);
      if (!m.ok()) {
        std::string msg = m.status().message();
        if (!exp.model_dir.empty()) {
          msg += " (nor is there " + exp.model_dir + "/" + names[i] + ".pt or a Triton folder " +
                 exp.model_dir + "/" + names[i] + "/)";
        }
        return where.Error(msg);
      }
      exp.models.push_back(**m);
    }
  }

  // Conditions: from shared files, then inline.
  ConditionLibrary lib;
  if (auto c = root.Optional("conditions")) {
    ASSIGN_OR_RETURN(std::vector<std::string> files, c->AsStringList());
    for (const auto& f : files) {
      // A scenario by name (scenarios/NAME.yaml beside the experiment, then the shipped one),
      // or a path relative to the experiment.
      auto path = exp.catalog->Find("scenarios", f);
      if (!path.ok()) return c->Error(path.status().message());
      auto cnode = ConfigNode::LoadFile(*path);
      if (!cnode.ok()) return c->Error(cnode.status().message());
      RETURN_IF_ERROR(ConditionFileKeys().Check(*cnode));
      RETURN_IF_ERROR(lib.Parse(*cnode));
    }
  }
  RETURN_IF_ERROR(lib.Parse(root));

  // The grid.
  // The targets efficiency is measured against; every device must have them (checked below).
  if (auto refs = root.Optional("references")) {
    RETURN_IF_ERROR(ReferenceKeys().Check(*refs));
    ASSIGN_OR_RETURN(exp.cpu_reference_target, ReferenceKeys().String(*refs, "cpu"));
    ASSIGN_OR_RETURN(exp.cloud_reference_target, ReferenceKeys().String(*refs, "cloud"));
  }
  ASSIGN_OR_RETURN(ConfigNode grid, root.Child("grid"));
  RETURN_IF_ERROR(GridKeys().Check(grid));
  ASSIGN_OR_RETURN(auto devices, NameList(grid, "devices"));
  ASSIGN_OR_RETURN(auto networks, NameList(grid, "networks"));
  ASSIGN_OR_RETURN(auto loads, NameList(grid, "loads"));
  ASSIGN_OR_RETURN(auto requests, NameList(grid, "requests"));
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string& d = devices[i];
    auto where =
        grid.Child("devices")->IsSequence() ? grid.Child("devices")->At(i) : *grid.Child("devices");
    auto dev = exp.catalog->Device(d);
    if (!dev.ok()) return where.Error(dev.status().message());
    auto cm = CostModel::Create(**dev, exp.models, *exp.catalog, exp.cost);
    if (!cm.ok()) return where.Error(cm.status().message());
    for (const std::string* ref : {&exp.cpu_reference_target, &exp.cloud_reference_target}) {
      if ((*cm)->actions().Find(*ref, Precision::kFp32) < 0) {
        return where.Error("device '" + d + "' has no fp32 target '" + *ref +
                           "', which efficiency is measured against");
      }
    }
    exp.cost_models[d] = std::shared_ptr<const CostModel>(std::move(cm).value());
  }
  if (auto b = root.Optional("beliefs")) RETURN_IF_ERROR(ParseBeliefs(root, *b, devices, exp));
  auto located = [&](const char* key, const Status& s) {
    return grid.Child(key)->Error(s.message());
  };
  // Sized before building: each scenario holds copies of its conditions.
  const double num_scenarios = static_cast<double>(devices.size()) * networks.size() *
                               loads.size() * requests.size();
  if (num_scenarios > static_cast<double>(kMaxScenarios)) {
    return grid.Error("the grid makes " + FormatDouble(num_scenarios) + " scenarios; at most " +
                      std::to_string(kMaxScenarios) + " are allowed");
  }
  for (const auto& d : devices) {
    for (const auto& n : networks) {
      auto net = lib.Network(n);
      if (!net.ok()) return located("networks", net.status());
      for (const auto& l : loads) {
        auto load = lib.Load(l);
        if (!load.ok()) return located("loads", load.status());
        for (const auto& r : requests) {
          auto req = lib.Requests(r);
          if (!req.ok()) return located("requests", req.status());
          Scenario sc;
          sc.name = d + "/" + n + "/" + l + "/" + r;
          sc.device = d;
          sc.network = **net;
          sc.load = **load;
          sc.requests = **req;
          // A floor on a model whose accuracy nobody stated, a floor no action can meet, or a
          // trace naming a model outside the catalogue, is refused now (sim would otherwise meet
          // it mid-run, and check-config never).
          RETURN_IF_ERROR(CheckFloorsOnUnknownAccuracy(sc.requests, exp.models));
          RETURN_IF_ERROR(CheckRequestsServable(sc, *exp.cost_models.at(d)));
          // The network profiles episodes read link curves from (loaded, cached, now).
          for (const auto& [connected, profile] :
               {std::pair{sc.network.wifi.connected, "wifi"}, {sc.network.cell.connected, "lte"}}) {
            if (!connected) continue;
            auto np = exp.catalog->Network(profile);
            if (!np.ok()) return located("networks", np.status());
          }
          exp.scenarios.push_back(std::move(sc));
        }
      }
    }
  }

  ASSIGN_OR_RETURN(ConfigNode pol, root.Child("policies"));
  RETURN_IF_ERROR(ParsePolicies(pol, exp));

  // The whole run's work, before any of it is done: every (scenario, seed) job replays its
  // evaluation episode for the oracle and the two references, then trains and evaluates each
  // policy.
  const double per_job = static_cast<double>(exp.train_requests) * exp.train_epochs *
                             static_cast<double>(exp.policies.size()) +
                         static_cast<double>(exp.eval_requests) * (exp.policies.size() + 3);
  const double work = per_job * static_cast<double>(exp.scenarios.size() * exp.seeds.size());
  if (work > kMaxSimulatedRequests) {
    return root.Error("this experiment would simulate " + FormatDouble(work, 3) +
                      " requests (scenarios x seeds x (policies x train_requests x "
                      "train_epochs + (policies + 3) x eval_requests)); at most " +
                      FormatDouble(kMaxSimulatedRequests, 3) + " are allowed");
  }
  return exp;
}

namespace {

RunSummary Summarise(const Scenario& sc, const std::string& label, uint64_t seed,
                     const RunMetrics& m, const RunMetrics* train_series,
                     const RunMetrics& eval_series, const RunMetrics& oracle_series,
                     const CostModel& cm, double oracle_e, double cpu_e, double cloud_e) {
  RunSummary s;
  s.scenario = sc.name;
  s.device = sc.device;
  s.network = sc.network.name;
  s.load = sc.load.name;
  s.requests_condition = sc.requests.name;
  s.policy = label;
  s.seed = seed;
  s.requests = m.requests();
  s.energy_mj_per_inference = m.EnergyPerInference();
  s.latency_ms_p50 = m.LatencyPercentile(0.50);
  s.latency_ms_p99 = m.LatencyPercentile(0.99);
  s.qos_violation_rate = m.QosViolationRate();
  s.accuracy_violation_rate = m.AccuracyViolationRate();
  s.failure_rate = m.FailureRate();
  s.satisfied_rate = m.SatisfiedRate();
  s.satisfaction = m.Satisfaction();
  s.oracle_agreement = m.OracleAgreement();
  const double e = s.energy_mj_per_inference;
  s.energy_vs_oracle = oracle_e > 0 ? e / oracle_e : 0;
  s.efficiency_vs_cpu = e > 0 ? cpu_e / e : 0;
  s.efficiency_vs_cloud = e > 0 ? cloud_e / e : 0;
  s.target_names = cm.actions().target_names;
  s.target_counts = m.target_counts();
  if (train_series) {
    s.train_series = train_series->Series();
    for (double& v : s.train_series) v = RoundSignificant(v);
  }
  s.eval_vs_oracle_series = eval_series.Series();
  const std::vector<double> oracle = oracle_series.Series();
  for (size_t b = 0; b < s.eval_vs_oracle_series.size(); ++b) {
    double& v = s.eval_vs_oracle_series[b];
    v = b < oracle.size() && oracle[b] > 0 ? RoundSignificant(v / oracle[b])
                                           : std::numeric_limits<double>::quiet_NaN();
  }
  return s;
}

struct JobResult {
  std::vector<RunSummary> runs;             // policy order
  std::vector<LatencyHistogram> latencies;  // policy order
};

// One (scenario, seed): the references, then every policy. Returns summaries in policy order.
Result<JobResult> RunJob(const Experiment& exp, const Scenario& sc, uint64_t seed,
                         const std::string& save_dir, size_t* simulated) {
  const CostModel& cm = *exp.cost_models.at(sc.device);      // the truth: world, oracle
  const CostModel& belief = exp.PolicyCostModel(sc.device);  // what the other policies believe
  const uint64_t h = HashString(sc.name);
  const size_t train_n = exp.train_requests, eval_n = exp.eval_requests;
  ASSIGN_OR_RETURN(Episode train, BuildEpisode(sc, exp.models, *exp.catalog, 0, train_n, seed, 0));
  ASSIGN_OR_RETURN(Episode eval,
                   BuildEpisode(sc, exp.models, *exp.catalog, train_n, eval_n, seed, 1));
  World train_world(cm, train, exp.world, Mix64(seed, h, 100));
  World eval_world(cm, eval, exp.world, Mix64(seed, h, 101));
  const int ntargets = static_cast<int>(cm.actions().target_names.size());
  const size_t train_total = train_n * exp.train_epochs;

  PolicyContext ctx;
  ctx.cost_model = &cm;
  ctx.oracle = &eval_world;
  ctx.reward = exp.reward;
  ctx.seed = Mix64(seed, h, 7);

  // References: the oracle (whose choices agreement is measured against), always-CPU and
  // always-cloud, over the evaluation episode.
  auto run_eval = [&](Policy& p, RunMetrics& m, RunMetrics& s, std::vector<int>* actions,
                      const std::vector<int>* oracle) {
    EpisodeRecording rec;
    rec.metrics = &m;
    rec.series = &s;
    rec.series_offset = 0;
    rec.actions = actions;
    rec.oracle = oracle;
    RunEpisode(p, cm, eval, eval_world, /*training=*/false, rec);
    *simulated += eval.size();
  };
  std::vector<int> oracle_actions;
  OraclePolicy oracle(ctx);
  RunMetrics oracle_m(ntargets, exp.series_bins, eval_n), oracle_s = oracle_m;
  run_eval(oracle, oracle_m, oracle_s, &oracle_actions, nullptr);
  auto static_energy = [&](const std::string& target) {
    StaticPolicy p(ctx, cm.actions().Find(target, Precision::kFp32));
    RunMetrics m(ntargets, 1, 1), s = m;
    run_eval(p, m, s, nullptr, nullptr);
    return m.EnergyPerInference();
  };
  const double oracle_e = oracle_m.EnergyPerInference();
  const double cpu_e = static_energy(exp.cpu_reference_target);
  const double cloud_e = static_energy(exp.cloud_reference_target);

  JobResult out;
  for (size_t pi = 0; pi < exp.policies.size(); ++pi) {
    const PolicySpec& spec = exp.policies[pi];
    if (spec.name == "oracle" && !spec.params) {
      // Agreement with itself is 1 by definition; reuse the reference run.
      out.runs.push_back(Summarise(sc, spec.label, seed, oracle_m, nullptr, oracle_s, oracle_s, cm,
                                   oracle_e, cpu_e, cloud_e));
      out.runs.back().oracle_agreement = 1.0;
      out.latencies.push_back(oracle_m.Latencies());
      continue;
    }
    PolicyContext pctx = ctx;
    if (spec.name != "oracle") pctx.cost_model = &belief;
    pctx.seed = Mix64(seed, h, 1000 + pi);
    ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy,
                     CreatePolicy(spec.name, spec.params.get(), pctx));
    RunMetrics m(ntargets, exp.series_bins, eval_n), series = m;
    RunMetrics train_series(ntargets, exp.series_bins, train_total);
    if (policy->learns()) {
      for (int e = 0; e < exp.train_epochs; ++e) {
        EpisodeRecording rec;
        rec.series = &train_series;
        rec.series_offset = train_n * e;
        RunEpisode(*policy, cm, train, train_world, /*training=*/true, rec);
        *simulated += train.size();
      }
    }
    run_eval(*policy, m, series, nullptr, &oracle_actions);
    if (!save_dir.empty() && policy->learns()) {
      std::string file = sc.name;
      std::replace(file.begin(), file.end(), '/', '_');
      const std::string dir = save_dir + "/" + spec.label;
      RETURN_IF_ERROR(MakeDirs(dir));
      RETURN_IF_ERROR(policy->Save(dir + "/" + file + "_seed" + std::to_string(seed) + ".qtable"));
    }
    out.runs.push_back(Summarise(sc, spec.label, seed, m,
                                 policy->learns() && train_total > 0 ? &train_series : nullptr,
                                 series, oracle_s, cm, oracle_e, cpu_e, cloud_e));
    out.latencies.push_back(m.Latencies());
  }
  return out;
}

}  // namespace

double JobMemoryBytes(const Experiment& exp) {
  // Measured: a job of 1e7 training and 1e7 evaluation requests peaks at 0.61 GB (episodes: 20
  // bytes a request; latencies, actions and metrics of the evaluation). On top: each episode's
  // copy of every quantity's trace (a time and a value per sample; generated ones at most
  // kMaxEpisodeGeneratedSamples), for two episodes, with room for the copy made while shifting.
  constexpr double kBytesPerRequest = 30;
  constexpr double kBytesPerSample = 2 * sizeof(double) * 2 * 1.5;
  double samples = 0;
  for (const Scenario& sc : exp.scenarios) {
    double n = 0;
    auto add = [&](const QuantitySpec* q) {
      if (q == nullptr) return;
      switch (q->kind) {
        case QuantitySpec::Kind::kTrace:
          n += static_cast<double>(q->trace->size());
          break;
        case QuantitySpec::Kind::kOu:
        case QuantitySpec::Kind::kOnOff:
          n += static_cast<double>(kMaxEpisodeGeneratedSamples);
          break;
        case QuantitySpec::Kind::kConstant:
          n += 1;
          break;
      }
    };
    for (const LinkSpec* l : {&sc.network.wifi, &sc.network.cell}) {
      add(&l->signal_dbm);
      add(l->down_mbps.get());
      add(l->up_mbps.get());
    }
    for (const QuantitySpec* q : {&sc.network.p2p_dbm, &sc.load.cpu, &sc.load.gpu, &sc.load.mem}) {
      add(q);
    }
    samples = std::max(samples, n);
  }
  return kBytesPerRequest * static_cast<double>(exp.train_requests + exp.eval_requests) +
         kBytesPerSample * samples;
}

Result<ExperimentResult> RunExperiment(const Experiment& exp, const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Shard shard = options.shard;
  if (shard.count == 0 || shard.index >= shard.count) {
    return Status::InvalidArgument("shard " + std::to_string(shard.index) + "/" +
                                   std::to_string(shard.count) +
                                   ": expected an index from 0 to count - 1");
  }
  const size_t all_jobs = exp.scenarios.size() * exp.seeds.size();
  std::vector<size_t> jobs;  // this shard's, ascending
  for (size_t j = 0; j < all_jobs; ++j) {
    if (shard.Holds(j)) jobs.push_back(j);
  }
  const size_t njobs = jobs.size();
  std::vector<std::vector<RunSummary>> results(njobs);
  std::vector<Status> errors(njobs);
  std::vector<size_t> simulated(njobs, 0);
  std::atomic<size_t> next{0};
  std::mutex progress_mu;
  size_t done = 0;  // guarded by progress_mu
  // Counts add exactly, in any order: the pooled histograms do not depend on the threads.
  std::vector<LatencyHistogram> latencies(exp.policies.size());  // guarded by progress_mu

  auto worker = [&] {
    for (size_t k = next++; k < njobs; k = next++) {
      const size_t j = jobs[k];
      const Scenario& sc = exp.scenarios[j / exp.seeds.size()];
      const uint64_t seed = exp.seeds[j % exp.seeds.size()];
      auto r = RunJob(exp, sc, seed, options.save_dir, &simulated[k]);
      std::lock_guard<std::mutex> lock(progress_mu);
      if (r.ok()) {
        results[k] = std::move(r->runs);
        for (size_t p = 0; p < latencies.size(); ++p) latencies[p].Merge(r->latencies[p]);
      } else {
        errors[k] = r.status().WithPrefix("scenario " + sc.name + ", seed " + std::to_string(seed));
      }
      ++done;
      if (options.progress) options.progress(done, njobs, sc.name);
    }
  };
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp<int>(threads, 1, static_cast<int>(std::max<size_t>(1, njobs)));
  // Jobs in flight hold their episodes: at most kMaxJobsMemoryBytes between them.
  threads = std::min<int>(threads, static_cast<int>(std::max<double>(
                                       1.0, kMaxJobsMemoryBytes / JobMemoryBytes(exp))));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  ExperimentResult res;
  for (size_t k = 0; k < njobs; ++k) {
    if (!errors[k].ok()) return errors[k];
    res.simulated_requests += simulated[k];
  }
  // Order: scenario, then policy, then seed (this shard's jobs are ascending: scenario-major).
  for (size_t k = 0; k < njobs;) {
    const size_t s = jobs[k] / exp.seeds.size();
    size_t end = k;
    while (end < njobs && jobs[end] / exp.seeds.size() == s) ++end;
    for (size_t p = 0; p < exp.policies.size(); ++p) {
      for (size_t i = k; i < end; ++i) res.runs.push_back(std::move(results[i][p]));
    }
    k = end;
  }
  res.latencies = std::move(latencies);
  res.shard = shard;
  res.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace autoscale
