// Wire tensors to model inputs (shape checks, UINT8 image normalisation) and the response's
// numeric parameters.
#include <gtest/gtest.h>

#include <cmath>

#include "targets/kserve/kserve.h"

namespace autoscale {
namespace {

WireTensor Fp32(std::vector<int64_t> shape) {
  WireTensor t;
  t.name = "input";
  t.shape = std::move(shape);
  for (int64_t i = 0; i < t.elements(); ++i) t.fp32.push_back(0.5f * i);
  return t;
}

WireTensor Uint8(std::vector<int64_t> shape) {
  WireTensor t;
  t.name = "image";
  t.type = TensorType::kUint8;
  t.shape = std::move(shape);
  for (int64_t i = 0; i < t.elements(); ++i) t.u8.push_back(static_cast<uint8_t>(i * 37 % 256));
  return t;
}

TEST(ToHostTensorTest, BatchedFp32IsCopied) {
  WireTensor t = Fp32({2, 3, 4});
  auto h = ToHostTensor(t, {3, 4});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(h->data, t.fp32);
}

TEST(ToHostTensorTest, Fp32IsMovedFromAnRvalueAndUint8Kept) {
  WireTensor t = Fp32({2, 3, 4});
  const std::vector<float> want = t.fp32;
  const float* data = t.fp32.data();
  auto h = ToHostTensor(std::move(t), {3, 4});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->data, want);
  EXPECT_EQ(h->data.data(), data);  // taken over, not copied
  EXPECT_TRUE(t.fp32.empty());      // NOLINT(bugprone-use-after-move): documented state

  WireTensor u = Uint8({1, 3, 2, 2});
  const std::vector<uint8_t> bytes = u.u8;
  auto g = ToHostTensor(std::move(u), {3, 2, 2});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(u.u8, bytes);  // NOLINT(bugprone-use-after-move): UINT8 data stays, as documented
  EXPECT_EQ(g->data, ToHostTensor(u, {3, 2, 2})->data);
}

TEST(ToHostTensorTest, UnbatchedGetsBatchOne) {
  WireTensor t = Fp32({3, 4});
  auto h = ToHostTensor(t, {3, 4});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->shape, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(h->data, t.fp32);
}

TEST(ToHostTensorTest, WrongShapeNamesBothShapes) {
  auto h = ToHostTensor(Fp32({1, 3, 5}), {3, 4});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.status().message(),
            "input 'input': shape [1, 3, 5] does not fit the model's input [N, 3, 4] (or [3, 4] "
            "for one sample)");
  EXPECT_FALSE(ToHostTensor(Fp32({1, 1, 3, 4}), {3, 4}).ok());  // rank too high
  EXPECT_FALSE(ToHostTensor(Fp32({4}), {3, 4}).ok());           // rank too low
}

TEST(ToHostTensorTest, EmptyBatchIsRejected) {
  auto h = ToHostTensor(Fp32({0, 3, 4}), {3, 4});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("batch dimension is 0"), std::string::npos)
      << h.status().message();
}

TEST(ToHostTensorTest, DataSizeMismatchIsRejected) {
  WireTensor t = Fp32({1, 3, 4});
  t.fp32.pop_back();
  auto h = ToHostTensor(t, {3, 4});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("11 values, but the shape holds 12"), std::string::npos)
      << h.status().message();
}

TEST(ToHostTensorTest, Uint8ImageIsNormalisedPerChannel) {
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float stdev[3] = {0.229f, 0.224f, 0.225f};
  WireTensor t = Uint8({2, 3, 2, 2});
  auto h = ToHostTensor(t, {3, 2, 2});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->shape, (std::vector<int64_t>{2, 3, 2, 2}));
  ASSERT_EQ(h->data.size(), 24u);
  for (size_t i = 0; i < 24; ++i) {
    const size_t c = (i / 4) % 3;
    const float want = (t.u8[i] / 255.0f - mean[c]) / stdev[c];
    EXPECT_EQ(h->data[i], want) << "element " << i;  // the same floats, table or not
  }
  // Spot values: 0 in channel 0 and 255 in channel 2.
  WireTensor one = Uint8({3, 1, 1});
  one.u8 = {0, 128, 255};
  auto o = ToHostTensor(one, {3, 1, 1});
  ASSERT_TRUE(o.ok());
  EXPECT_NEAR(o->data[0], -0.485f / 0.229f, 1e-6);
  EXPECT_NEAR(o->data[1], (128 / 255.0f - 0.456f) / 0.224f, 1e-6);
  EXPECT_NEAR(o->data[2], (1.0f - 0.406f) / 0.225f, 1e-6);
}

TEST(ToHostTensorTest, Uint8OtherShapesAreScaled) {
  WireTensor t = Uint8({1, 4, 2, 2});  // four channels: not an RGB image
  auto h = ToHostTensor(t, {4, 2, 2});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  for (size_t i = 0; i < t.u8.size(); ++i) EXPECT_FLOAT_EQ(h->data[i], t.u8[i] / 255.0f);
  WireTensor seq = Uint8({3, 5});  // [T, F] features without a batch
  auto s = ToHostTensor(seq, {3, 5});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->shape, (std::vector<int64_t>{1, 3, 5}));
  EXPECT_FLOAT_EQ(s->data[14], seq.u8[14] / 255.0f);
}

TEST(ResponseParametersTest, RoundTripJsonAndBinary) {
  InferResponseMsg r;
  r.model_name = "resnet18";
  r.id = "7";
  r.parameters = {{"compute_ms", 12.5}, {"queue_ms", 0.25}, {"batch_size", 4}};
  WireTensor out = Fp32({1, 3});
  for (bool binary : {false, true}) {
    out.binary = binary;
    r.outputs = {out};
    std::optional<size_t> hl;
    const std::string body = EncodeInferResponse(r, &hl);
    EXPECT_EQ(hl.has_value(), binary);
    auto p = ParseInferResponse(body, hl);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->parameters, r.parameters);
    EXPECT_EQ(p->outputs[0].fp32, out.fp32);
  }
}

TEST(ResponseParametersTest, NoParametersNoKeyAndNonNumericSkipped) {
  InferResponseMsg r;
  r.model_name = "m";
  r.outputs = {Fp32({1})};
  std::optional<size_t> hl;
  EXPECT_EQ(EncodeInferResponse(r, &hl).find("parameters"), std::string::npos);
  const std::string body =
      R"({"model_name":"m","parameters":{"queue_ms":1.5,"triton_final_response":true,"x":"y"},)"
      R"("outputs":[{"name":"o","datatype":"FP32","shape":[1],"data":[2]}]})";
  auto p = ParseInferResponse(body, std::nullopt);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->parameters, (std::map<std::string, double>{{"queue_ms", 1.5}}));
  auto bad = ParseInferResponse(R"({"parameters":[1],"outputs":[]})", std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("parameters"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
