#include "env/profiles.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/config_dir.h"
#include "core/strings.h"
#include "env/profile_keys.h"

namespace autoscale {

namespace {

Status CheckName(const ConfigNode& root, const std::string& name) {
  // A profile's name must match its file so that experiments can refer to it by name.
  if (root.file().front() == '<') return Status::Ok();
  std::string stem = std::filesystem::path(root.file()).stem().string();
  if (stem != name) {
    return root.Error("name '" + name + "' does not match the file name '" + stem + ".yaml'");
  }
  return Status::Ok();
}

Result<std::vector<Precision>> ParsePrecisionList(const ConfigNode& node) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, node.AsStringList());
  std::vector<Precision> out;
  for (size_t i = 0; i < names.size(); ++i) {
    auto p = ParsePrecision(names[i]);
    if (!p.ok()) return node.At(i).Error(p.status().message());
    out.push_back(*p);
  }
  if (out.empty()) return node.Error("expected at least one precision");
  return out;
}

Result<TargetProfile> ParseTarget(const ConfigNode& t) {
  const KeyTable& keys = TargetProfileKeys();
  RETURN_IF_ERROR(keys.Check(t));
  TargetProfile tp;
  ASSIGN_OR_RETURN(tp.name, t.GetString("name"));
  // Target names reach reports, plots and action names: plain text.
  if (std::string bad = CheckDisplayName(tp.name); !bad.empty()) {
    return t.Child("name")->Error("target name '" + ToValidUtf8(tp.name) + "' " + bad);
  }
  ASSIGN_OR_RETURN(ConfigNode kind_node, t.Child("kind"));
  ASSIGN_OR_RETURN(std::string kind, kind_node.AsString());
  auto k = ParseTargetKind(kind);
  if (!k.ok()) return kind_node.Error(k.status().message());
  tp.kind = *k;

  if (IsRemote(tp.kind)) {
    for (const char* local_only : {"cores", "gmacs_per_s", "levels", "layer_overhead_us",
                                   "memory_bound_fraction", "interference", "measured_ms",
                                   "waves"}) {
      if (t.Has(local_only)) {
        return t.Child(local_only)
            ->Error(std::string("'") + local_only + "' does not apply to a remote target; " +
                    "the server profile holds its processors");
      }
    }
    ASSIGN_OR_RETURN(tp.server, t.GetString("server"));
    ASSIGN_OR_RETURN(tp.network, t.GetString("network"));
    if (auto pn = t.Optional("precisions")) {
      ASSIGN_OR_RETURN(tp.precisions, ParsePrecisionList(*pn));
    } else {
      tp.precisions = {Precision::kFp32};
    }
    tp.levels = {{0, 0}};
    return tp;
  }

  for (const char* remote_only : {"server", "network"}) {
    if (t.Has(remote_only)) {
      return t.Child(remote_only)
          ->Error(std::string("'") + remote_only +
                  "' applies only to a remote target (kind cloud or nearby)");
    }
  }
  if (auto pipe = t.Optional("pipeline")) {
    if (tp.kind != TargetKind::kCpu) {
      return t.Child("pipeline")
          ->Error("'pipeline' applies only to a cpu target (this one is kind " + kind + ")");
    }
    for (const char* own : {"cores", "gmacs_per_s", "levels", "layer_overhead_us",
                            "memory_bound_fraction", "interference", "measured_ms", "waves"}) {
      if (t.Has(own)) {
        return t.Child(own)->Error(std::string("'") + own +
                                   "' does not apply to a pipelined target; its stages' "
                                   "processors supply it");
      }
    }
    const KeyTable& pk = PipelineKeys();
    RETURN_IF_ERROR(pk.Check(*pipe));
    ASSIGN_OR_RETURN(ConfigNode stages, pipe->Child("stages"));
    ASSIGN_OR_RETURN(tp.pipeline_stages, stages.AsStringList());
    if (tp.pipeline_stages.size() < 2 || tp.pipeline_stages.size() > 8) {
      return stages.Error("expected 2 to 8 stage targets, got " +
                          std::to_string(tp.pipeline_stages.size()));
    }
    for (size_t i = 0; i < tp.pipeline_stages.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (tp.pipeline_stages[i] == tp.pipeline_stages[j]) {
          return stages.Error("stage target '" + tp.pipeline_stages[i] +
                              "' is listed twice: each stage needs processors of its own");
        }
      }
    }
    ASSIGN_OR_RETURN(tp.handoff.fixed_ms, pk.Number(*pipe, "handoff_fixed_ms"));
    ASSIGN_OR_RETURN(tp.handoff.gb_per_s, pk.Number(*pipe, "handoff_gb_per_s"));
    if (auto pn = t.Optional("precisions")) {
      ASSIGN_OR_RETURN(tp.precisions, ParsePrecisionList(*pn));
    } else {
      tp.precisions = {Precision::kFp32};
    }
    return tp;  // levels, cores and interference: ResolvePipelines(), from the stages
  }
  ASSIGN_OR_RETURN(int64_t cores, keys.Integer(t, "cores"));
  tp.cores = static_cast<int>(cores);
  ASSIGN_OR_RETURN(ConfigNode pn, t.Child("precisions"));
  ASSIGN_OR_RETURN(tp.precisions, ParsePrecisionList(pn));

  ASSIGN_OR_RETURN(ConfigNode g, t.Child("gmacs_per_s"));
  RETURN_IF_ERROR(GmacsKeys().Check(g));
  const char* classes[] = {"conv", "fc", "recurrent"};
  for (int c = 0; c < kNumLayerClasses; ++c) {
    auto cls = g.Optional(classes[c]);
    if (!cls) continue;
    RETURN_IF_ERROR(PrecisionRateKeys().Check(*cls));
    for (int p = 0; p < kNumPrecisions; ++p) {
      std::string pname(PrecisionName(static_cast<Precision>(p)));
      ASSIGN_OR_RETURN(tp.gmacs_per_s[c][p], PrecisionRateKeys().Number(*cls, pname));
    }
  }
  for (Precision p : tp.precisions) {
    if (tp.gmacs_per_s[0][static_cast<int>(p)] <= 0) {
      return g.Error("precision " + std::string(PrecisionName(p)) +
                     " is listed but gmacs_per_s.conv." + std::string(PrecisionName(p)) +
                     " is missing or zero");
    }
    // fc and recurrent default to the conv rate when not given.
    for (int c = 1; c < kNumLayerClasses; ++c) {
      double& r = tp.gmacs_per_s[c][static_cast<int>(p)];
      if (r <= 0) r = tp.gmacs_per_s[0][static_cast<int>(p)];
    }
  }
  ASSIGN_OR_RETURN(tp.layer_overhead_us, keys.Number(t, "layer_overhead_us"));
  ASSIGN_OR_RETURN(tp.memory_bound_fraction, keys.Number(t, "memory_bound_fraction"));

  ASSIGN_OR_RETURN(ConfigNode levels, t.Child("levels"));
  RETURN_IF_ERROR(levels.ExpectSequence());
  if (levels.size() == 0 || levels.size() > 32) {
    return levels.Error("expected 1 to 32 frequency levels");
  }
  for (size_t i = 0; i < levels.size(); ++i) {
    ConfigNode l = levels.At(i);
    RETURN_IF_ERROR(LevelKeys().Check(l));
    TargetProfile::Level lv;
    ASSIGN_OR_RETURN(lv.freq_mhz, LevelKeys().Number(l, "freq_mhz"));
    ASSIGN_OR_RETURN(lv.power_mw, LevelKeys().Number(l, "power_mw"));
    if (!tp.levels.empty() && lv.freq_mhz >= tp.levels.back().freq_mhz) {
      return l.Error("levels must be listed from the highest frequency down");
    }
    tp.levels.push_back(lv);
  }
  if (auto inter = t.Optional("interference")) {
    const KeyTable& ik = InterferenceKeys();
    RETURN_IF_ERROR(ik.Check(*inter));
    ASSIGN_OR_RETURN(tp.interference_cpu, ik.Number(*inter, "cpu"));
    ASSIGN_OR_RETURN(tp.interference_gpu, ik.Number(*inter, "gpu"));
    ASSIGN_OR_RETURN(tp.interference_mem, ik.Number(*inter, "mem"));
  }
  if (auto waves = t.Optional("waves")) {
    if (tp.kind != TargetKind::kGpu) {
      return t.Child("waves")->Error("'waves' applies only to a gpu target (this one is kind " +
                                     kind + ")");
    }
    const KeyTable& wk = WaveKeys();
    RETURN_IF_ERROR(wk.Check(*waves));
    ASSIGN_OR_RETURN(int64_t units, wk.Integer(*waves, "units"));
    ASSIGN_OR_RETURN(int64_t per_unit, wk.Integer(*waves, "blocks_per_unit"));
    tp.waves.units = static_cast<int>(units);
    tp.waves.blocks_per_unit = static_cast<int>(per_unit);
    ASSIGN_OR_RETURN(std::string tiling, wk.String(*waves, "tiling"));
    auto parsed = ParseGpuTiling(tiling);
    if (!parsed.ok()) return waves->Child("tiling")->Error(parsed.status().message());
    tp.waves.tiling = *parsed;
    for (const char* k : {"tile_m", "tile_n"}) {
      if (tp.waves.tiling != GpuTiling::kGemm && waves->Has(k)) {
        return waves->Child(k)->Error(std::string("'") + k +
                                      "' applies only to tiling: gemm (the opencl tiling is "
                                      "fixed by the kernels)");
      }
    }
    ASSIGN_OR_RETURN(int64_t tm, wk.Integer(*waves, "tile_m"));
    ASSIGN_OR_RETURN(int64_t tn, wk.Integer(*waves, "tile_n"));
    tp.waves.tile_m = static_cast<int>(tm);
    tp.waves.tile_n = static_cast<int>(tn);
  }
  if (auto measured = t.Optional("measured_ms")) {
    RETURN_IF_ERROR(measured->ExpectMap());
    for (const auto& [model, per] : measured->Entries()) {
      RETURN_IF_ERROR(MeasuredMsKeys().Check(per));
      std::array<double, kNumPrecisions> ms = {-1, -1, -1};
      for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
        const std::string pname(PrecisionName(p));
        if (!per.Has(pname)) continue;
        if (!tp.Supports(p)) {
          return per.Error("measured_ms." + pname + " for a precision the target does not list");
        }
        ASSIGN_OR_RETURN(ms[static_cast<int>(p)], MeasuredMsKeys().Number(per, pname, -1));
      }
      tp.measured_ms[model] = ms;
    }
  }
  return tp;
}

