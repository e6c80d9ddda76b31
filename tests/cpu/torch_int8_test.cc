// INT8 (libtorch quantized engine) against the FP32 TorchGraph reference: one small graph per
// operator on every engine this libtorch has, then zoo models on the default engine.
#include "targets/cpu/torch_int8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "graph_builders.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

torch::Tensor Input(const Graph& g, uint64_t seed, int batch) {
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  const std::vector<float> x = MakeInput(g, seed, batch);
  return WrapFloat(x.data(), shape).clone();
}

// |int8 - fp32| as a fraction of the FP32 output's range (max - min): the largest and the mean.
struct Error {
  double max = 0, mean = 0;
};
Error ErrorOfRange(const torch::Tensor& q, const torch::Tensor& f) {
  const double range = std::max((f.max() - f.min()).item<double>(), 1e-12);
  const torch::Tensor d = (q - f).abs();
  return {d.max().item<double>() / range, d.mean().item<double>() / range};
}

WeightedGraph Prepare(Graph g) {
  auto w = PrepareForInference(g);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(w).value();
}

// ---- One small graph per operator, every engine ------------------------------------------------

struct OpCase {
  const char* name;
  std::function<Graph()> build;
};

// Each graph is a few layers deep on a 8x12x12 (or sequence) input.
const OpCase kOpCases[] = {
    {"conv_relu",
     [] {
       Graph g("t_conv_relu", {8, 12, 12});
       g.Relu(g.Conv(0, 16, 3, 1, 1, 1, true));
       return g;
     }},
    {"depthwise_bn_relu6",  // batch-norm folded into the depthwise conv, relu6 fused
     [] {
       Graph g("t_depthwise", {8, 12, 12});
       int x = g.Relu6(g.BatchNorm(g.Conv(0, 8, 3, 2, 1, 8)));
       g.Conv(x, 12, 1, 1, 0, 1, true);
       return g;
     }},
    {"grouped_rectangular",
     [] {
       Graph g("t_grouped", {8, 12, 12});
       int x = g.Relu(g.Conv(0, 16, 1, 3, 2, 2, 0, 1, 2, true));
       g.Conv(x, 8, 3, 1, 3, 1, 1, 0, 4, true);
       return g;
     }},
    {"add_relu",  // residual: add fused with its relu, then a plain add
     [] {
       Graph g("t_add", {8, 12, 12});
       int a = g.Relu(g.Conv(0, 8, 3, 1, 1, 1, true));
       int b = g.Conv(a, 8, 3, 1, 1, 1, true);
       int y = g.Relu(g.AddOp(a, b));
       g.AddOp(y, g.Conv(y, 8, 1, 1, 0, 1, true));
       return g;
     }},
    {"concat",
     [] {
       Graph g("t_concat", {8, 12, 12});
       int a = g.Relu(g.Conv(0, 4, 1, 1, 0, 1, true));
       int b = g.Conv(0, 6, 3, 1, 1, 1, true);  // not rectified: a different range
       int c = g.MaxPool(0, 3, 1, 1);
       g.Concat({a, b, c});
       return g;
     }},
    {"pools",  // max (ceil_mode), avg (padding counted), avg ceil_mode, global avg, flatten
     [] {
       Graph g("t_pools", {8, 13, 13});
       int x = g.Relu(g.Conv(0, 8, 3, 1, 1, 1, true));
       x = g.MaxPool(x, 3, 2, 0, true);
       x = g.AvgPool(x, 3, 1, 1);
       x = g.AvgPool(x, 2, 2, 0, true);
       g.Flatten(g.GlobalAvgPool(x));
       return g;
     }},
    {"linear",
     [] {
       Graph g("t_linear", {4, 6, 6});
       int x = g.Flatten(0);
       x = g.Relu(g.Linear(x, 32));
       g.Linear(x, 10);
       return g;
     }},
    {"relu6_standalone",  // relu6 after a pool: runs as clamp on the quantized tensor
     [] {
       Graph g("t_relu6", {8, 12, 12});
       int x = g.Conv(0, 8, 3, 1, 1, 1, true);
       x = g.Relu6(g.MaxPool(x, 2, 2));
       g.Relu(g.Conv(x, 8, 1, 1, 0, 1, true));
       return g;
     }},
    {"batch_norm_unfolded",  // a batch-norm after a pool cannot fold: quantized::batch_norm2d
     [] {
       Graph g("t_bn", {8, 12, 12});
       int x = g.MaxPool(g.Conv(0, 8, 3, 1, 1, 1, true), 2, 2);
       g.Relu(g.BatchNorm(x));
       return g;
     }},
    {"lstm_peephole_projection",
     [] {
       Graph g("t_lstm", {12, 10});
       g.Linear(g.Lstm(0, 32, 16, true), 6);
       return g;
     }},
    {"lstm_plain",
     [] {
       Graph g("t_lstm_plain", {8, 6});
       g.Relu(g.Linear(g.Lstm(0, 24, 0, false), 5));
       return g;
     }},
    // Ops of imported networks.
    {"dilated_convs",  // dilation 2 and (2, 3), grouped and depthwise
     [] {
       using testing_graphs::DilatedConv;
       Graph g("t_dilated", {8, 14, 14});
       int x = g.Relu(DilatedConv(g, 0, 16, 3, 1, 2, 2, 2, 2, 1, true));
       x = g.Relu6(DilatedConv(g, x, 16, 3, 1, 2, 3, 2, 3, 16, true));
       DilatedConv(g, x, 8, 3, 2, 2, 2, 2, 2, 2, true);
       return g;
     }},
    {"hardswish",
     [] {
       Graph g("t_hardswish", {8, 12, 12});
       int x = g.Unary(OpType::kHardswish, g.Conv(0, 16, 3, 1, 1, 1, true));
       g.Unary(OpType::kHardswish, g.Conv(x, 8, 1, 1, 0, 1, true));
       return g;
     }},
    {"sigmoid",
     [] {
       Graph g("t_sigmoid", {8, 12, 12});
       int x = g.Unary(OpType::kSigmoid, g.Conv(0, 16, 3, 1, 1, 1, true));
       g.Conv(x, 8, 1, 1, 0, 1, true);
       return g;
     }},
    {"hardsigmoid",
     [] {
       Graph g("t_hardsigmoid", {8, 12, 12});
       int x = g.Unary(OpType::kHardsigmoid, g.Conv(0, 16, 3, 1, 1, 1, true));
       g.Conv(x, 8, 1, 1, 0, 1, true);
       return g;
     }},
    {"silu",  // no quantized kernel: dequantize, silu, requantize
     [] {
       Graph g("t_silu", {8, 12, 12});
       int x = g.Unary(OpType::kSilu, g.Conv(0, 16, 3, 1, 1, 1, true));
       g.Unary(OpType::kSilu, g.Conv(x, 8, 1, 1, 0, 1, true));
       return g;
     }},
    {"se_block",  // squeeze-and-excitation: pool 1x1, conv relu, conv hardsigmoid, mul
     [] {
       Graph g("t_se", {16, 10, 10});
       int x = g.Relu(g.Conv(0, 16, 3, 1, 1, 1, true));
       x = testing_graphs::SeBlock(g, x, 16, 8);
       g.Conv(x, 8, 1, 1, 0, 1, true);
       return g;
     }},
    {"mul_relu",  // same-shape product fused with its relu
     [] {
       Graph g("t_mul", {8, 12, 12});
       int a = g.Conv(0, 8, 3, 1, 1, 1, true);
       int b = g.Unary(OpType::kSigmoid, g.Conv(0, 8, 1, 1, 0, 1, true));
       g.Relu(g.Mul(a, b));
       return g;
     }},
    {"adaptive_pools",  // to 3x2 (quantized kernel) and to 1x1 (the global-pool path)
     [] {
       Graph g("t_adaptive", {8, 13, 11});
       int x = g.Relu(g.Conv(0, 8, 3, 1, 1, 1, true));
       int y = g.Mul(g.AdaptiveAvgPool(x, 3, 2), g.AdaptiveAvgPool(x, 1, 1));
       g.Linear(g.Flatten(y), 6);
       return g;
     }},
    {"shufflenet_unit",  // slice, conv-bn-relu, depthwise, cat, channel shuffle
     [] {
       Graph g("t_shuffle", {16, 10, 10});
       int x = g.Relu(g.Conv(0, 16, 3, 1, 1, 1, true));
       x = testing_graphs::ShuffleUnit(g, x, 16);
       testing_graphs::ShuffleUnit(g, x, 16);
       return g;
     }},
};

