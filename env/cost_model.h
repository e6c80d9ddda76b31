// CostModel: predicts what an action costs for a request under an observation, from the device
// profile, the model profiles and the network profiles (DESIGN.md, "The central interfaces").
//
// The simulated world is this model plus traces plus seeded noise (sim/world.h); the oracle and
// the model-greedy baseline use it too. Everything a request needs is precomputed per
// (action, model) at construction, so Evaluate() is a handful of multiplies: it sits on the
// simulator's hot path. Immutable after Create(); thread-safe to share.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/profiles.h"
#include "env/types.h"

namespace autoscale {

// Compute time in ms of model `m` on the local target `t` at frequency `level` and precision `p`,
// no interference. At the highest level: the measured latency (t.measured_ms) when the profile
// has one for the model; else, when the target has a layer model for `p` and the model profile
// carries its layer descriptors, the sum of its predicted layers (env/layer_predictor.h); else
// MACs of each layer class over the target's effective rate plus the per-layer overhead, where on
// a GPU target whose profile has `waves` and a model with layer descriptors the convolutions take
// waves x wave time instead (the tail effect, env/gpu_waves.h; batch 1). Scaled
// for frequency (the memory-bound share does not scale). The precision must be one the target
// supports, and `t` a processor (not pipelined: CostModel prices those from their stages).
double LocalComputeMs(const TargetProfile& t, int level, Precision p, const ModelProfile& m);

// The action space of one device: every (target, precision, level) it offers.
struct ActionSpace {
  std::vector<Action> actions;
  std::vector<std::string> names;  // "cpu_big/fp32/2803MHz", "cloud/fp32"
  std::vector<std::string> target_names;
  std::vector<TargetKind> target_kinds;

  int size() const { return static_cast<int>(actions.size()); }
  // Id of the first action on `target_name` at `precision` and level 0; -1 when absent.
  int Find(const std::string& target_name, Precision precision, int level = 0) const;
  // Action ids whose target has this kind (any precision/level), in id order.
  std::vector<int> OfKind(TargetKind kind) const;
};

// What the world, not the agent, knows about one execution: noise and request spacing.
struct Conditions {
  float compute_factor = 1;    // multiplies compute time (run-to-run variation)
  float network_factor = 1;    // multiplies link throughput
  float server_queue_ms = -1;  // < 0: the server's mean queueing delay
  float prev_gap_s = 0;        // time since the previous request (radio promotion)
  float next_gap_s = 0;        // time until the next request (radio tail)
  bool drop = false;           // the remote connection drops
};

struct CostModelOptions {
  // Mean spacing of requests, used by Predict() for the radio tail and promotion.
  double expected_gap_s = 0.2;
  // The longest an offload waits for its answer (the daemon's remote_timeout_ms): its deadline
  // when the request has no latency bound, and a cap on it when it has one (OffloadDeadlineMs).
  double remote_timeout_ms = 3000;
  // The local target an offload falls back to when its answer has not come by the deadline
  // (the daemon's `fallback`): "" = the device's first local target with an FP32 action. A
  // name must be a local target of the device.
  std::string fallback;
};

class CostModel {
 public:
  // Builds the action space of `device` and precomputes costs for `models` (the experiment's
  // catalogue; Observation::model indexes it). Remote targets resolve their server and network
  // profiles through `catalog`. Fails naming the missing profile.
  static Result<std::unique_ptr<CostModel>> Create(const DeviceProfile& device,
                                                   const std::vector<ModelProfile>& models,
                                                   ProfileCatalog& catalog,
                                                   const CostModelOptions& options = {});

  const ActionSpace& actions() const { return space_; }
  const DeviceProfile& device() const { return device_; }
  const std::vector<ModelProfile>& models() const { return models_; }
  int num_models() const { return static_cast<int>(models_.size()); }
  const CostModelOptions& options() const { return options_; }

