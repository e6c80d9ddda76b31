// The daemon's view of the real machine: co-runner CPU, GPU and memory load and the radios'
// signal strength, sampled by a background thread into a cache that requests read cheaply
// (observe + decide must stay under 50 us p99, so nothing here reads a file per request).
//
// Sources (the roots are parameters so tests can use a fake tree):
//   cpu   <proc>/stat, aggregate "cpu" line: 1 - (idle + iowait delta) / (total delta) between
//         two samples; 0 until a second sample exists.
//   mem   <proc>/meminfo: 1 - MemAvailable / MemTotal (MemFree + Buffers + Cached on kernels
//         before 3.14, which lack MemAvailable).
//   gpu   the first present of: Adreno <sys>/class/kgsl/kgsl-3d0/gpu_busy_percentage ("NN %"),
//         then .../gpubusy ("busy total"); amdgpu <sys>/class/drm/card*/device/gpu_busy_percent
//         (the busiest card); NVIDIA Jetson <sys>/devices/gpu.0/load (per mille). None: 0.
//   wifi  a signal trace when configured, else <proc>/net/wireless (the named interface, or the
//         strongest that is not Wi-Fi Direct); no wireless interface: kNoSignalDbm.
//   p2p   the Wi-Fi Direct link to a nearby device: a signal trace when configured, else
//         <proc>/net/wireless (the named interface, or the strongest whose name starts with
//         "p2p", as wpa_supplicant and Android name group interfaces: p2p0, p2p-wlan0-0);
//         none: kNoSignalDbm.
//   cell  a signal trace when configured, else kNoSignalDbm (Linux has no portable source).
// Signal traces are CSV files (env/trace.h, Trace::LoadCsv: "time_s,signal_dbm") replayed by
// time since the probe was created, looping.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "env/trace.h"
#include "env/types.h"

namespace autoscale {

struct ProbeOptions {
  std::string proc_root = "/proc";
  std::string sys_root = "/sys";
  std::string wifi_interface;  // empty: the strongest non-p2p interface in <proc>/net/wireless
  std::string p2p_interface;   // empty: the strongest "p2p*" interface there
  // Signal traces (CSV, dBm over time); empty: none. The column is the named one, or the
  // first value column when the name is empty.
  std::string wifi_trace, cell_trace, p2p_trace;
  std::string wifi_trace_column, cell_trace_column, p2p_trace_column;
  int interval_ms = 200;  // background sampling period, >= 1
  // Monotonic seconds; empty: std::chrono::steady_clock. Tests inject a fake clock to replay
  // traces deterministically.
  std::function<double()> clock_s;
};

class SystemProbe {
 public:
  struct Reading {
    float cpu_load = 0, gpu_load = 0, mem_load = 0;  // in [0, 1]
    float wifi_rssi_dbm = kNoSignalDbm, cell_rsrp_dbm = kNoSignalDbm;
    float p2p_rssi_dbm = kNoSignalDbm;
    double sampled_at_s = 0;  // seconds since Create, on the probe's clock
  };

  // Detects the sources, loads the traces and takes a first sample. Errors: IoError naming
  // <proc>/stat or <proc>/meminfo when unreadable; InvalidArgument "FILE:LINE: ..." for a
  // malformed line; a trace that fails to load, named ("wifi trace: PATH:LINE: ...").
  static Result<std::unique_ptr<SystemProbe>> Create(const ProbeOptions& options);
  ~SystemProbe();  // stops the background thread
  SystemProbe(const SystemProbe&) = delete;
  SystemProbe& operator=(const SystemProbe&) = delete;

  // Starts the background thread sampling every interval_ms (a no-op when running). A failed
  // sample keeps the previous reading and is kept in last_error().
  void Start();
  // Stops and joins the thread (prompt, not waiting for the interval); a no-op when stopped.
  void Stop();
  // One synchronous sample into the cache. Thread-safe (serialised with the thread's samples).
  Status SampleNow();

  // The latest cached reading: a mutex-protected copy that never waits on file reads
  // (well under 1 us). Thread-safe.
  Reading Latest() const;
  // The error of the last failed sample, OK if none failed. Thread-safe.
  Status last_error() const;

  // The sources in use: "cpu: /proc/stat, mem: /proc/meminfo, gpu: none,
  // wifi: trace traces/wifi.csv, cell: none, p2p: none".
  std::string Describe() const;
  // The GPU busy file in use, or "none".
  const std::string& gpu_source() const { return gpu_source_; }

 private:
  enum class GpuKind { kNone, kKgslPercent, kKgslBusy, kAmdgpu, kJetson };
  struct CpuTimes {
    unsigned long long idle = 0, total = 0;
  };

  explicit SystemProbe(const ProbeOptions& options);
  double Now() const;
  void Run();
  Result<float> ReadCpu();
  Result<float> ReadMem() const;
  Result<float> ReadGpu() const;
  // The Wi-Fi and Wi-Fi Direct signals from <proc>/net/wireless (kNoSignalDbm when absent).
  Status ReadWireless(float* wifi_dbm, float* p2p_dbm) const;

  const ProbeOptions options_;
  double start_s_ = 0;
  std::string stat_path_, meminfo_path_, wireless_path_;
  GpuKind gpu_kind_ = GpuKind::kNone;
  std::vector<std::string> gpu_paths_;  // one file, or one per amdgpu card
  std::string gpu_source_ = "none";
  std::optional<Trace> wifi_trace_, cell_trace_, p2p_trace_;
  int wifi_column_ = 0, cell_column_ = 0, p2p_column_ = 0;

  std::mutex sample_mu_;              // serialises samples
  std::optional<CpuTimes> prev_cpu_;  // guarded by sample_mu_
  float cpu_load_ = 0;                // guarded by sample_mu_

  mutable std::mutex reading_mu_;
  Reading latest_;     // guarded by reading_mu_
  Status last_error_;  // guarded by reading_mu_

  std::mutex lifecycle_mu_;  // serialises Start and Stop
  std::thread thread_;       // guarded by lifecycle_mu_
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by wake_mu_
};

}  // namespace autoscale
