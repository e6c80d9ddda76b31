// The OpenCL target on the ops that imported networks bring (issue 11): hardswish, hardsigmoid,
// sigmoid and silu (fused and standalone), dilated convolutions (general, grouped, depthwise),
// element-wise and per-channel mul, adaptive average pooling, channel shuffle and channel slice,
// and the blocks they make (MobileNet v3's squeeze-and-excitation, ShuffleNet v2's units).
//
// Each small graph (seeded weights, seeded inputs) is checked against a plain C++ reference
// below (double accumulators, written from graph.h's definitions, no shared code with the
// kernels) and, when the build has libtorch, against TorchGraph too. Tolerance as in
// opencl_target_test.cc: max |diff| <= 1e-4 * max |ref| + 1e-5. Some ops are also checked
// against hand-computed values. Tests that need a device skip when the host has none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "targets/opencl/opencl_target.h"
#include "targets/opencl/plan.h"
#include "zoo/graph.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/torch_model.h"
#endif

namespace autoscale {
namespace {

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

OpenClTarget& Target() {
  static OpenClTarget* t = OpenClTarget::Create(OpenClOptions{}).release();
  return *t;
}

#define REQUIRE_DEVICE()                                                               \
  if (!Target().available()) {                                                         \
    GTEST_SKIP() << "no OpenCL device: " << Target().description().unavailable_reason; \
  }

ModelSpec Spec(Graph g) {
  const Status st = g.Finalize();
  EXPECT_TRUE(st.ok()) << st.ToString();
  Result<WeightedGraph> wg = PrepareForInference(g);
  EXPECT_TRUE(wg.ok()) << wg.status().ToString();
  ModelSpec m;
  m.name = g.name();
  m.input_shape = g.input_shape();
  m.graph = std::make_shared<const WeightedGraph>(std::move(wg).value());
  return m;
}

// As an importer delivers a graph: its own weights, batch-norms not folded.
ModelSpec Unfolded(Graph g) {
  const Status st = g.Finalize();
  EXPECT_TRUE(st.ok()) << st.ToString();
  ModelSpec m;
  m.name = g.name();
  m.input_shape = g.input_shape();
  std::vector<NodeWeights> w = MakeWeights(g);
  m.graph = std::make_shared<const WeightedGraph>(WeightedGraph{std::move(g), std::move(w)});
  return m;
}

int DilatedConv(Graph& g, int in, int oc, int k, int stride, int pad, int dil_h, int dil_w,
                int groups = 1, bool bias = true) {
  const int c = g.Conv(in, oc, k, k, stride, stride, pad, pad, groups, bias);
  g.mutable_node(c).dilation_h = dil_h;
  g.mutable_node(c).dilation_w = dil_w;
  return c;
}

// ---- The plain C++ reference --------------------------------------------------------------------

double Activate(OpType op, double x) {
  const double r6 = std::min(std::max(x + 3, 0.0), 6.0);
  switch (op) {
    case OpType::kRelu:
      return std::max(x, 0.0);
    case OpType::kRelu6:
      return std::min(std::max(x, 0.0), 6.0);
    case OpType::kHardswish:
      return x * r6 / 6;
    case OpType::kHardsigmoid:
      return r6 / 6;
    case OpType::kSigmoid:
      return 1 / (1 + std::exp(-x));
    case OpType::kSilu:
      return x / (1 + std::exp(-x));
    default:
      ADD_FAILURE() << "not an activation: " << OpTypeName(op);
      return 0;
  }
}

// One batch element through the graph. Covers the ops these tests use.
std::vector<double> RefOne(const WeightedGraph& wg, const float* input) {
  const Graph& g = wg.graph;
  const int n = static_cast<int>(g.nodes().size());
  std::vector<std::vector<double>> t(n);
  t[0].assign(input, input + NumElements(g.input_shape()));
  for (int i = 1; i < n; ++i) {
    const GraphNode& node = g.node(i);
    const NodeWeights& w = wg.weights[i];
    const std::vector<double>& x = t[node.inputs[0]];
    const std::vector<int64_t>& xs = g.node(node.inputs[0]).out_shape;
    const std::vector<int64_t>& ys = node.out_shape;
    std::vector<double>& y = t[i];
    y.assign(NumElements(ys), 0.0);
    const int64_t C = xs[0], H = xs.size() == 3 ? xs[1] : 1, W = xs.size() == 3 ? xs[2] : 1;
    const int64_t OH = ys.size() == 3 ? ys[1] : 1, OW = ys.size() == 3 ? ys[2] : 1;
    switch (node.op) {
      case OpType::kConv: {
        const int64_t OC = ys[0], icg = C / node.groups, ocg = OC / node.groups;
        const int kh = node.kernel_h, kw = node.kernel_w;
        for (int64_t oc = 0; oc < OC; ++oc) {
          const int64_t grp = oc / ocg;
          for (int64_t oy = 0; oy < OH; ++oy) {
            for (int64_t ox = 0; ox < OW; ++ox) {
              double s = w.bias.empty() ? 0.0 : w.bias[oc];
              for (int64_t ic = 0; ic < icg; ++ic) {
                for (int ky = 0; ky < kh; ++ky) {
                  const int64_t iy = oy * node.stride_h - node.pad_h + ky * node.dilation_h;
                  if (iy < 0 || iy >= H) continue;
                  for (int kx = 0; kx < kw; ++kx) {
                    const int64_t ix = ox * node.stride_w - node.pad_w + kx * node.dilation_w;
                    if (ix < 0 || ix >= W) continue;
                    s += static_cast<double>(w.weight[((oc * icg + ic) * kh + ky) * kw + kx]) *
                         x[((grp * icg + ic) * H + iy) * W + ix];
                  }
                }
              }
              y[(oc * OH + oy) * OW + ox] = s;
            }
          }
        }
        break;
      }
      case OpType::kBatchNorm:
        for (int64_t c = 0; c < C; ++c) {
          const double scale = w.weight[c] / std::sqrt(static_cast<double>(w.var[c]) + node.eps);
          for (int64_t p = 0; p < H * W; ++p) {
            y[c * H * W + p] = (x[c * H * W + p] - w.mean[c]) * scale + w.bias[c];
          }
        }
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kHardswish:
      case OpType::kHardsigmoid:
      case OpType::kSigmoid:
      case OpType::kSilu:
        for (size_t k = 0; k < y.size(); ++k) y[k] = Activate(node.op, x[k]);
        break;
      case OpType::kAdd:
      case OpType::kMul: {
        const std::vector<double>& b = t[node.inputs[1]];
        const int64_t per = static_cast<int64_t>(y.size() / b.size());  // 1, or H * W
        for (size_t k = 0; k < y.size(); ++k) {
          const double v = b[k / per];
          y[k] = node.op == OpType::kAdd ? x[k] + v : x[k] * v;
        }
        break;
      }
      case OpType::kConcat: {
        y.clear();
        for (int in : node.inputs) y.insert(y.end(), t[in].begin(), t[in].end());
        break;
      }
      case OpType::kGlobalAvgPool:
      case OpType::kAdaptiveAvgPool:
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t oy = 0; oy < OH; ++oy) {
            for (int64_t ox = 0; ox < OW; ++ox) {
              const int64_t y0 = oy * H / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
              const int64_t x0 = ox * W / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
              double s = 0;
              for (int64_t iy = y0; iy < y1; ++iy) {
                for (int64_t ix = x0; ix < x1; ++ix) s += x[(c * H + iy) * W + ix];
              }
              y[(c * OH + oy) * OW + ox] = s / static_cast<double>((y1 - y0) * (x1 - x0));
            }
          }
        }
        break;
      case OpType::kFlatten:
        y = x;
        break;
      case OpType::kLinear: {
        const int64_t in = static_cast<int64_t>(x.size());
        for (int64_t o = 0; o < ys[0]; ++o) {
          double s = w.bias[o];
          for (int64_t k = 0; k < in; ++k) s += static_cast<double>(w.weight[o * in + k]) * x[k];
          y[o] = s;
        }
        break;
      }
      case OpType::kChannelShuffle: {
        const int64_t groups = node.groups, per = C / groups;
        for (int64_t gi = 0; gi < groups; ++gi) {
          for (int64_t k = 0; k < per; ++k) {
            std::copy_n(x.begin() + (gi * per + k) * H * W, H * W,
                        y.begin() + (k * groups + gi) * H * W);
          }
        }
        break;
      }
      case OpType::kChannelSlice:
        std::copy_n(x.begin() + node.slice_begin * H * W, y.size(), y.begin());
        break;
      default:
        ADD_FAILURE() << "the reference lacks " << OpTypeName(node.op);
        break;
    }
  }
  return t[n - 1];
}

