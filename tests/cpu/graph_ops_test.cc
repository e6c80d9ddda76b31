// TorchGraph (FP32) on the ops imported networks bring (hardswish, hardsigmoid, sigmoid, silu,
// mul, adaptive average pooling, channel shuffle and slice, dilated convolution) against
// references written here directly with torch's functional API and the formulas PyTorch
// documents; channels-last and concurrent runs against NCHW.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "graph_builders.h"
#include "targets/cpu/torch_model.h"

namespace autoscale {
namespace {

namespace F = torch::nn::functional;
using testing_graphs::DilatedConv;
using testing_graphs::Imported;
using testing_graphs::Input;
using testing_graphs::T;

// max |got - want| / max(|want|), the output's scale.
double RelDiff(const torch::Tensor& got, const torch::Tensor& want) {
  const double scale = std::max(want.abs().max().item<double>(), 1e-30);
  return (got - want).abs().max().item<double>() / scale;
}

constexpr double kFp32Tolerance = 1e-5;

// Runs `wg` NCHW, channels-last and from four threads at once, checks the last two against the
// first, and returns the NCHW output.
torch::Tensor RunAllWays(const WeightedGraph& wg, const torch::Tensor& x) {
  TorchGraph nchw(wg);
  const torch::Tensor y = nchw.Forward(x);
  TorchGraph cl(wg);
  cl.UseChannelsLast();
  const torch::Tensor ycl = cl.Forward(x).contiguous();
  EXPECT_EQ(ycl.sizes(), y.sizes());
  EXPECT_LE(RelDiff(ycl, y), kFp32Tolerance) << wg.graph.name() << ": channels-last vs NCHW";
  EXPECT_TRUE(nchw.concurrent_forward());
  std::vector<torch::Tensor> outs(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { outs[t] = nchw.Forward(x); });
  for (auto& t : threads) t.join();
  for (const torch::Tensor& o : outs) {
    EXPECT_LE(RelDiff(o, y), kFp32Tolerance) << wg.graph.name() << ": concurrent Forward";
  }
  return y;
}

void ExpectClose(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double d = RelDiff(got, want);
  EXPECT_LE(d, kFp32Tolerance) << what;
  std::printf("[ %s ] max |diff| / output scale = %.3g\n", what.c_str(), d);
}

TEST(TorchGraphOps, ImportedWeightsAreNotReplaced) {
  Graph g("t_imported", {3, 8, 8});
  g.Relu(g.Conv(0, 4, 3, 1, 1, 1, true));
  const WeightedGraph wg = Imported(g, 1);
  EXPECT_FALSE(wg.graph.seeded_weights());
  EXPECT_FALSE(PrepareForInference(wg.graph).ok());  // the IR refuses to seed it
  const torch::Tensor x = Input(wg.graph, 3, 2);
  const torch::Tensor want =
      F::relu(F::conv2d(x, T(wg.weights[1].weight, {4, 3, 3, 3}),
                        F::Conv2dFuncOptions().bias(T(wg.weights[1].bias, {4})).padding(1)));
  ExpectClose(RunAllWays(wg, x), want, "conv_relu with imported weights");
}

TEST(TorchGraphOps, WeightsThatDoNotFitAreRefused) {
  Graph g("t_badweights", {3, 8, 8});
  g.Conv(0, 4, 3, 1, 1, 1, true);
  WeightedGraph wg = Imported(g, 1);
  wg.weights[1].weight.pop_back();
  EXPECT_THROW(TorchGraph bad(wg), std::invalid_argument);
}

TEST(TorchGraphOps, DilatedGroupedDepthwiseConvMatchTorch) {
  Graph g("t_dilated", {6, 15, 13});
  const int a = DilatedConv(g, 0, 12, 3, 1, 2, 2, 2, 2, 1, true);    // plain, dilation 2
  const int b = DilatedConv(g, a, 12, 3, 2, 2, 3, 2, 3, 3, true);    // grouped, (2, 3), stride 2
  const int c = DilatedConv(g, b, 12, 3, 1, 4, 4, 4, 4, 12, false);  // depthwise, dilation 4
  const int d = DilatedConv(g, c, 6, 3, 1, 0, 0, 1, 1, 1, true);     // undilated, unpadded
  const WeightedGraph wg = Imported(g, 2);
  ASSERT_EQ(d, wg.graph.output());
  const torch::Tensor x = Input(wg.graph, 5, 2);
  auto conv = [&](const torch::Tensor& in, int node, std::vector<int64_t> wshape) {
    const GraphNode& n = wg.graph.node(node);
    return F::conv2d(in, T(wg.weights[node].weight, wshape),
                     F::Conv2dFuncOptions()
                         .bias(T(wg.weights[node].bias, {n.out_channels}))
                         .stride({n.stride_h, n.stride_w})
                         .padding({n.pad_h, n.pad_w})
                         .dilation({n.dilation_h, n.dilation_w})
                         .groups(n.groups));
  };
  torch::Tensor want = conv(x, a, {12, 6, 3, 3});
  want = conv(want, b, {12, 4, 3, 3});
  want = conv(want, c, {12, 1, 3, 3});
  want = conv(want, d, {6, 12, 3, 3});
  // Shapes as torch computes them (the IR's shape inference must agree).
  EXPECT_EQ(std::vector<int64_t>(want.sizes().begin() + 1, want.sizes().end()),
            wg.graph.node(d).out_shape);
  ExpectClose(RunAllWays(wg, x), want, "dilated/grouped/depthwise conv");
}

TEST(TorchGraphOps, ActivationsMatchTorchsFormulas) {
  struct Case {
    OpType op;
    std::function<torch::Tensor(const torch::Tensor&)> formula;   // PyTorch's documented one
    std::function<torch::Tensor(const torch::Tensor&)> torch_fn;  // what nn's module calls
  };
  auto relu6 = [](const torch::Tensor& v) {
    return F::hardtanh(v, F::HardtanhFuncOptions().min_val(0).max_val(6));
  };
  const Case cases[] = {
      {OpType::kHardswish, [&](const torch::Tensor& v) { return v * relu6(v + 3) / 6; },
       [](const torch::Tensor& v) { return torch::hardswish(v); }},
      {OpType::kHardsigmoid, [&](const torch::Tensor& v) { return relu6(v + 3) / 6; },
       [](const torch::Tensor& v) { return torch::hardsigmoid(v); }},
      {OpType::kSigmoid, [](const torch::Tensor& v) { return 1 / (1 + torch::exp(-v)); },
       [](const torch::Tensor& v) { return torch::sigmoid(v); }},
      {OpType::kSilu, [](const torch::Tensor& v) { return v / (1 + torch::exp(-v)); },
       [](const torch::Tensor& v) { return F::silu(v); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(OpTypeName(c.op));
    // After a conv (a computed, channels-last-capable input) and on the raw input scaled to
    // [-5, 5], which crosses hardswish's and hardsigmoid's knees at -3 and 3.
    Graph g(std::string("t_") + OpTypeName(c.op), {4, 9, 9});
    const int conv = g.Conv(0, 4, 3, 1, 1, 1, true);
    const int act = g.Unary(c.op, conv);
    g.AddOp(act, g.Unary(c.op, 0));
    const WeightedGraph wg = Imported(g, 3);
    const torch::Tensor x = Input(wg.graph, 11, 2, 5.0);
    const torch::Tensor cx =
        F::conv2d(x, T(wg.weights[conv].weight, {4, 4, 3, 3}),
                  F::Conv2dFuncOptions().bias(T(wg.weights[conv].bias, {4})).padding(1));
    const torch::Tensor y = RunAllWays(wg, x);
    ExpectClose(y, c.formula(cx) + c.formula(x), std::string(OpTypeName(c.op)) + " vs formula");
    // Bit-equal to torch's own function (the one torch.nn's module calls).
    EXPECT_TRUE(torch::equal(y, c.torch_fn(cx) + c.torch_fn(x)));
  }
}

TEST(TorchGraphOps, SqueezeExcitationMatchesTorch) {
  Graph g("t_se", {8, 10, 10});
  const int y = testing_graphs::SeBlock(g, 0, 8, 4);
  const int gate = g.Unary(OpType::kSigmoid, 0);
  g.Mul(y, gate);  // a same-shape product too
  const WeightedGraph wg = Imported(g, 4);
  const torch::Tensor x = Input(wg.graph, 13, 3, 2.0);
  // Nodes: 1 pool, 2 conv, 3 relu, 4 conv, 5 hardsigmoid, 6 mul, 7 sigmoid, 8 mul.
  ASSERT_EQ(wg.graph.node(2).op, OpType::kConv);
  ASSERT_EQ(wg.graph.node(4).op, OpType::kConv);
  torch::Tensor s = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
  s = F::relu(F::conv2d(s, T(wg.weights[2].weight, {4, 8, 1, 1}),
                        F::Conv2dFuncOptions().bias(T(wg.weights[2].bias, {4}))));
  s = F::conv2d(s, T(wg.weights[4].weight, {8, 4, 1, 1}),
                F::Conv2dFuncOptions().bias(T(wg.weights[4].bias, {8})));
  s = torch::clamp(s + 3, 0, 6) / 6;
  const torch::Tensor want = (x * s) * (1 / (1 + torch::exp(-x)));
  ExpectClose(RunAllWays(wg, x), want, "squeeze-and-excitation");
}

TEST(TorchGraphOps, AdaptiveAvgPoolUsesPytorchWindows) {
  struct Size {
    int oh, ow;
  };
  for (const Size s : {Size{3, 2}, Size{1, 1}, Size{2, 5}, Size{7, 4}, Size{5, 3}}) {
    SCOPED_TRACE(std::to_string(s.oh) + "x" + std::to_string(s.ow));
    Graph g("t_adaptive", {3, 7, 5});
    g.AdaptiveAvgPool(0, s.oh, s.ow);
    const WeightedGraph wg = Imported(g, 5);
    const torch::Tensor x = Input(wg.graph, 17, 2);
    // graph.h's definition, element by element: rows floor(i*H/oh) .. ceil((i+1)*H/oh) - 1.
    torch::Tensor want = torch::zeros({2, 3, s.oh, s.ow});
    for (int i = 0; i < s.oh; ++i) {
      const int64_t r0 = i * 7 / s.oh, r1 = ((i + 1) * 7 + s.oh - 1) / s.oh;
      for (int j = 0; j < s.ow; ++j) {
        const int64_t c0 = j * 5 / s.ow, c1 = ((j + 1) * 5 + s.ow - 1) / s.ow;
        want.select(2, i).select(2, j).copy_(
            x.slice(2, r0, r1).slice(3, c0, c1).mean(std::vector<int64_t>{2, 3}));
      }
    }
    const torch::Tensor y = RunAllWays(wg, x);
    ExpectClose(
        y, want,
        "adaptive_avg_pool " + std::to_string(s.oh) + "x" + std::to_string(s.ow) + " vs windows");
    EXPECT_TRUE(
        torch::equal(y, F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({s.oh, s.ow}))));
  }
}

TEST(TorchGraphOps, ChannelShuffleAndSliceMatchTorchvision) {
  for (int groups : {2, 3, 4, 12}) {
    SCOPED_TRACE(groups);
    Graph g("t_shuffle", {12, 4, 5});
    // A conv first so that channels-last mode shuffles a channels-last tensor.
    const int c = g.Conv(0, 12, 1, 1, 0, 1, true);
    const int sh = g.ChannelShuffle(c, groups);
    g.Concat({g.ChannelSlice(sh, 0, 5), g.ChannelSlice(sh, 5, 12)});
    const WeightedGraph wg = Imported(g, 6);
    const torch::Tensor x = Input(wg.graph, 19, 2);
    const torch::Tensor cx = F::conv2d(x, T(wg.weights[c].weight, {12, 12, 1, 1}),
                                       F::Conv2dFuncOptions().bias(T(wg.weights[c].bias, {12})));
    // torchvision's channel_shuffle: view, transpose, contiguous, view.
    const torch::Tensor want =
        cx.view({2, groups, 12 / groups, 4, 5}).transpose(1, 2).contiguous().view({2, 12, 4, 5});
    const torch::Tensor y = RunAllWays(wg, x);
    ExpectClose(y, want, "channel_shuffle " + std::to_string(groups) + " groups");
    // graph.h's definition: channel g*(C/groups)+k moves to k*groups+g.
    for (int gi = 0; gi < groups; ++gi) {
      for (int k = 0; k < 12 / groups; ++k) {
        EXPECT_TRUE(torch::equal(y.select(1, k * groups + gi), want.select(1, k * groups + gi)));
        EXPECT_TRUE(torch::allclose(y.select(1, k * groups + gi),
                                    cx.select(1, gi * (12 / groups) + k), 1e-6, 1e-6));
      }
    }
  }
}

TEST(TorchGraphOps, ShuffleNetUnitMatchesTorch) {
  Graph g("t_shuffle_unit", {16, 8, 8});
  testing_graphs::ShuffleUnit(g, 0, 16);
  const WeightedGraph wg = Imported(g, 7);
  const torch::Tensor x = Input(wg.graph, 23, 2, 2.0);
  // The unit as torchvision writes it (x.chunk(2, dim=1), branch2, cat, channel_shuffle).
  auto bn = [&](const torch::Tensor& v, int node) {
    const NodeWeights& w = wg.weights[node];
    return F::batch_norm(v, T(w.mean, {8}), T(w.var, {8}),
                         F::BatchNormFuncOptions().weight(T(w.weight, {8})).bias(T(w.bias, {8})));
  };
  auto conv = [&](const torch::Tensor& v, int node, std::vector<int64_t> shape, int groups,
                  int pad) {
    return F::conv2d(v, T(wg.weights[node].weight, shape),
                     F::Conv2dFuncOptions().groups(groups).padding(pad));
  };
  // Nodes: 1, 2 slices; 3 conv 4 bn 5 relu; 6 conv 7 bn; 8 conv 9 bn 10 relu; 11 cat; 12 shuffle.
  ASSERT_EQ(wg.graph.node(12).op, OpType::kChannelShuffle);
  auto halves = x.chunk(2, 1);
  torch::Tensor b = F::relu(bn(conv(halves[1], 3, {8, 8, 1, 1}, 1, 0), 4));
  b = bn(conv(b, 6, {8, 1, 3, 3}, 8, 1), 7);
  b = F::relu(bn(conv(b, 8, {8, 8, 1, 1}, 1, 0), 9));
  const torch::Tensor cat = torch::cat({halves[0], b}, 1);
  const torch::Tensor want =
      cat.view({2, 2, 8, 8, 8}).transpose(1, 2).contiguous().view({2, 16, 8, 8});
  ExpectClose(RunAllWays(wg, x), want, "ShuffleNet v2 unit (batch-norm unfolded)");
  // Folded, as the model store serves an imported graph: the same within float rounding.
  const WeightedGraph folded = FoldBatchNorm(wg);
  EXPECT_LT(folded.graph.nodes().size(), wg.graph.nodes().size());
  EXPECT_FALSE(folded.graph.seeded_weights());
  TorchGraph f(folded);
  const double d = RelDiff(f.Forward(x), want);
  EXPECT_LE(d, 1e-5) << "folded";
  std::printf("[ ShuffleNet v2 unit, batch-norm folded ] max |diff| / output scale = %.3g\n", d);
}

TEST(TorchGraphOps, MixedNetRunsEveryWay) {
  const WeightedGraph wg = Imported(testing_graphs::TinyMixedNet(), 8);
  const torch::Tensor x = Input(wg.graph, 29, 4);
  const torch::Tensor y = RunAllWays(wg, x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 10}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  // Batch rows are independent.
  TorchGraph m(wg);
  EXPECT_LE(RelDiff(m.Forward(x.slice(0, 2, 3)), y.slice(0, 2, 3)), kFp32Tolerance);
}

}  // namespace
}  // namespace autoscale
