// The one body of code behind the KServe message fuzzer (fuzz/kserve_request_fuzz.cc) and its
// gcc-built corpus regression test (tests/kserve/fuzz_corpus_test.cc).
//
// Input layout: byte 0 holds flags. Bit 0 clear: no Inference-Header-Content-Length, the body
// is bytes 1..; bit 0 set: bytes 1-2 are a little-endian length L, the body is bytes 3.., and
// the header length is L % (body size + 1), so that every value is in range and the binary
// tensor path is reached often. An input shorter than its flags need is ignored.
//
// The body goes through ParseInferRequest and ParseInferResponse. A message that parses is
// encoded again and parsed again; the second parse must succeed and agree with the first on
// every field (tensor names, types, shapes, binary flags, data bit for bit; ids, outputs,
// parameters). A disagreement is a bug in the codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "targets/kserve/kserve.h"

namespace autoscale::fuzz {

struct KServeInput {
  std::string_view body;
  std::optional<size_t> header_length;
};

// Splits a fuzzer input by the layout above; nullopt when it is too short.
inline std::optional<KServeInput> SplitKServeInput(const uint8_t* data, size_t size) {
  if (size < 1) return std::nullopt;
  KServeInput in;
  if ((data[0] & 1) == 0) {
    in.body = std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
    return in;
  }
  if (size < 3) return std::nullopt;
  const size_t raw = static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8;
  in.body = std::string_view(reinterpret_cast<const char*>(data) + 3, size - 3);
  in.header_length = raw % (in.body.size() + 1);
  return in;
}

// "" when two tensors agree on every field; else what differs, prefixed by `where`.
inline std::string TensorMismatch(const WireTensor& a, const WireTensor& b,
                                  const std::string& where) {
  if (a.name != b.name) return where + ".name: '" + a.name + "' became '" + b.name + "'";
  if (a.type != b.type) {
    return where + ".datatype: " + TensorTypeName(a.type) + " became " + TensorTypeName(b.type);
  }
  if (a.shape != b.shape) return where + ".shape changed";
  if (a.binary != b.binary) return where + ".binary changed";
  if (a.u8 != b.u8) return where + ": UINT8 data changed";
  if (a.fp32.size() != b.fp32.size() ||
      (!a.fp32.empty() && std::memcmp(a.fp32.data(), b.fp32.data(), a.fp32.size() * 4) != 0)) {
    return where + ": FP32 data changed";
  }
  return "";
}

inline std::string TensorsMismatch(const std::vector<WireTensor>& a,
                                   const std::vector<WireTensor>& b, const std::string& key) {
  if (a.size() != b.size()) {
    return key + ": " + std::to_string(a.size()) + " tensors became " + std::to_string(b.size());
  }
  for (size_t i = 0; i < a.size(); ++i) {
    std::string m = TensorMismatch(a[i], b[i], key + "[" + std::to_string(i) + "]");
    if (!m.empty()) return m;
  }
  return "";
}

// "" when `msg` survives EncodeInferRequest + ParseInferRequest unchanged; else what broke.
inline std::string RequestRoundTripMismatch(const InferRequestMsg& msg) {
  std::optional<size_t> hl;
  const std::string body = EncodeInferRequest(msg, &hl);
  Result<InferRequestMsg> again = ParseInferRequest(body, hl);
  if (!again.ok()) return "re-encoded request does not parse: " + again.status().ToString();
  if (again->id != msg.id) return "id changed";
  if (again->outputs != msg.outputs) return "outputs changed";
  if (again->binary_outputs_default != msg.binary_outputs_default) {
    return "binary_data_output changed";
  }
  if (again->parameters != msg.parameters) return "parameters changed";
  return TensorsMismatch(msg.inputs, again->inputs, "inputs");
}

// The same for responses.
inline std::string ResponseRoundTripMismatch(const InferResponseMsg& msg) {
  std::optional<size_t> hl;
  const std::string body = EncodeInferResponse(msg, &hl);
  Result<InferResponseMsg> again = ParseInferResponse(body, hl);
  if (!again.ok()) return "re-encoded response does not parse: " + again.status().ToString();
  if (again->model_name != msg.model_name || again->model_version != msg.model_version ||
      again->id != msg.id) {
    return "model_name, model_version or id changed";
  }
  if (again->parameters != msg.parameters) return "parameters changed";
  return TensorsMismatch(msg.outputs, again->outputs, "outputs");
}

struct KServeRunResult {
  bool request_parsed = false, response_parsed = false;
  std::string mismatch;  // empty: every round trip held
};

// Runs one input through both parsers and the round-trip checks.
inline KServeRunResult RunKServeInput(const uint8_t* data, size_t size) {
  KServeRunResult r;
  const std::optional<KServeInput> in = SplitKServeInput(data, size);
  if (!in) return r;
  Result<InferRequestMsg> req = ParseInferRequest(in->body, in->header_length);
  if (req.ok()) {
    r.request_parsed = true;
    r.mismatch = RequestRoundTripMismatch(*req);
    if (!r.mismatch.empty()) return r;
  }
  Result<InferResponseMsg> resp = ParseInferResponse(in->body, in->header_length);
  if (resp.ok()) {
    r.response_parsed = true;
    r.mismatch = ResponseRoundTripMismatch(*resp);
  }
  return r;
}

}  // namespace autoscale::fuzz