// Quantization tolerance on these graphs, as a fraction of the FP32 output's range. Rounding
// costs half a step (1/510 of a tensor's range) per quantized tensor and the int8 weights about
// 1/255 of a weight row's range, so after two or three quantized layers the mean error stays
// under 1% (measured: 0.07-0.7%). The worst element can be larger: an input outside what the
// 16 calibration inputs produced is clipped to the calibrated range, as in any static
// quantization (measured: up to 5.8% on the add graph, whose conv outputs are not rectified),
// so the bound on the largest error is 10%. A wrong operator gives errors of the order of the
// range (the QNNPACK channels-last clamp bug worked around in torch_int8.cc: 81%).
constexpr double kMeanTolerance = 0.01;
constexpr double kMaxTolerance = 0.10;

class Int8OpTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(Int8OpTest, CloseToFp32) {
  const auto& [engine, index] = GetParam();
  const OpCase& c = kOpCases[index];
  Graph g = c.build();
  ASSERT_TRUE(g.Finalize().ok()) << c.name;
  const WeightedGraph wg = Prepare(g);
  TorchGraph fp32(wg);
  Int8Options opt;
  opt.engine = engine;
  opt.ranges = Int8Ranges::kMinMax;  // no deliberate clipping: the error is the operators'
  auto q = TorchInt8Graph::Build(wg, opt);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ((*q)->engine(), engine);
  // Batch 3 of inputs the calibration did not see.
  const torch::Tensor x = Input(g, 7, 3);
  const torch::Tensor f = fp32.Forward(x);
  const torch::Tensor y = (*q)->Forward(x);
  ASSERT_EQ(y.scalar_type(), torch::kFloat32);
  ASSERT_EQ(y.sizes(), f.sizes());
  const Error err = ErrorOfRange(y, f);
  EXPECT_LT(err.mean, kMeanTolerance) << c.name << " on " << engine << ": " << (*q)->Summary();
  EXPECT_LT(err.max, kMaxTolerance) << c.name << " on " << engine << ": " << (*q)->Summary();
  std::printf("[ %s / %s ] error of range: mean %.4f, max %.4f; %s\n", c.name, engine.c_str(),
              err.mean, err.max, (*q)->Summary().c_str());
}

