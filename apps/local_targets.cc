#include "apps/local_targets.h"

#include <cstdio>

#include "agent/model_profiles.h"
#include "core/strings.h"
#include "env/user_models.h"
#include "targets/model_store.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/cpu_target.h"
#include "targets/cpu/pipeline_target.h"
#include "targets/dsp/dsp_target.h"
#include "zoo/torchscript/torchscript_import.h"
#endif
#if AUTOSCALE_HAVE_OPENCL
#include "targets/opencl/opencl_target.h"
#endif

namespace autoscale {

namespace {
[[maybe_unused]] PowerModel PowerOf(const DeviceProfile& d, TargetKind kind) {
  const TargetProfile* t = d.FirstOfKind(kind);
  return t ? PowerModelFor(d, *t) : PowerModel{};
}

#if AUTOSCALE_HAVE_TORCH
// The reference's CPU processors (not its pipelined targets), in order: fastest first.
std::vector<const TargetProfile*> CpuProcessors(const DeviceProfile& d) {
  std::vector<const TargetProfile*> out;
  for (const TargetProfile& t : d.targets) {
    if (t.kind == TargetKind::kCpu && !t.is_pipeline()) out.push_back(&t);
  }
  return out;
}

// The pipelined CPU target (see CreateLocalTargets for its power).
Result<std::unique_ptr<Target>> CreatePipeline(const LocalTargetOptions& o) {
  PipelineOptions po;
  po.name = o.power_target.empty() ? "cpu_pipeline" : o.power_target;
  po.sysfs_root = o.sysfs_root;
  po.max_in_flight = o.max_in_flight;
  po.refine_requests = o.search_requests;
  po.base_power_mw = o.reference.base_power_mw;
  std::string how;
  if (o.stages.empty()) {
    DefaultPipelineStages(po.sysfs_root, &po.stages, &how);
  } else {
    for (const LocalTargetOptions::Stage& st : o.stages) {
      po.stages.push_back({st.cpus, st.threads, 0});
    }
  }
  // Which of the reference's processors power each stage.
  std::vector<const TargetProfile*> powered_by;
  const int p = o.reference.FindTarget(o.power_target);
  if (p >= 0 && o.reference.targets[p].is_pipeline()) {
    for (const std::string& st : o.reference.targets[p].pipeline_stages) {
      const int t = o.reference.FindTarget(st);
      if (t >= 0) powered_by.push_back(&o.reference.targets[t]);
    }
  } else {
    powered_by = CpuProcessors(o.reference);
  }
  std::string power_note;
  for (size_t s = 0; s < po.stages.size() && !powered_by.empty(); ++s) {
    const TargetProfile& t = *powered_by[std::min(s, powered_by.size() - 1)];
    if (t.levels.empty()) continue;
    po.stages[s].power_mw = t.levels.front().power_mw;
    power_note += (s ? ", " : "") + o.reference.name + "/" + t.name;
  }
  // Create says "stages as configured" (they are, here): the note says where they came from.
  po.note = (o.stages.empty() ? "stages: " + how + "; " : std::string()) +
            "stage power: " + (power_note.empty() ? "none (energy not modelled)" : power_note);
  ASSIGN_OR_RETURN(std::unique_ptr<PipelinedCpuTarget> made, PipelinedCpuTarget::Create(po));
  return std::unique_ptr<Target>(std::move(made));
}
#endif

}  // namespace

std::vector<std::string> LocalTargetNames() { return {"cpu", "cpu_pipeline", "opencl", "dsp"}; }

Result<std::vector<std::unique_ptr<Target>>> CreateLocalTargets(
    const std::vector<std::string>& names, const LocalTargetOptions& o) {
  std::vector<std::string> wanted =
      names.empty() ? std::vector<std::string>{"cpu", "opencl", "dsp"} : names;
  std::vector<std::unique_ptr<Target>> out;
  for (const std::string& name : wanted) {
    if (name == "cpu_pipeline") {
#if AUTOSCALE_HAVE_TORCH
      ASSIGN_OR_RETURN(std::unique_ptr<Target> t, CreatePipeline(o));
      out.push_back(std::move(t));
#else
      return Status::Unavailable(
          "target 'cpu_pipeline' needs libtorch: configure with "
          "-DAUTOSCALE_WITH_TORCH=ON");
#endif
    } else if (name == "cpu" || name == "dsp") {
#if AUTOSCALE_HAVE_TORCH
      CpuOptions cpu;
      cpu.threads = o.threads;
      cpu.cpus = o.cpus;
      cpu.use_counters = o.use_counters;
      cpu.sysfs_root = o.sysfs_root;
      cpu.set_frequency = o.set_frequency;
      cpu.power = PowerOf(o.reference, TargetKind::kCpu);
      if (const int t = o.reference.FindTarget(o.power_target); !o.power_target.empty() && t >= 0) {
        cpu.power = PowerModelFor(o.reference, o.reference.targets[t]);
      }
      if (name == "cpu") {
        const std::vector<CpuCluster> clusters = o.per_cluster && o.cpus.empty()
                                                     ? DetectCpuClusters(o.sysfs_root)
                                                     : std::vector<CpuCluster>{};
        if (clusters.size() <= 1) {
          out.push_back(CpuTarget::Create(cpu));
          continue;
        }
        // Name and power each cluster after the reference's CPU targets in order (fastest
        // first), e.g. cpu_big then cpu_little.
        const std::vector<const TargetProfile*> ref_cpus = CpuProcessors(o.reference);
        for (size_t i = 0; i < clusters.size(); ++i) {
          CpuOptions c = cpu;
          c.cpus = clusters[i].cpus;
          c.threads = static_cast<int>(clusters[i].cpus.size());
          if (i < ref_cpus.size()) {
            c.name = ref_cpus[i]->name;
            c.power = PowerModelFor(o.reference, *ref_cpus[i]);
          } else {
            c.name = "cpu_cluster" + std::to_string(i);
          }
          out.push_back(CpuTarget::Create(c));
        }
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
      return Status::Unavailable(
          "target 'opencl' needs OpenCL: configure with "
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

Result<InModelRun> TimeModelNodes(Target& target, const ModelSpec& model, Precision precision,
                                  int warmup, int runs) {
#if AUTOSCALE_HAVE_TORCH
  if (auto* cpu = dynamic_cast<CpuTarget*>(&target); cpu != nullptr && model.is_graph()) {
    ASSIGN_OR_RETURN(CpuTarget::NodeTimes t, cpu->TimeNodes(model, precision, warmup, runs));
    return InModelRun{model.name, &model.graph->graph, std::move(t.node_ms), t.run_ms};
  }
#endif
  (void)warmup;
  (void)runs;
  (void)precision;
  return Status::Unavailable(model.is_graph() ? "target '" + target.description().name +
                                                    "' cannot time a run node by node"
                                              : "model '" + model.name + "' has no graph");
}

void InstallModelReaders() {
#if AUTOSCALE_HAVE_TORCH
  InstallTorchScriptImporter();
  SetUserModelProfiler([](const std::string& dir, const std::string& name) -> Result<ModelProfile> {
    ModelStore store(dir);
    ASSIGN_OR_RETURN(std::shared_ptr<const ModelSpec> spec, store.Get(name));
    LocalTargetOptions o;
    o.per_cluster = false;
    o.use_counters = false;
    std::vector<std::string> names = {"cpu"};
#if AUTOSCALE_HAVE_OPENCL
    names.push_back("opencl");
#endif
    ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Target>> targets, CreateLocalTargets(names, o));
    ProfileMeasurers m;
    for (auto& t : targets) {
      if (t->available()) m.targets.push_back(t.get());
    }
    if (!targets.empty() && targets[0]->available()) m.reference = targets[0].get();
    ASSIGN_OR_RETURN(ModelProfile p, DeriveModelProfile(*spec, m));
    std::fprintf(stderr, "autoscale: model '%s' is %s (profile derived from the file):\n%s\n",
                 name.c_str(), spec->torchscript_path.c_str(), DescribeAccuracy(p).c_str());
    return p;
  });
#endif
}

}  // namespace autoscale
