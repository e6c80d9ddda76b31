#include "targets/opencl/executor.h"

#include <algorithm>
#include <climits>

#include "targets/opencl/kernels.h"

namespace autoscale::opencl {
namespace {

size_t Tiles(int64_t n, int64_t tile) { return static_cast<size_t>((n + tile - 1) / tile); }

std::string Mb(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB"; }

}  // namespace

Result<std::unique_ptr<Executor>> Executor::Create(const Device& device, const Program& program,
                                                   Plan plan, bool fp16) {
  std::unique_ptr<Executor> e(new Executor(device, program, std::move(plan), fp16));
  RETURN_IF_ERROR(e->UploadParams());
  return e;
}

Status Executor::UploadParams() {
  auto upload = [&](const std::vector<float>& v, MemPtr* out) -> Status {
    if (v.size() >= static_cast<size_t>(INT_MAX)) {
      return Status::InvalidArgument("a weight tensor of " + std::to_string(v.size()) +
                                     " values exceeds the OpenCL kernels' 32-bit indexing");
    }
    std::vector<uint16_t> half;
    const void* src = v.data();
    if (fp16_) {
      half.resize(v.size());
      for (size_t i = 0; i < v.size(); ++i) half[i] = FloatToHalf(v[i]);
      src = half.data();
    }
    const size_t bytes = std::max<size_t>(v.size(), 1) * elem_bytes();
    if (device_.max_alloc_bytes > 0 && bytes > device_.max_alloc_bytes) {
      return Status::Unavailable("a weight tensor of " + Mb(bytes) +
                                 " exceeds the device's largest allocation (" +
                                 Mb(device_.max_alloc_bytes) + ")");
    }
    cl_int err = CL_SUCCESS;
    out->reset(clCreateBuffer(device_.context, CL_MEM_READ_ONLY, bytes, nullptr, &err));
    RETURN_IF_ERROR(ClStatus(err, "clCreateBuffer (weights)"));
    if (!v.empty()) {
      err = clEnqueueWriteBuffer(device_.queue, out->get(), CL_TRUE, 0, v.size() * elem_bytes(),
                                 src, 0, nullptr, nullptr);
      RETURN_IF_ERROR(ClStatus(err, "clEnqueueWriteBuffer (weights)"));
    }
    return Status::Ok();
  };
  params_.resize(plan_.params.size());
  for (size_t i = 0; i < plan_.params.size(); ++i) {
    RETURN_IF_ERROR(upload(plan_.params[i].weight, &params_[i].weight));
    RETURN_IF_ERROR(upload(plan_.params[i].bias, &params_[i].bias));
    // The host copy is no longer needed; VGG-16's is half a gigabyte.
    plan_.params[i] = PackedParams{};
  }
  return Status::Ok();
}

Status Executor::EnsureBatch(int batch) {
  if (batch <= allocated_batch_) return Status::Ok();
  int64_t largest = std::max(plan_.input_elems, plan_.output_elems);
  for (int64_t e : plan_.physical_elems) largest = std::max(largest, e);
  if (guard() + static_cast<int64_t>(batch) * largest + plan_.read_slack >= INT_MAX) {
    return Status::InvalidArgument(
        "batch " + std::to_string(batch) + " is too large for the OpenCL target: a tensor of " +
        std::to_string(batch * largest) + " values exceeds its kernels' 32-bit indexing");
  }
  buffers_.clear();
  staging_in_.reset();
  staging_out_.reset();
  allocated_batch_ = 0;
  auto alloc = [&](int64_t elems, size_t elem_bytes, MemPtr* out) -> Status {
    const size_t bytes = static_cast<size_t>(elems) * elem_bytes;
    if (device_.max_alloc_bytes > 0 && bytes > device_.max_alloc_bytes) {
      return Status::Unavailable("batch " + std::to_string(batch) + " needs a buffer of " +
                                 Mb(bytes) + ", more than the device's largest allocation (" +
                                 Mb(device_.max_alloc_bytes) + ")");
    }
    cl_int err = CL_SUCCESS;
    out->reset(clCreateBuffer(device_.context, CL_MEM_READ_WRITE, bytes, nullptr, &err));
    RETURN_IF_ERROR(ClStatus(err, "clCreateBuffer (" + std::to_string(bytes) + " bytes)"));
    // Zero, so that the lanes of tiles that overhang an edge never see stale NaNs or denormals.
    const cl_uchar zero = 0;
    err = clEnqueueFillBuffer(device_.queue, out->get(), &zero, 1, 0, bytes, 0, nullptr, nullptr);
    return ClStatus(err, "clEnqueueFillBuffer");
  };
  for (int64_t e : plan_.physical_elems) {
    buffers_.emplace_back();
    RETURN_IF_ERROR(alloc(guard() + batch * e + plan_.read_slack, elem_bytes(), &buffers_.back()));
  }
  if (fp16_) RETURN_IF_ERROR(alloc(batch * plan_.input_elems, sizeof(float), &staging_in_));
  if (fp16_ || plan_.output.batch_stride != plan_.output_elems) {
    RETURN_IF_ERROR(alloc(batch * plan_.output_elems, sizeof(float), &staging_out_));
  }
  allocated_batch_ = batch;
  return Status::Ok();
}

Status Executor::Launch(const char* name, std::vector<size_t> global,
                        const std::vector<KernelArg>& args) {
  cl_kernel k = program_.kernel(name);
  if (k == nullptr) return Status::Internal(std::string("no OpenCL kernel '") + name + "'");
  for (size_t i = 0; i < args.size(); ++i) {
    const KernelArg& a = args[i];
    const cl_int err = a.is_mem
                           ? clSetKernelArg(k, static_cast<cl_uint>(i), sizeof(cl_mem), &a.mem)
                           : clSetKernelArg(k, static_cast<cl_uint>(i), sizeof(cl_int), &a.value);
    RETURN_IF_ERROR(
        ClStatus(err, std::string("clSetKernelArg ") + name + " #" + std::to_string(i)));
  }
  // On CPU devices a fixed work-group size per kernel (in dimensions every kernel checks against
  // its extent); on GPUs the driver's choice.
  const std::vector<size_t> local = FixedLocalSize(name, global.size());
  for (size_t d = 0; d < global.size(); ++d) {
    global[d] = std::max<size_t>(global[d], 1);
    if (device_.fixed_work_groups) global[d] = (global[d] + local[d] - 1) / local[d] * local[d];
  }
  cl_event ev = nullptr;
  const cl_int err =
      clEnqueueNDRangeKernel(device_.queue, k, static_cast<cl_uint>(global.size()), nullptr,
                             global.data(), device_.fixed_work_groups ? local.data() : nullptr, 0,
                             nullptr, device_.profiling ? &ev : nullptr);
  RETURN_IF_ERROR(ClStatus(err, std::string("clEnqueueNDRangeKernel ") + name));
  if (ev != nullptr) events_.emplace_back(name, EventPtr(ev));
  LaunchRecord r;
  r.kernel = name;
  r.node = current_node_;
  r.global = global;
  if (device_.fixed_work_groups) r.local = local;
  launches_.push_back(std::move(r));
  return Status::Ok();
}

Status Executor::Enqueue(const Step& s, int batch) {
  std::vector<KernelArg> vals;
  vals.reserve(32);
  auto view = [&](const View& v) {
    vals.emplace_back(Mem(v));
    vals.emplace_back(v.offset + guard());
    vals.emplace_back(v.batch_stride);
  };
  const int act = static_cast<int>(s.act);
  const size_t n = static_cast<size_t>(batch);
  switch (s.kind) {
    case StepKind::kPad:
      view(s.in);
      for (int v : {s.c, s.h, s.w}) vals.emplace_back(v);
      vals.emplace_back(Mem(s.out));
      vals.emplace_back(s.out.offset + guard());
      for (int v : {s.oh, s.ow, s.ph, s.pw}) vals.emplace_back(v);
      vals.emplace_back(static_cast<int64_t>(n * s.c));
      break;
    case StepKind::kConv: {
      const int icg = s.c / s.groups, ocg = s.oc / s.groups;
      const int nblk = (ocg + kOcBlock - 1) / kOcBlock;
      view(s.in);
      vals.emplace_back(s.h);
      vals.emplace_back(s.w);
      vals.emplace_back(params_[s.params].weight.get());
      vals.emplace_back(params_[s.params].bias.get());
      view(s.out);
      for (int v :
           {s.oh, s.ow, icg, ocg, s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, nblk, s.groups, act}) {
        vals.emplace_back(v);
      }
      break;
    }
    case StepKind::kConv1x1: {
      const int icg = s.c / s.groups, ocg = s.oc / s.groups;
      const int nblk = (ocg + kOcBlock - 1) / kOcBlock;
      const int hw = s.h * s.w;
      view(s.in);
      vals.emplace_back(params_[s.params].weight.get());
      vals.emplace_back(params_[s.params].bias.get());
      view(s.out);
      for (int v : {hw, icg, ocg, nblk, s.groups, act}) vals.emplace_back(v);
      break;
    }
    case StepKind::kDepthwise: {
      view(s.in);
      vals.emplace_back(s.h);
      vals.emplace_back(s.w);
      vals.emplace_back(params_[s.params].weight.get());
      vals.emplace_back(params_[s.params].bias.get());
      view(s.out);
      for (int v : {s.oh, s.ow, s.oc, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, act}) {
        vals.emplace_back(v);
      }
      vals.emplace_back(static_cast<int64_t>(n * s.oc));
      break;
    }
    case StepKind::kMaxPool:
    case StepKind::kAvgPool:
      view(s.in);
      for (int v : {s.c, s.h, s.w}) vals.emplace_back(v);
      view(s.out);
      for (int v : {s.oh, s.ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw}) vals.emplace_back(v);
      vals.emplace_back(static_cast<int64_t>(n * s.c));
      break;
    case StepKind::kGlobalAvgPool:
      view(s.in);
      vals.emplace_back(s.c);
      vals.emplace_back(s.h * s.w);
      view(s.out);
      break;
    case StepKind::kLinear:
      view(s.in);
      vals.emplace_back(params_[s.params].weight.get());
      vals.emplace_back(params_[s.params].bias.get());
      view(s.out);
      for (int v : {s.c, s.oc, act}) vals.emplace_back(v);
      break;
    case StepKind::kAdd:
    case StepKind::kMul: {
      const int e = s.c * s.h * s.w;
      view(s.in);
      view(s.in2);
      view(s.out);
      vals.emplace_back(e);
      vals.emplace_back(act);
      break;
    }
    case StepKind::kScaleChannels: {
      const int hw = s.h * s.w;
      view(s.in);
      view(s.in2);
      view(s.out);
      for (int v : {s.c, hw, act}) vals.emplace_back(v);
      break;
    }
    case StepKind::kAdaptiveAvgPool:
      view(s.in);
      for (int v : {s.c, s.h, s.w}) vals.emplace_back(v);
      view(s.out);
      for (int v : {s.oh, s.ow}) vals.emplace_back(v);
      vals.emplace_back(static_cast<int64_t>(n * s.c));
      break;
    case StepKind::kChannelShuffle: {
      const int hw = s.h * s.w;
      view(s.in);
      view(s.out);
      for (int v : {s.c, hw, s.groups}) vals.emplace_back(v);
      break;
    }
    case StepKind::kActivation: {
      const int e = s.c * s.h * s.w;
      view(s.in);
      view(s.out);
      vals.emplace_back(e);
      vals.emplace_back(act);
      break;
    }
    case StepKind::kCopy: {
      const int e = s.c * s.h * s.w;
      view(s.in);
      view(s.out);
      vals.emplace_back(e);
      break;
    }
    case StepKind::kBatchNorm: {
      const int hw = s.h * s.w;
      view(s.in);
      vals.emplace_back(params_[s.params].weight.get());
      vals.emplace_back(params_[s.params].bias.get());
      view(s.out);
      for (int v : {s.c, hw, act}) vals.emplace_back(v);
      break;
    }
  }
  // The kernel and its global size come from the plan (plan.h, LaunchOf), which the model's
  // block counts are checked against (tests/opencl/gpu_waves_opencl_test.cc).
  const KernelLaunch k = LaunchOf(s, batch);
  return Launch(k.kernel, k.global, vals);
}

Result<std::vector<float>> Executor::Run(const float* input, int batch,
                                         std::map<std::string, KernelTime>* profile) {
  RETURN_IF_ERROR(EnsureBatch(batch));
  events_.clear();
  cl_command_queue q = device_.queue;
  auto record = [&](const char* name, cl_event ev) {
    if (ev != nullptr) events_.emplace_back(name, EventPtr(ev));
  };
  // Input: straight into its buffer at FP32; through a float staging buffer and a conversion
  // kernel at FP16. Blocking, so that no error path below leaves the device reading `input`.
  const int64_t in_elems = batch * plan_.input_elems;
  cl_event ev = nullptr;
  cl_event* evp = device_.profiling ? &ev : nullptr;
  if (!fp16_) {
    RETURN_IF_ERROR(ClStatus(clEnqueueWriteBuffer(q, Mem(plan_.input), CL_TRUE,
                                                  (plan_.input.offset + guard()) * sizeof(float),
                                                  in_elems * sizeof(float), input, 0, nullptr, evp),
                             "clEnqueueWriteBuffer (input)"));
    record("upload", ev);
  } else {
    RETURN_IF_ERROR(ClStatus(clEnqueueWriteBuffer(q, staging_in_.get(), CL_TRUE, 0,
                                                  in_elems * sizeof(float), input, 0, nullptr, evp),
                             "clEnqueueWriteBuffer (input)"));
    record("upload", ev);
    RETURN_IF_ERROR(
        Launch("to_t", {Tiles(plan_.input_elems, kPxTile), static_cast<size_t>(batch)},
               {staging_in_.get(), 0, plan_.input_elems, Mem(plan_.input),
                plan_.input.offset + guard(), plan_.input.batch_stride, plan_.input_elems}));
  }
  launches_.clear();
  current_node_ = -1;
  for (const Step& s : plan_.steps) {
    current_node_ = s.node;
    Status st = Enqueue(s, batch);
    if (!st.ok()) {
      clFinish(q);
      return st.WithPrefix(std::string("node ") + std::to_string(s.node) + " (" +
                           StepKindName(s.kind) + ")");
    }
  }
  current_node_ = -1;
  // Output: read straight from its buffer when it is dense FP32; otherwise gathered (and
  // converted) into the float staging buffer first.
  const int64_t out_elems = batch * plan_.output_elems;
  std::vector<float> out(static_cast<size_t>(out_elems));
  cl_mem read_from = Mem(plan_.output);
  size_t read_offset = (plan_.output.offset + guard()) * sizeof(float);
  if (staging_out_) {
    RETURN_IF_ERROR(
        Launch("from_t", {Tiles(plan_.output_elems, kPxTile), static_cast<size_t>(batch)},
               {Mem(plan_.output), plan_.output.offset + guard(), plan_.output.batch_stride,
                staging_out_.get(), 0, plan_.output_elems, plan_.output_elems}));
    read_from = staging_out_.get();
    read_offset = 0;
  }
  ev = nullptr;
  const cl_int err = clEnqueueReadBuffer(q, read_from, CL_TRUE, read_offset,
                                         out_elems * sizeof(float), out.data(), 0, nullptr, evp);
  record("download", ev);
  RETURN_IF_ERROR(ClStatus(err, "clEnqueueReadBuffer (output)"));
  RETURN_IF_ERROR(ClStatus(clFinish(q), "clFinish"));
  if (profile != nullptr) {
    for (const auto& [name, e] : events_) {
      cl_ulong start = 0, end = 0;
      if (clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_START, sizeof(start), &start,
                                  nullptr) != CL_SUCCESS ||
          clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_END, sizeof(end), &end, nullptr) !=
              CL_SUCCESS) {
        continue;
      }
      KernelTime& t = (*profile)[name];
      t.ms += static_cast<double>(end - start) * 1e-6;
      ++t.launches;
    }
  }
  events_.clear();
  return out;
}

}  // namespace autoscale::opencl
