// The OpenCL target against the libtorch CPU reference (TorchGraph), op by op on small graphs and
// model by model on the zoo, plus its failure modes (no device, fp16 not offered, lstm graphs,
// bad inputs). Tests that need a device skip when the host has none.
//
// Tolerance: max |opencl - torch| <= 1e-4 * max |torch| + 1e-5 per output tensor. Both sides
// compute in FP32 but sum in different orders (the kernels accumulate 8-lane vectors channel by
// channel, oneDNN blocks differently), so each dot product differs by a few ulps times the
// square root of its length, compounded over up to ~100 layers: the worst case measured over
// the zoo is 2.4e-6 relative (MobileNet v2), 40x inside the bound. An indexing, padding or
// divisor bug moves outputs by a good fraction of max |ref|, far outside it; the absolute 1e-5
// covers outputs whose largest value is near zero.
#include "targets/opencl/opencl_target.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "targets/opencl/cl_util.h"
#include "targets/opencl/plan.h"
#include "zoo/zoo.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/torch_model.h"
#endif

namespace autoscale {
namespace {

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

OpenClTarget& Shared() {
  static OpenClTarget* t = [] {
    OpenClOptions o;
    o.power.level_power_mw = {2000};
    o.power.base_power_mw = 500;
    o.power.source = "test";
    return OpenClTarget::Create(o).release();
  }();
  return *t;
}

#define REQUIRE_DEVICE()                                                               \
  if (!Shared().available()) {                                                         \
    GTEST_SKIP() << "no OpenCL device: " << Shared().description().unavailable_reason; \
  }

ModelSpec Spec(const Graph& g) {
  Result<WeightedGraph> wg = PrepareForInference(g);
  EXPECT_TRUE(wg.ok()) << wg.status().ToString();
  ModelSpec m;
  m.name = g.name();
  m.graph = std::make_shared<const WeightedGraph>(std::move(wg).value());
  m.input_shape = g.input_shape();
  return m;
}

ModelSpec ZooSpec(const std::string& name) {
  Result<Graph> g = BuildZooModel(name);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return Spec(*g);
}

// Seed 7 throughout, as the numerics were first checked with.
HostTensor Input(const ModelSpec& m, int batch) { return MakeHostInput(m, 7, batch); }

// ---- Failure modes (no device needed) --------------------------------------------------------

TEST(OpenClTarget, MissingDeviceIsUnavailableNotACrash) {
  OpenClOptions o;
  o.device_index = 99;
  auto t = OpenClTarget::Create(o);
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->available());
  EXPECT_FALSE(t->description().unavailable_reason.empty());
  if (Shared().available()) {
    EXPECT_NE(t->description().unavailable_reason.find("device index 99 does not exist"),
              std::string::npos)
        << t->description().unavailable_reason;
  }
  const ModelSpec m = ZooSpec("squeezenet_1_1");
  EXPECT_EQ(t->Supports(m, Precision::kFp32).code(), StatusCode::kUnavailable);
  EXPECT_EQ(t->Prepare(m, Precision::kFp32).code(), StatusCode::kUnavailable);
  EXPECT_EQ(t->Run(m, Precision::kFp32, 0, Input(m, 1)).status().code(), StatusCode::kUnavailable);

  OpenClOptions p;
  p.platform_index = 42;
  auto t2 = OpenClTarget::Create(p);
  EXPECT_FALSE(t2->available());
  EXPECT_EQ(t2->Supports(m, Precision::kFp32).code(), StatusCode::kUnavailable);
}

TEST(OpenClTarget, HalfConversionRoundsToNearestEven) {
  using opencl::FloatToHalf;
  using opencl::HalfToFloat;
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);               // halfway to 65536: rounds to Inf
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // halfway to it: ties to even
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie, even stays
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (float f : {0.1f, -3.75f, 1e-5f, 1000.5f, 6.1e-5f}) {
    // Half a unit in the last place: 2^-11 relative, 2^-25 absolute for subnormals.
    EXPECT_NEAR(HalfToFloat(FloatToHalf(f)), f,
                std::max(std::fabs(f) * std::ldexp(1.0f, -11), std::ldexp(1.0f, -25)))
        << f;
  }
}

