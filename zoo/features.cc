#include "zoo/features.h"

#include <algorithm>

namespace autoscale {

ModelFeatures ComputeFeatures(const Graph& graph) {
  ModelFeatures f;
  f.name = graph.name();
  f.input_elements = NumElements(graph.input_shape());
  for (size_t i = 1; i < graph.nodes().size(); ++i) {
    const GraphNode& n = graph.nodes()[i];
    const std::vector<int64_t>& x = graph.node(n.inputs[0]).out_shape;
    LayerInfo l;
    l.name = n.name;
    l.type = OpTypeName(n.op);
    l.macs = n.macs;
    l.params = n.params;
    l.output_elements = NumElements(n.out_shape);
    l.in_channels = x[0];
    l.out_channels = n.out_shape[0];
    if (x.size() == 3) {
      l.in_h = x[1];
      l.in_w = x[2];
    }
    if (n.out_shape.size() == 3) {
      l.out_h = n.out_shape[1];
      l.out_w = n.out_shape[2];
    }
    switch (n.op) {
      case OpType::kConv:
      case OpType::kMaxPool:
      case OpType::kAvgPool:
        l.kernel_h = n.kernel_h;
        l.kernel_w = n.kernel_w;
        l.stride_h = n.stride_h;
        l.stride_w = n.stride_w;
        l.groups = n.groups;
        l.dilation_h = n.dilation_h;
        l.dilation_w = n.dilation_w;
        break;
      case OpType::kLstm:
        l.in_channels = x[1];
        break;  // features per step
      case OpType::kChannelShuffle:
        l.groups = n.groups;
        break;
      default:
        break;
    }
    if (n.op == OpType::kConcat) {
      l.in_channels = 0;
      for (int in : n.inputs) l.in_channels += graph.node(in).out_shape[0];
    }
    switch (n.op) {
      case OpType::kConv:
        ++f.conv_layers;
        break;
      case OpType::kLinear:
        ++f.fc_layers;
        f.fc_macs += n.macs;
        break;
      case OpType::kLstm:
        ++f.recurrent_layers;
        f.recurrent_macs += n.macs;
        break;
      default:
        break;
    }
    f.macs += n.macs;
    f.params += n.params;
    f.activation_elements += l.output_elements;
    f.peak_activation_elements = std::max(f.peak_activation_elements, l.output_elements);
    f.layers.push_back(std::move(l));
  }
  f.output_elements = NumElements(graph.nodes().back().out_shape);
  return f;
}

}  // namespace autoscale
