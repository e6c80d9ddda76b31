// Target: one place a request can run (DESIGN.md, "The central interfaces"; STYLE.md 1-3).
// Backends live one per folder with the same file names: targets/cpu/cpu_target.h (libtorch),
// targets/opencl/opencl_target.h (mobile GPU), targets/dsp/dsp_target.h (INT8 stub). This header
// carries no torch or OpenCL types, so the engine and tools include it freely.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/profiles.h"
#include "env/types.h"
#include "zoo/features.h"
#include "zoo/graph.h"

namespace autoscale {

// A dense float tensor in host memory, row-major; shape includes the batch dimension.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t elements() const { return NumElements(shape); }
};

// A model as targets receive it. Zoo models carry their inference graph (batch-norm folded,
// weights materialised). A user's TorchScript file carries its path and, when every operation
// in it maps to the graph IR (zoo/model_import.h), its imported graph with its real weights,
// which every target runs; otherwise (graph null) it runs only on libtorch targets, as
// TorchScript, and `unmapped` says what kept it from the others.
struct ModelSpec {
  std::string name;
  std::shared_ptr<const WeightedGraph> graph;  // null for TorchScript models not imported
  std::string torchscript_path;                // empty for zoo models
  std::vector<int64_t> input_shape;            // without the batch dimension
  // Features from the graph (zoo) or the import (a partial one says what it did not count);
  // null for a TorchScript model in a build without the importer.
  std::shared_ptr<const ModelFeatures> features;
  std::vector<std::string> unmapped;  // operations the import could not map

  bool is_graph() const { return graph != nullptr; }
};

// Where an energy figure comes from.
enum class EnergySource : uint8_t {
  kMeasuredRapl,     // /sys/class/powercap RAPL energy counters, before and after
  kMeasuredBattery,  // /sys/class/power_supply battery current x voltage, before and after
  kModelled,         // latency x power from a device profile
};
const char* EnergySourceName(EnergySource s);  // "measured:rapl", "measured:battery", "modelled"

struct TargetDescription {
  std::string name;  // "cpu", "opencl", "dsp"
  TargetKind kind = TargetKind::kCpu;
  std::vector<Precision> precisions;  // what it can run at all
  int levels = 1;                     // frequency levels a caller may choose between
  // Per level, highest first, when the levels are real frequencies the target sets (a CPU
  // target on a host with cpufreq); empty otherwise. The engine maps a device profile's levels
  // onto these by frequency (MapLevelsByFrequency, targets/cpufreq.h); without them, profile
  // level i is target level i.
  std::vector<double> level_freq_mhz;
  bool available = true;
  std::string unavailable_reason;  // why not, when !available
  std::string device;              // the hardware, in words ("AMD EPYC, 2 threads", "PoCL ...")
  std::string notes;               // how latency and energy are obtained
  // How many requests the target works on at once when they come through StartRun (a pipeline
  // streams several through its stages); 1: one at a time, and the caller serialises them.
  int max_concurrent = 1;
  // A pipelined target: its stages (InferenceResult::stage_ms holds a time for each); 1 for a
  // target that runs a request in one piece.
  int stages = 1;
};

struct InferenceResult {
  HostTensor output;
  double latency_ms = 0;  // measured wall time of the inference (modelled for the DSP stub)
  double energy_mj = 0;
  EnergySource energy_source = EnergySource::kModelled;
  bool latency_modelled = false;  // true when latency_ms comes from a profile, not a clock
  int level = 0;                  // the target level that ran
  // The frequency that ran, as the host read it back after setting it; 0 when the target does
  // not set frequencies.
  double freq_mhz = 0;
  // A pipelined target: the time this request spent in each stage, in order (the slowest bounds
  // the target's rate; their sum is its latency without waiting between stages). Empty for a
  // target that runs a request in one piece.
  std::vector<double> stage_ms;
};

// A backend. Not thread-safe unless its description says max_concurrent > 1: one caller at a
// time per target (the engine serialises requests per target). Prepared models stay cached
// inside the target until it is destroyed.
class Target {
 public:
  virtual ~Target() = default;

  virtual const TargetDescription& description() const = 0;
  bool available() const { return description().available; }

  // Ok when the target can run `model` at `precision`; otherwise Unavailable or InvalidArgument
  // saying why (no device, precision not offered, a TorchScript model on a graph-only target).
  // Cheap: no compilation or weight packing.
  virtual Status Supports(const ModelSpec& model, Precision precision) const = 0;

  // Builds what running `model` at `precision` needs (packed or quantised weights, compiled
  // kernels, device buffers) so that the first Run is not slowed by it. Idempotent.
  virtual Status Prepare(const ModelSpec& model, Precision precision) = 0;

  // Runs one inference on `input` (shape [N, input_shape...]) at frequency `level` (0 = the
  // highest; targets that cannot set frequencies accept only 0). Prepares on first use. On
  // failure the Status says what failed; nothing is half-written to `InferenceResult`.
  virtual Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                                      const HostTensor& input) = 0;

  // Starts one inference and calls `done` exactly once with what Run would return. The default
  // runs Run on the caller's thread and then `done`, so that a caller treats every target alike.
  // A target whose description says max_concurrent > 1 overrides it: thread-safe, it returns
  // once the request is admitted (waiting while max_concurrent are inside) and calls `done` on
  // a thread of its own, so that requests overlap inside it. `done` must not block for long.
  using RunCallback = std::function<void(Result<InferenceResult>)>;
  virtual void StartRun(const ModelSpec& model, Precision precision, int level, HostTensor input,
                        RunCallback done);
};

// Modelled energy of a local processor: (level power + device base power) x latency, from a
// device profile (configs/devices). Used where the host exposes no energy counters.
struct PowerModel {
  std::vector<double> level_power_mw;  // per frequency level, highest first
  double base_power_mw = 0;            // the rest of the device while computing
  std::string source;                  // "sd845/cpu_big": the profile the numbers come from
  std::vector<double> level_freq_mhz;  // the same levels' frequencies (may be empty)

  double EnergyMj(int level, double latency_ms) const;
  // The level whose frequency is nearest `freq_mhz`; 0 without frequencies.
  int LevelNearest(double freq_mhz) const;
};
// Level powers of `target` in `device` and the device's base power.
PowerModel PowerModelFor(const DeviceProfile& device, const TargetProfile& target);

// The CPUs this process may run on (sched_getaffinity), and a "0-3,6" style list parser.
std::vector<int> AllowedCpus();
Result<std::vector<int>> ParseCpuList(const std::string& text);

// CPU clusters from cpufreq (/sys/devices/system/cpu/cpufreq/policyN/related_cpus and
// cpuinfo_max_freq), fastest first: on a big.LITTLE phone, the big cores then the little ones.
// Empty when the host exposes no cpufreq policies (virtual machines, containers).
struct CpuCluster {
  std::vector<int> cpus;
  double max_freq_mhz = 0;
};
std::vector<CpuCluster> DetectCpuClusters(const std::string& sysfs_root = "/sys");

// A seeded input for `model`: shape [batch, input_shape...]; zoo graphs get MakeInput(), other
// models uniform values in [-1, 1] from the same seed.
HostTensor MakeHostInput(const ModelSpec& model, uint64_t seed, int batch = 1);

// Checks an input against a model before a backend touches it: rank, dimensions, element count.
Status CheckInput(const ModelSpec& model, const HostTensor& input);

}  // namespace autoscale
