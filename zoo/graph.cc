#include "zoo/graph.h"

#include <cmath>
#include <sstream>

#include "core/random.h"

namespace autoscale {

const char* OpTypeName(OpType op) {
  switch (op) {
    case OpType::kInput:
      return "input";
    case OpType::kConv:
      return "conv";
    case OpType::kBatchNorm:
      return "batch_norm";
    case OpType::kRelu:
      return "relu";
    case OpType::kRelu6:
      return "relu6";
    case OpType::kMaxPool:
      return "max_pool";
    case OpType::kAvgPool:
      return "avg_pool";
    case OpType::kGlobalAvgPool:
      return "global_avg_pool";
    case OpType::kFlatten:
      return "flatten";
    case OpType::kLinear:
      return "linear";
    case OpType::kAdd:
      return "add";
    case OpType::kConcat:
      return "concat";
    case OpType::kLstm:
      return "lstm";
    case OpType::kHardswish:
      return "hardswish";
    case OpType::kHardsigmoid:
      return "hardsigmoid";
    case OpType::kSigmoid:
      return "sigmoid";
    case OpType::kSilu:
      return "silu";
    case OpType::kMul:
      return "mul";
    case OpType::kAdaptiveAvgPool:
      return "adaptive_avg_pool";
    case OpType::kChannelShuffle:
      return "channel_shuffle";
    case OpType::kChannelSlice:
      return "channel_slice";
  }
  return "?";
}

bool IsActivation(OpType op) {
  switch (op) {
    case OpType::kRelu:
    case OpType::kRelu6:
    case OpType::kHardswish:
    case OpType::kHardsigmoid:
    case OpType::kSigmoid:
    case OpType::kSilu:
      return true;
    default:
      return false;
  }
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

Graph::Graph(std::string name, std::vector<int64_t> input_shape, uint64_t seed)
    : name_(std::move(name)), input_shape_(std::move(input_shape)), seed_(seed) {
  GraphNode in;
  in.op = OpType::kInput;
  in.name = "input";
  nodes_.push_back(std::move(in));
}

int Graph::Add(GraphNode node) {
  if (node.name.empty())
    node.name = std::string(OpTypeName(node.op)) + std::to_string(nodes_.size());
  nodes_.push_back(std::move(node));
  finalized_ = false;
  return static_cast<int>(nodes_.size()) - 1;
}

int Graph::Conv(int in, int out_channels, int kh, int kw, int stride_h, int stride_w, int pad_h,
                int pad_w, int groups, bool bias, std::string name) {
  GraphNode n;
  n.op = OpType::kConv;
  n.name = std::move(name);
  n.inputs = {in};
  n.out_channels = out_channels;
  n.kernel_h = kh;
  n.kernel_w = kw;
  n.stride_h = stride_h;
  n.stride_w = stride_w;
  n.pad_h = pad_h;
  n.pad_w = pad_w;
  n.groups = groups;
  n.bias = bias;
  return Add(std::move(n));
}

namespace {
GraphNode Simple(OpType op, std::vector<int> inputs) {
  GraphNode n;
  n.op = op;
  n.inputs = std::move(inputs);
  return n;
}
GraphNode Pool(OpType op, int in, int k, int stride, int pad, bool ceil_mode) {
  GraphNode n = Simple(op, {in});
  n.kernel_h = n.kernel_w = k;
  n.stride_h = n.stride_w = stride;
  n.pad_h = n.pad_w = pad;
  n.ceil_mode = ceil_mode;
  return n;
}
}  // namespace

int Graph::BatchNorm(int in, float eps) {
  GraphNode n = Simple(OpType::kBatchNorm, {in});
  n.eps = eps;
  return Add(std::move(n));
}
int Graph::Relu(int in) { return Add(Simple(OpType::kRelu, {in})); }
int Graph::Relu6(int in) { return Add(Simple(OpType::kRelu6, {in})); }
int Graph::MaxPool(int in, int k, int stride, int pad, bool ceil_mode) {
  return Add(Pool(OpType::kMaxPool, in, k, stride, pad, ceil_mode));
}
int Graph::AvgPool(int in, int k, int stride, int pad, bool ceil_mode) {
  return Add(Pool(OpType::kAvgPool, in, k, stride, pad, ceil_mode));
}
int Graph::GlobalAvgPool(int in) { return Add(Simple(OpType::kGlobalAvgPool, {in})); }
int Graph::Flatten(int in) { return Add(Simple(OpType::kFlatten, {in})); }
int Graph::Linear(int in, int out_features, std::string name) {
  GraphNode n = Simple(OpType::kLinear, {in});
  n.name = std::move(name);
  n.out_features = out_features;
  n.bias = true;
  return Add(std::move(n));
}
int Graph::Unary(OpType op, int in) { return Add(Simple(op, {in})); }
int Graph::Mul(int a, int b) { return Add(Simple(OpType::kMul, {a, b})); }
int Graph::AdaptiveAvgPool(int in, int out_h, int out_w) {
  GraphNode n = Simple(OpType::kAdaptiveAvgPool, {in});
  n.pool_out_h = out_h;
  n.pool_out_w = out_w;
  return Add(std::move(n));
}
int Graph::ChannelShuffle(int in, int groups) {
  GraphNode n = Simple(OpType::kChannelShuffle, {in});
  n.groups = groups;
  return Add(std::move(n));
}
int Graph::ChannelSlice(int in, int begin, int end) {
  GraphNode n = Simple(OpType::kChannelSlice, {in});
  n.slice_begin = begin;
  n.slice_end = end;
  return Add(std::move(n));
}
int Graph::AddOp(int a, int b) { return Add(Simple(OpType::kAdd, {a, b})); }
int Graph::Concat(std::vector<int> inputs) {
  return Add(Simple(OpType::kConcat, std::move(inputs)));
}
int Graph::Lstm(int in, int hidden, int projection, bool peephole) {
  GraphNode n = Simple(OpType::kLstm, {in});
  n.hidden = hidden;
  n.projection = projection;
  n.peephole = peephole;
  n.bias = true;
  return Add(std::move(n));
}

namespace {
// Output size of a sliding window, PyTorch's rule (a ceil-mode window must start inside the
// input or its left padding). `k` is the dilated kernel extent.
int64_t WindowOut(int64_t in, int64_t k, int stride, int pad, bool ceil_mode) {
  const int64_t span = in + 2 * pad - k;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}
}  // namespace

Status Graph::InferNode(int i) {
  GraphNode& n = nodes_[i];
  auto error = [&](const std::string& what) {
    return Status::InvalidArgument("model '" + name_ + "', node " + std::to_string(i) + " (" +
                                   n.name + ", " + OpTypeName(n.op) + "): " + what);
  };
  if (n.op == OpType::kInput) {
    if (i != 0) return error("only node 0 may be the input");
    if (input_shape_.empty() || NumElements(input_shape_) <= 0) return error("empty input shape");
    n.out_shape = input_shape_;
    return Status::Ok();
  }
  if (n.inputs.empty()) return error("has no inputs");
  for (int in : n.inputs) {
    if (in < 0 || in >= i) return error("input " + std::to_string(in) + " is not an earlier node");
  }
  const std::vector<int64_t>& x = nodes_[n.inputs[0]].out_shape;
  const bool unary = n.op != OpType::kAdd && n.op != OpType::kConcat && n.op != OpType::kMul;
  if (unary && n.inputs.size() != 1) return error("takes exactly one input");
  auto need_rank = [&](size_t rank) -> Status {
    if (x.size() != rank) {
      return error("expects a rank-" + std::to_string(rank) + " input, got " + ShapeString(x));
    }
    return Status::Ok();
  };
  n.macs = 0;
  n.params = 0;
  switch (n.op) {
    case OpType::kInput:
      break;
    case OpType::kConv: {
      RETURN_IF_ERROR(need_rank(3));
      const int64_t c = x[0];
      if (n.groups < 1 || c % n.groups != 0 || n.out_channels % n.groups != 0 ||
          n.out_channels <= 0) {
        return error("channels " + std::to_string(c) + " -> " + std::to_string(n.out_channels) +
                     " do not divide into " + std::to_string(n.groups) + " groups");
      }
      if (n.kernel_h < 1 || n.kernel_w < 1 || n.stride_h < 1 || n.stride_w < 1 || n.pad_h < 0 ||
          n.pad_w < 0 || n.dilation_h < 1 || n.dilation_w < 1) {
        return error("bad kernel, stride, padding or dilation");
      }
      const int64_t oh = WindowOut(x[1], int64_t{n.dilation_h} * (n.kernel_h - 1) + 1,
                                   n.stride_h, n.pad_h, false);
      const int64_t ow = WindowOut(x[2], int64_t{n.dilation_w} * (n.kernel_w - 1) + 1,
                                   n.stride_w, n.pad_w, false);
      if (oh < 1 || ow < 1) return error("kernel larger than the padded input " + ShapeString(x));
      n.out_shape = {n.out_channels, oh, ow};
      const int64_t per_out = (c / n.groups) * n.kernel_h * n.kernel_w;
      n.macs = n.out_channels * oh * ow * per_out;
      n.params = n.out_channels * per_out + (n.bias ? n.out_channels : 0);
      break;
    }
    case OpType::kBatchNorm:
      RETURN_IF_ERROR(need_rank(3));
      n.out_shape = x;
      n.params = 2 * x[0];
      break;
    case OpType::kRelu:
    case OpType::kRelu6:
    case OpType::kHardswish:
    case OpType::kHardsigmoid:
    case OpType::kSigmoid:
    case OpType::kSilu:
      n.out_shape = x;
      break;
    case OpType::kMul: {
      if (n.inputs.size() != 2) return error("takes exactly two inputs");
      const auto& y = nodes_[n.inputs[1]].out_shape;
      const bool per_channel = x.size() == 3 && y.size() == 3 && y[0] == x[0] && y[1] == 1 &&
                               y[2] == 1;
      if (y != x && !per_channel) {
        return error("second input " + ShapeString(y) + " is neither the first's shape " +
                     ShapeString(x) + " nor one value per channel (Cx1x1)");
      }
      n.out_shape = x;
      break;
    }
    case OpType::kAdaptiveAvgPool:
      RETURN_IF_ERROR(need_rank(3));
      if (n.pool_out_h < 1 || n.pool_out_w < 1) return error("output size must be positive");
      n.out_shape = {x[0], n.pool_out_h, n.pool_out_w};
      break;
    case OpType::kChannelShuffle:
      RETURN_IF_ERROR(need_rank(3));
      if (n.groups < 1 || x[0] % n.groups != 0) {
        return error(std::to_string(x[0]) + " channels do not divide into " +
                     std::to_string(n.groups) + " groups");
      }
      n.out_shape = x;
      break;
    case OpType::kChannelSlice:
      RETURN_IF_ERROR(need_rank(3));
      if (n.slice_begin < 0 || n.slice_end <= n.slice_begin || n.slice_end > x[0]) {
        return error("channels [" + std::to_string(n.slice_begin) + ", " +
                     std::to_string(n.slice_end) + ") are not a slice of " +
                     std::to_string(x[0]));
      }
      n.out_shape = {n.slice_end - n.slice_begin, x[1], x[2]};
      break;
    case OpType::kMaxPool:
    case OpType::kAvgPool: {
      RETURN_IF_ERROR(need_rank(3));
      if (n.kernel_h < 1 || n.stride_h < 1 || n.pad_h < 0 || 2 * n.pad_h > n.kernel_h) {
        return error("bad kernel, stride or padding (padding may be at most half the kernel)");
      }
      const int64_t oh = WindowOut(x[1], n.kernel_h, n.stride_h, n.pad_h, n.ceil_mode);
      const int64_t ow = WindowOut(x[2], n.kernel_w, n.stride_w, n.pad_w, n.ceil_mode);
      if (oh < 1 || ow < 1) return error("window larger than the padded input " + ShapeString(x));
      n.out_shape = {x[0], oh, ow};
      break;
    }
    case OpType::kGlobalAvgPool:
      RETURN_IF_ERROR(need_rank(3));
      n.out_shape = {x[0], 1, 1};
      break;
    case OpType::kFlatten:
      n.out_shape = {NumElements(x)};
      break;
    case OpType::kLinear:
      RETURN_IF_ERROR(need_rank(1));
      if (n.out_features < 1) return error("out_features must be positive");
      n.out_shape = {n.out_features};
      n.macs = x[0] * n.out_features;
      n.params = x[0] * n.out_features + n.out_features;
      break;
    case OpType::kAdd:
      if (n.inputs.size() != 2) return error("takes exactly two inputs");
      if (nodes_[n.inputs[1]].out_shape != x) {
        return error("input shapes differ: " + ShapeString(x) + " and " +
                     ShapeString(nodes_[n.inputs[1]].out_shape));
      }
      n.out_shape = x;
      break;
    case OpType::kConcat: {
      if (n.inputs.size() < 2) return error("takes two or more inputs");
      RETURN_IF_ERROR(need_rank(3));
      int64_t c = 0;
      for (int in : n.inputs) {
        const auto& s = nodes_[in].out_shape;
        if (s.size() != 3 || s[1] != x[1] || s[2] != x[2]) {
          return error("inputs differ in spatial size: " + ShapeString(x) + " and " +
                       ShapeString(s));
        }
        c += s[0];
      }
      n.out_shape = {c, x[1], x[2]};
      break;
    }
    case OpType::kLstm: {
      RETURN_IF_ERROR(need_rank(2));
      if (n.hidden < 1 || n.projection < 0) return error("bad hidden or projection size");
      const int64_t t = x[0], f = x[1], h = n.hidden;
      const int64_t p = n.projection > 0 ? n.projection : h;
      n.out_shape = {p};
      n.macs = t * (4 * h * (f + p) + (n.projection > 0 ? h * p : 0));
      n.params =
          4 * h * (f + p) + 4 * h + (n.peephole ? 3 * h : 0) + (n.projection > 0 ? h * p : 0);
      break;
    }
  }
  return Status::Ok();
}

Status Graph::Finalize() {
  if (nodes_.empty() || nodes_[0].op != OpType::kInput) {
    return Status::InvalidArgument("model '" + name_ + "': node 0 must be the input");
  }
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) RETURN_IF_ERROR(InferNode(i));
  finalized_ = true;
  return Status::Ok();
}

std::vector<int> Graph::ConsumerCounts() const {
  std::vector<int> counts(nodes_.size(), 0);
  for (const GraphNode& n : nodes_) {
    for (int in : n.inputs) ++counts[in];
  }
  return counts;
}

// ---- Weights ---------------------------------------------------------------------------------

namespace {
void FillUniform(Rng& rng, std::vector<float>& v, size_t n, double lo, double hi) {
  v.resize(n);
  for (float& x : v) x = static_cast<float>(rng.Uniform(lo, hi));
}
}  // namespace

std::vector<NodeWeights> MakeWeights(const Graph& graph) {
  std::vector<NodeWeights> weights(graph.nodes().size());
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const GraphNode& n = graph.nodes()[i];
    if (n.op == OpType::kInput || n.inputs.empty()) continue;
    const std::vector<int64_t>& x = graph.node(n.inputs[0]).out_shape;
    NodeWeights& w = weights[i];
    Rng rng(Mix64(HashString(graph.name()), graph.seed(), i));
    switch (n.op) {
      case OpType::kConv: {
        const int64_t fan_in = (x[0] / n.groups) * n.kernel_h * n.kernel_w;
        const double bound = std::sqrt(6.0 / static_cast<double>(fan_in));  // He uniform
        FillUniform(rng, w.weight, n.out_channels * fan_in, -bound, bound);
        if (n.bias)
          FillUniform(rng, w.bias, n.out_channels, -0.5 / std::sqrt(fan_in),
                      0.5 / std::sqrt(fan_in));
        break;
      }
      case OpType::kBatchNorm:
        // Near identity so that activations keep their scale through deep stacks.
        FillUniform(rng, w.weight, x[0], 0.9, 1.1);
        FillUniform(rng, w.bias, x[0], -0.05, 0.05);
        FillUniform(rng, w.mean, x[0], -0.05, 0.05);
        FillUniform(rng, w.var, x[0], 0.9, 1.1);
        break;
      case OpType::kLinear: {
        const double bound = std::sqrt(6.0 / static_cast<double>(x[0]));
        FillUniform(rng, w.weight, x[0] * n.out_features, -bound, bound);
        FillUniform(rng, w.bias, n.out_features, -0.5 / std::sqrt(x[0]), 0.5 / std::sqrt(x[0]));
        break;
      }
      case OpType::kLstm: {
        const int64_t h = n.hidden, f = x[1];
        const int64_t p = n.projection > 0 ? n.projection : h;
        const double bound = 1.0 / std::sqrt(static_cast<double>(h));  // PyTorch's LSTM init
        FillUniform(rng, w.weight, 4 * h * f, -bound, bound);
        FillUniform(rng, w.recurrent, 4 * h * p, -bound, bound);
        FillUniform(rng, w.bias, 4 * h, -bound, bound);
        if (n.peephole) FillUniform(rng, w.peephole, 3 * h, -bound, bound);
        if (n.projection > 0) FillUniform(rng, w.projection, p * h, -bound, bound);
        break;
      }
      default:
        break;
    }
  }
  return weights;
}

