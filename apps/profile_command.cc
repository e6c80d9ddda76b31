// `autoscale profile`: measure this machine's local targets and write a device profile that
// `autoscale sim` loads like the shipped ones (plus a ready-to-run experiment using it).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "apps/local_targets.h"
#include "core/config.h"
#include "core/config_dir.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "env/layer_predictor.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"
#include "targets/profiler.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace {
constexpr const char* kProfileAbout =
    R"(Measures every available local target (cpu: libtorch FP32 and INT8; opencl: FP32, and FP16
where the device has cl_khr_fp16; dsp: the INT8 stub, whose latency is modelled) for every
model (the zoo, then the TorchScript models of --model-dir), or those of --models: warm-up
runs, then repeats, median and p95; a case whose p95 is over 1.5x its median is measured again
(up to twice) and the output says so. Writes OUT/NAME.yaml, a device profile in the
configs/devices schema with the measured latencies (measured_ms) and per-layer-class rates
fitted to them (a class the measured models cannot identify says what stands in for it), and
OUT/experiment.yaml, an experiment on that device: `autoscale sim OUT/experiment.yaml`. The
profile is validated before it is written and loaded back after. Power comes from energy
counters when the host has them (RAPL, battery), otherwise from the reference profile; every
number in the file says where it came from. Where a target can time a run node by node (cpu),
the profile also holds a layer-level latency model per precision (layer_models:), fitted on
the measured models' in-model layer times and on in-model probes for layers the measured
models may lack: fully connected layers of 2 M to 67 M weights; max, average and global average
pooling; squeeze-and-excitation's multiply; ShuffleNet's slices, concatenation and channel
shuffle; LSTM layers (about 20 s; --no-probes leaves them out).

)";

std::string Today() {
  std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", std::localtime(&t));
  return buf;
}

// "AMD EPYC, 2 CPUs" and the current clock, from /proc/cpuinfo.
std::string HostName(double* mhz) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  *mhz = 0;
  while (std::getline(in, line)) {
    auto value = [&] { return std::string(Trim(line.substr(line.find(':') + 1))); };
    if (model.empty() && line.rfind("model name", 0) == 0) model = value();
    if (*mhz == 0 && line.rfind("cpu MHz", 0) == 0) ParseDouble(value(), mhz);
  }
  if (model.empty()) model = "unknown CPU";
  return model + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs";
}

