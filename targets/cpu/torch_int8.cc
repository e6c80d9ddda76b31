#include "targets/cpu/torch_int8.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/AffineQuantizerBase.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include "core/strings.h"

namespace autoscale {

namespace {

// ---- Engines ---------------------------------------------------------------------------------

struct EngineName {
  const char* name;
  at::QEngine engine;
};
constexpr EngineName kEngines[] = {
    {"fbgemm", at::kFBGEMM}, {"x86", at::kX86}, {"onednn", at::kONEDNN}, {"qnnpack", at::kQNNPACK}};

bool EngineSupported(at::QEngine e) {
  const auto& s = at::globalContext().supportedQEngines();
  return std::find(s.begin(), s.end(), e) != s.end();
}

Result<at::QEngine> ResolveEngine(const std::string& requested, std::string* name) {
  *name = requested.empty() ? DefaultInt8Engine() : requested;
  const std::string supported = JoinNames(SupportedInt8Engines());
  if (name->empty()) return Status::Unavailable("this libtorch has no quantized engine");
  for (const EngineName& e : kEngines) {
    if (*name != e.name) continue;
    if (!EngineSupported(e.engine)) {
      return Status::Unavailable("INT8 engine '" + *name +
                                 "' is not built into this libtorch; it supports: " + supported);
    }
    return e.engine;
  }
  return Status::InvalidArgument("unknown INT8 engine '" + *name +
                                 "'; this libtorch supports: " + supported);
}

// ---- Quantized operators, called boxed through the dispatcher --------------------------------
// Boxed calls need neither the packed-params C++ types nor headers outside the public API.

struct QuantizedOps {
  c10::OperatorHandle conv_prepack, conv, conv_relu;
  c10::OperatorHandle linear_prepack, linear, linear_relu, linear_dynamic;
  c10::OperatorHandle add, add_relu, cat, batch_norm;
  // Kernels with explicit output parameters that a libtorch may lack (1.13 has them, but no
  // quantized silu): where absent, the node runs dequantize-compute-requantize (kFloatOp).
  // (quantized::sigmoid is not used: QNNPACK's accepts only the fixed output parameters.)
  // What Dispatcher::findOp returns: c10::optional in 1.13, std::optional in 2.x.
  using OptionalOp = decltype(std::declval<c10::Dispatcher&>().findOp(c10::OperatorName("", "")));
  OptionalOp hardswish, mul, mul_relu;

