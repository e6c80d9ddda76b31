#include "env/cost_model.h"

#include <algorithm>
#include <cmath>

#include "core/strings.h"
#include "core/vector_clones.h"
#include "env/gpu_waves.h"
#include "env/pipeline.h"

namespace autoscale {

namespace {

// A measured latency at the top level (measured_ms) replaces the MAC-rate formula and already
// includes the per-layer overhead; -1 when there is none.
double MeasuredMs(const TargetProfile& t, Precision p, const ModelProfile& m) {
  auto it = t.measured_ms.find(m.name);
  return it == t.measured_ms.end() ? -1.0 : it->second[static_cast<int>(p)];
}

// The layer model's prediction at the top level (it includes the per-layer costs and the run
// overhead), for a model not measured whose profile carries its layers; -1 otherwise.
double PredictedMs(const TargetProfile& t, Precision p, const ModelProfile& m) {
  const LayerFit* fit = t.layer_model[static_cast<int>(p)].get();
  if (fit == nullptr || fit->empty() || m.layer_descriptors.empty()) return -1.0;
  if (MeasuredMs(t, p, m) > 0) return -1.0;
  return PredictModelMs(*fit, m.layer_descriptors, m.input_elements, m.output_elements);
}

// Whether the tail-effect model times `m` on `t`: a GPU whose profile gives its concurrency
// (waves), a model with layer shapes.
bool UsesWaves(const TargetProfile& t, const ModelProfile& m) {
  return t.kind == TargetKind::kGpu && t.waves.enabled() && !m.layer_descriptors.empty();
}

// Compute time in ms of `m` on `t` at `level` and precision `p`, without interference:
// measured (measured_ms), else predicted from its layers (layer_model), else the MAC-rate
// formula, its convolutions by waves on a GPU with `waves` (env/gpu_waves.h).
double ComputeMs(const TargetProfile& t, int level, Precision p, const ModelProfile& m) {
  const int pi = static_cast<int>(p);
  double ms = MeasuredMs(t, p, m);
  if (ms <= 0) ms = PredictedMs(t, p, m);
  if (ms <= 0) {
    const double macs[kNumLayerClasses] = {m.conv_macs(), m.fc_macs, m.recurrent_macs};
    ms = 0;
    for (int c = 0; c < kNumLayerClasses; ++c) {
      if (c == 0 && UsesWaves(t, m)) {
        for (const LayerDescriptor& l : m.layer_descriptors) {
          ms += LayerWaveMs(l, 1, t.waves, t.gmacs_per_s[0][pi]);
        }
        continue;
      }
      if (macs[c] > 0) ms += macs[c] / (t.gmacs_per_s[c][pi] * 1e6);  // GMAC/s = 1e6 MAC/ms
    }
  }
  const double fmax = t.levels.front().freq_mhz;
  const double f = t.levels[level].freq_mhz;
  const double mbf = t.memory_bound_fraction;
  return ms * (mbf + (1 - mbf) * fmax / f);
}

double LayerOverheadMs(const TargetProfile& t, Precision p, const ModelProfile& m) {
  if (MeasuredMs(t, p, m) > 0 || PredictedMs(t, p, m) > 0) return 0.0;
  return m.layers() * t.layer_overhead_us / 1000.0;
}

}  // namespace

double LocalComputeMs(const TargetProfile& t, int level, Precision p, const ModelProfile& m) {
  return ComputeMs(t, level, p, m) + LayerOverheadMs(t, p, m);
}

namespace {

// What pipelined target `t` of `device` costs for `m` at `p` (env/pipeline.h): the split whose
// slowest stage is fastest over its stages' processors at their highest levels. `ok` is false
// when the model carries no layer shapes (nothing to split) or has fewer layers than stages.
struct PipelineCost {
  bool ok = false;
  double latency_ms = 0;  // the stages and hand-offs, back to back
  double energy_uj = 0;   // each stage's time at its processor's power (mW x ms)
  std::vector<CostModel::StageShare> stages;
};

PipelineCost PriceStages(const DeviceProfile& device, const TargetProfile& t, Precision p,
                         const ModelProfile& m) {
  PipelineCost pc;
  if (m.layer_descriptors.size() < t.pipeline_stages.size()) return pc;
  auto costs = DeviceStageCosts(device, t.pipeline_stages, p, m.layer_descriptors, t.handoff);
  if (!costs.ok()) return pc;
  auto split = BalanceStages(*costs);
  if (!split.ok() || split->latency_ms <= 0) return pc;
  pc.ok = true;
  pc.latency_ms = split->latency_ms;
  for (int s = 0; s < split->stages(); ++s) {
    const int ti = device.FindTarget(t.pipeline_stages[s]);
    pc.energy_uj += split->stage_ms[s] * device.targets[ti].levels.front().power_mw;
    pc.stages.push_back({ti, static_cast<float>(split->stage_ms[s] / split->latency_ms)});
  }
  return pc;
}

std::string LevelName(const TargetProfile& t, int level) {
  return FormatDouble(t.levels[level].freq_mhz, 6) + "MHz";
}

}  // namespace

int ActionSpace::Find(const std::string& target_name, Precision precision, int level) const {
  for (int i = 0; i < size(); ++i) {
    const Action& a = actions[i];
    if (target_names[a.target] == target_name && a.precision == precision && a.level == level) {
      return i;
    }
  }
  return -1;
}

std::vector<int> ActionSpace::OfKind(TargetKind kind) const {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i) {
    if (target_kinds[actions[i].target] == kind) out.push_back(i);
  }
  return out;
}

