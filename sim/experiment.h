// Experiments: a YAML grid of scenarios (devices x networks x loads x requests) x policies x
// seeds, each run trained on a training episode and scored on a held-out evaluation episode,
// in parallel on all cores. Schema in configs/README.md ("experiments/").
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "env/cost_model.h"
#include "env/profiles.h"
#include "policies/reward.h"
#include "sim/metrics.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace autoscale {

// Caps on an experiment's size, checked when it is loaded (so `check-config` refuses what `sim`
// would refuse), before anything is allocated for it.
inline constexpr size_t kMaxEpisodeRequests = 10'000'000;  // train_requests, eval_requests
inline constexpr size_t kMaxScenarios = 100'000;           // devices x networks x loads x requests
inline constexpr size_t kMaxSeeds = 10'000;
inline constexpr size_t kMaxPolicies = 1'000;
// Requests simulated in all (policies' training and evaluation, and the three references'
// evaluation): at the ~1 M requests/s per core measured on the default experiment, about three
// core-hours (the default experiment simulates 3.2e7).
inline constexpr double kMaxSimulatedRequests = 1e10;

// Memory the (scenario, seed) jobs running at once may hold between them: RunExperiment runs
// fewer threads than asked when JobMemoryBytes() times the threads would exceed it.
inline constexpr double kMaxJobsMemoryBytes = 4.0 * (1 << 30);

struct PolicySpec {
  std::string name;                    // registry name
  std::string label;                   // how reports call it (default: the name)
  std::shared_ptr<ConfigNode> params;  // may be null
};

struct Experiment {
  std::string name;
  std::string description;
  std::string file;         // where it was loaded from
  std::string config_root;  // the first of the roots names are looked up in
  std::vector<uint64_t> seeds;
  size_t train_requests = 20000;
  size_t eval_requests = 5000;
  int train_epochs = 1;
  int series_bins = 100;
  // Users' TorchScript models (NAME.pt + NAME.yaml), named in `models` like shipped ones: their
  // profiles are derived from the files (env/user_models.h); "" when the experiment has none.
  std::string model_dir;
  std::vector<ModelProfile> models;
  WorldOptions world;
  CostModelOptions cost;
  RewardConfig reward;
  std::vector<Scenario> scenarios;
  std::vector<PolicySpec> policies;
  // The references efficiency is measured against: always the mobile CPU, always the cloud.
  std::string cpu_reference_target = "cpu_big";
  std::string cloud_reference_target = "cloud";
  // `beliefs: {DEVICE: PROFILE}`: the device profile the policies believe on a world device
  // (PROFILE as written in the experiment), when it is not the device's own. The world and the
  // oracle always use the device's own profile.
  std::map<std::string, std::string> beliefs;
  // Loaded state the runs share (immutable once loaded).
  std::shared_ptr<ProfileCatalog> catalog;
  std::map<std::string, std::shared_ptr<const CostModel>> cost_models;  // by device name: the truth
  // Built from `beliefs`, same action space as the device's own (checked at load).
  std::map<std::string, std::shared_ptr<const CostModel>> belief_cost_models;  // by device name

  // The cost model policies other than the oracle decide with on `device`: the belief's when
  // the experiment gives one, else the device's own.
  const CostModel& PolicyCostModel(const std::string& device) const;
};

// Empty when `belief` offers the same actions as `world` (targets with the same names, kinds and
// precisions, in the same order, and as many levels each); else what differs, in words.
std::string ActionSpaceDifference(const DeviceProfile& world, const DeviceProfile& belief);

// Loads and validates an experiment; every profile and trace it names is loaded now, so a bad
// file anywhere fails here, naming the file, line, column and key path.
// Names of devices, networks, models and scenarios are looked up beside the file first, then in
// the shipped configs (ConfigSearchRoots); paths are taken relative to the file.
Result<Experiment> LoadExperiment(const std::string& path);
// ROOTS: the config roots to look names up in, in order; `config_root:` in the file goes first.
Result<Experiment> ParseExperiment(const ConfigNode& root, std::vector<std::string> roots);
Result<Experiment> ParseExperiment(const ConfigNode& root, const std::string& config_root);

// Sharding: the experiment's (scenario, seed) jobs, numbered scenario-major (job j is scenario
// j / seeds, seed j % seeds), are dealt round-robin to `count` shards: shard `index` runs the jobs
// j with j % count == index. Deterministic, and balanced whatever the grid's order of costs.
struct Shard {
  size_t index = 0, count = 1;
  bool whole() const { return count == 1; }
  bool Holds(size_t job) const { return job % count == index; }
};

// The evaluation summary of one (scenario, policy, seed) run.
struct RunSummary {
  std::string scenario, device, network, load, requests_condition;
  std::string policy;  // label
  uint64_t seed = 0;
  uint64_t requests = 0;
  double energy_mj_per_inference = 0;
  double latency_ms_p50 = 0, latency_ms_p99 = 0;
  double qos_violation_rate = 0, accuracy_violation_rate = 0, failure_rate = 0;
  // Share of requests that met both the latency bound and the accuracy floor, and the mean
  // satisfaction score (sim/metrics.h, SatisfactionScore).
  double satisfied_rate = 0, satisfaction = 0;
  double oracle_agreement = 0;
  double energy_vs_oracle = 0;
  double efficiency_vs_cpu = 0, efficiency_vs_cloud = 0;
  std::vector<std::string> target_names;
  std::vector<uint64_t> target_counts;
  // Energy per inference over training (Experiment::series_bins windows of the training
  // requests, every epoch; empty for a policy that does not learn), and, over evaluation, each
  // window's energy per inference divided by the oracle's on the same requests (the requests'
  // mix cancels out). NaN where a window holds no request. Rounded to 6 significant digits.
  std::vector<double> train_series;
  std::vector<double> eval_vs_oracle_series;
};

struct ExperimentResult {
  std::vector<RunSummary> runs;  // scenario-major, then policy, then seed: a fixed order
  // The evaluated requests' latencies of every run of each policy, pooled (experiment's policy
  // order), for percentiles over all requests.
  std::vector<LatencyHistogram> latencies;
  Shard shard;  // which jobs `runs` covers (whole() once merged)
  double wall_seconds = 0;
  size_t simulated_requests = 0;
};

struct RunOptions {
  int threads = 0;  // 0: all cores
  // When set, each learning policy's table is saved here after its run, as
  // DIR/LABEL/DEVICE_NETWORK_LOAD_REQUESTS_seedN.qtable (loadable with params: {table: FILE}).
  std::string save_dir;
  // Called after each (scenario, seed) job: (done, total, scenario name). Serialised.
  std::function<void(size_t, size_t, const std::string&)> progress;
  // Runs only this shard's jobs (`runs` then holds theirs, in the same fixed order).
  Shard shard;
};

Result<ExperimentResult> RunExperiment(const Experiment& exp, const RunOptions& options = {});

// An upper estimate of the memory one (scenario, seed) job of `exp` holds.
double JobMemoryBytes(const Experiment& exp);

}  // namespace autoscale
