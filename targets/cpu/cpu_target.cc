#include "targets/cpu/cpu_target.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "core/strings.h"
#include "targets/cpu/host_memory.h"
#include "targets/cpu/torch_int8.h"
#include "targets/cpu/torch_model.h"
#include "zoo/model_import.h"

namespace autoscale {

namespace {

// libtorch's intra-op thread count (OpenMP, and the oneDNN primitive cache that
// at::set_num_threads clears), BLAS threads and quantized engine are process-wide, while each
// target sets its own: a CPU target with one thread and the DSP stub with two run each on its
// own daemon thread. Every CPU target, and so the DSP stub, holds this lock while it builds or
// runs a model and sets its own settings under it, so a run never sees another target's
// settings or a cache cleared under it. libtorch uses every core it is given, so two forward
// passes at once on the same cores gain nothing. (oneDNN's "could not create a primitive
// descriptor for a reorder primitive" on INT8 runs came from packed weights reused under
// another thread count or batch size, not from this: see TorchInt8Graph::PacksFor.)
std::mutex& TorchSettingsMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

std::string Int8RefusalForTorchScript(const ModelSpec& model) {
  std::string msg = "INT8 quantises a model's graph, and '";
  msg += model.name;
  msg += "' has none: it runs at FP32 only, as TorchScript (";
  if (model.unmapped.empty()) {
    msg += "this build could not import it into the graph IR)";
    return msg;
  }
  msg += "the import could not map ";
  msg += std::to_string(model.unmapped.size());
  msg += model.unmapped.size() == 1 ? " operation: " : " operations: ";
  msg += JoinNames(model.unmapped, "; ");
  msg += ")";
  return msg;
}

Result<std::vector<std::vector<float>>> LoadCalibrationSamples(const ModelSpec& model,
                                                               size_t max_samples) {
  std::vector<std::vector<float>> samples;
  if (model.torchscript_path.empty()) return samples;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path yaml = fs::path(model.torchscript_path).replace_extension(".yaml");
  if (!fs::is_regular_file(yaml, ec)) return samples;
  ASSIGN_OR_RETURN(ModelSidecar sidecar, LoadModelSidecar(yaml.string()));
  if (sidecar.samples_dir.empty()) return samples;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(sidecar.samples_dir, ec)) {
    if (e.is_regular_file(ec) && e.path().extension() == ".f32") files.push_back(e.path());
  }
  if (ec) {
    return Status::IoError("model '" + model.name + "': cannot list sample folder '" +
                           sidecar.samples_dir + "': " + ec.message());
  }
  if (files.empty()) {
    return Status::InvalidArgument("model '" + model.name + "': sample folder '" +
                                   sidecar.samples_dir + "' (from " + yaml.string() +
                                   ") holds no *.f32 files");
  }
  std::sort(files.begin(), files.end());
  if (files.size() > max_samples) files.resize(max_samples);
  const int64_t count = NumElements(model.input_shape);
  for (const fs::path& f : files) {
    const uintmax_t bytes = fs::file_size(f, ec);
    if (ec || bytes != static_cast<uintmax_t>(count) * sizeof(float)) {
      return Status::InvalidArgument(
          "model '" + model.name + "': sample '" + f.string() + "' has " +
          (ec ? std::string("an unreadable size") : std::to_string(bytes) + " bytes") +
          "; one input " + ShapeString(model.input_shape) + " of float32 is " +
          std::to_string(count * sizeof(float)));
    }
    std::vector<float> v(static_cast<size_t>(count));
    std::ifstream in(f, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes))) {
      return Status::IoError("model '" + model.name + "': cannot read sample '" + f.string() + "'");
    }
    samples.push_back(std::move(v));
  }
  return samples;
}

std::unique_ptr<CpuTarget> CpuTarget::Create(CpuOptions options) {
  return std::unique_ptr<CpuTarget>(new CpuTarget(std::move(options)));
}

