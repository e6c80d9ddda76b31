#include "env/layer_predictor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/config.h"
#include "env/cost_model.h"
#include "env/profiles.h"

namespace autoscale {
namespace {

LayerDescriptor Conv(int cin, int cout, int k, int hw, int groups = 1, std::string act = "") {
  LayerDescriptor d;
  d.op = "conv";
  d.activation = std::move(act);
  d.in_channels = cin;
  d.out_channels = cout;
  d.kernel_h = d.kernel_w = k;
  d.stride_h = d.stride_w = 1;
  d.groups = groups;
  d.in_h = d.in_w = d.out_h = d.out_w = hw;
  d.macs = static_cast<double>(cout) * hw * hw * (cin / groups) * k * k;
  d.params = static_cast<double>(cout) * (cin / groups) * k * k + cout;
  d.input_elements = static_cast<double>(cin) * hw * hw;
  d.output_elements = static_cast<double>(cout) * hw * hw;
  return d;
}

LayerDescriptor Pool(int c, int hw) {
  LayerDescriptor d;
  d.op = "max_pool";
  d.in_channels = d.out_channels = c;
  d.kernel_h = d.kernel_w = 3;
  d.stride_h = d.stride_w = 2;
  d.in_h = d.in_w = hw;
  d.out_h = d.out_w = hw / 2;
  d.input_elements = static_cast<double>(c) * hw * hw;
  d.output_elements = static_cast<double>(c) * (hw / 2) * (hw / 2);
  return d;
}

// Known truths: conv 0.02 ms + 0.05 ms/MMAC + 0.3 ms/Mrelu; pool 0.01 ms + 2 ms/Minput.
double TrueMs(const LayerDescriptor& d) {
  const auto f = LayerFeatures(d);
  if (d.kind() == LayerKind::kPool) return 0.01 + 2 * f[2];
  return 0.02 + 0.05 * f[1] + 0.3 * f[5];
}

std::vector<LayerSample> Samples() {
  std::vector<LayerSample> s;
  for (int c : {16, 32, 64, 128, 256}) {
    for (int hw : {7, 14, 28, 56}) {
      for (const char* act : {"", "relu"}) {
        LayerDescriptor d = Conv(c, 2 * c, 3, hw, 1, act);
        s.push_back({d, TrueMs(d)});
      }
      LayerDescriptor p = Pool(c, hw);
      s.push_back({p, TrueMs(p)});
    }
  }
  return s;
}

TEST(LayerPredictor, Kinds) {
  EXPECT_EQ(Conv(32, 64, 3, 14).kind(), LayerKind::kConv);
  EXPECT_EQ(Conv(32, 64, 1, 14).kind(), LayerKind::kPointwiseConv);
  EXPECT_EQ(Conv(32, 32, 3, 14, 32).kind(), LayerKind::kDepthwiseConv);
  EXPECT_EQ(Conv(32, 64, 3, 14, 4).kind(), LayerKind::kGroupedConv);
  EXPECT_EQ(Pool(8, 8).kind(), LayerKind::kPool);
  LayerDescriptor other;
  other.op = "channel_shuffle";
  EXPECT_EQ(other.kind(), LayerKind::kElementwise);
  // Split from pooling and element-wise (nn-Meter's kernels), each with its parent.
  LayerDescriptor avg = Pool(8, 8), add = other, mul = other;
  avg.op = "avg_pool";
  add.op = "add";
  mul.op = "mul";
  EXPECT_EQ(avg.kind(), LayerKind::kAvgPool);
  EXPECT_EQ(add.kind(), LayerKind::kAdd);
  EXPECT_EQ(mul.kind(), LayerKind::kMul);
  EXPECT_EQ(ParentKind(LayerKind::kAvgPool), LayerKind::kPool);
  EXPECT_EQ(ParentKind(LayerKind::kAdd), LayerKind::kElementwise);
  EXPECT_EQ(ParentKind(LayerKind::kMul), LayerKind::kElementwise);
  EXPECT_EQ(ParentKind(LayerKind::kConv), LayerKind::kConv);
  for (int k = 0; k < kNumLayerKinds; ++k) {
    auto parsed = ParseLayerKind(LayerKindName(static_cast<LayerKind>(k)));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(static_cast<int>(*parsed), k);
  }
  EXPECT_FALSE(ParseLayerKind("convolution").ok());
  EXPECT_NE(Conv(32, 64, 3, 14).Key(), Conv(32, 64, 3, 14, 1, "relu").Key());
}

TEST(LayerPredictor, NonNegativeLeastSquaresRecoversCoefficients) {
  std::vector<std::vector<double>> a;
  std::vector<double> y, w;
  for (int i = 1; i <= 20; ++i) {
    const double x1 = i, x2 = (i * 7) % 11, x3 = 0;
    a.push_back({1, x1, x2, x3});
    y.push_back(0.5 + 2 * x1 + 0.25 * x2);
    w.push_back(1);
  }
  const std::vector<double> x = NonNegativeLeastSquares(a, y, w);
  ASSERT_EQ(x.size(), 4u);
  EXPECT_NEAR(x[0], 0.5, 1e-8);
  EXPECT_NEAR(x[1], 2, 1e-8);
  EXPECT_NEAR(x[2], 0.25, 1e-8);
  EXPECT_EQ(x[3], 0);  // an all-zero column
  // A negative truth is clamped: y = 3 - x1 fitted with [1, x1] gives x1's coefficient 0.
  std::vector<std::vector<double>> b;
  std::vector<double> yb, wb;
  for (int i = 0; i < 3; ++i) {
    b.push_back({1, static_cast<double>(i)});
    yb.push_back(3 - i);
    wb.push_back(1);
  }
  const std::vector<double> xb = NonNegativeLeastSquares(b, yb, wb);
  EXPECT_EQ(xb[1], 0);
  EXPECT_NEAR(xb[0], 2, 1e-9);
}

TEST(LayerPredictor, FitRecoversPerKindCoefficients) {
  LayerFitOptions o;
  o.bandwidth = 0;  // the linear models alone
  auto fit = FitLayerModel(Samples(), {}, 0.1, 0.5, o);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  const auto& conv = fit->coefficients[static_cast<int>(LayerKind::kConv)];
  ASSERT_EQ(conv.size(), static_cast<size_t>(kNumLayerFeatures));
  EXPECT_NEAR(conv[0], 0.02, 1e-6);
  EXPECT_NEAR(conv[1], 0.05, 1e-6);
  EXPECT_NEAR(conv[5], 0.3, 1e-6);
  const auto& pool = fit->coefficients[static_cast<int>(LayerKind::kPool)];
  EXPECT_NEAR(pool[0], 0.01, 1e-6);
  EXPECT_NEAR(pool[2], 2, 1e-6);
  EXPECT_TRUE(fit->coefficients[static_cast<int>(LayerKind::kLinear)].empty());
  // An unseen layer of a seen kind is predicted exactly; a model adds the run overhead.
  const LayerDescriptor big = Conv(512, 512, 3, 14, 1, "relu");
  EXPECT_NEAR(PredictLayerMs(*fit, big), TrueMs(big), 1e-6 * TrueMs(big));
  const std::vector<LayerDescriptor> model = {big, Pool(512, 14)};
  const double expect = TrueMs(big) + TrueMs(Pool(512, 14)) + 0.1 + 0.5 * (1e6 + 2e6) / 1e6;
  EXPECT_NEAR(PredictModelMs(*fit, model, 1e6, 2e6), expect, 1e-6 * expect);
  // A kind never measured falls back to the fit over every kind: positive, finite.
  LayerDescriptor fc;
  fc.op = "linear";
  fc.in_channels = 1024;
  fc.out_channels = 1000;
  fc.macs = fc.params = 1024e3;
  EXPECT_GT(PredictLayerMs(*fit, fc), 0);
  EXPECT_FALSE(FitLayerModel({}, {}, 0, 0).ok());
}

TEST(LayerPredictor, ModelsSetTheScale) {
  // Whole models run 1.5x what their layers sum to (plus the overhead): the scale learns it.
  LayerFitOptions o;
  o.bandwidth = 0;
  std::vector<ModelSample> models;
  for (int c : {24, 48, 96}) {
    ModelSample m;
    m.name = "m" + std::to_string(c);
    m.layers = {Conv(c, c, 3, 28, 1, "relu"), Conv(c, 2 * c, 3, 14), Pool(2 * c, 14)};
    for (const auto& l : m.layers) m.ms += 1.5 * TrueMs(l);
    m.ms += 0.1;
    models.push_back(m);
  }
  auto fit = FitLayerModel(Samples(), models, 0.1, 0, o);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->scale, 1.5, 1e-6);
  const std::vector<LayerDescriptor> held_out = {Conv(64, 64, 3, 28, 1, "relu"), Pool(64, 28)};
  double expect = 0.1;
  for (const auto& l : held_out) expect += 1.5 * TrueMs(l);
  EXPECT_NEAR(PredictModelMs(*fit, held_out, 0, 0), expect, 0.01 * expect);
}

TEST(LayerPredictor, LocalCorrectionFollowsNearbyLayers) {
  // Layers of 64 channels run 2x slower than the linear model says; the correction moves a
  // 64-channel query towards 2x and leaves a distant one alone.
  std::vector<LayerSample> s = Samples();
  for (int hw : {14, 28}) {
    for (int i = 0; i < 4; ++i) {
      LayerDescriptor d = Conv(64, 64, 3, hw);
      d.params += i;  // distinct layers, same coordinates
      s.push_back({d, 2 * TrueMs(d)});
    }
  }
  auto fit = FitLayerModel(s, {}, 0, 0);
  ASSERT_TRUE(fit.ok());
  LayerFit linear = *fit;
  linear.options.bandwidth = 0;
  const LayerDescriptor near = Conv(64, 64, 3, 20);
  EXPECT_GT(PredictLayerMs(*fit, near) / PredictLayerMs(linear, near), 1.3);
  const LayerDescriptor far = Conv(2048, 2048, 1, 7);
  EXPECT_NEAR(PredictLayerMs(*fit, far) / PredictLayerMs(linear, far), 1.0, 0.02);
}

TEST(LayerPredictor, FirstUsesPayTheirOpsColdCodeOnce) {
  // Inside runs, each op's first layer costs 0.05 ms more (conv) or 0.08 ms more (max_pool):
  // the fit learns both from the warm layers of their kinds, takes the cost off those first
  // uses, and a model is charged once per distinct op.
  std::vector<LayerSample> s = Samples();
  std::vector<LayerSample> in_model;
  for (int run = 0; run < 4; ++run) {
    const int c = 16 << run;
    in_model.push_back({Conv(c, 2 * c, 3, 28), TrueMs(Conv(c, 2 * c, 3, 28)) + 0.05, true});
    in_model.push_back({Pool(2 * c, 28), TrueMs(Pool(2 * c, 28)) + 0.08, true});
    in_model.push_back({Conv(2 * c, 2 * c, 3, 14), TrueMs(Conv(2 * c, 2 * c, 3, 14)), false});
    in_model.push_back({Pool(2 * c, 14), TrueMs(Pool(2 * c, 14)), false});
  }
  s.insert(s.end(), in_model.begin(), in_model.end());
  LayerFitOptions o;
  o.bandwidth = 0;
  auto fit = FitLayerModel(s, {}, 0, 0, o);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  EXPECT_NEAR(FirstUseMs(*fit, "conv"), 0.05, 1e-6);
  EXPECT_NEAR(FirstUseMs(*fit, "max_pool"), 0.08, 1e-6);
  EXPECT_GE(fit->first_use_ms, 0.05 - 1e-6);  // the default: over every first use
  EXPECT_LE(fit->first_use_ms, 0.08 + 1e-6);
  const std::vector<LayerDescriptor> model = {Conv(32, 32, 3, 28), Pool(32, 28),
                                              Conv(32, 32, 3, 14), Pool(32, 14)};
  double expect = 0.05 + 0.08;
  for (const auto& l : model) expect += TrueMs(l);
  EXPECT_NEAR(PredictModelMs(*fit, model, 0, 0), expect, 1e-6 * expect);
  EXPECT_NEAR(FirstUsesMs(*fit, model), 0.13, 1e-9);
  // The warm layer model itself is untouched by the first uses.
  EXPECT_NEAR(PredictLayerMs(*fit, Pool(32, 28)), TrueMs(Pool(32, 28)), 1e-6);
  // Turned off, the cost is neither learned nor charged.
  o.first_use = false;
  auto plain = FitLayerModel(s, {}, 0, 0, o);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->first_use_ms, 0);
  EXPECT_TRUE(plain->first_use_by_op.empty());
}

