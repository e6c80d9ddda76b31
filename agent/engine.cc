// Engine: observe, decide, run (local thread or remote offload with fallback), measure, learn.
#include "agent/engine.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "agent/model_profiles.h"
#include "agent/queue_estimate.h"
#include "core/file_util.h"
#include "core/logging.h"
#include "core/strings.h"
#include "targets/cpufreq.h"

namespace autoscale {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

// A local target's own thread: jobs run one at a time, in order. For a streaming target a job
// only hands its request over (Target::StartRun), so requests overlap inside the target.
struct Engine::Executor {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stop = false;
  std::thread thread;
  bool streaming = false;
  std::unique_ptr<QueueEstimate> queue;  // what a request handed over now would wait

  Executor() {
    thread = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu);
      while (true) {
        cv.wait(lock, [&] { return stop || !jobs.empty(); });
        if (jobs.empty()) return;  // stop requested and nothing left
        auto job = std::move(jobs.front());
        jobs.pop_front();
        lock.unlock();
        job();
        lock.lock();
      }
    });
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back(std::move(job));
    }
    cv.notify_one();
  }
  void StopAndJoin() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_one();
    if (thread.joinable()) thread.join();
  }
};

// One request on its way through the engine.
struct Engine::Pending {
  Request request;
  Done done;
  int model = 0;
  Observation obs;
  int action = -1;
  Clock::time_point start;
  double decide_us = 0;
  std::string action_name;
  std::vector<int> feasible;  // the actions offered to the policy
  std::vector<int> tried;     // bound targets that failed this request
  int ran_action = -1;        // the action of the last attempt (-1: FP32 at level 0)
  std::string failures;       // what each said, for the reply when none answers
};

