// autoscaled's configuration file (YAML; see configs/daemon/*.yaml for commented examples).
// Validated on load: unknown keys are errors with the nearest valid key suggested, and every
// error names the file, line, column and key path. Relative paths are relative to the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/engine_options.h"
#include "agent/model_profiles.h"
#include "agent/probes.h"
#include "core/config.h"
#include "core/config_schema.h"
#include "core/status.h"

namespace autoscale {

// How one target of the device profile is executed on this machine.
struct TargetBinding {
  std::string name;  // a target of the device profile ("cpu_big", "gpu", "cloud")
  // "cpu", "cpu_pipeline", "opencl", "dsp" (local) or "remote" (a KServe v2 worker)
  std::string backend;
  int threads = 0;  // cpu: intra-op threads (0 = one per allowed CPU)
  // cpu, dsp: pin the inference threads to these CPUs (empty = none); for cpu, the cpufreq
  // policy holding them is the cluster whose frequency the target sets.
  std::vector<int> cpus;
  // cpu: "auto" sets the cluster's frequency for each run where the host allows it (the
  // profile's levels run at the nearest real frequencies); "off" leaves it (one level).
  std::string cpufreq = "auto";
  // cpu_pipeline (targets/cpu/pipeline_target.h): the stages in order, each a core group with
  // its own intra-op threads. Empty: one stage per cpufreq cluster (fastest first), else the
  // allowed CPUs in two halves.
  struct Stage {
    std::vector<int> cpus;  // pinned to these (empty: not pinned)
    int threads = 0;        // 0: one per CPU in `cpus` (1 when not pinned)
  };
  std::vector<Stage> stages;
  int max_in_flight = 8;     // cpu_pipeline: requests inside the stages at once
  int search_requests = 12;  // cpu_pipeline: the measured split search at start-up (0: none)
  // remote:
  std::string endpoint;  // "127.0.0.1:8000", "unix:/run/worker.sock"
  std::string wire = "binary";
  int failures_to_open = 3;
  double open_cooldown_ms = 1000;
  double probe_interval_ms = 500;
};

struct DaemonConfig {
  std::string file;
  std::string device = "sd845";  // a configs/devices name or a profile path
  // The catalogue: a name with NAME.pt in model_dir is the user's model, its profile derived
  // from the file (agent/model_profiles.h); other names are zoo models with configs/models.
  std::vector<std::string> models;
  std::string model_dir;  // TorchScript models (NAME.pt + NAME.yaml)
  // How accuracy at a precision the sidecar does not state is estimated at start-up
  // (`accuracy_estimate: {samples, seed, batch}`).
  AgreementOptions agreement;
  // "unix:/PATH", "HOST:PORT" (loopback unless the server is told otherwise), or "default":
  // unix:RUNTIME/autoscaled.sock in a folder the daemon owns (agent/daemon_paths.h).
  std::string listen = "default";
  int io_threads = 2;
  size_t max_request_bytes = 32u << 20;
  // Bytes of inference requests held at once (bodies and their float tensors); beyond it 503.
  size_t max_inflight_bytes = 256u << 20;
  std::string policy = "q_learning";
  std::optional<ConfigNode> policy_params;
  std::vector<TargetBinding> targets;
  ProbeOptions probes;
  // state_file, save_interval_s, fallback, defaults (default_latency_bound_ms,
  // default_min_accuracy), remote_timeout_ms, reward, the assumed signals and `calibration`
  // (sample_rate, max_pending, prior_samples), as the engine takes them; BuildEngine adds the
  // Wi-Fi profile.
  EngineOptions engine;
  uint64_t seed = 1;
};

Result<DaemonConfig> LoadDaemonConfig(const std::string& path);
Result<DaemonConfig> ParseDaemonConfig(const ConfigNode& root);

// The key tables ParseDaemonConfig checks and reads through (core/config_schema.h), which the
// configuration reference (docs/configuration.md) prints.
const KeyTable& DaemonConfigKeys();      // top level
const KeyTable& DaemonPolicyKeys();      // policy, given as a map
const KeyTable& AccuracyEstimateKeys();  // accuracy_estimate
const KeyTable& CalibrationKeys();       // calibration
const KeyTable& RequestDefaultKeys();    // defaults
const KeyTable& TargetBindingKeys();     // targets.TARGET
const KeyTable& PipelineStageKeys();     // targets.TARGET.stages[]
const KeyTable& ProbeKeys();             // probes
// In the order the reference lists them.
std::vector<const KeyTable*> DaemonConfigTables();

}  // namespace autoscale