// A pipelined target's stages (targets[i].pipeline.stages, node `node`) must be this profile's
// local processors running each precision it lists; it takes one level (every stage at its
// highest, named after the first stage's frequency), their cores and its first stage's
// interference.
Status ResolvePipeline(const ConfigNode& node, DeviceProfile& d, TargetProfile& tp) {
  std::vector<std::string> processors;
  for (const TargetProfile& t : d.targets) {
    if (!IsRemote(t.kind) && !t.is_pipeline()) processors.push_back(t.name);
  }
  const ConfigNode stages = *node.Child("pipeline")->Child("stages");
  tp.cores = 0;
  for (size_t s = 0; s < tp.pipeline_stages.size(); ++s) {
    const std::string& name = tp.pipeline_stages[s];
    const int ti = d.FindTarget(name);
    const ConfigNode at = stages.size() > s ? stages.At(s) : stages;
    if (ti < 0 || IsRemote(d.targets[ti].kind) || d.targets[ti].is_pipeline()) {
      const std::string what = ti < 0 ? "no target '" + name + "'"
                               : IsRemote(d.targets[ti].kind)
                                   ? "'" + name + "' is remote"
                                   : "'" + name + "' is itself pipelined";
      return at.Error(what + ": a stage runs on one of this profile's local processors (" +
                      JoinNames(processors) + ")");
    }
    const TargetProfile& st = d.targets[ti];
    for (Precision p : tp.precisions) {
      if (!st.Supports(p)) {
        return at.Error("stage target '" + name + "' does not run " +
                        std::string(PrecisionName(p)) + ", which pipelined target '" + tp.name +
                        "' lists");
      }
    }
    tp.cores += st.cores;
    if (s == 0) {
      tp.levels = {{st.levels.front().freq_mhz, 0.0}};
      tp.interference_cpu = st.interference_cpu;
      tp.interference_gpu = st.interference_gpu;
      tp.interference_mem = st.interference_mem;
    }
  }
  return Status::Ok();
}