std::vector<int> AllOpCases() {
  std::vector<int> v;
  for (int i = 0; i < static_cast<int>(std::size(kOpCases)); ++i) v.push_back(i);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Ops, Int8OpTest,
                         ::testing::Combine(::testing::ValuesIn(SupportedInt8Engines()),
                                            ::testing::ValuesIn(AllOpCases())),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" +
                                  kOpCases[std::get<1>(info.param)].name;
                         });

// ---- Fusion and batching ---------------------------------------------------------------------

TEST(Int8Test, FusesReluIntoProducers) {
  Graph g("t_fuse", {8, 12, 12});
  int a = g.Relu(g.Conv(0, 8, 3, 1, 1, 1, true));
  int b = g.Relu6(g.Conv(a, 8, 3, 1, 1, 1, true));
  int y = g.Relu(g.AddOp(a, b));
  g.Relu(g.Linear(g.Flatten(g.GlobalAvgPool(y)), 4));
  ASSERT_TRUE(g.Finalize().ok());
  auto q = TorchInt8Graph::Build(Prepare(g));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ((*q)->Summary(),
            "2 conv2d_relu, 1 adaptive_avg_pool2d, 1 add_relu, 1 dequantize, 1 flatten, "
            "1 linear_relu, 1 quantize");
}

TEST(Int8Test, BatchRowsMatchSingleInputs) {
  Graph t("t_batch", {3, 20, 20});
  int x = t.Relu(t.Conv(0, 8, 3, 2, 1, 1, true));
  x = t.Concat({t.Relu(t.Conv(x, 8, 1, 1, 0, 1, true)), t.MaxPool(x, 3, 1, 1)});
  t.Linear(t.Flatten(t.GlobalAvgPool(x)), 5);
  ASSERT_TRUE(t.Finalize().ok());
  auto q = TorchInt8Graph::Build(Prepare(t));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  const torch::Tensor batch = Input(t, 3, 4);
  const torch::Tensor y = (*q)->Forward(batch);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{4, 5}));
  for (int i = 0; i < 4; ++i) {
    const torch::Tensor row = (*q)->Forward(batch.slice(0, i, i + 1));
    // Static quantization: each row is computed independently of the others.
    EXPECT_TRUE(torch::allclose(row[0], y[i], 0, 1e-5)) << "row " << i;
  }
}

