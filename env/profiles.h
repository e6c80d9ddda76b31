// Device, network and model profiles: the sourced numbers the world model is built from
// (configs/devices, configs/networks, configs/models; schema in configs/README.md).
// Loaders validate everything and name file, line, column and key path on error.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "env/gpu_waves.h"
#include "env/layer_predictor.h"
#include "env/types.h"

namespace autoscale {

// ---- Models ----------------------------------------------------------------------------------

struct ModelProfile {
  std::string name;
  std::string task;
  int conv_layers = 0;
  int fc_layers = 0;
  int recurrent_layers = 0;
  double macs = 0;            // all multiply-accumulates of one inference
  double fc_macs = 0;         // of which in fully-connected layers
  double recurrent_macs = 0;  // of which in recurrent cells
  double params = 0;
  double input_bytes = 0;   // bytes sent when offloading one request
  double output_bytes = 0;  // bytes received back
  // Accuracy (0..1) per precision; negative when the model has no such variant.
  std::array<double, kNumPrecisions> accuracy = {-1, -1, -1};

  // A profile derived from a user's model file rather than written by hand (agent/
  // model_profiles.h): where it came from, and where each precision's accuracy came from,
  // "sidecar: <its source>" or "estimated: ..." (FP32 accuracy x measured top-1 agreement with
  // FP32 on sample inputs). Empty in shipped profiles, whose comments source every number.
  std::string derived_from;  // the model file (DIR/NAME.pt); "" for shipped profiles
  std::array<std::string, kNumPrecisions> accuracy_source;
  std::array<bool, kNumPrecisions> accuracy_estimated = {false, false, false};
  // Measured top-1 agreement of each precision with FP32 on sample inputs; -1: not measured.
  std::array<double, kNumPrecisions> agreement = {-1, -1, -1};
  // Non-empty when the model's FP32 accuracy is unknown (its sidecar gives none): says which
  // sidecar to complete. Every precision it runs at then has accuracy 0, so that no floor above
  // 0 is ever met by it; the simulator refuses such floors at load and the daemon per request.
  std::string accuracy_unknown;

  // The layers as executors run them (targets/layer_profiler.h, LayerDescriptors), when the
  // profile was derived from a graph, and the elements of one input and one output: on a target
  // whose device profile has a layer model for the precision, the cost model predicts the
  // model's time from them (env/layer_predictor.h), and on a GPU target with `waves` it times
  // the convolutions by waves (env/gpu_waves.h). Shipped profiles list them as `layer_shapes`
  // (derived from the zoo graph; tests/targets keep them equal); empty where a profile has none.
  std::vector<LayerDescriptor> layer_descriptors;
  double input_elements = 0, output_elements = 0;

  double conv_macs() const { return macs - fc_macs - recurrent_macs; }
  int layers() const { return conv_layers + fc_layers + recurrent_layers; }
  bool HasPrecision(Precision p) const { return accuracy[static_cast<int>(p)] >= 0; }
  double Accuracy(Precision p) const { return accuracy[static_cast<int>(p)]; }
};

Result<ModelProfile> ParseModelProfile(const ConfigNode& root);
Result<ModelProfile> LoadModelProfile(const std::string& path);

// ---- Networks --------------------------------------------------------------------------------

enum class NetworkKind : uint8_t { kWifi, kCellular, kWifiDirect };

struct NetworkProfile {
  struct Point {
    double signal_dbm, down_mbps, up_mbps, rtt_ms;
  };
  std::string name;
  NetworkKind kind = NetworkKind::kWifi;
  double min_signal_dbm = -100;  // below this the link is unusable
  std::vector<Point> curve;      // sorted by signal_dbm, ascending
  // Radio power model of Huang et al. (MobiSys 2012): P = up * t_up + down * t_down + base.
  double up_mw_per_mbps = 0;
  double down_mw_per_mbps = 0;
  double base_mw = 0;
  double tail_mw = 0;
  double tail_s = 0;
  double promotion_mw = 0;
  double promotion_s = 0;