// `layer_models: {TARGET: {PRECISION: fit}}` (env/layer_predictor.h) onto the local targets.
Status ParseLayerModels(const ConfigNode& lm, DeviceProfile& d) {
  RETURN_IF_ERROR(lm.ExpectMap());
  for (const auto& [target, per] : lm.Entries()) {
    const int ti = d.FindTarget(target);
    if (ti < 0) {
      std::vector<std::string> names;
      for (const TargetProfile& t : d.targets) names.push_back(t.name);
      return per.Error("no target '" + target + "' in this profile (targets: " +
                       JoinNames(names) + ")");
    }
    TargetProfile& tp = d.targets[ti];
    if (IsRemote(tp.kind) || tp.is_pipeline()) {
      return per.Error("a layer model applies to local processors; '" + target + "' is " +
                       (tp.is_pipeline() ? "pipelined (its stages' models apply)" : "remote"));
    }
    RETURN_IF_ERROR(LayerModelKeys().Check(per));
    for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
      const std::string pname(PrecisionName(p));
      auto node = per.Optional(pname);
      if (!node) continue;
      if (!tp.Supports(p)) {
        return node->Error("a layer model for " + pname + ", which target '" + target +
                           "' does not list");
      }
      ASSIGN_OR_RETURN(LayerFit fit, ParseLayerFit(*node));
      tp.layer_model[static_cast<int>(p)] = std::make_shared<const LayerFit>(std::move(fit));
    }
  }
  return Status::Ok();
}

}  // namespace