constexpr const char* kDevice = R"(name: dev
targets:
  - name: cpu
    kind: cpu
    precisions: [fp32, int8]
    gmacs_per_s: {conv: {fp32: 1, int8: 2}}
    levels: [{freq_mhz: 2000, power_mw: 1000}, {freq_mhz: 1000, power_mw: 400}]
    memory_bound_fraction: 0
    measured_ms:
      measured_net: {fp32: 7}
)";

std::string DeviceWithLayerModel(const LayerFit& fit) {
  return std::string(kDevice) + "layer_models:\n  cpu:\n    fp32:\n" +
         LayerFitYaml(fit, 6, "measured by autoscale profile on a test");
}

TEST(LayerPredictor, DeviceProfileRoundTrip) {
  auto fit = FitLayerModel(Samples(), {}, 0.1, 0.5);
  ASSERT_TRUE(fit.ok());
  fit->first_use_ms = 0.02;
  fit->first_use_by_op["conv"] = 0.05;
  auto root = ConfigNode::LoadString(DeviceWithLayerModel(*fit), "<dev>");
  ASSERT_TRUE(root.ok()) << root.status().message();
  auto dev = ParseDeviceProfile(*root);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  const auto& lm = dev->targets[0].layer_model;
  ASSERT_NE(lm[static_cast<int>(Precision::kFp32)], nullptr);
  EXPECT_EQ(lm[static_cast<int>(Precision::kInt8)], nullptr);
  const LayerFit& back = *lm[static_cast<int>(Precision::kFp32)];
  EXPECT_EQ(back.samples.size(), fit->samples.size());
  for (const LayerDescriptor& d :
       {Conv(100, 200, 3, 30, 1, "relu"), Conv(100, 100, 3, 30, 100), Pool(77, 33)}) {
    const double a = PredictLayerMs(*fit, d), b = PredictLayerMs(back, d);
    EXPECT_NEAR(a, b, 1e-6 * a) << d.Key();
  }
  EXPECT_DOUBLE_EQ(back.first_use_ms, 0.02);
  EXPECT_DOUBLE_EQ(FirstUseMs(back, "conv"), 0.05);
  EXPECT_DOUBLE_EQ(FirstUseMs(back, "max_pool"), 0.02);
}

