// BuildEngine: configuration -> cost model, policy, bound targets, probes, engine.
#include "agent/daemon.h"

#include <cstdio>
#include <filesystem>

#include "agent/model_profiles.h"
#include "core/logging.h"
#include "core/strings.h"
#include "targets/model_store.h"

namespace autoscale {

Status CheckTargetsOnDevice(const DaemonConfig& config, const DeviceProfile& device) {
  const std::string where = config.file.empty() ? "daemon config" : config.file;
  for (const TargetBinding& b : config.targets) {
    if (const int d = device.FindTarget(b.name); d >= 0) {
      // A pipelined target of the profile runs on the pipelined backend, and only it does.
      const TargetProfile& t = device.targets[d];
      const bool pipeline = b.backend == "cpu_pipeline";
      if (pipeline != t.is_pipeline()) {
        std::vector<std::string> pipelined;
        for (const auto& o : device.targets) {
          if (o.is_pipeline()) pipelined.push_back(o.name);
        }
        return Status::InvalidArgument(
            where + ": targets." + b.name + ": " +
            (pipeline ? "backend cpu_pipeline runs a pipelined target, and device '" + device.name +
                            "''s '" + b.name + "' is a processor (" +
                            (pipelined.empty() ? "it has no pipelined target"
                                               : "its pipelined targets: " + JoinNames(pipelined)) +
                            ")"
                      : "device '" + device.name + "''s '" + b.name + "' is pipelined (stages " +
                            JoinNames(t.pipeline_stages) + "): bind it with backend cpu_pipeline"));
      }
      continue;
    }
    std::vector<std::string> names;
    for (const auto& t : device.targets) names.push_back(t.name);
    std::string msg =
        where + ": targets." + b.name + ": device '" + device.name + "' has no such target";
    const std::string near = NearestName(b.name, names);
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    return Status::InvalidArgument(msg + " (its targets: " + JoinNames(names) + ")");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Engine>> BuildEngine(const DaemonConfig& config,
                                            const std::string& config_root,
                                            const LocalTargetFactory& make_local) {
  return BuildEngine(config, std::vector<std::string>{config_root}, make_local);
}

Result<std::unique_ptr<Engine>> BuildEngine(const DaemonConfig& config,
                                            const std::vector<std::string>& roots,
                                            const LocalTargetFactory& make_local) {
  const std::string where = config.file.empty() ? "daemon config" : config.file;
  ProfileCatalog catalog(
      roots, config.file.empty() ? "" : std::filesystem::path(config.file).parent_path().string());
  ASSIGN_OR_RETURN(std::shared_ptr<const DeviceProfile> device, catalog.Device(config.device));
  RETURN_IF_ERROR(CheckTargetsOnDevice(config, *device));

  std::vector<BoundTarget> targets;
  for (const TargetBinding& b : config.targets) {
    const int d = device->FindTarget(b.name);
    BoundTarget bt;
    bt.name = b.name;
    if (b.backend == "remote") {
      RemoteOptions ro;
      ro.name = b.name;
      ro.kind = device->targets[d].kind;
      ro.endpoint = b.endpoint;
      ro.wire = b.wire;
      ro.default_timeout_ms = static_cast<int>(config.engine.remote_timeout_ms);
      ro.breaker.failures_to_open = b.failures_to_open;
      ro.breaker.open_cooldown_ms = static_cast<int>(b.open_cooldown_ms);
      ro.probe_interval_ms = static_cast<int>(b.probe_interval_ms);
      auto remote = RemoteTarget::Create(ro);
      if (!remote.ok()) return remote.status().WithPrefix(where + ": targets." + b.name);
      bt.remote = std::move(remote).value();
    } else {
      if (!make_local) {
        return Status::InvalidArgument(where + ": targets." + b.name + ": local backend '" +
                                       b.backend + "' is not available here");
      }
      auto local = make_local(b, *device);
      if (!local.ok()) return local.status().WithPrefix(where + ": targets." + b.name);
      bt.local = std::move(local).value();
    }
    targets.push_back(std::move(bt));
  }

  // Models: a user's NAME.pt in model_dir is that model, described from its file (features
  // from the import; accuracy from its sidecar or measured on the local targets bound above);
  // other names are the zoo's, described by configs/models.
  ModelStore store(config.model_dir);
  std::vector<EngineModel> models;
  std::vector<ModelProfile> profiles;
  for (const std::string& name : config.models) {
    const std::string key = where + ": models: '" + name + "'";
    auto spec = store.Get(name);
    if (!spec.ok()) return spec.status().WithPrefix(key);
    EngineModel m;
    m.spec = **spec;
    if (!m.spec.torchscript_path.empty()) {
      ProfileMeasurers measurers;
      for (BoundTarget& t : targets) {
        if (!t.local || !t.local->available()) continue;
        measurers.targets.push_back(t.local.get());
        if (measurers.reference == nullptr && t.local->Supports(m.spec, Precision::kFp32).ok()) {
          measurers.reference = t.local.get();
        }
      }
      auto derived = DeriveModelProfile(m.spec, measurers, config.agreement);
      if (!derived.ok()) return derived.status().WithPrefix(key);
      m.profile = std::move(derived).value();
      Log().info("model '{}' is {} (profile derived from the file):\n{}", name,
                 m.spec.torchscript_path, DescribeAccuracy(m.profile));
      if (!m.profile.accuracy_unknown.empty() && config.engine.default_min_accuracy > 0) {
        return Status::InvalidArgument(
            where + ": defaults.min_accuracy " + FormatDouble(config.engine.default_min_accuracy) +
            " would apply to requests for '" + name +
            "', whose accuracy is unknown: " + m.profile.accuracy_unknown);
      }
    } else {
      auto profile = catalog.Model(name);
      if (!profile.ok()) return profile.status().WithPrefix(key);
      m.profile = **profile;
    }
    m.profile.name = name;
    profiles.push_back(m.profile);
    models.push_back(std::move(m));
  }
  CostModelOptions cost_options;
  cost_options.remote_timeout_ms = config.engine.remote_timeout_ms;
  // The target an offload falls back to, chosen as Engine::Create chooses it (the configured one,
  // else the first available local one), so that predicted offloads reserve time for it.
  for (const BoundTarget& t : targets) {
    if (t.local && t.local->available() &&
        (config.engine.fallback.empty() || config.engine.fallback == t.name)) {
      cost_options.fallback = t.name;
      break;
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CostModel> cost,
                   CostModel::Create(*device, profiles, catalog, cost_options));
  std::shared_ptr<const CostModel> cost_model = std::move(cost);

  PolicyContext ctx;
  ctx.cost_model = cost_model.get();
  ctx.reward = config.engine.reward;
  ctx.seed = config.seed;
  ASSIGN_OR_RETURN(
      std::unique_ptr<Policy> policy,
      CreatePolicy(config.policy, config.policy_params ? &*config.policy_params : nullptr, ctx));

  ASSIGN_OR_RETURN(std::unique_ptr<SystemProbe> probe, SystemProbe::Create(config.probes));

  EngineOptions eo = config.engine;
  auto wifi = catalog.Network("wifi");
  if (wifi.ok()) eo.wifi = *wifi;
  return Engine::Create(std::move(cost_model), std::move(policy), std::move(models),
                        std::move(targets), std::move(probe), eo);
}

}  // namespace autoscale