bool TargetProfile::Supports(Precision p) const {
  return std::find(precisions.begin(), precisions.end(), p) != precisions.end();
}

int DeviceProfile::FindTarget(const std::string& target_name) const {
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].name == target_name) return static_cast<int>(i);
  }
  return -1;
}

const TargetProfile* DeviceProfile::FirstOfKind(TargetKind kind) const {
  for (const TargetProfile& t : targets) {
    if (t.kind == kind && !t.is_pipeline()) return &t;
  }
  return nullptr;
}

// ---- Models ----------------------------------------------------------------------------------

Result<ModelProfile> ParseModelProfile(const ConfigNode& root) {
  const KeyTable& keys = ModelProfileKeys();
  RETURN_IF_ERROR(keys.Check(root));
  ModelProfile m;
  ASSIGN_OR_RETURN(m.name, keys.String(root, "name"));
  RETURN_IF_ERROR(CheckName(root, m.name));
  ASSIGN_OR_RETURN(m.task, keys.String(root, "task"));
  ASSIGN_OR_RETURN(ConfigNode layers, root.Child("layers"));
  const KeyTable& lk = LayerCountKeys();
  RETURN_IF_ERROR(lk.Check(layers));
  ASSIGN_OR_RETURN(int64_t conv, lk.Integer(layers, "conv"));
  ASSIGN_OR_RETURN(int64_t fc, lk.Integer(layers, "fc"));
  ASSIGN_OR_RETURN(int64_t rc, lk.Integer(layers, "recurrent"));
  if (conv < 0 || fc < 0 || rc < 0 || conv + fc + rc == 0 || conv + fc + rc > 100000) {
    return layers.Error("layer counts must be non-negative with at least one layer");
  }
  m.conv_layers = static_cast<int>(conv);
  m.fc_layers = static_cast<int>(fc);
  m.recurrent_layers = static_cast<int>(rc);
  ASSIGN_OR_RETURN(m.macs, keys.Number(root, "macs"));
  ASSIGN_OR_RETURN(m.fc_macs, keys.Number(root, "fc_macs"));
  ASSIGN_OR_RETURN(m.recurrent_macs, keys.Number(root, "recurrent_macs"));
  if (m.fc_macs + m.recurrent_macs > m.macs) {
    return root.Error("fc_macs + recurrent_macs exceed macs");
  }
  ASSIGN_OR_RETURN(m.params, keys.Number(root, "params"));
  ASSIGN_OR_RETURN(m.input_bytes, keys.Number(root, "input_bytes"));
  ASSIGN_OR_RETURN(m.output_bytes, keys.Number(root, "output_bytes"));
  ASSIGN_OR_RETURN(ConfigNode acc, root.Child("accuracy"));
  // fp32 is required; a precision not given has no variant (accuracy -1).
  RETURN_IF_ERROR(ModelAccuracyKeys().Check(acc));
  for (int p = 0; p < kNumPrecisions; ++p) {
    std::string pname(PrecisionName(static_cast<Precision>(p)));
    ASSIGN_OR_RETURN(m.accuracy[p], ModelAccuracyKeys().Number(acc, pname, -1));
  }
  if (auto shapes = root.Optional("layer_shapes")) {
    RETURN_IF_ERROR(shapes->ExpectSequence());
    if (shapes->size() == 0 || shapes->size() > 100000) {
      return shapes->Error("expected 1 to 100000 layer rows");
    }
    double macs = 0;
    for (size_t i = 0; i < shapes->size(); ++i) {
      ASSIGN_OR_RETURN(LayerDescriptor d, ParseLayerDescriptorRow(shapes->At(i)));
      macs += d.macs;
      m.layer_descriptors.push_back(std::move(d));
    }
    m.input_elements = m.layer_descriptors.front().input_elements;
    m.output_elements = m.layer_descriptors.back().output_elements;
    // The rows must describe the model the counts describe (within rounding of `macs`).
    if (std::abs(macs - m.macs) > 1e-3 * m.macs) {
      return shapes->Error("the rows' MACs add up to " + FormatDouble(macs, 6) + ", not macs " +
                           FormatDouble(m.macs, 6));
    }
  }
  return m;
}