  // Writes into `out` the ids of the actions feasible for this request: the model has the
  // precision, the target supports it, its accuracy meets obs.min_accuracy, and a remote target's
  // link is connected above its minimum signal, in increasing order. Returns how many were
  // written (out must hold actions().size()).
  int Feasible(const Observation& obs, std::span<int> out) const;
  // What Feasible() reads of an observation besides its model and accuracy floor: one bit per
  // link, set where the link is usable now. Two observations of one model with the same floor
  // and the same mask have the same feasible actions (a caller may reuse them), as long as
  // links_cacheable() (at most 32 links; else the mask is 0).
  uint32_t UsableLinks(const Observation& obs) const;
  bool links_cacheable() const { return links_.size() <= 32; }
  // The highest accuracy any action of this device reaches on `model` (links assumed up); -1
  // when no action can run it. A floor above it can never be met on this device.
  float BestAccuracy(int model) const;
  // For a request that no action can serve within its accuracy floor: the action that comes
  // closest, the most accurate one runnable now (a remote target only with its link up), ties
  // to the least expected energy. -1 when nothing can run the model at all.
  int MostAccurate(const Observation& obs) const;

  // Expected outcome: no noise, throughput as observed, the mean request spacing.
  Outcome Predict(int action, const Observation& obs) const;
  // Predict() of every feasible action of one request (`feasible`: action ids, any order), as
  // arrays indexed by action id (each holds actions().size()): latency, energy, and flags (bit
  // 0: it fails; bit 1: it misses the accuracy floor, as MissesAccuracy() says). The same values
  // as Predict(), bit for bit. Local actions are computed in one pass over all of them from the
  // model's precomputed costs (entries of actions not in `feasible` are written too, and mean
  // nothing); remote ones through Predict(). A policy that weighs every feasible action (the
  // model prior, model_greedy) pays a few multiplies per action.
  void PredictFeasible(const Observation& obs, std::span<const int> feasible, float* latency,
                       float* energy, int32_t* flags) const;
  // Outcome under the given conditions (the simulator's ground truth).
  //
  // An offload obeys the daemon's deadline and fallback rule (agent/engine.cc, RunRemote): when
  // its answer would come after OffloadDeadlineMs(obs), or its connection drops, or the link
  // carries nothing, the phone gives up at the deadline and runs the request on the fallback
  // action under the same conditions (co-runners, compute_factor). It then costs latency =
  // deadline + the fallback's run; energy = the radio's energy until the deadline (promotion,
  // upload, waiting at base power, download: each phase cut at the deadline; nothing but base
  // power flows on a dropped or dead link) + its tail after it + idle power until the deadline
  // + the fallback run's energy; accuracy = the fallback's (FP32). That outcome is not `failed`:
  // the request is answered, and its latency meets or misses the bound like any other.
  // `failed` is left for a request that gets no answer: the offload was given up and the
  // fallback cannot run the model (or there is no fallback), costing the deadline and the
  // energy until it.
  //
  // Queues (Observation::wait_ms): a local action's latency includes the wait for its targets
  // (QueuedLatencyMs); its energy does not (the processors are busy with other requests then).
  // A given-up offload's fallback starts at the deadline or when its target is free, whichever
  // is later. `fallback_at`, when given, receives that deadline (ms after the request started)
  // when the fallback ran, else -1.
  Outcome Evaluate(int action, const Observation& obs, const Conditions& cond,
                   float* fallback_at = nullptr) const;

  // The latency from the request's arrival of local `action`, whose run takes `run_ms` on idle
  // processors, given each target's wait in `obs`: a processor's action starts when its target
  // is free; a pipelined one enters each stage when the request has left the one before and the
  // stage's processor is free, and holds it for that stage's share of `run_ms`. When `busy_end`
  // is given (kMaxWaitTargets entries), writes for each target the action occupies when it is
  // free again, in ms after the arrival (other entries untouched). Remote actions: `run_ms`.
  // `start_ms`: when the run may start at the earliest (a given-up offload's fallback: its
  // deadline), in ms after the arrival.
  float QueuedLatencyMs(int action, const Observation& obs, float run_ms, float* busy_end = nullptr,
                        float start_ms = 0) const;
  // The time a local action's run takes under the observation's co-runners with this compute
  // factor, before any queue (Evaluate's latency when nothing waits); 0 for a remote action.
  float RunMs(int action, const Observation& obs, float compute_factor) const {
    return info_[action].remote ? 0.0f : LocalLatencyMs(action, obs, compute_factor);
  }
  // A pipelined action's split of model `model`: its stage targets (device target indices) and
  // each stage's share of the run, which sum to 1; empty for every other action.
  struct StageShare {
    int target;
    float share;
  };
  std::span<const StageShare> Stages(int action, int model) const {
    const auto& v = stages_[static_cast<size_t>(model) * info_.size() + action];
    return {v.data(), v.size()};
  }