  static const QuantizedOps& Get() {
    static const QuantizedOps* ops = [] {
      auto& d = c10::Dispatcher::singleton();
      auto* o = new QuantizedOps{d.findSchemaOrThrow("quantized::conv2d_prepack", ""),
                                 d.findSchemaOrThrow("quantized::conv2d", "new"),
                                 d.findSchemaOrThrow("quantized::conv2d_relu", "new"),
                                 d.findSchemaOrThrow("quantized::linear_prepack", ""),
                                 d.findSchemaOrThrow("quantized::linear", ""),
                                 d.findSchemaOrThrow("quantized::linear_relu", ""),
                                 d.findSchemaOrThrow("quantized::linear_dynamic", ""),
                                 d.findSchemaOrThrow("quantized::add", ""),
                                 d.findSchemaOrThrow("quantized::add_relu", ""),
                                 d.findSchemaOrThrow("quantized::cat", ""),
                                 d.findSchemaOrThrow("quantized::batch_norm2d", ""),
                                 OptionalOp(),
                                 OptionalOp(),
                                 OptionalOp()};
      o->hardswish = d.findOp({"quantized::hardswish", ""});
      o->mul = d.findOp({"quantized::mul", ""});
      o->mul_relu = d.findOp({"quantized::mul_relu", ""});
      return o;
    }();
    return *ops;
  }
};

// Calls `op` with `args` and returns its first result.
c10::IValue Call(const c10::OperatorHandle& op, std::vector<c10::IValue> args) {
  torch::jit::Stack stack(std::move(args));
  op.callBoxed(&stack);
  return std::move(stack.at(0));
}

// The FP32 op of a node that runs dequantize-compute-requantize (`b`: mul's second input,
// quantized).
torch::Tensor FloatOp(OpType op, const torch::Tensor& a, const torch::Tensor& b) {
  switch (op) {
    case OpType::kHardswish:
      return at::hardswish(a);
    case OpType::kSigmoid:
      return at::sigmoid(a);
    case OpType::kSilu:
      return at::silu(a);
    case OpType::kMul:
      return at::mul(a, b.dequantize());
    default:
      throw std::logic_error(std::string("no float fallback for ") + OpTypeName(op));
  }
}

// ---- Quantization parameters -----------------------------------------------------------------

struct QParams {
  double scale = 1.0;
  int64_t zero_point = 0;
};

// quint8 affine parameters covering [lo, hi] widened to include 0 (MinMaxObserver's rule).
QParams ActivationQParams(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  QParams q;
  q.scale = std::max((static_cast<double>(hi) - lo) / 255.0,
                     static_cast<double>(std::numeric_limits<float>::epsilon()));
  q.zero_point = std::clamp<int64_t>(std::llround(-lo / q.scale), 0, 255);
  return q;
}

// Symmetric qint8 weights ([out, ...], zero point 0, scale = max|w| / 127.5 as PyTorch's
// symmetric observers compute it), one scale per output channel or one for the tensor.
torch::Tensor QuantizeWeight(const torch::Tensor& w, bool per_channel) {
  constexpr double kMinScale = 1e-8;
  if (per_channel) {
    torch::Tensor scales =
        (w.abs().reshape({w.size(0), -1}).amax(1) / 127.5).clamp_min(kMinScale).to(torch::kDouble);
    torch::Tensor zero_points = torch::zeros({w.size(0)}, torch::kLong);
    return at::quantize_per_channel(w, scales, zero_points, 0, torch::kQInt8);
  }
  const double scale = std::max(w.abs().max().item<double>() / 127.5, kMinScale);
  return at::quantize_per_tensor(w, scale, 0, torch::kQInt8);
}

torch::Tensor FromVector(const std::vector<float>& v, std::vector<int64_t> shape) {
  if (v.empty()) return {};
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

std::string NodeLabel(const Graph& g, int node) {
  return "node " + std::to_string(node) + " '" + g.node(node).name + "' (" +
         OpTypeName(g.node(node).op) + ")";
}

// First line of an exception message (torch's carry a C++ backtrace after it).
std::string FirstLine(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

// ---- Range search ----------------------------------------------------------------------------

constexpr int64_t kSamplesPerRun = 8192;  // values sampled from each node's output per FP32 run

// The quint8 range [a, b] (a <= 0 <= b, within the observed [lo, hi]) that minimises the
// expected squared error on `values`: clipping error outside, rounding noise step^2 / 12
// inside (none for exact zeros, which relu outputs are full of and which quantize exactly).
// Searched over the edges of a 1024-bin histogram with prefix sums, like PyTorch's
// HistogramObserver (which searches the same objective less exhaustively).
std::pair<float, float> MseRange(const std::vector<float>& values, float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (values.empty() || hi - lo <= 0) return {lo, hi};
  constexpr int kBins = 1024;
  const double width = (static_cast<double>(hi) - lo) / kBins;
  std::vector<double> count(kBins, 0), sum(kBins, 0), sum2(kBins, 0);
  for (float v : values) {
    if (v == 0.0f) continue;  // exact either way: neither clipped nor rounded
    const int b = std::clamp(static_cast<int>((v - lo) / width), 0, kBins - 1);
    ++count[b];
    sum[b] += v;
    sum2[b] += static_cast<double>(v) * v;
  }
  // Prefix sums over bins [0, k).
  std::vector<double> pc(kBins + 1, 0), ps(kBins + 1, 0), ps2(kBins + 1, 0);
  for (int b = 0; b < kBins; ++b) {
    pc[b + 1] = pc[b] + count[b];
    ps[b + 1] = ps[b] + sum[b];
    ps2[b + 1] = ps2[b] + sum2[b];
  }
  const double total = pc[kBins];
  auto edge = [&](int k) { return lo + k * width; };
  // Error of range [edge(ka), edge(kb)]: bins below ka clip to a, bins from kb up clip to b.
  auto error = [&](int ka, int kb) {
    const double a = std::min(edge(ka), 0.0), b = std::max(edge(kb), 0.0);
    const double step = (b - a) / 255.0;
    const double below = a * a * pc[ka] - 2 * a * ps[ka] + ps2[ka];
    const double nc = total - pc[kb], s1 = ps[kBins] - ps[kb], s2 = ps2[kBins] - ps2[kb];
    const double above = b * b * nc - 2 * b * s1 + s2;
    const double inside = pc[kb] - pc[ka];
    return below + above + inside * step * step / 12.0;
  };
  // Edges at or below zero for a, at or above zero for b.
  const int zero_edge = std::clamp(static_cast<int>(std::ceil(-lo / width)), 0, kBins);
  const int a_last = lo < 0 ? std::max(0, zero_edge - 1) : 0;
  int best_a = 0, best_b = kBins;
  double best = error(best_a, best_b);
  for (int ka = 0; ka <= a_last; ++ka) {
    for (int kb = std::max(zero_edge, ka + 1); kb <= kBins; ++kb) {
      const double e = error(ka, kb);
      if (e < best) {
        best = e;
        best_a = ka;
        best_b = kb;
      }
    }
  }
  return {lo < 0 ? static_cast<float>(std::min(edge(best_a), 0.0)) : 0.0f,
          static_cast<float>(std::max(edge(best_b), 0.0))};
}

enum class Kind {
  kQuantize,       // float -> quint8 with the node's calibrated range
  kDequantize,     // quint8 -> float
  kConv,           // quantized::conv2d[_relu]
  kLinear,         // quantized::linear[_relu]
  kLinearDynamic,  // quantized::linear_dynamic, float in and out
  kAdd,            // quantized::add[_relu]
  kConcat,         // quantized::cat
  kBatchNorm,      // quantized::batch_norm2d (a batch-norm that was not folded into a conv)
  kRelu,           // relu on quint8 (keeps the input's parameters)
  kRelu6,          // clamp(0, 6) on quint8 (keeps the input's parameters)
  kMaxPool,
  kAvgPool,
  kGlobalAvgPool,
  kFlatten,
  kLstm,             // dynamic: float in and out
  kHardswish,        // quantized::hardswish, the node's calibrated output range
  kSigmoid,          // sigmoid on quint8: fixed output parameters (1/256, 0), as in torch
  kHardsigmoid,      // hardsigmoid on quint8: the same fixed output parameters
  kMul,              // quantized::mul[_relu] (a (C, 1, 1) second input broadcasts)
  kAdaptiveAvgPool,  // adaptive_avg_pool2d on quint8 (keeps the input's parameters)
  kChannelShuffle,   // channel_shuffle on quint8 (a permutation: keeps the parameters)
  kChannelSlice,     // a channel range of a quint8 tensor (keeps the parameters)
  kFloatOp,          // no quantized kernel: dequantize, the FP32 op, requantize to the node's
                     // calibrated range (silu; the others where a libtorch lacks their kernel)
};

std::string KindName(Kind k, bool relu, OpType op) {
  switch (k) {
    case Kind::kHardswish:
      return "hardswish";
    case Kind::kSigmoid:
      return "sigmoid";
    case Kind::kHardsigmoid:
      return "hardsigmoid";
    case Kind::kMul:
      return relu ? "mul_relu" : "mul";
    case Kind::kAdaptiveAvgPool:
      return "adaptive_avg_pool2d";
    case Kind::kChannelShuffle:
      return "channel_shuffle";
    case Kind::kChannelSlice:
      return "channel_slice";
    case Kind::kFloatOp:
      return std::string(OpTypeName(op)) + "_via_float";
    case Kind::kQuantize:
      return "quantize";
    case Kind::kDequantize:
      return "dequantize";
    case Kind::kConv:
      return relu ? "conv2d_relu" : "conv2d";
    case Kind::kLinear:
      return relu ? "linear_relu" : "linear";
    case Kind::kLinearDynamic:
      return "linear_dynamic";
    case Kind::kAdd:
      return relu ? "add_relu" : "add";
    case Kind::kConcat:
      return "cat";
    case Kind::kBatchNorm:
      return "batch_norm2d";
    case Kind::kRelu:
      return "relu";
    case Kind::kRelu6:
      return "relu6";
    case Kind::kMaxPool:
      return "max_pool2d";
    case Kind::kAvgPool:
      return "avg_pool2d";
    case Kind::kGlobalAvgPool:
      return "adaptive_avg_pool2d";
    case Kind::kFlatten:
      return "flatten";
    case Kind::kLstm:
      return "lstm_dynamic";
  }
  return "?";
}

}  // namespace

// One operator call. Values are numbered: 0 is the float input, step s writes value s + 1.
struct TorchInt8Graph::Step {
  Kind kind = Kind::kQuantize;
  int node = 0;         // the graph node it computes (or converts), for names and attributes
  std::vector<int> in;  // value numbers
  bool relu = false;    // fused relu / relu6 (relu6 through the output range)
  QParams out;          // output parameters of static quantized steps
  // Slots of the prepacked weights in a Packs (-1: none): conv, linear; LSTM input weights
  // and bias, recurrent and projection weights.
  int packed = -1, packed_recurrent = -1, packed_projection = -1;
  torch::Tensor weight, bias, mean, var;  // batch-norm; LSTM peepholes in `weight`
  bool reduce_range = false;              // dynamic ops (FBGEMM's convention)
  std::vector<int> release;               // values last read by this step
};

// The quantized weights of one slot and how they are prepacked, kept to prepack them again for
// another run signature (see PacksFor).
struct TorchInt8Graph::Prepack {
  bool conv = false;  // quantized::conv2d_prepack, else quantized::linear_prepack
  std::vector<c10::IValue> args;
};

TorchInt8Graph::TorchInt8Graph() = default;
TorchInt8Graph::~TorchInt8Graph() = default;

// ---- Max pooling off libtorch's scalar path -------------------------------------------------

torch::Tensor QuantizedMaxPool2d(const torch::Tensor& x, int kernel_h, int kernel_w, int stride_h,
                                 int stride_w, int pad_h, int pad_w, bool ceil_mode,
                                 bool pad_channels) {
  auto pool = [&](const torch::Tensor& t) {
    return at::max_pool2d(t, {kernel_h, kernel_w}, {stride_h, stride_w}, {pad_h, pad_w}, {1, 1},
                          ceil_mode);
  };
  constexpr int64_t kVector = 32;  // the kernel's vector width in quint8 lanes
  const int64_t c = x.dim() == 4 ? x.size(1) : 0;
  if (!pad_channels || c == 0 || c % kVector == 0 ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return pool(x);
  }
  // Pooling is per channel: the padding channels (zeros) change nothing in the others. Both
  // tensors are dense channels-last, so each pixel's channels are one run of bytes: copied row
  // by row (ATen's strided copy_ of such narrow views, like int_repr(), took longer than the
  // slow pooling it replaces).
  const int64_t padded_c = (c + kVector - 1) / kVector * kVector;
  const auto channels_last = [&](int64_t channels, int64_t h, int64_t w) {
    return at::_empty_affine_quantized({x.size(0), channels, h, w}, at::TensorOptions(at::kQUInt8),
                                       x.q_scale(), x.q_zero_point(),
                                       at::MemoryFormat::ChannelsLast);
  };
  // Copies `pixels` runs of `n` bytes from rows of `from_stride` to rows of `to_stride` bytes,
  // zeroing the rest of each destination row.
  const auto copy_rows = [](const void* from, int64_t from_stride, void* to, int64_t to_stride,
                            int64_t pixels, int64_t n) {
    const auto* src = static_cast<const uint8_t*>(from);
    auto* dst = static_cast<uint8_t*>(to);
    for (int64_t p = 0; p < pixels; ++p) {
      std::memcpy(dst + p * to_stride, src + p * from_stride, static_cast<size_t>(n));
      if (to_stride > n)
        std::memset(dst + p * to_stride + n, 0, static_cast<size_t>(to_stride - n));
    }
  };
  torch::Tensor padded = channels_last(padded_c, x.size(2), x.size(3));
  copy_rows(x.data_ptr(), c, padded.data_ptr(), padded_c, x.size(0) * x.size(2) * x.size(3), c);
  const torch::Tensor pooled = pool(padded);
  if (!pooled.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return pooled.narrow(1, 0, c).contiguous(at::MemoryFormat::ChannelsLast);
  }
  torch::Tensor out = channels_last(c, pooled.size(2), pooled.size(3));
  copy_rows(pooled.data_ptr(), padded_c, out.data_ptr(), c,
            pooled.size(0) * pooled.size(2) * pooled.size(3), c);
  return out;
}

torch::Tensor QuantizedCatChannelsLast(const std::vector<torch::Tensor>& parts, double scale,
                                       int64_t zero_point, bool force) {
  if (parts.empty()) return {};
  const torch::Tensor& first = parts.front();
  constexpr int64_t kVector = 32;  // libtorch's vector loop, in quint8 lanes
  int64_t channels = 0;
  bool scalar_tail = false;  // an input libtorch would requantize partly in its scalar loop
  for (const torch::Tensor& t : parts) {
    if (t.dim() != 4 || t.scalar_type() != torch::kQUInt8 || t.qscheme() != at::kPerTensorAffine ||
        !t.is_contiguous(at::MemoryFormat::ChannelsLast) || t.size(0) != first.size(0) ||
        t.size(2) != first.size(2) || t.size(3) != first.size(3)) {
      return {};
    }
    channels += t.size(1);
    scalar_tail = scalar_tail || ((t.q_scale() != scale || t.q_zero_point() != zero_point) &&
                                  t.size(1) % kVector != 0);
  }
  if (!scalar_tail && !force) return {};  // libtorch's kernel is as fast as this
  torch::Tensor out = at::_empty_affine_quantized(
      {first.size(0), channels, first.size(2), first.size(3)}, at::TensorOptions(at::kQUInt8),
      scale, zero_point, at::MemoryFormat::ChannelsLast);
  const int64_t pixels = first.size(0) * first.size(2) * first.size(3);
  auto* dst = static_cast<uint8_t*>(out.data_ptr());
  int64_t offset = 0;
  for (const torch::Tensor& t : parts) {
    const int64_t c = t.size(1);
    const auto* src = static_cast<const uint8_t*>(t.data_ptr());
    const double in_scale = t.q_scale();  // each call checks the quantizer: not per value
    const int64_t in_zero_point = t.q_zero_point();
    if (in_scale == scale && in_zero_point == zero_point) {
      for (int64_t p = 0; p < pixels; ++p) {
        std::memcpy(dst + p * channels + offset, src + p * c, static_cast<size_t>(c));
      }
    } else {
      uint8_t table[256];
      for (int v = 0; v < 256; ++v) {
        const float f = at::native::dequantize_val<c10::quint8>(
            in_scale, in_zero_point, c10::quint8(static_cast<uint8_t>(v)));
        table[v] = at::native::quantize_val<c10::quint8>(scale, zero_point, f).val_;
      }
      for (int64_t p = 0; p < pixels; ++p) {
        const uint8_t* from = src + p * c;
        uint8_t* to = dst + p * channels + offset;
        for (int64_t k = 0; k < c; ++k) to[k] = table[from[k]];
      }
    }
    offset += c;
  }
  return out;
}

torch::Tensor LibtorchQuantizedCat(const std::vector<torch::Tensor>& parts, double scale,
                                   int64_t zero_point) {
  c10::List<torch::Tensor> list;
  for (const torch::Tensor& t : parts) list.push_back(t);
  return Call(QuantizedOps::Get().cat, {list, int64_t{1}, scale, zero_point}).toTensor();
}

// ---- Engines, calibration --------------------------------------------------------------------

std::vector<std::string> SupportedInt8Engines() {
  std::vector<std::string> names;
  for (const EngineName& e : kEngines) {
    if (EngineSupported(e.engine)) names.push_back(e.name);
  }
  return names;
}

std::string DefaultInt8Engine() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  const EngineName* order[] = {&kEngines[0], &kEngines[2],
                               &kEngines[3]};  // fbgemm, onednn, qnnpack
#else
  const EngineName* order[] = {&kEngines[3], &kEngines[2], &kEngines[0]};  // qnnpack first
#endif
  for (const EngineName* e : order) {
    if (EngineSupported(e->engine)) return e->name;
  }
  return "";
}

Result<Int8Calibration> CalibrateInt8(const TorchGraph& fp32, const Int8Options& options) {
  const Graph& g = fp32.graph();
  const std::vector<std::vector<float>>& given = options.calibration_samples;
  const int num_inputs =
      given.empty() ? options.calibration_inputs : static_cast<int>(given.size());
  if (given.empty() && options.calibration_inputs < 1) {
    return Status::InvalidArgument("INT8 calibration needs at least one input, got " +
                                   std::to_string(options.calibration_inputs));
  }
  const size_t input_size = static_cast<size_t>(NumElements(g.input_shape()));
  for (size_t k = 0; k < given.size(); ++k) {
    if (given[k].size() != input_size) {
      return Status::InvalidArgument("model '" + g.name() + "': calibration sample " +
                                     std::to_string(k) + " has " + std::to_string(given[k].size()) +
                                     " values; the input " + ShapeString(g.input_shape()) +
                                     " has " + std::to_string(input_size));
    }
    for (float v : given[k]) {
      if (!std::isfinite(v)) {
        return Status::InvalidArgument("model '" + g.name() + "': calibration sample " +
                                       std::to_string(k) + " holds a NaN or infinity");
      }
    }
  }
  const size_t n = g.nodes().size();
  Int8Calibration cal;
  cal.min.assign(n, std::numeric_limits<float>::infinity());
  cal.max.assign(n, -std::numeric_limits<float>::infinity());
  const bool mse = options.ranges == Int8Ranges::kMse;
  std::vector<std::vector<float>> samples(mse ? n : 0);
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  constexpr int kChunk = 8;  // inputs per FP32 run (ranges do not depend on the batching)
  for (int first = 0; first < num_inputs; first += kChunk) {
    const int count = std::min(kChunk, num_inputs - first);
    std::vector<torch::Tensor> inputs;
    for (int k = 0; k < count; ++k) {
      if (!given.empty()) {
        inputs.push_back(WrapFloat(given[first + k].data(), shape).clone());
        continue;
      }
      const std::vector<float> x = MakeInput(g, options.calibration_seed + first + k);
      inputs.push_back(WrapFloat(x.data(), shape).clone());
    }
    fp32.Forward(torch::cat(inputs, 0), [&](int node, const torch::Tensor& y) {
      auto [lo, hi] = torch::aminmax(y);
      cal.min[node] = std::min(cal.min[node], lo.item<float>());
      cal.max[node] = std::max(cal.max[node], hi.item<float>());
      if (!mse) return;
      // An evenly strided sample of the output (the whole of it for small outputs).
      const torch::Tensor flat = y.reshape({-1});
      const int64_t stride = std::max<int64_t>(1, flat.numel() / kSamplesPerRun);
      const torch::Tensor sample = flat.slice(0, 0, flat.numel(), stride).contiguous();
      const float* p = sample.data_ptr<float>();
      samples[node].insert(samples[node].end(), p, p + sample.numel());
    });
  }
  if (mse) {
    for (size_t i = 0; i < n; ++i) {
      auto [lo, hi] = MseRange(samples[i], cal.min[i], cal.max[i]);
      cal.min[i] = lo;
      cal.max[i] = hi;
    }
  }
  return cal;
}

// ---- Build -----------------------------------------------------------------------------------

Result<std::unique_ptr<TorchInt8Graph>> TorchInt8Graph::Build(const WeightedGraph& graph,
                                                              const Int8Options& options) {
  std::string name;
  RETURN_IF_ERROR(ResolveEngine(options.engine, &name).status());
  RETURN_IF_ERROR(CheckWeights(graph.graph, graph.weights));
  TorchGraph fp32(graph);
  ASSIGN_OR_RETURN(Int8Calibration cal, CalibrateInt8(fp32, options));
  return Build(graph, cal, options);
}

Result<std::unique_ptr<TorchInt8Graph>> TorchInt8Graph::Build(const WeightedGraph& wg,
                                                              const Int8Calibration& cal,
                                                              const Int8Options& options) {
  std::string engine_name;
  ASSIGN_OR_RETURN(at::QEngine engine, ResolveEngine(options.engine, &engine_name));
  const Graph& g = wg.graph;
  const int n = static_cast<int>(g.nodes().size());
  if (!g.finalized()) return Status::InvalidArgument("model '" + g.name() + "': not finalized");
  if (static_cast<int>(cal.min.size()) != n || static_cast<int>(cal.max.size()) != n ||
      static_cast<int>(wg.weights.size()) != n) {
    return Status::InvalidArgument("model '" + g.name() +
                                   "': calibration or weights do not match the graph's " +
                                   std::to_string(n) + " nodes");
  }
  // The weights are the graph's own (seeded or imported), copied as they are; a vector of the
  // wrong size would be read out of bounds below.
  RETURN_IF_ERROR(CheckWeights(g, wg.weights));
  at::globalContext().setQEngine(engine);
  torch::NoGradGuard no_grad;
  const QuantizedOps& ops = QuantizedOps::Get();

  std::unique_ptr<TorchInt8Graph> m(new TorchInt8Graph());
  m->engine_ = engine_name;
  m->qengine_ = engine;
  m->per_channel_ = options.per_channel_weights;
  m->graph_ = g;
  const bool reduce_range = engine == at::kFBGEMM || engine == at::kX86;
  // oneDNN (also behind "x86") fixes its packed weights' layout on their first call: see
  // PacksFor.
  m->per_signature_ = engine == at::kONEDNN || engine == at::kX86;
  // Prepacked here once so that weights the engine rejects fail naming their node; these serve
  // the probe below.
  auto initial = std::make_shared<Packs>();
  auto prepack = [&](bool conv, std::vector<c10::IValue> args) {
    initial->push_back(Call(conv ? ops.conv_prepack : ops.linear_prepack, args));
    m->prepacks_.push_back(Prepack{conv, std::move(args)});
    return static_cast<int>(m->prepacks_.size()) - 1;
  };

  std::vector<std::vector<int>> consumers(n);
  for (int i = 0; i < n; ++i) {
    for (int in : g.node(i).inputs) consumers[in].push_back(i);
  }
  // Value numbers holding each node's result, quantized and/or float; -1 = none yet.
  std::vector<int> qval(n, -1), fval(n, -1);
  fval[0] = 0;
  std::vector<bool> fused(n, false);  // a relu computed by its producer's step
  auto qparams = [&](int node) { return ActivationQParams(cal.min[node], cal.max[node]); };
  auto add_step = [&](Step s) {
    m->steps_.push_back(std::move(s));
    return static_cast<int>(m->steps_.size());  // the value it writes
  };
  auto quantized = [&](int node) {
    if (qval[node] < 0) {
      Step s;
      s.kind = Kind::kQuantize;
      s.node = node;
      s.in = {fval[node]};
      s.out = qparams(node);
      qval[node] = add_step(std::move(s));
    }
    return qval[node];
  };
  auto as_float = [&](int node) {
    if (fval[node] < 0) {
      Step s;
      s.kind = Kind::kDequantize;
      s.node = node;
      s.in = {qval[node]};
      fval[node] = add_step(std::move(s));
    }
    return fval[node];
  };
  // The relu or relu6 that only consumer of `node` is, or -1.
  auto fusable_relu = [&](int node) {
    if (consumers[node].size() != 1) return -1;
    const int c = consumers[node][0];
    const OpType op = g.node(c).op;
    return op == OpType::kRelu || op == OpType::kRelu6 ? c : -1;
  };

  for (int i = 1; i < n; ++i) {
    if (fused[i]) continue;
    const GraphNode& node = g.node(i);
    const NodeWeights& w = wg.weights[i];
    const std::vector<int64_t>& xs = g.node(node.inputs[0]).out_shape;
    const std::string label = NodeLabel(g, i);
    Step s;
    s.node = i;
    int result_node = i;  // the node whose value this step computes (the relu when fused)
    bool float_out = false;
    try {
      switch (node.op) {
        case OpType::kInput:
          return Status::InvalidArgument(label + ": a second input");
        case OpType::kConv:
        case OpType::kLinear:
        case OpType::kAdd:
        case OpType::kMul: {
          // A linear that reads a dynamic op's float result runs dynamically (float out, no
          // fused relu); everything else here is static with a fused relu when there is one.
          const bool dynamic =
              node.op == OpType::kLinear && qval[node.inputs[0]] < 0 && node.inputs[0] != 0;
          const int relu = dynamic ? -1 : fusable_relu(i);
          if (relu >= 0) {
            s.relu = true;
            fused[relu] = true;
            result_node = relu;
          }
          if (node.op == OpType::kAdd) {
            s.kind = Kind::kAdd;
            s.in = {quantized(node.inputs[0]), quantized(node.inputs[1])};
            break;
          }
          if (node.op == OpType::kMul) {
            const bool have = s.relu ? ops.mul_relu.has_value() : ops.mul.has_value();
            if (!have && s.relu) {  // unfuse: the relu runs on its own below
              s.relu = false;
              fused[relu] = false;
              result_node = i;
            }
            s.kind = ops.mul.has_value() ? Kind::kMul : Kind::kFloatOp;
            s.in = {quantized(node.inputs[0]), quantized(node.inputs[1])};
            break;
          }
          torch::Tensor weight,
              bias = FromVector(w.bias,
                                {node.op == OpType::kConv ? node.out_channels : node.out_features});
          if (node.op == OpType::kConv) {
            weight = FromVector(
                w.weight, {node.out_channels, xs[0] / node.groups, node.kernel_h, node.kernel_w});
            s.kind = Kind::kConv;
            s.in = {quantized(node.inputs[0])};
            c10::List<int64_t> stride({node.stride_h, node.stride_w}),
                pad({node.pad_h, node.pad_w}), dilation({node.dilation_h, node.dilation_w});
            s.packed = prepack(true, {QuantizeWeight(weight, options.per_channel_weights),
                                      bias.defined() ? c10::IValue(bias) : c10::IValue(), stride,
                                      pad, dilation, static_cast<int64_t>(node.groups)});
          } else {
            weight = FromVector(w.weight, {node.out_features, xs[0]});
            s.kind = dynamic ? Kind::kLinearDynamic : Kind::kLinear;
            s.in = {dynamic ? fval[node.inputs[0]] : quantized(node.inputs[0])};
            s.reduce_range = reduce_range;
            s.packed = prepack(false, {QuantizeWeight(weight, options.per_channel_weights), bias});
            float_out = dynamic;
          }
          break;
        }
        case OpType::kConcat: {
          s.kind = Kind::kConcat;
          for (int in : node.inputs) s.in.push_back(quantized(in));
          break;
        }
        case OpType::kBatchNorm: {
          if (xs.size() != 3) return Status::InvalidArgument(label + ": needs a (C, H, W) input");
          s.kind = Kind::kBatchNorm;
          s.in = {quantized(node.inputs[0])};
          s.weight = FromVector(w.weight, {xs[0]});
          s.bias = FromVector(w.bias, {xs[0]});
          s.mean = FromVector(w.mean, {xs[0]});
          s.var = FromVector(w.var, {xs[0]});
          break;
        }
        case OpType::kRelu:
          s.kind = Kind::kRelu;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kRelu6:
          s.kind = Kind::kRelu6;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kMaxPool:
          s.kind = Kind::kMaxPool;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kAvgPool:
          s.kind = Kind::kAvgPool;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kGlobalAvgPool:
          s.kind = Kind::kGlobalAvgPool;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kFlatten:
          // Follows its input's domain: a dynamic result stays float.
          s.kind = Kind::kFlatten;
          float_out = qval[node.inputs[0]] < 0 && node.inputs[0] != 0;
          s.in = {float_out ? fval[node.inputs[0]] : quantized(node.inputs[0])};
          break;
        case OpType::kHardswish:
          s.kind = ops.hardswish ? Kind::kHardswish : Kind::kFloatOp;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kSigmoid:
          s.kind = Kind::kSigmoid;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kHardsigmoid:
          s.kind = Kind::kHardsigmoid;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kSilu:
          s.kind = Kind::kFloatOp;  // libtorch 1.13 has no quantized silu
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kAdaptiveAvgPool:
          // To 1x1 it is global average pooling, done the same way (own range, see Run).
          s.kind = node.pool_out_h == 1 && node.pool_out_w == 1 ? Kind::kGlobalAvgPool
                                                                : Kind::kAdaptiveAvgPool;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kChannelShuffle:
          s.kind = Kind::kChannelShuffle;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kChannelSlice:
          s.kind = Kind::kChannelSlice;
          s.in = {quantized(node.inputs[0])};
          break;
        case OpType::kLstm: {
          if (xs.size() != 2) return Status::InvalidArgument(label + ": needs a (T, F) input");
          const int64_t h = node.hidden, p = node.projection > 0 ? node.projection : h;
          s.kind = Kind::kLstm;
          s.in = {as_float(node.inputs[0])};
          s.reduce_range = reduce_range;
          // Dynamic quantization keeps the weights per-tensor or per-channel like the linears.
          const bool pc = options.per_channel_weights;
          s.packed = prepack(false, {QuantizeWeight(FromVector(w.weight, {4 * h, xs[1]}), pc),
                                     FromVector(w.bias, {4 * h})});
          s.packed_recurrent = prepack(
              false, {QuantizeWeight(FromVector(w.recurrent, {4 * h, p}), pc), c10::IValue()});
          if (node.projection > 0) {
            s.packed_projection = prepack(
                false, {QuantizeWeight(FromVector(w.projection, {p, h}), pc), c10::IValue()});
          }
          if (node.peephole) s.weight = FromVector(w.peephole, {3, h});
          float_out = true;
          break;
        }
      }
    } catch (const std::exception& e) {
      return Status::InvalidArgument("model '" + g.name() + "', " + label + ": engine " +
                                     engine_name + " cannot quantize it: " + FirstLine(e));
    }
    s.out = qparams(result_node);
    const int v = add_step(std::move(s));
    (float_out ? fval : qval)[result_node] = v;
  }
  const int out_node = g.output();
  const int result = qval[out_node] >= 0 ? as_float(out_node) : fval[out_node];
  if (result < 0) return Status::Internal("model '" + g.name() + "': output not computed");

  // Release each value after its last reader; the result is kept.
  std::vector<int> last(m->steps_.size() + 1, -1);
  for (int s = 0; s < static_cast<int>(m->steps_.size()); ++s) {
    for (int v : m->steps_[s].in) last[v] = s;
  }
  for (int v = 0; v < static_cast<int>(last.size()); ++v) {
    if (last[v] >= 0 && v != result) m->steps_[last[v]].release.push_back(v);
  }
  m->num_values_ = static_cast<int>(m->steps_.size()) + 1;
  m->result_ = result;

  // Probe once so that a kernel that rejects its arguments fails here, naming the node.
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  const std::vector<float> x = MakeInput(g, options.calibration_seed);
  int failed = -1;
  m->packs_.emplace_front(m->SignatureOf(1), std::move(initial));
  try {
    m->Run(WrapFloat(x.data(), shape), &failed);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("model '" + g.name() + "', " + m->StepName(failed) +
                                   ": engine " + engine_name + " rejected it: " + FirstLine(e));
  }
  // The probe's weights are now in the layout of its signature (batch 1 under the build's
  // thread count, often not the runs'): runs prepack their own.
  if (m->per_signature_) m->packs_.clear();
  return m;
}

// ---- Packed weights per run signature --------------------------------------------------------

namespace {
constexpr size_t kMaxPackSets = 4;  // signatures whose packed weights are kept (most recent)
}  // namespace

TorchInt8Graph::Signature TorchInt8Graph::SignatureOf(int64_t batch) const {
  // The thread count as libtorch's oneDNN kernels read it for their cache (the calling
  // thread's).
  return per_signature_ ? Signature{batch, at::get_num_threads()} : Signature{0, 0};
}

std::shared_ptr<const TorchInt8Graph::Packs> TorchInt8Graph::Prepacked() const {
  const QuantizedOps& ops = QuantizedOps::Get();
  auto packs = std::make_shared<Packs>();
  packs->reserve(prepacks_.size());
  for (const Prepack& p : prepacks_) {
    packs->push_back(Call(p.conv ? ops.conv_prepack : ops.linear_prepack, p.args));
  }
  return packs;
}

std::shared_ptr<const TorchInt8Graph::Packs> TorchInt8Graph::PacksFor(int64_t batch) const {
  const Signature key = SignatureOf(batch);
  std::lock_guard<std::mutex> lock(packs_mu_);
  for (auto it = packs_.begin(); it != packs_.end(); ++it) {
    if (it->first != key) continue;
    if (it != packs_.begin()) packs_.splice(packs_.begin(), packs_, it);
    return packs_.front().second;
  }
  // A run holds its set (shared) while it runs, so dropping the oldest here is safe.
  packs_.emplace_front(key, Prepacked());
  if (packs_.size() > kMaxPackSets) packs_.pop_back();
  return packs_.front().second;
}

// ---- Execution -------------------------------------------------------------------------------

torch::Tensor TorchInt8Graph::Run(const torch::Tensor& input, int* failed_step,
                                  const NodeObserver* observe) const {
  at::globalContext().setQEngine(qengine_);
  torch::NoGradGuard no_grad;
  const QuantizedOps& ops = QuantizedOps::Get();
  const std::shared_ptr<const Packs> held = PacksFor(input.size(0));
  const Packs& packs = *held;
  std::vector<torch::Tensor> v(num_values_);
  v[0] = input;
  for (int i = 0; i < static_cast<int>(steps_.size()); ++i) {
    const Step& s = steps_[i];
    const GraphNode& n = graph_.node(s.node);
    try {
      const torch::Tensor& x = v[s.in[0]];
      torch::Tensor y;
      switch (s.kind) {
        case Kind::kQuantize:
          y = at::quantize_per_tensor(x, s.out.scale, s.out.zero_point, torch::kQUInt8);
          break;
        case Kind::kDequantize:
          y = x.dequantize();
          break;
        case Kind::kConv:
          y = Call(s.relu ? ops.conv_relu : ops.conv,
                   {x, packs[s.packed], s.out.scale, s.out.zero_point})
                  .toTensor();
          break;
        case Kind::kLinear:
          y = Call(s.relu ? ops.linear_relu : ops.linear,
                   {x, packs[s.packed], s.out.scale, s.out.zero_point})
                  .toTensor();
          break;
        case Kind::kLinearDynamic:
          y = Call(ops.linear_dynamic, {x, packs[s.packed], s.reduce_range}).toTensor();
          break;
        case Kind::kAdd:
          y = Call(s.relu ? ops.add_relu : ops.add, {x, v[s.in[1]], s.out.scale, s.out.zero_point})
                  .toTensor();
          break;
        case Kind::kConcat: {
          std::vector<torch::Tensor> inputs;
          for (int in : s.in) inputs.push_back(v[in]);
          y = QuantizedCatChannelsLast(inputs, s.out.scale, s.out.zero_point);
          if (!y.defined()) y = LibtorchQuantizedCat(inputs, s.out.scale, s.out.zero_point);
          break;
        }
        case Kind::kBatchNorm:
          y = Call(ops.batch_norm, {x, s.weight, s.bias, s.mean, s.var, static_cast<double>(n.eps),
                                    s.out.scale, s.out.zero_point})
                  .toTensor();
          break;
        case Kind::kRelu:
          y = at::relu(x);
          break;
        case Kind::kRelu6:
          // libtorch 1.13's QNNPACK clamp returns wrong values for a channels-last input (what
          // every quantized conv returns): give it an NCHW copy.
          y = at::clamp(qengine_ == at::kQNNPACK ? x.contiguous() : x, 0.0, 6.0);
          break;
        case Kind::kMaxPool:
          y = QuantizedMaxPool2d(x, n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad_h,
                                 n.pad_w, n.ceil_mode, qengine_ != at::kQNNPACK);
          break;
        case Kind::kAvgPool:
          y = at::avg_pool2d(x, {n.kernel_h, n.kernel_w}, {n.stride_h, n.stride_w},
                             {n.pad_h, n.pad_w}, n.ceil_mode, /*count_include_pad=*/true);
          break;
        case Kind::kGlobalAvgPool:
          // Averaged in float and requantized to this node's own (much narrower) range: the
          // quantized kernels keep the input's scale, too coarse for the classifier's input.
          y = at::quantize_per_tensor(x.dequantize().mean({2, 3}, /*keepdim=*/true), s.out.scale,
                                      s.out.zero_point, torch::kQUInt8);
          break;
        case Kind::kFlatten:
          y = x.contiguous().flatten(1);
          break;
        case Kind::kLstm:
          y = Lstm(s, packs, x);
          break;
        case Kind::kHardswish:
          y = Call(*ops.hardswish, {x, s.out.scale, s.out.zero_point}).toTensor();
          break;
        case Kind::kSigmoid:
          y = at::sigmoid(x);
          break;
        case Kind::kHardsigmoid:
          y = at::hardsigmoid(x);
          break;
        case Kind::kMul:
          y = Call(s.relu ? *ops.mul_relu : *ops.mul,
                   {x, v[s.in[1]], s.out.scale, s.out.zero_point})
                  .toTensor();
          break;
        case Kind::kAdaptiveAvgPool:
          y = at::adaptive_avg_pool2d(x, {n.pool_out_h, n.pool_out_w});
          break;
        case Kind::kChannelShuffle:
          y = ChannelShuffle(x, n.groups);
          break;
        case Kind::kChannelSlice:
          // A dense copy in the input's layout: the quantized kernels expect one.
          y = x.narrow(1, n.slice_begin, n.slice_end - n.slice_begin)
                  .contiguous(x.suggest_memory_format());
          break;
        case Kind::kFloatOp:
          y = at::quantize_per_tensor(
              FloatOp(n.op, x.dequantize(), s.in.size() > 1 ? v[s.in[1]] : torch::Tensor()),
              s.out.scale, s.out.zero_point, torch::kQUInt8);
          break;
      }
      if (observe && *observe) (*observe)(s.node, y);
      v[i + 1] = std::move(y);
    } catch (...) {
      if (failed_step) *failed_step = i;
      throw;
    }
    for (int r : s.release) v[r] = torch::Tensor();
  }
  return v[result_];
}

torch::Tensor TorchInt8Graph::Lstm(const Step& s, const Packs& packs,
                                   const torch::Tensor& x) const {
  const QuantizedOps& ops = QuantizedOps::Get();
  const GraphNode& n = graph_.node(s.node);
  const int64_t batch = x.size(0), steps = x.size(1), h = n.hidden;
  auto linear = [&](const torch::Tensor& a, int slot) {
    return Call(ops.linear_dynamic, {a, packs[slot], s.reduce_range}).toTensor();
  };
  // Input contributions of every step in one matmul (one activation scale for the whole
  // sequence): [N, T, 4H].
  const torch::Tensor xg =
      linear(x.reshape({batch * steps, x.size(2)}), s.packed).view({batch, steps, 4 * h});
  torch::Tensor hs, c = torch::zeros({batch, h});
  for (int64_t t = 0; t < steps; ++t) {
    // h and c start at zero, so the first step has no recurrent term.
    const torch::Tensor g =
        t == 0 ? xg.select(1, 0) : xg.select(1, t) + linear(hs, s.packed_recurrent);
    auto gates = g.chunk(4, 1);  // i, f, g, o
    torch::Tensor i_pre = gates[0], f_pre = gates[1], o_pre = gates[3];
    if (n.peephole) {
      i_pre = i_pre + c * s.weight[0];
      f_pre = f_pre + c * s.weight[1];
    }
    c = torch::sigmoid(f_pre) * c + torch::sigmoid(i_pre) * torch::tanh(gates[2]);
    if (n.peephole) o_pre = o_pre + c * s.weight[2];
    const torch::Tensor hc = torch::sigmoid(o_pre) * torch::tanh(c);
    hs = n.projection > 0 ? linear(hc, s.packed_projection) : hc;
  }
  return hs;
}

torch::Tensor TorchInt8Graph::Forward(const torch::Tensor& input) const {
  int failed = -1;
  try {
    return Run(input, &failed);
  } catch (const std::exception& e) {
    throw std::runtime_error("INT8 model '" + graph_.name() + "', " + StepName(failed) + ": " +
                             FirstLine(e));
  }
}

torch::Tensor TorchInt8Graph::Forward(const torch::Tensor& input,
                                      const NodeObserver& observe) const {
  int failed = -1;
  try {
    return Run(input, &failed, &observe);
  } catch (const std::exception& e) {
    throw std::runtime_error("INT8 model '" + graph_.name() + "', " + StepName(failed) + ": " +
                             FirstLine(e));
  }
}

std::string TorchInt8Graph::StepName(int step) const {
  if (step < 0 || step >= static_cast<int>(steps_.size())) return "input";
  const Step& s = steps_[step];
  return NodeLabel(graph_, s.node) + " [" + KindName(s.kind, s.relu, graph_.node(s.node).op) + "]";
}

std::string TorchInt8Graph::Summary() const {
  std::map<std::string, int> counts;
  for (const Step& s : steps_) ++counts[KindName(s.kind, s.relu, graph_.node(s.node).op)];
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto& [name, count] : counts) sorted.push_back({-count, name});
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (const auto& [count, name] : sorted) {
    out += (out.empty() ? "" : ", ") + std::to_string(-count) + " " + name;
  }
  return out;
}

}  // namespace autoscale
