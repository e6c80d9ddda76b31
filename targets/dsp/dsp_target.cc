#include "targets/dsp/dsp_target.h"

#include "env/cost_model.h"
#include "targets/model_store.h"
#include "zoo/features.h"

namespace autoscale {

std::unique_ptr<DspTarget> DspTarget::Create(DspOptions options) {
  return std::unique_ptr<DspTarget>(new DspTarget(std::move(options)));
}

DspTarget::DspTarget(DspOptions options) : options_(std::move(options)) {
  desc_.name = options_.name;
  desc_.kind = TargetKind::kDsp;
  desc_.precisions = {Precision::kInt8};
  for (const TargetProfile& t : options_.device.targets) {
    if (t.kind == TargetKind::kDsp && t.Supports(Precision::kInt8) && !t.levels.empty()) {
      dsp_ = t;
      break;
    }
  }
  if (dsp_.levels.empty()) {
    desc_.available = false;
    desc_.unavailable_reason = "device profile '" + options_.device.name +
                               "' has no DSP target with int8 (nothing to model the stub on)";
    return;
  }
  power_ = PowerModelFor(options_.device, dsp_);
  desc_.levels = static_cast<int>(dsp_.levels.size());
  options_.cpu.name = options_.name + "-cpu";
  // The stub's outputs are computed on the CPU; its latency is the profile's DSP level's, so
  // the CPU's frequency is left as it is.
  options_.cpu.set_frequency = false;
  cpu_ = CpuTarget::Create(options_.cpu);
  desc_.device = "stub of " + options_.device.name + "/" + dsp_.name + "; outputs computed by " +
                 cpu_->description().device + " (INT8)";
  desc_.notes = "outputs real (INT8 on the CPU); latency and energy modelled from " + power_.source;
}

Status DspTarget::Supports(const ModelSpec& model, Precision precision) const {
  if (!desc_.available) return Status::Unavailable(desc_.unavailable_reason);
  if (precision != Precision::kInt8) {
    return Status::Unavailable("the DSP runs INT8 only; asked for " +
                               std::string(PrecisionName(precision)));
  }
  if (!model.is_graph()) {
    return Status::InvalidArgument("the DSP stub runs graphs at INT8: " +
                                   Int8RefusalForTorchScript(model));
  }
  return cpu_->Supports(model, precision);
}

Status DspTarget::Prepare(const ModelSpec& model, Precision precision) {
  RETURN_IF_ERROR(Supports(model, precision));
  ProfileOf(model);
  return cpu_->Prepare(model, precision);
}

const ModelProfile& DspTarget::ProfileOf(const ModelSpec& model) {
  auto it = profiles_.find(model.name);
  if (it == profiles_.end()) {
    // The spec's features (the zoo's, or the import's for a user model) when it has them.
    it = profiles_
             .emplace(model.name,
                      ProfileFromFeatures(model.features ? *model.features
                                                         : ComputeFeatures(model.graph->graph)))
             .first;
  }
  return it->second;
}

Result<InferenceResult> DspTarget::Run(const ModelSpec& model, Precision precision, int level,
                                       const HostTensor& input) {
  RETURN_IF_ERROR(Supports(model, precision));
  if (level < 0 || level >= desc_.levels) {
    return Status::InvalidArgument("target '" + desc_.name + "' has levels 0.." +
                                   std::to_string(desc_.levels - 1) + "; got " +
                                   std::to_string(level));
  }
  Result<InferenceResult> computed = cpu_->Run(model, Precision::kInt8, 0, input);
  if (!computed.ok()) {
    return computed.status().WithPrefix("DSP stub '" + desc_.name + "' (INT8 outputs on the CPU)");
  }
  InferenceResult r = std::move(computed).value();
  const int64_t batch = input.shape[0];
  r.latency_ms = batch * LocalComputeMs(dsp_, level, Precision::kInt8, ProfileOf(model));
  r.latency_modelled = true;
  r.energy_mj = power_.EnergyMj(level, r.latency_ms);
  r.level = level;
  r.freq_mhz = 0;  // modelled: no frequency is set
  r.energy_source = EnergySource::kModelled;
  return r;
}

}  // namespace autoscale
