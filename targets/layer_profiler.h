// Measuring single layers on a target, for the layer-level latency predictor
// (env/layer_predictor.h; issue 11, point 7). Works on the Target interface only (no torch or
// OpenCL here), the way nn-Meter measures kernels: each layer, with the activation its executor
// fuses into it, runs alone as a one-layer graph (input -> layer [-> activation]); the target's
// per-run overhead is taken off (see ProfileLayers).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/layer_predictor.h"
#include "targets/target.h"
#include "zoo/graph.h"

namespace autoscale {

// One layer of a graph as the executors run it: `nodes` are the main node, then a batch-norm
// folded into it (a convolution's only consumer) and the activation fused into it (the only
// consumer of a conv, linear, add, mul or batch-norm), in graph order.
struct GraphLayer {
  LayerDescriptor desc;
  std::vector<int> nodes;
};

// The layers of a finalized graph in execution order (the input node is not a layer). Works on
// graphs with or without batch-norm folded: a folded one gives the same descriptors.
std::vector<GraphLayer> GraphLayers(const Graph& graph);
std::vector<LayerDescriptor> LayerDescriptors(const Graph& graph);

// A finalized graph of one layer of `graph`: an input of the layer's input shape, then the
// layer's nodes (a second input of add or mul reads the same input; a concatenation of n inputs
// reads n copies of an input of the total channels / n). Seeded weights.
Result<Graph> SingleLayerGraph(const Graph& graph, const GraphLayer& layer);

// `count` finalized one-layer graphs spread over the space of image and sequence networks
// (convolutions general, 1x1, depthwise and grouped with and without a fused relu/relu6, linear,
// pooling, global pooling, add, concatenation, standalone activations, flatten, LSTM), each
// small enough to time in milliseconds. Deterministic in `seed`.
std::vector<Graph> SyntheticLayerGraphs(int count, uint64_t seed = 1);

struct LayerProfileOptions {
  int warmup = 2;
  int min_repeats = 7;       // timed runs per layer, at least
  int max_repeats = 200;     // and at most
  double min_seconds = 0.1;  // repeat a fast layer until this much time was spent timing it
  double max_seconds = 3;    // stop repeating a slow one after this long (at least 3 runs)
  uint64_t input_seed = 1;
  bool use_min = false;  // time layers by their fastest run rather than the median
  // Called with one line per measured layer.
  std::function<void(const std::string&)> progress;
};

// Latency (InferenceResult::latency_ms) of `model` on `target` at `precision`, batch 1, after
// Prepare and the warm-up runs.
struct LatencyStats {
  double median_ms = 0, min_ms = 0;
  int runs = 0;
};
Result<LatencyStats> MeasureLatency(Target& target, const ModelSpec& model, Precision precision,
                                    const LayerProfileOptions& options);

struct LayerProfile {
  double overhead_ms = 0, overhead_ms_per_melement = 0;  // per run, fitted on empty graphs
  std::vector<LayerSample> samples;                      // times with the overhead taken off
  std::vector<double> raw_ms;                            // per sample, as measured
  std::vector<std::string> skipped;  // "NAME: why" for layers the target could not run
};

// Measures the per-run overhead, then every graph of `layers` (one-layer graphs: each gives one
// sample described by GraphLayers). A layer with an image input runs after a context layer (a
// 3x3 depthwise convolution keeping the shape, as a layer inside a network reads what a layer
// before it wrote, in the executor's layout), and its time is that run's less the context's
// alone; a layer with another input has the run overhead taken off instead. Layers the target
// cannot run are listed in `skipped`.
// Fails only when the overhead cannot be measured (the target cannot run anything).
Result<LayerProfile> ProfileLayers(Target& target, Precision precision,
                                   const std::vector<Graph>& layers,
                                   const LayerProfileOptions& options);

// In-model layer timing (what the fit uses where the target can time a run node by node, the
// CPU target's CpuTarget::TimeNodes): a model measured whole, with each graph node's time inside
// that run (index = node; node 0 is the input's conversion, counted as run overhead).
struct InModelRun {
  std::string name;
  const Graph* graph = nullptr;  // finalized; must outlive the call
  std::vector<double> node_ms;   // per node of *graph
  double run_ms = 0;             // the whole run, unobserved
  // A probe network (InModelProbeGraphs): its layers are samples; its whole run counts towards
  // neither the run overhead nor the model-level scale, which are fitted on real networks.
  bool probe = false;
};

// In-model probes: networks that `autoscale profile` runs whole, timed node by node, beside the
// models it measured, to cover what those models may not have (issue 11, point 7: "synthetic
// layers it generates to cover the space"):
//  - fully connected layers of 2 M to 67 M weights in one chain (150 M weights, so each layer's
//    weights are cold when it runs, as inside a network), the range where a batch-1 layer's rate
//    drops: on this project's 2-vCPU Xeon (bench/layer_lomo, 2026-12-03) INT8 classifiers of
//    1-2 M weights ran at 3.3-4.0 GMAC/s inside their networks and VGG-16's of 17 M and 103 M
//    at 2.5, so a fit on the small ones alone predicted VGG-16's classifier 41% short;
//  - max and average pooling of the kernels, strides and modes torchvision's classifiers use,
//    at 64 to 1024 channels and 56x56 to 7x7, each after a depthwise convolution with relu that
//    gives it a convolution's output to read (the INT8 engine's layout);
//  - global average pooling, first and warm, at 16 to 1024 channels and 56x56 to 7x7, as
//    squeeze-and-excitation uses it, each with the multiply that scales its input by it;
//  - ShuffleNet's unit (channel slices, concatenation, channel shuffle) at 64 to 512 channels
//    and 56x56 to 7x7;
//  - LSTM layers of 128 to 512 cells over 25 and 100 steps.
// The context layers around the probed ones are not samples of the fit.
// Deterministic, with seeded weights.
std::vector<Graph> InModelProbeGraphs();
// A finalized graph as a model a target runs: seeded weights, batch-norm folded (what the
// profiler times for single layers and probes).
Result<ModelSpec> SeededModelSpec(const Graph& graph);
// InModelProbeGraphs() as models (SeededModelSpec), in the same order.
Result<std::vector<std::shared_ptr<const ModelSpec>>> InModelProbeSpecs();

// Each layer's time inside the run: the sum of its nodes' times (the batch-norm and activation
// fused into it included), in GraphLayers order; the first layer of each op is marked
// first_use.
std::vector<LayerSample> InModelLayerSamples(const Graph& graph,
                                             const std::vector<double>& node_ms);
// The model sample (step 3 of the fit) of a run.
ModelSample InModelModelSample(const InModelRun& run);

// Fits a target's layer model on in-model runs: every layer of every run is a sample; the per-run
// overhead (input and output elements) is fitted, non-negative, on what each network's layers
// leave of its run; the networks' whole runs give the model-level scale (probes count for
// neither).
// InvalidArgument when no run has a layer, or a run's node times do not fit its graph.
Result<LayerFit> FitLayerModelInModel(const std::vector<InModelRun>& runs,
                                      const LayerFitOptions& options = {});

// The distinct layers of `graphs` (by LayerDescriptor::Key) as one-layer graphs, with, per
// graph, the indices of `graphs` it came from.
struct DistinctLayers {
  std::vector<Graph> graphs;
  std::vector<std::vector<int>> origins;
  std::vector<std::string> skipped;  // layers no one-layer graph could be built for, and why
};
DistinctLayers DistinctLayerGraphs(const std::vector<const Graph*>& graphs);

}  // namespace autoscale