// ---- Planning (no device needed) -------------------------------------------------------------

TEST(OpenClPlan, FusesActivationsAndWritesConcatBranchesInPlace) {
  for (const char* name : {"squeezenet_1_1", "inception_v1", "inception_v3"}) {
    const ModelSpec m = ZooSpec(name);
    Result<opencl::Plan> plan = opencl::BuildPlan(*m.graph);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    for (const opencl::Step& s : plan->steps) {
      EXPECT_NE(s.kind, opencl::StepKind::kCopy) << name << " node " << s.node;
      EXPECT_NE(s.kind, opencl::StepKind::kActivation) << name << " node " << s.node;
    }
    int64_t logical = 0, physical = 0;
    for (int64_t e : plan->logical_elems) logical += e;
    for (int64_t e : plan->physical_elems) physical += e;
    EXPECT_LT(physical * 2, logical) << name << ": buffers are shared";
  }
}

TEST(OpenClPlan, CopiesConcatInputsThatCannotBePlaced) {
  Graph g("concat_copies", {3, 5, 6});
  const int a = g.Conv(0, 4, 3, 1, 1);
  g.Concat({0, a, a});  // the graph input, and one tensor twice
  ASSERT_TRUE(g.Finalize().ok());
  const ModelSpec m = Spec(g);
  Result<opencl::Plan> plan = opencl::BuildPlan(*m.graph);
  ASSERT_TRUE(plan.ok());
  int copies = 0;
  for (const opencl::Step& s : plan->steps) copies += s.kind == opencl::StepKind::kCopy;
  EXPECT_EQ(copies, 2);  // the input, and the second use of `a` (the first is written in place)
  EXPECT_EQ(plan->steps.size(), 4u);  // pad, conv, two copies
}

TEST(OpenClPlan, RejectsLstm) {
  const ModelSpec m = ZooSpec("kws_lstm");
  const Status s = opencl::BuildPlan(*m.graph).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

// ---- Capabilities and argument checks ---------------------------------------------------------

TEST(OpenClTarget, DescribesItself) {
  REQUIRE_DEVICE();
  const TargetDescription& d = Shared().description();
  EXPECT_EQ(d.name, "opencl");
  EXPECT_EQ(d.kind, TargetKind::kGpu);
  EXPECT_EQ(d.levels, 1);
  ASSERT_FALSE(d.precisions.empty());
  EXPECT_EQ(d.precisions[0], Precision::kFp32);
  EXPECT_FALSE(d.device.empty());
  EXPECT_NE(d.notes.find("modelled"), std::string::npos);
}

TEST(OpenClTarget, Fp16NeedsClKhrFp16) {
  REQUIRE_DEVICE();
  const ModelSpec m = ZooSpec("mobilenet_v1");
  const TargetDescription& d = Shared().description();
  const bool offers_fp16 =
      std::find(d.precisions.begin(), d.precisions.end(), Precision::kFp16) != d.precisions.end();
  const Status s = Shared().Supports(m, Precision::kFp16);
  if (offers_fp16) {
    EXPECT_TRUE(s.ok()) << s.ToString();
  } else {
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_NE(s.message().find("does not report cl_khr_fp16"), std::string::npos) << s.ToString();
    EXPECT_EQ(Shared().Run(m, Precision::kFp16, 0, Input(m, 1)).status().code(),
              StatusCode::kUnavailable);
  }
  OpenClOptions o;
  o.allow_fp16 = false;
  auto t = OpenClTarget::Create(o);
  EXPECT_EQ(t->Supports(m, Precision::kFp16).code(), StatusCode::kUnavailable);
  EXPECT_EQ(t->Supports(m, Precision::kInt8).code(), StatusCode::kUnavailable);
}

TEST(OpenClTarget, RejectsLstmGraphsAndTorchScript) {
  REQUIRE_DEVICE();
  const ModelSpec lstm = ZooSpec("kws_lstm");
  const Status s = Shared().Supports(lstm, Precision::kFp32);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("OpenCL target runs CNN graphs; kws_lstm has an lstm layer"),
            std::string::npos)
      << s.ToString();
  EXPECT_EQ(Shared().Run(lstm, Precision::kFp32, 0, Input(lstm, 1)).status().code(),
            StatusCode::kInvalidArgument);

  ModelSpec ts;
  ts.name = "scripted";
  ts.torchscript_path = "/tmp/model.pt";
  ts.input_shape = {3, 8, 8};
  EXPECT_EQ(Shared().Supports(ts, Precision::kFp32).code(), StatusCode::kInvalidArgument);
}