// libtorch 1.13's oneDNN conv keeps, per packed weight, the primitive of its first call and
// leaves the weights in that primitive's layout, which oneDNN chooses from the input's shape
// and the intra-op thread count: on an AVX512-VNNI CPU this 1x1 conv's 192 outputs are blocked
// by 64 at batch 1 under one thread but by 48 under two, or at batch 1 vs 4 under two. A call
// with another shape or thread count then needs a reorder out of the first layout that oneDNN
// cannot create ("could not create a primitive descriptor for a reorder primitive"): the
// DSP stub, built (and probed) under one thread and run under two, failed on squeezenet's
// conv36. Every batch size under every thread count must run, and compute what batch 1 under
// one thread computes.
TEST(Int8Test, RunsUnderAnyBatchSizeAndThreadCount) {
  Graph t("t_signature", {48, 13, 13});
  const int x = t.Relu(t.Conv(0, 192, 1, 1, 0, 1, true));
  t.Conv(x, 64, 3, 1, 1, 1, true);
  ASSERT_TRUE(t.Finalize().ok());
  const WeightedGraph wg = Prepare(t);
  const torch::Tensor batch = Input(t, 5, 4);
  const int threads = at::get_num_threads();
  for (const std::string& engine : SupportedInt8Engines()) {
    SCOPED_TRACE(engine);
    Int8Options opt;
    opt.engine = engine;
    at::set_num_threads(1);
    auto q = TorchInt8Graph::Build(wg, opt);  // probed at batch 1 under one thread
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    std::vector<torch::Tensor> want;
    for (int i = 0; i < 4; ++i) want.push_back((*q)->Forward(batch.slice(0, i, i + 1))[0]);
    for (int n : {2, 1, 2}) {
      at::set_num_threads(n);
      for (int b : {1, 4, 2, 1}) {
        try {
          const torch::Tensor y = (*q)->Forward(batch.slice(0, 0, b));
          for (int i = 0; i < b; ++i) {
            EXPECT_TRUE(torch::equal(y[i], want[i]))
                << n << " thread(s), batch " << b << ", row " << i;
          }
        } catch (const std::exception& e) {
          ADD_FAILURE() << n << " thread(s), batch " << b << ": " << e.what();
        }
      }
    }
  }
  at::set_num_threads(threads);
}

// ---- Ops of imported networks ----------------------------------------------------------------

TEST(Int8Test, ImportedOpsRunQuantizedKernels) {
  // Every op of the mixed net has a quantized kernel in libtorch 1.13 except silu, which runs
  // dequantize-silu-requantize; nothing else may fall back to float.
  Graph g = testing_graphs::TinyMixedNet();
  ASSERT_TRUE(g.Finalize().ok());
  for (const std::string& engine : SupportedInt8Engines()) {
    Int8Options opt;
    opt.engine = engine;
    auto q = TorchInt8Graph::Build(Prepare(g), opt);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    const std::string summary = (*q)->Summary();
    for (const char* kernel :
         {"hardswish", "silu_via_float", "hardsigmoid", "sigmoid", "1 mul,", "channel_shuffle",
          "channel_slice", "adaptive_avg_pool2d", "cat", "conv2d_relu", "linear"}) {
      EXPECT_NE(summary.find(kernel), std::string::npos)
          << kernel << " on " << engine << ": " << summary;
    }
    // One quantize (the input) and one dequantize (the output): no other float round trips.
    EXPECT_NE(summary.find("1 quantize"), std::string::npos) << summary;
    EXPECT_NE(summary.find("1 dequantize"), std::string::npos) << summary;
    EXPECT_EQ(summary.find("2 silu_via_float"), std::string::npos) << summary;
  }
}

// Top-1 agreement and relative L2 error of INT8 against FP32 over `inputs` seeded inputs.
struct Agreement {
  double top1 = 0;    // fraction of inputs whose argmax agrees
  double rel_l2 = 0;  // mean ||int8 - fp32|| / ||fp32|| of the logits
};

Agreement AgreeOn(const TorchModel& fp32, const TorchModel& int8, const Graph& g, int inputs,
                  double scale = 1.0) {
  Agreement a;
  for (int i = 0; i < inputs; ++i) {
    const torch::Tensor x = testing_graphs::Input(g, i, 1, scale);
    const torch::Tensor f = fp32.Forward(x), y = int8.Forward(x);
    a.top1 += f.argmax(1).item<int64_t>() == y.argmax(1).item<int64_t>();
    a.rel_l2 += ((y - f).norm() / f.norm()).item<double>();
  }
  a.top1 /= inputs;
  a.rel_l2 /= inputs;
  return a;
}