std::vector<double> Reference(const WeightedGraph& wg, const HostTensor& in) {
  const int64_t per = NumElements(wg.graph.input_shape());
  std::vector<double> out;
  for (int64_t b = 0; b < in.shape[0]; ++b) {
    const std::vector<double> one = RefOne(wg, in.data.data() + b * per);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

struct Diff {
  double max_abs_diff = 0, max_abs_ref = 0;
  bool ok() const { return max_abs_diff <= kRelTol * max_abs_ref + kAbsTol; }
  double relative() const { return max_abs_diff / std::max(max_abs_ref, 1e-30); }
};

template <typename Ref>
Diff Compare(const std::vector<float>& got, const Ref* want, size_t n) {
  EXPECT_EQ(got.size(), n);
  Diff d;
  for (size_t i = 0; i < n && i < got.size(); ++i) {
    d.max_abs_diff = std::max(d.max_abs_diff, std::fabs(got[i] - static_cast<double>(want[i])));
    d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(static_cast<double>(want[i])));
  }
  return d;
}

// Runs `m` on OpenCL and compares it with the plain reference and, where built, TorchGraph.
void ExpectMatches(const ModelSpec& m, int batch) {
  const HostTensor in = MakeHostInput(m, 7, batch);
  Result<InferenceResult> r = Target().Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << m.name << ": " << r.status().ToString();
  std::vector<int64_t> shape = {batch};
  for (int64_t d : m.graph->graph.node(m.graph->graph.output()).out_shape) shape.push_back(d);
  EXPECT_EQ(r->output.shape, shape) << m.name;
  const std::vector<double> want = Reference(*m.graph, in);
  const Diff d = Compare(r->output.data, want.data(), want.size());
  EXPECT_TRUE(d.ok()) << m.name << ": max |diff| " << d.max_abs_diff << " vs the C++ reference, "
                      << "max |ref| " << d.max_abs_ref;
  std::printf("[ numerics ] %-22s batch %d: vs C++ reference max |diff| %.3g (%.2g relative)",
              m.name.c_str(), batch, d.max_abs_diff, d.relative());
#if AUTOSCALE_HAVE_TORCH
  try {
    const TorchGraph ref(*m.graph);
    torch::NoGradGuard no_grad;
    const torch::Tensor t = ref.Forward(WrapFloat(in.data.data(), in.shape)).contiguous();
    const Diff dt = Compare(r->output.data, t.data_ptr<float>(), static_cast<size_t>(t.numel()));
    EXPECT_TRUE(dt.ok()) << m.name << ": max |diff| " << dt.max_abs_diff << " vs TorchGraph, "
                         << "max |ref| " << dt.max_abs_ref;
    std::printf(", vs TorchGraph %.3g (%.2g relative)", dt.max_abs_diff, dt.relative());
  } catch (const std::exception& e) {
    // TorchGraph gains the imported ops separately; the C++ reference above still decides.
    std::printf(", TorchGraph cannot run it (%.80s)", e.what());
  }
#endif
  std::printf("\n");
}

int CountSteps(const ModelSpec& m, opencl::StepKind kind) {
  Result<opencl::Plan> plan = opencl::BuildPlan(*m.graph);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return -1;
  int k = 0;
  for (const opencl::Step& s : plan->steps) k += s.kind == kind;
  return k;
}

// ---- Planning (no device needed) ----------------------------------------------------------------

TEST(OpenClImportedPlan, FusesEveryActivationIntoItsProducer) {
  for (OpType act : {OpType::kRelu, OpType::kRelu6, OpType::kHardswish, OpType::kHardsigmoid,
                     OpType::kSigmoid, OpType::kSilu}) {
    Graph g(std::string("fuse_") + OpTypeName(act), {4, 6, 6});
    int x = g.Unary(act, g.Conv(0, 8, 3, 1, 1));
    x = g.Unary(act, g.AddOp(x, x));
    x = g.Unary(act, g.Mul(x, g.Unary(act, g.Conv(g.GlobalAvgPool(x), 8, 1, 1, 0, 1, true))));
    x = g.Unary(act, g.Linear(g.Flatten(g.GlobalAvgPool(x)), 5));
    const ModelSpec m = Spec(g);
    EXPECT_EQ(CountSteps(m, opencl::StepKind::kActivation), 0) << OpTypeName(act);
    Result<opencl::Plan> plan = opencl::BuildPlan(*m.graph);
    ASSERT_TRUE(plan.ok());
    for (const opencl::Step& s : plan->steps) {
      if (s.kind != opencl::StepKind::kPad && s.kind != opencl::StepKind::kGlobalAvgPool) {
        EXPECT_EQ(s.act, opencl::ActOf(act)) << OpTypeName(act) << " step " << s.node;
      }
    }
  }
}

TEST(OpenClImportedPlan, ViewsCostNoStep) {
  Graph g("views", {8, 7, 7});
  const int a = g.AdaptiveAvgPool(0, 7, 7);  // its input's size: a view
  const int s = g.ChannelShuffle(a, 8);      // one channel per group: moves nothing
  const int lo = g.ChannelSlice(s, 0, 4), hi = g.ChannelSlice(s, 4, 8);
  g.AddOp(g.ChannelShuffle(lo, 1), hi);
  const ModelSpec m = Spec(g);
  Result<opencl::Plan> plan = opencl::BuildPlan(*m.graph);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  const opencl::Step& add = plan->steps[0];
  EXPECT_EQ(add.kind, opencl::StepKind::kAdd);
  EXPECT_EQ(add.in.buffer, plan->input.buffer);
  EXPECT_EQ(add.in.offset, 0);
  EXPECT_EQ(add.in2.buffer, plan->input.buffer);
  EXPECT_EQ(add.in2.offset, 4 * 49);
  EXPECT_EQ(add.in2.batch_stride, 8 * 49);
}

TEST(OpenClImportedPlan, AdaptivePoolsWithEvenWindowsArePlainPools) {
  Graph g("adaptive_kinds", {3, 14, 12});
  const int even = g.AdaptiveAvgPool(0, 7, 6);
  const int uneven = g.AdaptiveAvgPool(g.AdaptiveAvgPool(0, 5, 5), 7, 6);
  g.AdaptiveAvgPool(g.Concat({even, uneven}), 1, 1);
  const ModelSpec m = Spec(g);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kAvgPool), 1);          // 14x12 -> 7x6
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kAdaptiveAvgPool), 2);  // -> 5x5, 5x5 -> 7x6
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kGlobalAvgPool), 1);    // -> 1x1
}

