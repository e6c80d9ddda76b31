#include "targets/kserve/kserve.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace autoscale {

using nlohmann::json;

const char* TensorTypeName(TensorType t) { return t == TensorType::kFp32 ? "FP32" : "UINT8"; }

int64_t WireTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where.empty() ? what : where + ": " + what);
}

size_t ElementSize(TensorType t) { return t == TensorType::kFp32 ? 4 : 1; }

// The protocol's parameter values: a string, a number or a boolean.
Status CheckParameterValue(const json& v, const std::string& where) {
  if (v.is_string() || v.is_number() || v.is_boolean()) return Status::Ok();
  return Bad(where, std::string("expected a string, a number or a boolean, got ") + v.type_name());
}

// One tensor object of "inputs" or "outputs". Binary data is taken from `binary` at `*offset`.
Status ParseTensor(const json& j, const std::string& where, std::string_view binary, size_t* offset,
                   const ParseLimits& limits, WireTensor* t) {
  if (!j.is_object()) return Bad(where, "expected an object");
  for (const auto& [key, _] : j.items()) {
    if (key != "name" && key != "datatype" && key != "shape" && key != "data" &&
        key != "parameters") {
      return Bad(where, "unknown key '" + key + "'");
    }
  }
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return Bad(where + ".name", "expected a string");
  t->name = name->get<std::string>();
  auto dt = j.find("datatype");
  if (dt == j.end() || !dt->is_string()) return Bad(where + ".datatype", "expected a string");
  const std::string type = dt->get<std::string>();
  if (type == "FP32") {
    t->type = TensorType::kFp32;
  } else if (type == "UINT8") {
    t->type = TensorType::kUint8;
  } else {
    return Bad(where + ".datatype", "unsupported datatype '" + type + "' (supported: FP32, UINT8)");
  }
  auto shape = j.find("shape");
  if (shape == j.end() || !shape->is_array()) return Bad(where + ".shape", "expected an array");
  if (static_cast<int>(shape->size()) > limits.max_rank) {
    return Bad(where + ".shape", "rank above " + std::to_string(limits.max_rank));
  }
  int64_t elements = 1;
  for (size_t i = 0; i < shape->size(); ++i) {
    const json& d = (*shape)[i];
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return Bad(where + ".shape[" + std::to_string(i) + "]", "expected a non-negative integer");
    }
    const int64_t v = d.get<int64_t>();
    if (v > limits.max_elements || (v > 0 && elements > limits.max_elements / v)) {
      return Bad(where + ".shape",
                 "more than " + std::to_string(limits.max_elements) + " elements");
    }
    t->shape.push_back(v);
    elements *= v;
  }
  std::optional<int64_t> binary_size;
  if (auto p = j.find("parameters"); p != j.end()) {
    if (!p->is_object()) return Bad(where + ".parameters", "expected an object");
    for (const auto& [key, v] : p->items()) {
      RETURN_IF_ERROR(CheckParameterValue(v, where + ".parameters." + key));
    }
    if (auto b = p->find("binary_data_size"); b != p->end()) {
      if (!b->is_number_integer() || b->get<int64_t>() < 0) {
        return Bad(where + ".parameters.binary_data_size", "expected a non-negative integer");
      }
      binary_size = b->get<int64_t>();
    }
  }
  const size_t bytes = static_cast<size_t>(elements) * ElementSize(t->type);
  auto data = j.find("data");
  if (binary_size) {
    if (data != j.end()) return Bad(where, "has both data and binary_data_size");
    if (static_cast<size_t>(*binary_size) != bytes) {
      return Bad(where + ".parameters.binary_data_size",
                 std::to_string(*binary_size) + " bytes, but shape and datatype need " +
                     std::to_string(bytes));
    }
    if (binary.size() - *offset < bytes) {
      return Bad(where, "binary data truncated: needs " + std::to_string(bytes) +
                            " bytes, the body has " + std::to_string(binary.size() - *offset) +
                            " left");
    }
    const char* src = binary.data() + *offset;
    if (t->type == TensorType::kFp32) {
      t->fp32.resize(static_cast<size_t>(elements));
      std::memcpy(t->fp32.data(), src, bytes);  // little-endian hosts only (x86, ARM)
    } else {
      t->u8.assign(src, src + bytes);
    }
    *offset += bytes;
    t->binary = true;
    return Status::Ok();
  }
  if (data == j.end()) return Bad(where, "has neither data nor binary_data_size");
  // Row-major, flat or nested: flatten arrays of arrays.
  std::vector<const json*> stack = {&*data};
  std::vector<const json*> flat;
  while (!stack.empty()) {
    const json* x = stack.back();
    stack.pop_back();
    if (x->is_array()) {
      for (auto it = x->rbegin(); it != x->rend(); ++it) stack.push_back(&*it);
    } else {
      flat.push_back(x);
      if (static_cast<int64_t>(flat.size()) > elements) {
        return Bad(where + ".data",
                   "more values than the shape holds (" + std::to_string(elements) + ")");
      }
    }
  }
  if (static_cast<int64_t>(flat.size()) != elements) {
    return Bad(where + ".data", std::to_string(flat.size()) + " values, but the shape holds " +
                                    std::to_string(elements));
  }
  for (size_t i = 0; i < flat.size(); ++i) {
    const json& v = *flat[i];
    if (!v.is_number()) {
      return Bad(where + ".data[" + std::to_string(i) + "]", "expected a number");
    }
    if (t->type == TensorType::kFp32) {
      // Beyond FP32 the value would become infinite, which JSON cannot carry back.
      const double d = v.get<double>();
      if (std::fabs(d) > std::numeric_limits<float>::max()) {
        return Bad(where + ".data[" + std::to_string(i) + "]", "beyond the FP32 range");
      }
      t->fp32.push_back(static_cast<float>(d));
    } else {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 255) {
        return Bad(where + ".data[" + std::to_string(i) + "]", "expected an integer in [0, 255]");
      }
      t->u8.push_back(static_cast<uint8_t>(v.get<uint64_t>()));
    }
  }
  return Status::Ok();
}