Result<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<const CostModel> cost_model,
                                               std::unique_ptr<Policy> policy,
                                               std::vector<EngineModel> models,
                                               std::vector<BoundTarget> targets,
                                               std::unique_ptr<SystemProbe> probe,
                                               const EngineOptions& options) {
  if (!cost_model || !policy) return Status::InvalidArgument("engine: no cost model or policy");
  if (static_cast<int>(models.size()) != cost_model->num_models()) {
    return Status::InvalidArgument("engine: " + std::to_string(models.size()) +
                                   " models for a cost model of " +
                                   std::to_string(cost_model->num_models()));
  }
  std::unique_ptr<Engine> e(new Engine());
  e->cost_model_ = std::move(cost_model);
  e->policy_ = std::move(policy);
  e->models_ = std::move(models);
  e->targets_ = std::move(targets);
  e->probe_ = std::move(probe);
  e->options_ = options;
  for (size_t m = 0; m < e->models_.size(); ++m) e->model_index_[e->models_[m].spec.name] = m;

  const DeviceProfile& device = e->cost_model_->device();
  e->device_to_bound_.assign(device.targets.size(), -1);
  for (size_t b = 0; b < e->targets_.size(); ++b) {
    BoundTarget& t = e->targets_[b];
    const int d = device.FindTarget(t.name);
    if (d < 0) {
      std::vector<std::string> names;
      for (const auto& dt : device.targets) names.push_back(dt.name);
      const std::string list = JoinNames(names);
      return Status::InvalidArgument("target '" + t.name + "' is not a target of device '" +
                                     device.name + "' (its targets: " + list + ")");
    }
    if ((t.local == nullptr) == (t.remote == nullptr)) {
      return Status::InvalidArgument("target '" + t.name + "' needs exactly one backend");
    }
    if (t.remote != nullptr && !IsRemote(device.targets[d].kind)) {
      return Status::InvalidArgument("target '" + t.name + "' is a local " +
                                     std::string(TargetKindName(device.targets[d].kind)) +
                                     " target in device '" + device.name +
                                     "' and cannot be bound to a remote worker");
    }
    if (t.local != nullptr && IsRemote(device.targets[d].kind)) {
      return Status::InvalidArgument("target '" + t.name +
                                     "' is a remote target and needs a remote backend");
    }
    e->device_to_bound_[d] = static_cast<int>(b);
  }
  e->level_map_.resize(e->targets_.size());
  for (size_t b = 0; b < e->targets_.size(); ++b) {
    const BoundTarget& t = e->targets_[b];
    if (!t.local) continue;
    const TargetProfile& prof = device.targets[device.FindTarget(t.name)];
    const TargetDescription& desc = t.local->description();
    std::vector<int>& map = e->level_map_[b];
    if (desc.level_freq_mhz.empty()) {
      for (size_t l = 0; l < prof.levels.size(); ++l) {
        map.push_back(static_cast<int>(l) < desc.levels ? static_cast<int>(l) : -1);
      }
      continue;
    }
    std::vector<double> profile_mhz;
    for (const auto& l : prof.levels) profile_mhz.push_back(l.freq_mhz);
    auto mapped = MapLevelsByFrequency(profile_mhz, desc.level_freq_mhz);
    if (!mapped.ok()) {
      return mapped.status().WithPrefix("target '" + t.name + "' of device '" + device.name +
                                        "' on " + desc.device);
    }
    map = std::move(mapped).value();
    std::string runs;
    for (size_t l = 0; l < map.size(); ++l) {
      runs += (l ? ", " : "") + FormatDouble(profile_mhz[l], 6) + " -> " +
              FormatDouble(desc.level_freq_mhz[map[l]], 6);
    }
    Log().info("{}: the profile's levels run at the host's nearest frequencies (MHz): {}", t.name,
               runs);
  }
  const ActionSpace& space = e->cost_model_->actions();
  e->wait_index_.resize(e->targets_.size());
  e->bound_to_device_.assign(e->targets_.size(), -1);
  e->plain_action_.assign(e->targets_.size(), -1);
  for (size_t b = 0; b < e->targets_.size(); ++b) {
    const bool local = e->targets_[b].local != nullptr;
    e->executors_.push_back(local ? std::make_unique<Executor>() : nullptr);
    if (local) {
      const TargetDescription& desc = e->targets_[b].local->description();
      const int d = device.FindTarget(e->targets_[b].name);
      e->bound_to_device_[b] = d;
      const int stages = std::max(1, desc.stages);
      Executor& ex = *e->executors_.back();
      ex.streaming = desc.max_concurrent > 1;
      ex.queue = std::make_unique<QueueEstimate>(stages, space.size() * e->models_.size());
      // A pipelined target's stage s waits at the profile's stage target s (stages the profile
      // does not list go nowhere); its first stage's also at its own index (FillWaits).
      std::vector<int>& idx = e->wait_index_[b];
      const std::vector<std::string>& named = device.targets[d].pipeline_stages;
      for (size_t st = 0; st < named.size() && st < static_cast<size_t>(stages); ++st) {
        idx.push_back(device.FindTarget(named[st]));
      }
      e->plain_action_[b] = space.Find(e->targets_[b].name, Precision::kFp32, 0);
      if (ex.streaming) {
        Log().info("{}: up to {} requests at once, through {} stage(s) ({})", e->targets_[b].name,
                   desc.max_concurrent, stages, desc.device);
      }
    }
    if (local && e->fallback_ < 0 &&
        (options.fallback.empty() || options.fallback == e->targets_[b].name)) {
      if (e->targets_[b].local->available()) e->fallback_ = static_cast<int>(b);
    }
  }
  if (!options.fallback.empty() && e->fallback_ < 0) {
    return Status::InvalidArgument("fallback target '" + options.fallback +
                                   "' is not an available local target of the daemon");
  }
  if (e->fallback_ >= 0) {
    e->fallback_action_ =
        e->cost_model_->actions().Find(e->targets_[e->fallback_].name, Precision::kFp32, 0);
  }
  const size_t support_size = e->targets_.size() * e->models_.size() * kNumPrecisions;
  e->support_ = std::make_unique<std::atomic<uint8_t>[]>(support_size);
  for (size_t i = 0; i < support_size; ++i) e->support_[i].store(0, std::memory_order_relaxed);

  // Learned state: load it, or set a broken file aside (never delete it, never half-load it).
  if (!options.state_file.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(options.state_file, ec)) {
      Status s = e->policy_->Load(options.state_file);
      if (s.ok()) {
        e->state_report_ = "loaded learned state from " + options.state_file;
      } else {
        const std::string aside =
            options.state_file + ".corrupt-" + std::to_string(static_cast<long>(::time(nullptr)));
        std::filesystem::rename(options.state_file, aside, ec);
        e->state_report_ = "learned state " + options.state_file + " not loaded (" + s.message() +
                           "); set aside as " + aside + (ec ? " FAILED: " + ec.message() : "") +
                           "; starting afresh";
      }
    } else {
      e->state_report_ = "no learned state at " + options.state_file + " yet; starting afresh";
    }
  }
  e->policy_->SetTraining(true);  // online: keep exploring a little and learning

  MetricsRegistry& r = e->metrics_;
  e->requests_ = &r.AddCounter("autoscaled_requests_total",
                               "Requests answered, by target and result.", {"target", "result"});
  e->decisions_ = &r.AddCounter("autoscaled_decisions_total", "Decisions, by action.", {"action"});
  e->energy_ = &r.AddCounter("autoscaled_energy_joules_total",
                             "Device energy spent on requests, by target.", {"target"});
  e->violations_ = &r.AddCounter("autoscaled_violations_total",
                                 "Missed latency bounds or accuracy floors.", {"kind"});
  e->fallbacks_ =
      &r.AddCounter("autoscaled_fallbacks_total",
                    "Offloads that failed or ran out of time and ran locally.", {"target"});
  e->decide_seconds_ = &r.AddHistogram("autoscaled_decide_seconds",
                                       "Observe and decide time per request (no inference).",
                                       ExponentialBuckets(1e-6, 2, 16));
  e->latency_seconds_ =
      &r.AddHistogram("autoscaled_request_seconds", "End-to-end request latency, by target.",
                      ExponentialBuckets(1e-3, 2, 14), {"target"});
  e->agreement_gauge_ = &r.AddGauge(
      "autoscaled_calibration_agreement",
      "Observed top-1 agreement with FP32 of answers at a reduced precision (calibration samples).",
      {"model", "precision"});
  e->accuracy_gauge_ =
      &r.AddGauge("autoscaled_calibration_accuracy",
                  "Current accuracy estimate per model and precision.", {"model", "precision"});
  e->calib_samples_ =
      &r.AddCounter("autoscaled_calibration_samples_total",
                    "Calibration samples by result: agree, disagree, dropped (queue full), failed.",
                    {"model", "precision", "result"});

  // Accuracy estimates start at the profiles'; calibration moves those of reduced precisions.
  const size_t cells = e->models_.size() * kNumPrecisions;
  e->accuracy_ = std::make_unique<std::atomic<float>[]>(cells);
  e->calib_stats_.resize(cells);
  e->calib_rng_ = std::make_unique<Rng>(options.calibration.seed);
  for (size_t m = 0; m < e->models_.size(); ++m) {
    const ModelProfile& prof = e->models_[m].profile;
    const double fp32 = prof.Accuracy(Precision::kFp32);
    for (Precision prec : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
      const size_t c = e->CellOf(static_cast<int>(m), prec);
      const double acc = prof.Accuracy(prec);
      e->accuracy_[c].store(static_cast<float>(acc), std::memory_order_relaxed);
      double prior = prof.agreement[static_cast<int>(prec)];
      if (prior < 0) prior = fp32 > 0 && acc >= 0 ? std::min(1.0, acc / fp32) : 1.0;
      e->calib_stats_[c].prior = prior;
      if (prec != Precision::kFp32 && acc >= 0) {
        e->accuracy_gauge_->Get({prof.name, std::string(PrecisionName(prec))}).Set(acc);
      }
    }
  }
  if (options.calibration.sample_rate > 0) {
    e->calibrator_ = std::thread([raw = e.get()] { raw->CalibratorLoop(); });
  }

  if (e->probe_) e->probe_->Start();
  if (!options.state_file.empty() && options.save_interval_s > 0) {
    e->saver_ = std::thread([raw = e.get()] { raw->SaverLoop(); });
  }
  return e;
}

