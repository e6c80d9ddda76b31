// Post-training INT8 execution of a graph (a zoo graph or an imported one with its weights) on the
// CPU with libtorch's quantized engine (QNNPACK or oneDNN in the Debian build; FBGEMM where a build
// has it).
//
// Static quantization, as torch.ao.quantization does it in eager mode:
//   - activations are per-tensor affine quint8; each node's scale and zero point come from its
//     FP32 outputs on seeded calibration inputs (Int8Ranges: min/max, or the squared-error
//     optimal clipping range; always widened to include 0);
//   - conv and linear weights are symmetric qint8, per output channel where the engine supports
//     it (both QNNPACK and oneDNN do in 1.13), biases stay float (the kernels quantize them);
//   - conv/linear/add followed by relu or relu6 are fused (conv2d_relu, linear_relu, add_relu);
//     relu6 becomes the fused relu with its output range capped at 6, which clamps exactly;
//   - pooling keeps its input's parameters, except global average pooling (and adaptive
//     average pooling to 1x1, the same thing), which averages in float and requantizes to its
//     own narrower range (the classifier's input); channel shuffle permutes quint8 channels;
//   - dilated, grouped and depthwise convolutions are quantized::conv2d like any other;
//   - hardswish runs quantized::hardswish with the node's calibrated output range; sigmoid and
//     hardsigmoid run on quint8 with torch's fixed output parameters (scale 1/256, zero point
//     0: QNNPACK's sigmoid accepts no others); mul (an SE block's per-channel scale included)
//     runs quantized::mul, fused with a following relu as mul_relu;
//   - an op without a quantized kernel in this libtorch (silu in 1.13; hardswish or mul in a
//     build that lacks theirs) is computed in float between a dequantize and a
//     requantize to the node's calibrated range; Summary() names such steps "<op>_via_float";
//   - the input is quantized on entry and the output dequantized: Forward takes and returns
//     float32 like every TorchModel.
// LSTMs are quantized dynamically, as torch.ao.quantization.quantize_dynamic does for nn.LSTM:
// the input, recurrent and projection matmuls run quantized::linear_dynamic with int8 weights
// (activations quantized on the fly per call), gates, peepholes and the cell state stay fp32. A
// linear layer that reads a dynamic (float) result runs dynamically too; any other op that reads
// one quantizes it with that node's calibrated range. (At batch 1 the dynamic kws_lstm is ~20%
// slower than FP32 here: two small quantize + GEMM calls per step cost more than they save.)
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "targets/cpu/torch_model.h"
#include "zoo/graph.h"

namespace autoscale {

// How each activation's quantization range is chosen from the calibration runs.
enum class Int8Ranges {
  kMinMax,  // the observed min and max (PyTorch's MinMaxObserver)
  kMse,     // the clipping range that minimises the expected squared quantization error
            // (clipping + rounding) over sampled values (PyTorch's HistogramObserver objective).
            // On the zoo's seeded weights it gains little (mobilenet_v2 logits 5.8% -> 5.8%
            // relative error) and loses badly where a few channels carry large values that
            // clipping destroys (resnet50 1.3% -> 41%, mobilenet_v1 2.3% -> 33%), hence not the
            // default.
};

struct Int8Options {
  // "qnnpack", "onednn", "fbgemm" or "x86" (as torch.backends.quantized.engine names them), or
  // "" for DefaultInt8Engine(). An engine this libtorch lacks is Unavailable; an unknown name is
  // InvalidArgument; both list the supported engines.
  std::string engine;
  // Calibration: FP32 runs on MakeInput(graph, calibration_seed + k), k < calibration_inputs.
  // The default seed is far from the small seeds tests and benchmarks evaluate on.
  int calibration_inputs = 16;
  uint64_t calibration_seed = 1000003;
  // Explicit calibration inputs (a user model's sample inputs, ModelSidecar::samples_dir), each
  // one input of the graph's input shape without the batch, NCHW, float32. When non-empty they
  // replace the seeded inputs (calibration_inputs is then unused); a sample of the wrong size
  // or holding a NaN or infinity is InvalidArgument.
  std::vector<std::vector<float>> calibration_samples;
  Int8Ranges ranges = Int8Ranges::kMinMax;
  // Per-output-channel weight scales (per-tensor otherwise).
  bool per_channel_weights = true;
};

// The quantization range chosen for every node's output (index = node index).
struct Int8Calibration {
  std::vector<float> min, max;
};

// Quantized 2-D max pooling as TorchInt8Graph runs it. libtorch 1.13's x86 kernel for a
// channels-last quint8 input is vectorised only when the channel count is a multiple of 32; any
// other count runs a scalar loop several times slower (bench/int8_bench BM_Int8MaxPool). With
// `pad_channels`, such an input is padded with zero channels to the next multiple of 32, pooled,
// and the padding dropped: the same values bit for bit, channels-last. (TorchInt8Graph pads
// except under QNNPACK, whose kernel has no such cliff.)
torch::Tensor QuantizedMaxPool2d(const torch::Tensor& x, int kernel_h, int kernel_w, int stride_h,
                                 int stride_w, int pad_h, int pad_w, bool ceil_mode,
                                 bool pad_channels);

// Quantized channel concatenation of 4-D channels-last quint8 tensors into (scale, zero_point),
// as TorchInt8Graph runs it. libtorch 1.13's kernel requantizes an input whose parameters differ
// from the output's with a vector loop over 32 channels at a time and a scalar loop for the rest
// (3.4 ns per element at 58 channels against 0.7 at 64 here: ShuffleNet's concatenations). Here
// each such input is requantized through a 256-entry table (libtorch's own scalar dequantize and
// quantize of every byte value) and the others copied: equal to libtorch's scalar results, and to
// its vector loop within one step (bench/int8_bench BM_Int8Cat). Null, for the caller to run
// libtorch's kernel, when the inputs are not all 4-D channels-last quint8 of one batch and size,
// or (unless `force`) when no input to requantize has a channel count off the multiples of 32:
// there libtorch's kernel is as fast or faster.
torch::Tensor QuantizedCatChannelsLast(const std::vector<torch::Tensor>& parts, double scale,
                                       int64_t zero_point, bool force = false);
// libtorch's own quantized::cat of `parts` along the channels into (scale, zero_point).
torch::Tensor LibtorchQuantizedCat(const std::vector<torch::Tensor>& parts, double scale,
                                   int64_t zero_point);

// Engines this libtorch supports, by the names Int8Options takes ("qnnpack", "onednn", ...).
std::vector<std::string> SupportedInt8Engines();
// The engine used when Int8Options::engine is empty: on x86 "fbgemm" when present, else
// "onednn" (AVX-512/VNNI kernels; QNNPACK targets ARM and has only SSE2 kernels on x86: on the
// zoo it ran 5-8x slower than oneDNN here, slower than FP32), else "qnnpack"; on ARM "qnnpack".
// Empty when this libtorch has no quantized engine.
std::string DefaultInt8Engine();

// Runs `fp32` on the calibration inputs of `options` (its calibration_samples, else seeded
// ones) and chooses each node's output range. InvalidArgument if calibration_inputs < 1 with no
// samples, or for a bad sample.
Result<Int8Calibration> CalibrateInt8(const TorchGraph& fp32, const Int8Options& options);

class TorchInt8Graph final : public TorchModel {
 public:
  // Quantizes `graph` (its weights are copied), calibrating on FP32 runs. Fails with a Status
  // that names the node when a node cannot be quantized or its kernel rejects it (the model is
  // probed once with a batch-1 input before it is returned), and for a bad engine (see
  // Int8Options::engine).
  static Result<std::unique_ptr<TorchInt8Graph>> Build(const WeightedGraph& graph,
                                                       const Int8Options& options = {});
  // The same with ranges computed beforehand (by CalibrateInt8 on the same graph), so that
  // several engines can share one calibration; the calibration fields of `options` are unused.
  static Result<std::unique_ptr<TorchInt8Graph>> Build(const WeightedGraph& graph,
                                                       const Int8Calibration& calibration,
                                                       const Int8Options& options);
  ~TorchInt8Graph() override;