// The mixed net (hardswish stem, dilated depthwise conv with silu, SE block, ShuffleNet unit,
// sigmoid gate, adaptive pooling, 10 classes) with imported weights, batch-norm folded as the
// model store serves it: INT8 against FP32 on 64 inputs the calibration did not see.
TEST(Int8Test, ImportedMixedNetAgreesWithFp32) {
  const WeightedGraph wg =
      FoldBatchNorm(testing_graphs::Imported(testing_graphs::TinyMixedNet(), 31));
  ASSERT_FALSE(wg.graph.seeded_weights());
  TorchGraph fp32(wg);
  for (const std::string& engine : SupportedInt8Engines()) {
    Int8Options opt;
    opt.engine = engine;
    auto q = TorchInt8Graph::Build(wg, opt);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    const Agreement a = AgreeOn(fp32, **q, wg.graph, 64);
    std::printf(
        "[ mixed net (imported weights) / %s ] top-1 agreement %.3f, mean relative L2 "
        "error %.4f over 64 inputs; %s\n",
        engine.c_str(), a.top1, a.rel_l2, (*q)->Summary().c_str());
    EXPECT_GE(a.top1, 0.85) << engine;  // measured 1.000 / 0.009 (onednn, qnnpack)
    EXPECT_LT(a.rel_l2, 0.05) << engine;
  }
}

// ---- Calibration -----------------------------------------------------------------------------

TEST(Int8Test, CalibrationSamplesReplaceSeededInputs) {
  Graph g("t_samples", {4, 8, 8});
  g.Unary(OpType::kHardswish, g.Conv(0, 8, 3, 1, 1, 1, true));
  ASSERT_TRUE(g.Finalize().ok());
  const WeightedGraph wg = Prepare(g);
  TorchGraph fp32(wg);
  auto seeded = CalibrateInt8(fp32, Int8Options{});
  ASSERT_TRUE(seeded.ok());
  EXPECT_NEAR(seeded->min[0], -1.0f, 0.01f);  // MakeInput: uniform in [-1, 1]
  EXPECT_NEAR(seeded->max[0], 1.0f, 0.01f);
  Int8Options opt;
  opt.calibration_inputs = 0;  // unused when samples are given
  for (float v : {-3.0f, 0.5f, 7.0f}) opt.calibration_samples.emplace_back(4 * 8 * 8, v);
  opt.calibration_samples[1][5] = -9.0f;
  auto given = CalibrateInt8(fp32, opt);
  ASSERT_TRUE(given.ok()) << given.status().ToString();
  EXPECT_EQ(given->min[0], -9.0f);
  EXPECT_EQ(given->max[0], 7.0f);
  // The FP32 outputs on exactly these inputs set the other ranges.
  std::vector<int64_t> shape = {3, 4, 8, 8};
  torch::Tensor batch = torch::stack(
      {torch::full({4, 8, 8}, -3.0f), torch::full({4, 8, 8}, 0.5f), torch::full({4, 8, 8}, 7.0f)});
  batch[1][0][0][5] = -9.0f;
  const torch::Tensor y = fp32.Forward(batch);
  EXPECT_FLOAT_EQ(given->max[2], y.max().item<float>());
  EXPECT_FLOAT_EQ(given->min[2], y.min().item<float>());

  auto q = TorchInt8Graph::Build(wg, opt);
  ASSERT_TRUE(q.ok()) << q.status().ToString();

  Int8Options bad = opt;
  bad.calibration_samples[2].pop_back();
  auto r = CalibrateInt8(fp32, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("calibration sample 2 has 255 values"), std::string::npos)
      << r.status().message();
  bad = opt;
  bad.calibration_samples[0][3] = std::nanf("");
  r = CalibrateInt8(fp32, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("NaN"), std::string::npos) << r.status().message();
}