// Splits the body into its JSON header and binary tail and parses the header.
Result<json> ParseHeader(std::string_view body, std::optional<size_t> header_length,
                         std::string_view* binary) {
  size_t n = body.size();
  if (header_length) {
    if (*header_length > body.size()) {
      return Status::InvalidArgument("Inference-Header-Content-Length " +
                                     std::to_string(*header_length) + " exceeds the body (" +
                                     std::to_string(body.size()) + " bytes)");
    }
    n = *header_length;
  }
  *binary = body.substr(n);
  json j = json::parse(body.substr(0, n), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Find the offset of the error for the message (a second, throwing parse).
    try {
      json again = json::parse(body.substr(0, n));
      (void)again;
    } catch (const json::parse_error& e) {
      return Status::InvalidArgument(
          "malformed JSON at byte " + std::to_string(e.byte) + ": " +
          std::string(e.what()).substr(std::string(e.what()).rfind(':') + 2));
    } catch (const json::exception& e) {  // out_of_range.406: a number beyond double's range
      const std::string what = e.what();
      return Status::InvalidArgument("malformed JSON: " + what.substr(what.find("] ") + 2));
    }
    return Status::InvalidArgument("malformed JSON");
  }
  if (!j.is_object()) return Status::InvalidArgument("the request must be a JSON object");
  return j;
}