// Average and max pooling (and add and multiply) are apart: on the INT8 engine here a 3x3 average
// pool cost 3-4x a max pool per element; one linear model for both gave each the other's rate.
// A profile written before the split, with neither coefficients nor a scale for the new kinds,
// still loads and predicts them as their parent kind.
TEST(LayerPredictor, SplitKindsFitApartAndOldProfilesUseTheirParent) {
  auto avg = [](int c, int hw) {
    LayerDescriptor d = Pool(c, hw);
    d.op = "avg_pool";
    return d;
  };
  auto truth = [](const LayerDescriptor& d) {  // max 2 ms/Minput, average 4x that
    return (d.op == "avg_pool" ? 4.0 : 1.0) * (0.01 + 2 * LayerFeatures(d)[2]);
  };
  std::vector<LayerSample> s;
  for (int c : {16, 64, 256}) {
    for (int hw : {7, 14, 28, 56}) {
      s.push_back({Pool(c, hw), truth(Pool(c, hw))});
      s.push_back({avg(c, hw), truth(avg(c, hw))});
    }
  }
  LayerFitOptions o;
  o.bandwidth = 0;  // the linear models alone
  auto fit = FitLayerModel(s, {}, 0.1, 0.5, o);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  for (const LayerDescriptor& d : {Pool(128, 20), avg(128, 20)}) {
    EXPECT_NEAR(PredictLayerMs(*fit, d), truth(d), 1e-6 * truth(d)) << d.op;
  }
  // An old profile: no avg_pool coefficients or scale. The average pool then costs what the
  // max pool does (its parent's), not the fallback's.
  auto old_fit = FitLayerModel(Samples(), {}, 0.1, 0.5, o);
  ASSERT_TRUE(old_fit.ok());
  old_fit->kind_scale[static_cast<int>(LayerKind::kPool)] = 1.25;
  std::string text = DeviceWithLayerModel(*old_fit);
  const size_t at = text.find("avg_pool: ");
  ASSERT_NE(at, std::string::npos);
  text.erase(at, text.find(", ", at) + 2 - at);
  ASSERT_EQ(text.find("avg_pool"), std::string::npos);
  auto root = ConfigNode::LoadString(text, "<dev>");
  ASSERT_TRUE(root.ok());
  auto dev = ParseDeviceProfile(*root);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  const LayerFit& back = *dev->targets[0].layer_model[static_cast<int>(Precision::kFp32)];
  EXPECT_NEAR(PredictLayerMs(back, avg(128, 20)), TrueMs(Pool(128, 20)), 1e-6);
  EXPECT_DOUBLE_EQ(back.kind_scale[static_cast<int>(LayerKind::kAvgPool)], 1.25);
}

