// Lowering of a WeightedGraph to the OpenCL target's kernel steps, without any OpenCL types:
// which kernel runs each node, what is fused, where every tensor lives, which buffers share
// memory, and the weights packed as the kernels read them.
//
// Fusions: a batch-norm that is the only consumer of a convolution is folded into its weights
// and bias (imported graphs keep their batch-norms; PrepareForInference folds the zoo's before);
// an activation (relu, relu6, hardswish, hardsigmoid, sigmoid, silu) that is the only consumer of
// a conv (or of its folded batch-norm), add, mul, linear or batch-norm runs in that kernel;
// flatten, an adaptive average pool to the input's own size and a channel shuffle of one group (or
// of one channel per group) are views of their input, a channel slice a view of some of its
// channels; a concat's inputs write straight into channel slices of the concat's buffer where they
// can (their producer writes nothing else, the same tensor is not fed in twice and not already
// placed in another concat); the rest are copied. General convolutions with padding read a
// zero-padded copy of their input made by a pad step; depthwise ones pad inside their kernel. Both
// take any dilation. Adaptive average pools whose windows are all alike run as a plain average (or
// global average) pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "zoo/graph.h"

namespace autoscale::opencl {

// Activations a kernel applies to its result (the numbers are the kernels' `act` argument).
enum class Act : uint8_t {
  kNone = 0,
  kRelu = 1,
  kRelu6 = 2,
  kHardswish = 3,    // x * relu6(x + 3) / 6
  kHardsigmoid = 4,  // relu6(x + 3) / 6
  kSigmoid = 5,      // 1 / (1 + exp(-x))
  kSilu = 6,         // x / (1 + exp(-x))
};
// The activation computing `op`, or kNone for an op that is not one (IsActivation).
Act ActOf(OpType op);

// Where a tensor lives: a logical buffer, the element offset of batch element 0, and the element
// distance between batch elements. Within a batch element the tensor is dense (C, H, W).
struct View {
  int buffer = -1;
  int64_t offset = 0;
  int64_t batch_stride = 0;
};

enum class StepKind : uint8_t {
  kPad,              // in -> dense zero-padded (N, C, h + 2 ph, w + 2 pw) in out's buffer
  kConv,             // general / grouped convolution over an already padded input
  kConv1x1,          // 1x1, stride 1, no padding
  kDepthwise,        // groups == in channels == out channels, padding handled by the kernel
  kMaxPool,          //
  kAvgPool,          //
  kGlobalAvgPool,    //
  kLinear,           // c = in features, oc = out features
  kAdd,              // in + in2
  kBatchNorm,        // per-channel scale (weight) and shift (bias)
  kActivation,       // standalone activation (`act`)
  kCopy,             // in -> out, c * h * w elements per batch element (concat inputs not placed)
  kMul,              // in * in2, same shape
  kScaleChannels,    // in (c, h, w) times in2 (c, 1, 1): one factor per channel (SE blocks)
  kAdaptiveAvgPool,  // PyTorch's adaptive windows, where they differ in size
  kChannelShuffle,   // out channel k * groups + g = in channel g * (c / groups) + k
};
const char* StepKindName(StepKind k);

struct Step {
  StepKind kind = StepKind::kCopy;
  int node = 0;  // the graph node this step computes (or pads for)
  View in, in2, out;
  int c = 0, h = 0, w = 0;     // input channels, height, width as the kernel reads them
  int oc = 0, oh = 0, ow = 0;  // output
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, groups = 1;
  int dh = 1, dw = 1;  // dilation (convolutions)
  Act act = Act::kNone;
  int params = -1;  // index into Plan::params, for steps with weights
};

// Weights as the kernels read them (see kernels.cc): convolutions packed in blocks of kOcBlock
// output channels, depthwise [C][KH][KW], linear [O][I], batch-norm scale and shift.
struct PackedParams {
  std::vector<float> weight, bias;
};

struct Plan {
  std::vector<Step> steps;
  std::vector<PackedParams> params;
  // Logical buffers (one per stored tensor or pad scratch), elements per batch element, and the
  // physical buffer each one shares: logical buffers whose lifetimes do not overlap share one.
  std::vector<int64_t> logical_elems;
  std::vector<int> physical_of;
  std::vector<int64_t> physical_elems;  // per batch element, the largest logical buffer in it
  View input, output;                   // the graph input's buffer (dense) and the output's view
  std::vector<int64_t> output_shape;    // without the batch dimension
  int64_t input_elems = 0, output_elems = 0;
  // Elements kernels may read before the start and past the end of every activation buffer's
  // tensors (vector loads of tiles that overhang an edge; the lanes outside are never used).
  int64_t read_slack = 0;
};

// One kernel launch of a step as the executor enqueues it: the kernel, its global size (work-
// items per dimension, before rounding up to the work-group size) and the fixed work-group size
// it gets on devices with fixed work-groups (CPU devices such as PoCL; executor.cc). On GPUs the
// driver chooses the work-group size.
struct KernelLaunch {
  const char* kernel = "";
  std::vector<size_t> global, local;
  // Work-groups with the fixed sizes: the product of ceil(max(global, 1) / local).
  int64_t work_groups() const;
};

// The launch of `step` for a batch of `batch` inputs (every step is exactly one kernel launch).
KernelLaunch LaunchOf(const Step& step, int batch);
// The fixed work-group size of `kernel` launched over `dims` dimensions.
std::vector<size_t> FixedLocalSize(const std::string& kernel, size_t dims);

// Ok when every node is something the OpenCL kernels run; otherwise InvalidArgument naming the
// first such node and every op type the target cannot lower ("OpenCL target runs CNN graphs;
// kws_lstm has an lstm layer (node 3, lstm0); ops it cannot run: lstm").
Status CheckGraph(const Graph& graph);

// The plan of a finalized graph whose weights are in `graph.weights`.
Result<Plan> BuildPlan(const WeightedGraph& graph);

}  // namespace autoscale::opencl
