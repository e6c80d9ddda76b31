// The engine of the on-device daemon (DESIGN.md, "One request, end to end"): per request it
// observes (cached probes of the machine and the remote links), decides with the configured
// policy among the feasible actions, runs the request for real on the chosen target, measures,
// and learns online. A target that fails (a remote one that errs, answers garbage or runs out of
// time; a local one whose run fails) hands the request to the fallback local target, or, when
// that is the one that failed, to the next feasible action on a target not yet tried: every
// submitted request gets exactly one reply, an error only when every candidate failed (the
// message lists each failure). The learned state is saved atomically on an interval and at
// shutdown.
//
// Threads: Submit() may be called from many threads. Each local target runs on a thread of its
// own (targets are not thread-safe; this serialises them), except a streaming one
// (TargetDescription::max_concurrent > 1, the pipelined CPU target): its thread only hands
// requests to it in order (Target::StartRun), and several run inside it at once, each answered
// from the target's own thread. Remote requests are asynchronous. The policy is guarded by one
// mutex (Decide and Learn are microseconds).
//
// Queues (issue 14): every observation carries Observation::wait_ms, how long a request would
// wait before each local target is free, which the cost model adds to a local action's latency.
// The engine estimates it per bound local target from the requests handed to it and not yet
// answered (agent/queue_estimate.h: each request's expected time from what that target measured
// for the same action and model, else the cost model's prediction; a pipelined target as a
// tandem of its stages). A bound target fills its own device-profile index with the wait of its
// first stage; a pipelined one also fills its profile stage targets' indices with its stages'
// waits (the cost model enters a pipelined action's stages through those), each index taking
// the largest wait written to it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine_options.h"
#include "agent/probes.h"
#include "core/prometheus.h"
#include "core/random.h"
#include "core/status.h"
#include "env/cost_model.h"
#include "policies/policy.h"
#include "targets/remote/remote_target.h"
#include "targets/target.h"

namespace autoscale {

// A device-profile target bound to a real backend: a local Target or a RemoteTarget.
struct BoundTarget {
  std::string name;  // the device profile's target name ("cpu_big", "gpu", "cloud")
  std::unique_ptr<Target> local;
  std::unique_ptr<RemoteTarget> remote;
};

// One model of the daemon's catalogue: its features (for the observation and the cost model)
// and what targets need to run it. Index i matches the cost model's model i.
struct EngineModel {
  ModelProfile profile;
  ModelSpec spec;
};

class Engine {
 public:
  struct Request {
    std::string id;
    std::string model;
    HostTensor input;
    // The same input as it arrived when it was a UINT8 image: offloads forward these bytes.
    std::optional<Uint8Tensor> input_u8;
    std::optional<float> latency_bound_ms, min_accuracy;
  };
  struct Reply {
    Status status;  // not OK: nothing could run it (status says why)
    InferenceResult result;
    std::string action;          // "cpu_big/fp32/2803MHz"
    std::string target;          // the bound target that produced the output
    bool fallback = false;       // the chosen target failed and another one answered
    double decide_us = 0;        // observe + decide
    double total_ms = 0;         // from Submit to the reply
    float latency_bound_ms = 0;  // the bound applied
  };
  using Done = std::function<void(Reply)>;

  // `models` index the cost model's catalogue; `targets` bind device targets by name (device
  // targets left unbound are never offered to the policy). The policy's learned state is loaded
  // from options.state_file when that exists: a file that fails to load is reported, renamed to
  // FILE.corrupt-<unix seconds> and left there, and the policy starts from its own state.
  static Result<std::unique_ptr<Engine>> Create(std::shared_ptr<const CostModel> cost_model,
                                                std::unique_ptr<Policy> policy,
                                                std::vector<EngineModel> models,
                                                std::vector<BoundTarget> targets,
                                                std::unique_ptr<SystemProbe> probe,
                                                const EngineOptions& options);
  ~Engine();  // Shutdown(), then the targets go

  // Runs one request; `done` is called exactly once, on an engine thread.
  void Submit(Request request, Done done);

  // The per-request overhead path (public for the overhead bench): fill the observation from
  // the probes, link estimates and queues, list the feasible actions, and decide. -1 when none
  // is feasible. `feasible`, when given, receives the actions that were offered to the policy.
  int ObserveAndDecide(int model, float latency_bound_ms, float min_accuracy, Observation* obs,
                       std::vector<int>* feasible = nullptr);