TEST(LayerPredictor, BadLayerModelsAreLocated) {
  auto fit = FitLayerModel(Samples(), {}, 0.1, 0.5);
  ASSERT_TRUE(fit.ok());
  const std::string good = DeviceWithLayerModel(*fit);
  auto error = [](const std::string& text) {
    auto root = ConfigNode::LoadString(text, "dev.yaml");
    if (!root.ok()) return root.status().message();
    auto dev = ParseDeviceProfile(*root);
    return dev.ok() ? std::string("(loaded)") : dev.status().message();
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? t : t.replace(at, from.size(), to);
  };
  // A row with a missing column, named by file and line.
  std::string msg = error(replace("  - [conv, \"-\", 16, 32,", "  - [conv, \"-\", 32,"));
  EXPECT_NE(msg.find("dev.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 21 columns"), std::string::npos) << msg;
  msg = error(replace("layer_models:\n  cpu:", "layer_models:\n  gpu:"));
  EXPECT_NE(msg.find("no target 'gpu'"), std::string::npos) << msg;
  msg = error(replace("  cpu:\n    fp32:", "  cpu:\n    fp16:"));
  EXPECT_NE(msg.find("does not list"), std::string::npos) << msg;
  msg = error(replace("    conv: [", "    convolution: ["));
  EXPECT_NE(msg.find("unknown layer kind 'convolution'"), std::string::npos) << msg;
  msg = error(replace("overhead_ms: ", "overhead_ms: -"));
  EXPECT_NE(msg.find("overhead_ms"), std::string::npos) << msg;
  msg =
      error(replace("first_use_ms: ", "first_use_ms_by_op: {\"conv 3\": 1}\n      first_use_ms: "));
  EXPECT_NE(msg.find("plain name"), std::string::npos) << msg;
  msg = error(replace("first_use_ms: ", "first_use_ms_by_op: {conv: -1}\n      first_use_ms: "));
  EXPECT_NE(msg.find("dev.yaml:"), std::string::npos) << msg;
}