Result<std::unique_ptr<CostModel>> CostModel::Create(const DeviceProfile& device,
                                                     const std::vector<ModelProfile>& models,
                                                     ProfileCatalog& catalog,
                                                     const CostModelOptions& options) {
  if (device.role != "phone") {
    return Status::InvalidArgument("device '" + device.name +
                                   "' is a server profile; simulate a phone (role: phone)");
  }
  if (models.empty()) return Status::InvalidArgument("no models to simulate");
  std::unique_ptr<CostModel> cm(new CostModel());
  cm->device_ = device;
  cm->models_ = models;
  cm->options_ = options;
  ActionSpace& space = cm->space_;

  // Remote targets: resolve server and network profiles once per target.
  std::vector<const TargetProfile*> server_target(device.targets.size(), nullptr);
  std::vector<double> server_queue(device.targets.size(), 0);
  std::vector<int> link_of(device.targets.size(), -1);
  for (size_t ti = 0; ti < device.targets.size(); ++ti) {
    const TargetProfile& t = device.targets[ti];
    space.target_names.push_back(t.name);
    space.target_kinds.push_back(t.kind);
    if (!IsRemote(t.kind)) continue;
    const std::string where = "device '" + device.name + "', target '" + t.name + "'";
    auto server = catalog.Device(t.server);
    if (!server.ok()) return server.status().WithPrefix(where);
    if ((*server)->role != "server") {
      return Status::InvalidArgument(where + ": '" + t.server + "' is not a server profile");
    }
    // Keep the server profile alive for the model's lifetime through a copy of its target.
    cm->server_targets_.push_back((*server)->targets.front());
    server_queue[ti] = (*server)->queue_ms;
    Link link;
    if (t.network == "auto") {
      auto wifi = catalog.Network("wifi");
      if (!wifi.ok()) return wifi.status().WithPrefix(where);
      auto cell = catalog.Network("lte");
      if (!cell.ok()) return cell.status().WithPrefix(where);
      link.wifi = *wifi;
      link.cell = *cell;
    } else {
      auto net = catalog.Network(t.network);
      if (!net.ok()) return net.status().WithPrefix(where);
      link.fixed = *net;
    }
    link_of[ti] = static_cast<int>(cm->links_.size());
    cm->links_.push_back(std::move(link));
  }
  // Pointers into server_targets_ only after it stops growing.
  for (size_t ti = 0, r = 0; ti < device.targets.size(); ++ti) {
    if (IsRemote(device.targets[ti].kind)) server_target[ti] = &cm->server_targets_[r++];
  }

  for (size_t ti = 0; ti < device.targets.size(); ++ti) {
    const TargetProfile& t = device.targets[ti];
    for (Precision p : t.precisions) {
      const TargetProfile* compute = IsRemote(t.kind) ? server_target[ti] : &t;
      if (!compute->Supports(p)) continue;  // the server cannot run that precision
      const int nlevels = IsRemote(t.kind) ? 1 : static_cast<int>(t.levels.size());
      for (int l = 0; l < nlevels; ++l) {
        Action a{static_cast<uint8_t>(ti), p, static_cast<uint8_t>(l)};
        space.actions.push_back(a);
        std::string name = t.name + "/" + std::string(PrecisionName(p));
        if (!IsRemote(t.kind)) name += "/" + LevelName(t, l);
        space.names.push_back(name);
        ActionInfo info;
        info.remote = IsRemote(t.kind);
        info.target = static_cast<int>(ti);
        if (info.remote) {
          info.link = link_of[ti];
          info.queue_ms = static_cast<float>(server_queue[ti]);
        } else {
          info.k_cpu = static_cast<float>(t.interference_cpu);
          info.k_gpu = static_cast<float>(t.interference_gpu);
          info.k_mem = static_cast<float>(t.interference_mem);
        }
        cm->info_.push_back(info);
        // Action-major while the action space grows; transposed below (At()).
        for (const ModelProfile& m : models) {
          Entry e;
          std::vector<StageShare> stages;
          e.accuracy = m.HasPrecision(p) ? static_cast<float>(m.Accuracy(p)) : -1.0f;
          if (t.is_pipeline()) {
            PipelineCost pc = PriceStages(device, t, p, m);
            if (pc.ok) {
              e.compute_ms = static_cast<float>(pc.latency_ms);
              e.power_mw = static_cast<float>(pc.energy_uj / pc.latency_ms + device.base_power_mw);
              stages = std::move(pc.stages);
            } else {
              e.accuracy = -1.0f;  // nothing to split: the pipeline cannot run this model
            }
          } else {
            const int level = info.remote ? 0 : l;
            e.compute_ms = static_cast<float>(ComputeMs(*compute, level, p, m));
            e.overhead_ms = static_cast<float>(LayerOverheadMs(*compute, p, m));
            if (!info.remote) {
              e.power_mw = static_cast<float>(t.levels[l].power_mw + device.base_power_mw);
            }
          }
          cm->entries_.push_back(e);
          cm->stages_.push_back(std::move(stages));
        }
      }
    }
  }
  if (space.actions.size() > 65535) return Status::InvalidArgument("too many actions");
  {
    std::vector<Entry> by_model(cm->entries_.size());
    std::vector<std::vector<StageShare>> stages_by_model(cm->stages_.size());
    const size_t na = space.actions.size(), nm = models.size();
    for (size_t a = 0; a < na; ++a) {
      for (size_t m = 0; m < nm; ++m) {
        by_model[m * na + a] = cm->entries_[a * nm + m];
        stages_by_model[m * na + a] = std::move(cm->stages_[a * nm + m]);
      }
    }
    cm->entries_ = std::move(by_model);
    cm->stages_ = std::move(stages_by_model);
    for (size_t m = 0; m < nm; ++m) {
      for (size_t a = 0; a < na; ++a) {
        const Entry& e = cm->entries_[m * na + a];
        const bool local = !cm->info_[a].remote;
        cm->soa_compute_.push_back(local ? e.compute_ms : 0.0f);
        cm->soa_overhead_.push_back(local ? e.overhead_ms : 0.0f);
        cm->soa_accuracy_.push_back(e.accuracy);
        cm->soa_power_.push_back(local ? e.power_mw : 0.0f);
      }
    }
    for (size_t a = 0; a < na; ++a) {
      const ActionInfo& info = cm->info_[a];
      cm->soa_k_cpu_.push_back(info.k_cpu);
      cm->soa_k_gpu_.push_back(info.k_gpu);
      cm->soa_k_mem_.push_back(info.k_mem);
      cm->is_remote_.push_back(info.remote ? 1 : 0);
      if (info.remote) cm->remote_actions_.push_back(static_cast<int>(a));
    }
  }
  // The fallback of a given-up offload, chosen as the daemon chooses it (agent/engine.cc).
  if (options.fallback.empty()) {
    for (size_t ti = 0; ti < device.targets.size() && cm->fallback_action_ < 0; ++ti) {
      if (IsRemote(device.targets[ti].kind)) continue;
      cm->fallback_action_ = space.Find(device.targets[ti].name, Precision::kFp32, 0);
    }
  } else {
    const int ti = device.FindTarget(options.fallback);
    if (ti < 0 || IsRemote(device.targets[ti].kind)) {
      std::vector<std::string> local;
      for (const TargetProfile& t : device.targets) {
        if (!IsRemote(t.kind)) local.push_back(t.name);
      }
      std::string msg = "fallback target '";
      msg += options.fallback;
      msg += "' is not a local target of device '";
      msg += device.name;
      msg += "' (its local targets: ";
      msg += JoinNames(local);
      msg += ")";
      return Status::InvalidArgument(msg);
    }
    cm->fallback_action_ = space.Find(options.fallback, Precision::kFp32, 0);
  }
  cm->candidates_.resize(models.size());
  for (int a = 0; a < space.size(); ++a) {
    for (size_t m = 0; m < models.size(); ++m) {
      const Entry& e = cm->At(a, static_cast<int>(m));
      if (e.accuracy < 0) continue;
      cm->candidates_[m].push_back({a, e.accuracy, cm->info_[a].remote ? cm->info_[a].link : -1});
    }
  }
  return cm;
}

