// Setting a CPU cluster's frequency for the duration of one run, through Linux cpufreq
// (sysfs: ROOT/devices/system/cpu/cpufreq/policyN). Torch-free, so that the simulator's build
// compiles and tests it; the CPU target (targets/cpu) uses it.
//
// A policy's levels are its `scaling_available_frequencies`, highest first; where that file is
// absent (intel_pstate, amd-pstate), `cpuinfo_max_freq` and every `range_step_mhz` below it down
// to `cpuinfo_min_freq`. A lease sets one level: `scaling_setspeed` when the governor is
// `userspace`, else `scaling_max_freq` (and `scaling_min_freq` when that is above the level), and
// restores exactly what it found when it ends, also when the run between fails or throws.
// Without cpufreq, without a policy that covers the CPUs, or without permission to write (EACCES,
// EPERM, EROFS: not root, a read-only /sys as under systemd's ProtectKernelTunables=), the control
// offers no levels and says why.
//
// Threads: a CpufreqControl may be used from many threads. Leases on one policy, from any
// control in the process, are serialised: a second Set() on a policy waits until the first
// lease has restored it, so no run's setting is restored under another run. (Other processes
// writing the same files are not coordinated.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoscale {

// The files a control reads and writes: the real ones, or a test's (faults, a journal of
// writes, a kernel stand-in). Paths are absolute. Thread-safe.
class SysfsFiles {
 public:
  virtual ~SysfsFiles() = default;
  // 0 and the whole contents in *out, or an errno (ENOENT, EACCES, ...).
  virtual int Read(const std::string& path, std::string* out) = 0;
  // Writes `value` to an existing file as one write (as `echo VALUE > FILE` does); 0 or an errno.
  virtual int Write(const std::string& path, const std::string& value) = 0;
};
// The real files, through open/read/write (never creating one).
std::shared_ptr<SysfsFiles> RealSysfsFiles();

struct CpufreqOptions {
  std::string sysfs_root = "/sys";
  // The CPUs whose cluster is set; empty: the CPUs this process may run on (AllowedCpus()).
  // They must all lie in one policy's related_cpus.
  std::vector<int> cpus;
  std::shared_ptr<SysfsFiles> files;  // null: RealSysfsFiles()
  int range_step_mhz = 100;           // steps of a policy without scaling_available_frequencies
  int max_levels = 64;                // at most this many levels (the highest ones are kept)
};

// What one Set() did: the level asked for and what the policy reads back after the write.
struct CpufreqSetting {
  int level = 0;
  int64_t asked_khz = 0;
  // `scaling_setspeed` (userspace) or `scaling_max_freq` read back after writing: what the
  // kernel took (it may clamp, e.g. under a thermal limit).
  int64_t read_back_khz = 0;
  int read_back_level = 0;  // the level nearest read_back_khz
};

class CpufreqControl {
 public:
  // Never fails: when frequencies cannot be set, settable() is false and why_not() says why.
  // Reads and checks the policy now (garbage in a file is a reason, naming the file), and checks
  // permission by writing the control file's current value back to it.
  static std::unique_ptr<CpufreqControl> Open(CpufreqOptions options);

  bool settable() const { return !levels_khz_.empty(); }
  const std::string& why_not() const { return why_not_; }
  // Highest first; empty when not settable.
  const std::vector<int64_t>& levels_khz() const { return levels_khz_; }
  std::vector<double> levels_mhz() const;
  // "cpufreq policy4 (CPUs 4-7): 23 levels, 2649.6 to 825.6 MHz (scaling_available_frequencies)".
  const std::string& description() const { return description_; }
  const std::string& policy_dir() const { return policy_dir_; }

  // Holds a level set: restores what Set() found when Restore() is called or, failing that,
  // when destroyed. Movable, not copyable.
  class Lease {
   public:
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();  // Restore() if not done; a failure is logged and owed (see Restore)
    const CpufreqSetting& setting() const { return setting_; }
    // Writes back what Set() found (in the safe order: max before min when raising). On failure
    // the policy owes the restore: the next Set() on it, by any control, retries it first and
    // fails while it cannot. Idempotent.
    Status Restore();

   private:
    friend class CpufreqControl;
    struct State;
    explicit Lease(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
    CpufreqSetting setting_;
  };

  // Sets `level` (0 = highest) until the lease ends; waits while another lease holds the
  // policy. Errors name the file and what went wrong; on error nothing stays changed.
  Result<Lease> Set(int level);

 private:
  CpufreqControl() = default;
  std::shared_ptr<SysfsFiles> files_;
  std::string policy_dir_;
  std::vector<int64_t> levels_khz_;
  std::string why_not_;
  std::string description_;
};

// The level of `levels_khz` (highest first) nearest `khz`.
int NearestLevel(const std::vector<int64_t>& levels_khz, int64_t khz);

// How a device profile's levels (frequencies in MHz, highest first) run on a target that sets
// frequencies: each profile level takes the target level of the nearest frequency, so that the
// profile's powers and latencies describe what runs. Distinct profile levels must take distinct
// target levels; when two take the same one (the host's range is narrower or coarser than the
// profile's), InvalidArgument naming both sides. Element i: the target level of profile level i.
Result<std::vector<int>> MapLevelsByFrequency(const std::vector<double>& profile_mhz,
                                              const std::vector<double>& target_mhz);

}  // namespace autoscale