Status ParseTensorList(const json& j, const char* key, std::string_view binary,
                       const ParseLimits& limits, std::vector<WireTensor>* out, size_t* offset) {
  auto list = j.find(key);
  if (list == j.end() || !list->is_array()) return Bad(key, "expected an array of tensors");
  if (static_cast<int>(list->size()) > limits.max_tensors) {
    return Bad(key, "more than " + std::to_string(limits.max_tensors) + " tensors");
  }
  for (size_t i = 0; i < list->size(); ++i) {
    WireTensor t;
    RETURN_IF_ERROR(ParseTensor((*list)[i], std::string(key) + "[" + std::to_string(i) + "]",
                                binary, offset, limits, &t));
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

Status CheckAllBinaryUsed(std::string_view binary, size_t offset) {
  if (offset != binary.size()) {
    return Status::InvalidArgument(std::to_string(binary.size() - offset) +
                                   " bytes of binary data that no tensor claims");
  }
  return Status::Ok();
}

// The binary data of a message's tensors, in order, pointing into the message.
using Pieces = std::vector<std::string_view>;

json TensorJson(const WireTensor& t, Pieces* tail) {
  json j = {{"name", t.name}, {"datatype", TensorTypeName(t.type)}, {"shape", t.shape}};
  if (t.binary) {
    const char* p = t.type == TensorType::kFp32 ? reinterpret_cast<const char*>(t.fp32.data())
                                                : reinterpret_cast<const char*>(t.u8.data());
    const size_t bytes = t.type == TensorType::kFp32 ? t.fp32.size() * 4 : t.u8.size();
    tail->emplace_back(p, bytes);
    j["parameters"] = {{"binary_data_size", bytes}};
  } else if (t.type == TensorType::kFp32) {
    json data = json::array();
    for (float v : t.fp32) data.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    j["data"] = std::move(data);
  } else {
    j["data"] = t.u8;
  }
  return j;
}

// The JSON header followed by the binary pieces, each byte copied once (a 602 KB tensor is
// worth it: appending to a growing tail and then joining copied it twice).
std::string Finish(const json& j, const Pieces& tail, std::optional<size_t>* header_length) {
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (tail.empty()) {
    *header_length = std::nullopt;
    return out;
  }
  *header_length = out.size();
  size_t total = out.size();
  for (std::string_view p : tail) total += p.size();
  out.reserve(total);
  for (std::string_view p : tail) out.append(p);
  return out;
}

}  // namespace

Result<InferRequestMsg> ParseInferRequest(std::string_view body,
                                          std::optional<size_t> header_length,
                                          const ParseLimits& limits) {
  std::string_view binary;
  ASSIGN_OR_RETURN(json j, ParseHeader(body, header_length, &binary));
  InferRequestMsg msg;
  // Other top-level keys are ignored (the protocol's clients add their own).
  auto text = [&](const char* key, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) return Status::Ok();
    if (!it->is_string()) return Bad(key, "expected a string");
    *out = it->get<std::string>();
    return Status::Ok();
  };
  RETURN_IF_ERROR(text("id", &msg.id));
  RETURN_IF_ERROR(text("model_name", &msg.model_name));
  RETURN_IF_ERROR(text("model_version", &msg.model_version));
  if (auto p = j.find("parameters"); p != j.end()) {
    if (!p->is_object()) return Bad("parameters", "expected an object");
    for (const auto& [key, v] : p->items()) {
      const std::string where = "parameters." + key;
      const bool numeric = std::any_of(std::begin(kNumericParameters), std::end(kNumericParameters),
                                       [&](const char* k) { return key == k; });
      if (key == "binary_data_output") {
        if (!v.is_boolean()) return Bad(where, "expected true or false");
        msg.binary_outputs_default = v.get<bool>();
      } else if (numeric && !v.is_number()) {
        return Bad(where, "expected a number");
      } else if (v.is_number()) {
        msg.parameters[key] = v.get<double>();
      } else {
        RETURN_IF_ERROR(CheckParameterValue(v, where));
        msg.text_parameters[key] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
  }
  size_t offset = 0;
  RETURN_IF_ERROR(ParseTensorList(j, "inputs", binary, limits, &msg.inputs, &offset));
  if (msg.inputs.empty()) return Bad("inputs", "at least one input is needed");
  RETURN_IF_ERROR(CheckAllBinaryUsed(binary, offset));
  if (auto outs = j.find("outputs"); outs != j.end()) {
    if (!outs->is_array()) return Bad("outputs", "expected an array");
    for (size_t i = 0; i < outs->size(); ++i) {
      const json& o = (*outs)[i];
      const std::string where = "outputs[" + std::to_string(i) + "]";
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
        return Bad(where, "expected an object with a name");
      }
      bool bin = msg.binary_outputs_default;
      if (auto p = o.find("parameters"); p != o.end()) {
        if (!p->is_object()) return Bad(where + ".parameters", "expected an object");
        for (const auto& [key, v] : p->items()) {
          RETURN_IF_ERROR(CheckParameterValue(v, where + ".parameters." + key));
        }
        if (p->contains("classification")) {
          // Triton's top-k "score:index" strings; refused rather than silently ignored.
          return Bad(where + ".parameters.classification",
                     "not supported by this server; ask for the raw output and take its top "
                     "scores yourself");
        }
        if (auto b = p->find("binary_data"); b != p->end()) {
          if (!b->is_boolean()) return Bad(where + ".parameters.binary_data", "expected a bool");
          bin = b->get<bool>();
        }
      }
      msg.outputs.emplace_back(o["name"].get<std::string>(), bin);
    }
  }
  return msg;
}

Status CheckRequestNames(const InferRequestMsg& msg, const std::string& model,
                         std::string_view input_name, std::string_view output_name) {
  const std::string m = "model '" + model + "'";
  if (!msg.model_name.empty() && msg.model_name != model) {
    return Bad("model_name", "'" + msg.model_name + "' is not the model of the path, '" + model +
                                 "'");
  }
  if (!msg.model_version.empty() && msg.model_version != "1") {
    return Bad("model_version", m + " has no version '" + msg.model_version + "' (versions: 1)");
  }
  if (msg.inputs.size() != 1) {
    return Bad("inputs", m + " takes one input; the request has " +
                             std::to_string(msg.inputs.size()));
  }
  if (msg.inputs[0].name != input_name) {
    return Bad("inputs[0].name", m + " has one input, '" + std::string(input_name) +
                                     "'; the request sends '" + msg.inputs[0].name + "'");
  }
  for (size_t i = 0; i < msg.outputs.size(); ++i) {
    if (msg.outputs[i].first != output_name) {
      return Bad("outputs[" + std::to_string(i) + "].name",
                 m + " has one output, '" + std::string(output_name) + "'; the request asks for '" +
                     msg.outputs[i].first + "'");
    }
  }
  return Status::Ok();
}

Result<InferResponseMsg> ParseInferResponse(std::string_view body,
                                            std::optional<size_t> header_length,
                                            const ParseLimits& limits) {
  std::string_view binary;
  ASSIGN_OR_RETURN(json j, ParseHeader(body, header_length, &binary));
  if (auto e = j.find("error"); e != j.end() && e->is_string()) {
    return Status::Unavailable("server error: " + e->get<std::string>());
  }
  InferResponseMsg msg;
  auto str = [&](const char* key, std::string* out) -> Status {
    if (auto v = j.find(key); v != j.end()) {
      if (!v->is_string()) return Bad(key, "expected a string");
      *out = v->get<std::string>();
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(str("model_name", &msg.model_name));
  RETURN_IF_ERROR(str("model_version", &msg.model_version));
  RETURN_IF_ERROR(str("id", &msg.id));
  if (auto p = j.find("parameters"); p != j.end()) {
    if (!p->is_object()) return Bad("parameters", "expected an object");
    for (const auto& [key, v] : p->items()) {
      if (v.is_number()) msg.parameters[key] = v.get<double>();
    }
  }
  size_t offset = 0;
  RETURN_IF_ERROR(ParseTensorList(j, "outputs", binary, limits, &msg.outputs, &offset));
  RETURN_IF_ERROR(CheckAllBinaryUsed(binary, offset));
  return msg;
}

std::string EncodeInferRequest(const InferRequestMsg& msg, std::optional<size_t>* header_length) {
  Pieces tail;
  json j = json::object();
  if (!msg.id.empty()) j["id"] = msg.id;
  json inputs = json::array();
  for (const WireTensor& t : msg.inputs) inputs.push_back(TensorJson(t, &tail));
  j["inputs"] = std::move(inputs);
  if (!msg.outputs.empty()) {
    json outs = json::array();
    for (const auto& [name, bin] : msg.outputs) {
      outs.push_back({{"name", name}, {"parameters", {{"binary_data", bin}}}});
    }
    j["outputs"] = std::move(outs);
  }
  json params = json::object();
  for (const auto& [k, v] : msg.parameters) params[k] = v;
  if (msg.binary_outputs_default) params["binary_data_output"] = true;
  if (!params.empty()) j["parameters"] = std::move(params);
  return Finish(j, tail, header_length);
}

std::string EncodeInferResponse(const InferResponseMsg& msg, std::optional<size_t>* header_length) {
  Pieces tail;
  json j = {{"model_name", msg.model_name}};
  if (!msg.model_version.empty()) j["model_version"] = msg.model_version;
  if (!msg.id.empty()) j["id"] = msg.id;
  json outs = json::array();
  for (const WireTensor& t : msg.outputs) outs.push_back(TensorJson(t, &tail));
  j["outputs"] = std::move(outs);
  if (!msg.parameters.empty()) {
    json params = json::object();
    for (const auto& [k, v] : msg.parameters) params[k] = v;
    j["parameters"] = std::move(params);
  }
  return Finish(j, tail, header_length);
}

namespace {
std::string ShapeText(const std::vector<int64_t>& shape, bool batch) {
  std::string s = batch ? "[N" : "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0 || batch) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}
}  // namespace

namespace {

// Checks `t` against the model's input and returns the batched shape ToHostTensor gives it.
Result<std::vector<int64_t>> HostShape(const WireTensor& t,
                                       const std::vector<int64_t>& model_input_shape) {
  const size_t rank = model_input_shape.size();
  std::vector<int64_t> shape;
  if (t.shape.size() == rank + 1 &&
      std::equal(model_input_shape.begin(), model_input_shape.end(), t.shape.begin() + 1)) {
    if (t.shape[0] < 1) {
      return Status::InvalidArgument("input '" + t.name + "': batch dimension is " +
                                     std::to_string(t.shape[0]) + "; at least 1 is needed");
    }
    shape = t.shape;
  } else if (t.shape == model_input_shape) {
    shape = {1};
    shape.insert(shape.end(), t.shape.begin(), t.shape.end());
  } else {
    return Status::InvalidArgument("input '" + t.name + "': shape " + ShapeText(t.shape, false) +
                                   " does not fit the model's input " +
                                   ShapeText(model_input_shape, true) + " (or " +
                                   ShapeText(model_input_shape, false) + " for one sample)");
  }
  const size_t n = t.type == TensorType::kFp32 ? t.fp32.size() : t.u8.size();
  if (static_cast<int64_t>(n) != t.elements()) {
    return Status::InvalidArgument("input '" + t.name + "': " + std::to_string(n) +
                                   " values, but the shape holds " + std::to_string(t.elements()));
  }
  return shape;
}

// UINT8 values as floats, normalised as ToHostTensor documents. Each value goes through a table
// of the 256 results per channel, computed with the documented formula (so the floats are the
// same), instead of a division and a modulo per value.
std::vector<float> Uint8ToFloat(const std::vector<uint8_t>& u8,
                                const std::vector<int64_t>& model_input_shape) {
  std::vector<float> out(u8.size());
  const bool image = model_input_shape.size() == 3 && model_input_shape[0] == 3;
  if (!image) {
    for (size_t i = 0; i < u8.size(); ++i) out[i] = u8[i] / 255.0f;
    return out;
  }
  static constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
  static constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};
  static const auto* const kTable = [] {
    auto* t = new std::array<std::array<float, 256>, 3>();
    for (int c = 0; c < 3; ++c) {
      for (int v = 0; v < 256; ++v) (*t)[c][v] = (v / 255.0f - kMean[c]) / kStd[c];
    }
    return t;
  }();
  const size_t plane = static_cast<size_t>(model_input_shape[1] * model_input_shape[2]);
  for (size_t start = 0, c = 0; start < u8.size(); start += plane, c = (c + 1) % 3) {
    const float* table = (*kTable)[c].data();
    const uint8_t* src = u8.data() + start;
    float* dst = out.data() + start;
    for (size_t i = 0; i < plane; ++i) dst[i] = table[src[i]];
  }
  return out;
}

}  // namespace

Result<HostTensor> ToHostTensor(const WireTensor& t,
                                const std::vector<int64_t>& model_input_shape) {
  HostTensor out;
  ASSIGN_OR_RETURN(out.shape, HostShape(t, model_input_shape));
  out.data = t.type == TensorType::kFp32 ? t.fp32 : Uint8ToFloat(t.u8, model_input_shape);
  return out;
}

Result<HostTensor> ToHostTensor(WireTensor&& t, const std::vector<int64_t>& model_input_shape) {
  HostTensor out;
  ASSIGN_OR_RETURN(out.shape, HostShape(t, model_input_shape));
  out.data =
      t.type == TensorType::kFp32 ? std::move(t.fp32) : Uint8ToFloat(t.u8, model_input_shape);
  return out;
}

std::string ErrorBody(std::string_view message) {
  return json{{"error", std::string(message)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace autoscale
