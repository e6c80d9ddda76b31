// A small inference graph: the one description of a network that every target runs (libtorch
// on the CPU, OpenCL kernels on the mobile GPU, the INT8 engine behind the DSP stub) and that
// model features are computed from. No torch here: the simulator and tools read features
// without linking libtorch.
//
// Tensors are NCHW for images and (N, T, F) for sequences; shapes below leave out the batch.
// Weights are generated on demand from a seed (nothing is downloaded), so a graph is cheap to
// build and its features cheap to compute; MakeWeights() materialises them for an executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoscale {

enum class OpType : uint8_t {
  kInput,      // the graph's input; exactly one, node 0
  kConv,       // 2-D convolution (grouped and depthwise through `groups`)
  kBatchNorm,  // inference batch-norm: y = (x - mean) / sqrt(var + eps) * gamma + beta
  kRelu,       // max(x, 0)
  kRelu6,      // min(max(x, 0), 6)
  kMaxPool,    // kernel, stride, pad, ceil_mode
  kAvgPool,    // kernel, stride, pad, ceil_mode; padding counts in the divisor (PyTorch default)
  kGlobalAvgPool,  // (C, H, W) -> (C, 1, 1)
  kFlatten,        // (C, H, W) -> (C*H*W)
  kLinear,         // fully connected, (F) -> (out_features)
  kAdd,            // element-wise sum of two inputs of one shape
  kConcat,         // channel concatenation of two or more (C_i, H, W) inputs
  kLstm,           // (T, F) -> (P): one LSTM layer, optional peepholes and projection; last step
  // Added for networks imported from TorchScript (zoo/torchscript_import.h):
  kHardswish,        // x * relu6(x + 3) / 6
  kHardsigmoid,      // relu6(x + 3) / 6
  kSigmoid,          // 1 / (1 + exp(-x))
  kSilu,             // x * sigmoid(x)
  kMul,              // element-wise product; inputs[1] has inputs[0]'s shape, or is (C, 1, 1) and
                     // scales each channel of a (C, H, W) inputs[0] (squeeze-and-excitation)
  kAdaptiveAvgPool,  // (C, H, W) -> (C, pool_out_h, pool_out_w), PyTorch's adaptive windows:
                     // output i averages rows floor(i*H/oh) .. ceil((i+1)*H/oh) - 1
  kChannelShuffle,   // (C, H, W): channel g*(C/groups)+k moves to k*groups+g (ShuffleNet)
  kChannelSlice,     // (C, H, W) -> (slice_end - slice_begin, H, W): channels [begin, end)
                     // (ShuffleNet v2's chunk / split)
};

const char* OpTypeName(OpType op);

struct GraphNode {
  OpType op = OpType::kInput;
  std::string name;
  std::vector<int> inputs;  // indices of earlier nodes

  // kConv: out_channels, kernel, stride, pad, groups, bias. kMaxPool/kAvgPool: kernel, stride,
  // pad, ceil_mode.
  int out_channels = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;  // kConv
  int groups = 1;                      // kConv; kChannelShuffle: the groups shuffled
  int pool_out_h = 0, pool_out_w = 0;  // kAdaptiveAvgPool
  int slice_begin = 0, slice_end = 0;  // kChannelSlice
  bool bias = false;
  bool ceil_mode = false;
  float eps = 1e-5f;  // kBatchNorm
  // kLinear: out_features (bias always). kLstm: hidden units, projection size (0 = none) and
  // peepholes; gate order i, f, g, o as in PyTorch.
  int out_features = 0;
  int hidden = 0;
  int projection = 0;
  bool peephole = false;

  // Filled by Graph::Finalize().
  std::vector<int64_t> out_shape;  // without the batch dimension
  int64_t macs = 0;                // multiply-accumulates of one inference
  int64_t params = 0;              // learnable parameters (batch-norm: gamma and beta)
};

// Weights of one node, laid out as PyTorch lays them out.
//   kConv:      weight [out, in/groups, kh, kw]; bias [out] when the node has one.
//   kBatchNorm: weight = gamma [C], bias = beta [C], mean [C], var [C].
//   kLinear:    weight [out, in], bias [out].
//   kLstm:      weight = W_ih [4H, F], recurrent = W_hh [4H, P or H], bias [4H],
//               peephole [3H] (i, f, o), projection [P, H].
struct NodeWeights {
  std::vector<float> weight, bias, mean, var, recurrent, peephole, projection;
};

class Graph {
 public:
  Graph() = default;
  Graph(std::string name, std::vector<int64_t> input_shape, uint64_t seed = 1);

