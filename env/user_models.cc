#include "env/user_models.h"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "core/model_repository.h"

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
}  // namespace

void SetUserModelProfiler(UserModelProfiler profiler) {
  std::lock_guard<std::mutex> lock(ProfilerMutex());
  Profiler() = std::move(profiler);
}

bool HaveUserModelProfiler() {
  std::lock_guard<std::mutex> lock(ProfilerMutex());
  return static_cast<bool>(Profiler());
}

Result<ModelProfile> ProfileUserModel(const std::string& model_dir, const std::string& name) {
  UserModelProfiler profiler;
  {
    std::lock_guard<std::mutex> lock(ProfilerMutex());
    profiler = Profiler();
  }
  if (!profiler) {
    auto files = FindUserModelFiles(model_dir, name);
    return Status::Unavailable(
        "'" + (files.ok() ? files->model : (fs::path(model_dir) / name).string()) +
        "' is a TorchScript model, whose profile is derived from the file, and this program "
        "cannot read TorchScript (a build without libtorch: configure with "
        "-DAUTOSCALE_WITH_TORCH=ON)");
  }
  return profiler(model_dir, name);
}

}  // namespace autoscale