TEST(OpenClTarget, RejectsBadInputsAndLevels) {
  REQUIRE_DEVICE();
  const ModelSpec m = ZooSpec("squeezenet_1_1");
  HostTensor wrong;
  wrong.shape = {1, 3, 200, 224};
  wrong.data.assign(3 * 200 * 224, 0.0f);
  Result<InferenceResult> r = Shared().Run(m, Precision::kFp32, 0, wrong);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  HostTensor short_data = Input(m, 1);
  short_data.data.pop_back();
  EXPECT_EQ(Shared().Run(m, Precision::kFp32, 0, short_data).status().code(),
            StatusCode::kInvalidArgument);
  HostTensor no_batch = Input(m, 1);
  no_batch.shape = {3, 224, 224};
  EXPECT_EQ(Shared().Run(m, Precision::kFp32, 0, no_batch).status().code(),
            StatusCode::kInvalidArgument);
  ModelSpec inconsistent = m;  // a spec whose declared input disagrees with its graph
  inconsistent.input_shape = {3, 200, 224};
  EXPECT_EQ(Shared().Run(inconsistent, Precision::kFp32, 0, wrong).status().code(),
            StatusCode::kInvalidArgument);
  const Status level = Shared().Run(m, Precision::kFp32, 1, Input(m, 1)).status();
  EXPECT_EQ(level.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(level.message().find("one frequency level (0)"), std::string::npos);
}

// ---- Numerics -----------------------------------------------------------------------------------

// Hand-computed pooling results, independent of any reference library.
TEST(OpenClTarget, PoolingFollowsPyTorchWindows) {
  REQUIRE_DEVICE();
  // 1x5x5 input 0..24. Max pool k=2 s=2 ceil_mode: 3x3, the last row/column windows clipped.
  Graph g("pool_max", {1, 5, 5});
  g.MaxPool(0, 2, 2, 0, true);
  ASSERT_TRUE(g.Finalize().ok());
  const ModelSpec m = Spec(g);
  HostTensor in{{1, 1, 5, 5}, {}};
  for (int i = 0; i < 25; ++i) in.data.push_back(static_cast<float>(i));
  Result<InferenceResult> r = Shared().Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.shape, (std::vector<int64_t>{1, 1, 3, 3}));
  EXPECT_EQ(r->output.data, (std::vector<float>{6, 8, 9, 16, 18, 19, 21, 23, 24}));

  // Avg pool k=3 s=2 pad=1 ceil_mode on 1x4x4 of ones: windows clipped to the padded input
  // divide by their clipped size including padding (count_include_pad), so corners give 4/9.
  Graph a("pool_avg", {1, 4, 4});
  a.AvgPool(0, 3, 2, 1, true);
  ASSERT_TRUE(a.Finalize().ok());
  const ModelSpec ma = Spec(a);
  HostTensor ones{{1, 1, 4, 4}, std::vector<float>(16, 1.0f)};
  Result<InferenceResult> ra = Shared().Run(ma, Precision::kFp32, 0, ones);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  ASSERT_EQ(ra->output.shape, (std::vector<int64_t>{1, 1, 3, 3}));
  // Rows/columns: window starts -1, 1, 3; ends (clipped to H + pad = 5) 2, 4, 5.
  // Sizes 3, 3, 2; inside the input 2, 3, 1.
  const float e[3][3] = {
      {4 / 9.f, 6 / 9.f, 2 / 6.f}, {6 / 9.f, 9 / 9.f, 3 / 6.f}, {2 / 6.f, 3 / 6.f, 1 / 4.f}};
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 3; ++x) EXPECT_NEAR(ra->output.data[y * 3 + x], e[y][x], 1e-6);
  }
}

