#include "targets/opencl/plan.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "targets/opencl/kernels.h"

namespace autoscale::opencl {

const char* StepKindName(StepKind k) {
  switch (k) {
    case StepKind::kPad:
      return "pad";
    case StepKind::kConv:
      return "conv";
    case StepKind::kConv1x1:
      return "conv1x1";
    case StepKind::kDepthwise:
      return "depthwise";
    case StepKind::kMaxPool:
      return "max_pool";
    case StepKind::kAvgPool:
      return "avg_pool";
    case StepKind::kGlobalAvgPool:
      return "global_avg_pool";
    case StepKind::kLinear:
      return "linear";
    case StepKind::kAdd:
      return "add";
    case StepKind::kBatchNorm:
      return "batch_norm";
    case StepKind::kActivation:
      return "activation";
    case StepKind::kCopy:
      return "copy";
    case StepKind::kMul:
      return "mul";
    case StepKind::kScaleChannels:
      return "scale_channels";
    case StepKind::kAdaptiveAvgPool:
      return "adaptive_avg_pool";
    case StepKind::kChannelShuffle:
      return "channel_shuffle";
  }
  return "?";
}

namespace {
size_t Tiles(int64_t n, int64_t tile) { return static_cast<size_t>((n + tile - 1) / tile); }
}  // namespace

// Work-group sizes on CPU devices. The tiled kernels carry their vectors explicitly, so a group
// needs no width for vectorisation; the convolutions (long work-items) run one per group
// (measured with PoCL: 1, 2, 4 and 8 within noise), the short depthwise, pooling and padding
// work-items run 16 per group along dimension 2 (channels, which they check), cutting PoCL's
// per-group overhead; the elementwise kernels run 16 along dimension 0.
std::vector<size_t> FixedLocalSize(const std::string& name, size_t dims) {
  std::vector<size_t> local(dims, 1);
  if (name.rfind("conv", 0) == 0) return local;
  for (const char* shortish : {"dwconv", "max_pool", "avg_pool", "pad2d", "adaptive_avg_pool"}) {
    if (name.rfind(shortish, 0) == 0) {
      local[2] = 16;
      return local;
    }
  }
  local[0] = 16;
  return local;
}

int64_t KernelLaunch::work_groups() const {
  int64_t groups = 1;
  for (size_t d = 0; d < global.size(); ++d) {
    const size_t g = std::max<size_t>(global[d], 1);
    groups *= static_cast<int64_t>((g + local[d] - 1) / local[d]);
  }
  return groups;
}

KernelLaunch LaunchOf(const Step& s, int batch) {
  const size_t n = static_cast<size_t>(batch);
  KernelLaunch k;
  switch (s.kind) {
    case StepKind::kPad:
      k = {"pad2d", {Tiles(s.ow, kPxTile), static_cast<size_t>(s.oh), n * s.c}, {}};
      break;
    case StepKind::kConv: {
      const int ocg = s.oc / s.groups;
      const int nblk = (ocg + kOcBlock - 1) / kOcBlock;
      k = {s.sw == 1 ? "conv2d_s1" : s.sw == 2 ? "conv2d_s2" : "conv2d_sn",
           {Tiles(s.ow, kPxTile), Tiles(s.oh, kConvRows), n * s.groups * nblk},
           {}};
      break;
    }
    case StepKind::kConv1x1: {
      const int ocg = s.oc / s.groups;
      const int nblk = (ocg + kOcBlock - 1) / kOcBlock;
      k = {"conv1x1",
           {Tiles(static_cast<int64_t>(s.h) * s.w, kPxTile),
            n * s.groups * Tiles(nblk, kPointwiseBlocks)},
           {}};
      break;
    }
    case StepKind::kDepthwise:
      k = {s.sw == 1 ? "dwconv_s1" : s.sw == 2 ? "dwconv_s2" : "dwconv_sn",
           {Tiles(s.ow, kPxTile), static_cast<size_t>(s.oh), n * s.oc},
           {}};
      break;
    case StepKind::kMaxPool:
    case StepKind::kAvgPool: {
      static const char* const kNames[2][3] = {{"max_pool_s1", "max_pool_s2", "max_pool_sn"},
                                               {"avg_pool_s1", "avg_pool_s2", "avg_pool_sn"}};
      k = {kNames[s.kind == StepKind::kAvgPool][std::min(s.sw, 3) - 1],
           {Tiles(s.ow, kPxTile), static_cast<size_t>(s.oh), n * s.c},
           {}};
      break;
    }
    case StepKind::kGlobalAvgPool:
      k = {"global_avg_pool", {static_cast<size_t>(s.c), n}, {}};
      break;
    case StepKind::kLinear:
      k = {"linear", {Tiles(s.oc, 4), n}, {}};
      break;
    case StepKind::kAdd:
    case StepKind::kMul:
      k = {s.kind == StepKind::kAdd ? "add" : "mul",
           {Tiles(static_cast<int64_t>(s.c) * s.h * s.w, kPxTile), n},
           {}};
      break;
    case StepKind::kScaleChannels:
      k = {"scale_channels", {Tiles(static_cast<int64_t>(s.h) * s.w, kPxTile), n * s.c}, {}};
      break;
    case StepKind::kAdaptiveAvgPool:
      k = {"adaptive_avg_pool", {static_cast<size_t>(s.ow), static_cast<size_t>(s.oh), n * s.c},
           {}};
      break;
    case StepKind::kChannelShuffle:
      k = {"channel_shuffle", {Tiles(static_cast<int64_t>(s.h) * s.w, kPxTile), n * s.c}, {}};
      break;
    case StepKind::kActivation:
      k = {"activation", {Tiles(static_cast<int64_t>(s.c) * s.h * s.w, kPxTile), n}, {}};
      break;
    case StepKind::kCopy:
      k = {"copy_view", {Tiles(static_cast<int64_t>(s.c) * s.h * s.w, kPxTile), n}, {}};
      break;
    case StepKind::kBatchNorm:
      k = {"batch_norm", {Tiles(static_cast<int64_t>(s.h) * s.w, kPxTile), n * s.c}, {}};
      break;
  }
  k.local = FixedLocalSize(k.kernel, k.global.size());
  return k;
}

Act ActOf(OpType op) {
  switch (op) {
    case OpType::kRelu:
      return Act::kRelu;
    case OpType::kRelu6:
      return Act::kRelu6;
    case OpType::kHardswish:
      return Act::kHardswish;
    case OpType::kHardsigmoid:
      return Act::kHardsigmoid;
    case OpType::kSigmoid:
      return Act::kSigmoid;
    case OpType::kSilu:
      return Act::kSilu;
    default:
      return Act::kNone;
  }
}

namespace {

// Ops the kernels run (or that are views): everything but the recurrent layers.
bool Lowerable(OpType op) { return op != OpType::kLstm; }

}  // namespace

Status CheckGraph(const Graph& graph) {
  int first = -1;
  std::vector<std::string> ops;  // distinct names, in order of first appearance
  for (int i = 0; i < static_cast<int>(graph.nodes().size()); ++i) {
    const OpType op = graph.node(i).op;
    if (Lowerable(op)) continue;
    if (first < 0) first = i;
    const std::string name = OpTypeName(op);
    if (std::find(ops.begin(), ops.end(), name) == ops.end()) ops.push_back(name);
  }
  if (first < 0) return Status::Ok();
  const GraphNode& n = graph.node(first);
  std::string msg = "OpenCL target runs CNN graphs; ";
  msg += graph.name();
  msg += " has an ";
  msg += OpTypeName(n.op);
  msg += " layer (node ";
  msg += std::to_string(first);
  msg += ", ";
  msg += n.name;
  msg += "); ops it cannot run: ";
  for (size_t k = 0; k < ops.size(); ++k) {
    if (k > 0) msg += ", ";
    msg += ops[k];
  }
  return Status::InvalidArgument(msg);
}

namespace {

// Ops whose kernel writes the node's own output tensor (through a view).
bool Computes(OpType op) {
  switch (op) {
    case OpType::kConv:
    case OpType::kBatchNorm:
    case OpType::kRelu:
    case OpType::kRelu6:
    case OpType::kMaxPool:
    case OpType::kAvgPool:
    case OpType::kGlobalAvgPool:
    case OpType::kLinear:
    case OpType::kAdd:
    case OpType::kConcat:
    case OpType::kHardswish:
    case OpType::kHardsigmoid:
    case OpType::kSigmoid:
    case OpType::kSilu:
    case OpType::kMul:
    case OpType::kAdaptiveAvgPool:
    case OpType::kChannelShuffle:
      return true;
    default:
      return false;
  }
}

// Ops whose kernel can apply a following activation to its result.
bool TakesActivation(OpType op) {
  return op == OpType::kConv || op == OpType::kAdd || op == OpType::kMul || op == OpType::kLinear ||
         op == OpType::kBatchNorm;
}

// Nodes whose output is their input's tensor unchanged: flatten, an adaptive average pool to the
// input's own size, a channel shuffle that moves nothing.
bool IsView(const Graph& g, int i) {
  const GraphNode& node = g.node(i);
  switch (node.op) {
    case OpType::kFlatten:
      return true;
    case OpType::kAdaptiveAvgPool:
      return node.out_shape == g.node(node.inputs[0]).out_shape;
    case OpType::kChannelShuffle:
      return node.groups == 1 || node.groups == node.out_shape[0];
    default:
      return false;
  }
}

bool SameView(const View& a, const View& b) {
  return a.buffer == b.buffer && a.offset == b.offset && a.batch_stride == b.batch_stride;
}

class Lowering {
 public:
  explicit Lowering(const WeightedGraph& wg) : wg_(wg), g_(wg.graph) {}