WeightedGraph FoldBatchNorm(const WeightedGraph& in) {
  const Graph& g = in.graph;
  const std::vector<int> consumers = g.ConsumerCounts();
  WeightedGraph out{Graph(g.name(), g.input_shape(), g.seed()), {NodeWeights{}}};
  out.graph.set_seeded_weights(g.seeded_weights());
  std::vector<int> remap(g.nodes().size(), 0);
  for (int i = 1; i < static_cast<int>(g.nodes().size()); ++i) {
    const GraphNode& n = g.node(i);
    if (n.op == OpType::kBatchNorm) {
      const int src = n.inputs[0];
      if (g.node(src).op == OpType::kConv && consumers[src] == 1) {
        // Fold into the convolution already copied to `out`.
        const int conv = remap[src];
        GraphNode& c = out.graph.mutable_node(conv);
        NodeWeights& cw = out.weights[conv];
        const NodeWeights& bw = in.weights[i];
        const size_t oc = c.out_channels;
        const size_t per = cw.weight.size() / oc;
        if (cw.bias.empty()) cw.bias.assign(oc, 0.0f);
        for (size_t o = 0; o < oc; ++o) {
          const double scale = bw.weight[o] / std::sqrt(static_cast<double>(bw.var[o]) + n.eps);
          for (size_t k = 0; k < per; ++k) {
            cw.weight[o * per + k] = static_cast<float>(cw.weight[o * per + k] * scale);
          }
          cw.bias[o] = static_cast<float>((cw.bias[o] - bw.mean[o]) * scale + bw.bias[o]);
        }
        c.bias = true;
        remap[i] = conv;
        continue;
      }
    }
    GraphNode copy = n;
    for (int& x : copy.inputs) x = remap[x];
    remap[i] = out.graph.Add(std::move(copy));
    out.weights.push_back(in.weights[i]);
  }
  Status s = out.graph.Finalize();  // cannot fail: the same shapes as a finalized graph
  (void)s;
  return out;
}

