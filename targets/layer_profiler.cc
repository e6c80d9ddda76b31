#include "targets/layer_profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "core/random.h"
#include "core/strings.h"

namespace autoscale {

namespace {

bool FusesActivation(OpType op) {
  return op == OpType::kConv || op == OpType::kLinear || op == OpType::kAdd || op == OpType::kMul ||
         op == OpType::kBatchNorm;
}

LayerDescriptor Describe(const Graph& g, const GraphLayer& layer) {
  const GraphNode& n = g.node(layer.nodes.front());
  const GraphNode& last = g.node(layer.nodes.back());
  const std::vector<int64_t>& x = g.node(n.inputs[0]).out_shape;
  LayerDescriptor d;
  d.op = OpTypeName(n.op);
  d.in_channels = x.empty() ? 0 : x[0];
  d.out_channels = n.out_shape.empty() ? 0 : n.out_shape[0];
  if (x.size() == 3) {
    d.in_h = x[1];
    d.in_w = x[2];
  }
  if (n.out_shape.size() == 3) {
    d.out_h = n.out_shape[1];
    d.out_w = n.out_shape[2];
  }
  switch (n.op) {
    case OpType::kConv:
      d.groups = n.groups;
      d.dilation_h = n.dilation_h;
      d.dilation_w = n.dilation_w;
      [[fallthrough]];
    case OpType::kMaxPool:
    case OpType::kAvgPool:
      d.kernel_h = n.kernel_h;
      d.kernel_w = n.kernel_w;
      d.stride_h = n.stride_h;
      d.stride_w = n.stride_w;
      break;
    case OpType::kLstm:
      d.in_channels = x.size() > 1 ? x[1] : 0;
      d.in_h = x[0];  // steps
      break;
    case OpType::kChannelShuffle:
      d.groups = n.groups;
      break;
    case OpType::kConcat:
      d.in_channels = 0;
      for (int in : n.inputs) d.in_channels += g.node(in).out_shape[0];
      break;
    default:
      break;
  }
  d.inputs = static_cast<int>(n.inputs.size());
  d.macs = static_cast<double>(n.macs);
  d.params = static_cast<double>(n.params);
  for (int in : n.inputs)
    d.input_elements += static_cast<double>(NumElements(g.node(in).out_shape));
  d.output_elements = static_cast<double>(NumElements(last.out_shape));
  for (size_t k = 1; k < layer.nodes.size(); ++k) {
    const GraphNode& f = g.node(layer.nodes[k]);
    if (f.op == OpType::kBatchNorm) {
      if (!n.bias) d.params += static_cast<double>(d.out_channels);  // the folded bias
    } else if (IsActivation(f.op)) {
      d.activation = OpTypeName(f.op);
    }
  }
  return d;
}

// A Graph input shape for a layer's first input; concatenations read n equal parts.
std::vector<int64_t> SingleInputShape(const Graph& g, const GraphNode& n) {
  std::vector<int64_t> x = g.node(n.inputs[0]).out_shape;
  if (n.op == OpType::kConcat && x.size() == 3) {
    int64_t total = 0;
    for (int in : n.inputs) total += g.node(in).out_shape[0];
    x[0] = std::max<int64_t>(1, total / static_cast<int64_t>(n.inputs.size()));
  }
  return x;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

ModelSpec SpecFor(const WeightedGraph& wg, const std::string& name) {
  ModelSpec spec;
  spec.name = name;
  spec.input_shape = wg.graph.input_shape();
  spec.graph = std::make_shared<const WeightedGraph>(wg);
  return spec;
}

// Deterministic choices for the synthetic layers.
class Chooser {
 public:
  explicit Chooser(uint64_t seed) : rng_(seed) {}
  int Pick(std::initializer_list<int> v) { return v.begin()[rng_.Below(v.size())]; }
  // Log-uniform in [lo, hi], rounded to a multiple of 8 four times in five.
  int Channels(int lo, int hi) {
    int c = static_cast<int>(std::round(std::exp(rng_.Uniform(std::log(lo), std::log(hi)))));
    if (rng_.Uniform() < 0.8 && c >= 8) c = (c + 4) / 8 * 8;
    return std::clamp(c, lo, hi);
  }
  int Spatial() { return Pick({7, 8, 13, 14, 17, 27, 28, 35, 55, 56, 71, 73, 112, 147, 224}); }
  double Uniform() { return rng_.Uniform(); }
  const char* Activation() {
    const double u = rng_.Uniform();
    return u < 0.45 ? "relu" : u < 0.65 ? "relu6" : "";
  }

 private:
  Rng rng_;
};

OpType ActivationOp(const std::string& name) {
  return name == "relu6" ? OpType::kRelu6 : OpType::kRelu;
}

// Draws one synthetic layer graph into *out; false when the draw is out of budget.
bool MakeSynthetic(Chooser& c, int index, Graph* out) {
  const double u = c.Uniform();
  const int hw = c.Spatial();
  Graph g;
  const std::string name = "synthetic_" + std::to_string(index);
  auto conv = [&](int cin, int cout, int kh, int kw, int stride, int groups, int size) {
    g = Graph(name, {cin, size, size});
    int y = g.Conv(0, cout, kh, kw, stride, stride, kh / 2, kw / 2, groups, true);
    const std::string act = c.Activation();
    if (!act.empty()) g.Unary(ActivationOp(act), y);
  };
  if (u < 0.28) {  // general convolution
    const int k = c.Pick({3, 3, 3, 3, 5, 7, 1});
    const int cin = c.Uniform() < 0.1 ? 3 : c.Channels(8, 768);
    int kh = k, kw = k;
    if (k == 1) {  // the factorised 1xn / nx1 kernels of Inception v3
      kh = c.Pick({1, 3, 7});
      kw = kh == 1 ? c.Pick({3, 7}) : 1;
    }
    conv(cin, c.Channels(16, 768), kh, kw, c.Pick({1, 1, 1, 2}), 1, hw);
  } else if (u < 0.48) {  // pointwise
    conv(c.Channels(8, 2048), c.Channels(8, 2048), 1, 1, c.Pick({1, 1, 1, 1, 2}), 1, hw);
  } else if (u < 0.60) {  // depthwise
    const int ch = c.Channels(8, 1024);
    const int k = c.Pick({3, 3, 3, 5});
    conv(ch, ch, k, k, c.Pick({1, 1, 2}), ch, hw);
  } else if (u < 0.63) {  // grouped
    const int groups = c.Pick({2, 4, 8, 32});
    const int cin = groups * std::max(1, c.Channels(8, 512) / groups);
    const int cout = groups * std::max(1, c.Channels(8, 512) / groups);
    const int k = c.Pick({1, 3, 3});
    conv(cin, cout, k, k, c.Pick({1, 2}), groups, hw);
  } else if (u < 0.69) {  // linear
    const int in = c.Channels(64, 25088), outf = c.Channels(10, 4096);
    g = Graph(name, {in});
    int y = g.Linear(0, outf);
    if (c.Uniform() < 0.4) g.Relu(y);
  } else if (u < 0.75) {  // pooling
    const int ch = c.Channels(16, 1024);
    g = Graph(name, {ch, hw, hw});
    const int k = c.Pick({2, 3, 3});
    const int s = c.Pick({1, 2, 2});
    if (c.Uniform() < 0.7) {
      g.MaxPool(0, k, s, k == 3 && s == 1 ? 1 : 0, c.Uniform() < 0.5);
    } else {
      g.AvgPool(0, k, s, k == 3 && s == 1 ? 1 : 0, false);
    }
  } else if (u < 0.79) {  // global pooling
    const int64_t size = c.Pick({1, 4, 7, 7, 8, 14});
    g = Graph(name, {c.Channels(16, 2048), size, size});
    g.GlobalAvgPool(0);
  } else if (u < 0.86) {  // add
    g = Graph(name, {c.Channels(16, 1024), hw, hw});
    int y = g.AddOp(0, 0);
    if (c.Uniform() < 0.5) g.Relu(y);
  } else if (u < 0.91) {  // concatenation
    const int n = c.Pick({2, 2, 3, 4});
    g = Graph(name, {c.Channels(16, 512), hw, hw});
    g.Concat(std::vector<int>(n, 0));
  } else if (u < 0.94) {  // standalone activation
    g = Graph(name, {c.Channels(16, 1024), hw, hw});
    g.Unary(c.Uniform() < 0.5 ? OpType::kRelu : OpType::kRelu6, 0);
  } else if (u < 0.96) {  // flatten
    const int64_t size = c.Pick({1, 7});
    g = Graph(name, {c.Channels(16, 2048), size, size});
    g.Flatten(0);
  } else {  // LSTM
    const int steps = c.Pick({10, 25, 49, 100});
    g = Graph(name, {steps, c.Channels(10, 256)});
    const int hidden = c.Channels(32, 512);
    g.Lstm(0, hidden, c.Uniform() < 0.5 ? 0 : c.Channels(16, hidden), c.Uniform() < 0.5);
  }
  if (!g.Finalize().ok()) return false;
  // Keep each layer in the milliseconds: at most 3e8 MACs and 4e6 elements in or out.
  const GraphNode& last = g.node(g.output());
  double macs = 0;
  for (const GraphNode& n : g.nodes()) macs += static_cast<double>(n.macs);
  if (macs > 3e8 || NumElements(last.out_shape) > 4000000 ||
      NumElements(g.input_shape()) > 4000000) {
    return false;
  }
  *out = std::move(g);
  return true;
}

// The context a layer runs in inside a network: its input produced by a layer before it (a 3x3
// depthwise convolution that keeps the shape), so that the executor sees the input in the
// layout and precision it has mid-network (the INT8 engine's convolution outputs are channels-
// last; a quantised graph input is not, and pooling or concatenation of it runs several times
// slower). Only for image inputs (C, H, W); null graph otherwise.
bool HasContext(const Graph& g) { return g.input_shape().size() == 3; }

Graph ContextOnly(const std::vector<int64_t>& shape) {
  Graph g("context_" + ShapeString(shape), shape);
  const int c = static_cast<int>(shape[0]);
  g.Conv(0, c, 3, 3, 1, 1, 1, 1, c, true, "context");
  return g;
}

Result<Graph> WithContext(const Graph& layer) {
  Graph g = ContextOnly(layer.input_shape());
  const std::string name = layer.name() + "+context";
  Graph out(name, layer.input_shape());
  for (size_t i = 1; i < g.nodes().size(); ++i) out.Add(g.node(static_cast<int>(i)));
  const int offset = static_cast<int>(g.nodes().size()) - 1;
  for (size_t i = 1; i < layer.nodes().size(); ++i) {
    GraphNode n = layer.node(static_cast<int>(i));
    for (int& in : n.inputs) in = in == 0 ? offset : in + offset;
    out.Add(std::move(n));
  }
  RETURN_IF_ERROR(out.Finalize());
  return out;
}

}  // namespace

std::vector<GraphLayer> GraphLayers(const Graph& graph) {
  const auto& nodes = graph.nodes();
  std::vector<std::vector<int>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int in : nodes[i].inputs) consumers[in].push_back(static_cast<int>(i));
  }
  // The only consumer of `i`, when it reads nothing else; -1 otherwise.
  auto sole = [&](int i) {
    if (consumers[i].size() != 1 || i == graph.output()) return -1;
    const int c = consumers[i][0];
    return nodes[c].inputs.size() == 1 ? c : -1;
  };
  std::vector<bool> fused(nodes.size(), false);
  std::vector<GraphLayer> out;
  for (int i = 1; i < static_cast<int>(nodes.size()); ++i) {
    if (fused[i]) continue;
    GraphLayer layer;
    layer.nodes.push_back(i);
    int tail = i;
    if (nodes[i].op == OpType::kConv) {
      const int c = sole(tail);
      if (c >= 0 && nodes[c].op == OpType::kBatchNorm) {
        layer.nodes.push_back(c);
        tail = c;
      }
    }
    if (FusesActivation(nodes[i].op)) {
      const int c = sole(tail);
      if (c >= 0 && IsActivation(nodes[c].op)) layer.nodes.push_back(c);
    }
    for (size_t k = 1; k < layer.nodes.size(); ++k) fused[layer.nodes[k]] = true;
    layer.desc = Describe(graph, layer);
    out.push_back(std::move(layer));
  }
  return out;
}

