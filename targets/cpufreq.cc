#include "targets/cpufreq.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "core/logging.h"
#include "core/strings.h"
#include "targets/target.h"

namespace autoscale {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxKhz = 100'000'000;  // 100 GHz: anything above is garbage, not a clock
constexpr size_t kMaxFileBytes = 64 * 1024;

class RealFiles final : public SysfsFiles {
 public:
  int Read(const std::string& path, std::string* out) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    out->clear();
    char buf[4096];
    while (out->size() < kMaxFileBytes) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        return err;
      }
      if (n == 0) break;
      out->append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return 0;
  }
  int Write(const std::string& path, const std::string& value) override {
    // O_TRUNC as a shell's `>` does (sysfs ignores it; a regular file in a test needs it).
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    const std::string line = value + "\n";
    ssize_t n;
    do {
      n = ::write(fd, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : (static_cast<size_t>(n) != line.size() ? EIO : 0);
    if (::close(fd) != 0 && err == 0) err = errno;
    return err;
  }
};

bool IsPermissionError(int err) { return err == EACCES || err == EPERM || err == EROFS; }

// A file's contents as an error message shows them: at most 40 characters, printable.
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) out += "...";
  return "'" + out + "'";
}

std::string CpuListString(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

std::string Mhz(int64_t khz) { return FormatDouble(static_cast<double>(khz) / 1000.0, 6); }

// One file of a policy, read and checked.
class PolicyFiles {
 public:
  PolicyFiles(SysfsFiles& files, std::string dir) : files_(files), dir_(std::move(dir)) {}
  std::string Path(const char* name) const { return dir_ + "/" + name; }

  // The contents, or an error naming the file; *err the errno (0 when read).
  Result<std::string> Text(const char* name, int* err = nullptr) const {
    std::string s;
    const int e = files_.Read(Path(name), &s);
    if (err) *err = e;
    if (e != 0) return Status::IoError("cannot read " + Path(name) + ": " + std::strerror(e));
    return s;
  }
  // One frequency in kHz (a positive integer below 100 GHz).
  Result<int64_t> Khz(const char* name) const {
    ASSIGN_OR_RETURN(std::string s, Text(name));
    long long v = 0;
    if (!ParseInt64(Trim(s), &v) || v <= 0 || v > kMaxKhz) {
      return Status::InvalidArgument(Path(name) + " holds " + Shown(Trim(s)) +
                                     ", not a frequency in kHz");
    }
    return static_cast<int64_t>(v);
  }
  Result<std::string> Governor() const {
    ASSIGN_OR_RETURN(std::string s, Text("scaling_governor"));
    const std::string g(Trim(s));
    const bool ok = !g.empty() && g.size() <= 32 && std::all_of(g.begin(), g.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (!ok) {
      return Status::InvalidArgument(Path("scaling_governor") + " holds " + Shown(s) +
                                     ", not a governor name");
    }
    return g;
  }
  // Writes `khz`; an error naming the file and value.
  Status Write(const char* name, int64_t khz, int* err = nullptr) const {
    const int e = files_.Write(Path(name), std::to_string(khz));
    if (err) *err = e;
    if (e != 0) {
      return Status::IoError("writing " + std::to_string(khz) + " to " + Path(name) +
                             " failed: " + std::strerror(e));
    }
    return Status::Ok();
  }

 private:
  SysfsFiles& files_;
  std::string dir_;
};

// What a lease found and must put back, and which of those files it has written.
struct Saved {
  bool userspace = false;
  int64_t setspeed = 0;      // userspace
  int64_t max = 0, min = 0;  // otherwise
  bool wrote_setspeed = false, wrote_max = false, wrote_min = false;
};

// Puts back every file the lease wrote, each tried even when another fails (the first failure
// is returned). Max before min, so that the old min is never above the max in between.
Status WriteBack(const PolicyFiles& pf, const Saved& s) {
  Status first;
  auto put = [&](bool wrote, const char* file, int64_t khz) {
    if (!wrote) return;
    Status st = pf.Write(file, khz);
    if (first.ok()) first = st;
  };
  put(s.wrote_setspeed, "scaling_setspeed", s.setspeed);
  put(s.wrote_max, "scaling_max_freq", s.max);
  put(s.wrote_min, "scaling_min_freq", s.min);
  return first;
}

// Per policy folder, process-wide: the lock a lease holds and a restore still owed.
struct PolicyRecord {
  std::mutex mu;
  std::optional<Saved> owed;  // guarded by mu
};

std::shared_ptr<PolicyRecord> RecordFor(const std::string& dir) {
  static std::mutex mu;
  static auto* records = new std::map<std::string, std::shared_ptr<PolicyRecord>>();
  std::lock_guard<std::mutex> lock(mu);
  auto& r = (*records)[dir];
  if (!r) r = std::make_shared<PolicyRecord>();
  return r;
}

// The levels of a policy, highest first, or an error naming the file.
Result<std::vector<int64_t>> ReadLevels(const PolicyFiles& pf, const CpufreqOptions& o,
                                        std::string* source) {
  int err = 0;
  auto avail = pf.Text("scaling_available_frequencies", &err);
  std::vector<int64_t> levels;
  if (avail.ok()) {
    *source = "scaling_available_frequencies";
    for (std::string_view tok : SplitWhitespace(*avail)) {
      long long v = 0;
      if (!ParseInt64(tok, &v) || v <= 0 || v > kMaxKhz) {
        return Status::InvalidArgument(pf.Path("scaling_available_frequencies") + " holds " +
                                       Shown(tok) + " among its frequencies, not kHz");
      }
      levels.push_back(v);
    }
    if (levels.empty()) {
      return Status::InvalidArgument(pf.Path("scaling_available_frequencies") +
                                     " lists no frequencies");
    }
  } else if (err == ENOENT) {
    ASSIGN_OR_RETURN(int64_t lo, pf.Khz("cpuinfo_min_freq"));
    ASSIGN_OR_RETURN(int64_t hi, pf.Khz("cpuinfo_max_freq"));
    if (lo > hi) {
      return Status::InvalidArgument(pf.Path("cpuinfo_min_freq") + " (" + Mhz(lo) +
                                     " MHz) is above cpuinfo_max_freq (" + Mhz(hi) + " MHz)");
    }
    *source = "cpuinfo_max_freq to cpuinfo_min_freq in " + std::to_string(o.range_step_mhz) +
              " MHz steps";
    const int64_t step = std::max(1, o.range_step_mhz) * int64_t{1000};
    for (int64_t f = hi; f > lo; f -= step) levels.push_back(f);
    levels.push_back(lo);
  } else {
    return avail.status();
  }
  std::sort(levels.begin(), levels.end(), std::greater<>());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  if (static_cast<int>(levels.size()) > std::max(1, o.max_levels)) {
    levels.resize(static_cast<size_t>(std::max(1, o.max_levels)));
  }
  return levels;
}

// Is `p` inside `root` once links are resolved?
bool Inside(const fs::path& p, const fs::path& root) {
  std::error_code ec;
  const fs::path cp = fs::weakly_canonical(p, ec);
  if (ec) return false;
  auto r = root.begin(), q = cp.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == cp.end() || *q != *r) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<SysfsFiles> RealSysfsFiles() {
  static auto files = std::make_shared<RealFiles>();
  return files;
}

int NearestLevel(const std::vector<int64_t>& levels_khz, int64_t khz) {
  int best = 0;
  for (size_t i = 1; i < levels_khz.size(); ++i) {
    if (std::llabs(levels_khz[i] - khz) < std::llabs(levels_khz[best] - khz)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

std::vector<double> CpufreqControl::levels_mhz() const {
  std::vector<double> out;
  for (int64_t k : levels_khz_) out.push_back(static_cast<double>(k) / 1000.0);
  return out;
}

std::unique_ptr<CpufreqControl> CpufreqControl::Open(CpufreqOptions o) {
  std::unique_ptr<CpufreqControl> c(new CpufreqControl());
  c->files_ = o.files ? o.files : RealSysfsFiles();
  auto fail = [&](std::string why) {
    c->why_not_ = std::move(why);
    c->levels_khz_.clear();
    return std::move(c);
  };
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::path(o.sysfs_root), ec);
  const fs::path base = root / "devices/system/cpu/cpufreq";
  if (ec || !fs::is_directory(base, ec)) {
    return fail("no cpufreq at " + base.string() +
                " (a virtual machine or container exposes none)");
  }
  const std::vector<int> cpus = o.cpus.empty() ? AllowedCpus() : o.cpus;

  // The policy whose related_cpus hold every one of `cpus`.
  std::vector<std::pair<std::string, std::vector<int>>> policies;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= 6 || name.rfind("policy", 0) != 0 ||
        !std::all_of(name.begin() + 6, name.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; })) {
      continue;
    }
    if (!Inside(e.path(), root)) {
      return fail(e.path().string() + " resolves outside the sysfs root " + root.string());
    }
    PolicyFiles pf(*c->files_, e.path().string());
    auto text = pf.Text("related_cpus");
    if (!text.ok()) return fail(text.status().message());
    std::vector<int> related;
    for (std::string_view tok : SplitWhitespace(*text)) {
      long long n = 0;
      if (!ParseInt64(tok, &n) || n < 0 || n >= 4096) {
        return fail(pf.Path("related_cpus") + " holds " + Shown(tok) + ", not a CPU number");
      }
      related.push_back(static_cast<int>(n));
    }
    if (related.empty()) return fail(pf.Path("related_cpus") + " lists no CPUs");
    policies.emplace_back(e.path().string(), std::move(related));
  }
  if (ec) return fail("cannot list " + base.string() + ": " + ec.message());
  if (policies.empty()) return fail("no cpufreq policy in " + base.string());
  std::sort(policies.begin(), policies.end());
  std::vector<std::string> touched;  // policies holding some of `cpus`: "policy0 (0-3)"
  const std::pair<std::string, std::vector<int>>* chosen = nullptr;
  for (const auto& p : policies) {
    const bool all = std::all_of(cpus.begin(), cpus.end(), [&](int cpu) {
      return std::find(p.second.begin(), p.second.end(), cpu) != p.second.end();
    });
    const bool some = std::any_of(cpus.begin(), cpus.end(), [&](int cpu) {
      return std::find(p.second.begin(), p.second.end(), cpu) != p.second.end();
    });
    if (all) chosen = &p;
    if (some) {
      touched.push_back(fs::path(p.first).filename().string() + " (CPUs " +
                        CpuListString(p.second) + ")");
    }
  }
  if (chosen == nullptr) {
    if (touched.empty()) {
      return fail("no cpufreq policy in " + base.string() + " covers CPUs " + CpuListString(cpus));
    }
    return fail("CPUs " + CpuListString(cpus) + " span " + JoinNames(touched, " and ") +
                ": pin the target to one cluster's CPUs to set its frequency");
  }
  PolicyFiles pf(*c->files_, chosen->first);
  for (const char* f :
       {"scaling_governor", "scaling_setspeed", "scaling_max_freq", "scaling_min_freq"}) {
    if (fs::exists(pf.Path(f), ec) && !Inside(pf.Path(f), root)) {
      return fail(pf.Path(f) + " resolves outside the sysfs root " + root.string());
    }
  }
  std::string source;
  auto levels = ReadLevels(pf, o, &source);
  if (!levels.ok()) return fail(levels.status().message());
  auto governor = pf.Governor();
  if (!governor.ok()) return fail(governor.status().message());

  // Permission: write the control files' current values back to them (changes nothing).
  const bool userspace = *governor == "userspace";
  std::string method;
  std::vector<const char*> controls;
  if (userspace) {
    controls = {"scaling_setspeed"};
    method = "scaling_setspeed (userspace governor)";
  } else {
    controls = {"scaling_max_freq", "scaling_min_freq"};
    method = "scaling_max_freq (" + *governor + " governor)";
  }
  for (const char* f : controls) {
    auto now = pf.Khz(f);
    if (!now.ok()) return fail(now.status().message());
    int err = 0;
    Status w = pf.Write(f, *now, &err);
    if (!w.ok()) {
      if (IsPermissionError(err)) {
        return fail("no permission to set the frequency: " + w.message() +
                    " (the daemon needs root and a writable /sys)");
      }
      return fail(w.message());
    }
  }
  c->policy_dir_ = chosen->first;
  c->levels_khz_ = std::move(levels).value();
  c->description_ = "cpufreq " + fs::path(chosen->first).filename().string() + " (CPUs " +
                    CpuListString(chosen->second) + "): " + std::to_string(c->levels_khz_.size()) +
                    " level" + (c->levels_khz_.size() == 1 ? "" : "s") + ", " +
                    Mhz(c->levels_khz_.front()) + " to " + Mhz(c->levels_khz_.back()) + " MHz (" +
                    source + "), set through " + method;
  return c;
}

struct CpufreqControl::Lease::State {
  std::shared_ptr<PolicyRecord> record;
  std::unique_lock<std::mutex> lock;  // on record->mu, for the lease's lifetime
  std::shared_ptr<SysfsFiles> files;
  std::string dir;
  Saved saved;
  bool restored = false;
};

CpufreqControl::Lease::Lease(std::unique_ptr<State> state) : state_(std::move(state)) {}
CpufreqControl::Lease::Lease(Lease&& other) noexcept = default;

CpufreqControl::Lease::~Lease() {
  if (!state_) return;
  Status s = Restore();
  if (!s.ok()) Log().error("cpufreq: {}", s.message());
}

Status CpufreqControl::Lease::Restore() {
  if (!state_ || state_->restored) return Status::Ok();
  state_->restored = true;
  PolicyFiles pf(*state_->files, state_->dir);
  Status s = WriteBack(pf, state_->saved);
  if (!s.ok()) {
    state_->record->owed = state_->saved;  // the next Set() on this policy retries it first
    s = Status::IoError("restoring " + state_->dir + " after a run: " + s.message() +
                        "; the next run on it retries");
  }
  state_->lock.unlock();
  return s;
}

Result<CpufreqControl::Lease> CpufreqControl::Set(int level) {
  if (!settable()) return Status::Unavailable("frequency not settable: " + why_not_);
  if (level < 0 || level >= static_cast<int>(levels_khz_.size())) {
    return Status::InvalidArgument(policy_dir_ + " has levels 0.." +
                                   std::to_string(levels_khz_.size() - 1) + "; got " +
                                   std::to_string(level));
  }
  auto state = std::make_unique<Lease::State>();
  state->record = RecordFor(policy_dir_);
  state->lock = std::unique_lock<std::mutex>(state->record->mu);
  state->files = files_;
  state->dir = policy_dir_;
  PolicyFiles pf(*files_, policy_dir_);
  if (state->record->owed) {
    Status s = WriteBack(pf, *state->record->owed);
    if (!s.ok()) {
      return Status::IoError(policy_dir_ +
                             " is still not restored from an earlier run: " + s.message());
    }
    state->record->owed.reset();
  }
  const int64_t khz = levels_khz_[level];
  ASSIGN_OR_RETURN(std::string governor, pf.Governor());
  Saved& saved = state->saved;
  saved.userspace = governor == "userspace";
  const char* control = saved.userspace ? "scaling_setspeed" : "scaling_max_freq";
  if (saved.userspace) {
    ASSIGN_OR_RETURN(saved.setspeed, pf.Khz("scaling_setspeed"));
  } else {
    ASSIGN_OR_RETURN(saved.max, pf.Khz("scaling_max_freq"));
    ASSIGN_OR_RETURN(saved.min, pf.Khz("scaling_min_freq"));
  }
  // From here on the lease restores what it wrote, whatever fails. (`saved` stays where it is:
  // the lease owns the same State.)
  Lease lease(std::move(state));
  if (saved.userspace) {
    RETURN_IF_ERROR(pf.Write("scaling_setspeed", khz));
    saved.wrote_setspeed = true;
  } else {
    // Lower min first when the level is below it, so min never exceeds max in between.
    if (khz < saved.min) {
      RETURN_IF_ERROR(pf.Write("scaling_min_freq", khz));
      saved.wrote_min = true;
    }
    RETURN_IF_ERROR(pf.Write("scaling_max_freq", khz));
    saved.wrote_max = true;
  }
  ASSIGN_OR_RETURN(lease.setting_.read_back_khz, pf.Khz(control));
  lease.setting_.level = level;
  lease.setting_.asked_khz = khz;
  lease.setting_.read_back_level = NearestLevel(levels_khz_, lease.setting_.read_back_khz);
  return lease;
}

Result<std::vector<int>> MapLevelsByFrequency(const std::vector<double>& profile_mhz,
                                              const std::vector<double>& target_mhz) {
  if (target_mhz.empty()) return Status::InvalidArgument("the target offers no frequencies");
  std::vector<int64_t> khz;
  for (double m : target_mhz) khz.push_back(std::llround(m * 1000));
  auto list = [](const std::vector<double>& v) {
    std::vector<std::string> s;
    for (double x : v) s.push_back(FormatDouble(x, 6));
    return JoinNames(s) + " MHz";
  };
  std::vector<int> out;
  for (size_t i = 0; i < profile_mhz.size(); ++i) {
    const int t = NearestLevel(khz, std::llround(profile_mhz[i] * 1000));
    if (!out.empty() && t <= out.back()) {
      return Status::InvalidArgument(
          "profile levels " + FormatDouble(profile_mhz[i - 1], 6) + " and " +
          FormatDouble(profile_mhz[i], 6) + " MHz would both run at " +
          FormatDouble(target_mhz[out.back()], 6) + " MHz, the nearest of the host's levels (" +
          list(target_mhz) + "): the profile's levels (" + list(profile_mhz) +
          ") do not describe this host; give it a device profile of its own (`autoscale "
          "profile`) or bind the target with `cpufreq: off`");
    }
    out.push_back(t);
  }
  return out;
}

}  // namespace autoscale
