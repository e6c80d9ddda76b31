#include "targets/cpu/torch_model.h"

#include <filesystem>

namespace autoscale {

namespace {
torch::Tensor FromVector(const std::vector<float>& v, std::vector<int64_t> shape) {
  if (v.empty()) return {};
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}
// Ops whose output may share storage with their input (a view).
bool IsView(OpType op) { return op == OpType::kFlatten || op == OpType::kChannelSlice; }
}  // namespace

torch::Tensor ChannelShuffle(const torch::Tensor& x, int64_t groups) {
  // at::channel_shuffle (nn.ChannelShuffle) has CPU and quantized CPU kernels only; elsewhere
  // the view-transpose-view of torchvision's ShuffleNet, the same permutation.
  if (x.is_cpu() && !x.is_quantized()) return at::channel_shuffle(x, groups);
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.contiguous()
      .view({b, groups, c / groups, h, w})
      .transpose(1, 2)
      .contiguous()
      .view({b, c, h, w})
      .contiguous(x.suggest_memory_format());
}

torch::Tensor WrapFloat(const float* data, const std::vector<int64_t>& shape) {
  return torch::from_blob(const_cast<float*>(data), shape, torch::kFloat32);
}

TorchGraph::TorchGraph(const WeightedGraph& wg) : graph_(wg.graph) {
  // Weight vectors of the wrong size would be read out of bounds below.
  if (Status st = CheckWeights(graph_, wg.weights); !st.ok()) {
    throw std::invalid_argument(st.ToString());
  }
  const auto& nodes = graph_.nodes();
  tensors_.resize(nodes.size());
  last_use_.assign(nodes.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const GraphNode& n = nodes[i];
    for (int in : n.inputs) last_use_[in] = static_cast<int>(i);
    if (n.inputs.empty()) continue;
    const std::vector<int64_t>& x = graph_.node(n.inputs[0]).out_shape;
    const NodeWeights& w = wg.weights[i];
    NodeTensors& t = tensors_[i];
    switch (n.op) {
      case OpType::kConv:
        t.weight = FromVector(w.weight, {n.out_channels, x[0] / n.groups, n.kernel_h, n.kernel_w});
        t.bias = FromVector(w.bias, {n.out_channels});
        break;
      case OpType::kBatchNorm:
        t.weight = FromVector(w.weight, {x[0]});
        t.bias = FromVector(w.bias, {x[0]});
        t.mean = FromVector(w.mean, {x[0]});
        t.var = FromVector(w.var, {x[0]});
        break;
      case OpType::kLinear:
        t.weight = FromVector(w.weight, {n.out_features, x[0]});
        t.bias = FromVector(w.bias, {n.out_features});
        break;
      case OpType::kLstm: {
        const int64_t h = n.hidden, p = n.projection > 0 ? n.projection : n.hidden;
        t.weight = FromVector(w.weight, {4 * h, x[1]});
        t.recurrent = FromVector(w.recurrent, {4 * h, p});
        t.bias = FromVector(w.bias, {4 * h});
        t.peephole = FromVector(w.peephole, {3, h});
        t.projection = FromVector(w.projection, {p, h});
        break;
      }
      default:
        break;
    }
  }
  last_use_[graph_.output()] = static_cast<int>(nodes.size());  // keep the result
}

void TorchGraph::To(const torch::Device& device) {
  for (NodeTensors& t : tensors_) {
    for (torch::Tensor* p :
         {&t.weight, &t.bias, &t.mean, &t.var, &t.recurrent, &t.peephole, &t.projection}) {
      if (p->defined()) *p = p->to(device);
    }
  }
}

void TorchGraph::UseChannelsLast() {
  channels_last_ = true;
  for (NodeTensors& t : tensors_) {
    if (t.weight.defined() && t.weight.dim() == 4) {
      t.weight = t.weight.contiguous(at::MemoryFormat::ChannelsLast);
    }
  }
}

torch::Tensor TorchGraph::Lstm(int node, const torch::Tensor& x) const {
  const GraphNode& n = graph_.node(node);
  const NodeTensors& t = tensors_[node];
  const int64_t batch = x.size(0), steps = x.size(1), h = n.hidden;
  const int64_t p = n.projection > 0 ? n.projection : h;
  // Input contributions of every step at once: [N, T, 4H].
  const torch::Tensor xg = torch::matmul(x, t.weight.t()) + t.bias;
  torch::Tensor hs = torch::zeros({batch, p}, x.options());
  torch::Tensor c = torch::zeros({batch, h}, x.options());
  const torch::Tensor wht = t.recurrent.t();
  for (int64_t s = 0; s < steps; ++s) {
    const torch::Tensor g = xg.select(1, s) + torch::mm(hs, wht);
    auto gates = g.chunk(4, 1);  // i, f, g, o
    torch::Tensor i_pre = gates[0], f_pre = gates[1], o_pre = gates[3];
    if (n.peephole) {
      i_pre = i_pre + c * t.peephole[0];
      f_pre = f_pre + c * t.peephole[1];
    }
    c = torch::sigmoid(f_pre) * c + torch::sigmoid(i_pre) * torch::tanh(gates[2]);
    if (n.peephole) o_pre = o_pre + c * t.peephole[2];
    torch::Tensor hc = torch::sigmoid(o_pre) * torch::tanh(c);
    hs = n.projection > 0 ? torch::mm(hc, t.projection.t()) : hc;
  }
  return hs;
}

std::vector<torch::Tensor> TorchGraph::Begin(const torch::Tensor& input) const {
  std::vector<torch::Tensor> out(graph_.nodes().size());
  out[0] =
      channels_last_ && input.dim() == 4 ? input.contiguous(at::MemoryFormat::ChannelsLast) : input;
  return out;
}

torch::Tensor TorchGraph::Output(std::vector<torch::Tensor>& values) const {
  return std::move(values.back());
}

std::vector<int> TorchGraph::LiveAt(int cut) const {
  std::vector<int> live;
  for (int i = 0; i < cut && i < static_cast<int>(last_use_.size()); ++i) {
    if (last_use_[i] >= cut) live.push_back(i);
  }
  return live;
}

torch::Tensor TorchGraph::Forward(const torch::Tensor& input, const NodeObserver& observe) const {
  std::vector<torch::Tensor> out = Begin(input);
  if (observe) observe(0, input);
  RunNodes(out, 1, static_cast<int>(graph_.nodes().size()), observe);
  return Output(out);
}

void TorchGraph::RunNodes(std::vector<torch::Tensor>& out, int begin, int end,
                          const NodeObserver& observe) const {
  torch::NoGradGuard no_grad;
  const auto& nodes = graph_.nodes();
  if (begin < 1) begin = 1;  // node 0 is the input (Begin)
  if (end > static_cast<int>(nodes.size())) end = static_cast<int>(nodes.size());
  for (size_t i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
    const GraphNode& n = nodes[i];
    const NodeTensors& t = tensors_[i];
    const torch::Tensor& x = out[n.inputs[0]];
    torch::Tensor y;
    switch (n.op) {
      case OpType::kInput:
        break;
      case OpType::kConv:
        y = torch::conv2d(x, t.weight, t.bias, {n.stride_h, n.stride_w}, {n.pad_h, n.pad_w},
                          {n.dilation_h, n.dilation_w}, n.groups);
        break;
      case OpType::kBatchNorm:
        y = torch::batch_norm(x, t.weight, t.bias, t.mean, t.var, false, 0.0, n.eps, false);
        break;
      case OpType::kRelu:
        // In place when this node is the input's last reader (it dies here anyway) and the
        // input is not a view of a value that others may still read.
        y = last_use_[n.inputs[0]] == static_cast<int>(i) && n.inputs[0] != 0 &&
                    !IsView(graph_.node(n.inputs[0]).op)
                ? x.relu_()
                : torch::relu(x);
        break;
      case OpType::kRelu6:
        y = torch::clamp(x, 0.0, 6.0);
        break;
      case OpType::kMaxPool:
        y = torch::max_pool2d(x, {n.kernel_h, n.kernel_w}, {n.stride_h, n.stride_w},
                              {n.pad_h, n.pad_w}, {1, 1}, n.ceil_mode);
        break;
      case OpType::kAvgPool:
        y = torch::avg_pool2d(x, {n.kernel_h, n.kernel_w}, {n.stride_h, n.stride_w},
                              {n.pad_h, n.pad_w}, n.ceil_mode, /*count_include_pad=*/true);
        break;
      case OpType::kGlobalAvgPool:
        y = torch::adaptive_avg_pool2d(x, {1, 1});
        break;
      case OpType::kFlatten:
        y = x.flatten(1);
        break;
      case OpType::kLinear:
        y = torch::linear(x, t.weight, t.bias);
        break;
      case OpType::kAdd:
        y = x + out[n.inputs[1]];
        break;
      case OpType::kConcat: {
        std::vector<torch::Tensor> parts;
        for (int in : n.inputs) parts.push_back(out[in]);
        y = torch::cat(parts, 1);
        break;
      }
      case OpType::kLstm:
        y = Lstm(static_cast<int>(i), x);
        break;
      // The ATen functions torch.nn's modules call, so that outputs equal torch's bit for bit.
      case OpType::kHardswish:
        y = at::hardswish(x);
        break;
      case OpType::kHardsigmoid:
        y = at::hardsigmoid(x);
        break;
      case OpType::kSigmoid:
        y = at::sigmoid(x);
        break;
      case OpType::kSilu:
        y = at::silu(x);
        break;
      case OpType::kMul:
        y = at::mul(x, out[n.inputs[1]]);  // broadcasts a [N, C, 1, 1] scale over H and W
        break;
      case OpType::kAdaptiveAvgPool:
        y = at::adaptive_avg_pool2d(x, {n.pool_out_h, n.pool_out_w});
        break;
      case OpType::kChannelShuffle:
        y = ChannelShuffle(x, n.groups);
        break;
      case OpType::kChannelSlice:
        y = x.narrow(1, n.slice_begin, n.slice_end - n.slice_begin);  // a view, as chunk's
        break;
    }
    if (observe) observe(static_cast<int>(i), y);
    out[i] = std::move(y);
    for (int in : n.inputs) {
      if (last_use_[in] == static_cast<int>(i)) out[in] = torch::Tensor();
    }
  }
}

// ---- TorchScript -----------------------------------------------------------------------------

Result<std::unique_ptr<TorchScriptModel>> TorchScriptModel::Load(
    const std::string& path, const std::vector<int64_t>& input_shape) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("TorchScript model '" + path + "': no such file");
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return Status::InvalidArgument("TorchScript model '" + path +
                                   "' could not be loaded (not a TorchScript archive, or a "
                                   "corrupt one): " +
                                   what);
  }
  module.eval();
  std::unique_ptr<TorchScriptModel> model(new TorchScriptModel(std::move(module)));
  // Probe with one zero input: a model that cannot take the declared shape fails here, not on
  // the first request.
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  try {
    torch::Tensor y = model->Forward(torch::zeros(shape));
    if (!y.defined() || y.numel() == 0) {
      return Status::InvalidArgument("TorchScript model '" + path + "' returned an empty output");
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return Status::InvalidArgument("TorchScript model '" + path + "' does not accept input [" +
                                   ShapeString(shape) + "] and return one tensor: " + what);
  }
  return model;
}

torch::Tensor TorchScriptModel::Forward(const torch::Tensor& input) const {
  torch::NoGradGuard no_grad;
  torch::jit::IValue out = module_.forward({input});
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple() && !out.toTuple()->elements().empty() &&
      out.toTuple()->elements()[0].isTensor()) {
    return out.toTuple()->elements()[0].toTensor();
  }
  throw std::runtime_error("forward() returned " + out.tagKind() + ", not a tensor");
}

}  // namespace autoscale