TEST(Int8Test, CalibratingOnTheServedDistributionHelps) {
  // A user's inputs need not look like MakeInput's: calibrated on samples like them (here 4x
  // the seeded scale), INT8 clips nothing; calibrated on seeded inputs it clips.
  const WeightedGraph wg =
      FoldBatchNorm(testing_graphs::Imported(testing_graphs::TinyMixedNet("t_scaled"), 37));
  TorchGraph fp32(wg);
  Int8Options seeded;
  Int8Options samples;
  for (int k = 0; k < 16; ++k) {
    const torch::Tensor x = testing_graphs::Input(wg.graph, 5000 + k, 1, 4.0).contiguous();
    samples.calibration_samples.emplace_back(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  }
  auto q_seeded = TorchInt8Graph::Build(wg, seeded);
  auto q_samples = TorchInt8Graph::Build(wg, samples);
  ASSERT_TRUE(q_seeded.ok() && q_samples.ok());
  const Agreement a = AgreeOn(fp32, **q_seeded, wg.graph, 32, 4.0);
  const Agreement b = AgreeOn(fp32, **q_samples, wg.graph, 32, 4.0);
  std::printf(
      "[ inputs at 4x scale ] calibrated on seeded inputs: top-1 %.3f, rel L2 %.4f; on "
      "samples like them: top-1 %.3f, rel L2 %.4f\n",
      a.top1, a.rel_l2, b.top1, b.rel_l2);
  EXPECT_LT(b.rel_l2, a.rel_l2);
  EXPECT_GE(b.top1, a.top1);
}

TEST(Int8Test, MseRangesClipInsideTheObservedRange) {
  Graph g("t_ranges", {8, 12, 12});
  int x = g.Conv(0, 16, 3, 1, 1, 1, true);
  g.Relu6(g.Relu(x));
  ASSERT_TRUE(g.Finalize().ok());
  TorchGraph fp32(Prepare(g));
  Int8Options opt;
  opt.ranges = Int8Ranges::kMinMax;
  auto minmax = CalibrateInt8(fp32, opt);
  opt.ranges = Int8Ranges::kMse;
  auto mse = CalibrateInt8(fp32, opt);
  ASSERT_TRUE(minmax.ok() && mse.ok());
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_LE(minmax->min[i], mse->min[i]);
    EXPECT_GE(minmax->max[i], mse->max[i]);
    EXPECT_LE(mse->min[i], 0.0f);
    EXPECT_GE(mse->max[i], 0.0f);
  }
  EXPECT_NEAR(minmax->min[0], -1.0f, 0.01f);  // MakeInput is uniform in [-1, 1]
  EXPECT_EQ(mse->min[2], 0.0f);               // relu
  EXPECT_LE(minmax->max[3], 6.0f);            // relu6
  // The conv output has Gaussian-like tails: the squared-error optimum clips them.
  EXPECT_LT(mse->max[1], minmax->max[1]);
  EXPECT_GT(mse->max[1], 0.5f * minmax->max[1]);
}

// ---- Errors ----------------------------------------------------------------------------------

WeightedGraph TinyGraph() {
  Graph g("t_tiny", {4, 8, 8});
  g.Relu(g.Conv(0, 4, 3, 1, 1, 1, true));
  EXPECT_TRUE(g.Finalize().ok());
  return Prepare(g);
}

TEST(Int8Test, UnknownEngineListsSupportedOnes) {
  Int8Options opt;
  opt.engine = "tensorrt";
  auto q = TorchInt8Graph::Build(TinyGraph(), opt);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("unknown INT8 engine 'tensorrt'"), std::string::npos)
      << q.status().message();
  for (const std::string& e : SupportedInt8Engines()) {
    EXPECT_NE(q.status().message().find(e), std::string::npos) << q.status().message();
  }
}

TEST(Int8Test, EngineNotBuiltInIsUnavailable) {
  const auto supported = SupportedInt8Engines();
  for (const char* e : {"fbgemm", "x86", "onednn", "qnnpack"}) {
    if (std::find(supported.begin(), supported.end(), e) != supported.end()) continue;
    Int8Options opt;
    opt.engine = e;
    auto q = TorchInt8Graph::Build(TinyGraph(), opt);
    ASSERT_FALSE(q.ok()) << e;
    EXPECT_EQ(q.status().code(), StatusCode::kUnavailable) << q.status().ToString();
    EXPECT_NE(q.status().message().find("not built into this libtorch"), std::string::npos);
  }
}

TEST(Int8Test, DefaultEngineIsSupportedAndUsed) {
  const std::string def = DefaultInt8Engine();
  ASSERT_FALSE(def.empty());
  const auto supported = SupportedInt8Engines();
  EXPECT_NE(std::find(supported.begin(), supported.end(), def), supported.end());
#if defined(__x86_64__)
  if (std::find(supported.begin(), supported.end(), "fbgemm") == supported.end() &&
      std::find(supported.begin(), supported.end(), "onednn") != supported.end()) {
    EXPECT_EQ(def, "onednn");
  }
#endif
  auto q = TorchInt8Graph::Build(TinyGraph());
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ((*q)->engine(), def);
}

TEST(Int8Test, NoCalibrationInputsIsAnError) {
  Int8Options opt;
  opt.calibration_inputs = 0;
  auto q = TorchInt8Graph::Build(TinyGraph(), opt);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
}

TEST(Int8Test, MismatchedCalibrationIsAnError) {
  Int8Calibration cal;
  cal.min = {0.0f};
  cal.max = {1.0f};
  auto q = TorchInt8Graph::Build(TinyGraph(), cal, Int8Options{});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("do not match"), std::string::npos);
}

// ---- Zoo models: top-1 agreement with FP32 ---------------------------------------------------