bool CostModel::LinkUsable(int link_index, const Observation& obs) const {
  const Link& link = links_[link_index];
  if (link.fixed) return obs.p2p_rssi_dbm >= link.fixed->min_signal_dbm;
  return (obs.wifi_connected() && obs.wifi_rssi_dbm >= link.wifi->min_signal_dbm) ||
         (obs.cell_connected() && obs.cell_rsrp_dbm >= link.cell->min_signal_dbm);
}

int CostModel::Feasible(const Observation& obs, std::span<int> out) const {
  // Each link's state is decided once per request, not once per action.
  constexpr int kMaxLinks = 16;
  bool usable[kMaxLinks];
  const int nl = std::min<int>(static_cast<int>(links_.size()), kMaxLinks);
  for (int l = 0; l < nl; ++l) usable[l] = LinkUsable(l, obs);
  int n = 0;
  for (const Candidate& c : candidates_[obs.model]) {
    if (c.accuracy < obs.min_accuracy) continue;
    if (c.link >= 0 && (c.link >= kMaxLinks ? !LinkUsable(c.link, obs) : !usable[c.link])) {
      continue;
    }
    out[n++] = c.action;
  }
  return n;
}

uint32_t CostModel::UsableLinks(const Observation& obs) const {
  if (!links_cacheable()) return 0;
  uint32_t mask = 0;
  for (size_t l = 0; l < links_.size(); ++l) {
    mask |= static_cast<uint32_t>(LinkUsable(static_cast<int>(l), obs)) << l;
  }
  return mask;
}