std::vector<LayerDescriptor> LayerDescriptors(const Graph& graph) {
  std::vector<LayerDescriptor> out;
  for (GraphLayer& l : GraphLayers(graph)) out.push_back(std::move(l.desc));
  return out;
}

Result<Graph> SingleLayerGraph(const Graph& graph, const GraphLayer& layer) {
  const GraphNode& main = graph.node(layer.nodes.front());
  Graph g(
      graph.name() + "." + (main.name.empty() ? std::to_string(layer.nodes.front()) : main.name),
      SingleInputShape(graph, main));
  GraphNode n = main;
  n.inputs.assign(main.inputs.size(), 0);
  int prev = g.Add(std::move(n));
  for (size_t k = 1; k < layer.nodes.size(); ++k) {
    GraphNode f = graph.node(layer.nodes[k]);
    f.inputs = {prev};
    prev = g.Add(std::move(f));
  }
  RETURN_IF_ERROR(g.Finalize());
  return g;
}

std::vector<Graph> SyntheticLayerGraphs(int count, uint64_t seed) {
  std::vector<Graph> out;
  Chooser c(Mix64(seed, 0x1a7e5));
  for (int tries = 0; static_cast<int>(out.size()) < count && tries < 50 * count; ++tries) {
    Graph g;
    if (MakeSynthetic(c, static_cast<int>(out.size()), &g)) out.push_back(std::move(g));
  }
  return out;
}