  Result<Plan> Run() {
    const int n = static_cast<int>(g_.nodes().size());
    root_.resize(n);
    act_.assign(n, Act::kNone);
    folded_bn_.assign(n, -1);
    view_.assign(n, View{});
    Fuse();
    PlaceConcats();
    for (int i = 0; i < n; ++i) {
      if (root_[i] == i && view_[i].buffer < 0 && g_.node(i).op != OpType::kChannelSlice) {
        const int64_t e = NumElements(g_.node(i).out_shape);
        view_[i] = View{NewBuffer(e), 0, e};
      }
    }
    // A channel slice is its input's view moved to its first channel (in node order, so that
    // the input's view is known).
    for (int i = 0; i < n; ++i) {
      const GraphNode& node = g_.node(i);
      if (node.op == OpType::kChannelSlice) {
        const std::vector<int64_t>& x = g_.node(node.inputs[0]).out_shape;
        view_[i] = view_[node.inputs[0]];
        view_[i].offset += node.slice_begin * x[1] * x[2];
      } else {
        view_[i] = view_[root_[i]];
      }
    }
    for (int i = 1; i < n; ++i) {
      if (root_[i] == i) RETURN_IF_ERROR(Emit(i));
    }
    plan_.input = view_[0];
    plan_.output = view_[g_.output()];
    plan_.output_shape = g_.node(g_.output()).out_shape;
    plan_.input_elems = NumElements(g_.input_shape());
    plan_.output_elems = NumElements(plan_.output_shape);
    ShareBuffers();
    // Tiles read up to kPxTile * stride + kernel width (+ a 16-lane load for stride 2) elements
    // past the last input row they use, and up to the padding before the first.
    plan_.read_slack = kReadSlack;
    for (const Step& s : plan_.steps) {
      const int64_t kw = static_cast<int64_t>(s.kw - 1) * s.dw + 1;  // dilated extent
      plan_.read_slack = std::max<int64_t>(plan_.read_slack, kPxTile * s.sw + kw + 16);
      plan_.read_slack = std::max<int64_t>(plan_.read_slack, s.pw + 1);
    }
    return std::move(plan_);
  }