  // Prepares every local (target, model, precision) the action space can ask for (INT8
  // calibration, compiled kernels) and asks remote workers which models they serve, so that no
  // request pays for it. Returns how many local pairs were prepared; failures are not errors
  // (that pair is then tried, and fails, on first use).
  int PrepareLocal();

  // Saves the learned state now (atomically). OK when there is nothing to save.
  Status SaveState();
  // Stops taking requests (Submit answers Unavailable), finishes queued ones, stops threads,
  // saves the state. Idempotent.
  void Shutdown();

  // The accuracy the engine currently believes `model` has at `precision`: the profile's,
  // updated by calibration (EngineOptions::calibration); what feasibility, the learned outcome
  // and the accuracy-violation count use. Lock-free.
  float CurrentAccuracy(int model, Precision precision) const;
  // Blocks until no calibration sample waits or runs (or the engine stops). For tests and tools:
  // samples run only while no request is in flight.
  void WaitCalibrationIdle();

  // When an offload of a request observed as `obs` is given up for the fallback target, in ms
  // after the request arrived: the cost model's rule (CostModel::OffloadDeadlineMs, which the
  // simulator charges too) with this engine's fallback and remote_timeout_ms.
  double OffloadDeadlineMs(const Observation& obs) const;

  int ModelIndex(const std::string& name) const;  // -1 when not in the catalogue
  const std::vector<EngineModel>& models() const { return models_; }
  const CostModel& cost_model() const { return *cost_model_; }
  // What happened at start-up with the learned state ("loaded FILE", "FILE set aside: ...").
  const std::string& state_report() const { return state_report_; }

  // {"requests":..., "decisions": {"cpu_big": n, ...}, "energy_mj":..., "violations": {...},
  //  "queues": {TARGET: {"inside": requests handed to it and not answered, "wait_ms": [per
  //  stage]}} per bound local target,
  //  "calibration": {"sample_rate", "pending", "models": {MODEL: {PRECISION: {"samples",
  //  "agreed", "agreement", "prior_agreement", "accuracy", "profile_accuracy", "estimated",
  //  "dropped", "failed"}}}}}, with `extra` counts (the service's delivered replies) added at the
  // top level. Calibration lists every reduced precision each model has, sampled or not;
  // "agreement" (observed) is null before any sample, "accuracy" is the current estimate.
  std::string StatsJson(const std::vector<std::pair<std::string, int64_t>>& extra = {}) const;
  MetricsRegistry& metrics() { return metrics_; }

 private:
  struct Executor;  // a local target's thread and queue
  struct Pending;

  Engine() = default;
  // Runs `action` (-1: FP32 at level 0, the fallback's) on a bound target. A retry (the chosen
  // action failed) is not learned from: the policy did not choose it.
  void RunLocal(int target, std::shared_ptr<Pending> p, int action, bool retry);
  void RunRemote(int target, std::shared_ptr<Pending> p, int action, bool retry);
  // What follows a local run (on the target's thread, or a streaming target's): learn, fall back
  // or answer.
  void AfterLocalRun(int target, std::shared_ptr<Pending> p, int action, bool retry,
                     Precision precision, Result<InferenceResult> r);
  // Target `failed` could not answer (`why`): try the fallback target, else the next feasible
  // action on a target not yet tried, else answer with every failure.
  void Fallback(std::shared_ptr<Pending> p, int failed, const Status& why);
  void Finish(std::shared_ptr<Pending> p, Result<InferenceResult> r, int target, bool fallback);
  void LearnFrom(const Pending& p, const Outcome& o);
  // `level` is a device-profile level; false when the bound target has no level for it.
  bool TargetUsable(int target, int model, Precision precision, int level);
  // The bound target's level that runs profile level `level`; -1 when none does.
  int TargetLevel(int target, int level) const;
  // Observation::wait_ms from the local targets' queues (see the file comment).
  void FillWaits(Observation* obs) const;
  // What a request of `model` for `action` (on bound local target `target`) is expected to
  // take in each of the target's stages (QueueEstimate::Expected).
  std::vector<double> ExpectedStageMs(int target, int action, int model,
                                      const Observation& obs) const;
  void SaverLoop();
  // Calibration: keeps a sample of a reduced-precision answer (maybe), and runs the kept ones at
  // FP32 while the engine is idle.
  void MaybeSample(int target, const Pending& p, Precision precision, const HostTensor& output);
  void CalibratorLoop();
  void StopCalibrator();
  size_t CellOf(int model, Precision precision) const {
    return static_cast<size_t>(model) * kNumPrecisions + static_cast<int>(precision);
  }

