#include "apps/local_targets.h"

#include "core/strings.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/cpu_target.h"
#include "targets/dsp/dsp_target.h"
#endif
#if AUTOSCALE_HAVE_OPENCL
#include "targets/opencl/opencl_target.h"
#endif

namespace autoscale {

namespace {
const TargetProfile* OfKind(const DeviceProfile& d, TargetKind kind) {
  for (const TargetProfile& t : d.targets) {
    if (t.kind == kind) return &t;
  }
  return nullptr;
}
PowerModel PowerOf(const DeviceProfile& d, TargetKind kind) {
  const TargetProfile* t = OfKind(d, kind);
  return t ? PowerModelFor(d, *t) : PowerModel{};
}
}  // namespace

std::vector<std::string> LocalTargetNames() { return {"cpu", "opencl", "dsp"}; }

Result<std::vector<std::unique_ptr<Target>>> CreateLocalTargets(
    const std::vector<std::string>& names, const LocalTargetOptions& o) {
  std::vector<std::string> wanted = names.empty() ? LocalTargetNames() : names;
  std::vector<std::unique_ptr<Target>> out;
  for (const std::string& name : wanted) {
    if (name == "cpu" || name == "dsp") {
#if AUTOSCALE_HAVE_TORCH
      CpuOptions cpu;
      cpu.threads = o.threads;
      cpu.cpus = o.cpus;
      cpu.use_counters = o.use_counters;
      cpu.power = PowerOf(o.reference, TargetKind::kCpu);
      if (name == "cpu") {
        out.push_back(CpuTarget::Create(cpu));
      } else {
        DspOptions dsp;
        dsp.device = o.reference;
        dsp.cpu = cpu;
        out.push_back(DspTarget::Create(dsp));
      }
#else
      return Status::Unavailable("target '" + name +
                                 "' needs libtorch: configure with -DAUTOSCALE_WITH_TORCH=ON");
#endif
    } else if (name == "opencl") {
#if AUTOSCALE_HAVE_OPENCL
      OpenClOptions cl;
      cl.power = PowerOf(o.reference, TargetKind::kGpu);
      out.push_back(OpenClTarget::Create(cl));
#else
      return Status::Unavailable("target 'opencl' needs OpenCL: configure with "
                                 "-DAUTOSCALE_WITH_OPENCL=ON");
#endif
    } else {
      const std::vector<std::string> all = LocalTargetNames();
      const std::string near = NearestName(name, all);
      return Status::InvalidArgument("unknown local target '" + name + "'" +
                                     (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                                     "; valid: " + JoinNames(all));
    }
  }
  return out;
}

}  // namespace autoscale