 private:
  // Batch-norms into the convolutions they follow, activations into their producers (through a
  // folded batch-norm too), views onto their input.
  void Fuse() {
    const std::vector<int> consumers = g_.ConsumerCounts();
    for (int i = 0; i < static_cast<int>(g_.nodes().size()); ++i) {
      const GraphNode& node = g_.node(i);
      root_[i] = i;
      if (i > 0 && IsView(g_, i)) {
        root_[i] = root_[node.inputs[0]];
      } else if (node.op == OpType::kBatchNorm) {
        const int src = node.inputs[0];
        if (root_[src] == src && g_.node(src).op == OpType::kConv && consumers[src] == 1 &&
            act_[src] == Act::kNone && folded_bn_[src] < 0) {
          folded_bn_[src] = i;
          root_[i] = src;
        }
      } else if (IsActivation(node.op)) {
        const int src = node.inputs[0];
        const int r = root_[src];
        const bool direct = r == src;
        const bool through_bn = g_.node(src).op == OpType::kBatchNorm && folded_bn_[r] == src;
        if ((direct || through_bn) && TakesActivation(g_.node(r).op) && consumers[src] == 1 &&
            act_[r] == Act::kNone) {
          act_[r] = ActOf(node.op);
          root_[i] = r;
        }
      }
    }
  }