  // Appends a node whose inputs are already in the graph and returns its index. The builder
  // helpers below are the usual way in.
  int Add(GraphNode node);
  int Conv(int in, int out_channels, int kh, int kw, int stride_h, int stride_w, int pad_h,
           int pad_w, int groups = 1, bool bias = false, std::string name = "");
  int Conv(int in, int out_channels, int k, int stride = 1, int pad = 0, int groups = 1,
           bool bias = false, std::string name = "") {
    return Conv(in, out_channels, k, k, stride, stride, pad, pad, groups, bias, std::move(name));
  }
  int BatchNorm(int in, float eps = 1e-5f);
  int Relu(int in);
  int Relu6(int in);
  int MaxPool(int in, int k, int stride, int pad = 0, bool ceil_mode = false);
  int AvgPool(int in, int k, int stride, int pad = 0, bool ceil_mode = false);
  int GlobalAvgPool(int in);
  int Flatten(int in);
  int Linear(int in, int out_features, std::string name = "");
  int AddOp(int a, int b);
  int Concat(std::vector<int> inputs);
  int Lstm(int in, int hidden, int projection, bool peephole);
  int Unary(OpType op, int in);  // kRelu, kRelu6, kHardswish, kHardsigmoid, kSigmoid, kSilu
  int Mul(int a, int b);
  int AdaptiveAvgPool(int in, int out_h, int out_w);
  int ChannelShuffle(int in, int groups);
  int ChannelSlice(int in, int begin, int end);

  // Infers every node's output shape, MACs and parameters, and checks the graph: inputs
  // before their consumers, shapes that agree, kernels that fit. Errors name the node.
  Status Finalize();

  const std::string& name() const { return name_; }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  const std::vector<GraphNode>& nodes() const { return nodes_; }
  const GraphNode& node(int i) const { return nodes_[i]; }
  GraphNode& mutable_node(int i) {  // call Finalize() again after a change
    finalized_ = false;
    return nodes_[i];
  }
  int output() const { return static_cast<int>(nodes_.size()) - 1; }  // the last node
  uint64_t seed() const { return seed_; }
  // Where the weights come from: true (the default) when MakeWeights() generates them from the
  // seed, false for a graph imported with its own weights (a user's TorchScript file), which
  // only its importer's WeightedGraph carries: MakeWeights() and PrepareForInference() refuse it.
  bool seeded_weights() const { return seeded_weights_; }
  void set_seeded_weights(bool seeded) { seeded_weights_ = seeded; }
  bool finalized() const { return finalized_; }

  // Number of consumers of each node (a node with one consumer may be fused into it).
  std::vector<int> ConsumerCounts() const;

 private:
  Status InferNode(int i);

  std::string name_;
  std::vector<int64_t> input_shape_;
  uint64_t seed_ = 1;
  bool seeded_weights_ = true;
  std::vector<GraphNode> nodes_;
  bool finalized_ = false;
};

int64_t NumElements(const std::vector<int64_t>& shape);
std::string ShapeString(const std::vector<int64_t>& shape);  // "3x224x224"

// Deterministic weights for every node (empty for nodes without weights), a pure function of
// the graph's name, seed and node index: He-uniform convolution and linear weights, batch-norm
// statistics near identity, small biases. The same graph gives bit-identical weights anywhere.
std::vector<NodeWeights> MakeWeights(const Graph& graph);

// A graph with its weights: what executors consume.
struct WeightedGraph {
  Graph graph;
  std::vector<NodeWeights> weights;  // one per node
};

// Builds the weights (InvalidArgument for a graph without seeded weights), then folds every
// batch-norm that directly follows a convolution (and is
// that convolution's only consumer) into the convolution's weight and bias, as inference
// engines do. The result computes the same function with fewer nodes.
Result<WeightedGraph> PrepareForInference(const Graph& graph);
WeightedGraph FoldBatchNorm(const WeightedGraph& in);

// Checks that `weights` fit `graph` (finalized): one entry per node, each weight vector of the
// size the node's shape implies. Errors name the node. Importers and tests use it.
Status CheckWeights(const Graph& graph, const std::vector<NodeWeights>& weights);

// True for the element-wise activations (relu, relu6, hardswish, hardsigmoid, sigmoid, silu).
bool IsActivation(OpType op);

// A seeded input of the graph's input shape times `batch` (values uniform in [-1, 1]).
std::vector<float> MakeInput(const Graph& graph, uint64_t seed, int batch = 1);

}  // namespace autoscale