Engine::~Engine() {
  Shutdown();
  // The local targets go first, while the rest is whole: a streaming target drains what is
  // still inside it (when Shutdown's wait ran out), answering through this engine (a failure
  // among them finds no local target to fall back to).
  for (BoundTarget& t : targets_) {
    std::unique_ptr<Target> local = std::move(t.local);
    local.reset();
  }
}

int Engine::ModelIndex(const std::string& name) const {
  auto it = model_index_.find(name);
  return it == model_index_.end() ? -1 : it->second;
}

bool Engine::TargetUsable(int b, int model, Precision precision, int level) {
  BoundTarget& t = targets_[b];
  if (t.remote) {
    if (!t.remote->Healthy()) return false;
  } else {
    if (!t.local || !t.local->available() || TargetLevel(b, level) < 0) return false;
  }
  const size_t i = (static_cast<size_t>(b) * models_.size() + model) * kNumPrecisions +
                   static_cast<int>(precision);
  if (const uint8_t known = support_[i].load(std::memory_order_relaxed); known != 0) {
    return known == 1;
  }
  // First time for this (target, model, precision): ask the backend once (a remote target asks
  // its worker, so this is not on the hot path after the first request).
  const bool ok = t.remote ? t.remote->Supports(models_[model].spec, precision).ok()
                           : t.local->Supports(models_[model].spec, precision).ok();
  // A remote "no" may be a transient failure: only remember a yes.
  if (ok || !t.remote) support_[i].store(ok ? 1 : 2, std::memory_order_relaxed);
  return ok;
}

int Engine::TargetLevel(int b, int level) const {
  const std::vector<int>& map = level_map_[b];
  if (!targets_[b].local) return level;
  // A profile target without levels (none listed) runs at the target's first.
  if (map.empty()) return level == 0 ? 0 : -1;
  return level >= 0 && static_cast<size_t>(level) < map.size() ? map[level] : -1;
}

