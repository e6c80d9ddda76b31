// Thin helpers over the OpenCL C API for targets/opencl only (this header includes CL/cl.h; the
// target's public header does not): owning handles, error names, device selection, programs.
#pragma once

#include <CL/cl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace autoscale::opencl {

// "CL_OUT_OF_RESOURCES (-5)".
std::string ClErrorName(cl_int err);
// Internal("<what>: <error name>"), or OK for CL_SUCCESS.
Status ClStatus(cl_int err, std::string_view what);

struct ClRelease {
  void operator()(cl_context x) const { clReleaseContext(x); }
  void operator()(cl_command_queue x) const { clReleaseCommandQueue(x); }
  void operator()(cl_program x) const { clReleaseProgram(x); }
  void operator()(cl_kernel x) const { clReleaseKernel(x); }
  void operator()(cl_mem x) const { clReleaseMemObject(x); }
  void operator()(cl_event x) const { clReleaseEvent(x); }
};
using ContextPtr = std::unique_ptr<std::remove_pointer_t<cl_context>, ClRelease>;
using QueuePtr = std::unique_ptr<std::remove_pointer_t<cl_command_queue>, ClRelease>;
using ProgramPtr = std::unique_ptr<std::remove_pointer_t<cl_program>, ClRelease>;
using KernelPtr = std::unique_ptr<std::remove_pointer_t<cl_kernel>, ClRelease>;
using MemPtr = std::unique_ptr<std::remove_pointer_t<cl_mem>, ClRelease>;
using EventPtr = std::unique_ptr<std::remove_pointer_t<cl_event>, ClRelease>;

struct DeviceInfo {
  std::string name, vendor, version, driver, platform_name, platform_version;
  bool is_gpu = false;
  bool fp16 = false;  // reports cl_khr_fp16
  int compute_units = 0;
  uint64_t global_mem_bytes = 0;
  uint64_t max_alloc_bytes = 0;
};

struct DeviceChoice {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  DeviceInfo info;
};

// Picks a device. platform_index < 0: any platform; device_index < 0: the first GPU, else the
// first device (of the chosen platform, or of all platforms in order); device_index >= 0 with no
// platform counts devices across all platforms in order. Unavailable, saying what exists, when
// there is no platform, no device, or no device at that index.
Result<DeviceChoice> SelectDevice(int platform_index, int device_index);

// A built program and its kernels by name.
class Program {
 public:
  // Builds `source` with `options` for `device` and creates every kernel in `names`. Internal
  // with the build log on failure.
  static Result<Program> Build(cl_context context, cl_device_id device, const char* source,
                               const std::string& options, const char* const* names, int count);

  // The kernel called `name`; null when the program has none (a programming error).
  cl_kernel kernel(const std::string& name) const;

 private:
  ProgramPtr program_;
  std::map<std::string, KernelPtr> kernels_;
};

// IEEE binary16 bits of `f`, rounded to nearest even (for uploading fp16 weights).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

}  // namespace autoscale::opencl