  // From the last node back, so that a concat inside a concat is placed before its inputs.
  void PlaceConcats() {
    for (int i = static_cast<int>(g_.nodes().size()) - 1; i > 0; --i) {
      const GraphNode& node = g_.node(i);
      if (node.op != OpType::kConcat) continue;
      if (view_[i].buffer < 0) {
        const int64_t e = NumElements(node.out_shape);
        view_[i] = View{NewBuffer(e), 0, e};
      }
      const int64_t plane = node.out_shape[1] * node.out_shape[2];
      int64_t channel = 0;
      for (int in : node.inputs) {
        // A tensor fed in twice is written into its first slice and copied into the others.
        const int r = root_[in];
        if (Computes(g_.node(r).op) && view_[r].buffer < 0) {
          view_[r] =
              View{view_[i].buffer, view_[i].offset + channel * plane, view_[i].batch_stride};
        }
        channel += g_.node(in).out_shape[0];
      }
    }
  }

  int NewBuffer(int64_t elems) {
    plan_.logical_elems.push_back(elems);
    return static_cast<int>(plan_.logical_elems.size()) - 1;
  }

  int AddParams(PackedParams p) {
    plan_.params.push_back(std::move(p));
    return static_cast<int>(plan_.params.size()) - 1;
  }

  Step Base(StepKind kind, int i) const {
    Step s;
    s.kind = kind;
    s.node = i;
    const GraphNode& node = g_.node(i);
    s.in = view_[node.inputs[0]];
    s.out = view_[i];
    s.act = act_[i];
    const std::vector<int64_t>& x = g_.node(node.inputs[0]).out_shape;
    const std::vector<int64_t>& y = node.out_shape;
    if (x.size() == 3) {
      s.c = static_cast<int>(x[0]), s.h = static_cast<int>(x[1]), s.w = static_cast<int>(x[2]);
    } else {
      s.c = static_cast<int>(NumElements(x)), s.h = 1, s.w = 1;
    }
    if (y.size() == 3) {
      s.oc = static_cast<int>(y[0]), s.oh = static_cast<int>(y[1]), s.ow = static_cast<int>(y[2]);
    } else {
      s.oc = static_cast<int>(NumElements(y)), s.oh = 1, s.ow = 1;
    }
    s.kh = node.kernel_h, s.kw = node.kernel_w, s.sh = node.stride_h, s.sw = node.stride_w;
    s.ph = node.pad_h, s.pw = node.pad_w, s.groups = node.groups;
    s.dh = node.dilation_h, s.dw = node.dilation_w;
    return s;
  }