int Engine::ObserveAndDecide(int model, float latency_bound_ms, float min_accuracy,
                             Observation* obs, std::vector<int>* feasible) {
  const EngineModel& m = models_[model];
  Observation& o = *obs;
  o = Observation();
  o.model = model;
  o.conv_layers = m.profile.conv_layers;
  o.fc_layers = m.profile.fc_layers;
  o.recurrent_layers = m.profile.recurrent_layers;
  o.macs = m.profile.macs;
  o.latency_bound_ms = latency_bound_ms;
  o.min_accuracy = min_accuracy;
  if (probe_) {
    const SystemProbe::Reading r = probe_->Latest();
    o.time_s = r.sampled_at_s;
    o.cpu_load = r.cpu_load;
    o.gpu_load = r.gpu_load;
    o.mem_load = r.mem_load;
    o.wifi_rssi_dbm = r.wifi_rssi_dbm;
    o.cell_rsrp_dbm = r.cell_rsrp_dbm;
    o.p2p_rssi_dbm = r.p2p_rssi_dbm;
  }
  if (!o.wifi_connected()) o.wifi_rssi_dbm = options_.assumed_wifi_rssi_dbm;
  if (!(o.p2p_rssi_dbm > kNoSignalDbm)) o.p2p_rssi_dbm = options_.assumed_p2p_rssi_dbm;
  // Wi-Fi throughput: what the cloud targets measured (the best link seen), capped by and,
  // before any measurement, taken from the Wi-Fi profile's curve at this signal. A nearby
  // target's link is Wi-Fi Direct, which its own network profile models from the p2p signal.
  for (const BoundTarget& t : targets_) {
    if (!t.remote || t.remote->options().kind != TargetKind::kCloud) continue;
    const LinkEstimate l = t.remote->link();
    if (l.samples <= 0) continue;
    o.wifi_up_mbps = std::max<float>(o.wifi_up_mbps, static_cast<float>(l.up_mbps));
    o.wifi_down_mbps = std::max<float>(o.wifi_down_mbps, static_cast<float>(l.down_mbps));
  }
  if (options_.wifi && o.wifi_connected()) {
    const NetworkProfile::Point curve = options_.wifi->At(o.wifi_rssi_dbm);
    auto cap = [](float measured, double limit) {
      return measured > 0 ? std::min<float>(measured, static_cast<float>(limit))
                          : static_cast<float>(limit);
    };
    o.wifi_up_mbps = cap(o.wifi_up_mbps, curve.up_mbps);
    o.wifi_down_mbps = cap(o.wifi_down_mbps, curve.down_mbps);
  }

  FillWaits(&o);
  const ActionSpace& space = cost_model_->actions();
  int buf[512];
  std::vector<int> heap;
  int* ids = buf;
  if (space.size() > 512) {
    heap.resize(space.size());
    ids = heap.data();
  }
  const int n = cost_model_->Feasible(o, std::span<int>(ids, space.size()));
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    const Action& a = space.actions[ids[i]];
    const int b = device_to_bound_[a.target];
    if (b < 0 || !TargetUsable(b, model, a.precision, a.level)) continue;
    // Calibration may have lowered a reduced precision's estimate below this floor.
    if (a.precision != Precision::kFp32 && CurrentAccuracy(model, a.precision) < min_accuracy) {
      continue;
    }
    ids[kept++] = ids[i];
  }
  if (feasible) feasible->assign(ids, ids + kept);
  if (kept == 0) return -1;
  std::lock_guard<std::mutex> lock(policy_mu_);
  return policy_->Decide(o, std::span<const int>(ids, kept));
}

void Engine::Submit(Request request, Done done) {
  auto p = std::make_shared<Pending>();
  p->start = Clock::now();
  p->request = std::move(request);
  p->done = std::move(done);
  if (stopping_) {
    Reply r;
    r.status = Status::Unavailable("the daemon is shutting down");
    p->done(std::move(r));
    return;
  }
  outstanding_.fetch_add(1);
  p->model = ModelIndex(p->request.model);
  if (p->model < 0) {
    std::vector<std::string> names;
    for (const auto& m : models_) names.push_back(m.spec.name);
    return Finish(p,
                  Status::NotFound("model '" + p->request.model +
                                   "' is not in the daemon's catalogue (" + JoinNames(names) + ")"),
                  -1, false);
  }
  if (Status s = CheckInput(models_[p->model].spec, p->request.input); !s.ok()) {
    return Finish(p, s, -1, false);
  }
  const float bound = p->request.latency_bound_ms.value_or(options_.default_latency_bound_ms);
  const float min_acc = p->request.min_accuracy.value_or(options_.default_min_accuracy);
  if (min_acc > 0 && !models_[p->model].profile.accuracy_unknown.empty()) {
    return Finish(p,
                  Status::InvalidArgument("min_accuracy " + FormatDouble(min_acc) +
                                          " cannot be judged for model '" + p->request.model +
                                          "': " + models_[p->model].profile.accuracy_unknown),
                  -1, false);
  }
  p->action = ObserveAndDecide(p->model, bound, min_acc, &p->obs, &p->feasible);
  p->decide_us = std::chrono::duration<double, std::micro>(Clock::now() - p->start).count();
  decide_seconds_->Get().Observe(p->decide_us * 1e-6);
  if (p->action < 0) {
    // Nothing feasible for this floor and these links: the fallback still answers, at FP32,
    // and the miss is counted (no learning: the policy never chose it).
    if (fallback_ >= 0 && TargetUsable(fallback_, p->model, Precision::kFp32, 0)) {
      return RunLocal(fallback_, p, -1, /*retry=*/true);
    }
    return Finish(p,
                  Status::Unavailable("no target can run model '" + p->request.model +
                                      "' at accuracy >= " + std::to_string(min_acc)),
                  -1, false);
  }
  const Action& a = cost_model_->actions().actions[p->action];
  p->action_name = cost_model_->actions().names[p->action];
  decisions_->Get({p->action_name}).Increment();
  const int b = device_to_bound_[a.target];
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++decisions_per_target_[targets_[b].name];
  }
  if (targets_[b].remote) {
    RunRemote(b, p, p->action, /*retry=*/false);
  } else {
    RunLocal(b, p, p->action, /*retry=*/false);
  }
}

void Engine::FillWaits(Observation* obs) const {
  const Clock::time_point now = Clock::now();
  for (size_t b = 0; b < targets_.size(); ++b) {
    if (!executors_[b]) continue;
    // On every decision: no allocation (stages past kMaxWaitTargets have nowhere to go).
    double w[kMaxWaitTargets];
    const int n = executors_[b]->queue->WaitMs(now, w, kMaxWaitTargets);
    const std::vector<int>& idx = wait_index_[b];
    auto put = [&](int d, double ms) {
      if (d >= 0 && d < kMaxWaitTargets) {
        obs->wait_ms[d] = std::max(obs->wait_ms[d], static_cast<float>(ms));
      }
    };
    put(bound_to_device_[b], w[0]);
    for (size_t s = 0; s < idx.size() && s < static_cast<size_t>(n); ++s) put(idx[s], w[s]);
  }
}

