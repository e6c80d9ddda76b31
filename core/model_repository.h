// Users' models in a model folder, in either of two layouts:
//   flat:   NAME.pt with NAME.yaml beside it (input_shape, accuracy, samples);
//   Triton: NAME/config.pbtxt and NAME/VERSION/model.pt (Triton Inference Server's model
//           repository; the highest numeric VERSION is served, as Triton's default policy).
// A name never becomes a path outside the folder: it must be letters, digits, '_', '-' or '.',
// not start with '.', at most 128 characters. Every place that maps a model name to its files
// goes through here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoscale {

struct UserModelFiles {
  std::string model;    // the TorchScript file
  std::string sidecar;  // NAME.yaml (flat) or NAME/config.pbtxt (Triton)
  bool triton = false;
  int64_t version = 0;  // Triton: the version folder served
};

// True for names a model may have: [A-Za-z0-9_.-]+, not starting with '.', at most 128 chars.
bool IsPlainModelName(std::string_view name);

// The files of user model NAME in MODEL_DIR. NotFound when the folder has neither layout for it;
// InvalidArgument when it has both, or a Triton folder without a config.pbtxt or a version
// folder holding model.pt.
Result<UserModelFiles> FindUserModelFiles(const std::string& model_dir, const std::string& name);
// True when MODEL_DIR holds NAME in either layout (complete or not: FindUserModelFiles says
// what is wrong with an incomplete one).
bool HasUserModel(const std::string& model_dir, const std::string& name);
// Every NAME MODEL_DIR holds in either layout, sorted, each once.
std::vector<std::string> UserModelNamesIn(const std::string& model_dir);

// The part of a Triton model configuration (protobuf text format, model_config.proto) a
// TorchScript model is described by.
struct TritonTensorConfig {
  std::string name;
  std::string data_type;  // TYPE_FP32, ...
  std::vector<int64_t> dims;
};
struct TritonModelConfig {
  std::string name;
  std::string platform;  // pytorch_libtorch
  std::string backend;   // pytorch
  int64_t max_batch_size = 0;
  std::vector<TritonTensorConfig> input, output;
};
// Parses FILE's TEXT; errors say "FILE:LINE:COL: what". Unknown fields are skipped (Triton's
// configs carry many this project does not use); nesting and size are bounded.
Result<TritonModelConfig> ParseTritonModelConfig(std::string_view text, const std::string& file);

// The input shape without the batch that a Triton config declares for a TorchScript model:
// platform pytorch_libtorch (or backend pytorch), one FP32 input of fixed dims (with
// max_batch_size 0 the dims include a leading batch of 1, which is dropped), each 1 to 2^20.
Result<std::vector<int64_t>> TritonInputShape(const TritonModelConfig& config,
                                              const std::string& file);

}  // namespace autoscale
