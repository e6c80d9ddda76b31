// Where targets get their models: a TorchScript file NAME.pt in a model folder with a NAME.yaml
// beside it declaring `input_shape: [3, 224, 224]` (without the batch), or a Triton repository
// folder NAME/config.pbtxt + NAME/VERSION/model.pt (core/model_repository.h), or else the zoo by name
// (graph built, weights seeded, batch-norm folded, cached). A user's file named like a zoo model
// is the user's model: never silently replaced by the zoo's seeded graph. A name never becomes a
// path outside the folder: it must be letters, digits, '_', '-' or '.', not start with '.', and
// name a regular file directly inside the folder.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/profiles.h"
#include "targets/target.h"
#include "zoo/features.h"

namespace autoscale {

class ModelStore {
 public:
  explicit ModelStore(std::string model_dir = "") : model_dir_(std::move(model_dir)) {}

  // The model called `name`; NotFound lists what exists. Thread-safe; results are cached.
  Result<std::shared_ptr<const ModelSpec>> Get(const std::string& name);
  // Zoo names, then TorchScript models in the folder (NAME for each NAME.pt), sorted; a name
  // is listed once.
  std::vector<std::string> Names() const;
  // True when the folder holds NAME.pt for a zoo model's name: Get gives the user's file, and
  // anything that describes NAME by the zoo's profile (configs/models) would describe it wrongly.
  bool ShadowsZoo(const std::string& name) const;
  const std::string& model_dir() const { return model_dir_; }

 private:
  Result<std::shared_ptr<const ModelSpec>> LoadTorchScriptSpec(const std::string& name) const;

  std::string model_dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const ModelSpec>> cache_;  // guarded by mu_
};

// True for names a request may use: [A-Za-z0-9_.-]+, not starting with '.', at most 128 chars.
bool IsSafeModelName(const std::string& name);

// The cost-model view of a graph's features (layer counts and MACs by class, params, bytes on
// the radio for a uint8 input and float32 output). Accuracy is unknown (-1) for every precision:
// take it from configs/models.
ModelProfile ProfileFromFeatures(const ModelFeatures& f);
// The same for a model at hand: `spec`'s features (computed from its graph when it carries none),
// plus, when it has a graph, its layers as the executors run them (layer_descriptors,
// targets/layer_profiler.h), so that a device profile's layer models predict its time.
ModelProfile ProfileFromFeatures(const ModelFeatures& f, const ModelSpec& spec);

}  // namespace autoscale
