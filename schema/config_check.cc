#include "schema/config_check.h"

#include <filesystem>

#include <algorithm>
#include <memory>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "core/strings.h"
#include "env/profile_keys.h"
#include "env/profiles.h"
#include "policies/policy.h"
#include "sim/experiment.h"
#include "sim/experiment_keys.h"
#include "sim/scenario.h"
#include "targets/model_store.h"
#include "zoo/model_import.h"
#include "zoo/sidecar_keys.h"

namespace autoscale {

namespace {

// The table of each kind's top-level keys.
const KeyTable& TopLevelKeys(ConfigKind kind) {
  switch (kind) {
    case ConfigKind::kExperiment:
      return ExperimentKeys();
    case ConfigKind::kConditions:
      return ConditionFileKeys();
    case ConfigKind::kDevice:
      return DeviceProfileKeys();
    case ConfigKind::kNetwork:
      return NetworkProfileKeys();
    case ConfigKind::kModel:
      return ModelProfileKeys();
    case ConfigKind::kModelSidecar:
      return ModelSidecarKeys();
    case ConfigKind::kDaemon:
      return DaemonConfigKeys();
  }
  return ExperimentKeys();
}

bool InTable(const KeyTable& t, const std::string& key) {
  const auto& n = t.names();
  return std::find(n.begin(), n.end(), key) != n.end();
}

// Whether `key` of a document tells `kind` apart: it is a top-level key of that kind alone.
// `targets` is both a device profile's (a list) and the daemon's (a map): its shape decides.
bool Tells(ConfigKind kind, const std::string& key, const ConfigNode& value) {
  if (key == "targets") {
    return (kind == ConfigKind::kDevice && value.IsSequence()) ||
           (kind == ConfigKind::kDaemon && value.IsMap());
  }
  if (!InTable(TopLevelKeys(kind), key)) return false;
  for (ConfigKind other : kAllConfigKinds) {
    if (other != kind && InTable(TopLevelKeys(other), key)) return false;
  }
  return true;
}

// "a device profile has role, ...; ..." for errors about unknown kinds.
std::string KindsHint() {
  std::string out;
  for (ConfigKind kind : kAllConfigKinds) {
    std::vector<std::string> own = TellTaleKeys(kind);
    if (own.size() > 5) own.resize(5);
    if (!out.empty()) out += "; ";
    out += kind == ConfigKind::kExperiment ? "an " : "a ";
    out += ConfigKindName(kind);
    out += kind == ConfigKind::kConditions ? " file has only networks, loads and requests"
                                           : " has " + JoinNames(own);
  }
  return out;
}

std::string Shape(const ConfigNode& n) {
  if (n.IsNull()) return "nothing (an empty document)";
  if (n.IsSequence()) return "a list";
  if (n.IsScalar()) return "a single value";
  return "a map";
}

// The device, models and policy a daemon config names, checked against config_root, or where
// autoscaled looks names up (beside the config, then the shipped configs) when it is empty.
Status CheckDaemonReferences(const DaemonConfig& config, const std::string& config_root) {
  const std::string where = config.file;
  const std::string dir = std::filesystem::path(config.file).parent_path().string();
  ProfileCatalog catalog(config_root.empty() ? ConfigSearchRoots(dir)
                                             : std::vector<std::string>{config_root},
                         dir);
  auto device = catalog.Device(config.device);
  if (!device.ok()) return device.status().WithPrefix(where + ": device");
  RETURN_IF_ERROR(CheckTargetsOnDevice(config, **device));
  if (!config.engine.fallback.empty()) {
    bool bound = false;
    for (const TargetBinding& b : config.targets) {
      bound = bound || (b.name == config.engine.fallback && b.backend != "remote");
    }
    if (!bound) {
      return Status::InvalidArgument(where + ": fallback: '" + config.engine.fallback +
                                     "' is not a local target bound under targets");
    }
  }
  ModelStore store(config.model_dir);
  std::vector<ModelProfile> profiles;
  for (const std::string& name : config.models) {
    const std::string key = where + ": models: '" + name + "'";
    auto spec = store.Get(name);
    if (!spec.ok()) return spec.status().WithPrefix(key);
    if (!(*spec)->torchscript_path.empty()) continue;  // the user's: its sidecar loaded above
    auto profile = catalog.Model(name);
    if (!profile.ok()) return profile.status().WithPrefix(key);
    profiles.push_back(**profile);
  }
  // The policy and its params, on the device with the shipped models (a user's model's profile
  // is derived at start-up, on the bound targets).
  if (profiles.empty()) return Status::Ok();
  CostModelOptions cost_options;
  cost_options.remote_timeout_ms = config.engine.remote_timeout_ms;
  auto cost = CostModel::Create(**device, profiles, catalog, cost_options);
  if (!cost.ok()) return cost.status().WithPrefix(where);
  PolicyContext ctx;
  ctx.cost_model = cost->get();
  ctx.reward = config.engine.reward;
  ctx.seed = config.seed;
  auto policy =
      CreatePolicy(config.policy, config.policy_params ? &*config.policy_params : nullptr, ctx);
  if (!policy.ok()) {
    const std::string& msg = policy.status().message();
    if (msg.rfind(where, 0) == 0) return policy.status();
    return Status::InvalidArgument(where + ": policy: " + msg);
  }
  return Status::Ok();
}

}  // namespace

std::string_view ConfigKindName(ConfigKind kind) {
  switch (kind) {
    case ConfigKind::kExperiment:
      return "experiment";
    case ConfigKind::kConditions:
      return "conditions";
    case ConfigKind::kDevice:
      return "device profile";
    case ConfigKind::kNetwork:
      return "network profile";
    case ConfigKind::kModel:
      return "model profile";
    case ConfigKind::kModelSidecar:
      return "model sidecar";
    case ConfigKind::kDaemon:
      return "daemon config";
  }
  return "unknown";
}

std::vector<std::string> TellTaleKeys(ConfigKind kind) {
  std::vector<std::string> own;
  if (kind == ConfigKind::kConditions) return own;
  // Required keys first: they are in every file of the kind.
  std::vector<std::string> keys;
  for (bool required : {true, false}) {
    for (const KeySpec& k : TopLevelKeys(kind).keys()) {
      if (k.required == required) keys.push_back(k.name);
    }
  }
  for (const std::string& key : keys) {
    if (key == "targets") {
      own.push_back(kind == ConfigKind::kDevice ? "targets (a list)" : "targets (a map)");
      continue;
    }
    bool shared = false;
    for (ConfigKind other : kAllConfigKinds) {
      shared = shared || (other != kind && InTable(TopLevelKeys(other), key));
    }
    if (!shared) own.push_back(key);
  }
  return own;
}

Result<ConfigKind> DetectConfigKind(const ConfigNode& root) {
  const std::string cannot = "cannot tell which kind of configuration this is: ";
  if (!root.IsMap()) {
    std::string msg = cannot + "expected a map of keys at the top level, got " + Shape(root) +
                      " (" + KindsHint() + ")";
    // An empty document has no position of its own.
    if (root.IsNull()) return Status::InvalidArgument(root.file() + ":1:1: " + msg);
    return root.Error(msg);
  }
  std::vector<std::string> keys;
  for (const auto& [key, value] : root.Entries()) keys.push_back(key);
  if (keys.empty()) return root.Error(cannot + "the map is empty (" + KindsHint() + ")");
  int best = 0;
  std::vector<ConfigKind> winners;
  for (ConfigKind kind : kAllConfigKinds) {
    int score = 0;
    for (const auto& [key, value] : root.Entries()) score += Tells(kind, key, value);
    if (score > best) {
      best = score;
      winners.clear();
    }
    if (score == best && score > 0) winners.push_back(kind);
  }
  if (best == 0) {
    bool conditions = true;
    for (const std::string& key : keys) {
      conditions = conditions && InTable(ConditionFileKeys(), key);
    }
    if (conditions) return ConfigKind::kConditions;
  }
  if (winners.size() == 1) return winners.front();
  std::string msg = cannot + "its top-level keys (" + JoinNames(keys) + ") ";
  if (winners.empty()) {
    msg += "are none of any kind's own (" + KindsHint() + ")";
  } else {
    msg += "fit ";
    for (size_t i = 0; i < winners.size(); ++i) {
      msg += i == 0 ? "" : (i + 1 == winners.size() ? " and " : ", ");
      msg += winners[i] == ConfigKind::kExperiment ? "an " : "a ";
      msg += ConfigKindName(winners[i]);
    }
    msg += " equally; remove the keys of the kind it is not";
  }
  return root.Error(msg);
}

Status CheckDaemonConfig(const std::string& path, const std::string& config_root) {
  ASSIGN_OR_RETURN(DaemonConfig config, LoadDaemonConfig(path));
  return CheckDaemonReferences(config, config_root);
}

Status CheckConfigFile(const std::string& path, const std::string& config_root,
                       std::string* kind) {
  if (kind != nullptr) kind->clear();
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  ASSIGN_OR_RETURN(ConfigKind k, DetectConfigKind(root));
  if (kind != nullptr) *kind = std::string(ConfigKindName(k));
  switch (k) {
    case ConfigKind::kExperiment:
      // The same loading `sim` does: every profile, trace, table and size check.
      return LoadExperiment(path).status();
    case ConfigKind::kConditions: {
      RETURN_IF_ERROR(ConditionFileKeys().Check(root));
      ConditionLibrary lib;
      return lib.Parse(root);
    }
    case ConfigKind::kDevice:
      return ParseDeviceProfile(root).status();
    case ConfigKind::kNetwork:
      return ParseNetworkProfile(root).status();
    case ConfigKind::kModel:
      return ParseModelProfile(root).status();
    case ConfigKind::kModelSidecar:
      return LoadModelSidecar(path).status();
    case ConfigKind::kDaemon: {
      ASSIGN_OR_RETURN(DaemonConfig config, ParseDaemonConfig(root));
      return CheckDaemonReferences(config, config_root);
    }
  }
  return Status::Internal("unhandled configuration kind");
}

}  // namespace autoscale