TEST(OpenClImportedTarget, TorchScriptWithoutGraphNamesWhatDidNotMap) {
  ModelSpec ts;
  ts.name = "custom_net";
  ts.torchscript_path = "/tmp/custom_net.pt";
  ts.input_shape = {3, 8, 8};
  ts.unmapped = {"aten::grid_sampler", "aten::einsum"};
  const Status s = Target().Supports(ts, Precision::kFp32);
  if (!Target().available()) {
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    return;
  }
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'custom_net' is a TorchScript model without one (its import could "
                             "not map: aten::grid_sampler, aten::einsum)"),
            std::string::npos)
      << s.ToString();
}

TEST(OpenClImportedPlan, GraphErrorsNameEveryOpTheTargetCannotRun) {
  Graph g("mixed", {6, 10});
  g.Linear(g.Unary(OpType::kHardswish, g.Lstm(0, 8, 0, false)), 3);
  ASSERT_TRUE(g.Finalize().ok());
  const Status s = opencl::CheckGraph(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("mixed has an lstm layer (node 1, "), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("ops it cannot run: lstm"), std::string::npos) << s.ToString();
}

// ---- Numerics ---------------------------------------------------------------------------------

TEST(OpenClImportedOps, ActivationsFusedAndStandalone) {
  REQUIRE_DEVICE();
  for (OpType act : {OpType::kHardswish, OpType::kHardsigmoid, OpType::kSigmoid, OpType::kSilu}) {
    Graph g(std::string("act_") + OpTypeName(act), {5, 9, 11});
    int c = g.Conv(0, 12, 3, 1, 1, 1, true);
    // Nine times the convolution: values well past +-3, where the hard* activations saturate.
    for (int k = 0; k < 2; ++k) c = g.AddOp(g.AddOp(c, c), c);
    const int fused = g.Unary(act, g.Conv(c, 12, 1, 1, 0, 1, true));
    const int standalone = g.Unary(act, c);  // c has other consumers: its own kernel
    const int sum = g.Unary(act, g.AddOp(fused, standalone));
    const int bn = g.Unary(act, g.BatchNorm(g.AddOp(sum, c)));  // standalone batch-norm
    int x = g.Concat({bn, c});
    x = g.Unary(act, g.Linear(g.Flatten(g.GlobalAvgPool(x)), 13));
    g.Unary(act, g.Unary(act, x));  // an activation of an activation: standalone, 1-D
    ExpectMatches(Spec(g), 2);
  }
}

