// The DSP target: a stub for a Hexagon-class DSP. It runs the INT8 model on the CPU (libtorch's
// quantized engine) so outputs are real, for any model with a graph: a zoo graph, or a user's
// TorchScript file imported with its own weights (calibrated as the CPU target calibrates it).
// Latency and energy come from the DSP's entry in a device profile (configs/devices), marked as
// modelled.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "env/profiles.h"
#include "targets/cpu/cpu_target.h"
#include "targets/target.h"

namespace autoscale {

struct DspOptions {
  std::string name = "dsp";
  DeviceProfile device;  // its first target of kind dsp supplies rates and power
  CpuOptions cpu;        // where the INT8 outputs are computed
};

class DspTarget final : public Target {
 public:
  // Never fails: a device without a DSP gives an unavailable target saying so.
  static std::unique_ptr<DspTarget> Create(DspOptions options);

  const TargetDescription& description() const override { return desc_; }
  Status Supports(const ModelSpec& model, Precision precision) const override;
  Status Prepare(const ModelSpec& model, Precision precision) override;
  Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                              const HostTensor& input) override;

 private:
  explicit DspTarget(DspOptions options);
  const ModelProfile& ProfileOf(const ModelSpec& model);

  DspOptions options_;
  TargetDescription desc_;
  TargetProfile dsp_;
  PowerModel power_;
  std::unique_ptr<CpuTarget> cpu_;
  std::map<std::string, ModelProfile> profiles_;  // per model name
};

}  // namespace autoscale
