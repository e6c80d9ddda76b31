// The pipelined CPU target (Pipe-it, seed 001_305b350fbb653f19.txt; issue 14, point 1): a
// model's graph split at node boundaries into stages, each stage on its own core group (a
// cluster of a big.LITTLE CPU, or any set of cores) with its own threads, requests streaming
// through the stages: while stage 1 runs request k, stage 0 runs request k + 1. Each stage's
// kernels are parallel only inside its group, which on a phone is cheaper than spreading every
// convolution over both clusters.
//
// Where the stages are cut: Prepare() times every graph node on each stage's cores (in-model, as
// CpuTarget::TimeNodes does, one stage after the other), estimates the hand-off of the tensors
// live at each cut, and BalanceStages (env/pipeline.h) picks the split whose slowest stage is
// fastest. Plan() says which split and what it predicts.
//
// Unlike the other targets, Run() may be called from several threads at once: that is how
// requests stream (each caller waits for its own request). StartRun() and Submit() are the same
// without the wait (the description's max_concurrent is max_in_flight). FP32 models with a graph
// only (INT8 stages are not built). One frequency level: the stages' clusters run at whatever the
// host sets.
//
// Thread settings: each stage thread sets libtorch's intra-op thread count for itself. With the
// OpenMP backend (Debian's libtorch) that count is per calling thread, so the stages and any
// other CPU target in the process do not change each other's; Create() checks it and refuses
// otherwise. No torch types in this header.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "env/layer_predictor.h"
#include "env/pipeline.h"
#include "targets/target.h"