Agreement Agree(const std::string& model, int inputs) {
  auto g = BuildZooModel(model);
  EXPECT_TRUE(g.ok());
  const WeightedGraph wg = Prepare(*g);
  TorchGraph fp32(wg);
  auto q = TorchInt8Graph::Build(wg);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  if (!q.ok()) return {};
  Agreement a;
  for (int i = 0; i < inputs; ++i) {
    const torch::Tensor x = Input(*g, i, 1);
    const torch::Tensor f = fp32.Forward(x), y = (*q)->Forward(x);
    a.top1 += f.argmax(1).item<int64_t>() == y.argmax(1).item<int64_t>();
    a.rel_l2 += ((y - f).norm() / f.norm()).item<double>();
  }
  a.top1 /= inputs;
  a.rel_l2 /= inputs;
  std::printf("[ %s / %s ] top-1 agreement %.2f, mean relative L2 error %.4f over %d inputs\n",
              model.c_str(), (*q)->engine().c_str(), a.top1, a.rel_l2, inputs);
  return a;
}

// Thresholds: the zoo's weights are seeded, not trained, so the top two logits are close: the
// mean FP32 gap between them is 0.16 (mobilenet_v2), 0.31 (resnet18) and 0.51 (kws_lstm)
// standard deviations of the logits (int8_bench's top1_margin), and an error of a few percent
// of the logits' norm swaps some of them. The inputs are seeded, so the figures below are
// deterministic on one machine; the bounds leave room for other CPUs' kernels (oneDNN picks
// its kernels by ISA) and sit far above chance (1/1000, 1/12). The relative L2 bound catches a
// broken layer long before agreement moves.
TEST(Int8ZooTest, MobileNetV2AgreesWithFp32) {
  const Agreement a = Agree("mobilenet_v2", 16);  // measured 0.94, 0.059
  EXPECT_GE(a.top1, 0.75);
  EXPECT_LT(a.rel_l2, 0.1);
}

TEST(Int8ZooTest, ResNet18AgreesWithFp32) {
  const Agreement a = Agree("resnet18", 16);  // measured 1.00, 0.014
  EXPECT_GE(a.top1, 0.85);
  EXPECT_LT(a.rel_l2, 0.05);
}

TEST(Int8ZooTest, KwsLstmAgreesWithFp32) {
  const Agreement a = Agree("kws_lstm", 32);  // measured 1.00, 0.007
  EXPECT_GE(a.top1, 0.9);
  EXPECT_LT(a.rel_l2, 0.03);
}

// ---- Max pooling off libtorch's slow path ------------------------------------------------------

// QuantizedMaxPool2d pads a channel count that is not a multiple of 32 (ShuffleNet's 24, a
// ResNet-like 58) to one: the result must be what libtorch's own kernel computes, bit for bit,
// in every pooling configuration the importer produces, and keep the channels-last layout.
TEST(Int8MaxPool, PaddingTheChannelsChangesNoValue) {
  struct Config {
    int k, s, p;
    bool ceil;
  };
  const Config configs[] = {{3, 2, 1, false}, {3, 2, 0, true}, {3, 1, 1, false}, {2, 2, 0, false}};
  for (const int64_t c : {3, 24, 32, 58, 116}) {
    for (const int64_t batch : {1, 2}) {
      torch::manual_seed(static_cast<uint64_t>(c * 10 + batch));
      const torch::Tensor f =
          torch::randn({batch, c, 15, 13}).contiguous(at::MemoryFormat::ChannelsLast);
      const torch::Tensor x = at::quantize_per_tensor(f, 0.03, 7, torch::kQUInt8);
      for (const Config& k : configs) {
        const std::string what = "c=" + std::to_string(c) + " batch=" + std::to_string(batch) +
                                 " k=" + std::to_string(k.k) + " s=" + std::to_string(k.s) +
                                 " p=" + std::to_string(k.p) + (k.ceil ? " ceil" : "");
        const torch::Tensor plain =
            QuantizedMaxPool2d(x, k.k, k.k, k.s, k.s, k.p, k.p, k.ceil, /*pad_channels=*/false);
        const torch::Tensor padded =
            QuantizedMaxPool2d(x, k.k, k.k, k.s, k.s, k.p, k.p, k.ceil, /*pad_channels=*/true);
        ASSERT_EQ(plain.sizes(), padded.sizes()) << what;
        EXPECT_EQ(padded.q_scale(), x.q_scale()) << what;
        EXPECT_EQ(padded.q_zero_point(), x.q_zero_point()) << what;
        EXPECT_TRUE(padded.is_contiguous(at::MemoryFormat::ChannelsLast)) << what;
        EXPECT_TRUE(torch::equal(plain.int_repr(), padded.int_repr())) << what;
      }
    }
  }
}