std::vector<double> Engine::ExpectedStageMs(int b, int action, int model,
                                            const Observation& obs) const {
  const QueueEstimate& q = *executors_[b]->queue;
  if (action < 0) return q.Expected(SIZE_MAX, {});
  const size_t cell = static_cast<size_t>(action) * models_.size() + model;
  // The prediction on idle processors (no wait), split by the pipelined action's stage shares
  // when the profile has as many stages as the target, else evenly.
  const double run = cost_model_->RunMs(action, obs, 1.0f);
  const auto shares = cost_model_->Stages(action, model);
  const int stages = q.stages();
  std::vector<double> predicted;
  for (int s = 0; s < stages; ++s) {
    predicted.push_back(static_cast<int>(shares.size()) == stages ? run * shares[s].share
                                                                  : run / stages);
  }
  return q.Expected(cell, std::move(predicted));
}

void Engine::RunLocal(int b, std::shared_ptr<Pending> p, int action, bool retry) {
  Precision precision = Precision::kFp32;
  int level = 0;
  if (action >= 0) {
    const Action& a = cost_model_->actions().actions[action];
    precision = a.precision;
    level = a.level;
  }
  // The queue's bookkeeping is by the action that runs (the fallback's: FP32 at level 0).
  const int ran = action >= 0 ? action : plain_action_[b];
  const size_t cell =
      ran >= 0 ? static_cast<size_t>(ran) * models_.size() + p->model : static_cast<size_t>(-1);
  Executor& ex = *executors_[b];
  const uint64_t ticket = ex.queue->Add(Clock::now(), ExpectedStageMs(b, ran, p->model, p->obs));
  ex.Post([this, b, p, action, retry, precision, level, cell, ticket] {
    p->ran_action = action;
    // The action's profile level, as this target's level (Create mapped them; TargetUsable
    // offered only mapped ones, and the fallback's level 0 always maps).
    const int target_level = std::max(0, TargetLevel(b, level));
    auto done = [this, b, p, action, retry, precision, cell, ticket,
                 t0 = Clock::now()](Result<InferenceResult> r) {
      // Measured: each stage's time on a pipelined target, else the run's.
      std::vector<double> measured;
      if (r.ok()) measured = r->stage_ms.empty() ? std::vector<double>{MsSince(t0)} : r->stage_ms;
      executors_[b]->queue->Done(ticket, Clock::now(), cell, measured);
      AfterLocalRun(b, p, action, retry, precision, std::move(r));
    };
    if (executors_[b]->streaming) {
      targets_[b].local->StartRun(models_[p->model].spec, precision, target_level, p->request.input,
                                  std::move(done));
    } else {
      done(targets_[b].local->Run(models_[p->model].spec, precision, target_level,
                                  p->request.input));
    }
  });
}

void Engine::AfterLocalRun(int b, std::shared_ptr<Pending> p, int action, bool retry,
                           Precision precision, Result<InferenceResult> r) {
  if (!retry) {
    Outcome o;
    if (r.ok()) {
      o.latency_ms = static_cast<float>(MsSince(p->start));
      o.energy_mj = static_cast<float>(r->energy_mj);
      o.accuracy = CurrentAccuracy(p->model, precision);
    } else {
      o.failed = true;
      o.latency_ms = static_cast<float>(MsSince(p->start));
    }
    LearnFrom(*p, o);
  }
  if (!r.ok()) return Fallback(p, b, r.status());
  if (precision != Precision::kFp32) MaybeSample(b, *p, precision, r->output);
  Finish(p, std::move(r), b, retry);
}

double Engine::OffloadDeadlineMs(const Observation& obs) const {
  return cost_model_->OffloadDeadlineMs(obs, fallback_action_, options_.remote_timeout_ms);
}

void Engine::RunRemote(int b, std::shared_ptr<Pending> p, int action, bool retry) {
  // The offload's deadline leaves room for the fallback (OffloadDeadlineMs), counted from the
  // request's arrival; a retry whose deadline has passed gets 1 ms.
  const auto deadline = std::max(
      p->start + std::chrono::microseconds(static_cast<int64_t>(OffloadDeadlineMs(p->obs) * 1e3)),
      Clock::now() + std::chrono::milliseconds(1));
  p->ran_action = action;
  auto on_done = [this, b, p, action, retry](Result<RemoteResult> r) {
    const double elapsed = MsSince(p->start);
    Outcome o;
    o.latency_ms = static_cast<float>(elapsed);
    o.accuracy = static_cast<float>(models_[p->model].profile.Accuracy(Precision::kFp32));
    // Radio and waiting energy: the network profile's model for this action under the
    // observation, with the waiting part stretched to the measured latency.
    const Outcome predicted = cost_model_->Predict(action, p->obs);
    double energy = predicted.energy_mj;
    if (elapsed > predicted.latency_ms) {
      energy += cost_model_->device().idle_power_mw * (elapsed - predicted.latency_ms) * 1e-3;
    }
    o.energy_mj = static_cast<float>(energy);
    if (!r.ok()) {
      o.failed = true;
      if (!retry) LearnFrom(*p, o);
      return Fallback(p, b, r.status());
    }
    if (!retry) LearnFrom(*p, o);
    InferenceResult result = std::move(r->inference);
    result.energy_mj = energy;
    result.energy_source = EnergySource::kModelled;
    Finish(p, std::move(result), b, retry);
  };
  // An image that arrived as bytes goes on as bytes (a quarter of the FP32 size).
  if (p->request.input_u8) {
    targets_[b].remote->RunAsync(models_[p->model].spec, *p->request.input_u8, deadline,
                                 std::move(on_done));
  } else {
    targets_[b].remote->RunAsync(models_[p->model].spec, p->request.input, deadline,
                                 std::move(on_done));
  }
}