TEST(OpenClImportedOps, DilatedConvolutions) {
  REQUIRE_DEVICE();
  Graph g("dilated", {6, 23, 21});
  int x = DilatedConv(g, 0, 8, 3, 1, 2, 2, 2);  // same size
  x = g.Relu(x);
  x = DilatedConv(g, x, 10, 3, 2, 1, 2, 3);                    // stride 2, rectangular dilation
  x = DilatedConv(g, x, 10, 3, 1, 0, 2, 2, 2, false);          // grouped, no padding
  const int dw1 = DilatedConv(g, x, 10, 3, 1, 2, 2, 2, 10);    // depthwise
  const int dw2 = DilatedConv(g, dw1, 10, 3, 2, 3, 3, 3, 10);  // depthwise, stride 2
  const int dw3 = DilatedConv(g, dw2, 10, 5, 1, 4, 2, 2, 10);  // 5x5 depthwise, wider than tile
  DilatedConv(g, dw3, 7, 1, 1, 0, 4, 4);                       // 1x1: dilation is moot
  ExpectMatches(Spec(g), 2);

  Graph h("dilated_stride3", {4, 20, 25});
  x = DilatedConv(h, 0, 6, 3, 3, 2, 2, 1);  // stride 3: the strided-load kernel
  DilatedConv(h, x, 6, 3, 3, 3, 3, 2, 6);   // depthwise, stride 3
  ExpectMatches(Spec(h), 2);
}