float CostModel::BestAccuracy(int model) const {
  float best = -1;
  for (const Candidate& c : candidates_[model]) best = std::max(best, c.accuracy);
  return best;
}

int CostModel::MostAccurate(const Observation& obs) const {
  int best = -1;
  float best_acc = -1, best_energy = 0;
  for (const Candidate& c : candidates_[obs.model]) {
    if (c.link >= 0 && !LinkUsable(c.link, obs)) continue;
    if (c.accuracy < best_acc) continue;
    const float e = Predict(c.action, obs).energy_mj;
    if (best < 0 || c.accuracy > best_acc || e < best_energy) {
      best = c.action;
      best_acc = c.accuracy;
      best_energy = e;
    }
  }
  return best;
}

Outcome CostModel::Predict(int action, const Observation& obs) const {
  Conditions c;
  c.prev_gap_s = c.next_gap_s = static_cast<float>(options_.expected_gap_s);
  return Evaluate(action, obs, c);
}

namespace {

// The local part of CostModel::PredictFeasible, every array a restrict parameter so that GCC
// vectorises it: LocalLatencyMs() with a compute factor of 1, the same operations in the same
// order, and Evaluate()'s energy.
AUTOSCALE_VECTOR_CLONES void PredictLocal(
    const float* __restrict compute, const float* __restrict overhead,
    const float* __restrict accuracy, const float* __restrict power, const float* __restrict k_cpu,
    const float* __restrict k_gpu, const float* __restrict k_mem, size_t n, float cpu, float gpu,
    float mem, float floor, float* __restrict latency, float* __restrict energy,
    int32_t* __restrict flags) {
  for (size_t a = 0; a < n; ++a) {
    const float slowdown = 1.0f + k_cpu[a] * cpu + k_gpu[a] * gpu + k_mem[a] * mem;
    const float l = compute[a] * slowdown + overhead[a];
    latency[a] = l;
    energy[a] = power[a] * l * 1e-3f;
    flags[a] = accuracy[a] < floor ? 2 : 0;
  }
}

}  // namespace