void Engine::Fallback(std::shared_ptr<Pending> p, int failed, const Status& why) {
  p->tried.push_back(failed);
  if (!p->failures.empty()) p->failures += "; ";
  p->failures += targets_[failed].name + ": " + why.message();
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++failures_per_target_[targets_[failed].name];
  }
  auto tried = [&](int b) {
    return std::find(p->tried.begin(), p->tried.end(), b) != p->tried.end();
  };
  int next = -1, next_action = -1;
  if (fallback_ >= 0 && !tried(fallback_) &&
      TargetUsable(fallback_, p->model, Precision::kFp32, 0)) {
    next = fallback_;
  } else {
    // The next feasible action on a target not yet tried: the least predicted energy among
    // those predicted to meet the bound, else the least predicted latency.
    double best_energy = 0, best_latency = 0;
    bool best_meets = false;
    for (int id : p->feasible) {
      const int b = device_to_bound_[cost_model_->actions().actions[id].target];
      if (b < 0 || tried(b)) continue;
      const Outcome o = cost_model_->Predict(id, p->obs);
      const bool meets = o.latency_ms <= p->obs.latency_bound_ms;
      const bool better = next_action < 0 || (meets && !best_meets) ||
                          (meets == best_meets &&
                           (meets ? o.energy_mj < best_energy : o.latency_ms < best_latency));
      if (better) {
        next = b;
        next_action = id;
        best_energy = o.energy_mj;
        best_latency = o.latency_ms;
        best_meets = meets;
      }
    }
  }
  if (next < 0) {
    return Finish(
        p,
        Status::Unavailable("no target could run model '" + p->request.model + "': " + p->failures),
        -1, false);
  }
  fallbacks_->Get({targets_[next].name}).Increment();
  // Rare by design (a failing worker opens the breaker); each one is worth a line.
  Log().warn("{} for '{}' failed after {:.1f} ms ({}); running on {}", targets_[failed].name,
             p->request.model, MsSince(p->start), why.message(), targets_[next].name);
  if (targets_[next].remote) return RunRemote(next, std::move(p), next_action, true);
  RunLocal(next, std::move(p), next_action, true);
}

void Engine::LearnFrom(const Pending& p, const Outcome& o) {
  std::lock_guard<std::mutex> lock(policy_mu_);
  policy_->Learn(p.obs, p.action, o);
}

void Engine::Finish(std::shared_ptr<Pending> p, Result<InferenceResult> r, int b, bool fallback) {
  Reply reply;
  reply.decide_us = p->decide_us;
  reply.action = p->action_name;
  reply.fallback = fallback;
  reply.latency_bound_ms = p->obs.latency_bound_ms;
  reply.total_ms = MsSince(p->start);
  const std::string target = b >= 0 ? targets_[b].name : "none";
  reply.target = b >= 0 ? target : "";
  if (r.ok()) {
    reply.result = std::move(r).value();
  } else {
    reply.status = r.status();
  }
  const bool ok = reply.status.ok();
  requests_->Get({target, ok ? "ok" : "error"}).Increment();
  if (ok) {
    energy_->Get({target}).Increment(reply.result.energy_mj * 1e-3);  // base unit (Prometheus)
    latency_seconds_->Get({target}).Observe(reply.total_ms * 1e-3);
  }
  const bool late = ok && p->action >= 0 && reply.total_ms > p->obs.latency_bound_ms;
  // Compared as floats, as the cost model's feasibility check does (a double 0.929 is above
  // the float 0.929f a request asks for).
  const bool inaccurate =
      ok && p->model >= 0 &&
      CurrentAccuracy(p->model, p->ran_action < 0
                                    ? Precision::kFp32
                                    : cost_model_->actions().actions[p->ran_action].precision) <
          p->obs.min_accuracy;
  if (late) violations_->Get({"latency"}).Increment();
  if (inaccurate) violations_->Get({"accuracy"}).Increment();
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++requests_total_;
    if (!ok) ++failed_;
    if (fallback) ++fallback_count_;
    if (late) ++latency_violations_;
    if (inaccurate) ++accuracy_violations_;
    if (ok) {
      ++answers_per_target_[target];
      energy_per_target_[target] += reply.result.energy_mj;
      energy_total_mj_ += reply.result.energy_mj;
    }
  }
  p->done(std::move(reply));
  if (outstanding_.fetch_sub(1) == 1) {
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_cv_.notify_all();
    }
    // Idle: a waiting calibration sample may run.
    std::lock_guard<std::mutex> lock(calib_mu_);
    calib_cv_.notify_all();
  }
}

