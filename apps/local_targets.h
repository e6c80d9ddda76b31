// The local targets compiled into this build (cpu with libtorch, opencl, dsp), created by name.
// Backends register here and nowhere else (#if per backend, STYLE.md 11).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "env/profiles.h"
#include "targets/layer_profiler.h"
#include "targets/target.h"

namespace autoscale {

struct LocalTargetOptions {
  int threads = 0;        // CPU intra-op threads; 0 = one per allowed CPU
  std::vector<int> cpus;  // CPU affinity; empty = none
  // One CPU target per cpufreq cluster ("cpu_big", "cpu_little", ... after the reference's CPU
  // targets, fastest first), each pinned to its cores; ignored when `cpus` is set or the host
  // has a single cluster.
  bool per_cluster = true;
  std::string sysfs_root = "/sys";  // energy counters and cpufreq
  bool use_counters = true;
  // cpu: set the cluster's frequency per run where cpufreq allows it (targets/cpufreq.h).
  bool set_frequency = true;
  // Supplies modelled power (cpu: its first cpu target, opencl: its gpu, dsp: its dsp).
  DeviceProfile reference;
  // cpu: the reference's target whose levels supply the power instead (the daemon's binding,
  // e.g. cpu_little); "" = the first cpu target.
  std::string power_target;
};

// "cpu", "opencl", "dsp": every local target this program knows, built in or not.
std::vector<std::string> LocalTargetNames();

// Creates the named targets (all of LocalTargetNames() when `names` is empty). A target not
// built into this binary is an error naming the CMake option that builds it; one built in but
// without hardware is created unavailable, saying why.
Result<std::vector<std::unique_ptr<Target>>> CreateLocalTargets(
    const std::vector<std::string>& names, const LocalTargetOptions& options);

// In-model layer timing on a local target (issue 11, point 7): `model` run whole at `precision`
// `runs` times after `warmup`, each graph node's median time inside the run and the median run
// (targets/layer_profiler.h's InModelRun; its graph is the model's). Unavailable for a target
// that cannot time a run node by node (only the libtorch CPU targets can: OpenCL's kernels are
// queued asynchronously and the DSP stub models its latency) and for a model without a graph.
Result<InModelRun> TimeModelNodes(Target& target, const ModelSpec& model, Precision precision,
                                  int warmup, int runs);

// Makes this program able to read users' TorchScript models: installs the TorchScript importer
// (zoo/model_import.h) and the user-model profiler (env/user_models.h) that `autoscale sim` and
// `check-config` use for an experiment's `model_dir`. The profiler derives a profile
// (agent/model_profiles.h), measuring agreement with FP32 on this machine's CPU target (int8)
// and, when built and present, the OpenCL target (fp16), and prints where each precision's
// accuracy comes from on stderr. Without libtorch it installs nothing, and asking for a user's
// model says that this build cannot read it.
void InstallModelReaders();

}  // namespace autoscale