void CostModel::PredictFeasible(const Observation& obs, std::span<const int> feasible,
                                float* latency, float* energy, int32_t* flags) const {
  const size_t base = static_cast<size_t>(obs.model) * info_.size();
  PredictLocal(&soa_compute_[base], &soa_overhead_[base], &soa_accuracy_[base], &soa_power_[base],
               soa_k_cpu_.data(), soa_k_gpu_.data(), soa_k_mem_.data(), info_.size(), obs.cpu_load,
               obs.gpu_load, obs.mem_load, obs.min_accuracy, latency, energy, flags);
  if (AnyWait(obs)) {
    for (const int a : feasible) {
      if (!is_remote_[a]) latency[a] = QueuedLatencyMs(a, obs, latency[a]);
    }
  }
  if (remote_actions_.empty()) return;
  // Remote actions: each link's state and the offload deadline are read once per request, not
  // once per action (Predict() would do both for each).
  constexpr int kMaxLinks = 16;
  LinkState link_state[kMaxLinks];
  uint32_t read = 0;
  double deadline = -1;
  Conditions expected;
  expected.prev_gap_s = expected.next_gap_s = static_cast<float>(options_.expected_gap_s);
  auto predict_remote = [&](int a) {
    const int l = info_[a].link;
    Outcome o;
    if (l < kMaxLinks) {
      if ((read & (1u << l)) == 0) {
        link_state[l] = ReadLink(l, obs);
        read |= 1u << l;
      }
      o = EvaluateRemote(a, obs, expected, link_state[l], &deadline, nullptr);
    } else {
      o = Predict(a, obs);
    }
    latency[a] = o.latency_ms;
    energy[a] = o.energy_mj;
    flags[a] = MissFlags(o, obs);
  };
  if (info_.size() <= 64) {
    // Which of the (few) remote actions are feasible, without a branch per feasible action.
    uint64_t in = 0;
    for (const int a : feasible) in |= uint64_t{1} << a;
    for (const int a : remote_actions_) {
      if ((in >> a) & 1) predict_remote(a);
    }
  } else {
    for (const int a : feasible) {
      if (is_remote_[a]) predict_remote(a);
    }
  }
}

float CostModel::QueuedLatencyMs(int action, const Observation& obs, float run_ms, float* busy_end,
                                 float start_ms) const {
  const ActionInfo& info = info_[action];
  if (info.remote) return run_ms;
  auto wait = [&](int t) { return t < kMaxWaitTargets ? obs.wait_ms[t] : 0.0f; };
  const std::vector<StageShare>& stages =
      stages_[static_cast<size_t>(obs.model) * info_.size() + action];
  if (stages.empty()) {
    const float end = std::max(start_ms, wait(info.target)) + run_ms;
    if (busy_end != nullptr && info.target < kMaxWaitTargets) busy_end[info.target] = end;
    return end;
  }
  float end = start_ms;
  for (const StageShare& s : stages) {
    end = std::max(end, wait(s.target)) + s.share * run_ms;
    if (busy_end != nullptr && s.target < kMaxWaitTargets) busy_end[s.target] = end;
  }
  return end;
}