  // input: float32 [N, <graph input shape>], N >= 1. Returns float32 [N, <output shape>]. Sets
  // libtorch's process-wide quantized engine to engine() first (the packed weights belong to
  // it), so do not run models of different engines concurrently. Throws std::runtime_error
  // naming the node when a kernel fails.
  torch::Tensor Forward(const torch::Tensor& input) const override;
  // The same, calling `observe` after each operator with the graph node it computes or
  // converts and its output (quantized, or float for dynamic and float steps); a node may be
  // reported more than once (a quantize or dequantize of it), the input's quantization as node
  // 0. For timing layers inside the whole run (targets/layer_profiler.h).
  torch::Tensor Forward(const torch::Tensor& input, const NodeObserver& observe) const;

  const std::string& engine() const { return engine_; }
  bool per_channel_weights() const { return per_channel_; }
  // Operators executed per inference, e.g. "12 conv2d_relu, 3 add, 1 linear_dynamic, ...".
  std::string Summary() const;

 private:
  struct Step;     // one operator call (torch_int8.cc)
  struct Prepack;  // how one weight tensor is prepacked (torch_int8.cc)
  using Packs = std::vector<c10::IValue>;  // prepacked weights, by Step slot
  // (batch size, intra-op thread count) of a run; (0, 0) for engines whose packed weights do
  // not depend on it.
  using Signature = std::pair<int64_t, int>;
  TorchInt8Graph();
  // Runs the steps; on a throw, *failed_step is the step that threw.
  torch::Tensor Run(const torch::Tensor& input, int* failed_step,
                    const NodeObserver* observe = nullptr) const;
  torch::Tensor Lstm(const Step& step, const Packs& packs, const torch::Tensor& x) const;
  // The prepacked weights for a run of `batch` inputs under the calling thread's intra-op
  // thread count, prepacked on first use. libtorch 1.13's oneDNN conv and linear fix their
  // packed weights, on the first call, in the layout of the primitive chosen for that call's
  // input shape and thread count (a primitive cache of one entry), and a later call with
  // another shape or thread count needs a reorder out of that layout which oneDNN cannot
  // create for some shapes ("could not create a primitive descriptor for a reorder
  // primitive"). So under oneDNN each signature gets its own packed weights (the last
  // kMaxPackSets used are kept); the other engines share one set.
  std::shared_ptr<const Packs> PacksFor(int64_t batch) const;
  Signature SignatureOf(int64_t batch) const;
  std::shared_ptr<const Packs> Prepacked() const;  // a fresh set from prepacks_
  std::string StepName(int step) const;  // "node 7 'conv7' (conv) [conv2d_relu]"

  std::string engine_;
  at::QEngine qengine_ = at::QEngine::NoQEngine;
  bool per_channel_ = true;
  Graph graph_;
  std::vector<Step> steps_;
  std::vector<Prepack> prepacks_;  // by slot
  bool per_signature_ = false;     // the engine needs packed weights per Signature
  mutable std::mutex packs_mu_;
  mutable std::list<std::pair<Signature, std::shared_ptr<const Packs>>> packs_;  // newest first
  int num_values_ = 0;  // value 0 is the input, step s writes value s + 1
  int result_ = 0;      // the value Forward returns (float)
};

}  // namespace autoscale