CpuTarget::CpuTarget(CpuOptions options) : options_(std::move(options)) {
  UseOneBlasThread();  // see host_memory.h
  desc_.name = options_.name;
  desc_.kind = TargetKind::kCpu;
  desc_.precisions = {Precision::kFp32, Precision::kInt8};
  desc_.levels = 1;
  const std::vector<int> allowed = AllowedCpus();
  const size_t ncpu = options_.cpus.empty() ? allowed.size() : options_.cpus.size();
  threads_ = options_.threads > 0 ? options_.threads : static_cast<int>(std::max<size_t>(1, ncpu));
  desc_.device = "libtorch CPU, " + std::to_string(threads_) + " thread(s)";
  if (!options_.cpus.empty()) {
    desc_.device += " on CPUs ";
    for (size_t i = 0; i < options_.cpus.size(); ++i) {
      if (i > 0) desc_.device += ',';
      desc_.device += std::to_string(options_.cpus[i]);
    }
  }
  std::string why;
  if (options_.use_counters) meter_ = EnergyMeter::Detect(options_.sysfs_root, &why);
  if (meter_) {
    desc_.notes = "latency measured; energy measured (" + meter_->description() + ")";
  } else {
    desc_.notes = "latency measured; energy modelled from " +
                  (options_.power.source.empty() ? std::string("no power profile (reported as 0)")
                                                 : options_.power.source) +
                  (options_.use_counters ? " (" + why + ")" : " (counters disabled)");
  }
  if (!options_.set_frequency) {
    desc_.notes += "; the host's frequency is not set (one level): frequency setting is off";
    return;
  }
  CpufreqOptions fo;
  fo.sysfs_root = options_.sysfs_root;
  fo.cpus = options_.cpus;
  fo.files = options_.sysfs_files;
  cpufreq_ = CpufreqControl::Open(fo);
  if (!cpufreq_->settable()) {
    desc_.notes += "; the host's frequency is not set (one level): " + cpufreq_->why_not();
    cpufreq_.reset();
    return;
  }
  desc_.levels = static_cast<int>(cpufreq_->levels_khz().size());
  desc_.level_freq_mhz = cpufreq_->levels_mhz();
  desc_.notes += "; frequency set for each run and restored after: " + cpufreq_->description();
}

CpuTarget::~CpuTarget() = default;

Status CpuTarget::Supports(const ModelSpec& model, Precision precision) const {
  switch (precision) {
    case Precision::kFp32:
      return Status::Ok();
    case Precision::kInt8:
      if (!model.is_graph()) return Status::InvalidArgument(Int8RefusalForTorchScript(model));
      return Status::Ok();
    case Precision::kFp16:
      return Status::Unavailable(
          "the CPU target runs FP32 and INT8; libtorch has no fast FP16 "
          "CPU inference");
  }
  return Status::InvalidArgument("unknown precision");
}

Result<const TorchModel*> CpuTarget::ModelFor(const ModelSpec& model, Precision precision) {
  auto key = std::make_pair(model.name, precision);
  auto it = models_.find(key);
  if (it != models_.end()) return it->second.get();
  RETURN_IF_ERROR(Supports(model, precision));
  std::unique_ptr<TorchModel> m;
  // A graph runs with the weights it carries (seeded for the zoo, the file's for an imported
  // model); nothing here generates weights for it.
  if (model.is_graph()) {
    RETURN_IF_ERROR(CheckWeights(model.graph->graph, model.graph->weights));
  }
  if (!model.is_graph()) {
    ASSIGN_OR_RETURN(m, TorchScriptModel::Load(model.torchscript_path, model.input_shape));
  } else if (precision == Precision::kFp32) {
    auto g = std::make_unique<TorchGraph>(*model.graph);
    if (options_.channels_last) g->UseChannelsLast();
    m = std::move(g);
  } else {
    Int8Options o;
    if (!options_.int8_engine.empty()) o.engine = options_.int8_engine;
    // A user's model calibrates on the sample inputs its sidecar names, when it names some.
    ASSIGN_OR_RETURN(o.calibration_samples, LoadCalibrationSamples(model, kMaxCalibrationSamples));
    // INT8 scales come from FP32 calibration passes whose sums depend, in their last bits, on
    // the thread count; a few outputs then differ by a quantisation step between targets with
    // other thread counts. Calibrate with one thread so that every target (the DSP stub, each
    // CPU cluster, a test's reference) quantises a model identically.
    auto built = [&] {
      OneTorchThreadHere one;
      return TorchInt8Graph::Build(*model.graph, o);
    }();
    ASSIGN_OR_RETURN(m, std::move(built));
  }
  return models_.emplace(key, std::move(m)).first->second.get();
}