float CostModel::LocalLatencyMs(int action, const Observation& obs, float compute_factor) const {
  const ActionInfo& info = info_[action];
  const Entry& e = At(action, obs.model);
  const float slowdown =
      1.0f + info.k_cpu * obs.cpu_load + info.k_gpu * obs.gpu_load + info.k_mem * obs.mem_load;
  return e.compute_ms * compute_factor * slowdown + e.overhead_ms;
}

double CostModel::OffloadDeadlineMs(const Observation& obs, int fallback_action,
                                    double timeout_ms) const {
  const double bound = obs.latency_bound_ms;
  if (!std::isfinite(bound)) return timeout_ms;
  double reserve = 0;
  if (fallback_action >= 0 && fallback_action < space_.size() && !info_[fallback_action].remote &&
      At(fallback_action, obs.model).accuracy >= 0) {
    reserve = QueuedLatencyMs(fallback_action, obs, LocalLatencyMs(fallback_action, obs, 1.0f));
  }
  // The fallback's time is reserved where that leaves the remote at least half the bound (the
  // fallback can then still meet the bound). Otherwise only the remote can meet it: it gets the
  // whole bound, and at least as long as the fallback itself would take (ski rental: the answer
  // comes at most twice as late as from running the fallback at once).
  return std::min(reserve <= 0.5 * bound ? bound - reserve : std::max(bound, reserve), timeout_ms);
}

Outcome CostModel::Evaluate(int action, const Observation& obs, const Conditions& cond,
                            float* fallback_at) const {
  const ActionInfo& info = info_[action];
  if (info.remote) {
    return EvaluateRemote(action, obs, cond, ReadLink(info.link, obs), nullptr, fallback_at);
  }
  if (fallback_at != nullptr) *fallback_at = -1.0f;
  const Entry& e = At(action, obs.model);
  Outcome o;
  o.accuracy = e.accuracy;
  const float run_ms = LocalLatencyMs(action, obs, cond.compute_factor);
  o.latency_ms = AnyWait(obs) ? QueuedLatencyMs(action, obs, run_ms) : run_ms;
  o.energy_mj = e.power_mw * run_ms * 1e-3f;
  return o;
}

CostModel::LinkState CostModel::ReadLink(int link_index, const Observation& obs) const {
  // Offload: pick the link and read its state from the observation.
  const Link& link = links_[link_index];
  LinkState s{};
  if (link.fixed) {
    s.net = link.fixed.get();
    NetworkProfile::Point p = s.net->At(obs.p2p_rssi_dbm);
    s.down = p.down_mbps;
    s.up = p.up_mbps;
    s.rtt_ms = p.rtt_ms;
  } else if (obs.wifi_connected() && obs.wifi_rssi_dbm >= link.wifi->min_signal_dbm) {
    s.net = link.wifi.get();
    s.down = obs.wifi_down_mbps;
    s.up = obs.wifi_up_mbps;
    s.rtt_ms = s.net->RttAt(obs.wifi_rssi_dbm);
  } else {
    s.net = link.cell.get();
    s.down = obs.cell_down_mbps;
    s.up = obs.cell_up_mbps;
    s.rtt_ms = s.net->RttAt(obs.cell_rsrp_dbm);
  }
  return s;
}