Result<ModelSpec> SeededModelSpec(const Graph& graph) {
  ASSIGN_OR_RETURN(WeightedGraph wg, PrepareForInference(graph));
  return SpecFor(wg, graph.name());
}

namespace {
// The name of a probe's context layers (not samples of the fit).
constexpr const char* kProbeContext = "probe_context";

// Marks `node` of `g` as a probe's context layer; returns it.
int MarkProbeContext(Graph& g, int node) {
  g.mutable_node(node).name = kProbeContext;
  return node;
}

// Each layer's time inside a run (see InModelLayerSamples), from the graph's layers.
std::vector<LayerSample> SamplesOf(const std::vector<GraphLayer>& layers,
                                   const std::vector<double>& node_ms) {
  std::vector<LayerSample> out;
  std::set<std::string> seen;  // ops run so far
  for (const GraphLayer& l : layers) {
    double ms = 0;
    for (int i : l.nodes) {
      if (static_cast<size_t>(i) < node_ms.size()) ms += node_ms[i];
    }
    const bool first = seen.insert(l.desc.op).second;
    out.push_back({l.desc, ms, first});
  }
  return out;
}
}  // namespace

std::vector<Graph> InModelProbeGraphs() {
  // One chain, so that between two runs of a layer the others stream 150 M weights through the
  // caches (150 MB at INT8, 600 MB at FP32): each layer's weights are cold when it runs, as
  // they are inside a network (alone and repeated, a 2 M-weight INT8 layer ran from the caches
  // at 10 GMAC/s; the classifiers of that size inside the networks at 3.3-4.0).
  Graph g("probe_linear_chain", {2048});
  int x = 0;
  int index = 0;
  for (int outf : {1024, 8192, 4096, 16384, 2048, 4096, 1024}) {
    x = g.Linear(x, outf);
    if (index++ % 2 == 1) x = g.Relu(x);
  }
  std::vector<Graph> out;
  if (g.Finalize().ok()) out.push_back(std::move(g));
  // Pooling, every kind torchvision's classifiers use (max and average; 3x3 stride 1 padded,
  // 3x3 stride 2 with and without ceil mode, 2x2 stride 2) at 64, 256 and 1024 channels from
  // 56x56 down to 7x7, each after a 3x3 depthwise convolution with relu, so that it reads what
  // a convolution wrote (the INT8 engine's layout) as it does inside a network. The fit's
  // local correction only learns from layers of the same op: without an average pool among the
  // measured networks, one is otherwise predicted from max pools (INT8: 4x short, FP32: 2x over).
  struct Pool {
    bool max;
    int k, stride, pad;
    bool ceil;
  };
  const Pool pools[] = {{false, 3, 1, 1, false}, {true, 3, 1, 1, true},   {true, 3, 2, 0, true},
                        {false, 3, 1, 1, false}, {true, 2, 2, 0, false},  {true, 3, 1, 1, true},
                        {false, 2, 2, 0, false}, {false, 3, 1, 1, false}, {true, 3, 2, 0, false}};
  for (int c : {64, 256, 1024}) {
    Graph p("probe_pool_" + std::to_string(c), {c, 56, 56});
    int y = 0;
    for (const Pool& q : pools) {
      y = p.Relu(p.Conv(y, c, 3, 1, 1, c, true, kProbeContext));
      y = q.max ? p.MaxPool(y, q.k, q.stride, q.pad, q.ceil) : p.AvgPool(y, q.k, q.stride, q.pad);
    }
    if (p.Finalize().ok()) out.push_back(std::move(p));
  }
  // Global average pooling, first and warm, at 16 to 1024 channels and 56x56 to 7x7, as
  // squeeze-and-excitation uses it (MobileNet v3 has nine): the context scales its input by the
  // pool and halves the size. The networks measured beside it may have one global pool each, all
  // first uses, from which neither the warm cost nor the op's cold cost can be told apart.
  for (int c : {16, 64, 256, 1024}) {
    Graph p("probe_global_pool_" + std::to_string(c), {c, 56, 56});
    int y = 0;
    for (int size = 56; size >= 7; size /= 2) {
      y = p.Relu(p.Conv(y, c, 3, 1, 1, c, true, kProbeContext));
      y = p.Mul(y, p.GlobalAvgPool(y));  // the excitation's scaling, a sample too
      if (size > 7) y = MarkProbeContext(p, p.MaxPool(y, 2, 2));
    }
    if (p.Finalize().ok()) out.push_back(std::move(p));
  }
  // ShuffleNet's unit: the channels split in two halves, one through a pointwise convolution,
  // the halves concatenated and shuffled, at 64 to 512 channels and 56x56 to 7x7. Channel
  // shuffle (a transposing copy) and the halves' slices are in no other torchvision network:
  // without these, a held-out ShuffleNet's 16 shuffles were predicted from the other
  // element-wise layers, 80% short.
  for (int c : {64, 128, 256, 512}) {
    Graph p("probe_shuffle_" + std::to_string(c), {c, 56, 56});
    // A convolution first, so that the unit reads a convolution's output in its layout (from
    // the input's NCHW conversion, the INT8 concatenation took libtorch's slow path: 1.76 ms
    // at 64 channels and 56x56, 8.8 ns per element against 0.7 inside ShuffleNet).
    int y = p.Relu(p.Conv(0, c, 1, 1, 0, 1, true, kProbeContext));
    for (int size = 56; size >= 7; size /= 2) {
      const int left = p.ChannelSlice(y, 0, c / 2);
      const int right =
          p.Relu(p.Conv(p.ChannelSlice(y, c / 2, c), c / 2, 1, 1, 0, 1, true, kProbeContext));
      y = p.ChannelShuffle(p.Concat({left, right}), 2);
      if (size > 7) y = MarkProbeContext(p, p.MaxPool(y, 2, 2));
    }
    if (p.Finalize().ok()) out.push_back(std::move(p));
  }
  // LSTM layers (one per network: its output is the last step), 128 to 512 cells, 25 and 100
  // steps, with and without projection and peepholes. The zoo's one recurrent network was
  // otherwise predicted from the other kinds when held out: 87-99% short.
  struct Shape {
    int steps, features, projection;
    bool peephole;
  };
  for (int h : {128, 256, 512}) {
    for (const Shape& q : {Shape{25, 40, 0, false}, Shape{100, 10, h / 2, true}}) {
      Graph p("probe_lstm_" + std::to_string(h) + "_" + std::to_string(q.steps),
              {q.steps, q.features});
      p.Lstm(0, h, q.projection, q.peephole);
      if (p.Finalize().ok()) out.push_back(std::move(p));
    }
  }
  return out;
}

