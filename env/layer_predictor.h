// Layer-level latency prediction (issue 11, point 7): a model's time on a target at a precision
// is the sum of its layers' predicted times plus the target's per-run overhead, each layer
// predicted from its descriptor alone (Pipe-it's per-layer model; nn-Meter's kernels: a layer
// and the activation the executor fuses into it are one kernel, predicted and summed).
//
// The fit, per target and precision, from layers measured on the target: inside the models
// `autoscale profile` measured (in-model timing, FitLayerModelInModel in targets/layer_profiler.h;
// what the profile writes), or alone as one-layer graphs, synthetic ones covering the space
// included (ProfileLayers; bench/layer_lomo --single-layers):
//   0. the first uses' cold cost (first_use_ms, in-model timing only): the first layer of an op
//      in a run pays for fetching the op's code; learned per op from its first uses against a
//      model of the kind's warm layers, taken off every first use before step 1, and charged
//      once per distinct op;
//   1. per layer kind (convolution split into general / pointwise / depthwise / grouped, linear,
//      LSTM, max and average pooling, global pooling, add, multiply, other element-wise,
//      concatenation, reshape: nn-Meter's kernel types), non-negative least
//      squares on relative errors of  ms = c0 + c1 MMACs + c2 Minputs + c3 Moutputs + c4 Mparams
//      + c5 Mrelu + c6 Mact  (input and output elements, weights, outputs of a fused cheap
//      activation (relu, relu6) and of a costlier one (hardswish, sigmoid, ...));
//   2. a local correction of what that linear model misses (a 3x3 convolution of 64 channels
//      runs at another rate than one of 512): the measured/predicted ratios of the measured
//      layers of that kind near the query, by a Gaussian kernel in log2 space of the descriptor
//      (channels, spatial size, kernel, stride, groups), shrunk towards 1 where no layer is near;
//   3. a scale per kind from the models measured whole (a layer measured alone runs with warm
//      caches and in a layout of its own; inside a network it does not): least squares on the
//      models' relative errors, each kind's scale pulled towards the common one (the median
//      measured/predicted ratio); 1 when no model was measured whole.
// Torch-free: the descriptors are plain numbers; targets/layer_profiler.h derives them from the
// graph IR and measures them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace autoscale {

enum class LayerKind : uint8_t {
  kConv = 0,       // groups 1, a kernel larger than 1x1
  kPointwiseConv,  // 1x1, groups 1
  kDepthwiseConv,  // groups == input channels
  kGroupedConv,    // any other groups
  kLinear,         // fully connected
  kLstm,           // one LSTM layer, all its steps
  kPool,           // max pooling with a kernel (average pooling: kAvgPool below)
  kGlobalPool,     // global and adaptive average pooling
  kElementwise,    // batch-norm and activations not fused, channel shuffle and slices, ...
  kConcat,         // channel concatenation
  kReshape,        // flatten (a view; costs the dispatch only)
  // Split from kPool and kElementwise (nn-Meter's kernels: its predictors are per kernel type,
  // avgpool and maxpool, add and SE apart): per element, an INT8 3x3 average pool costs 3-4x a
  // max pool, a squeeze-and-excitation multiply several times an add; fitted in one linear
  // model, each kind took the other's rate (Inception v3's average pools 2x short, ResNet-18's
  // adds 2x over). A profile written before the split has no coefficients for them: they are
  // then predicted with their parent's (ParentKind).
  kAvgPool,  // average pooling with a kernel
  kAdd,      // element-wise add (residual connections), with its fused relu
  kMul,      // element-wise multiply (squeeze-and-excitation's scaling)
};
inline constexpr int kNumLayerKinds = 14;
// The kind a split kind came from (kAvgPool: kPool; kAdd, kMul: kElementwise); the kind itself
// for the others.
LayerKind ParentKind(LayerKind k);
std::string_view LayerKindName(LayerKind k);  // "conv", "pointwise_conv", ...
Result<LayerKind> ParseLayerKind(std::string_view name);

// One layer as an executor runs it: batch-norm already folded into the convolution before it,
// the activation that follows fused (named in `activation`). Shapes leave out the batch.
struct LayerDescriptor {
  std::string op;          // the graph op (OpTypeName): "conv", "linear", "max_pool", "add", ...
  std::string activation;  // the fused activation's op ("relu", "hardswish"), "" for none
  int64_t in_channels = 0, out_channels = 0;  // linear: features; lstm: input features, output
  int kernel_h = 0, kernel_w = 0, stride_h = 0, stride_w = 0, groups = 1;
  int dilation_h = 1, dilation_w = 1;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;  // spatial size; lstm: in_h = steps
  int inputs = 1;                                    // tensors read (add 2, concat n)
  double macs = 0, params = 0;
  double input_elements = 0, output_elements = 0;  // all inputs; the output

  LayerKind kind() const;
  // A stable text key of every field ("conv|relu|3|32|..."), equal for equal layers.
  std::string Key() const;
};

// A measured single layer: its time on the target, the target's per-run overhead removed.
struct LayerSample {
  LayerDescriptor layer;
  double ms = 0;
  // The first layer of its op in its run (in-model timing): the op's code is not in the caches
  // yet, and the first call pays for fetching it (see LayerFit::first_use_ms).
  bool first_use = false;
};

// A whole model measured on the target, for the model-level scale (step 3 above).
struct ModelSample {
  std::string name;
  std::vector<LayerDescriptor> layers;
  double input_elements = 0, output_elements = 0;
  double ms = 0;
};

inline constexpr int kNumLayerFeatures = 7;
// Names of the coefficients, in order, as the device profile writes them.
const std::array<std::string_view, kNumLayerFeatures>& LayerFeatureNames();
// The linear features of a layer (step 1): [1, MMACs, Minputs, Moutputs, Mparams, Mrelu, Mact].
std::array<double, kNumLayerFeatures> LayerFeatures(const LayerDescriptor& l);

