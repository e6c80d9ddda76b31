// The zoo's graphs: features against published figures and against configs/models (which the
// simulator reads), seeded weights, batch-norm folding, and graph validation errors.
#include "zoo/zoo.h"

#include <gtest/gtest.h>

#include <cmath>

#include "env/profiles.h"
#include "test_util.h"
#include "zoo/features.h"

namespace autoscale {
namespace {

ModelFeatures FeaturesOf(const std::string& name) {
  auto g = BuildZooModel(name);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return ComputeFeatures(*g);
}

// Published figures (rounded as published): torchvision docs num_params and GFLOPS, the
// MobileNet v2 paper's 300M multiply-adds and 3.4M parameters (torchvision: 3,504,872).
TEST(ZooFeatures, MatchPublishedFigures) {
  const ModelFeatures r50 = FeaturesOf("resnet50");
  EXPECT_NEAR(r50.macs / 1e9, 4.1, 0.05);
  EXPECT_NEAR(r50.params / 1e6, 25.6, 0.05);
  EXPECT_EQ(r50.params, 25557032);  // torchvision docs, exactly
  const ModelFeatures mv2 = FeaturesOf("mobilenet_v2");
  EXPECT_NEAR(mv2.macs / 1e6, 300, 5);
  EXPECT_NEAR(mv2.params / 1e6, 3.5, 0.05);
  const ModelFeatures vgg = FeaturesOf("vgg16");
  EXPECT_NEAR(vgg.macs / 1e9, 15.5, 0.05);
  EXPECT_EQ(vgg.params, 138357544);
  EXPECT_EQ(FeaturesOf("resnet18").params, 11689512);
  EXPECT_EQ(FeaturesOf("squeezenet_1_1").params, 1235496);
  EXPECT_EQ(FeaturesOf("inception_v1").params, 6624904);
}

// configs/models/NAME.yaml and the zoo describe the same networks: layer counts agree exactly,
// MACs and parameters to the five significant digits the YAML files write (rounding error of
// at most 5e-5 relative).
TEST(ZooFeatures, AgreeWithConfigsModels) {
  ProfileCatalog catalog(testing::ConfigRoot());
  const std::vector<std::string> shipped = catalog.Available("models");
  EXPECT_EQ(shipped, ZooModelNames()) << "every configs/models profile has a zoo graph";
  for (const std::string& name : ZooModelNames()) {
    SCOPED_TRACE(name);
    auto profile = catalog.Model(name);
    ASSERT_TRUE(profile.ok()) << profile.status().ToString();
    const ModelProfile& p = **profile;
    const ModelFeatures f = FeaturesOf(name);
    EXPECT_EQ(f.conv_layers, p.conv_layers);
    EXPECT_EQ(f.fc_layers, p.fc_layers);
    EXPECT_EQ(f.recurrent_layers, p.recurrent_layers);
    EXPECT_NEAR(f.macs, p.macs, 5e-5 * p.macs + 1);
    EXPECT_NEAR(f.fc_macs, p.fc_macs, 5e-5 * p.fc_macs + 1);
    EXPECT_NEAR(f.recurrent_macs, p.recurrent_macs, 5e-5 * p.recurrent_macs + 1);
    EXPECT_NEAR(f.params, p.params, 0.0005 * p.params);
    EXPECT_EQ(f.input_elements, p.input_bytes) << "uint8 input on the radio";
    EXPECT_EQ(f.output_elements * 4, p.output_bytes) << "float32 output";
  }
}

TEST(ZooFeatures, LayerDescriptors) {
  const ModelFeatures f = FeaturesOf("mobilenet_v2");
  ASSERT_FALSE(f.layers.empty());
  const LayerInfo& stem = f.layers[0];
  EXPECT_EQ(stem.type, "conv");
  EXPECT_EQ(stem.in_channels, 3);
  EXPECT_EQ(stem.out_channels, 32);
  EXPECT_EQ(stem.kernel_h, 3);
  EXPECT_EQ(stem.stride_h, 2);
  EXPECT_EQ(stem.in_h, 224);
  EXPECT_EQ(stem.out_h, 112);
  EXPECT_EQ(stem.macs, 32LL * 112 * 112 * 27);
  int depthwise = 0;
  for (const LayerInfo& l : f.layers) {
    if (l.type == "conv" && l.groups > 1 && l.groups == l.in_channels) ++depthwise;
  }
  EXPECT_EQ(depthwise, 17);
  EXPECT_EQ(f.layers.back().type, "linear");
  EXPECT_EQ(f.layers.back().in_channels, 1280);
  EXPECT_EQ(f.peak_activation_elements, 96LL * 112 * 112);  // the first expansion
  EXPECT_GT(f.activation_elements, f.peak_activation_elements);

  const ModelFeatures kws = FeaturesOf("kws_lstm");
  EXPECT_EQ(kws.layers[0].type, "lstm");
  EXPECT_EQ(kws.layers[0].in_channels, 10);
  EXPECT_EQ(kws.layers[0].out_channels, 188);
}

TEST(ZooModels, UnknownNameListsTheZoo) {
  auto g = BuildZooModel("resnet51");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("did you mean 'resnet50'"), std::string::npos);
  EXPECT_NE(g.status().message().find("mobilenet_v2"), std::string::npos);
}

TEST(ZooWeights, DeterministicAndSeeded) {
  auto g = BuildZooModel("squeezenet_1_1");
  ASSERT_TRUE(g.ok());
  const std::vector<NodeWeights> a = MakeWeights(*g), b = MakeWeights(*g);
  ASSERT_EQ(a.size(), b.size());
  int64_t values = 0;  // SqueezeNet has no batch-norm: weights + biases = parameters
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].weight, b[i].weight);
    EXPECT_EQ(a[i].bias, b[i].bias);
    values += static_cast<int64_t>(a[i].weight.size() + a[i].bias.size());
  }
  EXPECT_EQ(values, ComputeFeatures(*g).params);
  Graph other(g->name(), g->input_shape(), /*seed=*/2);
  for (size_t i = 1; i < g->nodes().size(); ++i) other.Add(g->node(i));
  ASSERT_TRUE(other.Finalize().ok());
  EXPECT_NE(MakeWeights(other)[1].weight, a[1].weight) << "another seed, other weights";
  EXPECT_EQ(MakeInput(*g, 7), MakeInput(*g, 7));
  EXPECT_NE(MakeInput(*g, 7), MakeInput(*g, 8));
}

