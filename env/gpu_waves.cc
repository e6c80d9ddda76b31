#include "env/gpu_waves.h"

#include <algorithm>
#include <string>

namespace autoscale {

namespace {

// The OpenCL kernels' tile constants (targets/opencl/kernels.h: kPxTile, kConvRows, kOcBlock,
// kPointwiseBlocks) and the fixed work-group sizes of targets/opencl/executor.cc. env cannot
// include targets/; tests/opencl/gpu_waves_opencl_test.cc fails if the two drift apart.
constexpr int64_t kPx = 8;         // output pixels per work-item row
constexpr int64_t kRows = 2;       // output rows per work-item of the general convolution
constexpr int64_t kOcBlock = 8;    // output channels per block of the convolution kernels
constexpr int64_t kPwBlocks = 2;   // kOcBlock blocks per work-item of the 1x1 kernel
constexpr int64_t kGroup = 16;     // work-items per work-group of the short kernels
constexpr int64_t kLinearOut = 4;  // outputs per work-item of the linear kernel

int64_t Ceil(int64_t n, int64_t d) { return (std::max<int64_t>(n, 1) + d - 1) / d; }

bool IsDepthwise(const LayerDescriptor& l) {
  return l.groups > 1 && l.groups == l.in_channels && l.out_channels == l.in_channels;
}

bool IsElementwiseOp(const std::string& op) {
  return op == "add" || op == "mul" || op == "relu" || op == "relu6" || op == "hardswish" ||
         op == "hardsigmoid" || op == "sigmoid" || op == "silu";
}

// Work-groups of the OpenCL plan's kernel for this layer (executor.cc, Executor::Enqueue).
GpuBlocks OpenClBlocks(const LayerDescriptor& l, int64_t n) {
  const int64_t oh = l.out_h, ow = l.out_w, c = l.out_channels;
  const int64_t hw = oh * ow;
  const double taps = static_cast<double>(l.kernel_h) * l.kernel_w;
  if (l.op == "conv") {
    if (IsDepthwise(l)) {  // dwconv_*: {Tiles(ow), oh, n*c}, local {1, 1, 16}
      return {Ceil(ow, kPx) * std::max<int64_t>(oh, 1) * Ceil(n * c, kGroup),
              static_cast<double>(kPx * kGroup) * taps};
    }
    const int64_t g = std::max(l.groups, 1);
    const int64_t icg = l.in_channels / g, ocg = c / g;
    const int64_t nblk = Ceil(ocg, kOcBlock);
    if (l.kernel_h == 1 && l.kernel_w == 1 && l.stride_h == 1 && l.stride_w == 1) {
      // conv1x1: {Tiles(hw), n * groups * Tiles(nblk, 2)}, one work-item per group.
      return {Ceil(hw, kPx) * n * g * Ceil(nblk, kPwBlocks),
              static_cast<double>(kPx * kPwBlocks * kOcBlock * icg)};
    }
    // conv2d_*: {Tiles(ow), Tiles(oh, 2), n * groups * nblk}, one work-item per group.
    return {Ceil(ow, kPx) * Ceil(oh, kRows) * n * g * nblk,
            static_cast<double>(kPx * kRows * kOcBlock * icg) * taps};
  }
  if (l.op == "max_pool" || l.op == "avg_pool") {  // {Tiles(ow), oh, n*c}, local {1, 1, 16}
    return {Ceil(ow, kPx) * std::max<int64_t>(oh, 1) * Ceil(n * c, kGroup), 0};
  }
  if (l.op == "global_avg_pool") return {Ceil(c, kGroup) * n, 0};  // {c, n}, local {16, 1}
  if (l.op == "adaptive_avg_pool") {
    if (oh == l.in_h && ow == l.in_w) return {0, 0};          // a view
    if (oh == 1 && ow == 1) return {Ceil(c, kGroup) * n, 0};  // as global_avg_pool
    if (l.in_h % std::max<int64_t>(oh, 1) == 0 && l.in_w % std::max<int64_t>(ow, 1) == 0) {
      return {Ceil(ow, kPx) * oh * Ceil(n * c, kGroup), 0};  // as avg_pool
    }
    return {std::max<int64_t>(ow, 1) * oh * Ceil(n * c, kGroup), 0};  // {ow, oh, n*c}
  }
  if (l.op == "linear") {  // {Tiles(oc, 4), n}, local {16, 1}
    return {Ceil(Ceil(c, kLinearOut), kGroup) * n,
            static_cast<double>(kLinearOut * kGroup * l.in_channels)};
  }
  if (l.op == "batch_norm" || l.op == "channel_shuffle" ||
      (l.op == "mul" && l.input_elements < 2 * l.output_elements)) {
    // batch_norm, channel_shuffle, scale_channels: {Tiles(hw), n*c}, local {16, 1}.
    if (l.op == "channel_shuffle" && (l.groups <= 1 || l.groups == c)) return {0, 0};  // a view
    return {Ceil(Ceil(hw, kPx), kGroup) * n * c, 0};
  }
  if (IsElementwiseOp(l.op)) {  // {Tiles(c*h*w), n}, local {16, 1}
    const int64_t e = static_cast<int64_t>(l.output_elements);
    return {Ceil(Ceil(e, kPx), kGroup) * n, 0};
  }
  // flatten (a view), concat (inputs written in place), lstm (not run by the OpenCL target).
  return {0, 0};
}

// Thread blocks of an implicit-GEMM convolution and of the other layers in GEMM-sized tiles.
GpuBlocks GemmBlocks(const LayerDescriptor& l, int64_t n, int64_t tm, int64_t tn) {
  const int64_t pixels = n * std::max<int64_t>(l.out_h, 1) * std::max<int64_t>(l.out_w, 1);
  if (l.op == "conv") {
    const double taps = static_cast<double>(l.kernel_h) * l.kernel_w;
    if (IsDepthwise(l)) {
      return {Ceil(pixels, tm) * Ceil(l.out_channels, tn), static_cast<double>(tm * tn) * taps};
    }
    const int64_t g = std::max(l.groups, 1);
    const int64_t icg = l.in_channels / g, ocg = l.out_channels / g;
    return {g * Ceil(pixels, tm) * Ceil(ocg, tn), static_cast<double>(tm * tn * icg) * taps};
  }
  if (l.op == "linear") {
    return {Ceil(n, tm) * Ceil(l.out_channels, tn), static_cast<double>(tm * tn * l.in_channels)};
  }
  if (l.op == "flatten" || l.op == "concat" || l.op == "lstm") return {0, 0};
  return {Ceil(n * static_cast<int64_t>(l.output_elements), tm * tn), 0};
}

}  // namespace

std::string_view GpuTilingName(GpuTiling t) { return t == GpuTiling::kGemm ? "gemm" : "opencl"; }

Result<GpuTiling> ParseGpuTiling(std::string_view name) {
  if (name == "opencl") return GpuTiling::kOpenCl;
  if (name == "gemm") return GpuTiling::kGemm;
  return Status::InvalidArgument("unknown tiling '" + std::string(name) +
                                 "' (expected opencl or gemm)");
}

GpuBlocks LayerGpuBlocks(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p) {
  const int64_t n = std::max<int64_t>(batch, 1);
  return p.tiling == GpuTiling::kGemm ? GemmBlocks(layer, n, p.tile_m, p.tile_n)
                                      : OpenClBlocks(layer, n);
}

GpuWaves LayerGpuWaves(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p) {
  GpuWaves w;
  w.blocks = LayerGpuBlocks(layer, batch, p).blocks;
  w.capacity = std::max<int64_t>(p.capacity(), 1);
  w.waves = w.blocks == 0 ? 0 : (w.blocks + w.capacity - 1) / w.capacity;
  w.fill = w.waves == 0 ? 0.0 : static_cast<double>(w.blocks) / (w.waves * w.capacity);
  return w;
}

bool WaveTimed(const LayerDescriptor& layer) { return layer.op == "conv"; }

double LayerWaveMs(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p,
                   double gmacs_per_s) {
  if (!WaveTimed(layer) || !(gmacs_per_s > 0)) return 0.0;
  const GpuBlocks b = LayerGpuBlocks(layer, batch, p);
  const GpuWaves w = LayerGpuWaves(layer, batch, p);
  const double wave_ms = static_cast<double>(w.capacity) * b.tile_macs / (gmacs_per_s * 1e6);
  return static_cast<double>(w.waves) * wave_ms;  // GMAC/s = 1e6 MAC/ms
}

double ModelWaveMacs(const std::vector<LayerDescriptor>& layers, int64_t batch,
                     const GpuWaveParams& p) {
  double macs = 0;
  for (const LayerDescriptor& l : layers) {
    if (!WaveTimed(l)) continue;
    const GpuWaves w = LayerGpuWaves(l, batch, p);
    macs += static_cast<double>(w.waves) * static_cast<double>(w.capacity) *
            LayerGpuBlocks(l, batch, p).tile_macs;
  }
  return macs;
}

double ModelGpuMs(const std::vector<LayerDescriptor>& layers, int64_t batch, const GpuWaveParams& p,
                  double conv_gmacs, double fc_gmacs, double recurrent_gmacs) {
  const double n = static_cast<double>(std::max<int64_t>(batch, 1));
  double ms = 0;
  for (const LayerDescriptor& l : layers) {
    if (WaveTimed(l)) {
      ms += LayerWaveMs(l, batch, p, conv_gmacs);
    } else if (l.op == "linear" && fc_gmacs > 0) {
      ms += n * l.macs / (fc_gmacs * 1e6);
    } else if (l.op == "lstm" && recurrent_gmacs > 0) {
      ms += n * l.macs / (recurrent_gmacs * 1e6);
    }
  }
  return ms;
}

}  // namespace autoscale