  // Piecewise-linear lookups on the curve, clamped at its ends (a signal that is not a number
  // reads the first point).
  Point At(double signal_dbm) const;
  // At(signal_dbm).rtt_ms, the same value, without the throughputs.
  double RttAt(double signal_dbm) const;
};

Result<NetworkProfile> ParseNetworkProfile(const ConfigNode& root);
Result<NetworkProfile> LoadNetworkProfile(const std::string& path);

// ---- Devices ---------------------------------------------------------------------------------

enum class LayerClass : uint8_t { kConv = 0, kFc = 1, kRecurrent = 2 };

// Moving the tensors a pipeline stage hands to the next core group (env/pipeline.h). Modelling
// assumption, as PipelineOptions' (targets/cpu/pipeline_target.h): a fixed wake-up cost plus
// the layer output's bytes at a cross-core copy rate.
struct HandOffModel {
  double fixed_ms = 0.02;
  double gb_per_s = 10.0;
};
inline constexpr int kNumLayerClasses = 3;

struct TargetProfile {
  struct Level {
    double freq_mhz = 0;
    double power_mw = 0;  // active power of this processor at this level
  };
  std::string name;
  TargetKind kind = TargetKind::kCpu;
  int cores = 1;
  std::vector<Precision> precisions;
  // Effective GMAC/s at the highest level per layer class and precision (0 = unsupported).
  std::array<std::array<double, kNumPrecisions>, kNumLayerClasses> gmacs_per_s{};
  double layer_overhead_us = 0;
  double memory_bound_fraction = 0;  // share of compute time that does not scale with frequency
  std::vector<Level> levels;         // highest frequency first
  // Slowdown = 1 + cpu * cpu_load + gpu * gpu_load + mem * mem_load.
  double interference_cpu = 0, interference_gpu = 0, interference_mem = 0;
  // Measured latency in ms at the highest level, per model name and precision (-1: not
  // measured), as `autoscale profile` writes it; used instead of the MAC-rate formula for those
  // models (still scaled for frequency and interference).
  std::map<std::string, std::array<double, kNumPrecisions>> measured_ms;
  // Layer-level latency model per precision (null: none), from the device profile's
  // `layer_models` as `autoscale profile` fits it; the cost model uses it at the highest level
  // for models not in measured_ms that carry layer descriptors (ModelProfile).
  std::array<std::shared_ptr<const LayerFit>, kNumPrecisions> layer_model;
  // GPU targets: concurrency for the tail-effect model (env/gpu_waves.h), from the profile's
  // `waves`; disabled (units 0) when it has none.
  GpuWaveParams waves;
  // Remote targets only: the server's profile name and the network used to reach it
  // ("auto": Wi-Fi when connected, else cellular; or a network profile name).
  std::string server;
  std::string network;
  // A pipelined target (Pipe-it, issue 14): the local targets whose processors run its stages,
  // in order (empty: this target is a processor). Its latency and energy come from theirs
  // (env/pipeline.h): per model, the layers split so that the slowest stage is fastest; one
  // level, every stage at its highest; interference as its first stage's. It has no rates,
  // levels or layer model of its own.
  std::vector<std::string> pipeline_stages;
  HandOffModel handoff;

  bool Supports(Precision p) const;
  bool is_pipeline() const { return !pipeline_stages.empty(); }
};

struct DeviceProfile {
  std::string name;
  std::string description;
  std::string role = "phone";  // "phone" or "server"
  double base_power_mw = 0;    // platform power outside the processors while computing
  double idle_power_mw = 0;    // device draw while waiting for a remote result
  double queue_ms = 0;         // servers: mean queueing delay per request
  std::vector<TargetProfile> targets;

  int FindTarget(const std::string& name) const;            // -1 when absent
  // The first processor of this kind (pipelined targets are not processors); null when absent.
  const TargetProfile* FirstOfKind(TargetKind kind) const;
};

Result<DeviceProfile> ParseDeviceProfile(const ConfigNode& root);
Result<DeviceProfile> LoadDeviceProfile(const std::string& path);

// ---- Catalogue -------------------------------------------------------------------------------

// Finds profiles by name under config roots, searched in order: ROOT/devices/NAME.yaml,
// ROOT/networks/NAME.yaml, ROOT/models/NAME.yaml (and ROOT/scenarios/NAME.yaml through Find). A
// name may also be a path to a .yaml file (a profile written by `autoscale profile`), taken
// relative to `base_dir` (the experiment's folder; the current one when empty). Results are
// cached; thread-safe.
class ProfileCatalog {
 public:
  explicit ProfileCatalog(std::vector<std::string> roots, std::string base_dir = "");
  explicit ProfileCatalog(std::string config_root)
      : ProfileCatalog(std::vector<std::string>{std::move(config_root)}) {}

  Result<std::shared_ptr<const DeviceProfile>> Device(const std::string& name);
  Result<std::shared_ptr<const NetworkProfile>> Network(const std::string& name);
  Result<std::shared_ptr<const ModelProfile>> Model(const std::string& name);
  // The file NAME stands for in FOLDER, or NotFound naming where it looked and what exists.
  Result<std::string> Find(const std::string& folder, const std::string& name) const;
  // Names of the profiles in a folder ("devices", "networks", "models") of any root, sorted.
  std::vector<std::string> Available(const std::string& folder) const;
  const std::string& root() const { return roots_.front(); }
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  // Candidate files for NAME in FOLDER, in search order.
  std::vector<std::string> Candidates(const std::string& folder, const std::string& name) const;

  std::vector<std::string> roots_;
  std::string base_dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const DeviceProfile>> devices_;    // guarded by mu_
  std::map<std::string, std::shared_ptr<const NetworkProfile>> networks_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<const ModelProfile>> models_;      // guarded by mu_
};

// The config roots a file in FILE_DIR names profiles from, in order: FILE_DIR and its parent
// where they hold devices/, networks/, models/ or scenarios/ folders (so configs/experiments/X
// sees configs/), then the shipped configs (core/config_dir.h) when they can be found.
std::vector<std::string> ConfigSearchRoots(const std::string& file_dir);

}  // namespace autoscale
