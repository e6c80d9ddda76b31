// libtorch models for the CPU target: a zoo graph executed with ATen ops (FP32 here, INT8 in
// torch_int8.h) or a TorchScript module. Includes torch: keep it out of widely included headers
// (each translation unit that includes it takes ~25 s to compile).
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/status.h"
#include "zoo/graph.h"

namespace autoscale {

// Anything the CPU target can run: input [N, ...] float32 on the CPU, output float32.
// Forward is const and may be called from one thread at a time, unless concurrent_forward().
class TorchModel {
 public:
  virtual ~TorchModel() = default;
  virtual torch::Tensor Forward(const torch::Tensor& input) const = 0;
  // True when Forward may run on several threads at once (the worker then splits a batch
  // across threads). The default is false: one thread at a time.
  virtual bool concurrent_forward() const { return false; }
  // Moves the weights to `device` (the worker's CUDA path); Forward then takes inputs there.
  // Models that run only on the CPU keep this default, which throws for any other device.
  virtual void To(const torch::Device& device) {
    if (!device.is_cpu()) throw std::runtime_error("this model runs on the CPU only");
  }
};

// Called after each node with its output (used by INT8 calibration and by tests that compare
// backends node by node).
using NodeObserver = std::function<void(int node, const torch::Tensor& output)>;

// FP32 execution of a WeightedGraph with ATen ops: the functions torch.nn's modules call
// (conv2d with dilation and groups, batch_norm, linear, max/avg/adaptive pooling, relu,
// hardtanh's clamp, hardswish, hardsigmoid, sigmoid, silu, mul with broadcasting, cat,
// channel_shuffle), so that a graph imported from TorchScript gives torch's outputs. Weights
// (seeded or imported) are copied into torch tensors at construction, which throws
// std::invalid_argument when they do not fit the graph (CheckWeights); the graph is kept by
// value.
class TorchGraph final : public TorchModel {
 public:
  explicit TorchGraph(const WeightedGraph& graph);

  torch::Tensor Forward(const torch::Tensor& input) const override {
    return Forward(input, nullptr);
  }
  torch::Tensor Forward(const torch::Tensor& input, const NodeObserver& observe) const;
  // Part of a forward pass, for a pipeline's stages (targets/cpu/pipeline_target.h): `values`
  // holds one tensor per node, those computed so far that a later node still reads (Begin()
  // starts it from the input); RunNodes computes nodes [begin, end) into it and drops each
  // tensor after its last reader. Stages run consecutive ranges, each on its own thread, and
  // hand `values` on; Output() takes the result after the last node.
  std::vector<torch::Tensor> Begin(const torch::Tensor& input) const;
  void RunNodes(std::vector<torch::Tensor>& values, int begin, int end,
                const NodeObserver& observe = nullptr) const;
  torch::Tensor Output(std::vector<torch::Tensor>& values) const;
  // Nodes whose outputs are read at or after node `cut` but computed before it: what a stage
  // boundary before `cut` hands to the next stage.
  std::vector<int> LiveAt(int cut) const;
  // Forward reads only the weights and keeps its state on the stack.
  bool concurrent_forward() const override { return true; }
  void To(const torch::Device& device) override;

  // Runs convolutions on channels-last (NHWC) tensors: 4-D inputs and conv weights are laid out
  // so, and oneDNN then convolves without reordering every layer's activations. Same results up
  // to float rounding (the summation order changes); the output is in that layout too until made
  // contiguous. Call before the first Forward.
  void UseChannelsLast();

  const Graph& graph() const { return graph_; }

 private:
  struct NodeTensors {
    torch::Tensor weight, bias, mean, var, recurrent, peephole, projection;
  };
  torch::Tensor Lstm(int node, const torch::Tensor& x) const;

  Graph graph_;
  std::vector<NodeTensors> tensors_;
  std::vector<int> last_use_;  // index of the last node reading each node's output
  bool channels_last_ = false;
};

// A TorchScript module loaded with torch::jit::load. Load() checks that the file exists, is a
// TorchScript archive, and accepts an input of `input_shape` (batch 1) and returns a tensor;
// each failure is an InvalidArgument/NotFound naming the file and what was wrong.
class TorchScriptModel final : public TorchModel {
 public:
  static Result<std::unique_ptr<TorchScriptModel>> Load(const std::string& path,
                                                        const std::vector<int64_t>& input_shape);
  torch::Tensor Forward(const torch::Tensor& input) const override;
  void To(const torch::Device& device) override { module_.to(device); }

 private:
  explicit TorchScriptModel(torch::jit::Module module) : module_(std::move(module)) {}
  mutable torch::jit::Module module_;
};

// ShuffleNet's channel shuffle of an [N, C, H, W] tensor (float, or quantized on the CPU):
// channel g*(C/groups)+k moves to k*groups+g. Keeps a channels-last input's layout on the CPU.
torch::Tensor ChannelShuffle(const torch::Tensor& x, int64_t groups);

// Wraps a host buffer as a tensor without copying (the buffer must outlive the tensor).
torch::Tensor WrapFloat(const float* data, const std::vector<int64_t>& shape);

}  // namespace autoscale
