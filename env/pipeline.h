// Pipe-it's stage split (Wang et al., seed 001_305b350fbb653f19.txt; issue 14): a network's
// layers, in execution order, cut into contiguous stages, one per core group (a cluster of a
// big.LITTLE CPU, or any set of cores), each stage's kernels parallel only inside its group.
// Requests stream through the stages, so a pipeline's throughput is that of its slowest stage
// and its latency the sum of its stages and the hand-offs between them.
//
// The search: given each layer's time on each stage's cores (measured, or predicted by the
// layer-level predictor, env/layer_predictor.h) and the time to hand a stage's live tensors to
// the next group, dynamic programming over the cut points finds the split whose slowest stage
// is fastest (ties: the least total latency). Exact for the model it is given: O(stages x
// layers^2). Torch-free: the simulator, the daemon and the CPU target share it.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "env/layer_predictor.h"
#include "env/profiles.h"

namespace autoscale {

struct StageSplit {
  // Layer index where each stage starts: begin[0] = 0, stage s runs layers
  // [begin[s], begin[s + 1]) (the last to the end). Every stage holds at least one layer.
  std::vector<int> begin;
  std::vector<double> stage_ms;  // each stage's time, including the hand-off into it
  double bottleneck_ms = 0;      // the slowest stage: a pipeline takes a request per this long
  double latency_ms = 0;         // sum of the stages: one request's time through an idle pipeline

  int stages() const { return static_cast<int>(begin.size()); }
  double throughput_per_s() const { return bottleneck_ms > 0 ? 1e3 / bottleneck_ms : 0.0; }
};

// The cost of a candidate split. `layer_ms[s][j]`: layer j's time on stage s's cores (every row
// as long as the layer count); `handoff_ms[j]`: the time to move the tensors live before layer j
// to another core group (size = layer count; [0] is unused, as nothing is handed into stage 0).
struct StageCosts {
  std::vector<std::vector<double>> layer_ms;
  std::vector<double> handoff_ms;
};

// Checks `costs` (one row per stage, rows of equal length, finite non-negative times, at least
// as many layers as stages) and says what is wrong.
Status CheckStageCosts(const StageCosts& costs);

// Stage times of the split starting stages at `begin` (checked: increasing, begin[0] = 0, one
// entry per stage, each < layer count).
Result<StageSplit> EvaluateSplit(const StageCosts& costs, const std::vector<int>& begin);

// The split whose slowest stage is fastest (ties: least latency), by dynamic programming.
Result<StageSplit> BalanceStages(const StageCosts& costs);

// "stage 0: layers 0-41 (12.3 ms) | stage 1: layers 42-68 (12.1 ms, hand-off 0.05 ms)": the
// split in words, with each stage's first and last layer names where `layer_names` has them.
std::string DescribeSplit(const StageSplit& split, const StageCosts& costs,
                          const std::vector<std::string>& layer_names = {});

// ---- A pipeline on a device profile's processors (the simulator's view) ----------------------

// Each layer's time on `target` at its highest level and `precision`: the target's layer model
// (layer_models; PredictLayersInRunMs, first uses included) where it has one for the precision;
// else the cost model's MAC-rate formula
// applied layer by layer (a convolution's, linear layer's or LSTM's MACs at its class's GMAC/s,
// plus the per-layer overhead; other layers cost nothing there, as in the whole-model formula),
// so that the layers add up to the cost model's time for a model it did not measure.
std::vector<double> LayerTimesOn(const TargetProfile& target, Precision precision,
                                 const std::vector<LayerDescriptor>& layers);

// The stage costs of a pipeline whose stages run on `stage_targets` of `device` (local targets,
// in pipeline order), over `layers` at `precision`; a hand-off before layer j moves layer j-1's
// output (a skip connection's second tensor is not counted: descriptors do not say which
// tensors are live). Errors name an unknown or remote stage target and one that cannot run the
// precision.
Result<StageCosts> DeviceStageCosts(const DeviceProfile& device,
                                    const std::vector<std::string>& stage_targets,
                                    Precision precision, const std::vector<LayerDescriptor>& layers,
                                    const HandOffModel& handoff = {});

}  // namespace autoscale