Status CpuTarget::Prepare(const ModelSpec& model, Precision precision) {
  std::lock_guard<std::mutex> lock(TorchSettingsMutex());
  // Built on the caller's thread with one libtorch thread, so that the caller gets no OpenMP team
  // (OneTorchThreadHere says what one cost the runs); Run sets this target's count on its own.
  OneTorchThreadHere one;
  return ModelFor(model, precision).status();
}

void CpuTarget::PinThreads() {
  pinned_ = true;
  if (options_.cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : options_.cpus) CPU_SET(c, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    desc_.notes += "; pinning to the requested CPUs was refused by the OS";
    return;
  }
  // Pin libtorch's intra-op workers too: each runs one chunk of a parallel loop and sets its
  // own affinity (workers started later inherit the caller's).
  at::parallel_for(0, threads_, 1,
                   [&](int64_t, int64_t) { sched_setaffinity(0, sizeof(set), &set); });
}

Result<InferenceResult> CpuTarget::Run(const ModelSpec& model, Precision precision, int level,
                                       const HostTensor& input) {
  if (level < 0 || level >= desc_.levels) {
    return Status::InvalidArgument(
        "target '" + desc_.name + "' has " +
        (desc_.levels == 1 ? std::string("one frequency level (0)")
                           : "frequency levels 0.." + std::to_string(desc_.levels - 1)) +
        "; got level " + std::to_string(level));
  }
  RETURN_IF_ERROR(CheckInput(model, input).WithPrefix("target '" + desc_.name + "'"));
  std::lock_guard<std::mutex> lock(TorchSettingsMutex());
  if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
  if (!pinned_) PinThreads();
  ASSIGN_OR_RETURN(const TorchModel* m, ModelFor(model, precision));

  InferenceResult r;
  r.level = level;
  // The level's frequency, from here until the lease ends: restored after the run, also when
  // it fails (an early return or an exception destroys the lease, which restores).
  std::optional<CpufreqControl::Lease> lease;
  if (cpufreq_) {
    auto set = cpufreq_->Set(level);
    if (!set.ok()) return set.status().WithPrefix("target '" + desc_.name + "'");
    lease.emplace(std::move(set).value());
    r.level = lease->setting().read_back_level;
    r.freq_mhz = static_cast<double>(lease->setting().read_back_khz) / 1000.0;
  }
  EnergyMeter::Sample e0, e1;
  if (meter_) {
    ASSIGN_OR_RETURN(e0, meter_->Read());
  }
  const auto t0 = std::chrono::steady_clock::now();
  torch::Tensor out;
  try {
    out = m->Forward(WrapFloat(input.data.data(), input.shape));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Status::Internal("model '" + model.name + "' failed on target '" + desc_.name +
                            "' (libtorch CPU): " + what.substr(0, what.find('\n')));
  }
  const auto t1 = std::chrono::steady_clock::now();
  r.latency_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  if (meter_) {
    ASSIGN_OR_RETURN(e1, meter_->Read());
    r.energy_mj = meter_->EnergyMj(e0, e1);
    r.energy_source = meter_->kind() == EnergyMeter::Kind::kRapl ? EnergySource::kMeasuredRapl
                                                                 : EnergySource::kMeasuredBattery;
  } else {
    // At a set frequency, the profile level nearest to what ran supplies the power.
    const int power_level = cpufreq_ && !options_.power.level_freq_mhz.empty()
                                ? options_.power.LevelNearest(r.freq_mhz)
                                : level;
    r.energy_mj = options_.power.EnergyMj(power_level, r.latency_ms);
    r.energy_source = EnergySource::kModelled;
  }
  if (lease) {
    RETURN_IF_ERROR(lease->Restore().WithPrefix("target '" + desc_.name + "'"));
  }
  out = out.contiguous().to(torch::kFloat32);
  r.output.shape.assign(out.sizes().begin(), out.sizes().end());
  r.output.data.assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
  return r;
}