Result<ModelProfile> LoadModelProfile(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseModelProfile(root);
}

// ---- Networks --------------------------------------------------------------------------------

namespace {
// The segment of `curve` that holds `signal_dbm`, strictly inside its ends: the first point
// above it (a curve has a handful of points: a scan beats a binary search).
const NetworkProfile::Point* Above(const std::vector<NetworkProfile::Point>& curve,
                                   double signal_dbm) {
  const NetworkProfile::Point* hi = curve.data() + 1;
  while (hi->signal_dbm <= signal_dbm) ++hi;
  return hi;
}
}  // namespace

NetworkProfile::Point NetworkProfile::At(double signal_dbm) const {
  // At or below the first point, or not a number: the first point.
  if (!(signal_dbm > curve.front().signal_dbm)) return curve.front();
  if (signal_dbm >= curve.back().signal_dbm) return curve.back();
  const Point* hi = Above(curve, signal_dbm);
  const Point* lo = hi - 1;
  double w = (signal_dbm - lo->signal_dbm) / (hi->signal_dbm - lo->signal_dbm);
  auto lerp = [w](double a, double b) { return a + w * (b - a); };
  return {signal_dbm, lerp(lo->down_mbps, hi->down_mbps), lerp(lo->up_mbps, hi->up_mbps),
          lerp(lo->rtt_ms, hi->rtt_ms)};
}

double NetworkProfile::RttAt(double signal_dbm) const {
  if (!(signal_dbm > curve.front().signal_dbm)) return curve.front().rtt_ms;
  if (signal_dbm >= curve.back().signal_dbm) return curve.back().rtt_ms;
  const Point* hi = Above(curve, signal_dbm);
  const Point* lo = hi - 1;
  double w = (signal_dbm - lo->signal_dbm) / (hi->signal_dbm - lo->signal_dbm);
  return lo->rtt_ms + w * (hi->rtt_ms - lo->rtt_ms);
}