Result<std::vector<std::shared_ptr<const ModelSpec>>> InModelProbeSpecs() {
  std::vector<std::shared_ptr<const ModelSpec>> out;
  for (const Graph& g : InModelProbeGraphs()) {
    auto spec = SeededModelSpec(g);
    if (!spec.ok()) return spec.status().WithPrefix("probe " + g.name());
    out.push_back(std::make_shared<const ModelSpec>(std::move(*spec)));
  }
  return out;
}

DistinctLayers DistinctLayerGraphs(const std::vector<const Graph*>& graphs) {
  DistinctLayers d;
  std::map<std::string, int> index;
  for (size_t gi = 0; gi < graphs.size(); ++gi) {
    for (const GraphLayer& l : GraphLayers(*graphs[gi])) {
      const std::string key = l.desc.Key();
      auto it = index.find(key);
      if (it != index.end()) {
        auto& o = d.origins[it->second];
        if (o.back() != static_cast<int>(gi)) o.push_back(static_cast<int>(gi));
        continue;
      }
      auto single = SingleLayerGraph(*graphs[gi], l);
      if (!single.ok()) {
        d.skipped.push_back(graphs[gi]->name() + " " + l.desc.op + ": " +
                            single.status().message());
        continue;
      }
      index.emplace(key, static_cast<int>(d.graphs.size()));
      d.graphs.push_back(std::move(*single));
      d.origins.push_back({static_cast<int>(gi)});
    }
  }
  return d;
}

