#include "targets/opencl/cl_util.h"

#include <cstring>
#include <sstream>
#include <vector>

namespace autoscale::opencl {

std::string ClErrorName(cl_int err) {
  const char* name = "unknown OpenCL error";
  switch (err) {
#define AS_CL_ERR(x) \
  case x:            \
    name = #x;       \
    break;
    AS_CL_ERR(CL_SUCCESS)
    AS_CL_ERR(CL_DEVICE_NOT_FOUND)
    AS_CL_ERR(CL_DEVICE_NOT_AVAILABLE)
    AS_CL_ERR(CL_COMPILER_NOT_AVAILABLE)
    AS_CL_ERR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    AS_CL_ERR(CL_OUT_OF_RESOURCES)
    AS_CL_ERR(CL_OUT_OF_HOST_MEMORY)
    AS_CL_ERR(CL_PROFILING_INFO_NOT_AVAILABLE)
    AS_CL_ERR(CL_BUILD_PROGRAM_FAILURE)
    AS_CL_ERR(CL_INVALID_VALUE)
    AS_CL_ERR(CL_INVALID_PLATFORM)
    AS_CL_ERR(CL_INVALID_DEVICE)
    AS_CL_ERR(CL_INVALID_CONTEXT)
    AS_CL_ERR(CL_INVALID_COMMAND_QUEUE)
    AS_CL_ERR(CL_INVALID_MEM_OBJECT)
    AS_CL_ERR(CL_INVALID_BUILD_OPTIONS)
    AS_CL_ERR(CL_INVALID_PROGRAM)
    AS_CL_ERR(CL_INVALID_PROGRAM_EXECUTABLE)
    AS_CL_ERR(CL_INVALID_KERNEL_NAME)
    AS_CL_ERR(CL_INVALID_KERNEL)
    AS_CL_ERR(CL_INVALID_ARG_INDEX)
    AS_CL_ERR(CL_INVALID_ARG_VALUE)
    AS_CL_ERR(CL_INVALID_ARG_SIZE)
    AS_CL_ERR(CL_INVALID_KERNEL_ARGS)
    AS_CL_ERR(CL_INVALID_WORK_DIMENSION)
    AS_CL_ERR(CL_INVALID_WORK_GROUP_SIZE)
    AS_CL_ERR(CL_INVALID_WORK_ITEM_SIZE)
    AS_CL_ERR(CL_INVALID_GLOBAL_OFFSET)
    AS_CL_ERR(CL_INVALID_EVENT)
    AS_CL_ERR(CL_INVALID_OPERATION)
    AS_CL_ERR(CL_INVALID_BUFFER_SIZE)
    AS_CL_ERR(CL_INVALID_GLOBAL_WORK_SIZE)
#undef AS_CL_ERR
    case -1001:
      name = "CL_PLATFORM_NOT_FOUND_KHR";
      break;
    default:
      break;
  }
  return std::string(name) + " (" + std::to_string(err) + ")";
}

Status ClStatus(cl_int err, std::string_view what) {
  if (err == CL_SUCCESS) return Status::Ok();
  return Status::Internal(std::string(what) + ": " + ClErrorName(err));
}

namespace {

std::string PlatformString(cl_platform_id p, cl_platform_info what) {
  size_t size = 0;
  if (clGetPlatformInfo(p, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  if (clGetPlatformInfo(p, what, size, s.data(), nullptr) != CL_SUCCESS) return "";
  s.resize(std::strlen(s.c_str()));
  return s;
}

std::string DeviceString(cl_device_id d, cl_device_info what) {
  size_t size = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  if (clGetDeviceInfo(d, what, size, s.data(), nullptr) != CL_SUCCESS) return "";
  s.resize(std::strlen(s.c_str()));
  return s;
}

template <typename V>
V DeviceValue(cl_device_id d, cl_device_info what) {
  V v{};
  if (clGetDeviceInfo(d, what, sizeof(v), &v, nullptr) != CL_SUCCESS) return V{};
  return v;
}

DeviceInfo QueryDevice(cl_platform_id p, cl_device_id d) {
  DeviceInfo info;
  info.name = DeviceString(d, CL_DEVICE_NAME);
  info.vendor = DeviceString(d, CL_DEVICE_VENDOR);
  info.version = DeviceString(d, CL_DEVICE_VERSION);
  info.driver = DeviceString(d, CL_DRIVER_VERSION);
  info.platform_name = PlatformString(p, CL_PLATFORM_NAME);
  info.platform_version = PlatformString(p, CL_PLATFORM_VERSION);
  info.is_gpu = (DeviceValue<cl_device_type>(d, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_GPU) != 0;
  std::istringstream ext(DeviceString(d, CL_DEVICE_EXTENSIONS));
  for (std::string word; ext >> word;) info.fp16 = info.fp16 || word == "cl_khr_fp16";
  info.compute_units = static_cast<int>(DeviceValue<cl_uint>(d, CL_DEVICE_MAX_COMPUTE_UNITS));
  info.global_mem_bytes = DeviceValue<cl_ulong>(d, CL_DEVICE_GLOBAL_MEM_SIZE);
  info.max_alloc_bytes = DeviceValue<cl_ulong>(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  return info;
}

std::vector<cl_device_id> Devices(cl_platform_id p) {
  cl_uint n = 0;
  if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) return {};
  std::vector<cl_device_id> ids(n);
  if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, ids.data(), nullptr) != CL_SUCCESS) return {};
  return ids;
}

}  // namespace

Result<DeviceChoice> SelectDevice(int platform_index, int device_index) {
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &np);
  if (err != CL_SUCCESS || np == 0) {
    return Status::Unavailable("no OpenCL platform (clGetPlatformIDs: " +
                               (err != CL_SUCCESS ? ClErrorName(err) : "0 platforms") + ")");
  }
  std::vector<cl_platform_id> platforms(np);
  err = clGetPlatformIDs(np, platforms.data(), nullptr);
  if (err != CL_SUCCESS) {
    return Status::Unavailable("clGetPlatformIDs: " + ClErrorName(err));
  }
  if (platform_index >= static_cast<int>(np)) {
    return Status::Unavailable("OpenCL platform index " + std::to_string(platform_index) +
                               " does not exist (" + std::to_string(np) + " platform(s))");
  }
  // Candidates in order: (platform, device) pairs of the chosen platform or of all.
  std::vector<std::pair<cl_platform_id, cl_device_id>> all;
  std::string listed;
  for (cl_uint i = 0; i < np; ++i) {
    if (platform_index >= 0 && static_cast<int>(i) != platform_index) continue;
    const std::vector<cl_device_id> devs = Devices(platforms[i]);
    for (cl_device_id d : devs) all.emplace_back(platforms[i], d);
    if (!listed.empty()) listed += ", ";
    listed += "platform " + std::to_string(i) + " '" +
              PlatformString(platforms[i], CL_PLATFORM_NAME) + "' has " +
              std::to_string(devs.size()) + " device(s)";
  }
  if (all.empty()) return Status::Unavailable("no OpenCL device (" + listed + ")");
  size_t pick = 0;
  if (device_index >= 0) {
    if (device_index >= static_cast<int>(all.size())) {
      return Status::Unavailable("OpenCL device index " + std::to_string(device_index) +
                                 " does not exist (" + listed + ")");
    }
    pick = device_index;
  } else {
    for (size_t i = 0; i < all.size(); ++i) {
      if (DeviceValue<cl_device_type>(all[i].second, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_GPU) {
        pick = i;
        break;
      }
    }
  }
  DeviceChoice choice;
  choice.platform = all[pick].first;
  choice.device = all[pick].second;
  choice.info = QueryDevice(choice.platform, choice.device);
  return choice;
}

Result<Program> Program::Build(cl_context context, cl_device_id device, const char* source,
                               const std::string& options, const char* const* names, int count) {
  cl_int err = CL_SUCCESS;
  Program p;
  p.program_.reset(clCreateProgramWithSource(context, 1, &source, nullptr, &err));
  RETURN_IF_ERROR(ClStatus(err, "clCreateProgramWithSource"));
  err = clBuildProgram(p.program_.get(), 1, &device, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    size_t size = 0;
    clGetProgramBuildInfo(p.program_.get(), device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
    std::string log(size, '\0');
    clGetProgramBuildInfo(p.program_.get(), device, CL_PROGRAM_BUILD_LOG, size, log.data(),
                          nullptr);
    return Status::Internal("OpenCL program build failed (" + options + "): " + ClErrorName(err) +
                            "\n" + log);
  }
  for (int i = 0; i < count; ++i) {
    KernelPtr k(clCreateKernel(p.program_.get(), names[i], &err));
    RETURN_IF_ERROR(ClStatus(err, std::string("clCreateKernel ") + names[i]));
    p.kernels_[names[i]] = std::move(k);
  }
  return p;
}

cl_kernel Program::kernel(const std::string& name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : it->second.get();
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) {  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u : 0u));
  }
  if (mag >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to Inf
  if (mag < 0x38800000u) {                                               // subnormal half or zero
    if (mag < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = mag >> 23;
    const uint32_t m = (mag & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // value = m * 2^(e - 150) = (m >> shift) * 2^-24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half_way = 1u << (shift - 1);
    if (rem > half_way || (rem == half_way && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((mag - 0x38000000u) >> 13);
  const uint32_t rem = mag & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  uint32_t x;
  if (e == 0x1f) {
    x = sign | 0x7f800000u | (m << 13);
  } else if (e == 0) {
    if (m == 0) {
      x = sign;
    } else {  // subnormal: normalise
      e = 113;
      while ((m & 0x400u) == 0) {
        m <<= 1;
        --e;
      }
      x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

}  // namespace autoscale::opencl