TEST(OpenClTarget, ReportsLatencyAndModelledEnergy) {
  REQUIRE_DEVICE();
  const ModelSpec m = ZooSpec("squeezenet_1_1");
  Result<InferenceResult> r = Shared().Run(m, Precision::kFp32, 0, Input(m, 1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->latency_ms, 0);
  EXPECT_FALSE(r->latency_modelled);
  EXPECT_EQ(r->energy_source, EnergySource::kModelled);
  EXPECT_NEAR(r->energy_mj, 2.5 * r->latency_ms, 1e-9);  // (2000 + 500) mW x ms / 1000
  EXPECT_EQ(r->output.shape, (std::vector<int64_t>{1, 1000}));
}

TEST(OpenClTarget, PreparedModelsStayIndependent) {
  REQUIRE_DEVICE();
  const ModelSpec a = ZooSpec("squeezenet_1_1");
  const ModelSpec b = ZooSpec("mobilenet_v1");
  ASSERT_TRUE(Shared().Prepare(a, Precision::kFp32).ok());
  ASSERT_TRUE(Shared().Prepare(a, Precision::kFp32).ok());  // idempotent
  Result<InferenceResult> first = Shared().Run(a, Precision::kFp32, 0, Input(a, 1));
  ASSERT_TRUE(Shared().Run(b, Precision::kFp32, 0, Input(b, 2)).ok());
  Result<InferenceResult> again = Shared().Run(a, Precision::kFp32, 0, Input(a, 1));
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->output.data, again->output.data);
}

TEST(OpenClTarget, ProfilesKernelsWhenAsked) {
  REQUIRE_DEVICE();
  OpenClOptions o;
  o.profile_kernels = true;
  auto t = OpenClTarget::Create(o);
  Graph g("profiled", {3, 16, 16});
  g.Relu(g.Conv(0, 8, 3, 1, 1));
  ASSERT_TRUE(g.Finalize().ok());
  const ModelSpec m = Spec(g);
  ASSERT_TRUE(t->Run(m, Precision::kFp32, 0, Input(m, 1)).ok());
  const auto profile = t->kernel_profile();
  ASSERT_TRUE(profile.count("conv2d_s1")) << "kernels: " << profile.size();
  EXPECT_EQ(profile.at("conv2d_s1").launches, 1);
  EXPECT_EQ(profile.at("pad2d").launches, 1);
  EXPECT_FALSE(profile.count("activation"));  // fused into the convolution
  t->ResetKernelProfile();
  EXPECT_TRUE(t->kernel_profile().empty());
  EXPECT_TRUE(Shared().kernel_profile().empty());  // not profiling
}

#if AUTOSCALE_HAVE_TORCH

struct Diff {
  double max_abs_diff = 0, max_abs_ref = 0;
  bool ok() const { return max_abs_diff <= kRelTol * max_abs_ref + kAbsTol; }
};

Diff Compare(const std::vector<float>& got, const torch::Tensor& ref) {
  const torch::Tensor r = ref.contiguous();
  EXPECT_EQ(static_cast<int64_t>(got.size()), r.numel());
  Diff d;
  const float* p = r.data_ptr<float>();
  for (int64_t i = 0; i < r.numel() && i < static_cast<int64_t>(got.size()); ++i) {
    d.max_abs_diff = std::max(d.max_abs_diff, std::fabs(static_cast<double>(got[i]) - p[i]));
    d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(static_cast<double>(p[i])));
  }
  return d;
}

// Runs `m` on OpenCL and on TorchGraph with the same seeded input; expects agreement.
void ExpectMatchesTorch(const ModelSpec& m, int batch, OpenClTarget& target = Shared()) {
  const HostTensor in = Input(m, batch);
  const auto t0 = std::chrono::steady_clock::now();
  Result<InferenceResult> r = target.Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << m.name << ": " << r.status().ToString();
  const auto t1 = std::chrono::steady_clock::now();
  const TorchGraph ref(*m.graph);
  torch::NoGradGuard no_grad;
  const torch::Tensor want = ref.Forward(WrapFloat(in.data.data(), in.shape));
  const auto t2 = std::chrono::steady_clock::now();
  std::vector<int64_t> want_shape(want.sizes().begin(), want.sizes().end());
  EXPECT_EQ(r->output.shape, want_shape) << m.name;
  const Diff d = Compare(r->output.data, want);
  EXPECT_TRUE(d.ok()) << m.name << " batch " << batch << ": max |diff| " << d.max_abs_diff << " > "
                      << kRelTol << " * max |ref| " << d.max_abs_ref << " + " << kAbsTol;
  std::printf(
      "[ numerics ] %-16s batch %d: max |diff| %.3g, max |ref| %.3g (%.2g relative); "
      "opencl %.0f ms (incl. prepare), torch %.0f ms\n",
      m.name.c_str(), batch, d.max_abs_diff, d.max_abs_ref,
      d.max_abs_diff / std::max(d.max_abs_ref, 1e-30),
      std::chrono::duration<double, std::milli>(t1 - t0).count(),
      std::chrono::duration<double, std::milli>(t2 - t1).count());
}

