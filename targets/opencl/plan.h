// Lowering of a WeightedGraph to the OpenCL target's kernel steps, without any OpenCL types:
// which kernel runs each node, what is fused, where every tensor lives, which buffers share
// memory, and the weights packed as the kernels read them.
//
// Fusions: a relu/relu6 that is the only consumer of a conv, add, linear or batch-norm runs in
// that kernel; flatten is a view of its input; a concat's inputs write straight into channel
// slices of the concat's buffer where they can (their producer writes nothing else, the same
// tensor is not fed in twice and not already placed in another concat); the rest are copied.
// General convolutions with padding read a zero-padded copy of their input made by a pad step;
// depthwise ones pad inside their kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "zoo/graph.h"

namespace autoscale::opencl {

enum class Act : uint8_t { kNone = 0, kRelu = 1, kRelu6 = 2 };

// Where a tensor lives: a logical buffer, the element offset of batch element 0, and the element
// distance between batch elements. Within a batch element the tensor is dense (C, H, W).
struct View {
  int buffer = -1;
  int64_t offset = 0;
  int64_t batch_stride = 0;
};

enum class StepKind : uint8_t {
  kPad,            // in -> dense zero-padded (N, C, h + 2 ph, w + 2 pw) in out's buffer
  kConv,           // general / grouped convolution over an already padded input
  kConv1x1,        // 1x1, stride 1, no padding
  kDepthwise,      // groups == in channels == out channels, padding handled by the kernel
  kMaxPool,        //
  kAvgPool,        //
  kGlobalAvgPool,  //
  kLinear,         // c = in features, oc = out features
  kAdd,            // in + in2
  kBatchNorm,      // per-channel scale (weight) and shift (bias)
  kActivation,     // standalone relu / relu6
  kCopy,           // in -> out, c * h * w elements per batch element (concat inputs not placed)
};
const char* StepKindName(StepKind k);

struct Step {
  StepKind kind = StepKind::kCopy;
  int node = 0;  // the graph node this step computes (or pads for)
  View in, in2, out;
  int c = 0, h = 0, w = 0;     // input channels, height, width as the kernel reads them
  int oc = 0, oh = 0, ow = 0;  // output
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, groups = 1;
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

// Ok when every node is something the OpenCL kernels run; otherwise InvalidArgument naming the
// node ("OpenCL target runs CNN graphs; kws_lstm has an lstm layer").
Status CheckGraph(const Graph& graph);

// The plan of a finalized graph whose weights are in `graph.weights`.
Result<Plan> BuildPlan(const WeightedGraph& graph);

}  // namespace autoscale::opencl
