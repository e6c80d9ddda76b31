// The CPU target: libtorch inference on a set of cores (a cluster) with a set thread count,
// FP32 (zoo graphs and TorchScript models) and INT8 (zoo graphs, libtorch's quantized engine).
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
#include "targets/target.h"

namespace autoscale {

class TorchModel;

struct CpuOptions {
  std::string name = "cpu";
  int threads = 0;        // intra-op threads; 0 = one per CPU in `cpus` (all online CPUs if empty)
  std::vector<int> cpus;  // pin the inference threads to these CPUs; empty = no pinning
  PowerModel power;       // for modelled energy (when no counters, or use_counters is false)
  bool use_counters = true;
  std::string sysfs_root = "/sys";  // where energy counters are looked for
  std::string int8_engine;          // libtorch quantized engine; "" = best available
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
  std::map<std::pair<std::string, Precision>, std::unique_ptr<TorchModel>> models_;
};

}  // namespace autoscale
