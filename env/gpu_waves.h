// The GPU tail effect (issue 14, point 2; Yu et al., "Towards Latency-aware DNN Optimization with
// GPU Runtime Analysis and Tail Effect Elimination", 2020): a GPU runs a layer's thread blocks
// (work-groups), each computing one output tile, in waves of as many as its units (streaming
// multiprocessors, Adreno shader processors) hold at once. A wave takes as long as its slowest
// block whether it is full or not, so a layer's time is
//
//   blocks   = the output tiles of the layer at batch N (the tiling below)
//   capacity = units x blocks_per_unit
//   waves    = ceil(blocks / capacity)
//   wave_ms  = capacity x tile_macs / rate      (a full wave of this layer's tiles at the
//                                                target's GMAC/s; tile_macs counts a whole tile,
//                                                also where it overhangs the output)
//   layer_ms = waves x wave_ms
//
// so latency steps in the batch size and in channel counts instead of following MACs. Applied to
// convolutions (all kinds); fully-connected layers stream their weights (the profiles' fc rates
// are DRAM rates), recurrent cells run step by step, and the remaining layers (pooling,
// element-wise, concatenation, views) carry no MACs: those keep the MAC-rate formula (cost
// model) and their blocks are reported but not timed.
//
// Tilings:
//  - kOpenCl: the work-groups of this project's OpenCL kernels (targets/opencl/kernels.cc) with
//    the fixed work-group sizes targets/opencl/executor.cc launches them with (PoCL): a general
//    or grouped convolution's work-item computes 8 output pixels x 2 rows x 8 output channels of
//    one group, one work-item per group; a 1x1 convolution (stride 1) 8 pixels x 16 channels; a
//    depthwise one 8 pixels of one row of one channel, 16 channels (batch x channels) per group;
//    pooling as depthwise without the weights; linear 4 outputs per work-item, 16 per group;
//    global average pooling 16 channels per group; element-wise 8 elements per work-item, 16 per
//    group; concatenation and flatten no kernel (in place, a view). tests/opencl checks these
//    counts against the OpenCL plan's work-groups, zoo model by zoo model.
//  - kGemm: an implicit-GEMM convolution as cuDNN and CUTLASS run one: per group, an output
//    matrix of M = N x OH x OW pixels by OCg channels, cut into tile_m x tile_n thread-block
//    tiles (CUTLASS's default SIMT threadblock shape is 128 x 128). A depthwise convolution is
//    one matrix of N x OH x OW by C (each column its own filter). Linear: N x out features.
//    Pooling and element-wise layers: their output elements in tiles of tile_m x tile_n.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "env/layer_predictor.h"

namespace autoscale {

enum class GpuTiling : uint8_t { kOpenCl = 0, kGemm = 1 };
std::string_view GpuTilingName(GpuTiling t);  // "opencl", "gemm"
Result<GpuTiling> ParseGpuTiling(std::string_view name);

// A GPU target's concurrency, from its device profile's `waves` map. Disabled (units 0) when
// the profile gives none: the cost model then keeps the MAC-rate formula.
struct GpuWaveParams {
  int units = 0;            // compute units / streaming multiprocessors
  int blocks_per_unit = 0;  // thread blocks (work-groups) resident on one unit at once
  GpuTiling tiling = GpuTiling::kOpenCl;
  int tile_m = 128, tile_n = 128;  // kGemm: output pixels x output channels per block

  bool enabled() const { return units > 0 && blocks_per_unit > 0; }
  int64_t capacity() const { return static_cast<int64_t>(units) * blocks_per_unit; }
};

// One layer's blocks under a tiling.
struct GpuBlocks {
  int64_t blocks = 0;    // thread blocks (work-groups); 0: the layer launches no kernel
  double tile_macs = 0;  // multiply-accumulates one whole block computes (0 for no MACs)
};
GpuBlocks LayerGpuBlocks(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p);

// One layer's waves on a device.
struct GpuWaves {
  int64_t blocks = 0, capacity = 0, waves = 0;
  double fill = 0;  // blocks / (waves x capacity): how full its waves are (1: no tail)
};
GpuWaves LayerGpuWaves(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p);

// Whether the wave model times this layer (a convolution), see the header comment.
bool WaveTimed(const LayerDescriptor& layer);

// waves x wave_ms of one convolution at `gmacs_per_s` (the target's rate for its precision); 0
// for a layer that WaveTimed() leaves out. p must be enabled().
double LayerWaveMs(const LayerDescriptor& layer, int64_t batch, const GpuWaveParams& p,
                   double gmacs_per_s);

// The MACs the waves of a model's convolutions occupy (waves x capacity x tile_macs, summed):
// its convolution MACs plus what idles in tails and in tiles overhanging the output. Calibrates a
// rate: a model measured at T ms with convolutions taking T' of them runs at
// WaveMacs / T' MAC per ms under the wave model.
double ModelWaveMacs(const std::vector<LayerDescriptor>& layers, int64_t batch,
                     const GpuWaveParams& p);

// A whole model's time on a GPU at batch N without per-layer overheads or frequency scaling:
// its convolutions by waves at `conv_gmacs`, its linear layers' MACs x N at `fc_gmacs`, its
// recurrent ones' at `recurrent_gmacs` (the MAC-rate formula, as the cost model uses it).
double ModelGpuMs(const std::vector<LayerDescriptor>& layers, int64_t batch, const GpuWaveParams& p,
                  double conv_gmacs, double fc_gmacs, double recurrent_gmacs);

}  // namespace autoscale
