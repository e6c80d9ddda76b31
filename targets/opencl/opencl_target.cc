#include "targets/opencl/opencl_target.h"

#include <chrono>
#include <optional>
#include <utility>

#include "targets/opencl/cl_util.h"
#include "targets/opencl/executor.h"
#include "targets/opencl/kernels.h"
#include "targets/opencl/plan.h"

namespace autoscale {

using opencl::Executor;
using opencl::Program;

struct OpenClTarget::Impl {
  OpenClOptions options;
  TargetDescription desc;
  opencl::DeviceChoice choice;
  opencl::ContextPtr context;
  opencl::QueuePtr queue;
  std::optional<Program> programs[2];  // FP32, FP16; built on first use
  // Prepared models, keyed by graph and precision; the shared_ptr keeps the key's graph alive.
  struct Prepared {
    std::shared_ptr<const WeightedGraph> graph;
    std::unique_ptr<Executor> executor;
  };
  std::map<std::pair<const WeightedGraph*, Precision>, Prepared> models;
  std::map<std::string, KernelTime> profile;

  Status CheckPrecision(Precision p) const;
  Result<const Program*> ProgramFor(Precision p);
};

Status OpenClTarget::Impl::CheckPrecision(Precision p) const {
  switch (p) {
    case Precision::kFp32:
      return Status::Ok();
    case Precision::kFp16:
      if (!choice.info.fp16) {
        return Status::Unavailable("fp16 on OpenCL: device '" + choice.info.name +
                                   "' does not report cl_khr_fp16");
      }
      if (!options.allow_fp16) {
        return Status::Unavailable("fp16 on OpenCL: disabled by options (allow_fp16 = false)");
      }
      return Status::Ok();
    case Precision::kInt8:
      break;
  }
  return Status::Unavailable(std::string("OpenCL target runs fp32 and fp16, not ") +
                             std::string(PrecisionName(p)));
}

Result<const Program*> OpenClTarget::Impl::ProgramFor(Precision p) {
  const bool fp16 = p == Precision::kFp16;
  std::optional<Program>& slot = programs[fp16 ? 1 : 0];
  if (!slot) {
    ASSIGN_OR_RETURN(Program prog,
                     Program::Build(context.get(), choice.device, opencl::KernelSource(),
                                    opencl::BuildOptions(fp16), opencl::kKernelNames,
                                    static_cast<int>(std::size(opencl::kKernelNames))));
    slot.emplace(std::move(prog));
  }
  return &*slot;
}

OpenClTarget::OpenClTarget(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpenClTarget::~OpenClTarget() = default;

std::unique_ptr<OpenClTarget> OpenClTarget::Create(const OpenClOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  TargetDescription& d = impl->desc;
  d.name = "opencl";
  d.kind = TargetKind::kGpu;
  d.levels = 1;
  d.notes =
      "latency: host wall clock around input upload, kernels and output read-back; "
      "energy: modelled, (level power + base power) x latency" +
      (options.power.source.empty() ? std::string() : " from " + options.power.source);
  auto unavailable = [&](const std::string& why) {
    d.available = false;
    d.unavailable_reason = why;
    return std::unique_ptr<OpenClTarget>(new OpenClTarget(std::move(impl)));
  };
  Result<opencl::DeviceChoice> choice =
      opencl::SelectDevice(options.platform_index, options.device_index);
  if (!choice.ok()) return unavailable(choice.status().message());
  impl->choice = std::move(choice).value();
  const opencl::DeviceInfo& info = impl->choice.info;
  d.device = info.name + " (" + info.platform_name + ", " + info.version + ", " +
             std::to_string(info.compute_units) + " compute units)";
  cl_int err = CL_SUCCESS;
  impl->context.reset(clCreateContext(nullptr, 1, &impl->choice.device, nullptr, nullptr, &err));
  if (err != CL_SUCCESS) return unavailable("clCreateContext: " + opencl::ClErrorName(err));
  const cl_command_queue_properties props = options.profile_kernels ? CL_QUEUE_PROFILING_ENABLE : 0;
  impl->queue.reset(clCreateCommandQueue(impl->context.get(), impl->choice.device, props, &err));
  if (err != CL_SUCCESS) return unavailable("clCreateCommandQueue: " + opencl::ClErrorName(err));
  d.precisions = {Precision::kFp32};
  if (info.fp16 && options.allow_fp16) d.precisions.push_back(Precision::kFp16);
  return std::unique_ptr<OpenClTarget>(new OpenClTarget(std::move(impl)));
}

const TargetDescription& OpenClTarget::description() const { return impl_->desc; }

Status OpenClTarget::Supports(const ModelSpec& model, Precision precision) const {
  if (!impl_->desc.available) {
    return Status::Unavailable("OpenCL target unavailable: " + impl_->desc.unavailable_reason);
  }
  if (!model.is_graph()) {
    std::string msg = "OpenCL target runs graphs; '";
    msg += model.name;
    msg += "' is a TorchScript model without one";
    if (!model.unmapped.empty()) {
      msg += " (its import could not map: ";
      for (size_t i = 0; i < model.unmapped.size(); ++i) {
        if (i > 0) msg += ", ";
        msg += model.unmapped[i];
      }
      msg += ")";
    }
    return Status::InvalidArgument(msg);
  }
  if (model.input_shape != model.graph->graph.input_shape()) {
    return Status::InvalidArgument("model '" + model.name + "' declares input " +
                                   ShapeString(model.input_shape) + " but its graph takes " +
                                   ShapeString(model.graph->graph.input_shape()));
  }
  RETURN_IF_ERROR(opencl::CheckGraph(model.graph->graph));
  return impl_->CheckPrecision(precision);
}

Status OpenClTarget::Prepare(const ModelSpec& model, Precision precision) {
  RETURN_IF_ERROR(Supports(model, precision));
  const auto key = std::make_pair(model.graph.get(), precision);
  if (impl_->models.count(key)) return Status::Ok();
  ASSIGN_OR_RETURN(const Program* program, impl_->ProgramFor(precision));
  ASSIGN_OR_RETURN(opencl::Plan plan, opencl::BuildPlan(*model.graph));
  opencl::Device device;
  device.context = impl_->context.get();
  device.queue = impl_->queue.get();
  device.profiling = impl_->options.profile_kernels;
  device.fixed_work_groups = !impl_->choice.info.is_gpu;
  device.max_alloc_bytes = impl_->choice.info.max_alloc_bytes;
  Result<std::unique_ptr<Executor>> exec =
      Executor::Create(device, *program, std::move(plan), precision == Precision::kFp16);
  if (!exec.ok()) return exec.status().WithPrefix("OpenCL prepare of '" + model.name + "'");
  impl_->models[key] = Impl::Prepared{model.graph, std::move(exec).value()};
  return Status::Ok();
}

Result<InferenceResult> OpenClTarget::Run(const ModelSpec& model, Precision precision, int level,
                                          const HostTensor& input) {
  if (level != 0) {
    return Status::InvalidArgument("OpenCL target has one frequency level (0); got level " +
                                   std::to_string(level));
  }
  RETURN_IF_ERROR(Supports(model, precision));
  RETURN_IF_ERROR(CheckInput(model, input));
  RETURN_IF_ERROR(Prepare(model, precision));
  Executor& exec = *impl_->models.at({model.graph.get(), precision}).executor;
  const int batch = static_cast<int>(input.shape[0]);
  auto* profile = impl_->options.profile_kernels ? &impl_->profile : nullptr;
  const auto start = std::chrono::steady_clock::now();
  Result<std::vector<float>> out = exec.Run(input.data.data(), batch, profile);
  const auto end = std::chrono::steady_clock::now();
  if (!out.ok()) return out.status().WithPrefix("OpenCL run of '" + model.name + "'");
  InferenceResult r;
  r.output.shape = {batch};
  for (int64_t d : exec.plan().output_shape) r.output.shape.push_back(d);
  r.output.data = std::move(out).value();
  r.latency_ms = std::chrono::duration<double, std::milli>(end - start).count();
  r.energy_mj = impl_->options.power.EnergyMj(level, r.latency_ms);
  r.energy_source = EnergySource::kModelled;
  return r;
}

Result<std::vector<OpenClLaunch>> PlannedLaunches(const ModelSpec& model, int batch) {
  if (!model.is_graph()) {
    return Status::InvalidArgument("model '" + model.name +
                                   "' has no graph: the OpenCL target cannot plan it");
  }
  if (batch < 1) return Status::InvalidArgument("batch must be at least 1");
  ASSIGN_OR_RETURN(opencl::Plan plan, opencl::BuildPlan(*model.graph));
  std::vector<OpenClLaunch> out;
  for (const opencl::Step& s : plan.steps) {
    const opencl::KernelLaunch k = opencl::LaunchOf(s, batch);
    out.push_back({k.kernel, s.node, k.global, k.local, k.work_groups()});
  }
  return out;
}

Result<std::vector<OpenClLaunch>> OpenClTarget::LastLaunches(const ModelSpec& model,
                                                             Precision precision) const {
  auto it = impl_->models.find({model.graph.get(), precision});
  if (it == impl_->models.end() || it->second.executor->last_launches().empty()) {
    return Status::NotFound("model '" + model.name + "' has not run at " +
                                      std::string(PrecisionName(precision)) +
                                      " on the OpenCL target");
  }
  std::vector<OpenClLaunch> out;
  for (const opencl::LaunchRecord& r : it->second.executor->last_launches()) {
    OpenClLaunch l{r.kernel, r.node, r.global, r.local, -1};
    if (!r.local.empty()) {
      l.work_groups = 1;
      for (size_t d = 0; d < r.global.size(); ++d) {
        l.work_groups *= static_cast<int64_t>((r.global[d] + r.local[d] - 1) / r.local[d]);
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::map<std::string, KernelTime> OpenClTarget::kernel_profile() const { return impl_->profile; }
void OpenClTarget::ResetKernelProfile() { impl_->profile.clear(); }

}  // namespace autoscale
