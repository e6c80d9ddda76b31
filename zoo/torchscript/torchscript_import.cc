#include "zoo/torchscript/torchscript_import.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

namespace autoscale {

namespace {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

// What an interpreted value is: a tensor computed by the graph (a node of the IR), one of the
// patterns that become a node only once complete (ShuffleNet's 5-D view and its transpose; an
// LSTM's sequence output or final state, read at the last step), a list or tuple of values, a
// constant (ints, lists, weights: an IValue), or unknown (downstream of an unmapped op).
struct Val {
  enum Kind { kUnknown, kConst, kTensor, kShuffleView, kShuffleTransposed, kLstmSeq, kLstmState,
              kList };
  Kind kind = kUnknown;
  torch::IValue iv;             // kConst
  int node = -1;                // kTensor (the IR node); patterns: the node they read / the LSTM
  std::vector<int64_t> shape;   // kTensor and patterns: the shape with the batch (batch 1)
  int groups = 0;               // kShuffle*
  std::vector<Val> items;       // kList (lists of tensors, tuples)
};

std::string Describe(const Node* n) {
  std::ostringstream os;
  os << *n;
  std::string s = os.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const size_t first = s.find_first_not_of(' ');
  if (first != std::string::npos) s = s.substr(first);
  if (s.size() > 160) s = s.substr(0, 157) + "...";
  return s;
}

std::vector<float> ToFloats(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

class Importer {
 public:
  Importer(std::string name, std::vector<int64_t> input_shape)
      : graph_(std::move(name), input_shape, 0), input_shape_(std::move(input_shape)) {
    graph_.set_seeded_weights(false);
    weights_.emplace_back();
  }

  Status Run(const torch::jit::Module& frozen);
  ImportedModel Finish(std::string name, Status run_status);

 private:
  // Interprets the nodes of a block; false when a node raises (an exception in a taken branch).
  Status RunBlock(const Block* block);
  Status RunNode(const Node* n);
  Status MapTensorOp(const Node* n, const std::string& kind, std::vector<Val>& out);
  void Unmapped(const Node* n, const std::string& why);

  const Val& In(const Node* n, size_t i) { return values_[n->inputs()[i]]; }
  std::optional<torch::IValue> Const(const Node* n, size_t i) {
    const Val& v = In(n, i);
    if (v.kind == Val::kConst) return v.iv;
    return std::nullopt;
  }
  std::optional<int64_t> Int(const Node* n, size_t i) {
    auto c = Const(n, i);
    if (c && c->isInt()) return c->toInt();
    return std::nullopt;
  }
  std::optional<std::vector<int64_t>> Ints(const Node* n, size_t i) {
    auto c = Const(n, i);
    if (c && c->isIntList()) return c->toIntVector();
    if (c && c->isInt()) return std::vector<int64_t>{c->toInt()};
    return std::nullopt;
  }
  std::optional<double> Number(const Node* n, size_t i) {
    auto c = Const(n, i);
    if (c && c->isDouble()) return c->toDouble();
    if (c && c->isInt()) return static_cast<double>(c->toInt());
    return std::nullopt;
  }
  std::optional<bool> Bool(const Node* n, size_t i) {
    auto c = Const(n, i);
    if (c && c->isBool()) return c->toBool();
    return std::nullopt;
  }
  bool IsNone(const Node* n, size_t i) {
    auto c = Const(n, i);
    return c && c->isNone();
  }
  std::optional<at::Tensor> ConstTensor(const Node* n, size_t i) {
    auto c = Const(n, i);
    if (c && c->isTensor()) return c->toTensor();
    return std::nullopt;
  }

  Val TensorVal(int node) {
    Val v;
    v.kind = Val::kTensor;
    v.node = node;
    v.shape = {1};
    const auto& s = graph_.node(node).out_shape;
    v.shape.insert(v.shape.end(), s.begin(), s.end());
    return v;
  }
  // Adds a node and infers its shape; an inconsistency is the importer's error.
  Result<int> AddNode(GraphNode node, NodeWeights w = {}) {
    const int i = graph_.Add(std::move(node));
    weights_.push_back(std::move(w));
    Status s = graph_.Finalize();
    if (!s.ok()) return s;
    return i;
  }

  Graph graph_;
  std::vector<NodeWeights> weights_;
  std::vector<int64_t> input_shape_;
  std::map<const Value*, Val> values_;
  std::vector<std::string> unmapped_;
  std::vector<std::string> uncounted_;
  std::optional<Val> output_;
};

void Importer::Unmapped(const Node* n, const std::string& why) {
  std::string s = n->kind().toQualString();
  s += " (";
  s += why;
  s += ": ";
  s += Describe(n);
  s += ")";
  unmapped_.push_back(std::move(s));
}

Status Importer::Run(const torch::jit::Module& frozen) {
  std::shared_ptr<torch::jit::Graph> g = frozen.get_method("forward").graph();
  const auto inputs = g->inputs();
  // inputs[0] is the module itself; forward takes exactly one tensor.
  if (inputs.size() != 2) {
    return Status::InvalidArgument("forward takes " + std::to_string(inputs.size() - 1) +
                                   " inputs; one tensor is supported");
  }
  Val x;
  x.kind = Val::kTensor;
  x.node = 0;
  x.shape = {1};
  x.shape.insert(x.shape.end(), input_shape_.begin(), input_shape_.end());
  values_[inputs[1]] = x;
  RETURN_IF_ERROR(graph_.Finalize());
  RETURN_IF_ERROR(RunBlock(g->block()));
  return Status::Ok();
}

Status Importer::RunBlock(const Block* block) {
  for (const Node* n : block->nodes()) RETURN_IF_ERROR(RunNode(n));
  if (block->owningNode() == nullptr) {
    const auto outs = block->outputs();
    if (outs.size() != 1) return Status::InvalidArgument("forward returns several values");
    output_ = values_[outs[0]];
  }
  return Status::Ok();
}

Status Importer::RunNode(const Node* n) {
  const std::string kind = n->kind().toQualString();
  auto set_outputs = [&](std::vector<Val> outs) {
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      values_[n->outputs()[i]] = i < outs.size() ? std::move(outs[i]) : Val{};
    }
  };
  if (kind == "prim::Constant") {
    Val v;
    auto iv = torch::jit::toIValue(n->output());
    if (iv) {
      v.kind = Val::kConst;
      v.iv = *iv;
    }
    set_outputs({v});
    return Status::Ok();
  }
  if (kind == "prim::If") {
    auto cond = Bool(n, 0);
    if (!cond) {
      Unmapped(n, "a branch on a value known only at run time");
      set_outputs({});
      return Status::Ok();
    }
    const Block* taken = n->blocks()[*cond ? 0 : 1];
    RETURN_IF_ERROR(RunBlock(taken));
    std::vector<Val> outs;
    for (const Value* o : taken->outputs()) outs.push_back(values_[o]);
    set_outputs(std::move(outs));
    return Status::Ok();
  }
  if (kind == "prim::RaiseException") {
    return Status::InvalidArgument("forward raises for this input shape: " + Describe(n));
  }
  if (kind == "aten::warn") return Status::Ok();  // GoogLeNet warns that it returns a tuple
  // Any input unknown: the op cannot be interpreted; its outputs are unknown too. Count the
  // layers it would have been, so that features can say what they miss.
  bool any_unknown = false, all_const = true;
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    const Val& v = In(n, i);
    if (v.kind == Val::kUnknown) any_unknown = true;
    if (v.kind != Val::kConst) all_const = false;
  }
  if (any_unknown) {
    if (kind == "aten::conv2d" || kind == "aten::_convolution" || kind == "aten::linear" ||
        kind == "aten::addmm" || kind == "aten::lstm") {
      uncounted_.push_back(kind + " after an unmapped operation (" + Describe(n) + ")");
    }
    set_outputs({});
    return Status::Ok();
  }
  if (kind == "prim::ListConstruct" || kind == "prim::TupleConstruct") {
    Val v;
    if (all_const && kind == "prim::ListConstruct" && !n->inputs().empty()) {
      // A constant list, typed as TorchScript types it (int[], float[], bool[], Tensor[]).
      std::vector<torch::IValue> items;
      for (size_t i = 0; i < n->inputs().size(); ++i) items.push_back(In(n, i).iv);
      auto all = [&](auto pred) { return std::all_of(items.begin(), items.end(), pred); };
      v.kind = Val::kConst;
      if (all([](const torch::IValue& x) { return x.isInt(); })) {
        std::vector<int64_t> l;
        for (auto& x : items) l.push_back(x.toInt());
        v.iv = torch::IValue(l);
      } else if (all([](const torch::IValue& x) { return x.isDouble(); })) {
        std::vector<double> l;
        for (auto& x : items) l.push_back(x.toDouble());
        v.iv = torch::IValue(l);
      } else if (all([](const torch::IValue& x) { return x.isBool(); })) {
        c10::List<bool> l;
        for (auto& x : items) l.push_back(x.toBool());
        v.iv = torch::IValue(l);
      } else if (all([](const torch::IValue& x) { return x.isTensor(); })) {
        std::vector<at::Tensor> l;
        for (auto& x : items) l.push_back(x.toTensor());
        v.iv = torch::IValue(l);
      } else {
        v = Val{};
        v.kind = Val::kList;
        for (size_t i = 0; i < n->inputs().size(); ++i) v.items.push_back(In(n, i));
      }
    } else {
      v.kind = Val::kList;
      for (size_t i = 0; i < n->inputs().size(); ++i) v.items.push_back(In(n, i));
    }
    set_outputs({v});
    return Status::Ok();
  }
  if ((kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") && In(n, 0).kind == Val::kConst) {
    const torch::IValue& l = In(n, 0).iv;
    std::vector<Val> outs;
    if (l.isList()) {
      for (const torch::IValue& x : l.toListRef()) {
        Val v;
        v.kind = Val::kConst;
        v.iv = x;
        outs.push_back(v);
      }
    } else if (l.isTuple()) {
      for (const torch::IValue& x : l.toTupleRef().elements()) {
        Val v;
        v.kind = Val::kConst;
        v.iv = x;
        outs.push_back(v);
      }
    }
    if (outs.size() == n->outputs().size()) {
      set_outputs(std::move(outs));
      return Status::Ok();
    }
  }
  if ((kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") && In(n, 0).kind == Val::kList) {
    set_outputs(In(n, 0).items);
    return Status::Ok();
  }
  if (kind == "prim::TupleIndex" && In(n, 0).kind == Val::kList) {
    auto i = Int(n, 1);
    const auto& items = In(n, 0).items;
    if (i && *i >= 0 && *i < static_cast<int64_t>(items.size())) {
      set_outputs({items[*i]});
      return Status::Ok();
    }
  }
  if (kind == "aten::__getitem__" && In(n, 0).kind == Val::kList) {
    auto i = Int(n, 1);
    const auto& items = In(n, 0).items;
    if (i) {
      const int64_t k = *i < 0 ? *i + static_cast<int64_t>(items.size()) : *i;
      if (k >= 0 && k < static_cast<int64_t>(items.size())) {
        set_outputs({items[k]});
        return Status::Ok();
      }
    }
  }
  if (n->inputs().empty()) all_const = true;
  // Shape queries of graph tensors.
  if (!n->inputs().empty() && In(n, 0).kind == Val::kTensor) {
    const std::vector<int64_t>& shape = In(n, 0).shape;
    auto constant = [&](torch::IValue iv) {
      Val v;
      v.kind = Val::kConst;
      v.iv = std::move(iv);
      set_outputs({v});
      return Status::Ok();
    };
    if (kind == "aten::size" && n->inputs().size() == 1) return constant(torch::IValue(shape));
    if (kind == "aten::size" && n->inputs().size() == 2) {
      if (auto d = Int(n, 1)) {
        const int64_t rank = static_cast<int64_t>(shape.size());
        const int64_t k = *d < 0 ? *d + rank : *d;
        if (k >= 0 && k < rank) return constant(torch::IValue(shape[k]));
      }
    }
    if (kind == "aten::dim") return constant(torch::IValue(static_cast<int64_t>(shape.size())));
    // Graph tensors are float32 on the CPU (an LSTM asks, to make its zero initial state).
    if (kind == "prim::dtype") return constant(torch::IValue(at::kFloat));
    if (kind == "prim::device") return constant(torch::IValue(c10::Device(c10::kCPU)));
    if (kind == "aten::numel") return constant(torch::IValue(NumElements(shape)));
  }
  if (all_const) {
    // Integer, list and shape arithmetic (and ops on weights, such as a transpose): evaluate it
    // with the operator TorchScript itself would run.
    try {
      torch::jit::Operation op = n->getOperation();
      torch::jit::Stack stack;
      for (size_t i = 0; i < n->inputs().size(); ++i) stack.push_back(In(n, i).iv);
      op(stack);
      if (stack.size() != n->outputs().size()) throw std::runtime_error("bad output count");
      std::vector<Val> outs;
      for (auto& iv : stack) {
        Val v;
        v.kind = Val::kConst;
        v.iv = std::move(iv);
        outs.push_back(std::move(v));
      }
      set_outputs(std::move(outs));
      return Status::Ok();
    } catch (const std::exception& e) {
      Unmapped(n, std::string("could not be evaluated: ") + e.what());
      set_outputs({});
      return Status::Ok();
    }
  }
  std::vector<Val> outs;
  if (n->inputs().empty()) {
    Unmapped(n, "no graph op for it");
    set_outputs({});
    return Status::Ok();
  }
  RETURN_IF_ERROR(MapTensorOp(n, kind, outs));
  set_outputs(std::move(outs));
  return Status::Ok();
}

// Strips the leading "aten::" and a trailing '_' (in-place variants compute the same values).
std::string BaseName(const std::string& kind) {
  std::string s = kind.rfind("aten::", 0) == 0 ? kind.substr(6) : kind;
  if (s.size() > 1 && s.back() == '_' && s[s.size() - 2] != '_') s.pop_back();
  return s;
}

Status Importer::MapTensorOp(const Node* n, const std::string& kind, std::vector<Val>& out) {
  const std::string op = BaseName(kind);
  const Val& a = In(n, 0);
  auto fail = [&](const std::string& why) {
    Unmapped(n, why);
    if (op == "conv2d" || op == "_convolution" || op == "linear" || op == "addmm" ||
        op == "lstm") {
      uncounted_.push_back(kind + " (" + Describe(n) + ")");
    }
    out.clear();
    return Status::Ok();
  };
  auto emit = [&](GraphNode node, NodeWeights w = {}) -> Status {
    if (node.name.empty()) {
      node.name = op + "_" + std::to_string(graph_.nodes().size());
    }
    Result<int> i = AddNode(std::move(node), std::move(w));
    if (!i.ok()) return i.status();
    out = {TensorVal(*i)};
    return Status::Ok();
  };
  auto unary_node = [&](OpType t) {
    GraphNode g;
    g.op = t;
    g.inputs = {a.node};
    return g;
  };
  if (a.kind == Val::kTensor) {
    const size_t rank = a.shape.size();
    // Element-wise activations.
    if (op == "relu") return emit(unary_node(OpType::kRelu));
    if (op == "relu6") return emit(unary_node(OpType::kRelu6));
    if (op == "hardswish") return emit(unary_node(OpType::kHardswish));
    if (op == "hardsigmoid") return emit(unary_node(OpType::kHardsigmoid));
    if (op == "sigmoid") return emit(unary_node(OpType::kSigmoid));
    if (op == "silu") return emit(unary_node(OpType::kSilu));
    if (op == "hardtanh") {
      auto lo = Number(n, 1), hi = Number(n, 2);
      if (lo && hi && *lo == 0 && *hi == 6) return emit(unary_node(OpType::kRelu6));
      return fail("hardtanh other than relu6 (0, 6)");
    }
    // Identities at inference.
    if (op == "dropout" || op == "feature_dropout" || op == "alpha_dropout" ||
        op == "feature_alpha_dropout") {
      auto train = Bool(n, 2);
      if (train && !*train) {
        out = {a};
        return Status::Ok();
      }
      return fail("dropout in training mode");
    }
    if (op == "contiguous" || op == "detach" || op == "clone") {
      out = {a};
      return Status::Ok();
    }
    if (op == "conv2d" || op == "_convolution") {
      if (rank != 4) return fail("convolution of a rank-" + std::to_string(rank) + " input");
      auto w = ConstTensor(n, 1);
      auto stride = Ints(n, 3);
      auto dilation = Ints(n, 5);
      std::optional<std::vector<int64_t>> padding;
      auto pad_const = Const(n, 4);
      int64_t groups = 0;
      if (op == "_convolution") {
        auto transposed = Bool(n, 6);
        if (!transposed || *transposed) return fail("transposed convolution");
        auto gr = Int(n, 8);
        groups = gr ? *gr : 0;
      } else {
        auto gr = Int(n, 6);
        groups = gr ? *gr : 0;
      }
      if (!w || w->dim() != 4 || !stride || !dilation || !pad_const || groups < 1) {
        return fail("convolution with non-constant weights or arguments");
      }
      const int64_t kh = w->size(2), kw = w->size(3);
      auto two = [](const std::vector<int64_t>& v) {
        return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v;
      };
      std::vector<int64_t> s2 = two(*stride), d2 = two(*dilation), p2;
      if (pad_const->isString()) {
        const std::string mode = pad_const->toStringRef();
        if (mode == "valid") {
          p2 = {0, 0};
        } else if (mode == "same" && s2[0] == 1 && s2[1] == 1 && (d2[0] * (kh - 1)) % 2 == 0 &&
                   (d2[1] * (kw - 1)) % 2 == 0) {
          p2 = {d2[0] * (kh - 1) / 2, d2[1] * (kw - 1) / 2};
        } else {
          return fail("padding '" + mode + "' that is not symmetric");
        }
      } else if (pad_const->isIntList()) {
        p2 = two(pad_const->toIntVector());
      }
      if (s2.size() != 2 || d2.size() != 2 || p2.size() != 2) {
        return fail("convolution arguments of the wrong length");
      }
      if (w->size(1) * groups != a.shape[1]) {
        return fail("weight " + std::to_string(w->size(1)) + " x " + std::to_string(groups) +
                    " groups does not match " + std::to_string(a.shape[1]) + " input channels");
      }
      GraphNode c;
      c.op = OpType::kConv;
      c.inputs = {a.node};
      c.out_channels = static_cast<int>(w->size(0));
      c.kernel_h = static_cast<int>(kh);
      c.kernel_w = static_cast<int>(kw);
      c.stride_h = static_cast<int>(s2[0]);
      c.stride_w = static_cast<int>(s2[1]);
      c.pad_h = static_cast<int>(p2[0]);
      c.pad_w = static_cast<int>(p2[1]);
      c.dilation_h = static_cast<int>(d2[0]);
      c.dilation_w = static_cast<int>(d2[1]);
      c.groups = static_cast<int>(groups);
      NodeWeights nw;
      nw.weight = ToFloats(*w);
      if (auto b = ConstTensor(n, 2)) {
        c.bias = true;
        nw.bias = ToFloats(*b);
      } else if (!IsNone(n, 2)) {
        return fail("convolution bias that is not a constant");
      }
      return emit(std::move(c), std::move(nw));
    }
    if (op == "batch_norm") {
      auto training = Bool(n, 5);
      auto eps = Number(n, 7);
      auto w = ConstTensor(n, 1), b = ConstTensor(n, 2), m = ConstTensor(n, 3),
           v = ConstTensor(n, 4);
      if (!training || *training) return fail("batch-norm in training mode");
      if (rank != 4 || !m || !v || !eps) return fail("batch-norm without running statistics");
      const int64_t c = a.shape[1];
      GraphNode bn;
      bn.op = OpType::kBatchNorm;
      bn.inputs = {a.node};
      bn.eps = static_cast<float>(*eps);
      NodeWeights nw;
      nw.weight = w ? ToFloats(*w) : std::vector<float>(c, 1.0f);
      nw.bias = b ? ToFloats(*b) : std::vector<float>(c, 0.0f);
      nw.mean = ToFloats(*m);
      nw.var = ToFloats(*v);
      return emit(std::move(bn), std::move(nw));
    }
    if (op == "linear") {
      auto w = ConstTensor(n, 1);
      if (rank != 2 || !w || w->dim() != 2 || w->size(1) != a.shape[1]) {
        return fail("linear layer on a " + ShapeString(a.shape) + " input");
      }
      GraphNode l;
      l.op = OpType::kLinear;
      l.inputs = {a.node};
      l.out_features = static_cast<int>(w->size(0));
      l.bias = true;
      NodeWeights nw;
      nw.weight = ToFloats(*w);
      if (auto b = ConstTensor(n, 2)) {
        nw.bias = ToFloats(*b);
      } else if (IsNone(n, 2)) {
        nw.bias.assign(w->size(0), 0.0f);
      } else {
        return fail("linear bias that is not a constant");
      }
      return emit(std::move(l), std::move(nw));
    }
    if (op == "max_pool2d" || op == "avg_pool2d") {
      if (rank != 4) return fail("pooling of a rank-" + std::to_string(rank) + " input");
      auto k = Ints(n, 1), s = Ints(n, 2), p = Ints(n, 3);
      std::optional<bool> ceil;
      if (op == "max_pool2d") {
        auto d = Ints(n, 4);
        ceil = Bool(n, 5);
        if (!d || std::any_of(d->begin(), d->end(), [](int64_t x) { return x != 1; })) {
          return fail("dilated max pooling");
        }
      } else {
        ceil = Bool(n, 4);
        auto include_pad = Bool(n, 5);
        if (!include_pad || !*include_pad) return fail("average pooling that excludes padding");
        if (!IsNone(n, 6)) return fail("average pooling with a divisor override");
      }
      if (!k || !s || !p || !ceil) return fail("pooling with non-constant arguments");
      auto two = [](std::vector<int64_t> v, const std::vector<int64_t>& def) {
        if (v.empty()) return def;
        return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v;
      };
      const std::vector<int64_t> k2 = two(*k, {}), s2 = two(*s, k2), p2 = two(*p, {0, 0});
      if (k2.size() != 2 || s2.size() != 2 || p2.size() != 2) {
        return fail("pooling arguments of the wrong length");
      }
      GraphNode pool;
      pool.op = op == "max_pool2d" ? OpType::kMaxPool : OpType::kAvgPool;
      pool.inputs = {a.node};
      pool.kernel_h = static_cast<int>(k2[0]);
      pool.kernel_w = static_cast<int>(k2[1]);
      pool.stride_h = static_cast<int>(s2[0]);
      pool.stride_w = static_cast<int>(s2[1]);
      pool.pad_h = static_cast<int>(p2[0]);
      pool.pad_w = static_cast<int>(p2[1]);
      pool.ceil_mode = *ceil;
      return emit(std::move(pool));
    }
    if (op == "adaptive_avg_pool2d") {
      auto size = Ints(n, 1);
      if (rank != 4 || !size || size->empty() || size->size() > 2) {
        return fail("adaptive pooling with non-constant output size");
      }
      const int64_t oh = (*size)[0], ow = size->size() == 2 ? (*size)[1] : (*size)[0];
      if (oh == a.shape[2] && ow == a.shape[3]) {  // the identity (VGG's 7x7 on 7x7)
        out = {a};
        return Status::Ok();
      }
      if (oh == 1 && ow == 1) return emit(unary_node(OpType::kGlobalAvgPool));
      GraphNode pool = unary_node(OpType::kAdaptiveAvgPool);
      pool.pool_out_h = static_cast<int>(oh);
      pool.pool_out_w = static_cast<int>(ow);
      return emit(std::move(pool));
    }
    if (op == "mean") {
      auto dims = Ints(n, 1);
      auto keep = Bool(n, 2);
      if (rank == 4 && dims && keep && IsNone(n, 3)) {
        std::vector<int64_t> d = *dims;
        for (int64_t& x : d) x = x < 0 ? x + 4 : x;
        std::sort(d.begin(), d.end());
        if (d == std::vector<int64_t>{2, 3}) {
          RETURN_IF_ERROR(emit(unary_node(OpType::kGlobalAvgPool)));
          if (*keep) return Status::Ok();
          GraphNode f;
          f.op = OpType::kFlatten;
          f.inputs = {out[0].node};
          return emit(std::move(f));
        }
      }
      return fail("mean over dimensions other than height and width");
    }
    if (op == "flatten") {
      auto start = Int(n, 1), end = Int(n, 2);
      if (start && end && *start == 1 && (*end == -1 || *end == static_cast<int64_t>(rank) - 1)) {
        if (rank == 2) {
          out = {a};
          return Status::Ok();
        }
        return emit(unary_node(OpType::kFlatten));
      }
      return fail("flatten other than from dimension 1 to the end");
    }
    if (op == "view" || op == "reshape") {
      auto target = Ints(n, 1);
      if (!target) return fail("reshape to a shape known only at run time");
      std::vector<int64_t> t = *target;
      int64_t known = 1, free = -1;
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == -1 && free < 0) {
          free = static_cast<int64_t>(i);
        } else if (t[i] < 1) {
          return fail("reshape to " + ShapeString(t));
        } else {
          known *= t[i];
        }
      }
      const int64_t total = NumElements(a.shape);
      if (free >= 0) t[free] = total / known;
      if (NumElements(t) != total) return fail("reshape to " + ShapeString(t));
      if (t.size() == 2 && t[0] == 1) {
        if (rank == 2) {
          out = {a};
          return Status::Ok();
        }
        return emit(unary_node(OpType::kFlatten));
      }
      if (t == a.shape) {
        out = {a};
        return Status::Ok();
      }
      // ShuffleNet: (N, C, H, W) -> (N, g, C/g, H, W), transposed (1, 2), back to (N, C, H, W).
      if (rank == 4 && t.size() == 5 && t[0] == 1 && t[1] * t[2] == a.shape[1] &&
          t[3] == a.shape[2] && t[4] == a.shape[3]) {
        Val v = a;
        v.kind = Val::kShuffleView;
        v.groups = static_cast<int>(t[1]);
        v.shape = t;
        out = {v};
        return Status::Ok();
      }
      return fail("reshape of " + ShapeString(a.shape) + " to " + ShapeString(t));
    }
    if (op == "add" || op == "mul") {
      const Val& b = In(n, 1);
      if (op == "add") {
        auto alpha = Number(n, 2);
        if (!alpha || *alpha != 1) return fail("add with alpha other than 1");
      }
      if (b.kind != Val::kTensor) return fail(op + " with a constant");
      GraphNode e;
      e.op = op == "add" ? OpType::kAdd : OpType::kMul;
      if (a.shape == b.shape) {
        e.inputs = {a.node, b.node};
        return emit(std::move(e));
      }
      if (op == "mul" && rank == 4 && b.shape.size() == 4) {
        auto per_channel = [](const std::vector<int64_t>& x, const std::vector<int64_t>& y) {
          return y[1] == x[1] && y[2] == 1 && y[3] == 1;
        };
        if (per_channel(a.shape, b.shape)) {
          e.inputs = {a.node, b.node};
          return emit(std::move(e));
        }
        if (per_channel(b.shape, a.shape)) {
          e.inputs = {b.node, a.node};
          return emit(std::move(e));
        }
      }
      return fail(op + " of shapes " + ShapeString(a.shape) + " and " + ShapeString(b.shape));
    }
    if (op == "slice") {  // a slice of a whole dimension is the identity (x[:, -1, :])
      auto dim = Int(n, 1), step = Int(n, 4);
      auto start = Const(n, 2), end = Const(n, 3);
      if (dim && step && start && end && *step == 1) {
        const int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(rank) : *dim;
        if (d >= 0 && d < static_cast<int64_t>(rank) &&
            (start->isNone() || (start->isInt() && start->toInt() == 0)) &&
            (end->isNone() || (end->isInt() && end->toInt() >= a.shape[d]))) {
          out = {a};
          return Status::Ok();
        }
      }
    }
    if (op == "chunk" || op == "split" || op == "slice") {
      if (rank != 4) return fail(op + " of a rank-" + std::to_string(rank) + " input");
      auto dim = Int(n, op == "slice" ? 1 : 2);
      if (!dim || (*dim != 1 && *dim != -3)) return fail(op + " along a dimension other than 1");
      const int64_t c = a.shape[1];
      std::vector<std::pair<int64_t, int64_t>> ranges;
      if (op == "chunk") {
        auto chunks = Int(n, 1);
        if (!chunks || *chunks < 1) return fail("chunk count not constant");
        const int64_t size = (c + *chunks - 1) / *chunks;
        for (int64_t b = 0; b < c; b += size) ranges.push_back({b, std::min(c, b + size)});
      } else if (op == "split") {
        auto sizes = Ints(n, 1);
        if (!sizes) return fail("split sizes not constant");
        if (sizes->size() == 1) {
          for (int64_t b = 0; b < c; b += (*sizes)[0]) {
            ranges.push_back({b, std::min(c, b + (*sizes)[0])});
          }
        } else {
          int64_t b = 0;
          for (int64_t s : *sizes) {
            ranges.push_back({b, b + s});
            b += s;
          }
          if (b != c) return fail("split sizes do not add up to the channels");
        }
      } else {
        auto start = Const(n, 2), end = Const(n, 3);
        auto step = Int(n, 4);
        if (!start || !end || !step || *step != 1) return fail("slice with a step");
        int64_t b = start->isNone() ? 0 : start->toInt();
        int64_t e = end->isNone() ? c : end->toInt();
        if (b < 0) b += c;
        if (e < 0) e += c;
        b = std::clamp<int64_t>(b, 0, c);
        e = std::clamp<int64_t>(e, 0, c);
        if (b == 0 && e == c) {
          out = {a};
          return Status::Ok();
        }
        ranges.push_back({b, e});
      }
      std::vector<Val> parts;
      for (auto [b, e] : ranges) {
        if (b == 0 && e == c) {
          parts.push_back(a);
          continue;
        }
        GraphNode s = unary_node(OpType::kChannelSlice);
        s.slice_begin = static_cast<int>(b);
        s.slice_end = static_cast<int>(e);
        RETURN_IF_ERROR(emit(std::move(s)));
        parts.push_back(out[0]);
      }
      if (op == "slice") {
        out = {parts[0]};
      } else {
        Val list;
        list.kind = Val::kList;
        list.items = std::move(parts);
        out = {list};
      }
      return Status::Ok();
    }
    if (op == "lstm") {
      // aten::lstm(input, hx[h0, c0], params, has_biases, num_layers, dropout, train,
      //            bidirectional, batch_first) -> (output, h_n, c_n)
      auto has_biases = Bool(n, 3);
      auto layers = Int(n, 4);
      auto train = Bool(n, 6);
      auto bidir = Bool(n, 7);
      auto batch_first = Bool(n, 8);
      const Val& hx = In(n, 1);
      const Val& params = In(n, 2);
      if (rank != 3 || !has_biases || !layers || *layers != 1 || !train || *train || !bidir ||
          *bidir || !batch_first || !*batch_first) {
        return fail("LSTM other than one unidirectional batch-first layer");
      }
      auto zero_state = [](const Val& v) {
        return v.kind == Val::kConst && v.iv.isTensor() && v.iv.toTensor().abs().max().item<double>() == 0;
      };
      bool zeros = false;
      if (hx.kind == Val::kList && hx.items.size() == 2) {
        zeros = zero_state(hx.items[0]) && zero_state(hx.items[1]);
      } else if (hx.kind == Val::kConst && hx.iv.isTensorList()) {
        auto l = hx.iv.toTensorVector();
        zeros = l.size() == 2 && l[0].abs().max().item<double>() == 0 &&
                l[1].abs().max().item<double>() == 0;
      }
      if (!zeros) return fail("LSTM with an initial state other than zeros");
      std::vector<at::Tensor> p;
      if (params.kind == Val::kConst && params.iv.isTensorList()) {
        p = params.iv.toTensorVector();
      } else if (params.kind == Val::kList) {
        for (const Val& v : params.items) {
          if (v.kind != Val::kConst || !v.iv.isTensor()) return fail("LSTM weights not constant");
          p.push_back(v.iv.toTensor());
        }
      }
      const size_t expected = (*has_biases ? 4 : 2);
      if (p.size() != expected && p.size() != expected + 1) return fail("LSTM weights");
      const int64_t hidden = p[0].size(0) / 4;
      GraphNode l;
      l.op = OpType::kLstm;
      l.inputs = {a.node};
      l.hidden = static_cast<int>(hidden);
      l.projection = p.size() == expected + 1 ? static_cast<int>(p.back().size(0)) : 0;
      l.bias = true;
      NodeWeights nw;
      nw.weight = ToFloats(p[0]);
      nw.recurrent = ToFloats(p[1]);
      if (*has_biases) {
        nw.bias = ToFloats(p[2] + p[3]);
      } else {
        nw.bias.assign(4 * hidden, 0.0f);
      }
      if (l.projection > 0) nw.projection = ToFloats(p.back());
      // IR LSTMs take (T, F) and give the last step: the node holds that; the sequence output
      // and the final state become it when read at the last step.
      Result<int> i = AddNode(std::move(l), std::move(nw));
      if (!i.ok()) return i.status();
      Val seq, state, cell;
      seq.kind = Val::kLstmSeq;
      seq.node = *i;
      seq.shape = {1, a.shape[1], graph_.node(*i).out_shape[0]};
      state.kind = Val::kLstmState;
      state.node = *i;
      state.shape = {1, 1, graph_.node(*i).out_shape[0]};
      out = {seq, state, cell};  // c_n: unknown (the IR gives only the output)
      return Status::Ok();
    }
    if (op == "cat") {
      // handled below (its first input is a list)
    }
    return fail("no graph op for it");
  }
  if (op == "cat" && a.kind == Val::kList) {
    auto dim = Int(n, 1);
    if (!dim || (*dim != 1 && *dim != -3)) return fail("concatenation along a dimension other than 1");
    GraphNode c;
    c.op = OpType::kConcat;
    for (const Val& v : a.items) {
      if (v.kind != Val::kTensor || v.shape.size() != 4) return fail("concatenation of non-images");
      c.inputs.push_back(v.node);
    }
    if (c.inputs.size() == 1) {
      out = {a.items[0]};
      return Status::Ok();
    }
    return emit(std::move(c));
  }
  if (a.kind == Val::kShuffleView && op == "transpose") {
    auto d0 = Int(n, 1), d1 = Int(n, 2);
    if (d0 && d1 && std::min(*d0, *d1) == 1 && std::max(*d0, *d1) == 2) {
      Val v = a;
      v.kind = Val::kShuffleTransposed;
      std::swap(v.shape[1], v.shape[2]);
      out = {v};
      return Status::Ok();
    }
  }
  if (a.kind == Val::kShuffleTransposed && op == "contiguous") {
    out = {a};
    return Status::Ok();
  }
  if (a.kind == Val::kShuffleTransposed && (op == "view" || op == "reshape")) {
    auto t = Ints(n, 1);
    const auto& s = a.shape;
    if (t && t->size() == 4 && (*t)[0] == 1 && ((*t)[1] == -1 || (*t)[1] == s[1] * s[2]) &&
        (*t)[2] == s[3] && (*t)[3] == s[4]) {
      GraphNode sh;
      sh.op = OpType::kChannelShuffle;
      sh.inputs = {a.node};
      sh.groups = a.groups;
      return emit(std::move(sh));
    }
  }
  // An LSTM's output read at its last step: output[:, -1] (slice of dim 0 then select of dim 1,
  // or select directly) or h_n[-1].
  if ((a.kind == Val::kLstmSeq || a.kind == Val::kLstmState) && op == "slice") {
    auto dim = Int(n, 1), step = Int(n, 4);
    auto start = Const(n, 2), end = Const(n, 3);
    const int64_t size = a.shape[dim && *dim >= 0 ? *dim : 0];
    if (dim && step && *step == 1 && start && end &&
        (start->isNone() || start->toInt() == 0) &&
        (end->isNone() || end->toInt() >= size)) {
      out = {a};  // the whole dimension
      return Status::Ok();
    }
  }
  if ((a.kind == Val::kLstmSeq || a.kind == Val::kLstmState) && op == "select") {
    auto dim = Int(n, 1), index = Int(n, 2);
    const int64_t want_dim = a.kind == Val::kLstmSeq ? 1 : 0;
    const int64_t last = a.shape[want_dim] - 1;
    if (dim && index && *dim == want_dim && (*index == -1 || *index == last)) {
      out = {TensorVal(a.node)};
      return Status::Ok();
    }
  }
  return fail("no graph op for it");
}

ImportedModel Importer::Finish(std::string name, Status run_status) {
  ImportedModel m;
  m.name = std::move(name);
  m.input_shape = input_shape_;
  m.unmapped = unmapped_;
  if (!run_status.ok()) m.unmapped.push_back(run_status.message());
  int out_node = -1;
  if (output_) {
    if (output_->kind == Val::kTensor) {
      out_node = output_->node;
    } else if (output_->kind == Val::kList) {
      // GoogLeNet scripted returns (logits, None, None): one tensor, the rest None.
      int tensors = 0;
      bool others_none = true;
      for (const Val& v : output_->items) {
        if (v.kind == Val::kTensor) {
          ++tensors;
          out_node = v.node;
        } else if (!(v.kind == Val::kConst && v.iv.isNone())) {
          others_none = false;
        }
      }
      if (tensors != 1 || !others_none) {
        out_node = -1;
        if (m.unmapped.empty()) m.unmapped.push_back("forward returns several values");
      }
    } else if (m.unmapped.empty()) {
      m.unmapped.push_back("forward's result is not a tensor the graph computes");
    }
  }
  // Keep the nodes the output depends on, in order (the output then is the last node).
  Graph kept(m.name, input_shape_, 0);
  kept.set_seeded_weights(false);
  std::vector<NodeWeights> kept_w(1);
  if (out_node >= 0) {
    std::vector<bool> live(graph_.nodes().size(), false);
    live[out_node] = true;
    for (int i = out_node; i > 0; --i) {
      if (!live[i]) continue;
      for (int in : graph_.node(i).inputs) live[in] = true;
    }
    std::vector<int> remap(graph_.nodes().size(), 0);
    for (int i = 1; i <= out_node; ++i) {
      if (!live[i]) continue;
      GraphNode copy = graph_.node(i);
      for (int& x : copy.inputs) x = remap[x];
      remap[i] = kept.Add(std::move(copy));
      kept_w.push_back(weights_[i]);
    }
  }
  Status fin = kept.Finalize();
  const bool complete = m.unmapped.empty() && out_node >= 0 && fin.ok();
  if (!fin.ok() && m.unmapped.empty()) m.unmapped.push_back(fin.message());
  if (complete) {
    Status w = CheckWeights(kept, kept_w);
    if (!w.ok()) {
      m.unmapped.push_back(w.message());
    } else {
      m.features = ComputeFeatures(kept);
      m.graph = std::make_shared<const WeightedGraph>(WeightedGraph{kept, std::move(kept_w)});
      return m;
    }
  }
  // A partial import: count what was mapped (every node reached, not only the output's), and
  // say what was not.
  Status all = graph_.Finalize();
  if (all.ok()) m.features = ComputeFeatures(graph_);
  m.features.name = m.name;
  m.features.complete = false;
  m.features.uncounted = m.unmapped;
  m.features.uncounted.insert(m.features.uncounted.end(), uncounted_.begin(), uncounted_.end());
  return m;
}

}  // namespace