  Status Emit(int i) {
    const GraphNode& node = g_.node(i);
    const NodeWeights& w = wg_.weights[i];
    switch (node.op) {
      case OpType::kInput:
      case OpType::kFlatten:
      case OpType::kChannelSlice:
        return Status::Ok();
      case OpType::kConv:
        return EmitConv(i);
      case OpType::kBatchNorm: {
        Step s = Base(StepKind::kBatchNorm, i);
        const size_t c = s.c;
        if (w.weight.size() != c || w.bias.size() != c || w.mean.size() != c || w.var.size() != c) {
          return WeightError(i);
        }
        PackedParams p;
        for (int c = 0; c < s.c; ++c) {
          const double scale = w.weight[c] / std::sqrt(static_cast<double>(w.var[c]) + node.eps);
          p.weight.push_back(static_cast<float>(scale));
          p.bias.push_back(static_cast<float>(w.bias[c] - w.mean[c] * scale));
        }
        s.params = AddParams(std::move(p));
        steps().push_back(s);
        return Status::Ok();
      }
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kHardswish:
      case OpType::kHardsigmoid:
      case OpType::kSigmoid:
      case OpType::kSilu: {
        Step s = Base(StepKind::kActivation, i);
        s.act = ActOf(node.op);
        steps().push_back(s);
        return Status::Ok();
      }
      case OpType::kMul: {
        const bool same = g_.node(node.inputs[1]).out_shape == g_.node(node.inputs[0]).out_shape;
        Step s = Base(same ? StepKind::kMul : StepKind::kScaleChannels, i);
        s.in2 = view_[node.inputs[1]];
        steps().push_back(s);
        return Status::Ok();
      }
      case OpType::kAdaptiveAvgPool:
        steps().push_back(AdaptivePool(i));
        return Status::Ok();
      case OpType::kChannelShuffle:
        steps().push_back(Base(StepKind::kChannelShuffle, i));
        return Status::Ok();
      case OpType::kMaxPool:
        steps().push_back(Base(StepKind::kMaxPool, i));
        return Status::Ok();
      case OpType::kAvgPool:
        steps().push_back(Base(StepKind::kAvgPool, i));
        return Status::Ok();
      case OpType::kGlobalAvgPool:
        steps().push_back(Base(StepKind::kGlobalAvgPool, i));
        return Status::Ok();
      case OpType::kLinear: {
        Step s = Base(StepKind::kLinear, i);
        PackedParams p;
        p.weight = w.weight;
        p.bias = w.bias.empty() ? std::vector<float>(s.oc, 0.0f) : w.bias;
        if (p.weight.size() != static_cast<size_t>(s.c) * s.oc) return WeightError(i);
        s.params = AddParams(std::move(p));
        steps().push_back(s);
        return Status::Ok();
      }
      case OpType::kAdd: {
        Step s = Base(StepKind::kAdd, i);
        s.in2 = view_[node.inputs[1]];
        steps().push_back(s);
        return Status::Ok();
      }
      case OpType::kConcat: {
        const int64_t plane = node.out_shape[1] * node.out_shape[2];
        int64_t channel = 0;
        for (int in : node.inputs) {
          const std::vector<int64_t>& x = g_.node(in).out_shape;
          const View slice{view_[i].buffer, view_[i].offset + channel * plane,
                           view_[i].batch_stride};
          if (!SameView(view_[in], slice)) {
            Step s;
            s.kind = StepKind::kCopy;
            s.node = i;
            s.in = view_[in];
            s.out = slice;
            s.c = static_cast<int>(x[0]), s.h = static_cast<int>(x[1]);
            s.w = static_cast<int>(x[2]);
            s.oc = s.c, s.oh = s.h, s.ow = s.w;
            steps().push_back(s);
          }
          channel += x[0];
        }
        return Status::Ok();
      }
      case OpType::kLstm:
        break;
    }
    return Status::InvalidArgument(std::string("OpenCL target cannot run ") + OpTypeName(node.op) +
                                   " node " + std::to_string(i));
  }

