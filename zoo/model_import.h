// A user's model as the zoo sees it: the sidecar NAME.yaml beside NAME.pt, and the import of the
// TorchScript file into the graph IR (graph.h) with its real weights. This header is torch-free:
// the importer itself lives in zoo/torchscript/ (libtorch only there) and a program that links
// it installs it with InstallTorchScriptImporter() (zoo/torchscript/torchscript_import.h). A
// program without libtorch (the torch-free simulator build) has no importer and says so.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "zoo/features.h"
#include "zoo/graph.h"

namespace autoscale {

// NAME.yaml beside NAME.pt:
//   input_shape: [3, 224, 224]          # required, without the batch
//   accuracy: {fp32: 0.677, int8: 0.671, source: "torchvision model card, ImageNet-1k top-1"}
//   samples: calib/                     # optional: a folder of sample inputs (raw float32 files
//                                       # *.f32 of one input each), relative to the sidecar
struct ModelSidecar {
  std::string path;                     // the sidecar file
  std::vector<int64_t> input_shape;
  std::map<std::string, double> accuracy;  // "fp32", "fp16", "int8" -> top-1 in [0, 1]
  std::string accuracy_source;             // required when accuracy is given
  std::string samples_dir;                 // absolute or relative to the sidecar's folder; "" if none
};
// A flat layout's NAME.yaml, or a Triton repository's NAME/config.pbtxt (its input shape only;
// core/model_repository.h).
Result<ModelSidecar> LoadModelSidecar(const std::string& yaml_path);

// A TorchScript file imported into the graph IR.
struct ImportedModel {
  std::string name;
  std::vector<int64_t> input_shape;
  // The graph with its weights as the file has them (batch-norm not folded; seeded_weights() is
  // false); null when some operation could not be mapped (`unmapped` lists them), in which case
  // the model runs only as TorchScript on libtorch targets.
  std::shared_ptr<const WeightedGraph> graph;
  // Features of the graph; for a partial import, what could be counted, with `complete` false
  // and `uncounted` naming every operation that was not.
  ModelFeatures features;
  std::vector<std::string> unmapped;  // "aten::foo (node 12: %x.3 = aten::foo(...))"
};

using TorchScriptImporter = std::function<Result<ImportedModel>(
    const std::string& name, const std::string& path, const std::vector<int64_t>& input_shape)>;

// Installs the process's importer (replacing any earlier one). Thread-safe.
void SetTorchScriptImporter(TorchScriptImporter importer);
bool HaveTorchScriptImporter();
// Imports with the installed importer; Unavailable ("this build has no libtorch") without one.
Result<ImportedModel> ImportTorchScript(const std::string& name, const std::string& path,
                                        const std::vector<int64_t>& input_shape);

}  // namespace autoscale