namespace autoscale {

struct PipelineStageOptions {
  std::vector<int> cpus;  // the core group; pinned to it (empty: not pinned)
  int threads = 0;        // intra-op threads; 0 = one per CPU in `cpus` (1 if empty)
  double power_mw = 0;    // the group's active power, for modelled energy (0: not modelled)
};

struct PipelineOptions {
  std::string name = "cpu_pipeline";
  // Empty: one stage per CPU cluster (cpufreq's policies, fastest first), or, on a host without
  // cpufreq, the allowed CPUs halved into two groups.
  std::vector<PipelineStageOptions> stages;
  std::string sysfs_root = "/sys";
  double base_power_mw = 0;  // the rest of the device while computing (modelled energy)
  // The per-node timing behind the split: warm-up and timed runs on each stage's cores.
  int profile_warmup = 3;
  int profile_runs = 9;
  // A hand-off: the next stage reads the live tensors another core wrote. Modelling assumption
  // (tune with bench/pipeline_bench, which measures it): a fixed wake-up cost plus the bytes at
  // a cross-core copy rate.
  double handoff_fixed_ms = 0.02;
  double handoff_gb_per_s = 10.0;
  // At most this many requests inside the pipeline at once; Submit() waits beyond it.
  int max_in_flight = 64;
  // Stages run channels-last, as the CPU target does (CpuOptions::channels_last); false: NCHW.
  bool channels_last = true;
  // The layer-level predictor (env/layer_predictor.h) of each stage's cores at FP32, in stage
  // order (one for all stages when there is one): the split then comes from each layer's
  // predicted time instead of timing the model at Prepare() (on a phone, the fit of its
  // clusters from the device profile). Empty: time the nodes.
  std::vector<std::shared_ptr<const LayerFit>> layer_fits;
  // Pipe-it's design-space search, measured: with two stages, Prepare() streams requests through
  // a few candidate splits (the balanced one, cuts at eighths of the work, and all but the last
  // node on stage 0), then through the cuts halfway between the fastest and its neighbours
  // beside it again, and keeps the fastest. The model above times each stage's nodes with both
  // stages busy, but what the stages do to each other when they really overlap (shared caches
  // and memory bandwidth, activations crossing cores) depends on the split; on a 2-vCPU VM a
  // memory-bound network ran fastest almost unsplit.
  // Each candidate gets `refine_requests` requests (at least 7 per round: the window of 4 plus
  // three results in steady state), in `refine_rounds` interleaved rounds (every candidate in
  // turn, round after round), and the median of its rounds' steady-state rates counts: one
  // measurement of a split varied by up to 15% between passes on that VM, and the machine's
  // speed drifts while the search runs. 0 requests: no measurement, the balanced split as
  // predicted.
  int refine_requests = 12;
  int refine_rounds = 3;
  // And each round of a candidate streams at least this long in steady state, by its predicted
  // slowest stage: 7 requests of a MobileNet v2 pipeline (3 in steady state, about 12 ms) were too
  // few on a 2-vCPU VM, where the search then missed the best cut by 12.7% (README, run 13).
  double refine_min_ms = 50;
  // Appended to the description's notes (where the stages and their power come from).
  std::string note;
};

// The stages PipelineOptions leaves to the target when it lists none: one per CPU cluster
// (cpufreq's policies under `sysfs_root`, fastest first), or, on a host without cpufreq, the
// allowed CPUs halved into two groups (one stage on a single CPU); threads 0 and power 0 each.
// `how` says which.
void DefaultPipelineStages(const std::string& sysfs_root, std::vector<PipelineStageOptions>* stages,
                           std::string* how);

// What Prepare() chose for a model.
struct PipelinePlan {
  std::string source;  // "measured" (nodes timed at Prepare) or "predicted" (layer fits)
  StageSplit split;    // stage starts are node indices (node 0 is the input)
  StageCosts costs;    // the measured node times per stage and the hand-off estimates
  std::vector<std::string> node_names;
  std::vector<std::string> stage_devices;  // "CPUs 0,1, 2 threads" per stage
  // Predicted whole-model time on one stage's cores, per stage (for comparison).
  std::vector<double> single_stage_ms;
  // The measured search (PipelineOptions::refine_requests): each candidate's stage-1 start and
  // measured requests per second (the median of its rounds), and the balanced split's start;
  // empty when not measured.
  std::vector<std::pair<int, double>> candidates;
  // The second phase: the fastest candidate and the cuts halfway to its neighbours, measured
  // again together (their medians); the chosen split is the fastest of these. Empty when the
  // fastest candidate had no cut between it and its neighbours.
  std::vector<std::pair<int, double>> refined;
  int balanced_cut = -1;
  std::string Describe() const;
};

// Requests per second of `requests` requests, each started by `start` (which returns its
// result's future), with at most `window` in flight: a stream of requests, as a pipeline serves
// them (window 1: back to back). In steady state: the results while `window` requests were in
// flight, over the time from the first result (neither the pipeline's fill before it nor the
// drain after the last submission counts; with requests <= window, the results after the first
// over the time since it; with one request, its own rate). Every request is waited for; the
// first failure is returned.
Result<double> StreamThroughput(const std::function<std::future<Result<InferenceResult>>()>& start,
                                int requests, int window);

class PipelinedCpuTarget final : public Target {
 public:
  // Fails when a stage's options are invalid (no such CPU, threads < 0) or libtorch's thread
  // count is process-wide in this build (the stages would change each other's).
  static Result<std::unique_ptr<PipelinedCpuTarget>> Create(PipelineOptions options);
  ~PipelinedCpuTarget() override;

  const TargetDescription& description() const override { return desc_; }
  Status Supports(const ModelSpec& model, Precision precision) const override;
  // Builds the model, times its nodes on every stage and picks the split. Idempotent.
  Status Prepare(const ModelSpec& model, Precision precision) override;
  // Thread-safe (see the file comment): runs one request through the stages and waits for it.
  Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                              const HostTensor& input) override;
  // Starts one request through the stages: returns once stage 0 has it (waiting while
  // max_in_flight are inside); `done` runs on the last stage's thread (or the caller's, for a
  // request refused before it enters). Each result carries its stage times (stage_ms). Prepares
  // on first use. Thread-safe.
  void StartRun(const ModelSpec& model, Precision precision, int level, HostTensor input,
                RunCallback done) override;
  // StartRun with the result in a future.
  std::future<Result<InferenceResult>> Submit(const ModelSpec& model, Precision precision,
                                              int level, HostTensor input);

  // The split Prepare() chose, or an error when the model was not prepared.
  Result<PipelinePlan> Plan(const ModelSpec& model, Precision precision) const;
  // Replaces the split of a prepared model (stage starts as node indices; checked): for
  // comparing the searched split with others. Waits until no request of the model is inside.
  Status SetSplit(const ModelSpec& model, Precision precision, const std::vector<int>& begin);

  int stages() const;

 private:
  struct Impl;
  explicit PipelinedCpuTarget(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  TargetDescription desc_;
};

}  // namespace autoscale