Result<CpuTarget::NodeTimes> CpuTarget::TimeNodes(const ModelSpec& model, Precision precision,
                                                  int warmup, int runs) {
  if (!model.is_graph()) {
    return Status::Unavailable("model '" + model.name +
                               "' has no graph: its nodes cannot be timed inside the run");
  }
  if (runs < 1) return Status::InvalidArgument("TimeNodes needs at least one run");
  const HostTensor input = MakeHostInput(model, 1);
  std::lock_guard<std::mutex> lock(TorchSettingsMutex());
  if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
  if (!pinned_) PinThreads();
  ASSIGN_OR_RETURN(const TorchModel* m, ModelFor(model, precision));
  const auto* fp32 = dynamic_cast<const TorchGraph*>(m);
  const auto* int8 = dynamic_cast<const TorchInt8Graph*>(m);
  if (fp32 == nullptr && int8 == nullptr) {
    return Status::Unavailable("model '" + model.name + "' does not run as a graph here");
  }
  const size_t n = model.graph->graph.nodes().size();
  std::vector<std::vector<double>> per_node(n);
  std::vector<double> whole;
  using Clock = std::chrono::steady_clock;
  try {
    for (int r = 0; r < warmup + runs; ++r) {
      const bool keep = r >= warmup;
      // The whole run alone, then the run observed: the observer's clock reads cost little,
      // but the whole-run figure is Run()'s, unobserved.
      auto t0 = Clock::now();
      m->Forward(WrapFloat(input.data.data(), input.shape));
      if (keep)
        whole.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      std::vector<double> times(n, 0.0);
      Clock::time_point last = Clock::now();
      NodeObserver observe = [&](int node, const torch::Tensor&) {
        const Clock::time_point now = Clock::now();
        if (node >= 0 && static_cast<size_t>(node) < n) {
          times[node] += std::chrono::duration<double, std::milli>(now - last).count();
        }
        last = now;
      };
      const torch::Tensor in = WrapFloat(input.data.data(), input.shape);
      last = Clock::now();
      if (fp32) {
        fp32->Forward(in, observe);
      } else {
        int8->Forward(in, observe);
      }
      if (keep) {
        for (size_t i = 0; i < n; ++i) per_node[i].push_back(times[i]);
      }
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Status::Internal("model '" + model.name + "' failed on target '" + desc_.name +
                            "' (libtorch CPU): " + what.substr(0, what.find('\n')));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
  };
  NodeTimes out;
  out.node_ms.resize(n);
  out.node_min_ms.resize(n);
  size_t fastest = 0;
  out.observed_min_ms = std::numeric_limits<double>::infinity();
  for (size_t r = 0; r < static_cast<size_t>(runs); ++r) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += per_node[i][r];
    if (sum < out.observed_min_ms) {
      out.observed_min_ms = sum;
      fastest = r;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    out.node_ms[i] = median(per_node[i]);
    out.node_min_ms[i] = per_node[i][fastest];
  }
  out.run_ms = median(whole);
  out.run_min_ms = *std::min_element(whole.begin(), whole.end());
  return out;
}

}  // namespace autoscale
