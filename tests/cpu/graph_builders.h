// Small graphs with the ops imported networks use (squeeze-and-excitation, ShuffleNet v2 units,
// dilated convolutions, hardswish...) and deterministic "imported" weights, shared by the CPU
// tests. Header-only: each test file includes it once.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "targets/cpu/torch_model.h"
#include "zoo/graph.h"

namespace autoscale::testing_graphs {

// A [batch, <input shape>] seeded input (MakeInput: uniform in [-1, 1]) times `scale`.
inline torch::Tensor Input(const Graph& g, uint64_t seed, int batch, double scale = 1.0) {
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  const std::vector<float> x = MakeInput(g, seed, batch);
  return WrapFloat(x.data(), shape).clone() * scale;
}

// Weights as an importer hands them over: not generated from the graph's seed (the graph says
// so, seeded_weights() false, so PrepareForInference refuses it), batch-norm not folded. Drawn
// from torch's generator seeded with `seed`: He-normal convolution and linear weights, biases
// and batch-norm statistics of a trained network's magnitude.
inline WeightedGraph Imported(Graph g, uint64_t seed) {
  if (!g.finalized()) {
    Status st = g.Finalize();
    if (!st.ok()) throw std::runtime_error(st.ToString());
  }
  g.set_seeded_weights(false);
  torch::manual_seed(seed);
  auto vec = [](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  std::vector<NodeWeights> w(g.nodes().size());
  for (size_t i = 1; i < g.nodes().size(); ++i) {
    const GraphNode& n = g.node(static_cast<int>(i));
    const std::vector<int64_t>& x = g.node(n.inputs[0]).out_shape;
    switch (n.op) {
      case OpType::kConv: {
        const int64_t fan_in = x[0] / n.groups * n.kernel_h * n.kernel_w;
        w[i].weight = vec(torch::randn({n.out_channels, fan_in}) * std::sqrt(2.0 / fan_in));
        if (n.bias) w[i].bias = vec(torch::randn({n.out_channels}) * 0.1);
        break;
      }
      case OpType::kLinear:
        w[i].weight = vec(torch::randn({n.out_features, x[0]}) * std::sqrt(1.0 / x[0]));
        w[i].bias = vec(torch::randn({n.out_features}) * 0.1);
        break;
      case OpType::kBatchNorm:
        w[i].weight = vec(1.0 + 0.2 * torch::randn({x[0]}));
        w[i].bias = vec(0.2 * torch::randn({x[0]}));
        w[i].mean = vec(0.2 * torch::randn({x[0]}));
        w[i].var = vec(0.5 + torch::rand({x[0]}));
        break;
      default:
        break;
    }
  }
  return WeightedGraph{std::move(g), std::move(w)};
}

// A node's weights as torch tensors in PyTorch's layout.
inline torch::Tensor T(const std::vector<float>& v, std::vector<int64_t> shape) {
  if (v.empty()) return {};
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

// A conv node with dilation (Graph::Conv has none).
inline int DilatedConv(Graph& g, int in, int out, int k, int stride, int pad_h, int pad_w,
                       int dil_h, int dil_w, int groups, bool bias) {
  const int c = g.Conv(in, out, k, k, stride, stride, pad_h, pad_w, groups, bias);
  g.mutable_node(c).dilation_h = dil_h;
  g.mutable_node(c).dilation_w = dil_w;
  return c;
}

// Squeeze-and-excitation as torchvision's MobileNetV3 has it: pool to 1x1, 1x1 conv, relu, 1x1
// conv, hardsigmoid, scale the input's channels.
inline int SeBlock(Graph& g, int x, int channels, int squeeze) {
  int s = g.AdaptiveAvgPool(x, 1, 1);
  s = g.Relu(g.Conv(s, squeeze, 1, 1, 0, 1, true));
  s = g.Unary(OpType::kHardsigmoid, g.Conv(s, channels, 1, 1, 0, 1, true));
  return g.Mul(x, s);
}

// torchvision's ShuffleNet v2 InvertedResidual, stride 1: split the channels in halves, keep
// the first, run the second through 1x1 conv-bn-relu, 3x3 depthwise conv-bn, 1x1 conv-bn-relu,
// concatenate, shuffle in 2 groups.
inline int ShuffleUnit(Graph& g, int x, int channels) {
  const int half = channels / 2;
  const int x1 = g.ChannelSlice(x, 0, half);
  int b = g.ChannelSlice(x, half, channels);
  b = g.Relu(g.BatchNorm(g.Conv(b, half, 1)));
  b = g.BatchNorm(g.Conv(b, half, 3, 1, 1, half));
  b = g.Relu(g.BatchNorm(g.Conv(b, half, 1)));
  return g.ChannelShuffle(g.Concat({x1, b}), 2);
}

// A small classifier with every op above: stem conv-bn-hardswish, a dilated depthwise conv
// with silu, an SE block, a ShuffleNet unit, sigmoid gating, adaptive pooling to 2x2, linear.
inline Graph TinyMixedNet(const std::string& name = "t_mixed") {
  Graph g(name, {3, 24, 24});
  int x = g.Unary(OpType::kHardswish, g.BatchNorm(g.Conv(0, 16, 3, 2, 1)));
  x = g.Unary(OpType::kSilu, g.BatchNorm(DilatedConv(g, x, 16, 3, 1, 2, 2, 2, 2, 16, false)));
  x = SeBlock(g, x, 16, 8);
  x = ShuffleUnit(g, x, 16);
  x = g.Mul(x, g.Unary(OpType::kSigmoid, g.Conv(x, 16, 1, 1, 0, 1, true)));
  x = g.AdaptiveAvgPool(g.Relu6(x), 2, 2);
  g.Linear(g.Flatten(x), 10);
  return g;
}

}  // namespace autoscale::testing_graphs