Result<LatencyStats> MeasureLatency(Target& target, const ModelSpec& model, Precision precision,
                                    const LayerProfileOptions& options) {
  RETURN_IF_ERROR(target.Prepare(model, precision));
  const HostTensor input = MakeHostInput(model, options.input_seed);
  for (int i = 0; i < options.warmup; ++i) {
    ASSIGN_OR_RETURN(InferenceResult r, target.Run(model, precision, 0, input));
  }
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    ASSIGN_OR_RETURN(InferenceResult r, target.Run(model, precision, 0, input));
    ms.push_back(r.latency_ms);
    const double spent =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int n = static_cast<int>(ms.size());
    if (n >= options.max_repeats) break;
    if (n >= options.min_repeats && spent >= options.min_seconds) break;
    if (n >= 3 && spent >= options.max_seconds) break;
  }
  LatencyStats st;
  st.runs = static_cast<int>(ms.size());
  st.min_ms = *std::min_element(ms.begin(), ms.end());
  st.median_ms = Median(std::move(ms));
  return st;
}

namespace {
Result<double> Time(Target& target, const Graph& g, Precision precision,
                    const LayerProfileOptions& options) {
  ASSIGN_OR_RETURN(const ModelSpec spec, SeededModelSpec(g));
  RETURN_IF_ERROR(target.Supports(spec, precision));
  ASSIGN_OR_RETURN(LatencyStats st, MeasureLatency(target, spec, precision, options));
  return options.use_min ? st.min_ms : st.median_ms;
}
}  // namespace