Result<WeightedGraph> PrepareForInference(const Graph& graph) {
  if (!graph.seeded_weights()) {
    return Status::InvalidArgument("model '" + graph.name() +
                                   "' carries its own weights (imported); use its importer's "
                                   "WeightedGraph, not seeded ones");
  }
  Graph g = graph;
  if (!g.finalized()) RETURN_IF_ERROR(g.Finalize());
  WeightedGraph w{g, MakeWeights(g)};
  return FoldBatchNorm(w);
}

Status CheckWeights(const Graph& graph, const std::vector<NodeWeights>& weights) {
  if (weights.size() != graph.nodes().size()) {
    return Status::InvalidArgument("model '" + graph.name() + "': " +
                                   std::to_string(weights.size()) + " weight entries for " +
                                   std::to_string(graph.nodes().size()) + " nodes");
  }
  for (size_t i = 1; i < graph.nodes().size(); ++i) {
    const GraphNode& n = graph.node(static_cast<int>(i));
    const NodeWeights& w = weights[i];
    const std::vector<int64_t>& x = graph.node(n.inputs[0]).out_shape;
    auto expect = [&](const char* what, const std::vector<float>& v, int64_t size) -> Status {
      if (static_cast<int64_t>(v.size()) == size) return Status::Ok();
      return Status::InvalidArgument("model '" + graph.name() + "', node " + std::to_string(i) +
                                     " (" + n.name + ", " + OpTypeName(n.op) + "): " + what +
                                     " has " + std::to_string(v.size()) + " values, expected " +
                                     std::to_string(size));
    };
    switch (n.op) {
      case OpType::kConv: {
        const int64_t per = (x[0] / n.groups) * n.kernel_h * n.kernel_w;
        RETURN_IF_ERROR(expect("weight", w.weight, n.out_channels * per));
        RETURN_IF_ERROR(expect("bias", w.bias, n.bias ? n.out_channels : 0));
        break;
      }
      case OpType::kBatchNorm:
        RETURN_IF_ERROR(expect("weight", w.weight, x[0]));
        RETURN_IF_ERROR(expect("bias", w.bias, x[0]));
        RETURN_IF_ERROR(expect("running mean", w.mean, x[0]));
        RETURN_IF_ERROR(expect("running var", w.var, x[0]));
        break;
      case OpType::kLinear:
        RETURN_IF_ERROR(expect("weight", w.weight, x[0] * n.out_features));
        RETURN_IF_ERROR(expect("bias", w.bias, n.out_features));
        break;
      case OpType::kLstm: {
        const int64_t h = n.hidden, p = n.projection > 0 ? n.projection : n.hidden;
        RETURN_IF_ERROR(expect("W_ih", w.weight, 4 * h * x[1]));
        RETURN_IF_ERROR(expect("W_hh", w.recurrent, 4 * h * p));
        RETURN_IF_ERROR(expect("bias", w.bias, 4 * h));
        RETURN_IF_ERROR(expect("peephole", w.peephole, n.peephole ? 3 * h : 0));
        RETURN_IF_ERROR(expect("projection", w.projection, n.projection > 0 ? p * h : 0));
        break;
      }
      default:
        break;
    }
  }
  return Status::Ok();
}

std::vector<float> MakeInput(const Graph& graph, uint64_t seed, int batch) {
  Rng rng(Mix64(HashString(graph.name()), seed, 0x1A9u));
  std::vector<float> v(static_cast<size_t>(NumElements(graph.input_shape()) * batch));
  for (float& x : v) x = static_cast<float>(rng.Uniform(-1.0, 1.0));
  return v;
}

}  // namespace autoscale
