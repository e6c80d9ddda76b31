// A planned graph on an OpenCL device: its weights uploaded once, activation buffers allocated
// for the largest batch seen, and the plan's steps enqueued per run. Internal to targets/opencl.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "targets/opencl/cl_util.h"
#include "targets/opencl/opencl_target.h"
#include "targets/opencl/plan.h"

namespace autoscale::opencl {

// One kernel argument: a buffer or an int (the kernels index with 32-bit ints; the executor
// checks that every extent fits before it launches anything).
struct KernelArg {
  KernelArg(cl_mem m) : is_mem(true), mem(m) {}            // NOLINT(google-explicit-constructor)
  KernelArg(int64_t v) : value(static_cast<cl_int>(v)) {}  // NOLINT(google-explicit-constructor)
  KernelArg(int v) : value(v) {}                           // NOLINT(google-explicit-constructor)
  bool is_mem = false;
  cl_mem mem = nullptr;
  cl_int value = 0;
};

// What an executor runs on; owned by the target and outliving its executors.
struct Device {
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  bool profiling = false;  // the queue has CL_QUEUE_PROFILING_ENABLE
  // CPU devices (PoCL) get fixed work-group sizes: PoCL compiles a work-group function per
  // local size, so sizes chosen per layer shape would recompile kernels for every new shape.
  // GPUs get the driver's choice.
  bool fixed_work_groups = true;
  uint64_t max_alloc_bytes = 0;  // CL_DEVICE_MAX_MEM_ALLOC_SIZE; 0 = unknown
};

// One kernel as the executor enqueued it.
struct LaunchRecord {
  std::string kernel;
  int node = -1;                     // the graph node of its step; -1: input/output conversion
  std::vector<size_t> global;        // as passed to clEnqueueNDRangeKernel
  std::vector<size_t> local;         // the fixed work-group size; empty: the driver's choice
};

class Executor {
 public:
  // Uploads the plan's weights (as half when fp16).
  static Result<std::unique_ptr<Executor>> Create(const Device& device, const Program& program,
                                                  Plan plan, bool fp16);

  // Runs the plan on `batch` inputs (batch * plan().input_elems floats) and returns the output
  // (batch * plan().output_elems floats). Blocks until the output is on the host. When the
  // device profiles, adds each kernel's device time to `profile`.
  Result<std::vector<float>> Run(const float* input, int batch,
                                 std::map<std::string, KernelTime>* profile);

  const Plan& plan() const { return plan_; }
  // The kernels the last Run enqueued, in order (empty before the first).
  const std::vector<LaunchRecord>& last_launches() const { return launches_; }

 private:
  Executor(const Device& device, const Program& program, Plan plan, bool fp16)
      : device_(device), program_(program), plan_(std::move(plan)), fp16_(fp16) {}

  Status UploadParams();
  Status EnsureBatch(int batch);
  Status Enqueue(const Step& step, int batch);
  // Sets the arguments and enqueues `kernel` over `global` (rounded up to the work-group size).
  Status Launch(const char* name, std::vector<size_t> global, const std::vector<KernelArg>& args);

  cl_mem Mem(const View& v) const { return buffers_[plan_.physical_of[v.buffer]].get(); }
  // Elements before every view's offset 0 in its buffer: edge tiles load whole vectors that
  // start left of the input (and mask the lanes off), so there must be memory there.
  int64_t guard() const { return plan_.read_slack; }

  Device device_;
  const Program& program_;
  Plan plan_;
  bool fp16_ = false;
  size_t elem_bytes() const { return fp16_ ? 2 : 4; }

  struct Params {
    MemPtr weight, bias;
  };
  std::vector<Params> params_;
  std::vector<MemPtr> buffers_;  // physical activation buffers, for allocated_batch_
  MemPtr staging_in_;            // float input, for FP16
  MemPtr staging_out_;           // dense float output, for FP16 or an output that is not dense
  int allocated_batch_ = 0;
  std::vector<std::pair<std::string, EventPtr>> events_;  // this run's, when profiling
  std::vector<LaunchRecord> launches_;                    // this run's
  int current_node_ = -1;                                 // the step being enqueued
};

}  // namespace autoscale::opencl
