// KServe v2 inference messages: JSON and binary round trips, and every malformed input gets an
// error saying what and where.
#include "targets/kserve/kserve.h"

#include <gtest/gtest.h>

#include <cstring>

namespace autoscale {
namespace {

WireTensor Fp32(std::vector<int64_t> shape, bool binary) {
  WireTensor t;
  t.name = "input";
  t.shape = std::move(shape);
  t.binary = binary;
  for (int64_t i = 0; i < t.elements(); ++i) t.fp32.push_back(0.25f * i - 1.0f);
  return t;
}

TEST(KServe, JsonRequestRoundTrip) {
  InferRequestMsg m;
  m.id = "r1";
  m.inputs.push_back(Fp32({1, 2, 3}, false));
  m.parameters["latency_bound_ms"] = 50;
  m.outputs = {{"output", true}};
  std::optional<size_t> hl;
  const std::string body = EncodeInferRequest(m, &hl);
  EXPECT_FALSE(hl.has_value());
  auto p = ParseInferRequest(body, hl);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->id, "r1");
  EXPECT_EQ(p->inputs[0].shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(p->inputs[0].fp32, m.inputs[0].fp32);
  EXPECT_EQ(p->parameters.at("latency_bound_ms"), 50);
  ASSERT_EQ(p->outputs.size(), 1u);
  EXPECT_TRUE(p->outputs[0].second);
}

TEST(KServe, BinaryAndUint8RoundTrip) {
  InferRequestMsg m;
  m.inputs.push_back(Fp32({2, 3}, true));
  WireTensor img;
  img.name = "image";
  img.type = TensorType::kUint8;
  img.shape = {1, 4};
  img.u8 = {0, 7, 128, 255};
  img.binary = true;
  m.inputs.push_back(img);
  std::optional<size_t> hl;
  const std::string body = EncodeInferRequest(m, &hl);
  ASSERT_TRUE(hl.has_value());
  EXPECT_EQ(body.size(), *hl + 6 * 4 + 4);
  auto p = ParseInferRequest(body, hl);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->inputs[0].fp32, m.inputs[0].fp32);
  EXPECT_EQ(p->inputs[1].u8, img.u8);
  EXPECT_TRUE(p->inputs[1].binary);

  InferResponseMsg r;
  r.model_name = "resnet18";
  r.outputs.push_back(Fp32({1, 5}, true));
  const std::string rb = EncodeInferResponse(r, &hl);
  auto pr = ParseInferResponse(rb, hl);
  ASSERT_TRUE(pr.ok()) << pr.status().ToString();
  EXPECT_EQ(pr->model_name, "resnet18");
  EXPECT_EQ(pr->outputs[0].fp32, r.outputs[0].fp32);
}

TEST(KServe, NestedJsonDataIsRowMajor) {
  auto p = ParseInferRequest(
      R"({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2, 2], "data": [[1, 2], [3, 4]]}]})",
      std::nullopt);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->inputs[0].u8, (std::vector<uint8_t>{1, 2, 3, 4}));
}

void ExpectError(std::string_view body, std::optional<size_t> hl, const std::string& part) {
  auto p = ParseInferRequest(body, hl);
  ASSERT_FALSE(p.ok()) << body;
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find(part), std::string::npos)
      << "wanted '" << part << "' in: " << p.status().message();
}

TEST(KServe, MalformedRequestsSayWhatAndWhere) {
  ExpectError("{\"inputs\": [", std::nullopt, "malformed JSON at byte");
  ExpectError("[1, 2]", std::nullopt, "must be a JSON object");
  ExpectError("{}", std::nullopt, "inputs: expected an array");
  ExpectError(R"({"inputs": []})", std::nullopt, "at least one input");
  ExpectError(R"({"inputz": []})", std::nullopt, "unknown key 'inputz'");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]})",
              std::nullopt, "inputs[0].datatype: unsupported datatype 'FP64'");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, -1], "data": []}]})",
              std::nullopt, "inputs[0].shape[1]");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1, 2]}]})",
              std::nullopt, "inputs[0].data: 2 values, but the shape holds 3");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1, 2]}]})",
              std::nullopt, "more values than the shape holds");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, "a"]}]})",
              std::nullopt, "inputs[0].data[1]: expected a number");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [300]}]})",
              std::nullopt, "[0, 255]");
  ExpectError(
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1000000, 1000000, 1000000], "data": []}]})",
      std::nullopt, "elements");
  ExpectError(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]})", std::nullopt,
              "neither data nor binary_data_size");
  ExpectError(R"({"parameters": {"latency_bound_ms": "fast"}, "inputs": []})", std::nullopt,
              "parameters.latency_bound_ms: expected a number");
}

TEST(KServe, MalformedBinaryBodies) {
  const std::string header =
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]})";
  std::string body = header + std::string(8, '\0');
  EXPECT_TRUE(ParseInferRequest(body, header.size()).ok());
  ExpectError(header + std::string(5, '\0'), header.size(), "truncated");
  ExpectError(header + std::string(12, '\0'), header.size(),
              "4 bytes of binary data that no tensor claims");
  ExpectError(body, body.size() + 1, "exceeds the body");
  const std::string wrong =
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 8}}]})";
  ExpectError(wrong + std::string(8, '\0'), wrong.size(),
              "binary_data_size: 8 bytes, but shape and datatype need 12");
}

TEST(KServe, ErrorBodyIsJson) {
  EXPECT_EQ(ErrorBody("bad \"input\""), R"({"error":"bad \"input\""})");
  auto r = ParseInferResponse(ErrorBody("model not found"), std::nullopt);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("model not found"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
