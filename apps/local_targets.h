// The local targets compiled into this build (cpu with libtorch, opencl, dsp), created by name.
// Backends register here and nowhere else (#if per backend, STYLE.md 11).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "env/profiles.h"
#include "targets/target.h"

namespace autoscale {

struct LocalTargetOptions {
  int threads = 0;        // CPU intra-op threads; 0 = one per allowed CPU
  std::vector<int> cpus;  // CPU affinity; empty = none
  // One CPU target per cpufreq cluster ("cpu_big", "cpu_little", ... after the reference's CPU
  // targets, fastest first), each pinned to its cores; ignored when `cpus` is set or the host
  // has a single cluster.
  bool per_cluster = true;
  std::string sysfs_root = "/sys";
  bool use_counters = true;
  // Supplies modelled power (cpu: its first cpu target, opencl: its gpu, dsp: its dsp).
  DeviceProfile reference;
};

// "cpu", "opencl", "dsp": every local target this program knows, built in or not.
std::vector<std::string> LocalTargetNames();

// Creates the named targets (all of LocalTargetNames() when `names` is empty). A target not
// built into this binary is an error naming the CMake option that builds it; one built in but
// without hardware is created unavailable, saying why.
Result<std::vector<std::unique_ptr<Target>>> CreateLocalTargets(
    const std::vector<std::string>& names, const LocalTargetOptions& options);

}  // namespace autoscale