Result<LayerProfile> ProfileLayers(Target& target, Precision precision,
                                   const std::vector<Graph>& layers,
                                   const LayerProfileOptions& options) {
  LayerProfile profile;
  // The per-run overhead: graphs that only flatten their input, 1e3 to 1e6 elements.
  std::vector<std::vector<double>> a;
  std::vector<double> y, w;
  for (int64_t c : {10, 100, 1000, 10000}) {
    Graph g("overhead_" + std::to_string(c), {c, 10, 10});
    g.Flatten(0);
    RETURN_IF_ERROR(g.Finalize());
    auto ms = Time(target, g, precision, options);
    if (!ms.ok()) return ms.status().WithPrefix("measuring the run overhead");
    a.push_back({1.0, 2.0 * static_cast<double>(c) * 100 / 1e6});
    y.push_back(std::max(*ms, 1e-6));
    w.push_back(1.0 / (y.back() * y.back()));
  }
  const std::vector<double> o = NonNegativeLeastSquares(a, y, w);
  profile.overhead_ms = o[0];
  profile.overhead_ms_per_melement = o[1];

  std::map<std::string, double> context_ms;  // by input shape
  for (size_t i = 0; i < layers.size(); ++i) {
    const Graph& g = layers[i];
    const std::vector<GraphLayer> gl = GraphLayers(g);
    if (gl.size() != 1) {
      profile.skipped.push_back(g.name() + ": not a one-layer graph");
      continue;
    }
    const LayerDescriptor& d = gl[0].desc;
    double net = 0, raw = 0;
    if (HasContext(g)) {
      // The layer after its context, less the context alone.
      const std::string shape = ShapeString(g.input_shape());
      auto it = context_ms.find(shape);
      if (it == context_ms.end()) {
        auto ms = Time(target, ContextOnly(g.input_shape()), precision, options);
        if (!ms.ok()) {
          profile.skipped.push_back(g.name() + ": context: " + ms.status().message());
          continue;
        }
        it = context_ms.emplace(shape, *ms).first;
      }
      auto with = WithContext(g);
      auto ms = with.ok() ? Time(target, *with, precision, options) : with.status();
      if (!ms.ok()) {
        profile.skipped.push_back(g.name() + ": " + ms.status().message());
        continue;
      }
      raw = *ms;
      net = std::max(*ms - it->second, 0.05 * std::max(*ms - it->second, 0.0) + 1e-4);
    } else {
      auto ms = Time(target, g, precision, options);
      if (!ms.ok()) {
        profile.skipped.push_back(g.name() + ": " + ms.status().message());
        continue;
      }
      raw = *ms;
      const double run = profile.overhead_ms + profile.overhead_ms_per_melement *
                                                   (d.input_elements + d.output_elements) / 1e6;
      // What is left after the overhead, never below 5% of the measurement.
      net = std::max(*ms - run, 0.05 * *ms);
    }
    profile.samples.push_back({d, net});
    profile.raw_ms.push_back(raw);
    if (options.progress) {
      options.progress("[" + std::to_string(i + 1) + "/" + std::to_string(layers.size()) + "] " +
                       g.name() + " " + d.op + (d.activation.empty() ? "" : "+") + d.activation +
                       ": " + FormatDouble(net, 4) + " ms");
    }
  }
  return profile;
}

