// Features of a network, computed from its graph: what the Q-learning state and the cost
// model read (layer counts by class, MACs, parameters), plus activation sizes and a
// per-layer descriptor for tools. configs/models/*.yaml hold the same numbers with their
// sources; tests/zoo keep the two in step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zoo/graph.h"

namespace autoscale {

struct LayerInfo {
  std::string name;
  std::string type;  // OpTypeName(): "conv", "linear", "lstm", "max_pool", ...
  int64_t in_channels = 0, out_channels = 0;  // features for linear, inputs/projection for lstm
  int kernel_h = 0, kernel_w = 0, stride_h = 0, stride_w = 0, groups = 1;
  int dilation_h = 1, dilation_w = 1;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;  // spatial size; 0 where not spatial
  int64_t macs = 0, params = 0;
  int64_t output_elements = 0;
};

struct ModelFeatures {
  std::string name;
  int conv_layers = 0;       // convolutions (a depthwise convolution counts as one)
  int fc_layers = 0;         // fully-connected layers
  int recurrent_layers = 0;  // recurrent layers (an LSTM layer counts as one)
  int64_t macs = 0, fc_macs = 0, recurrent_macs = 0;
  int64_t params = 0;
  int64_t input_elements = 0, output_elements = 0;
  int64_t activation_elements = 0;       // sum of every layer's output, one inference
  int64_t peak_activation_elements = 0;  // largest single layer output
  std::vector<LayerInfo> layers;         // every node but the input, in execution order
  // Operations of an imported model that map to no graph op ("aten::foo at node 12"): the
  // figures above then cover only what could be counted, and `complete` is false.
  std::vector<std::string> uncounted;
  bool complete = true;
};

// The graph must be finalized.
ModelFeatures ComputeFeatures(const Graph& graph);

}  // namespace autoscale