Result<NetworkProfile> ParseNetworkProfile(const ConfigNode& root) {
  const KeyTable& keys = NetworkProfileKeys();
  RETURN_IF_ERROR(keys.Check(root));
  NetworkProfile n;
  ASSIGN_OR_RETURN(n.name, keys.String(root, "name"));
  RETURN_IF_ERROR(CheckName(root, n.name));
  ASSIGN_OR_RETURN(ConfigNode kind_node, root.Child("kind"));
  ASSIGN_OR_RETURN(std::string kind, kind_node.AsString());
  if (kind == "wifi") {
    n.kind = NetworkKind::kWifi;
  } else if (kind == "cellular") {
    n.kind = NetworkKind::kCellular;
  } else if (kind == "wifi_direct") {
    n.kind = NetworkKind::kWifiDirect;
  } else {
    return kind_node.Error("unknown network kind '" + kind +
                           "' (valid: wifi, cellular, wifi_direct)");
  }
  ASSIGN_OR_RETURN(n.min_signal_dbm, keys.Number(root, "min_signal_dbm"));
  ASSIGN_OR_RETURN(ConfigNode curve, root.Child("curve"));
  RETURN_IF_ERROR(curve.ExpectSequence());
  if (curve.size() == 0) return curve.Error("expected at least one point");
  for (size_t i = 0; i < curve.size(); ++i) {
    ConfigNode p = curve.At(i);
    const KeyTable& ck = CurvePointKeys();
    RETURN_IF_ERROR(ck.Check(p));
    NetworkProfile::Point pt{};
    ASSIGN_OR_RETURN(pt.signal_dbm, ck.Number(p, "signal_dbm"));
    ASSIGN_OR_RETURN(pt.down_mbps, ck.Number(p, "down_mbps"));
    ASSIGN_OR_RETURN(pt.up_mbps, ck.Number(p, "up_mbps"));
    ASSIGN_OR_RETURN(pt.rtt_ms, ck.Number(p, "rtt_ms"));
    if (!n.curve.empty() && pt.signal_dbm <= n.curve.back().signal_dbm) {
      return p.Error("curve points must be sorted by increasing signal_dbm");
    }
    n.curve.push_back(pt);
  }
  ASSIGN_OR_RETURN(ConfigNode pw, root.Child("power"));
  const KeyTable& pk = RadioPowerKeys();
  RETURN_IF_ERROR(pk.Check(pw));
  ASSIGN_OR_RETURN(n.up_mw_per_mbps, pk.Number(pw, "up_mw_per_mbps"));
  ASSIGN_OR_RETURN(n.down_mw_per_mbps, pk.Number(pw, "down_mw_per_mbps"));
  ASSIGN_OR_RETURN(n.base_mw, pk.Number(pw, "base_mw"));
  ASSIGN_OR_RETURN(n.tail_mw, pk.Number(pw, "tail_mw"));
  ASSIGN_OR_RETURN(n.tail_s, pk.Number(pw, "tail_s"));
  ASSIGN_OR_RETURN(n.promotion_mw, pk.Number(pw, "promotion_mw"));
  ASSIGN_OR_RETURN(n.promotion_s, pk.Number(pw, "promotion_s"));
  return n;
}

Result<NetworkProfile> LoadNetworkProfile(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseNetworkProfile(root);
}

// ---- Devices ---------------------------------------------------------------------------------

Result<DeviceProfile> ParseDeviceProfile(const ConfigNode& root) {
  const KeyTable& keys = DeviceProfileKeys();
  RETURN_IF_ERROR(keys.Check(root));
  DeviceProfile d;
  ASSIGN_OR_RETURN(d.name, keys.String(root, "name"));
  RETURN_IF_ERROR(CheckName(root, d.name));
  ASSIGN_OR_RETURN(d.description, keys.String(root, "description"));
  ASSIGN_OR_RETURN(d.role, keys.String(root, "role"));
  if (d.role != "phone" && d.role != "server") {
    return root.Child("role")->Error("unknown role '" + d.role + "' (valid: phone, server)");
  }
  ASSIGN_OR_RETURN(d.base_power_mw, keys.Number(root, "base_power_mw"));
  ASSIGN_OR_RETURN(d.idle_power_mw, keys.Number(root, "idle_power_mw"));
  ASSIGN_OR_RETURN(d.queue_ms, keys.Number(root, "queue_ms"));
  ASSIGN_OR_RETURN(ConfigNode targets, root.Child("targets"));
  RETURN_IF_ERROR(targets.ExpectSequence());
  if (targets.size() == 0 || targets.size() > 64) {
    return targets.Error("expected 1 to 64 targets");
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    ASSIGN_OR_RETURN(TargetProfile tp, ParseTarget(targets.At(i)));
    if (d.FindTarget(tp.name) >= 0) {
      return targets.At(i).Error("duplicate target name '" + tp.name + "'");
    }
    if (d.role == "server" && IsRemote(tp.kind)) {
      return targets.At(i).Error("a server profile cannot itself offload");
    }
    d.targets.push_back(std::move(tp));
  }
  for (size_t i = 0; i < d.targets.size(); ++i) {
    if (d.targets[i].is_pipeline())
      RETURN_IF_ERROR(ResolvePipeline(targets.At(i), d, d.targets[i]));
  }
  if (auto lm = root.Optional("layer_models")) RETURN_IF_ERROR(ParseLayerModels(*lm, d));
  return d;
}