Result<ImportedModel> ImportTorchScriptFile(const std::string& name, const std::string& path,
                                            const std::vector<int64_t>& input_shape) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("TorchScript model '" + path + "': no such file");
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    std::string what = e.what();
    const size_t nl = what.find('\n');
    if (nl != std::string::npos) what = what.substr(0, nl);
    return Status::InvalidArgument("'" + path + "' is not a TorchScript archive: " + what);
  }
  module.eval();
  // One forward pass on zeros of the declared shape: a shape the network cannot take is an
  // error here, and the result's shape checks the import's.
  std::vector<int64_t> batch_shape = {1};
  batch_shape.insert(batch_shape.end(), input_shape.begin(), input_shape.end());
  std::vector<int64_t> torch_out;
  try {
    torch::NoGradGuard no_grad;
    torch::jit::IValue y = module.forward({torch::zeros(batch_shape)});
    if (y.isTuple()) {
      for (const auto& e : y.toTupleRef().elements()) {
        if (e.isTensor()) {
          torch_out = e.toTensor().sizes().vec();
          break;
        }
      }
    } else if (y.isTensor()) {
      torch_out = y.toTensor().sizes().vec();
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    const size_t nl = what.find('\n');
    if (nl != std::string::npos) what = what.substr(0, nl);
    return Status::InvalidArgument("TorchScript model '" + path +
                                   "' rejects an input of the declared shape " +
                                   ShapeString(batch_shape) + ": " + what);
  }
  try {
    // In place: a clone would hold a second copy of the weights (553 MB for VGG-16).
    torch::jit::freeze_module_inplace(&module);
  } catch (const std::exception& e) {
    std::string what = e.what();
    const size_t nl = what.find('\n');
    if (nl != std::string::npos) what = what.substr(0, nl);
    return Status::InvalidArgument("TorchScript model '" + path + "' cannot be frozen: " + what);
  }
  Importer importer(name, input_shape);
  Status run = importer.Run(module);
  if (!run.ok() && run.message().find("raises for this input shape") != std::string::npos) {
    return Status::InvalidArgument("TorchScript model '" + path + "': " + run.message());
  }
  ImportedModel m = importer.Finish(name, run);
  if (m.graph) {
    std::vector<int64_t> got = {1};
    const auto& out = m.graph->graph.nodes().back().out_shape;
    got.insert(got.end(), out.begin(), out.end());
    if (got != torch_out) {
      return Status::Internal("TorchScript model '" + path + "': the imported graph gives " +
                              ShapeString(got) + " where torch gives " +
                              ShapeString(torch_out) + " (an importer bug; please report it)");
    }
  }
  return m;
}

void InstallTorchScriptImporter() { SetTorchScriptImporter(&ImportTorchScriptFile); }

}  // namespace autoscale
