#include "targets/model_store.h"

#include <algorithm>
#include <filesystem>

#include "core/config.h"
#include "core/model_repository.h"
#include "core/strings.h"
#include "targets/layer_profiler.h"
#include "zoo/model_import.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace fs = std::filesystem;

bool IsSafeModelName(const std::string& name) { return IsPlainModelName(name); }

std::vector<std::string> ModelStore::Names() const {
  std::vector<std::string> names = ZooModelNames();
  std::vector<std::string> files;
  for (std::string& name : UserModelNamesIn(model_dir_)) {
    if (!IsZooModel(name)) files.push_back(std::move(name));  // once
  }
  names.insert(names.end(), files.begin(), files.end());
  return names;
}

bool ModelStore::ShadowsZoo(const std::string& name) const {
  return IsZooModel(name) && HasUserModel(model_dir_, name);
}

Result<std::shared_ptr<const ModelSpec>> ModelStore::LoadTorchScriptSpec(
    const std::string& name) const {
  ASSIGN_OR_RETURN(UserModelFiles files, FindUserModelFiles(model_dir_, name));
  const fs::path pt = files.model;
  const fs::path yaml = files.sidecar;
  std::error_code ec;
  if (!fs::is_regular_file(yaml, ec)) {
    return Status::InvalidArgument("TorchScript model '" + pt.string() + "' needs " +
                                   yaml.string() +
                                   " declaring its input shape without the batch, e.g. "
                                   "\"input_shape: [3, 224, 224]\"");
  }
  ASSIGN_OR_RETURN(ModelSidecar sidecar, LoadModelSidecar(yaml.string()));
  auto spec = std::make_shared<ModelSpec>();
  spec->name = name;
  spec->torchscript_path = pt.string();
  spec->input_shape = sidecar.input_shape;
  if (HaveTorchScriptImporter()) {
    ASSIGN_OR_RETURN(ImportedModel imported,
                     ImportTorchScript(name, pt.string(), sidecar.input_shape));
    spec->features = std::make_shared<const ModelFeatures>(std::move(imported.features));
    spec->unmapped = std::move(imported.unmapped);
    if (imported.graph) {
      spec->graph = std::make_shared<const WeightedGraph>(FoldBatchNorm(*imported.graph));
    }
  }
  return std::shared_ptr<const ModelSpec>(std::move(spec));
}

Result<std::shared_ptr<const ModelSpec>> ModelStore::Get(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
  }
  std::shared_ptr<const ModelSpec> spec;
  std::error_code ec;
  // A user's file comes first: a trained mobilenet_v2.pt is the user's network, never silently
  // the zoo's seeded graph of the same name (callers that keep per-name profiles must check
  // ShadowsZoo and refuse what they would describe wrongly).
  const bool user_file = HasUserModel(model_dir_, name);
  if (user_file) {
    ASSIGN_OR_RETURN(spec, LoadTorchScriptSpec(name));
  } else if (IsZooModel(name)) {
    ASSIGN_OR_RETURN(Graph g, BuildZooModel(name));
    ASSIGN_OR_RETURN(WeightedGraph wg, PrepareForInference(g));
    auto s = std::make_shared<ModelSpec>();
    s->name = name;
    s->input_shape = g.input_shape();
    s->features = std::make_shared<const ModelFeatures>(ComputeFeatures(g));
    s->graph = std::make_shared<const WeightedGraph>(std::move(wg));
    spec = std::move(s);
  } else {
    const std::vector<std::string> names = Names();
    std::string msg = "no model '" + name + "'";
    if (!IsSafeModelName(name)) msg += " (names are letters, digits, '_', '-' and '.')";
    const std::string near = NearestName(name, names);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    msg += "; available: " + JoinNames(names);
    if (model_dir_.empty()) msg += " (no model folder configured)";
    return Status::NotFound(msg);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.emplace(name, spec).first->second;
}

ModelProfile ProfileFromFeatures(const ModelFeatures& f) {
  ModelProfile m;
  m.name = f.name;
  m.task = "unknown";
  m.conv_layers = f.conv_layers;
  m.fc_layers = f.fc_layers;
  m.recurrent_layers = f.recurrent_layers;
  m.macs = static_cast<double>(f.macs);
  m.fc_macs = static_cast<double>(f.fc_macs);
  m.recurrent_macs = static_cast<double>(f.recurrent_macs);
  m.params = static_cast<double>(f.params);
  m.input_bytes = static_cast<double>(f.input_elements);  // uint8 input
  m.output_bytes = static_cast<double>(f.output_elements) * 4;
  m.input_elements = static_cast<double>(f.input_elements);
  m.output_elements = static_cast<double>(f.output_elements);
  return m;
}

ModelProfile ProfileFromFeatures(const ModelFeatures& f, const ModelSpec& spec) {
  ModelProfile m = ProfileFromFeatures(f);
  if (spec.is_graph()) m.layer_descriptors = LayerDescriptors(spec.graph->graph);
  return m;
}

}  // namespace autoscale
