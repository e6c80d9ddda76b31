// A fake cpufreq tree in a temporary folder (ROOT/devices/system/cpu/cpufreq/policyN, the files
// the kernel shows) and a SysfsFiles over the real files that keeps a journal of every write,
// can refuse writes with an errno (as a non-root process or a read-only /sys is refused) and can
// answer garbage to reads: for tests of targets/cpufreq.h and what uses it.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "targets/cpufreq.h"
#include "test_util.h"

namespace autoscale::testing {

struct FakePolicy {
  int index = 0;
  std::string related_cpus = "0 1";
  // "" = no scaling_available_frequencies file (intel_pstate-like).
  std::string available = "2400000 1800000 1200000 600000";
  std::string governor = "userspace";
  std::string setspeed = "1800000";
  std::string max = "2400000", min = "600000";
  std::string cpuinfo_max = "2400000", cpuinfo_min = "600000";
};

// Writes the tree; returns ROOT (the sysfs root to give CpufreqOptions / CpuOptions).
inline std::string MakeCpufreqTree(const std::string& name, const std::vector<FakePolicy>& ps) {
  const std::string root = TempDir(name);
  for (const FakePolicy& p : ps) {
    const std::string d =
        root + "/devices/system/cpu/cpufreq/policy" + std::to_string(p.index) + "/";
    WriteFile(d + "related_cpus", p.related_cpus + "\n");
    WriteFile(d + "affected_cpus", p.related_cpus + "\n");
    if (!p.available.empty()) WriteFile(d + "scaling_available_frequencies", p.available + " \n");
    WriteFile(d + "scaling_governor", p.governor + "\n");
    WriteFile(d + "scaling_setspeed",
              (p.governor == "userspace" ? p.setspeed : std::string("<unsupported>")) + "\n");
    WriteFile(d + "scaling_max_freq", p.max + "\n");
    WriteFile(d + "scaling_min_freq", p.min + "\n");
    WriteFile(d + "scaling_cur_freq", p.setspeed + "\n");
    WriteFile(d + "cpuinfo_max_freq", p.cpuinfo_max + "\n");
    WriteFile(d + "cpuinfo_min_freq", p.cpuinfo_min + "\n");
  }
  return root;
}

inline std::string PolicyDir(const std::string& root, int index) {
  return std::filesystem::weakly_canonical(root + "/devices/system/cpu/cpufreq/policy" +
                                           std::to_string(index))
      .string();
}

// A file's contents without surrounding whitespace.
inline std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class JournalingFiles final : public SysfsFiles {
 public:
  struct Entry {
    std::string file;  // the base name ("scaling_setspeed"), or a marker a test added
    std::string value;
  };
  int Read(const std::string& path, std::string* out) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = garbage_.find(Base(path));
      if (it != garbage_.end()) {
        *out = it->second;
        return 0;
      }
    }
    return real_->Read(path, out);
  }
  int Write(const std::string& path, const std::string& value) override {
    std::function<void(const std::string&, const std::string&)> hook;
    int err = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = refuse_.find(Base(path));
      if (it != refuse_.end()) return it->second;
      err = real_->Write(path, value);
      if (err == 0) journal_.push_back({Base(path), value});
      hook = on_write_;
    }
    if (hook && err == 0) hook(Base(path), value);
    return err;
  }
  // Writes to `file` (a base name) fail with `err` from now on (0: succeed again).
  void Refuse(const std::string& file, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    if (err == 0) {
      refuse_.erase(file);
    } else {
      refuse_[file] = err;
    }
  }
  // Reads of `file` answer `text` from now on ("" with clear=true: the real file again).
  void Garbage(const std::string& file, const std::string& text, bool clear = false) {
    std::lock_guard<std::mutex> lock(mu_);
    if (clear) {
      garbage_.erase(file);
    } else {
      garbage_[file] = text;
    }
  }
  // Called after each successful write (it may call Refuse, Garbage and Mark).
  void OnWrite(std::function<void(const std::string&, const std::string&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_write_ = std::move(f);
  }
  void Mark(const std::string& what, const std::string& value = "") {
    std::lock_guard<std::mutex> lock(mu_);
    journal_.push_back({what, value});
  }
  std::vector<Entry> journal() const {
    std::lock_guard<std::mutex> lock(mu_);
    return journal_;
  }
  void ClearJournal() {
    std::lock_guard<std::mutex> lock(mu_);
    journal_.clear();
  }

 private:
  static std::string Base(const std::string& path) {
    return std::filesystem::path(path).filename().string();
  }
  std::shared_ptr<SysfsFiles> real_ = RealSysfsFiles();
  mutable std::mutex mu_;
  std::map<std::string, int> refuse_;
  std::map<std::string, std::string> garbage_;
  std::function<void(const std::string&, const std::string&)> on_write_;
  std::vector<Entry> journal_;
};

}  // namespace autoscale::testing