TEST(OpenClImportedOps, DilatedDepthwiseAtEveryEdge) {
  REQUIRE_DEVICE();
  // Widths around the 8-pixel tile, so that vector loads overhang both edges.
  for (int w : {5, 8, 9, 17, 31}) {
    Graph g("dw_edges_" + std::to_string(w), {3, 7, w});
    g.Concat({DilatedConv(g, 0, 3, 3, 1, 2, 2, 2, 3), DilatedConv(g, 0, 3, 3, 1, 1, 1, 1, 3),
              DilatedConv(g, 0, 3, 3, 1, 3, 3, 3, 3)});
    ExpectMatches(Spec(g), 1);
  }
}

TEST(OpenClImportedOps, MulSameShapeAndPerChannel) {
  REQUIRE_DEVICE();
  Graph g("mul", {6, 10, 9});
  const int a = g.Conv(0, 6, 3, 1, 1, 1, true);
  const int same = g.Mul(a, 0);                                 // same shape
  const int s = g.Unary(OpType::kSigmoid, g.GlobalAvgPool(a));  // (6, 1, 1)
  const int scaled = g.Relu(g.Mul(same, s));                    // per channel, relu fused
  const int v = g.Flatten(g.GlobalAvgPool(scaled));
  g.Mul(g.Linear(v, 6), v);  // 1-D
  ExpectMatches(Spec(g), 3);

  // Hand-computed: channel c of a 2x2x3 input times (c + 1).
  Graph h("mul_by_hand", {2, 1, 3});
  h.Mul(0, h.AdaptiveAvgPool(0, 1, 1));
  const ModelSpec m = Spec(h);
  const HostTensor in{{1, 2, 1, 3}, {0, 1, 2, 3, 4, 5}};
  Result<InferenceResult> r = Target().Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.data, (std::vector<float>{0, 1, 2, 12, 16, 20}));  // means 1 and 4
}