float Engine::CurrentAccuracy(int model, Precision precision) const {
  return accuracy_[CellOf(model, precision)].load(std::memory_order_relaxed);
}

void Engine::MaybeSample(int b, const Pending& p, Precision precision, const HostTensor& output) {
  if (!(options_.calibration.sample_rate > 0)) return;
  std::lock_guard<std::mutex> lock(calib_mu_);
  if (calib_stop_ || calib_rng_->Uniform() >= options_.calibration.sample_rate) return;
  const size_t c = CellOf(p.model, precision);
  if (calib_pending_.size() >= static_cast<size_t>(std::max(0, options_.calibration.max_pending))) {
    ++calib_stats_[c].dropped;
    calib_samples_
        ->Get({models_[p.model].profile.name, std::string(PrecisionName(precision)), "dropped"})
        .Increment();
    return;
  }
  CalibrationSample sample;
  sample.model = p.model;
  sample.precision = precision;
  sample.target = b;
  sample.input = p.request.input;
  sample.top1 = Top1(output);
  calib_pending_.push_back(std::move(sample));
  calib_cv_.notify_all();  // runs once the request that gave it has been answered
}

void Engine::CalibratorLoop() {
  std::unique_lock<std::mutex> lock(calib_mu_);
  while (true) {
    // Idle: no request in flight (Finish notifies when the last one is answered).
    calib_cv_.wait(
        lock, [&] { return calib_stop_ || (!calib_pending_.empty() && outstanding_.load() == 0); });
    if (calib_stop_) break;
    CalibrationSample sample = std::move(calib_pending_.front());
    calib_pending_.pop_front();
    calib_running_ = true;
    lock.unlock();

    // FP32 on the target that answered when it runs the model at FP32, else the fallback, else
    // any local target that does; on that target's own thread, between requests.
    int ref = -1;
    if (TargetUsable(sample.target, sample.model, Precision::kFp32, 0)) {
      ref = sample.target;
    } else if (fallback_ >= 0 && TargetUsable(fallback_, sample.model, Precision::kFp32, 0)) {
      ref = fallback_;
    } else {
      for (size_t b = 0; b < targets_.size() && ref < 0; ++b) {
        if (targets_[b].local &&
            TargetUsable(static_cast<int>(b), sample.model, Precision::kFp32, 0)) {
          ref = static_cast<int>(b);
        }
      }
    }
    Result<InferenceResult> r = Status::Unavailable("no local target runs the model at fp32");
    if (ref >= 0) {
      std::promise<Result<InferenceResult>> done;
      std::future<Result<InferenceResult>> result = done.get_future();
      executors_[ref]->Post([&] {
        done.set_value(targets_[ref].local->Run(models_[sample.model].spec, Precision::kFp32,
                                                std::max(0, TargetLevel(ref, 0)), sample.input));
      });
      r = result.get();
    }

    lock.lock();
    const ModelProfile& prof = models_[sample.model].profile;
    const std::string prec(PrecisionName(sample.precision));
    const size_t c = CellOf(sample.model, sample.precision);
    CalibrationStat& st = calib_stats_[c];
    const std::vector<int64_t> top1 = r.ok() ? Top1(r->output) : std::vector<int64_t>{};
    if (!r.ok() || top1.size() != sample.top1.size()) {
      ++st.failed;
      calib_samples_->Get({prof.name, prec, "failed"}).Increment();
      Log().warn("calibration of '{}' at {}: fp32 run failed: {}", prof.name, prec,
                 r.ok() ? std::string("output rows differ") : r.status().message());
    } else {
      for (size_t i = 0; i < top1.size(); ++i) {
        const bool agree = top1[i] == sample.top1[i];
        ++st.samples;
        if (agree) ++st.agreed;
        calib_samples_->Get({prof.name, prec, agree ? "agree" : "disagree"}).Increment();
      }
      const double k = std::max(0.0, options_.calibration.prior_samples);
      const double agreement =
          (k * st.prior + static_cast<double>(st.agreed)) / (k + static_cast<double>(st.samples));
      const double estimate = std::max(0.0, prof.Accuracy(Precision::kFp32)) * agreement;
      accuracy_[c].store(static_cast<float>(estimate), std::memory_order_relaxed);
      agreement_gauge_->Get({prof.name, prec})
          .Set(static_cast<double>(st.agreed) / static_cast<double>(st.samples));
      accuracy_gauge_->Get({prof.name, prec}).Set(estimate);
    }
    calib_running_ = false;
    calib_idle_cv_.notify_all();
  }
  // Stopping: what still waits is dropped (a shutdown does not wait for idle moments).
  calib_pending_.clear();
  calib_running_ = false;
  calib_idle_cv_.notify_all();
}

void Engine::StopCalibrator() {
  {
    std::lock_guard<std::mutex> lock(calib_mu_);
    calib_stop_ = true;
  }
  calib_cv_.notify_all();
  if (calibrator_.joinable()) calibrator_.join();
}