Outcome CostModel::EvaluateRemote(int action, const Observation& obs, const Conditions& cond,
                                  const LinkState& ls, double* deadline_memo,
                                  float* fallback_at) const {
  if (fallback_at != nullptr) *fallback_at = -1.0f;
  const ActionInfo& info = info_[action];
  const Entry& e = At(action, obs.model);
  Outcome o;
  o.accuracy = e.accuracy;
  const NetworkProfile* net = ls.net;
  double down = ls.down, up = ls.up;
  // The deadline depends on the request only: worked out once per request where memoised.
  auto offload_deadline = [&] {
    if (deadline_memo == nullptr) return OffloadDeadlineMs(obs);
    if (*deadline_memo < 0) *deadline_memo = OffloadDeadlineMs(obs);
    return *deadline_memo;
  };
  down *= cond.network_factor;
  up *= cond.network_factor;
  const double idle_mw = device_.idle_power_mw;
  const double promo_ms = cond.prev_gap_s > net->tail_s ? net->promotion_s * 1e3 : 0.0;
  const double tail_mj = net->tail_mw * std::min<double>(net->tail_s, cond.next_gap_s);
  // The phases of an offload, in order: promotion, upload, waiting (rtt and server), download.
  const bool dead = cond.drop || down < 0.01 || up < 0.01;
  double up_ms = 0, wait_ms = 0, down_ms = 0;
  double deadline = 0;
  if (!dead) {
    const ModelProfile& m = models_[obs.model];
    const double rtt_ms = ls.rtt_ms;
    up_ms = m.input_bytes * 8.0 / (up * 1e3);  // Mbit/s = 1e3 bit/ms
    down_ms = m.output_bytes * 8.0 / (down * 1e3);
    const double queue_ms = cond.server_queue_ms >= 0 ? cond.server_queue_ms : info.queue_ms;
    const double server_ms = e.compute_ms * cond.compute_factor + e.overhead_ms + queue_ms;
    wait_ms = rtt_ms + server_ms;
    const double latency = promo_ms + rtt_ms + up_ms + server_ms + down_ms;
    // The deadline is never below min(bound / 2, timeout): below that, no need to work it out.
    const double sure = std::min<double>(0.5 * obs.latency_bound_ms, options_.remote_timeout_ms);
    if (latency <= sure || latency <= (deadline = offload_deadline())) {
      // Huang et al. (MobiSys 2012): P = a_up * t_up + a_down * t_down + base; mW x ms = uJ.
      double radio_uj = (net->up_mw_per_mbps * up + net->base_mw) * up_ms +
                        (net->down_mw_per_mbps * down + net->base_mw) * down_ms +
                        net->base_mw * wait_ms + net->promotion_mw * promo_ms;
      o.latency_ms = static_cast<float>(latency);
      o.energy_mj = static_cast<float>(radio_uj * 1e-3 + tail_mj + idle_mw * latency * 1e-3);
      return o;
    }
  } else {
    deadline = offload_deadline();
  }

  // Given up at the deadline: the radio's energy until then, each phase cut at the deadline
  // (a dead link only waits at base power after the promotion), its tail, idle power.
  deadline = std::max(0.0, deadline);
  double left = deadline, radio_uj = 0;
  auto spend = [&](double ms, double mw) {
    const double d = std::min(ms, left);
    radio_uj += mw * d;
    left -= d;
  };
  spend(promo_ms, net->promotion_mw);
  if (!dead) {
    spend(up_ms, net->up_mw_per_mbps * up + net->base_mw);
    spend(wait_ms, net->base_mw);
    spend(down_ms, net->down_mw_per_mbps * down + net->base_mw);
  }
  radio_uj += net->base_mw * left;
  const double spent_mj = radio_uj * 1e-3 + tail_mj + idle_mw * deadline * 1e-3;
  // Then the fallback runs the request, under the same co-runners and compute noise.
  const int fb = fallback_action_;
  if (fb < 0 || At(fb, obs.model).accuracy < 0) {
    o.failed = true;  // nothing answers
    o.latency_ms = static_cast<float>(deadline);
    o.energy_mj = static_cast<float>(spent_mj);
    return o;
  }
  const double run_ms = LocalLatencyMs(fb, obs, cond.compute_factor);
  double latency = deadline + run_ms;
  if (AnyWait(obs)) {
    latency =
        QueuedLatencyMs(fb, obs, static_cast<float>(run_ms), nullptr, static_cast<float>(deadline));
  }
  if (fallback_at != nullptr) *fallback_at = static_cast<float>(deadline);
  o.latency_ms = static_cast<float>(latency);
  o.energy_mj = static_cast<float>(spent_mj + At(fb, obs.model).power_mw * run_ms * 1e-3);
  o.accuracy = At(fb, obs.model).accuracy;
  return o;
}

}  // namespace autoscale