// Folding keeps the function: compare a conv+BN pair against its folded conv by hand on one
// output element.
TEST(ZooWeights, FoldBatchNormComputesTheSameFunction) {
  Graph g("tiny", {2, 3, 3});
  int x = g.Conv(0, 2, 3, 1, 1);
  x = g.BatchNorm(x, 1e-3f);
  g.Relu(x);
  ASSERT_TRUE(g.Finalize().ok());
  WeightedGraph w{g, MakeWeights(g)};
  WeightedGraph f = FoldBatchNorm(w);
  ASSERT_EQ(f.graph.nodes().size(), 3u) << "input, conv, relu";
  EXPECT_TRUE(f.graph.node(1).bias);
  const std::vector<float> in = MakeInput(g, 1);
  // Output channel 1 at the centre pixel: every 3x3 tap is inside the input.
  const auto& cw = w.weights[1].weight;
  const auto& bn = w.weights[2];
  double conv = 0, folded = 0;
  for (int c = 0; c < 2; ++c) {
    for (int k = 0; k < 9; ++k) {
      conv += cw[(1 * 2 + c) * 9 + k] * in[c * 9 + k];
      folded += f.weights[1].weight[(1 * 2 + c) * 9 + k] * in[c * 9 + k];
    }
  }
  const double expect =
      (conv - bn.mean[1]) / std::sqrt(bn.var[1] + 1e-3) * bn.weight[1] + bn.bias[1];
  EXPECT_NEAR(folded + f.weights[1].bias[1], expect, 1e-5);
}

TEST(GraphValidation, ErrorsNameTheNode) {
  Graph g("bad", {3, 8, 8});
  g.Conv(0, 4, 3, 1, 1, /*groups=*/2);  // 3 channels do not split into 2 groups
  Status s = g.Finalize();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("groups"), std::string::npos) << s.message();

  Graph h("bad2", {3, 8, 8});
  int a = h.Conv(0, 4, 1);
  int b = h.Conv(0, 4, 3, 2, 1);
  h.AddOp(a, b);
  s = h.Finalize();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("4x8x8 and 4x4x4"), std::string::npos) << s.message();

  Graph k("bad3", {3, 2, 2});
  k.Conv(0, 4, 5);
  EXPECT_FALSE(k.Finalize().ok());
}

TEST(GraphShapes, CeilModePoolingFollowsPyTorch) {
  Graph g("pool", {1, 112, 112});
  int x = g.MaxPool(0, 3, 2, 0, true);  // torchvision googlenet maxpool1: 112 -> 56
  int y = g.MaxPool(x, 2, 2, 0, true);  // 56 -> 28
  g.AvgPool(y, 3, 1, 1);                // same size
  ASSERT_TRUE(g.Finalize().ok());
  EXPECT_EQ(g.node(1).out_shape, (std::vector<int64_t>{1, 56, 56}));
  EXPECT_EQ(g.node(2).out_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(g.node(3).out_shape, (std::vector<int64_t>{1, 28, 28}));
  Graph h("pool2", {1, 14, 14});
  h.MaxPool(0, 3, 2, 0, true);  // 14 -> 7 (the last window would start past the input)
  ASSERT_TRUE(h.Finalize().ok());
  EXPECT_EQ(h.node(1).out_shape[1], 7);
}

}  // namespace
}  // namespace autoscale
