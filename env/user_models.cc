#include "env/user_models.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>

namespace autoscale {

namespace fs = std::filesystem;

namespace {
std::mutex& ProfilerMutex() {
  static std::mutex mu;
  return mu;
}
UserModelProfiler& Profiler() {
  static UserModelProfiler profiler;
  return profiler;
}
bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}
}  // namespace

void SetUserModelProfiler(UserModelProfiler profiler) {
  std::lock_guard<std::mutex> lock(ProfilerMutex());
  Profiler() = std::move(profiler);
}

bool HaveUserModelProfiler() {
  std::lock_guard<std::mutex> lock(ProfilerMutex());
  return static_cast<bool>(Profiler());
}

bool IsUserModel(const std::string& model_dir, const std::string& name) {
  std::error_code ec;
  return !model_dir.empty() && PlainName(name) &&
         fs::is_regular_file(fs::path(model_dir) / (name + ".pt"), ec);
}

std::vector<std::string> UserModelNames(const std::string& model_dir) {
  std::vector<std::string> names;
  if (model_dir.empty()) return names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec)) {
    if (e.path().extension() != ".pt") continue;
    const std::string stem = e.path().stem().string();
    if (IsUserModel(model_dir, stem)) names.push_back(stem);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<ModelProfile> ProfileUserModel(const std::string& model_dir, const std::string& name) {
  UserModelProfiler profiler;
  {
    std::lock_guard<std::mutex> lock(ProfilerMutex());
    profiler = Profiler();
  }
  if (!profiler) {
    return Status::Unavailable(
        "'" + (fs::path(model_dir) / (name + ".pt")).string() +
        "' is a TorchScript model, whose profile is derived from the file, and this program "
        "cannot read TorchScript (a build without libtorch: configure with "
        "-DAUTOSCALE_WITH_TORCH=ON)");
  }
  return profiler(model_dir, name);
}

}  // namespace autoscale