void Engine::WaitCalibrationIdle() {
  std::unique_lock<std::mutex> lock(calib_mu_);
  calib_idle_cv_.wait(lock, [&] {
    return calib_stop_ || !calibrator_.joinable() || (calib_pending_.empty() && !calib_running_);
  });
}

int Engine::PrepareLocal() {
  int prepared = 0;
  // Remote targets: ask each worker once now whether it serves each model, so that the first
  // request does not wait for that answer inside its decision.
  for (size_t b = 0; b < targets_.size(); ++b) {
    if (!targets_[b].remote) continue;
    for (size_t m = 0; m < models_.size(); ++m) {
      TargetUsable(static_cast<int>(b), static_cast<int>(m), Precision::kFp32, 0);
    }
  }
  std::vector<uint8_t> done(targets_.size() * models_.size() * kNumPrecisions, 0);
  for (const Action& a : cost_model_->actions().actions) {
    const int b = device_to_bound_[a.target];
    if (b < 0 || !targets_[b].local || !targets_[b].local->available()) continue;
    for (size_t m = 0; m < models_.size(); ++m) {
      uint8_t& d = done[(b * models_.size() + m) * kNumPrecisions + static_cast<int>(a.precision)];
      if (d) continue;
      d = 1;
      if (!targets_[b].local->Supports(models_[m].spec, a.precision).ok()) continue;
      if (targets_[b].local->Prepare(models_[m].spec, a.precision).ok()) ++prepared;
    }
  }
  return prepared;
}

Status Engine::SaveState() {
  if (options_.state_file.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(policy_mu_);
  return policy_->Save(options_.state_file);
}

void Engine::SaverLoop() {
  std::unique_lock<std::mutex> lock(saver_mu_);
  while (!shut_down_) {
    saver_cv_.wait_for(lock, std::chrono::duration<double>(options_.save_interval_s));
    if (shut_down_) break;
    lock.unlock();
    Status s = SaveState();
    if (!s.ok()) Log().error("saving learned state: {}", s.message());
    lock.lock();
  }
}

void Engine::Shutdown() {
  if (stopping_.exchange(true)) return;
  {
    // Requests already submitted finish: local queues drain, offloads answer or fall back.
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return outstanding_.load() == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(saver_mu_);
    shut_down_ = true;
  }
  saver_cv_.notify_all();
  if (saver_.joinable()) saver_.join();
  StopCalibrator();  // before the executors it runs samples on
  for (auto& e : executors_) {
    if (e) e->StopAndJoin();
  }
  if (probe_) probe_->Stop();
  Status s = SaveState();
  if (!s.ok()) Log().error("saving learned state: {}", s.message());
}

std::string Engine::StatsJson(const std::vector<std::pair<std::string, int64_t>>& extra) const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  nlohmann::json j = {
      {"requests", requests_total_},
      {"answered", requests_total_ - failed_},
      {"failed", failed_},
      {"fallbacks", fallback_count_},
      {"energy_mj", std::isfinite(energy_total_mj_) ? energy_total_mj_ : 0.0},
      {"violations", {{"latency", latency_violations_}, {"accuracy", accuracy_violations_}}},
      {"decisions", decisions_per_target_},
      {"answers", answers_per_target_},
      {"target_failures", failures_per_target_},
      {"energy_mj_per_target", energy_per_target_},
  };
  nlohmann::json queues = nlohmann::json::object();
  const Clock::time_point now = Clock::now();
  for (size_t b = 0; b < targets_.size(); ++b) {
    if (!executors_[b]) continue;
    queues[targets_[b].name] = {{"inside", executors_[b]->queue->inside()},
                                {"wait_ms", executors_[b]->queue->WaitMs(now)}};
  }
  j["queues"] = std::move(queues);
  {
    std::lock_guard<std::mutex> calib_lock(calib_mu_);
    nlohmann::json per_model = nlohmann::json::object();
    for (size_t m = 0; m < models_.size(); ++m) {
      const ModelProfile& prof = models_[m].profile;
      for (Precision prec : {Precision::kFp16, Precision::kInt8}) {
        if (!prof.HasPrecision(prec)) continue;
        const CalibrationStat& st = calib_stats_[CellOf(static_cast<int>(m), prec)];
        nlohmann::json cell = {
            {"samples", st.samples},
            {"agreed", st.agreed},
            {"agreement", st.samples > 0 ? nlohmann::json(static_cast<double>(st.agreed) /
                                                          static_cast<double>(st.samples))
                                         : nlohmann::json(nullptr)},
            {"prior_agreement", st.prior},
            {"accuracy", CurrentAccuracy(static_cast<int>(m), prec)},
            {"profile_accuracy", prof.Accuracy(prec)},
            {"estimated", prof.accuracy_estimated[static_cast<int>(prec)]},
            {"dropped", st.dropped},
            {"failed", st.failed},
        };
        per_model[prof.name][std::string(PrecisionName(prec))] = std::move(cell);
      }
    }
    j["calibration"] = {{"sample_rate", options_.calibration.sample_rate},
                        {"pending", calib_pending_.size()},
                        {"models", std::move(per_model)}};
  }
  for (const auto& [k, v] : extra) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace autoscale
