// The mobile-GPU target: CNN graphs (the zoo's, and users' imported with their real weights)
// run with OpenCL kernels (targets/opencl/kernels.cc) on whatever OpenCL device the host has (a
// phone's GPU; PoCL on a desktop CPU in development).
// This header carries no OpenCL types, so the engine includes it cheaply.
//
// FP32 everywhere; FP16 (half storage and arithmetic) where the device reports cl_khr_fp16.
// Latency is the host's wall clock around input upload, kernels and output read-back; energy is
// modelled from `OpenClOptions::power`. One frequency level (0): OpenCL cannot set clocks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "targets/target.h"

namespace autoscale {

struct OpenClOptions {
  // -1: any platform. Otherwise the index in clGetPlatformIDs order.
  int platform_index = -1;
  // -1: the first GPU, else the first device (of the chosen platform, or of all platforms in
  // order). Otherwise the index among the chosen platform's devices (all platforms' devices in
  // order when platform_index is -1).
  int device_index = -1;
  // Offer FP16 when the device reports cl_khr_fp16.
  bool allow_fp16 = true;
  // Modelled energy: power at level 0 plus base power, times measured latency.
  PowerModel power;
  // Time every kernel with OpenCL profiling events (CL_QUEUE_PROFILING_ENABLE); see
  // OpenClTarget::kernel_profile(). Adds a little host overhead per kernel.
  bool profile_kernels = false;
};

// Accumulated device time of one kernel (by OpenCL kernel name) over profiled runs.
struct KernelTime {
  double ms = 0;
  int64_t launches = 0;
};

// One kernel launch of a model's run: what the GPU tail-effect model (env/gpu_waves.h) counts
// as thread blocks is checked against `work_groups`.
struct OpenClLaunch {
  std::string kernel;  // the OpenCL kernel's name ("conv2d_s1", "dwconv_s2", ...)
  int node = -1;       // the graph node its plan step computes; -1: input/output conversion
  std::vector<size_t> global;  // work-items per dimension
  std::vector<size_t> local;   // work-group size; empty where the driver chose it (GPUs)
  int64_t work_groups = -1;    // the product of ceil(global / local); -1 without `local`
};

// The kernels the OpenCL target launches for a graph `model` on a batch of `batch`, one per plan
// step in order, with the fixed work-group sizes it uses on CPU devices such as PoCL (global
// before rounding up to them). Needs no device. InvalidArgument for a model without a graph or
// with ops the kernels cannot run.
Result<std::vector<OpenClLaunch>> PlannedLaunches(const ModelSpec& model, int batch);

class OpenClTarget final : public Target {
 public:
  // Never fails: without a usable OpenCL platform or device (or on an ICD error) the target
  // exists with description().available == false and the reason in unavailable_reason; then
  // Supports/Prepare/Run return Unavailable.
  static std::unique_ptr<OpenClTarget> Create(const OpenClOptions& options);
  ~OpenClTarget() override;

  const TargetDescription& description() const override;

  // Ok for a graph of CNN ops (zoo or imported) at FP32, or FP16 where the device reports
  // cl_khr_fp16. InvalidArgument for a TorchScript model without a graph (naming what its import
  // could not map, ModelSpec::unmapped) and for graphs with ops the kernels cannot run (an lstm;
  // the message names them); Unavailable for a precision the device or the options do not
  // offer, or when there is no device.
  Status Supports(const ModelSpec& model, Precision precision) const override;

  // Compiles the precision's program (once per target), plans the graph's buffers and uploads
  // its weights (once per model and precision; kept until the target is destroyed).
  Status Prepare(const ModelSpec& model, Precision precision) override;

  // Runs on a batch of any size N >= 1; only level 0 exists. Activation buffers grow to the
  // largest batch seen.
  Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                              const HostTensor& input) override;

  // Per kernel name, device time accumulated over runs since the last reset; empty unless
  // options.profile_kernels.
  std::map<std::string, KernelTime> kernel_profile() const;
  void ResetKernelProfile();

  // The kernels the last Run of `model` at `precision` enqueued, in order, as passed to
  // clEnqueueNDRangeKernel (global rounded up to the work-group size where it is fixed).
  // NotFound when the model has not run at that precision. Not thread-safe with Run.
  Result<std::vector<OpenClLaunch>> LastLaunches(const ModelSpec& model,
                                                 Precision precision) const;

 private:
  struct Impl;
  explicit OpenClTarget(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace autoscale