Result<DeviceProfile> LoadDeviceProfile(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseDeviceProfile(root);
}

// ---- Catalogue -------------------------------------------------------------------------------

ProfileCatalog::ProfileCatalog(std::vector<std::string> roots, std::string base_dir)
    : roots_(std::move(roots)), base_dir_(std::move(base_dir)) {
  if (roots_.empty()) roots_.push_back(".");
}

std::vector<std::string> ProfileCatalog::Candidates(const std::string& folder,
                                                    const std::string& name) const {
  if (name.find('/') != std::string::npos || name.ends_with(".yaml")) {
    if (name[0] == '/' || base_dir_.empty()) return {name};
    return {base_dir_ + "/" + name};
  }
  std::vector<std::string> out;
  for (const std::string& r : roots_) out.push_back(r + "/" + folder + "/" + name + ".yaml");
  return out;
}

Result<std::string> ProfileCatalog::Find(const std::string& folder, const std::string& name) const {
  const std::vector<std::string> candidates = Candidates(folder, name);
  std::error_code ec;
  for (const std::string& c : candidates) {
    if (std::filesystem::exists(c, ec)) return c;
  }
  std::vector<std::string> names = Available(folder);
  const std::string kind = folder.ends_with('s') ? folder.substr(0, folder.size() - 1) : folder;
  std::string msg = "no " + kind + (kind == "scenario" ? " file '" : " profile '") + name +
                    "' (looked for " + JoinNames(candidates) + ")";
  std::string near = NearestName(name, names);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  msg += " (available: " + JoinNames(names) + ")";
  return Status::NotFound(msg);
}

std::vector<std::string> ConfigSearchRoots(const std::string& file_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> roots;
  std::vector<fs::path> seen;
  auto add = [&](const fs::path& dir) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(dir, ec);
    if (ec || std::find(seen.begin(), seen.end(), canonical) != seen.end()) return;
    seen.push_back(canonical);
    fs::path normal = dir.lexically_normal();
    if (normal.filename().empty()) normal = normal.parent_path();  // "a/b/" -> "a/b"
    roots.push_back(normal.string());
  };
  const fs::path dir = file_dir.empty() ? fs::path(".") : fs::path(file_dir);
  for (const fs::path& d : {dir, dir / ".."}) {
    std::error_code ec;
    for (const char* sub : {"devices", "networks", "models", "scenarios"}) {
      if (fs::is_directory(d / sub, ec)) {
        add(d);
        break;
      }
    }
  }
  if (auto shipped = ShippedConfigDir(); shipped.ok()) add(*shipped);
  return roots;
}

std::vector<std::string> ProfileCatalog::Available(const std::string& folder) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const std::string& r : roots_) {
    for (const auto& e : std::filesystem::directory_iterator(r + "/" + folder, ec)) {
      if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {
template <typename T, typename Loader>
Result<std::shared_ptr<const T>> Cached(std::mutex& mu,
                                        std::map<std::string, std::shared_ptr<const T>>& cache,
                                        const std::string& path, Loader load) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  ASSIGN_OR_RETURN(T value, load(path));
  auto ptr = std::make_shared<const T>(std::move(value));
  cache.emplace(path, ptr);
  return ptr;
}
}  // namespace

Result<std::shared_ptr<const DeviceProfile>> ProfileCatalog::Device(const std::string& name) {
  ASSIGN_OR_RETURN(std::string path, Find("devices", name));
  return Cached(mu_, devices_, path, LoadDeviceProfile);
}

Result<std::shared_ptr<const NetworkProfile>> ProfileCatalog::Network(const std::string& name) {
  ASSIGN_OR_RETURN(std::string path, Find("networks", name));
  return Cached(mu_, networks_, path, LoadNetworkProfile);
}

Result<std::shared_ptr<const ModelProfile>> ProfileCatalog::Model(const std::string& name) {
  ASSIGN_OR_RETURN(std::string path, Find("models", name));
  return Cached(mu_, models_, path, LoadModelProfile);
}

}  // namespace autoscale