  // Adaptive windows that are all alike (the input divides into the output) are a plain pool.
  Step AdaptivePool(int i) const {
    Step s = Base(StepKind::kAdaptiveAvgPool, i);
    s.kh = s.kw = s.sh = s.sw = 1, s.ph = s.pw = 0;
    if (s.oh == 1 && s.ow == 1) {
      s.kind = StepKind::kGlobalAvgPool;
    } else if (s.h % s.oh == 0 && s.w % s.ow == 0) {
      s.kind = StepKind::kAvgPool;
      s.kh = s.sh = s.h / s.oh;
      s.kw = s.sw = s.w / s.ow;
    }
    return s;
  }

  Status EmitConv(int i) {
    const GraphNode& node = g_.node(i);
    const NodeWeights& w = wg_.weights[i];
    Step s = Base(StepKind::kConv, i);
    const int groups = node.groups;
    const int icg = s.c / groups, ocg = s.oc / groups;
    const int64_t taps = static_cast<int64_t>(s.kh) * s.kw;
    if (w.weight.size() != static_cast<size_t>(s.oc * icg * taps)) return WeightError(i);
    // A folded batch-norm scales each output channel's weights and moves its bias:
    // w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps).
    std::vector<float> scale(s.oc, 1.0f), bias(s.oc, 0.0f);
    for (int o = 0; o < s.oc; ++o) bias[o] = w.bias.empty() ? 0.0f : w.bias[o];
    if (folded_bn_[i] >= 0) {
      const GraphNode& bn_node = g_.node(folded_bn_[i]);
      const NodeWeights& bn = wg_.weights[folded_bn_[i]];
      const size_t c = s.oc;
      if (bn.weight.size() != c || bn.bias.size() != c || bn.mean.size() != c ||
          bn.var.size() != c) {
        return WeightError(folded_bn_[i]);
      }
      for (int o = 0; o < s.oc; ++o) {
        const double f = bn.weight[o] / std::sqrt(static_cast<double>(bn.var[o]) + bn_node.eps);
        scale[o] = static_cast<float>(f);
        bias[o] = static_cast<float>((bias[o] - static_cast<double>(bn.mean[o])) * f + bn.bias[o]);
      }
    }
    const bool depthwise = groups > 1 && groups == s.c && s.oc == s.c;
    // Dilation does not matter to a 1x1 kernel.
    const bool pointwise =
        !depthwise && s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
    if (s.kh == 1) s.dh = 1;
    if (s.kw == 1) s.dw = 1;
    PackedParams p;
    if (depthwise) {
      s.kind = StepKind::kDepthwise;
      p.weight = w.weight;
      for (size_t k = 0; k < p.weight.size(); ++k) p.weight[k] *= scale[k / taps];
      p.bias = bias;
    } else {
      // [group][block][ICg][KH][KW][kOcBlock], zero past the group's last output channel.
      s.kind = pointwise ? StepKind::kConv1x1 : StepKind::kConv;
      const int nblk = (ocg + kOcBlock - 1) / kOcBlock;
      p.weight.assign(static_cast<size_t>(groups) * nblk * icg * taps * kOcBlock, 0.0f);
      p.bias.assign(static_cast<size_t>(groups) * nblk * kOcBlock, 0.0f);
      for (int g = 0; g < groups; ++g) {
        for (int o = 0; o < ocg; ++o) {
          const int oc = g * ocg + o;
          const size_t blk = static_cast<size_t>(g) * nblk + o / kOcBlock;
          for (int64_t k = 0; k < icg * taps; ++k) {
            p.weight[(blk * icg * taps + k) * kOcBlock + o % kOcBlock] =
                w.weight[static_cast<size_t>(oc) * icg * taps + k] * scale[oc];
          }
          p.bias[blk * kOcBlock + o % kOcBlock] = bias[oc];
        }
      }
    }
    s.params = AddParams(std::move(p));
    if (s.kind == StepKind::kConv && (s.ph > 0 || s.pw > 0)) {
      Step pad = Base(StepKind::kPad, i);
      pad.act = Act::kNone;
      pad.params = -1;
      pad.oc = s.c, pad.oh = s.h + 2 * s.ph, pad.ow = s.w + 2 * s.pw;
      const int64_t e = static_cast<int64_t>(pad.oc) * pad.oh * pad.ow;
      pad.out = View{NewBuffer(e), 0, e};
      steps().push_back(pad);
      s.in = pad.out;
      s.h = pad.oh, s.w = pad.ow;
    }
    steps().push_back(s);
    return Status::Ok();
  }