TEST(OpenClImportedOps, AdaptiveAveragePooling) {
  REQUIRE_DEVICE();
  Graph g("adaptive", {5, 13, 11});
  const int a = g.AdaptiveAvgPool(0, 5, 3);    // uneven, overlapping windows
  const int b = g.AdaptiveAvgPool(0, 13, 11);  // identity
  const int c = g.AdaptiveAvgPool(b, 7, 7);    // overlapping in both directions
  const int d = g.AdaptiveAvgPool(c, 14, 9);   // upsampling (windows of one)
  const int e = g.AdaptiveAvgPool(d, 7, 3);    // even windows: a plain average pool
  g.Concat({g.AdaptiveAvgPool(a, 1, 1), g.AdaptiveAvgPool(e, 1, 1), g.GlobalAvgPool(c)});
  ExpectMatches(Spec(g), 2);

  // Hand-computed: a 1x1x5 row 0..4 to 3 outputs: windows [0,2), [1,4), [3,5).
  Graph h("adaptive_by_hand", {1, 1, 5});
  h.AdaptiveAvgPool(0, 1, 3);
  const HostTensor in{{1, 1, 1, 5}, {0, 1, 2, 3, 4}};
  Result<InferenceResult> r = Target().Run(Spec(h), Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.data, (std::vector<float>{0.5f, 2.0f, 3.5f}));
}

TEST(OpenClImportedOps, ChannelShuffleAndSlice) {
  REQUIRE_DEVICE();
  // Hand-computed: 6 channels of 1x2, value 10 * channel + pixel; 3 groups of 2.
  Graph h("shuffle_by_hand", {6, 1, 2});
  const int sh = h.ChannelShuffle(0, 3);
  h.Concat({h.ChannelSlice(sh, 4, 6), h.ChannelSlice(sh, 0, 2)});
  const ModelSpec m = Spec(h);
  HostTensor in{{1, 6, 1, 2}, {}};
  for (int c = 0; c < 6; ++c) {
    for (int p = 0; p < 2; ++p) in.data.push_back(static_cast<float>(10 * c + p));
  }
  Result<InferenceResult> r = Target().Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Shuffled order: channels 0, 2, 4, 1, 3, 5. Slices [4, 6) then [0, 2): 3, 5, 0, 2.
  EXPECT_EQ(r->output.data, (std::vector<float>{30, 31, 50, 51, 0, 1, 20, 21}));

  Graph g("shuffle_slice", {12, 9, 10});
  const int s = g.ChannelShuffle(g.Conv(0, 12, 1, 1, 0, 1, true), 4);
  const int lo = g.ChannelSlice(s, 0, 5), hi = g.ChannelSlice(s, 5, 12);
  const int x = g.Concat({g.Relu(g.Conv(hi, 7, 3, 1, 1)), lo});  // a slice copied into a concat
  g.ChannelSlice(g.ChannelShuffle(x, 3), 2, 11);                 // a slice as the output
  ExpectMatches(Spec(g), 3);
}

