// The seam through which torch-free code (the simulator, `check-config`) gets the profile of a
// user's model: a TorchScript file NAME.pt with its sidecar NAME.yaml in a model folder
// (zoo/model_import.h). Reading the file needs libtorch, which env/ and sim/ never link, so a
// program that can read it installs a profiler (apps/local_targets.h,
// InstallUserModelProfiler(), which derives profiles with agent/model_profiles.h); without one,
// asking for a user's model is an error that says how to get a build that can.
#pragma once

#include <functional>
#include <string>

#include "core/model_repository.h"
#include "core/status.h"
#include "env/profiles.h"

namespace autoscale {

// The profile of model `name` in `model_dir`: features from DIR/NAME.pt, accuracy per precision
// from DIR/NAME.yaml or estimated (ModelProfile::accuracy_source says which).
using UserModelProfiler =
    std::function<Result<ModelProfile>(const std::string& model_dir, const std::string& name)>;

// Installs the process's profiler (replacing any earlier one; an empty function removes it).
// Thread-safe.
void SetUserModelProfiler(UserModelProfiler profiler);
bool HaveUserModelProfiler();

// Which names of a folder are users' models, in either layout: HasUserModel and
// UserModelNamesIn (core/model_repository.h).

// Profiles `name` in `model_dir` with the installed profiler; Unavailable, naming the file and
// the CMake option, without one.
Result<ModelProfile> ProfileUserModel(const std::string& model_dir, const std::string& name);

}  // namespace autoscale