  Status WeightError(int i) const {
    return Status::InvalidArgument("model '" + g_.name() + "', node " + std::to_string(i) +
                                   ": weights do not match the node's shape");
  }

  // Lifetimes in step order (the input is written before step 0, the output read after the
  // last); a logical buffer reuses a physical one whose last use came before its first.
  void ShareBuffers() {
    const int nl = static_cast<int>(plan_.logical_elems.size());
    const int ns = static_cast<int>(plan_.steps.size());
    std::vector<int> first(nl, INT_MAX), last(nl, -2);
    auto touch = [&](const View& v, int s) {
      if (v.buffer < 0) return;
      first[v.buffer] = std::min(first[v.buffer], s);
      last[v.buffer] = std::max(last[v.buffer], s);
    };
    touch(plan_.input, -1);
    for (int s = 0; s < ns; ++s) {
      touch(plan_.steps[s].in, s);
      touch(plan_.steps[s].in2, s);
      touch(plan_.steps[s].out, s);
    }
    touch(plan_.output, ns);
    std::vector<int> order(nl);
    for (int b = 0; b < nl; ++b) order[b] = b;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return first[a] < first[b]; });
    plan_.physical_of.assign(nl, -1);
    std::vector<int> busy_until;  // per physical buffer: last step of its current tenant
    for (int b : order) {
      if (last[b] < -1) continue;  // never used
      const int64_t need = plan_.logical_elems[b];
      int best = -1;
      for (int p = 0; p < static_cast<int>(busy_until.size()); ++p) {
        if (busy_until[p] >= first[b]) continue;
        const int64_t have = plan_.physical_elems[p];
        if (best < 0) {
          best = p;
          continue;
        }
        const int64_t best_have = plan_.physical_elems[best];
        // The smallest that fits; failing that, the largest (it grows the least).
        const bool fits = have >= need, best_fits = best_have >= need;
        if ((fits && (!best_fits || have < best_have)) ||
            (!fits && !best_fits && have > best_have)) {
          best = p;
        }
      }
      if (best < 0) {
        best = static_cast<int>(busy_until.size());
        busy_until.push_back(0);
        plan_.physical_elems.push_back(0);
      }
      plan_.physical_elems[best] = std::max(plan_.physical_elems[best], need);
      busy_until[best] = last[b];
      plan_.physical_of[b] = best;
    }
  }

  std::vector<Step>& steps() { return plan_.steps; }

  const WeightedGraph& wg_;
  const Graph& g_;
  Plan plan_;
  std::vector<int> root_;       // the node whose kernel writes each node's output
  std::vector<Act> act_;        // activation fused into each computing node
  std::vector<int> folded_bn_;  // per convolution: the batch-norm folded into it, or -1
  std::vector<View> view_;      // where each node's output lives
};

}  // namespace

Result<Plan> BuildPlan(const WeightedGraph& graph) {
  if (!graph.graph.finalized()) {
    return Status::InvalidArgument("model '" + graph.graph.name() + "': graph is not finalized");
  }
  RETURN_IF_ERROR(CheckGraph(graph.graph));
  if (graph.weights.size() != graph.graph.nodes().size()) {
    return Status::InvalidArgument(
        "model '" + graph.graph.name() + "': " + std::to_string(graph.weights.size()) +
        " weight sets for " + std::to_string(graph.graph.nodes().size()) + " nodes");
  }
  return Lowering(graph).Run();
}

}  // namespace autoscale::opencl