// ---- Concatenation off libtorch's slow path
// ------------------------------------------------------

// QuantizedCatChannelsLast against libtorch's quantized::cat: inputs with the output's parameters
// copied exactly, the others requantized as libtorch's scalar loop does (its vector loop may
// round a tie the other way: within one step), the layout channels-last; and null for inputs it
// does not take.
TEST(Int8Cat, RequantizesAsLibtorchDoes) {
  const double scale = 0.031;
  const int64_t zp = 9;
  for (const int64_t c : {3, 24, 58, 64, 116}) {
    for (const int64_t batch : {1, 2}) {
      torch::manual_seed(static_cast<uint64_t>(c * 10 + batch));
      auto part = [&](int64_t channels, double s, int64_t z) {
        return at::quantize_per_tensor(
            torch::randn({batch, channels, 9, 7}).contiguous(at::MemoryFormat::ChannelsLast), s, z,
            torch::kQUInt8);
      };
      const std::vector<torch::Tensor> parts = {part(c, scale, zp), part(c, 0.02, 3),
                                                part(c / 2 + 1, 0.05, 200)};
      const std::string what = "c=" + std::to_string(c) + " batch=" + std::to_string(batch);
      const torch::Tensor mine = QuantizedCatChannelsLast(parts, scale, zp, /*force=*/true);
      ASSERT_TRUE(mine.defined()) << what;
      // Unforced, it takes only what libtorch would run partly in its scalar loop.
      EXPECT_EQ(QuantizedCatChannelsLast(parts, scale, zp).defined(),
                c % 32 != 0 || (c / 2 + 1) % 32 != 0)
          << what;
      const torch::Tensor theirs = LibtorchQuantizedCat(parts, scale, zp);
      ASSERT_EQ(mine.sizes(), theirs.sizes()) << what;
      EXPECT_EQ(mine.q_scale(), scale);
      EXPECT_EQ(mine.q_zero_point(), zp);
      EXPECT_TRUE(mine.is_contiguous(at::MemoryFormat::ChannelsLast)) << what;
      const torch::Tensor diff =
          (mine.int_repr().to(torch::kInt32) - theirs.int_repr().to(torch::kInt32)).abs();
      EXPECT_LE(diff.max().item<int>(), 1) << what;
      // The first input has the output's parameters: copied bit for bit.
      EXPECT_TRUE(torch::equal(mine.narrow(1, 0, c).int_repr(), parts[0].int_repr())) << what;
      // Against the float reference (clamped to the output's range), the nearest step.
      const torch::Tensor ref =
          torch::cat({parts[0].dequantize(), parts[1].dequantize(), parts[2].dequantize()}, 1)
              .clamp(-zp * scale, (255 - zp) * scale);
      EXPECT_LE((mine.dequantize() - ref).abs().max().item<float>(), scale / 2 + 1e-6) << what;
    }
  }
  // Not channels-last, or of other sizes: left to libtorch.
  const torch::Tensor nchw =
      at::quantize_per_tensor(torch::randn({1, 8, 5, 5}), 0.1, 0, torch::kQUInt8);
  EXPECT_FALSE(QuantizedCatChannelsLast({nchw, nchw}, 0.1, 0, true).defined());
  const torch::Tensor a =
      at::quantize_per_tensor(torch::randn({1, 8, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast),
                              0.1, 0, torch::kQUInt8);
  const torch::Tensor b =
      at::quantize_per_tensor(torch::randn({1, 8, 6, 5}).contiguous(at::MemoryFormat::ChannelsLast),
                              0.1, 0, torch::kQUInt8);
  EXPECT_FALSE(QuantizedCatChannelsLast({a, b}, 0.1, 0, true).defined());
  EXPECT_FALSE(QuantizedCatChannelsLast({}, 0.1, 0, true).defined());
  // Every input to requantize a multiple of 32 channels: libtorch's vector loop, left to it.
  const torch::Tensor c32 = at::quantize_per_tensor(
      torch::randn({1, 32, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast), 0.2, 1,
      torch::kQUInt8);
  const torch::Tensor c3 =
      at::quantize_per_tensor(torch::randn({1, 3, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast),
                              0.1, 0, torch::kQUInt8);
  EXPECT_FALSE(QuantizedCatChannelsLast({c32, c3}, 0.1, 0).defined());
  EXPECT_TRUE(QuantizedCatChannelsLast({c32, c3}, 0.1, 0, true).defined());
}

}  // namespace
}  // namespace autoscale
