// The CPU target: libtorch inference on a set of cores (a cluster) with a set thread count.
// A model with a graph (a zoo graph, or a user's TorchScript file imported with its own
// weights) runs that graph at FP32 (TorchGraph) and INT8 (TorchInt8Graph, libtorch's quantized
// engine, calibrated on the sample inputs the model's sidecar names, else on seeded inputs); a
// TorchScript model without a graph (an op the import could not map) runs at FP32 only, as
// TorchScript, and Supports() refuses INT8 naming the unmapped ops.
// Frequency: where the host exposes cpufreq for the cluster the target's CPUs lie in, and lets
// this process write it, the target's levels are that cluster's frequencies (highest first) and
// each run sets its level for the run's duration and restores what it found after
// (targets/cpufreq.h); otherwise it has one level and description().notes says why.
// Latency is measured; energy is measured where the host exposes counters (RAPL, battery) and
// modelled from a device profile's power otherwise; each result says which. No torch types in
// this header.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "env/energy_meter.h"
#include "targets/cpufreq.h"
#include "targets/target.h"

namespace autoscale {

class TorchModel;

// At most this many sample inputs (the first by file name) calibrate a user model's INT8.
constexpr size_t kMaxCalibrationSamples = 64;

// A user model's INT8 calibration inputs: the *.f32 files (raw float32, one input of
// model.input_shape each) in the folder named by `samples:` in the sidecar NAME.yaml beside
// model.torchscript_path, in file-name order, at most `max_samples`. Empty when the model is not
// a TorchScript file, has no sidecar or names no folder; an error naming the file for a sample
// of the wrong size, or a named folder without samples.
Result<std::vector<std::vector<float>>> LoadCalibrationSamples(const ModelSpec& model,
                                                               size_t max_samples);
// Why a TorchScript model without a graph cannot run at INT8, naming what the import could not
// map (the CPU target's and the DSP stub's Supports()).
std::string Int8RefusalForTorchScript(const ModelSpec& model);

struct CpuOptions {
  std::string name = "cpu";
  int threads = 0;        // intra-op threads; 0 = one per CPU in `cpus` (all online CPUs if empty)
  std::vector<int> cpus;  // pin the inference threads to these CPUs; empty = no pinning
  PowerModel power;       // for modelled energy (when no counters, or use_counters is false)
  bool use_counters = true;
  std::string sysfs_root = "/sys";  // where energy counters and cpufreq are looked for
  // Set the cluster's frequency per run where the host allows it (cpufreq for the CPUs of
  // `cpus`, or of every allowed CPU, in one policy); false: one level, the host's as it is.
  bool set_frequency = true;
  std::shared_ptr<SysfsFiles> sysfs_files;  // cpufreq's files; null: the real ones
  std::string int8_engine;          // libtorch quantized engine; "" = best available
  // FP32 graphs run channels-last (NHWC): oneDNN's convolutions without per-layer reorders, and
  // libtorch 1.13's vectorised pooling. NCHW max pooling there is a scalar loop, about 10x
  // slower (bench/cpu_target_bench BM_Layout). false: NCHW, for comparison.
  bool channels_last = true;
};

class CpuTarget final : public Target {
 public:
  // Never fails: problems (affinity refused, no counters) are recorded in description().notes.
  static std::unique_ptr<CpuTarget> Create(CpuOptions options);
  ~CpuTarget() override;

  const TargetDescription& description() const override { return desc_; }
  Status Supports(const ModelSpec& model, Precision precision) const override;
  Status Prepare(const ModelSpec& model, Precision precision) override;
  Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                              const HostTensor& input) override;

  // In-model layer timing (the layer-level latency predictor, targets/layer_profiler.h): runs
  // `model` whole at `precision` `runs` times after `warmup` runs, each run timed from one
  // node's completion to the next's (TorchGraph's and TorchInt8Graph's node observers), and
  // returns, per graph node (index = node; 0 = the input's conversion), the median over the runs
  // of that node's time, with the median whole run (as Run() times it). An INT8 quantize or
  // dequantize step counts to the node it converts. Unavailable for a TorchScript-only model
  // (no graph to attribute time to).
  struct NodeTimes {
    std::vector<double> node_ms;
    double run_ms = 0;
    // The fastest runs (a machine shared with other work): the fastest whole run, and the node
    // times of the fastest observed run (one run's, so that they sum to a time the model ran in;
    // per-node minima would sum to less than any run, the more so the more nodes and runs).
    std::vector<double> node_min_ms;
    double observed_min_ms = 0;  // their sum
    double run_min_ms = 0;
  };
  Result<NodeTimes> TimeNodes(const ModelSpec& model, Precision precision, int warmup, int runs);

  int threads() const { return threads_; }
  bool energy_measured() const { return meter_ != nullptr; }

 private:
  explicit CpuTarget(CpuOptions options);
  Result<const TorchModel*> ModelFor(const ModelSpec& model, Precision precision);
  void PinThreads();

  CpuOptions options_;
  TargetDescription desc_;
  int threads_ = 1;
  bool pinned_ = false;
  std::unique_ptr<EnergyMeter> meter_;
  std::unique_ptr<CpufreqControl> cpufreq_;  // null when frequencies are not set
  std::map<std::pair<std::string, Precision>, std::unique_ptr<TorchModel>> models_;
};

}  // namespace autoscale
