#include "zoo/model_import.h"

#include <filesystem>
#include <mutex>

#include "core/config.h"
#include "core/file_util.h"
#include "core/model_repository.h"
#include "zoo/sidecar_keys.h"

namespace autoscale {

namespace {
std::mutex& ImporterMutex() {
  static std::mutex mu;
  return mu;
}
TorchScriptImporter& Importer() {
  static TorchScriptImporter importer;
  return importer;
}
}  // namespace

void SetTorchScriptImporter(TorchScriptImporter importer) {
  std::lock_guard<std::mutex> lock(ImporterMutex());
  Importer() = std::move(importer);
}

bool HaveTorchScriptImporter() {
  std::lock_guard<std::mutex> lock(ImporterMutex());
  return static_cast<bool>(Importer());
}

Result<ImportedModel> ImportTorchScript(const std::string& name, const std::string& path,
                                        const std::vector<int64_t>& input_shape) {
  TorchScriptImporter importer;
  {
    std::lock_guard<std::mutex> lock(ImporterMutex());
    importer = Importer();
  }
  if (!importer) {
    return Status::Unavailable("cannot read TorchScript model '" + path +
                               "': this build has no libtorch (configure with "
                               "-DAUTOSCALE_WITH_TORCH=ON)");
  }
  return importer(name, path, input_shape);
}

Result<ModelSidecar> LoadModelSidecar(const std::string& yaml_path) {
  if (yaml_path.ends_with(".pbtxt")) {
    // A Triton model repository's config.pbtxt: the input shape, nothing else.
    ASSIGN_OR_RETURN(std::string text, ReadFile(yaml_path));
    ASSIGN_OR_RETURN(TritonModelConfig config, ParseTritonModelConfig(text, yaml_path));
    ModelSidecar s;
    s.path = yaml_path;
    ASSIGN_OR_RETURN(s.input_shape, TritonInputShape(config, yaml_path));
    if (s.input_shape.size() > 4 || NumElements(s.input_shape) > (int64_t{1} << 26)) {
      return Status::InvalidArgument(yaml_path + ": the input shape needs 1 to 4 dimensions " +
                                     "(without the batch) and at most 2^26 elements");
    }
    return s;
  }
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(yaml_path));
  RETURN_IF_ERROR(ModelSidecarKeys().Check(root));
  ModelSidecar s;
  s.path = yaml_path;
  ASSIGN_OR_RETURN(ConfigNode shape_node, root.Child("input_shape"));
  RETURN_IF_ERROR(shape_node.ExpectSequence());
  for (size_t i = 0; i < shape_node.size(); ++i) {
    ASSIGN_OR_RETURN(int64_t d, shape_node.At(i).AsInt());
    if (d < 1 || d > (1 << 20)) return shape_node.At(i).Error("dimension must be in [1, 2^20]");
    s.input_shape.push_back(d);
  }
  if (s.input_shape.empty() || s.input_shape.size() > 4) {
    return shape_node.Error("input_shape needs 1 to 4 dimensions");
  }
  if (NumElements(s.input_shape) > (int64_t{1} << 26)) {
    return shape_node.Error("input_shape has more than 2^26 elements");
  }
  if (auto acc = root.Optional("accuracy")) {
    RETURN_IF_ERROR(SidecarAccuracyKeys().Check(*acc));
    for (const char* p : {"fp32", "fp16", "int8"}) {
      if (!acc->Has(p)) continue;
      ASSIGN_OR_RETURN(double a, acc->GetDoubleIn(p, 0.0, 1.0));
      s.accuracy[p] = a;
    }
    ASSIGN_OR_RETURN(ConfigNode src, acc->Child("source"));
    ASSIGN_OR_RETURN(s.accuracy_source, src.AsString());
    if (s.accuracy_source.empty()) return src.Error("say where the accuracy comes from");
    if (s.accuracy.empty()) return acc->Error("give at least one of fp32, fp16, int8");
  }
  if (auto samples = root.Optional("samples")) {
    ASSIGN_OR_RETURN(std::string dir, samples->AsString());
    std::filesystem::path p(dir);
    if (p.is_relative()) p = std::filesystem::path(root.Directory()) / p;
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) {
      return samples->Error("'" + p.string() + "' is not a folder");
    }
    s.samples_dir = p.string();
  }
  return s;
}

}  // namespace autoscale