// `device_path` and `model_dir` relative to the experiment's folder, so that the folder can be
// moved or copied whole. `model_dir`: the folder of the user models measured ("" for none);
// `models: all` then takes them too, each described from its file as the profile measured it.
// Scenario, network and reference names are the shipped ones, found wherever autoscale is.
std::string ExperimentYaml(const std::string& name, const std::string& device_path,
                           const std::string& model_dir) {
  return "# Written by `autoscale profile`: the standard conditions on the measured device.\n"
         "name: measured_" +
         name +
         "\n"
         "description: \"Policies on " +
         name +
         ", a device profile measured by autoscale profile\"\n"
         "conditions: [standard]   # the shipped scenarios/standard.yaml\n"
         "seeds: [1, 2]\n"
         "train_requests: 50000\n"
         "eval_requests: 5000\n" +
         (model_dir.empty() ? std::string() : "model_dir: " + model_dir + "\n") +
         "models: all\n"
         "world:\n"
         "  compute_noise: 0.05\n"
         "  network_noise: 0.10\n"
         "reward:\n"
         "  qos_penalty_mj: 10000\n"
         "  accuracy_penalty_mj: 10000\n"
         "grid:\n"
         "  devices: [" +
         device_path +
         "]\n"
         "  networks: [wifi_strong, wifi_weak, lte_strong, lte_weak]\n"
         "  loads: [none, moderate, heavy]\n"
         "  requests: [realtime, relaxed]\n"
         "references: {cpu: cpu, cloud: cloud}\n"
         "policies:\n"
         "  - q_learning\n"
         "  - model_greedy\n"
         "  - oracle\n"
         "  - {name: static, label: always_cpu, params: {target: cpu}}\n"
         "  - {name: static, label: always_cloud, params: {target: cloud}}\n";
}
// Writes OUT/NAME.yaml only if it passes the validation every reader applies: parsed from the
// text first (a failure leaves nothing at the path, and the rejected text beside it), then
// loaded back from the file.
Status WriteValidatedProfile(const std::string& out_dir, const std::string& name,
                             const std::string& yaml) {
  RETURN_IF_ERROR(MakeDirs(out_dir));
  const std::string path =
      std::filesystem::absolute(out_dir + "/" + name + ".yaml").lexically_normal().string();
  auto node = ConfigNode::LoadString(yaml, path);
  Status st = node.ok() ? ParseDeviceProfile(*node).status() : node.status();
  if (!st.ok()) {
    const std::string rejected = path + ".rejected";
    (void)WriteFileAtomic(rejected, yaml);
    return Status::Internal("the device profile fails its own validation, so " + path +
                            " was not written (its text is in " + rejected +
                            ", same lines): " + st.message());
  }
  RETURN_IF_ERROR(WriteFileAtomic(path, yaml));
  std::error_code ec;
  std::filesystem::remove(path + ".rejected", ec);  // from an earlier run, if any
  auto back = LoadDeviceProfile(path);
  if (!back.ok()) return back.status();
  return Status::Ok();
}
// `layer_models:` (env/layer_predictor.h): per fitted local target and measured precision, the
// layer-level latency model fitted on the in-model layer times of the models measured there
// (timed again node by node, `repeats` runs) and, with `probes`, of the in-model probes
// (InModelProbeGraphs). Targets that cannot time a run node by node are left out, and the
// output says so. "" when nothing was fitted.
std::string LayerModelsYaml(const std::vector<ProfileCase>& cases, const std::vector<Target*>& run,
                            const std::vector<TargetFit>& fits, ModelStore& store,
                            const ProfileOptions& popts, const DeviceProfileWriteOptions& wopts,
                            bool probes, bool quiet) {
  std::vector<std::shared_ptr<const ModelSpec>> probe_specs;
  if (probes) {
    auto specs = InModelProbeSpecs();
    if (specs.ok()) {
      probe_specs = std::move(*specs);
    } else {
      std::cerr << "in-model probes left out: " << specs.status().message() << "\n";
    }
  }
  std::string out;
  for (Target* r : run) {
    bool fitted = false;
    for (const TargetFit& f : fits) fitted = fitted || f.target == r;
    if (r->available() && !fitted) {
      std::cerr << "layer model not fitted: " << r->description().name
                << ": its entry is not fitted from measurements (copied from the reference)\n";
    }
  }
  for (const TargetFit& f : fits) {
    Target* t = nullptr;
    for (Target* r : run) {
      if (r == f.target) t = r;
    }
    if (t == nullptr || !t->available()) continue;
    const std::string& tname = t->description().name;
    std::string per_target;
    for (Precision p : f.precisions) {
      const std::string pname(PrecisionName(p));
      std::vector<std::shared_ptr<const ModelSpec>> specs;  // keep the graphs alive
      std::vector<InModelRun> runs;
      std::string why;
      for (const ProfileCase& c : cases) {
        if (c.target != tname || c.precision != p || !c.status.ok()) continue;
        auto spec = store.Get(c.model);
        if (!spec.ok() || !(*spec)->is_graph()) continue;
        auto r = TimeModelNodes(*t, **spec, p, popts.warmup, std::max(3, popts.repeats));
        if (!r.ok()) {
          why = r.status().message();
          if (r.status().code() == StatusCode::kUnavailable) break;
          continue;
        }
        specs.push_back(*spec);
        runs.push_back(std::move(*r));
      }
      if (runs.empty()) {
        std::cerr << "layer model not fitted: " << tname << " " << pname << ": "
                  << (why.empty() ? "no measured model has a graph" : why) << "\n";
        continue;
      }
      const size_t n_models = runs.size();
      for (const auto& spec : probe_specs) {
        auto r = TimeModelNodes(*t, *spec, p, popts.warmup, std::max(3, popts.repeats));
        if (!r.ok()) {
          std::cerr << "probe " << spec->name << " on " << tname << " " << pname
                    << " left out: " << r.status().message() << "\n";
          continue;
        }
        r->probe = true;
        runs.push_back(std::move(*r));
      }
      auto fit = FitLayerModelInModel(runs);
      if (!fit.ok()) {
        std::cerr << "layer model not fitted: " << tname << " " << pname << ": "
                  << fit.status().message() << "\n";
        continue;
      }
      std::string source = "in-model layer times of ";
      source += std::to_string(n_models);
      source += " models";
      if (runs.size() > n_models) {
        source += " and " + std::to_string(runs.size() - n_models) + " probes";
      }
      source += ", measured by autoscale profile on ";
      source += wopts.host;
      source += ", ";
      source += wopts.date;
      per_target += "    " + pname + ":\n";
      per_target += LayerFitYaml(*fit, 6, source);
      if (!quiet) {
        std::cerr << "layer model: " << tname << " " << pname << " fitted on "
                  << fit->samples.size() << " layers of " << n_models << " models and "
                  << runs.size() - n_models << " probes\n";
      }
    }
    if (!per_target.empty()) out += "  " + tname + ":\n" + per_target;
  }
  if (out.empty()) return "";
  return "# Layer-level latency models (issue 11, point 7; configs/README.md): a model this "
         "profile\n"
         "# did not measure is predicted from its layers.\n"
         "layer_models:\n" +
         out;
}

