// OpenCL C source of the mobile-GPU target's kernels, and the constants the host shares with it.
//
// One source, compiled once per precision: with -DAS_FP16 every tensor is `half` in storage and
// arithmetic (the device must report cl_khr_fp16), otherwise `float`. BuildOptions() gives the
// matching compiler flags.
//
// Tensor addressing: every kernel reads and writes through a view (base offset, batch stride, in
// elements); within one batch element a tensor is dense (C, H, W). Concat outputs are written
// straight into channel slices of the concat's buffer this way.
#pragma once

#include <string>

namespace autoscale::opencl {

// Output channels per work-item in the convolution kernels (weights are packed in blocks of it).
inline constexpr int kOcBlock = 8;
// Consecutive output pixels per work-item row in the tiled and elementwise kernels.
inline constexpr int kPxTile = 8;
// Output rows per work-item of the general convolution kernels (conv2d_*).
inline constexpr int kConvRows = 2;
// Blocks of kOcBlock output channels per work-item of the 1x1 kernel.
inline constexpr int kPointwiseBlocks = 2;
// The least number of elements before and after the tensors of every activation buffer that
// kernels may read (never write): vector loads of a tile that overhangs the left or right edge
// of the input stay inside the allocation (see Plan::read_slack for the exact need).
inline constexpr int kReadSlack = 256;

// The program text (one translation unit, all kernels).
const char* KernelSource();

// Compiler flags for one precision.
std::string BuildOptions(bool fp16);

// Kernel names, as the host creates them.
inline constexpr const char* kKernelNames[] = {
    "pad2d",
    "conv2d_s1",
    "conv2d_s2",
    "conv2d_sn",
    "conv1x1",
    "dwconv_s1",
    "dwconv_s2",
    "dwconv_sn",
    "max_pool_s1",
    "max_pool_s2",
    "max_pool_sn",
    "avg_pool_s1",
    "avg_pool_s2",
    "avg_pool_sn",
    "global_avg_pool",
    "linear",
    "add",
    "batch_norm",
    "activation",
    "copy_view",
    "to_t",
    "from_t",
    "mul",
    "scale_channels",
    "adaptive_avg_pool",
    "channel_shuffle",
};

}  // namespace autoscale::opencl
