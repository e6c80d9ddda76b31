#include "agent/probes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/strings.h"

namespace autoscale {

namespace fs = std::filesystem;

namespace {

// The whole of a small /proc or /sys file. IoError naming the path when it cannot be read.
Result<std::string> ReadText(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      return Status::IoError(path + ": read failed: " + err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

Status LineError(const std::string& path, int line, const std::string& what) {
  return Status::InvalidArgument(path + ":" + std::to_string(line) + ": " + what);
}

bool ParseCount(std::string_view s, unsigned long long* out) {
  long long v = 0;
  if (!ParseInt64(s, &v) || v < 0) return false;
  *out = static_cast<unsigned long long>(v);
  return true;
}

float Clamp01(double v) { return static_cast<float>(std::clamp(v, 0.0, 1.0)); }

// A one-number busy file: "NN", "NN %" or "NN%"; the number divided by `full_scale`.
Result<float> ReadBusyFraction(const std::string& path, double full_scale) {
  ASSIGN_OR_RETURN(std::string text, ReadText(path));
  std::string_view s = Trim(text);
  if (!s.empty() && s.back() == '%') s = Trim(s.substr(0, s.size() - 1));
  double v = 0;
  if (!ParseDouble(s, &v)) {
    return LineError(path, 1, "expected a busy figure, got '" + std::string(Trim(text)) + "'");
  }
  return Clamp01(v / full_scale);
}

struct WirelessEntry {
  std::string iface;
  double level_dbm = 0;
};

// <proc>/net/wireless: two header lines, then "iface: status link level noise ...". Levels may
// end in '.', and some drivers give 0..255 meaning level - 256. A level of 0 (no dBm reading)
// leaves the interface out.
Result<std::vector<WirelessEntry>> ParseWireless(std::string_view text, const std::string& path) {
  std::vector<WirelessEntry> out;
  const std::vector<std::string_view> lines = Split(text, '\n');
  for (size_t i = 2; i < lines.size(); ++i) {
    const std::string_view line = Trim(lines[i]);
    if (line.empty()) continue;
    const int line_no = static_cast<int>(i) + 1;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return LineError(path, line_no, "expected 'interface: status link level noise ...'");
    }
    const std::vector<std::string_view> f = SplitWhitespace(line.substr(colon + 1));
    if (f.size() < 3) {
      return LineError(path, line_no, "expected status, link and level after the interface");
    }
    std::string_view level = f[2];
    if (!level.empty() && level.back() == '.') level.remove_suffix(1);
    double v = 0;
    if (!ParseDouble(level, &v)) {
      return LineError(path, line_no, "level: expected a number, got '" + std::string(f[2]) + "'");
    }
    if (v > 0) v -= 256;  // 8-bit unsigned dBm
    if (v == 0) continue;
    out.push_back({std::string(Trim(line.substr(0, colon))), v});
  }
  return out;
}

Result<Trace> LoadSignalTrace(const std::string& what, const std::string& path,
                              const std::string& column, int* index) {
  Result<Trace> t = Trace::LoadCsv(path);
  if (!t.ok()) return t.status().WithPrefix(what);
  if (t->columns().empty()) return Status::InvalidArgument(what + ": " + path + ": no columns");
  if (column.empty()) {
    *index = 0;
  } else {
    Result<int> c = t->RequireColumn(column);
    if (!c.ok()) return c.status().WithPrefix(what + ": " + path);
    *index = *c;
  }
  t->set_loop(true);
  return t;
}

}  // namespace

SystemProbe::SystemProbe(const ProbeOptions& options) : options_(options) {
  stat_path_ = options.proc_root + "/stat";
  meminfo_path_ = options.proc_root + "/meminfo";
  wireless_path_ = options.proc_root + "/net/wireless";
}

SystemProbe::~SystemProbe() { Stop(); }

Result<std::unique_ptr<SystemProbe>> SystemProbe::Create(const ProbeOptions& options) {
  if (options.interval_ms < 1) {
    return Status::InvalidArgument("probe interval_ms: expected >= 1, got " +
                                   std::to_string(options.interval_ms));
  }
  std::unique_ptr<SystemProbe> p(new SystemProbe(options));
  p->start_s_ = p->Now();

  // GPU: the first source present, in the order of the header's list.
  const std::string kgsl = options.sys_root + "/class/kgsl/kgsl-3d0/";
  std::error_code ec;
  if (fs::exists(kgsl + "gpu_busy_percentage", ec)) {
    p->gpu_kind_ = GpuKind::kKgslPercent;
    p->gpu_paths_ = {kgsl + "gpu_busy_percentage"};
  } else if (fs::exists(kgsl + "gpubusy", ec)) {
    p->gpu_kind_ = GpuKind::kKgslBusy;
    p->gpu_paths_ = {kgsl + "gpubusy"};
  } else {
    for (const auto& e : fs::directory_iterator(options.sys_root + "/class/drm", ec)) {
      const std::string name = e.path().filename().string();
      // card0, card1, ...; not the connectors (card0-HDMI-A-1).
      if (name.rfind("card", 0) != 0 || name.find('-') != std::string::npos) continue;
      const fs::path busy = e.path() / "device/gpu_busy_percent";
      if (fs::exists(busy, ec)) p->gpu_paths_.push_back(busy.string());
    }
    std::sort(p->gpu_paths_.begin(), p->gpu_paths_.end());
    if (!p->gpu_paths_.empty()) {
      p->gpu_kind_ = GpuKind::kAmdgpu;
    } else if (const std::string load = options.sys_root + "/devices/gpu.0/load";
               fs::exists(load, ec)) {
      p->gpu_kind_ = GpuKind::kJetson;
      p->gpu_paths_ = {load};
    }
  }
  if (!p->gpu_paths_.empty()) p->gpu_source_ = JoinNames(p->gpu_paths_);

  if (!options.wifi_trace.empty()) {
    ASSIGN_OR_RETURN(p->wifi_trace_, LoadSignalTrace("wifi trace", options.wifi_trace,
                                                     options.wifi_trace_column, &p->wifi_column_));
  }
  if (!options.cell_trace.empty()) {
    ASSIGN_OR_RETURN(p->cell_trace_, LoadSignalTrace("cell trace", options.cell_trace,
                                                     options.cell_trace_column, &p->cell_column_));
  }
  if (!options.p2p_trace.empty()) {
    ASSIGN_OR_RETURN(p->p2p_trace_, LoadSignalTrace("p2p trace", options.p2p_trace,
                                                    options.p2p_trace_column, &p->p2p_column_));
  }
  RETURN_IF_ERROR(p->SampleNow());
  return p;
}

double SystemProbe::Now() const {
  if (options_.clock_s) return options_.clock_s();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Result<float> SystemProbe::ReadCpu() {
  ASSIGN_OR_RETURN(std::string text, ReadText(stat_path_));
  const std::vector<std::string_view> lines = Split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<std::string_view> f = SplitWhitespace(lines[i]);
    if (f.empty() || f[0] != "cpu") continue;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
    // counted in user and nice, so the total is the first eight (four on very old kernels).
    if (f.size() < 5) {
      return LineError(stat_path_, static_cast<int>(i) + 1,
                       "expected at least 4 counters after 'cpu'");
    }
    CpuTimes now;
    for (size_t k = 1; k < f.size() && k <= 8; ++k) {
      unsigned long long v = 0;
      if (!ParseCount(f[k], &v)) {
        return LineError(stat_path_, static_cast<int>(i) + 1,
                         "counter " + std::to_string(k) +
                             ": expected a non-negative integer, got '" + std::string(f[k]) + "'");
      }
      now.total += v;
      if (k == 4 || k == 5) now.idle += v;  // idle, iowait
    }
    if (prev_cpu_ && now.total > prev_cpu_->total && now.idle >= prev_cpu_->idle) {
      const double total = static_cast<double>(now.total - prev_cpu_->total);
      const double idle = static_cast<double>(now.idle - prev_cpu_->idle);
      cpu_load_ = Clamp01(1.0 - idle / total);
    }  // else: first sample (0), or no time passed / counters reset: keep the last figure
    prev_cpu_ = now;
    return cpu_load_;
  }
  return Status::InvalidArgument(stat_path_ + ": no aggregate 'cpu' line");
}

Result<float> SystemProbe::ReadMem() const {
  ASSIGN_OR_RETURN(std::string text, ReadText(meminfo_path_));
  std::optional<unsigned long long> total, available;
  unsigned long long free_kb = 0;
  const std::vector<std::string_view> lines = Split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = Trim(lines[i]);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    std::vector<std::string_view> f;
    if (colon != std::string_view::npos) f = SplitWhitespace(line.substr(colon + 1));
    unsigned long long v = 0;
    if (f.empty() || f.size() > 2 || !ParseCount(f[0], &v)) {
      return LineError(meminfo_path_, static_cast<int>(i) + 1, "expected 'Key: number [kB]'");
    }
    const std::string_view key = line.substr(0, colon);
    if (key == "MemTotal") total = v;
    if (key == "MemAvailable") available = v;
    if (key == "MemFree" || key == "Buffers" || key == "Cached") free_kb += v;
  }
  if (!total || *total == 0) {
    return Status::InvalidArgument(meminfo_path_ + ": no positive MemTotal");
  }
  const double avail = static_cast<double>(available ? *available : free_kb);
  return Clamp01(1.0 - avail / static_cast<double>(*total));
}

Result<float> SystemProbe::ReadGpu() const {
  switch (gpu_kind_) {
    case GpuKind::kNone:
      return 0.0f;
    case GpuKind::kKgslPercent:
      return ReadBusyFraction(gpu_paths_[0], 100.0);
    case GpuKind::kJetson:
      return ReadBusyFraction(gpu_paths_[0], 1000.0);
    case GpuKind::kAmdgpu: {
      float busiest = 0;
      for (const std::string& path : gpu_paths_) {
        ASSIGN_OR_RETURN(float v, ReadBusyFraction(path, 100.0));
        busiest = std::max(busiest, v);
      }
      return busiest;
    }
    case GpuKind::kKgslBusy: {
      ASSIGN_OR_RETURN(std::string text, ReadText(gpu_paths_[0]));
      const std::vector<std::string_view> f = SplitWhitespace(text);
      unsigned long long busy = 0, total = 0;
      if (f.size() != 2 || !ParseCount(f[0], &busy) || !ParseCount(f[1], &total)) {
        return LineError(gpu_paths_[0], 1,
                         "expected 'busy total', got '" + std::string(Trim(text)) + "'");
      }
      if (total == 0) return 0.0f;
      return Clamp01(static_cast<double>(busy) / static_cast<double>(total));
    }
  }
  return 0.0f;
}

Status SystemProbe::ReadWireless(float* wifi_dbm, float* p2p_dbm) const {
  *wifi_dbm = *p2p_dbm = kNoSignalDbm;
  std::error_code ec;
  if (!fs::exists(wireless_path_, ec)) return Status::Ok();  // no wireless extensions
  ASSIGN_OR_RETURN(std::string text, ReadText(wireless_path_));
  ASSIGN_OR_RETURN(std::vector<WirelessEntry> entries, ParseWireless(text, wireless_path_));
  for (const WirelessEntry& e : entries) {
    const bool direct = e.iface.rfind("p2p", 0) == 0;
    const auto level = static_cast<float>(e.level_dbm);
    if (options_.wifi_interface.empty() ? !direct : e.iface == options_.wifi_interface) {
      *wifi_dbm = std::max(*wifi_dbm, level);
    }
    if (options_.p2p_interface.empty() ? direct : e.iface == options_.p2p_interface) {
      *p2p_dbm = std::max(*p2p_dbm, level);
    }
  }
  return Status::Ok();
}

Status SystemProbe::SampleNow() {
  std::lock_guard<std::mutex> sample_lock(sample_mu_);
  Reading r;
  const double now = Now();
  r.sampled_at_s = now - start_s_;
  Status st = [&]() -> Status {
    ASSIGN_OR_RETURN(r.cpu_load, ReadCpu());
    ASSIGN_OR_RETURN(r.mem_load, ReadMem());
    ASSIGN_OR_RETURN(r.gpu_load, ReadGpu());
    if (!wifi_trace_ || !p2p_trace_) {
      RETURN_IF_ERROR(ReadWireless(&r.wifi_rssi_dbm, &r.p2p_rssi_dbm));
    }
    if (wifi_trace_) {
      r.wifi_rssi_dbm = static_cast<float>(wifi_trace_->At(wifi_column_, r.sampled_at_s));
    }
    if (p2p_trace_) {
      r.p2p_rssi_dbm = static_cast<float>(p2p_trace_->At(p2p_column_, r.sampled_at_s));
    }
    if (cell_trace_) {
      r.cell_rsrp_dbm = static_cast<float>(cell_trace_->At(cell_column_, r.sampled_at_s));
    }
    return Status::Ok();
  }();
  std::lock_guard<std::mutex> lock(reading_mu_);
  if (st.ok()) {
    latest_ = r;
  } else {
    last_error_ = st;
  }
  return st;
}

SystemProbe::Reading SystemProbe::Latest() const {
  std::lock_guard<std::mutex> lock(reading_mu_);
  return latest_;
}

Status SystemProbe::last_error() const {
  std::lock_guard<std::mutex> lock(reading_mu_);
  return last_error_;
}

void SystemProbe::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> wake_lock(wake_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void SystemProbe::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> wake_lock(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SystemProbe::Run() {
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  std::unique_lock<std::mutex> lock(wake_mu_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    (void)SampleNow();  // a failure is kept in last_error_; the last good reading stays
    lock.lock();
  }
}

std::string SystemProbe::Describe() const {
  std::string s = "cpu: " + stat_path_ + ", mem: " + meminfo_path_ + ", gpu: " + gpu_source_;
  if (wifi_trace_) {
    s += ", wifi: trace " + options_.wifi_trace;
  } else if (std::error_code ec; fs::exists(wireless_path_, ec)) {
    s += ", wifi: " + wireless_path_;
    if (!options_.wifi_interface.empty()) s += " (" + options_.wifi_interface + ")";
  } else {
    s += ", wifi: none";
  }
  s += ", cell: " + (cell_trace_ ? "trace " + options_.cell_trace : std::string("none"));
  if (p2p_trace_) {
    s += ", p2p: trace " + options_.p2p_trace;
  } else if (std::error_code ec; fs::exists(wireless_path_, ec)) {
    s += ", p2p: " + wireless_path_ + " (" +
         (options_.p2p_interface.empty() ? std::string("p2p*") : options_.p2p_interface) + ")";
  } else {
    s += ", p2p: none";
  }
  return s;
}

}  // namespace autoscale
