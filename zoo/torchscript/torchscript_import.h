// The import of a TorchScript file into the graph IR (zoo/graph.h) with its real weights. The
// only place outside the libtorch targets that includes torch; callers use zoo/model_import.h.
//
// How: the module is loaded on the CPU, put in eval mode and frozen (torch::jit::freeze_module:
// methods inlined, parameters become constants, `self.training` branches fold away). The frozen
// graph is then interpreted once for the declared input shape: tensors become graph nodes with
// known shapes, and the integer, list and shape arithmetic around them (x.size(), view's
// arguments, ...) is evaluated to constants. Mapped: conv2d/_convolution (grouped, depthwise,
// dilated), batch_norm, linear/addmm, relu, relu6/hardtanh(0,6), hardswish, hardsigmoid, sigmoid,
// silu, max/avg/adaptive-avg pooling, mean over H and W, add, mul, cat, flatten/view/reshape to
// (N, -1), ShuffleNet's view-transpose-view channel shuffle, dropout (identity in eval), and a
// one-layer unidirectional batch-first LSTM read at its last step. Anything else is listed by name
// in ImportedModel::unmapped; the model then has no graph and runs as TorchScript.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "zoo/model_import.h"

namespace autoscale {

// Imports `path` (a TorchScript archive) for inputs of `input_shape` (without the batch).
// Errors (file missing, not TorchScript, forward rejecting the shape) name the file; an op that
// cannot be mapped is not an error (see ImportedModel).
Result<ImportedModel> ImportTorchScriptFile(const std::string& name, const std::string& path,
                                            const std::vector<int64_t>& input_shape);

// Installs ImportTorchScriptFile as the process's importer (zoo/model_import.h). Programs and
// tests that link libtorch call it once at start-up.
void InstallTorchScriptImporter();

}  // namespace autoscale
