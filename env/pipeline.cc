#include "env/pipeline.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/strings.h"

namespace autoscale {

Status CheckStageCosts(const StageCosts& costs) {
  const size_t stages = costs.layer_ms.size();
  if (stages == 0) return Status::InvalidArgument("a pipeline needs at least one stage");
  const size_t n = costs.layer_ms[0].size();
  if (n < stages) {
    return Status::InvalidArgument("a pipeline of " + std::to_string(stages) + " stages needs " +
                                   "at least as many layers; the model has " + std::to_string(n));
  }
  for (size_t s = 0; s < stages; ++s) {
    if (costs.layer_ms[s].size() != n) {
      return Status::InvalidArgument("stage " + std::to_string(s) + " has times for " +
                                     std::to_string(costs.layer_ms[s].size()) +
                                     " layers, stage 0 for " + std::to_string(n));
    }
    for (size_t j = 0; j < n; ++j) {
      const double t = costs.layer_ms[s][j];
      if (!std::isfinite(t) || t < 0) {
        return Status::InvalidArgument("stage " + std::to_string(s) + ", layer " +
                                       std::to_string(j) + ": time " + FormatDouble(t, 6) +
                                       " ms is not a finite non-negative number");
      }
    }
  }
  if (costs.handoff_ms.size() != n) {
    return Status::InvalidArgument("hand-off times for " + std::to_string(costs.handoff_ms.size()) +
                                   " cut points; the model has " + std::to_string(n) + " layers");
  }
  for (size_t j = 0; j < n; ++j) {
    const double t = costs.handoff_ms[j];
    if (!std::isfinite(t) || t < 0) {
      return Status::InvalidArgument("hand-off before layer " + std::to_string(j) + ": " +
                                     FormatDouble(t, 6) +
                                     " ms is not a finite non-negative number");
    }
  }
  return Status::Ok();
}

namespace {

// Stage s running layers [b, e), with the hand-off into it (none into stage 0).
double StageMs(const StageCosts& c, const std::vector<std::vector<double>>& prefix, int s, int b,
               int e) {
  return prefix[s][e] - prefix[s][b] + (s > 0 ? c.handoff_ms[b] : 0.0);
}

std::vector<std::vector<double>> Prefix(const StageCosts& c) {
  std::vector<std::vector<double>> p(c.layer_ms.size());
  for (size_t s = 0; s < c.layer_ms.size(); ++s) {
    p[s].assign(c.layer_ms[s].size() + 1, 0.0);
    for (size_t j = 0; j < c.layer_ms[s].size(); ++j) p[s][j + 1] = p[s][j] + c.layer_ms[s][j];
  }
  return p;
}

}  // namespace

Result<StageSplit> EvaluateSplit(const StageCosts& costs, const std::vector<int>& begin) {
  RETURN_IF_ERROR(CheckStageCosts(costs));
  const int stages = static_cast<int>(costs.layer_ms.size());
  const int n = static_cast<int>(costs.layer_ms[0].size());
  if (static_cast<int>(begin.size()) != stages) {
    return Status::InvalidArgument("a split of " + std::to_string(stages) + " stages needs " +
                                   std::to_string(stages) + " start layers, got " +
                                   std::to_string(begin.size()));
  }
  if (begin[0] != 0) return Status::InvalidArgument("stage 0 must start at layer 0");
  for (int s = 1; s < stages; ++s) {
    if (begin[s] <= begin[s - 1] || begin[s] >= n) {
      return Status::InvalidArgument("stage " + std::to_string(s) + " starts at layer " +
                                     std::to_string(begin[s]) + ": each stage must start after " +
                                     "the one before it and before layer " + std::to_string(n));
    }
  }
  const auto prefix = Prefix(costs);
  StageSplit out;
  out.begin = begin;
  for (int s = 0; s < stages; ++s) {
    const int e = s + 1 < stages ? begin[s + 1] : n;
    const double t = StageMs(costs, prefix, s, begin[s], e);
    out.stage_ms.push_back(t);
    out.bottleneck_ms = std::max(out.bottleneck_ms, t);
    out.latency_ms += t;
  }
  return out;
}

Result<StageSplit> BalanceStages(const StageCosts& costs) {
  RETURN_IF_ERROR(CheckStageCosts(costs));
  const int stages = static_cast<int>(costs.layer_ms.size());
  const int n = static_cast<int>(costs.layer_ms[0].size());
  const auto prefix = Prefix(costs);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // Two passes of dynamic programming over (stage s, layers [0, e) covered by stages 0..s):
  // the least bottleneck first, then the least latency among the splits whose every stage is
  // within that bottleneck (one pass on the pair would not do: a prefix with a larger but still
  // harmless bottleneck may be the one with the shorter latency).
  auto solve = [&](double cap, bool min_latency, std::vector<int>* begin) {
    std::vector<std::vector<double>> best(stages, std::vector<double>(n + 1, kInf));
    std::vector<std::vector<int>> from(stages, std::vector<int>(n + 1, -1));
    for (int e = 1; e <= n; ++e) {
      const double t = StageMs(costs, prefix, 0, 0, e);
      if (t > cap) continue;
      best[0][e] = t;
      from[0][e] = 0;
    }
    for (int s = 1; s < stages; ++s) {
      for (int e = s + 1; e <= n; ++e) {
        for (int b = s; b < e; ++b) {
          if (from[s - 1][b] < 0) continue;
          const double t = StageMs(costs, prefix, s, b, e);
          if (t > cap) continue;
          const double v = min_latency ? best[s - 1][b] + t : std::max(best[s - 1][b], t);
          if (v < best[s][e]) {
            best[s][e] = v;
            from[s][e] = b;
          }
        }
      }
    }
    if (from[stages - 1][n] < 0) return false;
    begin->assign(stages, 0);
    for (int s = stages - 1, e = n; s >= 0; --s) {
      (*begin)[s] = from[s][e];
      e = (*begin)[s];
    }
    return true;
  };
  std::vector<int> begin;
  if (!solve(kInf, false, &begin)) return Status::Internal("no split found");
  ASSIGN_OR_RETURN(StageSplit fastest, EvaluateSplit(costs, begin));
  // Within a relative tolerance of the bottleneck, so that rounding in the sums cannot exclude
  // the split just found.
  const double cap = fastest.bottleneck_ms * (1 + 1e-12) + 1e-15;
  if (!solve(cap, true, &begin)) return fastest;
  ASSIGN_OR_RETURN(StageSplit shortest, EvaluateSplit(costs, begin));
  return shortest.latency_ms < fastest.latency_ms ? shortest : fastest;
}

std::string DescribeSplit(const StageSplit& split, const StageCosts& costs,
                          const std::vector<std::string>& layer_names) {
  const int n = costs.layer_ms.empty() ? 0 : static_cast<int>(costs.layer_ms[0].size());
  auto name = [&](int j) {
    return j >= 0 && j < static_cast<int>(layer_names.size()) ? " " + layer_names[j]
                                                              : std::string();
  };
  std::string out;
  for (int s = 0; s < split.stages(); ++s) {
    const int b = split.begin[s];
    const int e = s + 1 < split.stages() ? split.begin[s + 1] : n;
    if (s > 0) out += " | ";
    out += "stage " + std::to_string(s) + ": layers " + std::to_string(b) + name(b) + " - " +
           std::to_string(e - 1) + name(e - 1) + " (" + FormatDouble(split.stage_ms[s], 4) + " ms";
    if (s > 0 && b < static_cast<int>(costs.handoff_ms.size())) {
      out += ", hand-off " + FormatDouble(costs.handoff_ms[b], 3) + " ms";
    }
    out += ")";
  }
  return out;
}

std::vector<double> LayerTimesOn(const TargetProfile& target, Precision precision,
                                 const std::vector<LayerDescriptor>& layers) {
  std::vector<double> ms(layers.size(), 0.0);
  const int pi = static_cast<int>(precision);
  const LayerFit* fit = target.layer_model[pi].get();
  if (fit != nullptr && !fit->empty()) return PredictLayersInRunMs(*fit, layers);
  for (size_t j = 0; j < layers.size(); ++j) {
    const LayerDescriptor& l = layers[j];
    int cls = -1;
    switch (l.kind()) {
      case LayerKind::kConv:
      case LayerKind::kPointwiseConv:
      case LayerKind::kDepthwiseConv:
      case LayerKind::kGroupedConv:
        cls = 0;
        break;
      case LayerKind::kLinear:
        cls = 1;
        break;
      case LayerKind::kLstm:
        cls = 2;
        break;
      default:
        break;
    }
    if (cls < 0) continue;
    const double rate = target.gmacs_per_s[cls][pi];
    if (rate > 0) ms[j] = l.macs / (rate * 1e6);  // GMAC/s = 1e6 MAC/ms
    ms[j] += target.layer_overhead_us / 1000.0;
  }
  return ms;
}

Result<StageCosts> DeviceStageCosts(const DeviceProfile& device,
                                    const std::vector<std::string>& stage_targets,
                                    Precision precision, const std::vector<LayerDescriptor>& layers,
                                    const HandOffModel& handoff) {
  if (stage_targets.empty()) return Status::InvalidArgument("a pipeline needs at least one stage");
  StageCosts c;
  for (const std::string& name : stage_targets) {
    const int ti = device.FindTarget(name);
    if (ti < 0) {
      std::vector<std::string> local;
      for (const TargetProfile& t : device.targets) {
        if (!IsRemote(t.kind) && !t.is_pipeline()) local.push_back(t.name);
      }
      return Status::InvalidArgument("device '" + device.name + "' has no target '" + name +
                                     "' (its local targets: " + JoinNames(local) + ")");
    }
    const TargetProfile& t = device.targets[ti];
    if (IsRemote(t.kind) || t.is_pipeline()) {
      return Status::InvalidArgument("target '" + name + "' of device '" + device.name + "' is " +
                                     (t.is_pipeline() ? "pipelined" : "remote") +
                                     ": a pipeline's stages are local processors");
    }
    if (!t.Supports(precision)) {
      return Status::InvalidArgument("target '" + name + "' of device '" + device.name +
                                     "' does not run " + std::string(PrecisionName(precision)));
    }
    c.layer_ms.push_back(LayerTimesOn(t, precision, layers));
  }
  c.handoff_ms.assign(layers.size(), 0.0);
  for (size_t j = 1; j < layers.size(); ++j) {
    c.handoff_ms[j] =
        handoff.fixed_ms + 4.0 * layers[j - 1].output_elements / (handoff.gb_per_s * 1e6);
  }
  RETURN_IF_ERROR(CheckStageCosts(c));
  return c;
}

}  // namespace autoscale
