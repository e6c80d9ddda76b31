// The local targets compiled into this build (cpu and cpu_pipeline with libtorch, opencl, dsp),
// created by name.
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
  // e.g. cpu_little); "" = the first cpu target. cpu_pipeline: the reference's pipelined target
  // whose stage targets power the stages, and the target's name.
  std::string power_target;
  // cpu_pipeline (targets/cpu/pipeline_target.h): the stages, each a core group (empty: not
  // pinned) with its intra-op threads (0: one per CPU). None: one stage per cpufreq cluster,
  // else the allowed CPUs in two halves.
  struct Stage {
    std::vector<int> cpus;
    int threads = 0;
  };
  std::vector<Stage> stages;
  int max_in_flight = 8;     // cpu_pipeline: requests inside the stages at once
  int search_requests = 12;  // cpu_pipeline: the measured split search (0: the balanced split)
};

// "cpu", "cpu_pipeline", "opencl", "dsp": every local target this program knows, built in or
// not.
std::vector<std::string> LocalTargetNames();

// Creates the named targets (when `names` is empty, the processors: cpu, opencl and dsp; not
// cpu_pipeline, which runs on the CPU's cores too). A target not built into this binary is an
// error naming the CMake option that builds it; one built in but without hardware is created
// unavailable, saying why.
//
// cpu_pipeline's modelled energy: stage i at the highest level's power of the reference's
// pipelined target `power_target`'s stage i (its last stage's beyond them), or, when the
// reference has no such pipelined target, of the reference's i-th CPU processor; plus the
// reference's base power.
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
