#include "env/energy_meter.h"

#include <cmath>
#include <filesystem>
#include <fstream>

namespace autoscale {

namespace fs = std::filesystem;

namespace {
bool ReadNumber(const std::string& path, double* out) {
  std::ifstream in(path);
  double v = 0;
  if (!(in >> v)) return false;
  *out = v;
  return true;
}
std::string Basename(const std::string& p) { return fs::path(p).filename().string(); }
}  // namespace

std::unique_ptr<EnergyMeter> EnergyMeter::Detect(const std::string& sysfs_root, std::string* why) {
  std::error_code ec;
  std::unique_ptr<EnergyMeter> m(new EnergyMeter());
  // RAPL: top-level package domains "intel-rapl:N" (sub-zones "intel-rapl:N:M" are inside them).
  const fs::path powercap = fs::path(sysfs_root) / "class/powercap";
  for (const auto& e : fs::directory_iterator(powercap, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("intel-rapl:", 0) != 0 || name.find(':', 11) != std::string::npos) continue;
    Domain d;
    d.energy_path = (e.path() / "energy_uj").string();
    double v = 0;
    if (!ReadNumber(d.energy_path, &v)) continue;  // unreadable (root-only since 2020 on Intel)
    ReadNumber((e.path() / "max_energy_range_uj").string(), &d.max_range_uj);
    m->rapl_.push_back(d);
  }
  if (!m->rapl_.empty()) {
    m->kind_ = Kind::kRapl;
    return m;
  }
  const fs::path supplies = fs::path(sysfs_root) / "class/power_supply";
  for (const auto& e : fs::directory_iterator(supplies, ec)) {
    std::ifstream type_file(e.path() / "type");
    std::string type;
    if (!(type_file >> type) || type != "Battery") continue;
    m->battery_dir_ = e.path().string();
    if (m->Read().ok()) {
      m->kind_ = Kind::kBattery;
      return m;
    }
  }
  if (why) {
    *why = "no readable RAPL counters under " + powercap.string() +
           " and no battery with power_now or current_now/voltage_now under " + supplies.string();
  }
  return nullptr;
}

std::string EnergyMeter::description() const {
  if (kind_ == Kind::kBattery) return "battery: " + Basename(battery_dir_);
  std::string s = "RAPL:";
  for (const Domain& d : rapl_) s += " " + Basename(fs::path(d.energy_path).parent_path().string());
  return s;
}

Result<EnergyMeter::Sample> EnergyMeter::Read() const {
  Sample s;
  s.time = std::chrono::steady_clock::now();
  if (kind_ == Kind::kRapl) {
    for (const Domain& d : rapl_) {
      double v = 0;
      if (!ReadNumber(d.energy_path, &v)) return Status::IoError("cannot read " + d.energy_path);
      s.value += v;
    }
    return s;
  }
  double p = 0, i = 0, u = 0;
  if (ReadNumber(battery_dir_ + "/power_now", &p)) {
    s.value = std::abs(p);
  } else if (ReadNumber(battery_dir_ + "/current_now", &i) &&
             ReadNumber(battery_dir_ + "/voltage_now", &u)) {
    s.value = std::abs(i) * u / 1e6;  // uA x uV = 1e-12 W; / 1e6 -> uW
  } else {
    return Status::IoError("battery " + battery_dir_ +
                           ": neither power_now nor current_now and voltage_now readable");
  }
  return s;
}

double EnergyMeter::EnergyMj(const Sample& start, const Sample& end) const {
  if (kind_ == Kind::kRapl) {
    double d = end.value - start.value;
    if (d < 0) {  // a counter wrapped; add the ranges back (one wrap per domain at most)
      double range = 0;
      for (const Domain& dom : rapl_) range += dom.max_range_uj;
      d += range;
    }
    return d / 1000.0;  // uJ -> mJ
  }
  const double s = std::chrono::duration<double>(end.time - start.time).count();
  return (start.value + end.value) / 2.0 * s / 1000.0;  // uW x s = uJ; / 1000 -> mJ
}

}  // namespace autoscale