struct ProfileArgs {
  std::string out_dir = "results/profile", name = "host", reference = "sd845", model_dir;
  std::string targets, models, cpus;
  ProfileOptions popts;
  LocalTargetOptions topts;
  bool no_counters = false, quiet = false, no_probes = false;
};

int RunProfile(ProfileArgs& args) {
  const std::string &out_dir = args.out_dir, &name = args.name, &reference = args.reference,
                    &model_dir = args.model_dir;
  const std::vector<std::string> targets = cli::SplitList(args.targets),
                                 models = cli::SplitList(args.models);
  ProfileOptions& popts = args.popts;
  LocalTargetOptions& topts = args.topts;
  const bool quiet = args.quiet;
  if (!args.cpus.empty()) {
    auto cpus = ParseCpuList(args.cpus);
    if (!cpus.ok()) return Fail(cpus.status().WithPrefix("--cpus"));
    topts.cpus = *cpus;
  }
  if (args.no_counters) topts.use_counters = false;

  auto shipped = ShippedConfigDir();
  if (!shipped.ok()) return Fail(shipped.status());
  ProfileCatalog catalog(*shipped);
  auto ref = catalog.Device(reference);
  if (!ref.ok()) return Fail(ref.status());
  topts.reference = **ref;
  std::error_code ec;
  if (!model_dir.empty() && !std::filesystem::is_directory(model_dir, ec)) {
    return Fail(Status::NotFound("model folder '" + model_dir +
                                 "' does not exist or is not a "
                                 "folder"));
  }
  ModelStore store(model_dir);
  for (const std::string& m : models) {
    if (auto s = store.Get(m); !s.ok()) return Fail(s.status());
  }
  auto created = CreateLocalTargets(targets, topts);
  if (!created.ok()) return Fail(created.status());
  std::vector<Target*> run;
  std::vector<const Target*> all;
  for (auto& t : *created) {
    const TargetDescription& d = t->description();
    std::cerr << "target " << d.name << ": "
              << (d.available ? d.device + "; " + d.notes : "unavailable: " + d.unavailable_reason)
              << "\n";
    run.push_back(t.get());
    all.push_back(t.get());
  }
  popts.models = models;
  if (!quiet) popts.progress = [](const std::string& line) { std::cerr << line << "\n"; };

  // 1. Measure.
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ProfileCase> cases = ProfileTargets(run, store, popts);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int ok = 0, skipped = 0, remeasured = 0;
  for (const ProfileCase& c : cases) {
    (c.status.ok() ? ok : skipped)++;
    if (!c.unsteady_ratios.empty()) ++remeasured;
  }

  // 2. Fit.
  DeviceProfileWriteOptions wopts;
  wopts.name = name;
  wopts.host = HostName(&wopts.host_freq_mhz);
  wopts.description = "This machine as measured by autoscale profile: " + wopts.host;
  wopts.date = Today();
  wopts.reference = **ref;
  wopts.reference_file = "configs/devices/" + reference + ".yaml";
  auto fits = FitTargets(cases, all, store, wopts);
  if (!fits.ok()) return Fail(fits.status());
  for (const TargetFit& f : *fits) {
    for (const std::string& line : f.unfitted) {
      std::cerr << "rates not fitted: " << f.target->description().name << " " << line << "\n";
    }
  }

  // 3. Write, never a profile that fails its own validation.
  auto yaml = WriteDeviceProfileYaml(cases, all, *fits, wopts);
  if (!yaml.ok()) return Fail(yaml.status());
  *yaml += LayerModelsYaml(cases, run, *fits, store, popts, wopts, !args.no_probes, quiet);
  Status st = WriteValidatedProfile(out_dir, name, *yaml);
  if (!st.ok()) return Fail(st);
  const std::string device_path =
      std::filesystem::absolute(out_dir + "/" + name + ".yaml").lexically_normal().string();
  const std::filesystem::path out_abs = std::filesystem::absolute(out_dir).lexically_normal();
  st = WriteFileAtomic(out_dir + "/experiment.yaml",
                       ExperimentYaml(name, "./" + name + ".yaml",
                                      model_dir.empty() ? ""
                                                        : std::filesystem::absolute(model_dir)
                                                              .lexically_normal()
                                                              .lexically_relative(out_abs)
                                                              .string()));
  if (!st.ok()) return Fail(st);

  std::cerr << "profiled " << ok << " cases (" << skipped << " skipped";
  if (remeasured > 0) {
    std::cerr << "; " << remeasured << " re-measured for a p95 over "
              << FormatDouble(popts.unsteady_p95_ratio, 3) << "x the median";
  }
  std::cerr << ") in " << FormatDouble(seconds, 3) << " s\n"
            << "device profile: " << device_path << " (validated: loaded back)\n"
            << "experiment:     " << out_dir << "/experiment.yaml  (autoscale sim " << out_dir
            << "/experiment.yaml)\n";
  return ok > 0 ? 0 : 1;
}

}  // namespace