  std::shared_ptr<const CostModel> cost_model_;
  std::unique_ptr<Policy> policy_;
  std::mutex policy_mu_;
  std::vector<EngineModel> models_;
  std::map<std::string, int> model_index_;
  std::vector<BoundTarget> targets_;
  std::vector<int> device_to_bound_;  // device target index -> index into targets_, or -1
  // Per bound local target, profile level -> target level (-1: not offered). A target that sets
  // real frequencies (TargetDescription::level_freq_mhz) runs each profile level at the nearest
  // of them (MapLevelsByFrequency); otherwise profile level i is target level i.
  std::vector<std::vector<int>> level_map_;
  std::vector<std::unique_ptr<Executor>> executors_;  // per bound target (null for remote)
  // Per bound local target: for a pipelined one, the device target index each stage's wait goes
  // to (-1: none; stage 0's goes to its own index, bound_to_device_, as well; empty for the
  // others), and its FP32 level-0 action (the fallback run's; -1: none).
  std::vector<std::vector<int>> wait_index_;
  std::vector<int> plain_action_;
  std::vector<int> bound_to_device_;  // per bound target: its device target index
  int fallback_ = -1;                 // index into targets_
  int fallback_action_ = -1;  // its FP32 level-0 action: what an offload's deadline reserves for
  std::unique_ptr<SystemProbe> probe_;
  EngineOptions options_;
  std::string state_report_;

  // Supports() answers per (bound target, model, precision): 0 unknown, 1 yes, 2 no. Read on
  // every decision, so lock-free; two threads asking at once both ask the backend, harmlessly.
  std::unique_ptr<std::atomic<uint8_t>[]> support_;

  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> outstanding_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::thread saver_;
  std::mutex saver_mu_;
  std::condition_variable saver_cv_;
  bool shut_down_ = false;

  // Calibration (EngineOptions::calibration). accuracy_ is read on every decision, lock-free;
  // written under calib_mu_.
  struct CalibrationSample {
    int model = 0;
    Precision precision = Precision::kInt8;
    int target = 0;  // the bound target that answered at `precision`
    HostTensor input;
    std::vector<int64_t> top1;  // of that answer
  };
  struct CalibrationStat {
    double prior = 1;  // agreement the profile implies
    int64_t samples = 0, agreed = 0, dropped = 0, failed = 0;
  };
  std::unique_ptr<std::atomic<float>[]> accuracy_;  // per (model, precision)
  mutable std::mutex calib_mu_;
  std::condition_variable calib_cv_;             // a sample is waiting and the engine is idle; stop
  std::condition_variable calib_idle_cv_;        // nothing waits or runs
  std::deque<CalibrationSample> calib_pending_;  // guarded by calib_mu_
  std::vector<CalibrationStat> calib_stats_;     // guarded by calib_mu_; per (model, precision)
  bool calib_running_ = false;                   // guarded by calib_mu_
  bool calib_stop_ = false;                      // guarded by calib_mu_
  std::unique_ptr<Rng> calib_rng_;               // guarded by calib_mu_
  std::thread calibrator_;
  GaugeFamily* agreement_gauge_ = nullptr;  // {model, precision}
  GaugeFamily* accuracy_gauge_ = nullptr;   // {model, precision}
  CounterFamily* calib_samples_ = nullptr;  // {model, precision, result}

  // Statistics. "decisions" count what the policy chose (whatever came of it), "answers" the
  // target that produced each successful reply.
  MetricsRegistry metrics_;
  CounterFamily* requests_ = nullptr;    // {target, outcome}
  CounterFamily* decisions_ = nullptr;   // {action}
  CounterFamily* energy_ = nullptr;      // {target}
  CounterFamily* violations_ = nullptr;  // {kind}
  CounterFamily* fallbacks_ = nullptr;   // {target, reason}
  HistogramFamily* decide_seconds_ = nullptr;
  HistogramFamily* latency_seconds_ = nullptr;  // {target}
  mutable std::mutex stats_mu_;
  std::map<std::string, int64_t> decisions_per_target_;           // guarded by stats_mu_
  std::map<std::string, int64_t> answers_per_target_;             // guarded by stats_mu_
  std::map<std::string, int64_t> failures_per_target_;            // guarded by stats_mu_
  std::map<std::string, double> energy_per_target_;               // guarded by stats_mu_
  int64_t requests_total_ = 0, failed_ = 0, fallback_count_ = 0;  // guarded by stats_mu_
  int64_t latency_violations_ = 0, accuracy_violations_ = 0;      // guarded by stats_mu_
  double energy_total_mj_ = 0;                                    // guarded by stats_mu_
};

}  // namespace autoscale
