// Builds the daemon's engine from its configuration: device profile and model catalogue, the
// policy (with a Q-table trained by `autoscale sim` when its params name one), the targets bound
// to real backends, and the probes. Local backends come from a factory so that this layer does
// not depend on which of them the binary was built with (apps/local_targets.cc provides them).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/daemon_config.h"
#include "agent/engine.h"

namespace autoscale {

// Creates the local backend of a binding ("cpu", "opencl", "dsp") with `device` supplying the
// modelled power.
using LocalTargetFactory = std::function<Result<std::unique_ptr<Target>>(
    const TargetBinding& binding, const DeviceProfile& device)>;

// Every target the config binds is one of DEVICE's; else InvalidArgument "FILE: targets.NAME:
// device 'D' has no such target; did you mean ...? (its targets: ...)". A pipelined target of
// the profile (pipeline: {stages}) is bound with backend cpu_pipeline, and that backend binds
// only pipelined targets. BuildEngine and `autoscaled --check` (schema/config_check.h) both
// check it so.
Status CheckTargetsOnDevice(const DaemonConfig& config, const DeviceProfile& device);

// `roots`: where devices/, networks/ and models/ are looked up by name, in order (the daemon
// passes ConfigSearchRoots of its config's folder: beside the config, then the shipped ones); a
// path-like name is taken relative to the config file.
Result<std::unique_ptr<Engine>> BuildEngine(const DaemonConfig& config,
                                            const std::vector<std::string>& roots,
                                            const LocalTargetFactory& make_local);
// One root: where configs/devices, networks and models are.
Result<std::unique_ptr<Engine>> BuildEngine(const DaemonConfig& config,
                                            const std::string& config_root,
                                            const LocalTargetFactory& make_local);

}  // namespace autoscale
