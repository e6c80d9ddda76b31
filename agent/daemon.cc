// BuildEngine: configuration -> cost model, policy, bound targets, probes, engine.
#include "agent/daemon.h"

#include "core/strings.h"
#include "targets/model_store.h"

namespace autoscale {

Result<std::unique_ptr<Engine>> BuildEngine(const DaemonConfig& config,
                                            const std::string& config_root,
                                            const LocalTargetFactory& make_local) {
  const std::string where = config.file.empty() ? "daemon config" : config.file;
  ProfileCatalog catalog(config_root);
  ASSIGN_OR_RETURN(std::shared_ptr<const DeviceProfile> device, catalog.Device(config.device));

  ModelStore store(config.model_dir);
  std::vector<EngineModel> models;
  std::vector<ModelProfile> profiles;
  for (const std::string& name : config.models) {
    if (store.ShadowsZoo(name)) {
      // The file is the user's network, but the daemon would describe it by the zoo's profile
      // (layer counts, MACs, accuracy): refuse rather than decide on a wrong description.
      return Status::InvalidArgument(
          where + ": models: '" + name + "': " + config.model_dir + "/" + name +
          ".pt is a user's model named like the zoo's '" + name + "', whose profile (configs/" +
          "models/" + name +
          ".yaml) describes the zoo's graph, not this file; rename the file "
          "(and give it a model profile) to serve it");
    }
    auto profile = catalog.Model(name);
    if (!profile.ok()) return profile.status().WithPrefix(where + ": models: '" + name + "'");
    auto spec = store.Get(name);
    if (!spec.ok()) return spec.status().WithPrefix(where + ": models: '" + name + "'");
    EngineModel m;
    m.profile = **profile;
    m.profile.name = name;
    m.spec = **spec;
    profiles.push_back(m.profile);
    models.push_back(std::move(m));
  }
  CostModelOptions cost_options;
  cost_options.remote_timeout_ms = config.engine.remote_timeout_ms;
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

  std::vector<BoundTarget> targets;
  for (const TargetBinding& b : config.targets) {
    const int d = device->FindTarget(b.name);
    if (d < 0) {
      std::vector<std::string> names;
      for (const auto& t : device->targets) names.push_back(t.name);
      return Status::InvalidArgument(where + ": targets." + b.name + ": device '" + device->name +
                                     "' has no such target (its targets: " + JoinNames(names) +
                                     ")");
    }
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

  ASSIGN_OR_RETURN(std::unique_ptr<SystemProbe> probe, SystemProbe::Create(config.probes));

  EngineOptions eo = config.engine;
  auto wifi = catalog.Network("wifi");
  if (wifi.ok()) eo.wifi = *wifi;
  return Engine::Create(std::move(cost_model), std::move(policy), std::move(models),
                        std::move(targets), std::move(probe), eo);
}

}  // namespace autoscale
