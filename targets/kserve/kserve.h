// The KServe v2 / Open Inference Protocol inference messages, over HTTP/REST: JSON tensors and
// the binary tensor extension (a JSON header of `Inference-Header-Content-Length` bytes, then
// the tensors' raw little-endian bytes in order, each announced by
// `"parameters": {"binary_data_size": N}`). Shared by the worker (server side) and the remote
// target (client side). No HTTP, torch or Boost here, so the parser can be fuzzed on its own.
//
// Spec: kserve/open-inference-protocol, "REST" and "Binary Tensor Data Extension" (as Triton
// implements it). Supported datatypes: FP32 and UINT8 (images at a quarter of the bytes).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "targets/target.h"

namespace autoscale {

enum class TensorType : uint8_t { kFp32, kUint8 };
const char* TensorTypeName(TensorType t);  // "FP32", "UINT8"

struct WireTensor {
  std::string name;
  TensorType type = TensorType::kFp32;
  std::vector<int64_t> shape;
  std::vector<float> fp32;  // when type == kFp32
  std::vector<uint8_t> u8;  // when type == kUint8
  bool binary = false;      // encode as binary data (requests: inputs; responses: outputs)

  int64_t elements() const;
};

// A request as the Open Inference Protocol (KServe v2) defines it. Top-level keys other than
// these are ignored, as the protocol's clients expect (KServe's Python SDK always sends
// "model_name"). Parameters may be strings, numbers or booleans, at every level; those this
// project reads (kNumericParameters) must be numbers.
struct InferRequestMsg {
  std::string id;
  // "model_name" and "model_version" when the request names them ("" when absent): a server
  // checks them against the path.
  std::string model_name, model_version;
  std::vector<WireTensor> inputs;
  // Requested outputs by name, with whether each should come back as binary data; empty:
  // every output, in the format of `binary_outputs_default`.
  std::vector<std::pair<std::string, bool>> outputs;
  bool binary_outputs_default = false;       // "parameters": {"binary_data_output": true}
  std::map<std::string, double> parameters;  // numeric request parameters (latency_bound_ms...)
  // String and boolean request parameters ("sequence_start", "content_type"...), as text
  // ("true"/"false" for booleans): accepted and not interpreted.
  std::map<std::string, std::string> text_parameters;
};

// Checks what a request names against the model it was sent to (the path's): model_name and
// model_version when given (the only version is "1"), exactly one input, called `input_name`,
// and requested outputs called `output_name`. InvalidArgument naming what was expected.
Status CheckRequestNames(const InferRequestMsg& msg, const std::string& model,
                         std::string_view input_name, std::string_view output_name);

// The request parameters this project interprets; each must be a number.
inline constexpr const char* kNumericParameters[] = {"latency_bound_ms", "min_accuracy"};

struct InferResponseMsg {
  std::string model_name, model_version, id;
  std::vector<WireTensor> outputs;
  // Numeric response parameters ("parameters": {...}); the worker reports "compute_ms" (the
  // batch's forward time), "queue_ms" (this request's wait) and "batch_size". Parsing keeps the
  // numeric ones and skips others (servers such as Triton add booleans and strings).
  std::map<std::string, double> parameters;
};

struct ParseLimits {
  int64_t max_elements = 64ll << 20;  // per tensor
  int max_tensors = 16;
  int max_rank = 8;
};

// Parses a request body. `header_length`: the Inference-Header-Content-Length header when
// present (binary extension), else the whole body is JSON. Errors are InvalidArgument naming
// what was wrong and where ("inputs[0].shape[2]: ..."; JSON syntax errors give the byte offset).
Result<InferRequestMsg> ParseInferRequest(std::string_view body,
                                          std::optional<size_t> header_length,
                                          const ParseLimits& limits = {});
Result<InferResponseMsg> ParseInferResponse(std::string_view body,
                                            std::optional<size_t> header_length,
                                            const ParseLimits& limits = {});

// Encodes a message; when any tensor is binary, `*header_length` is set to the JSON header's
// size (send it as Inference-Header-Content-Length), else to nullopt.
std::string EncodeInferRequest(const InferRequestMsg& msg, std::optional<size_t>* header_length);
std::string EncodeInferResponse(const InferResponseMsg& msg, std::optional<size_t>* header_length);

// An input tensor as a model's float input. `model_input_shape` is the model's input without the
// batch dimension; the tensor's shape must be [N, model_input_shape...] with N >= 1, or exactly
// model_input_shape (then N = 1 and the batch dimension is added). FP32 data is copied as is.
// UINT8 data becomes float: when the per-sample shape is [3, H, W] it is an RGB image, normalised
// per channel with the ImageNet statistics, (v / 255 - mean[c]) / std[c] with mean (0.485, 0.456,
// 0.406) and std (0.229, 0.224, 0.225); any other shape is scaled to v / 255. Errors are
// InvalidArgument naming the tensor and both shapes. No torch here.
Result<HostTensor> ToHostTensor(const WireTensor& t, const std::vector<int64_t>& model_input_shape);
// The same, taking FP32 data over instead of copying it: t.fp32 is moved from (left empty on
// success); the rest of `t`, UINT8 data included, is left as it was.
Result<HostTensor> ToHostTensor(WireTensor&& t, const std::vector<int64_t>& model_input_shape);

// {"error": "..."} with the message JSON-escaped.
std::string ErrorBody(std::string_view message);

}  // namespace autoscale
