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
  ExpectError(R"({"inputz": []})", std::nullopt, "inputs: expected an array");
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
  ExpectError(R"({"parameters": {"min_accuracy": true}, "inputs": []})", std::nullopt,
              "parameters.min_accuracy: expected a number");
  // The protocol's parameter values are strings, numbers and booleans: nothing else.
  ExpectError(R"({"parameters": {"extra": {"a": 1}}, "inputs": []})", std::nullopt,
              "parameters.extra: expected a string, a number or a boolean, got object");
  ExpectError(
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1], "parameters": {"p": [1]}}]})",
      std::nullopt, "inputs[0].parameters.p: expected a string, a number or a boolean, got array");
  ExpectError(R"({"model_name": 7, "inputs": []})", std::nullopt, "model_name: expected a string");
  // Triton's classification extension is refused, not silently ignored.
  ExpectError(
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], "outputs": [{"name": "output", "parameters": {"classification": 3}}]})",
      std::nullopt, "outputs[0].parameters.classification: not supported");
}

// What the protocol's clients send beyond the keys this project reads: KServe's Python SDK adds
// "model_name", Triton's clients "sequence_start" (a boolean) and MLServer "content_type" (a
// string), at the request and the tensor level. Accepted; the numbers still read as numbers.
TEST(KServe, ClientsExtraKeysAndParametersOfEveryType) {
  auto p = ParseInferRequest(R"({
    "id": "42", "model_name": "resnet18", "model_version": "1", "unknown_key": {"x": [1]},
    "parameters": {"sequence_id": 7, "sequence_start": true, "content_type": "np",
                   "latency_bound_ms": 50},
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [2], "data": [1, 2],
                "parameters": {"content_type": "np", "flag": false}}],
    "outputs": [{"name": "output", "parameters": {"binary_data": false, "tag": "t"}}]})",
                             std::nullopt);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->id, "42");
  EXPECT_EQ(p->model_name, "resnet18");
  EXPECT_EQ(p->model_version, "1");
  EXPECT_EQ(p->parameters.at("latency_bound_ms"), 50);
  EXPECT_EQ(p->parameters.at("sequence_id"), 7);
  EXPECT_EQ(p->text_parameters.at("sequence_start"), "true");
  EXPECT_EQ(p->text_parameters.at("content_type"), "np");
  ASSERT_EQ(p->inputs.size(), 1u);
  EXPECT_EQ(p->inputs[0].fp32, (std::vector<float>{1, 2}));
  ASSERT_EQ(p->outputs.size(), 1u);
  EXPECT_FALSE(p->outputs[0].second);
}

TEST(KServe, RequestNamesAreCheckedAgainstTheModel) {
  auto parse = [](const std::string& body) {
    auto p = ParseInferRequest(body, std::nullopt);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : InferRequestMsg{};
  };
  auto check = [](const InferRequestMsg& m) {
    return CheckRequestNames(m, "resnet18", "input", "output");
  };
  const std::string tensor = R"({"name": "input", "datatype": "FP32", "shape": [1], "data": [1]})";
  EXPECT_TRUE(check(parse(R"({"inputs": [)" + tensor + "]}")).ok());
  EXPECT_TRUE(check(parse(R"({"model_name": "resnet18", "model_version": "1", "inputs": [)" +
                          tensor + R"(], "outputs": [{"name": "output"}]})"))
                  .ok());
  auto expect = [&](const std::string& body, const std::string& part) {
    const Status st = check(parse(body));
    EXPECT_FALSE(st.ok()) << body;
    EXPECT_NE(st.message().find(part), std::string::npos)
        << "wanted '" << part << "' in: " << st.message();
  };
  expect(R"({"model_name": "vgg16", "inputs": [)" + tensor + "]}",
         "model_name: 'vgg16' is not the model of the path, 'resnet18'");
  expect(R"({"model_version": "2", "inputs": [)" + tensor + "]}",
         "model 'resnet18' has no version '2' (versions: 1)");
  expect(R"({"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1], "data": [1]}]})",
         "inputs[0].name: model 'resnet18' has one input, 'input'; the request sends 'INPUT__0'");
  expect(R"({"inputs": [)" + tensor + "," + tensor + "]}", "takes one input; the request has 2");
  expect(R"({"inputs": [)" + tensor + R"(], "outputs": [{"name": "OUTPUT__0"}]})",
         "outputs[0].name: model 'resnet18' has one output, 'output'; the request asks for "
         "'OUTPUT__0'");
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