Graph Finalized(Graph g) {
  const Status s = g.Finalize();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return g;
}

TEST(OpenClOps, GroupedConvolution) {
  REQUIRE_DEVICE();
  Graph g("grouped_conv", {6, 11, 13});
  int x = g.Conv(0, 10, 3, 3, 1, 1, 1, 1, 2, true);  // 5 outputs per group: a partial block
  x = g.Relu(x);
  x = g.Conv(x, 12, 3, 3, 1, 1, 0, 0, 2, false);  // no padding, 6 outputs per group
  x = g.Conv(x, 40, 1, 1, 0, 2, true);            // grouped 1x1: 3 channel blocks per group
  g.Conv(x, 8, 1, 1, 0, 4, false);                // grouped 1x1: 1 block per group
  ExpectMatchesTorch(Spec(Finalized(g)), 2);
}

TEST(OpenClOps, DepthwiseStrideTwoWithRelu6) {
  REQUIRE_DEVICE();
  Graph g("depthwise", {16, 15, 17});
  int x = g.Conv(0, 16, 3, 3, 2, 2, 1, 1, 16, true);
  x = g.Relu6(x);
  x = g.Conv(x, 16, 3, 3, 1, 1, 1, 1, 16, true);  // stride 1
  x = g.Relu6(x);
  g.Conv(x, 16, 5, 5, 3, 3, 2, 2, 16, true);  // stride 3, 5x5
  ExpectMatchesTorch(Spec(Finalized(g)), 3);
}

TEST(OpenClOps, RectangularKernelsAndAsymmetricPadding) {
  REQUIRE_DEVICE();
  Graph g("rect_conv", {5, 17, 19});
  const int a = g.Conv(0, 9, 1, 7, 1, 1, 0, 3);
  const int b = g.Conv(a, 7, 7, 1, 1, 1, 3, 0);
  const int c = g.Conv(b, 8, 3, 5, 2, 1, 1, 2);  // stride (2, 1)
  const int d = g.Conv(c, 6, 2, 3, 1, 3, 0, 1);  // stride (1, 3): the strided-load kernel
  g.Conv(d, 4, 3, 3, 2, 2, 0, 0, 1, true);       // stride 2, no padding
  ExpectMatchesTorch(Spec(Finalized(g)), 2);
}

TEST(OpenClOps, PointwiseConvolutions) {
  REQUIRE_DEVICE();
  Graph g("pointwise", {13, 9, 7});
  int x = g.Conv(0, 21, 1, 1, 0, 1, true);  // 1x1 fast path, odd sizes
  x = g.Relu(x);
  x = g.Conv(x, 17, 1, 2, 0, 1, true);  // 1x1 stride 2: general kernel
  g.Conv(x, 8, 1, 1, 0, 1, false);
  ExpectMatchesTorch(Spec(Finalized(g)), 3);
}

TEST(OpenClOps, Pooling) {
  REQUIRE_DEVICE();
  Graph g("pools", {7, 20, 23});
  const int m1 = g.MaxPool(0, 3, 2, 0, true);   // ceil mode
  const int m2 = g.MaxPool(0, 3, 2, 1, false);  // padding
  const int a1 = g.AvgPool(m1, 3, 1, 1);        // padding counted in the divisor
  const int a2 = g.AvgPool(m2, 3, 2, 1, true);  // ceil mode with padding
  const int a3 = g.AvgPool(a1, 2, 2, 0, true);
  g.Concat({g.GlobalAvgPool(a2), g.GlobalAvgPool(a3), g.GlobalAvgPool(0)});
  ExpectMatchesTorch(Spec(Finalized(g)), 2);
}

