#include "targets/target.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/random.h"
#include "core/strings.h"

namespace autoscale {

const char* EnergySourceName(EnergySource s) {
  switch (s) {
    case EnergySource::kMeasuredRapl:
      return "measured:rapl";
    case EnergySource::kMeasuredBattery:
      return "measured:battery";
    case EnergySource::kModelled:
      return "modelled";
  }
  return "?";
}

void Target::StartRun(const ModelSpec& model, Precision precision, int level, HostTensor input,
                      RunCallback done) {
  done(Run(model, precision, level, input));
}

double PowerModel::EnergyMj(int level, double latency_ms) const {
  const double p = level_power_mw.empty()
                       ? 0.0
                       : level_power_mw[std::min<size_t>(level, level_power_mw.size() - 1)];
  return (p + base_power_mw) * latency_ms / 1000.0;  // mW x ms = uJ; / 1000 = mJ
}

int PowerModel::LevelNearest(double freq_mhz) const {
  int best = 0;
  for (size_t i = 1; i < level_freq_mhz.size(); ++i) {
    if (std::abs(level_freq_mhz[i] - freq_mhz) < std::abs(level_freq_mhz[best] - freq_mhz)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

PowerModel PowerModelFor(const DeviceProfile& device, const TargetProfile& target) {
  PowerModel m;
  for (const auto& l : target.levels) {
    m.level_power_mw.push_back(l.power_mw);
    m.level_freq_mhz.push_back(l.freq_mhz);
  }
  m.base_power_mw = device.base_power_mw;
  m.source = device.name + "/" + target.name;
  return m;
}

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()); ++c) {
      cpus.push_back(static_cast<int>(c));
    }
  }
  return cpus;
}

Result<std::vector<int>> ParseCpuList(const std::string& text) {
  std::vector<int> cpus;
  for (std::string_view part : Split(text, ',')) {
    const std::vector<std::string_view> range = Split(part, '-');
    long long lo = 0, hi = 0;
    if (range.size() > 2 || !ParseInt64(range[0], &lo) ||
        !ParseInt64(range.size() == 2 ? range[1] : range[0], &hi) || lo < 0 || hi < lo ||
        hi >= CPU_SETSIZE) {
      return Status::InvalidArgument("bad CPU list '" + text + "' at '" + std::string(part) +
                                     "': expected e.g. 0-3,6");
    }
    for (long long c = lo; c <= hi; ++c) cpus.push_back(static_cast<int>(c));
  }
  return cpus;
}

std::vector<CpuCluster> DetectCpuClusters(const std::string& sysfs_root) {
  namespace fs = std::filesystem;
  std::vector<CpuCluster> out;
  std::error_code ec;
  for (const auto& e :
       fs::directory_iterator(fs::path(sysfs_root) / "devices/system/cpu/cpufreq", ec)) {
    if (e.path().filename().string().rfind("policy", 0) != 0) continue;
    std::ifstream cpus_file(e.path() / "related_cpus");
    std::string line;
    if (!std::getline(cpus_file, line)) continue;
    CpuCluster c;
    for (std::string_view cpu : SplitWhitespace(line)) {
      long long n = 0;
      if (ParseInt64(cpu, &n) && n >= 0 && n < CPU_SETSIZE) c.cpus.push_back(static_cast<int>(n));
    }
    double khz = 0;
    std::ifstream freq_file(e.path() / "cpuinfo_max_freq");
    if (freq_file >> khz) c.max_freq_mhz = khz / 1000.0;
    if (!c.cpus.empty()) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const CpuCluster& a, const CpuCluster& b) {
    return a.max_freq_mhz != b.max_freq_mhz ? a.max_freq_mhz > b.max_freq_mhz : a.cpus < b.cpus;
  });
  return out;
}

HostTensor MakeHostInput(const ModelSpec& model, uint64_t seed, int batch) {
  HostTensor t;
  t.shape = {batch};
  t.shape.insert(t.shape.end(), model.input_shape.begin(), model.input_shape.end());
  if (model.is_graph()) {
    t.data = MakeInput(model.graph->graph, seed, batch);
  } else {
    Rng rng(seed);
    t.data.resize(static_cast<size_t>(t.elements()));
    for (float& x : t.data) x = static_cast<float>(rng.Uniform(-1, 1));
  }
  return t;
}

Status CheckInput(const ModelSpec& model, const HostTensor& input) {
  const std::vector<int64_t>& want = model.input_shape;
  std::vector<int64_t> expected = {-1};
  expected.insert(expected.end(), want.begin(), want.end());
  bool ok = input.shape.size() == want.size() + 1 && !input.shape.empty() && input.shape[0] >= 1;
  for (size_t i = 0; ok && i < want.size(); ++i) ok = input.shape[i + 1] == want[i];
  if (!ok) {
    return Status::InvalidArgument("model '" + model.name + "' takes input [N, " +
                                   ShapeString(want) + "] (N >= 1), got [" +
                                   ShapeString(input.shape) + "]");
  }
  if (static_cast<int64_t>(input.data.size()) != input.elements()) {
    return Status::InvalidArgument("input shape [" + ShapeString(input.shape) + "] needs " +
                                   std::to_string(input.elements()) + " values, got " +
                                   std::to_string(input.data.size()));
  }
  return Status::Ok();
}

}  // namespace autoscale