std::vector<LayerSample> InModelLayerSamples(const Graph& graph,
                                             const std::vector<double>& node_ms) {
  return SamplesOf(GraphLayers(graph), node_ms);
}

ModelSample InModelModelSample(const InModelRun& run) {
  const Graph& g = *run.graph;
  return {run.name, LayerDescriptors(g), static_cast<double>(NumElements(g.input_shape())),
          static_cast<double>(NumElements(g.node(g.output()).out_shape)), run.run_ms};
}

Result<LayerFit> FitLayerModelInModel(const std::vector<InModelRun>& runs,
                                      const LayerFitOptions& options) {
  std::vector<LayerSample> samples;
  std::vector<ModelSample> models;
  std::vector<std::vector<double>> a;
  std::vector<double> y, w;
  for (const InModelRun& r : runs) {
    if (r.graph == nullptr || r.node_ms.size() != r.graph->nodes().size()) {
      return Status::InvalidArgument("in-model run '" + r.name +
                                     "': node times do not match its graph");
    }
    double layers_ms = 0;
    const std::vector<GraphLayer> layers = GraphLayers(*r.graph);
    std::vector<LayerSample> in_run = SamplesOf(layers, r.node_ms);
    for (size_t i = 0; i < in_run.size(); ++i) {
      LayerSample& l = in_run[i];
      l.ms = std::max(l.ms, 1e-6);  // a view (flatten) may take no measurable time
      layers_ms += l.ms;
      // A probe's context layers only set up what its probed layers read.
      if (r.probe && r.graph->node(layers[i].nodes.front()).name == kProbeContext) continue;
      samples.push_back(std::move(l));
    }
    if (r.probe) continue;  // its layers only
    ModelSample m = InModelModelSample(r);
    a.push_back({1.0, (m.input_elements + m.output_elements) / 1e6});
    y.push_back(std::max(r.run_ms - layers_ms, 0.0));
    w.push_back(1.0 / std::max(r.run_ms * r.run_ms, 1e-12));
    models.push_back(std::move(m));
  }
  if (samples.empty()) return Status::InvalidArgument("no in-model layer was measured");
  if (models.empty()) {
    return Status::InvalidArgument("in-model probes alone: the fit needs a measured network");
  }
  const std::vector<double> o = NonNegativeLeastSquares(a, y, w);
  return FitLayerModel(samples, models, o[0], o[1], options);
}

}  // namespace autoscale