TEST(LayerPredictor, CostModelPredictsUnmeasuredModelsFromLayers) {
  auto fit = FitLayerModel(Samples(), {}, 0.1, 0);
  ASSERT_TRUE(fit.ok());
  auto root = ConfigNode::LoadString(DeviceWithLayerModel(*fit), "<dev>");
  ASSERT_TRUE(root.ok());
  auto dev = ParseDeviceProfile(*root);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  const TargetProfile& t = dev->targets[0];
  ModelProfile m;
  m.name = "user_net";
  m.conv_layers = 2;
  m.macs = 1e9;
  m.accuracy = {0.7, -1, 0.69};
  m.layer_descriptors = {Conv(64, 64, 3, 28, 1, "relu"), Pool(64, 28)};
  const double predicted = PredictModelMs(*fit, m.layer_descriptors, 0, 0);
  EXPECT_NEAR(LocalComputeMs(t, 0, Precision::kFp32, m), predicted, 1e-9);
  // Half the frequency, nothing memory-bound: twice the time.
  EXPECT_NEAR(LocalComputeMs(t, 1, Precision::kFp32, m), 2 * predicted, 1e-9);
  // No layer model at int8: the MAC-rate formula (1e9 MACs at 2 GMAC/s).
  EXPECT_NEAR(LocalComputeMs(t, 0, Precision::kInt8, m), 500, 1e-6);
  // A measured model keeps its measurement.
  m.name = "measured_net";
  EXPECT_NEAR(LocalComputeMs(t, 0, Precision::kFp32, m), 7, 1e-9);
  // Without layer descriptors: the formula.
  m.name = "user_net";
  m.layer_descriptors.clear();
  EXPECT_NEAR(LocalComputeMs(t, 0, Precision::kFp32, m), 1000, 1e-6);
}

}  // namespace
}  // namespace autoscale