TEST(OpenClOps, ConcatAddAndStandaloneOps) {
  REQUIRE_DEVICE();
  Graph g("concat_add", {8, 12, 10});
  const int a = g.Conv(0, 8, 3, 1, 1, 1, true);
  const int b = g.Relu(g.Conv(0, 5, 1, 1, 0, 1, true));
  const int c = g.Concat({a, b, g.MaxPool(0, 3, 1, 1)});  // 21 channels
  const int inner = g.Concat({g.Conv(c, 4, 1), g.Conv(c, 3, 3, 1, 1)});
  const int outer = g.Concat({inner, c, 0, a});    // nested; the input and `a` again: copied
  const int sum = g.Relu(g.AddOp(outer, outer));   // add with fused relu
  const int bn = g.BatchNorm(sum);                 // standalone batch-norm (not after a conv)
  const int r6 = g.Relu6(a);                       // `a` has other consumers: standalone relu6
  const int plain = g.AddOp(g.Conv(r6, 8, 1), a);  // add without activation
  const int mixed = g.Concat({bn, plain});
  int x = g.GlobalAvgPool(mixed);
  x = g.Flatten(x);
  x = g.Relu(g.Linear(x, 37));
  g.Linear(x, 11);
  ExpectMatchesTorch(Spec(Finalized(g)), 2);
}

TEST(OpenClOps, BatchNormAfterSharedConvolutionIsNotFolded) {
  REQUIRE_DEVICE();
  Graph g("bn_shared", {4, 9, 9});
  const int c = g.Conv(0, 6, 3, 1, 1);
  const int bn = g.Relu(g.BatchNorm(c));  // c has two consumers: no fold
  g.AddOp(bn, c);
  const ModelSpec m = Spec(Finalized(g));
  int bns = 0;
  for (const GraphNode& n : m.graph->graph.nodes()) bns += n.op == OpType::kBatchNorm;
  EXPECT_EQ(bns, 1);
  ExpectMatchesTorch(m, 2);
}

TEST(OpenClOps, BatchSizesGrowAndShrink) {
  REQUIRE_DEVICE();
  const ModelSpec m = Spec(Finalized([] {
    Graph g("batches", {3, 10, 10});
    int x = g.Relu(g.Conv(0, 8, 3, 2, 1));
    x = g.Flatten(g.GlobalAvgPool(x));
    g.Linear(x, 5);
    return g;
  }()));
  ExpectMatchesTorch(m, 1);
  ExpectMatchesTorch(m, 4);
  ExpectMatchesTorch(m, 2);
  // Identical inputs give identical outputs run after run.
  const HostTensor in = Input(m, 2);
  Result<InferenceResult> a = Shared().Run(m, Precision::kFp32, 0, in);
  Result<InferenceResult> b = Shared().Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->output.data, b->output.data);
}

// Every CNN of the zoo against libtorch. Light models run with a batch of 2, the heavy ones
// with 1 to keep the suite near a minute on a 2-core PoCL host.
class OpenClZoo : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(OpenClZoo, MatchesTorch) {
  REQUIRE_DEVICE();
  const auto& [name, batch] = GetParam();
  ExpectMatchesTorch(ZooSpec(name), batch);
}

INSTANTIATE_TEST_SUITE_P(
    Models, OpenClZoo,
    ::testing::Values(std::make_pair("mobilenet_v1", 2), std::make_pair("mobilenet_v2", 2),
                      std::make_pair("squeezenet_1_1", 2), std::make_pair("resnet18", 1),
                      std::make_pair("resnet50", 1), std::make_pair("inception_v1", 1),
                      std::make_pair("inception_v3", 1), std::make_pair("vgg16", 1)),
    [](const auto& info) { return info.param.first; });

TEST(OpenClZooCoverage, EveryCnnInTheZooIsTested) {
  int cnns = 0;
  for (const std::string& name : ZooModelNames()) cnns += name != "kws_lstm";
  EXPECT_EQ(cnns, 8) << "a zoo model was added: add it to OpenClZoo";
}

#endif  // AUTOSCALE_HAVE_TORCH

}  // namespace
}  // namespace autoscale