struct LayerFitOptions {
  // Gaussian kernel width of the local correction, in log2 units of each descriptor dimension
  // (1 = a factor of 2 in channels or spatial size); 0 disables the correction.
  double bandwidth = 1.0;
  // Pseudo-weight of "no correction": with total kernel weight w the correction is
  // w / (w + shrink) of the neighbours' mean log ratio.
  double shrink = 0.5;
  // Weight of the prior that pulls each kind's scale towards the common scale (step 3), against
  // the models' squared relative errors; 0 keeps only the common scale. The kind scales are
  // fitted on whole models' times, where one kind's error is confounded with the others' (a
  // kind that only one family of networks has takes up that family's other errors): 0.5, not
  // 0.05, from leave-one-model-out on two runs (bench/layer_lomo, README), where it put one and
  // two more INT8 networks within 10% and kept the FP32 count.
  double kind_prior = 0.5;
  // Learn and charge the first uses' cold cost (step 0); false treats first uses as warm.
  bool first_use = true;
};

// The fit of one target at one precision (what the device profile stores as layer_model).
struct LayerFit {
  double overhead_ms = 0;               // per run (input in, output out, dispatch)
  double overhead_ms_per_melement = 0;  // per million input + output elements of the run
  double scale = 1;                     // common whole-model correction (step 3)
  std::array<double, kNumLayerKinds> kind_scale = Ones();  // per kind
  // Per kind: the coefficients of LayerFeatures(); empty when no layer of the kind was measured
  // (such a layer is then predicted with its parent kind's, else with `fallback`).
  std::array<std::vector<double>, kNumLayerKinds> coefficients;
  std::vector<double> fallback;  // fitted on every kind together
  // What a run pays once per distinct op (conv, linear, global_avg_pool, ...) on top of its
  // layers: the first layer of an op in a run finds the op's code cold (measured inside the runs:
  // a network's one global pool took 0.06-0.09 ms, MobileNet v3's nine squeeze-and-excitation
  // pools 0.01-0.03 ms each; the same pool alone, right after a convolution, 0.19 ms, and 0.02 ms
  // the second time). Per op where the fit saw its first uses, first_use_ms for the others; 0
  // when the fit had no first uses to learn from.
  double first_use_ms = 0;
  std::map<std::string, double> first_use_by_op;
  std::vector<LayerSample> samples;  // the measured layers, for the local correction
  LayerFitOptions options;

  bool empty() const { return samples.empty(); }

 private:
  static std::array<double, kNumLayerKinds> Ones() {
    std::array<double, kNumLayerKinds> a;
    a.fill(1.0);
    return a;
  }
};

// Fits the layer models (steps 0-3) on `samples` (overheads already removed), keeping
// `overhead_ms` and `overhead_ms_per_melement` as given. InvalidArgument when there are no
// samples or a sample's time is not positive.
Result<LayerFit> FitLayerModel(const std::vector<LayerSample>& samples,
                               const std::vector<ModelSample>& models, double overhead_ms,
                               double overhead_ms_per_melement,
                               const LayerFitOptions& options = {});

// Predicted time of one layer (without the run overhead and the model scale).
double PredictLayerMs(const LayerFit& fit, const LayerDescriptor& layer);
// The cold cost of `op`'s first use in a run (first_use_by_op, else first_use_ms), and of all
// the first uses among `layers` (once per distinct op).
double FirstUseMs(const LayerFit& fit, const std::string& op);
double FirstUsesMs(const LayerFit& fit, const std::vector<LayerDescriptor>& layers);
// Each layer's predicted time inside a run of `layers`: its kind's scale times PredictLayerMs,
// plus its op's first-use cost on the op's first layer. PredictModelMs is their sum plus the
// run overhead.
std::vector<double> PredictLayersInRunMs(const LayerFit& fit,
                                         const std::vector<LayerDescriptor>& layers);
// Predicted time of a whole model: its layers, each times its kind's scale, plus the run
// overhead for its input and output, plus first_use_ms per distinct op.
double PredictModelMs(const LayerFit& fit, const std::vector<LayerDescriptor>& layers,
                      double input_elements, double output_elements);

// The YAML of one fit as a device profile's `layer_models.TARGET.PRECISION` holds it
// (configs/README.md), every line indented by `indent` spaces; `source` goes into the comments
// ("measured by autoscale profile on <machine>, <date>").
std::string LayerFitYaml(const LayerFit& fit, int indent, const std::string& source);
// Reads what LayerFitYaml writes; errors name file, line and key path.
Result<LayerFit> ParseLayerFit(const ConfigNode& node);

// One descriptor as a flow list of its 20 fields in the order Key() uses (op, activation,
// in_channels, out_channels, kernel_h, kernel_w, stride_h, stride_w, groups, dilation_h,
// dilation_w, in_h, in_w, out_h, out_w, inputs, macs, params, input_elements, output_elements;
// activation "-" for none), as a model profile's `layer_shapes` rows hold it, and its reader
// (errors name file, line and column).
std::string LayerDescriptorRow(const LayerDescriptor& d);
Result<LayerDescriptor> ParseLayerDescriptorRow(const ConfigNode& row);

// Non-negative least squares: x >= 0 minimising sum_i w_i (a_i . x - y_i)^2, by solving every
// subset of the columns that are not all zero (fine for the few columns here). Columns that are
// all zero get 0.
std::vector<double> NonNegativeLeastSquares(const std::vector<std::vector<double>>& a,
                                            const std::vector<double>& y,
                                            const std::vector<double>& w);

}  // namespace autoscale