TEST(OpenClImportedOps, BatchNormsOfAnImportedGraphAreFolded) {
  REQUIRE_DEVICE();
  Graph g("unfolded", {8, 12, 13});
  int x = g.Unary(OpType::kHardswish, g.BatchNorm(g.Conv(0, 16, 3, 2, 1, 1, true)));
  x = g.Relu6(g.BatchNorm(g.Conv(x, 16, 3, 1, 1, 16)));           // depthwise
  x = g.BatchNorm(g.Conv(x, 12, 3, 1, 1, 4));                     // grouped, no activation
  x = g.Relu(g.BatchNorm(DilatedConv(g, x, 12, 3, 1, 2, 2, 2)));  // dilated, with a bias
  const int shared = g.Conv(x, 12, 1);
  const int bn = g.Unary(OpType::kSilu, g.BatchNorm(shared));  // its conv has two consumers
  g.AddOp(bn, shared);
  const ModelSpec m = Unfolded(g);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kBatchNorm), 1);  // the shared one's
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kActivation), 0);
  ExpectMatches(m, 2);
}

// MobileNet v3's inverted residual with squeeze-and-excitation, as torchvision builds it:
// expand (conv, bn, hardswish), depthwise (conv, bn, hardswish), SE (adaptive pool to 1x1,
// fc1 + relu, fc2 + hardsigmoid, scale), project (conv, bn), residual add. Then its head.
TEST(OpenClImportedOps, SqueezeExcitationBlock) {
  REQUIRE_DEVICE();
  Graph g("se_block", {16, 14, 14});
  int x = g.Unary(OpType::kHardswish, g.BatchNorm(g.Conv(0, 48, 1)));
  x = g.Unary(OpType::kHardswish, g.BatchNorm(g.Conv(x, 48, 5, 1, 2, 48)));
  int s = g.AdaptiveAvgPool(x, 1, 1);
  s = g.Relu(g.Conv(s, 16, 1, 1, 0, 1, true));
  s = g.Unary(OpType::kHardsigmoid, g.Conv(s, 48, 1, 1, 0, 1, true));
  x = g.Mul(x, s);
  x = g.BatchNorm(g.Conv(x, 16, 1));
  x = g.AddOp(x, 0);
  x = g.Unary(OpType::kHardswish, g.BatchNorm(g.Conv(x, 96, 1)));
  x = g.Flatten(g.AdaptiveAvgPool(x, 1, 1));
  x = g.Unary(OpType::kHardswish, g.Linear(x, 64));
  g.Linear(x, 10);
  const ModelSpec m = Spec(g);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kActivation), 0);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kScaleChannels), 1);
  ExpectMatches(m, 2);
}

// ShuffleNet v2's units as torchvision builds them: the downsampling one (both branches see the
// input) and the basic one (chunk in two, one half through the branch, concat, shuffle).
TEST(OpenClImportedOps, ShuffleNetUnits) {
  REQUIRE_DEVICE();
  Graph g("shufflenet_units", {24, 16, 16});
  auto branch = [&](int in, int c, int stride) {
    int b = g.Relu(g.BatchNorm(g.Conv(in, c, 1)));
    b = g.BatchNorm(g.Conv(b, c, 3, stride, 1, c));
    return g.Relu(g.BatchNorm(g.Conv(b, c, 1)));
  };
  // Downsampling: branch1 = depthwise s2 + bn, 1x1 + bn + relu; branch2 as above with stride 2.
  int b1 = g.BatchNorm(g.Conv(0, 24, 3, 2, 1, 24));
  b1 = g.Relu(g.BatchNorm(g.Conv(b1, 58, 1)));
  int x = g.ChannelShuffle(g.Concat({b1, branch(0, 58, 2)}), 2);
  for (int unit = 0; unit < 2; ++unit) {
    const int x1 = g.ChannelSlice(x, 0, 58), x2 = g.ChannelSlice(x, 58, 116);
    x = g.ChannelShuffle(g.Concat({x1, branch(x2, 58, 1)}), 2);
  }
  x = g.Relu(g.BatchNorm(g.Conv(x, 128, 1)));
  x = g.Flatten(g.GlobalAvgPool(x));
  g.Linear(x, 10);
  const ModelSpec m = Spec(g);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kChannelShuffle), 3);
  EXPECT_EQ(CountSteps(m, opencl::StepKind::kCopy), 2);  // x1 into each basic unit's concat
  ExpectMatches(m, 2);
}

}  // namespace
}  // namespace autoscale