cli::Command AddProfileCommand(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "profile", "measure this machine's local targets and write a device profile");
  sub->footer(kProfileAbout);
  auto a = std::make_shared<ProfileArgs>();
  sub->add_option("--out", a->out_dir, "output folder")->type_name("DIR")->capture_default_str();
  sub->add_option("--name", a->name, "device name: letters, digits, '_', '-', '.'")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return IsSafeModelName(v) ? ""
                                      : "takes letters, digits, '_', '-', '.', got '" + v + "'";
          },
          ""))
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_option("--targets", a->targets,
                  "comma-separated local targets (default: all built in: cpu,opencl,dsp)")
      ->type_name("LIST");
  sub->add_option("--models", a->models,
                  "comma-separated models, zoo or user (default: all of them)")
      ->type_name("LIST");
  sub->add_option("--model-dir", a->model_dir,
                  "TorchScript models (NAME.pt + NAME.yaml); a user's NAME.pt is measured as "
                  "itself even where the zoo has a model of that name")
      ->type_name("DIR");
  sub->add_option("--warmup", a->popts.warmup, "untimed runs per case")
      ->check(cli::IntegerIn(0, 1000))
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--repeats", a->popts.repeats, "timed runs per case")
      ->check(cli::IntegerIn(1, 100000))
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--max-seconds", a->popts.max_seconds_per_case,
                  "stop repeating a case after S seconds, keeping at least 3 runs")
      ->check(cli::NumberIn(1, 86400))
      ->type_name("S")
      ->capture_default_str();
  sub->add_option("--threads", a->topts.threads, "CPU threads (default: one per allowed CPU)")
      ->check(cli::IntegerIn(1, 1024))
      ->type_name("N");
  sub->add_option("--cpus", a->cpus, "pin CPU inference to these CPUs, e.g. 0-3")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            auto cpus = ParseCpuList(v);
            return cpus.ok() ? "" : cpus.status().message();
          },
          ""))
      ->type_name("LIST");
  sub->add_option("--reference", a->reference, "profile supplying what cannot be measured")
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_flag("--no-counters", a->no_counters,
                "do not read energy counters even if present (model energy instead)");
  sub->add_flag("--no-probes", a->no_probes,
                "fit the layer models on the measured models alone, without the in-model probes");
  sub->add_flag("--quiet", a->quiet, "no progress lines");
  return {sub, [a] { return RunProfile(*a); }};
}

}  // namespace autoscale
