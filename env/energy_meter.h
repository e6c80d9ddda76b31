// Energy counters of the host, where it exposes them: RAPL package domains under
// /sys/class/powercap (Intel, and AMD on Linux >= 5.8 through the same interface) or a battery's
// power under /sys/class/power_supply. The sysfs root is a parameter so tests can use a fake tree.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoscale {

class EnergyMeter {
 public:
  enum class Kind { kRapl, kBattery };
  struct Sample {
    std::chrono::steady_clock::time_point time;
    double value = 0;  // RAPL: cumulative energy (uJ, summed over packages); battery: power (uW)
  };

  // The first readable source under `sysfs_root` (RAPL first), or null when there is none, with
  // `why` (if given) saying what was looked for.
  static std::unique_ptr<EnergyMeter> Detect(const std::string& sysfs_root = "/sys",
                                             std::string* why = nullptr);

  Kind kind() const { return kind_; }
  std::string description() const;  // "RAPL: intel-rapl:0" / "battery: BAT0"

  Result<Sample> Read() const;
  // Energy in mJ between two samples: RAPL counter difference (wrap-around handled); battery:
  // mean of the two power readings x elapsed time.
  double EnergyMj(const Sample& start, const Sample& end) const;

 private:
  struct Domain {
    std::string energy_path;
    double max_range_uj = 0;
  };
  Kind kind_ = Kind::kRapl;
  std::vector<Domain> rapl_;
  std::string battery_dir_;  // power_now, or current_now x voltage_now
};

}  // namespace autoscale