  // The action an offload falls back to: CostModelOptions::fallback's target (by default the
  // first local one with FP32) at FP32 and level 0; -1 when there is none.
  int fallback_action() const { return fallback_action_; }
  // When an offload of this request is given up, in ms after the request started; the one rule
  // shared by the daemon (Engine::RunRemote) and the simulator (Evaluate). With a finite latency
  // bound B and the fallback's predicted latency F (Predict, 0 when it cannot run the model):
  // B - F where F <= B / 2 (the fallback still meets the bound, the remote keeps at least half
  // of it); else max(B, F) (only the remote can meet the bound: it gets all of it, and at least
  // as long as the fallback would take, so the answer comes at most twice as late as from the
  // fallback). At most `timeout_ms`; without a bound, `timeout_ms`.
  double OffloadDeadlineMs(const Observation& obs, int fallback_action, double timeout_ms) const;
  // The same with this model's fallback action and options().remote_timeout_ms.
  double OffloadDeadlineMs(const Observation& obs) const {
    return OffloadDeadlineMs(obs, fallback_action_, options_.remote_timeout_ms);
  }

 private:
  struct Link {                                               // a network a remote target uses
    std::shared_ptr<const NetworkProfile> wifi, cell, fixed;  // auto uses wifi/cell
  };
  struct Entry {            // per (action, model)
    float compute_ms = 0;   // local: at this level, no interference; remote: server compute
    float overhead_ms = 0;  // per-layer fixed costs
    float accuracy = -1;    // < 0: infeasible
    // local: processor at level + device base power; a pipeline: its stages' powers weighted
    // by their times for this model, + base power
    float power_mw = 0;
  };
  struct ActionInfo {
    bool remote = false;
    int target = 0;  // device target index
    float k_cpu = 0, k_gpu = 0, k_mem = 0;
    int link = -1;       // remote: index into links_
    float queue_ms = 0;  // remote: server mean queue
  };

  CostModel() = default;
  // What an offload over one link sees in a request: the network, the throughputs observed
  // (or, for a fixed link, its curve's at the signal) and the round trip at the signal.
  // (No member initialisers: PredictFeasible() keeps an array of them per request, written
  // by ReadLink() before use.)
  struct LinkState {
    const NetworkProfile* net;
    double down, up, rtt_ms;
  };
  LinkState ReadLink(int link, const Observation& obs) const;
  // Evaluate() of a remote action over the link state `link`. `deadline_memo`, when given,
  // holds the request's OffloadDeadlineMs() once worked out (< 0: not yet).
  Outcome EvaluateRemote(int action, const Observation& obs, const Conditions& cond,
                         const LinkState& link, double* deadline_memo, float* fallback_at) const;
  // Model-major: one model's entries are contiguous.
  const Entry& At(int action, int model) const {
    return entries_[static_cast<size_t>(model) * info_.size() + action];
  }
  bool LinkUsable(int link, const Observation& obs) const;
  static bool AnyWait(const Observation& obs) {
    bool any = false;
    for (const float w : obs.wait_ms) any |= w > 0;
    return any;
  }
  // A local action's latency (ms) under the observation's co-runners and this compute factor.
  float LocalLatencyMs(int action, const Observation& obs, float compute_factor) const;

  // Per model, the actions that can run it at all (precision present and supported), with what
  // Feasible() still has to check per request: accuracy and, for remote targets, the link.
  struct Candidate {
    int action;
    float accuracy;
    int link;  // -1 for local targets
  };
  std::vector<std::vector<Candidate>> candidates_;

  DeviceProfile device_;
  std::vector<ModelProfile> models_;
  CostModelOptions options_;
  ActionSpace space_;
  std::vector<ActionInfo> info_;
  std::vector<Entry> entries_;  // num_models x num_actions, see At()
  // PredictFeasible()'s copy of entries_ and info_, one array per field (remote actions: 0).
  std::vector<float> soa_compute_, soa_overhead_, soa_accuracy_,
      soa_power_;                                         // num_models x num_actions
  std::vector<float> soa_k_cpu_, soa_k_gpu_, soa_k_mem_;  // per action
  std::vector<uint8_t> is_remote_;  // per action
  std::vector<int> remote_actions_;  // the remote actions' ids, increasing
  std::vector<Link> links_;
  std::vector<TargetProfile> server_targets_;  // the computing target of each remote
  std::vector<std::vector<StageShare>> stages_;  // num_models x num_actions, see Stages()
  int fallback_action_ = -1;
};

}  // namespace autoscale
