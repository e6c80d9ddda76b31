#include "sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/random.h"
#include "core/strings.h"
#include "sim/experiment_keys.h"

namespace autoscale {

namespace {

std::string ResolvePath(const ConfigNode& node, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return node.Directory() + "/" + path;
}

// A quantity: a number; {mean, stddev, reversion_per_s, min, max}; {on, off, mean_on_s,
// mean_off_s, jitter}; or {trace, format, column, scale, window_s}.
// `what` names the quantity in errors about a trace's values ("signal in dBm", "load").
Result<QuantitySpec> ParseQuantity(const ConfigNode& n, double lo, double hi,
                                   std::string_view what) {
  QuantitySpec q;
  if (n.IsScalar()) {
    ASSIGN_OR_RETURN(q.value, n.AsDouble());
    if (q.value < lo || q.value > hi) {
      return n.Error("expected a number in [" + FormatDouble(lo) + ", " + FormatDouble(hi) + "]");
    }
    return q;
  }
  if (!n.IsMap()) {
    return n.Error("expected a number, {mean, stddev}, {on, off} or {trace} map");
  }
  if (n.Has("trace")) {
    const KeyTable& keys = TraceQuantityKeys();
    RETURN_IF_ERROR(keys.Check(n));
    q.kind = QuantitySpec::Kind::kTrace;
    ASSIGN_OR_RETURN(std::string file, keys.String(n, "trace"));
    ASSIGN_OR_RETURN(std::string format, keys.String(n, "format"));
    ASSIGN_OR_RETURN(double window, keys.Number(n, "window_s"));
    ASSIGN_OR_RETURN(q.scale, keys.Number(n, "scale"));
    const std::string path = ResolvePath(n, file);
    Result<Trace> t = Status::Internal("unset");
    if (format == "csv") {
      t = Trace::LoadCsv(path);
    } else if (format == "mahimahi") {
      t = Trace::LoadMahimahi(path, window);
    } else if (format == "bandwidth_log") {
      t = Trace::LoadBandwidthLog(path);
    } else {
      return n.Child("format")->Error("unknown trace format '" + format +
                                      "' (valid: csv, mahimahi, bandwidth_log)");
    }
    if (!t.ok()) return n.Child("trace")->Error(t.status().message());
    std::string default_col = t->columns().empty() ? "" : t->columns().front();
    ASSIGN_OR_RETURN(std::string col, n.GetString("column", default_col));
    auto ci = t->RequireColumn(col);
    if (!ci.ok()) return n.Error(ci.status().message());
    q.column = *ci;
    // Every value the run would read, as scaled, must be one the quantity can take.
    Status range = t->CheckRange(q.column, q.scale, lo, hi, what);
    if (!range.ok()) return n.Child("trace")->Error(range.message());
    q.trace = std::make_shared<const Trace>(std::move(t).value());
    return q;
  }
  if (n.Has("on")) {
    const KeyTable& keys = OnOffQuantityKeys();
    RETURN_IF_ERROR(keys.Check(n));
    // On/off is a load model: its levels (and jittered values) lie in [0, 1].
    if (lo > 0 || hi < 1) {
      return n.Error("an {on, off} model gives values in [0, 1], outside this quantity's range [" +
                     FormatDouble(lo) + ", " + FormatDouble(hi) +
                     "]; use a number, {mean, stddev} or {trace}");
    }
    q.kind = QuantitySpec::Kind::kOnOff;
    ASSIGN_OR_RETURN(q.on_off.on_level, keys.Number(n, "on"));
    ASSIGN_OR_RETURN(q.on_off.off_level, keys.Number(n, "off"));
    ASSIGN_OR_RETURN(q.on_off.mean_on_s, keys.Number(n, "mean_on_s"));
    ASSIGN_OR_RETURN(q.on_off.mean_off_s, keys.Number(n, "mean_off_s"));
    ASSIGN_OR_RETURN(q.on_off.jitter, keys.Number(n, "jitter"));
    return q;
  }
  // The range of mean, stddev, min and max is the quantity's, checked here.
  const KeyTable& keys = OuQuantityKeys();
  RETURN_IF_ERROR(keys.Check(n));
  q.kind = QuantitySpec::Kind::kOu;
  ASSIGN_OR_RETURN(q.ou.mean, n.GetDoubleIn("mean", lo, hi));
  ASSIGN_OR_RETURN(q.ou.stddev, n.GetDoubleIn("stddev", 0, hi - lo, 0.0));
  ASSIGN_OR_RETURN(q.ou.reversion_per_s, keys.Number(n, "reversion_per_s"));
  ASSIGN_OR_RETURN(q.ou.lo, n.GetDoubleIn("min", lo, hi, lo));
  ASSIGN_OR_RETURN(q.ou.hi, n.GetDoubleIn("max", lo, hi, hi));
  return q;
}

Result<LinkSpec> ParseLink(const ConfigNode& n) {
  LinkSpec link;
  if (n.IsNull() || (n.IsScalar() && n.raw().Scalar() == "none")) return link;
  RETURN_IF_ERROR(LinkKeys().Check(n));
  link.connected = true;
  ASSIGN_OR_RETURN(ConfigNode s, n.Child("signal_dbm"));
  ASSIGN_OR_RETURN(link.signal_dbm, ParseQuantity(s, -199, 0, "signal in dBm"));
  if (auto d = n.Optional("down_mbps")) {
    ASSIGN_OR_RETURN(QuantitySpec q, ParseQuantity(*d, 0, 1e6, "throughput in Mbit/s"));
    link.down_mbps = std::make_shared<QuantitySpec>(std::move(q));
  }
  if (auto u = n.Optional("up_mbps")) {
    ASSIGN_OR_RETURN(QuantitySpec q, ParseQuantity(*u, 0, 1e6, "throughput in Mbit/s"));
    link.up_mbps = std::make_shared<QuantitySpec>(std::move(q));
  }
  return link;
}

template <typename T>
Result<const T*> FindNamed(const std::vector<T>& v, const std::string& name, const char* what) {
  std::vector<std::string> names;
  for (const auto& x : v) {
    if (x.name == name) return &x;
    names.push_back(x.name);
  }
  std::string msg = std::string("unknown ") + what + " condition '" + name + "'";
  std::string near = NearestName(name, names);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  return Status::NotFound(msg + " (defined: " + JoinNames(names) + ")");
}

template <typename T>
Status CheckNew(const std::vector<T>& v, const std::string& name, const ConfigNode& where) {
  // Condition names become part of scenario names, reports and --save-tables file names.
  const std::string bad = CheckDisplayName(name);
  if (!bad.empty()) return where.Error("condition name '" + ToValidUtf8(name) + "' " + bad);
  for (const auto& x : v) {
    if (x.name == name) return where.Error("condition '" + name + "' is defined twice");
  }
  return Status::Ok();
}

// The quantity over [t0, t0 + duration] as a single-column trace in absolute time.
Trace Materialise(const QuantitySpec& q, const std::string& name, double t0, double duration,
                  uint64_t seed) {
  // Every second, or coarser for a very long episode: the samples are sized before generating
  // (kMaxEpisodeGeneratedSamples), whatever the request rate or trace times. The OU process
  // uses its exact transition, so its statistics do not depend on the step.
  const double step =
      GenerationStep(duration + 2.0, 1.0, kMaxEpisodeGeneratedSamples - 2);
  Trace base;
  switch (q.kind) {
    case QuantitySpec::Kind::kConstant:
      return Trace(name, {name}, {0.0}, {{q.value}});
    case QuantitySpec::Kind::kTrace: {
      // One column, scaled, keeping the source's period (Mahimahi: the recorded duration).
      return q.trace->Extract(q.column, name, q.scale);
    }
    case QuantitySpec::Kind::kOu:
      base = GenerateOu(name, name, q.ou, duration + 2 * step, step, seed);
      break;
    case QuantitySpec::Kind::kOnOff:
      base = GenerateOnOff(name, name, q.on_off, duration + 2 * step, step, seed);
      break;
  }
  std::vector<double> times = base.times();
  for (double& t : times) t += t0;
  Trace shifted(name, {name}, std::move(times), {base.values(0)});
  shifted.set_loop(false);
  return shifted;
}

}  // namespace

Status ConditionLibrary::Parse(const ConfigNode& root) {
  if (auto nets = root.Optional("networks")) {
    RETURN_IF_ERROR(nets->ExpectMap());
    for (auto& [name, n] : nets->Entries()) {
      RETURN_IF_ERROR(CheckNew(networks, name, n));
      RETURN_IF_ERROR(NetworkConditionKeys().Check(n));
      NetworkCondition c;
      c.name = name;
      if (auto w = n.Optional("wifi")) {
        ASSIGN_OR_RETURN(c.wifi, ParseLink(*w));
      }
      if (auto l = n.Optional("cellular")) {
        ASSIGN_OR_RETURN(c.cell, ParseLink(*l));
      }
      c.p2p_dbm.value = kNoSignalDbm;
      if (auto p = n.Optional("p2p_dbm")) {
        ASSIGN_OR_RETURN(c.p2p_dbm, ParseQuantity(*p, -199, 0, "signal in dBm"));
      }
      if (!c.wifi.connected && !c.cell.connected) {
        // Allowed (offline phone), but say nothing: remote targets are simply never feasible.
      }
      networks.push_back(std::move(c));
    }
  }
  if (auto loads_node = root.Optional("loads")) {
    RETURN_IF_ERROR(loads_node->ExpectMap());
    for (auto& [name, n] : loads_node->Entries()) {
      RETURN_IF_ERROR(CheckNew(loads, name, n));
      RETURN_IF_ERROR(LoadConditionKeys().Check(n));
      LoadCondition c;
      c.name = name;
      for (auto [key, dst] : {std::pair{"cpu", &c.cpu}, {"gpu", &c.gpu}, {"mem", &c.mem}}) {
        if (auto q = n.Optional(key)) {
          ASSIGN_OR_RETURN(*dst, ParseQuantity(*q, 0, 1, "load"));
        }
      }
      loads.push_back(std::move(c));
    }
  }
  if (auto reqs = root.Optional("requests")) {
    RETURN_IF_ERROR(reqs->ExpectMap());
    for (auto& [name, n] : reqs->Entries()) {
      RETURN_IF_ERROR(CheckNew(requests, name, n));
      const KeyTable& keys = RequestConditionKeys();
      RETURN_IF_ERROR(keys.Check(n));
      RequestCondition c;
      c.name = name;
      ASSIGN_OR_RETURN(c.latency_bound_ms, keys.Number(n, "latency_bound_ms"));
      ASSIGN_OR_RETURN(c.min_accuracy, keys.Number(n, "min_accuracy"));
      ASSIGN_OR_RETURN(c.rate_hz, keys.Number(n, "rate_hz"));
      c.node = std::make_shared<const ConfigNode>(n);
      if (auto a = n.Optional("min_accuracy")) c.min_accuracy_node = std::make_shared<ConfigNode>(*a);
      if (auto t = n.Optional("trace")) {
        ASSIGN_OR_RETURN(std::string file, t->AsString());
        c.trace_file = ResolvePath(n, file);
        auto specs = LoadRequestTrace(c.trace_file, c.latency_bound_ms, c.min_accuracy);
        if (!specs.ok()) return t->Error(specs.status().message());
        if (specs->empty()) return t->Error("the request trace holds no requests");
        c.trace = std::make_shared<const std::vector<RequestSpec>>(std::move(specs).value());
        c.trace_node = std::make_shared<ConfigNode>(*t);
      }
      requests.push_back(std::move(c));
    }
  }
  return Status::Ok();
}

Result<const NetworkCondition*> ConditionLibrary::Network(const std::string& name) const {
  return FindNamed(networks, name, "network");
}
Result<const LoadCondition*> ConditionLibrary::Load(const std::string& name) const {
  return FindNamed(loads, name, "load");
}
Result<const RequestCondition*> ConditionLibrary::Requests(const std::string& name) const {
  return FindNamed(requests, name, "requests");
}

float Episode::PrevGap(size_t i) const {
  return static_cast<float>(i == 0 ? mean_gap_s : time_s[i] - time_s[i - 1]);
}
float Episode::NextGap(size_t i) const {
  return static_cast<float>(i + 1 >= time_s.size() ? mean_gap_s : time_s[i + 1] - time_s[i]);
}

Status CheckRequestsServable(const Scenario& sc, const CostModel& cm) {
  const RequestCondition& rq = sc.requests;
  const std::vector<ModelProfile>& models = cm.models();
  const std::string device = cm.device().name;
  if (rq.trace) {
    const ConfigNode* where = rq.trace_node ? rq.trace_node.get() : rq.node.get();
    auto located = [&](const RequestSpec& r, const std::string& what) {
      const std::string msg = rq.trace_file + ":" + std::to_string(r.line) + ": " + what;
      return where ? where->Error(msg) : Status::InvalidArgument(msg);
    };
    for (const RequestSpec& r : *rq.trace) {
      int m = -1;
      for (size_t j = 0; j < models.size(); ++j) {
        if (models[j].name == r.model) m = static_cast<int>(j);
      }
      if (m < 0) {
        std::vector<std::string> names;
        for (const auto& x : models) names.push_back(x.name);
        return located(r, "model '" + r.model + "' is not in the experiment's models (" +
                              JoinNames(names) + ")");
      }
      const float best = cm.BestAccuracy(m);
      if (static_cast<float>(r.min_accuracy) > best) {
        return located(r, "min_accuracy " + FormatDouble(r.min_accuracy) + " can never be met: " +
                              "the most accurate way to run '" + r.model + "' on device '" +
                              device + "' reaches " + FormatDouble(best));
      }
    }
    return Status::Ok();
  }
  float best = -1;
  std::string best_model;
  for (int m = 0; m < cm.num_models(); ++m) {
    const float a = cm.BestAccuracy(m);
    if (a > best) {
      best = a;
      best_model = models[m].name;
    }
  }
  if (static_cast<float>(rq.min_accuracy) > best) {
    const ConfigNode* where = rq.min_accuracy_node ? rq.min_accuracy_node.get() : rq.node.get();
    const std::string msg = "requests '" + rq.name + "': min_accuracy " +
                            FormatDouble(rq.min_accuracy) +
                            " can never be met on device '" + device +
                            "': the most accurate of the experiment's models ('" + best_model +
                            "') reaches " + FormatDouble(best);
    return where ? where->Error(msg) : Status::InvalidArgument(msg);
  }
  return Status::Ok();
}

Result<Episode> BuildEpisode(const Scenario& sc, const std::vector<ModelProfile>& models,
                             ProfileCatalog& catalog, size_t first, size_t count, uint64_t seed,
                             uint64_t stream) {
  Episode ep;
  const uint64_t base = Mix64(seed, HashString(sc.name), stream);
  const RequestCondition& rq = sc.requests;
  ep.time_s.reserve(count);
  ep.model.reserve(count);
  if (rq.trace) {
    const auto& tr = *rq.trace;
    const double period =
        tr.back().time_s +
        (tr.size() > 1 ? (tr.back().time_s - tr.front().time_s) / (tr.size() - 1) : 1.0);
    for (size_t k = first; k < first + count; ++k) {
      const RequestSpec& r = tr[k % tr.size()];
      int m = -1;
      for (size_t j = 0; j < models.size(); ++j) {
        if (models[j].name == r.model) m = static_cast<int>(j);
      }
      if (m < 0) {
        return Status::InvalidArgument("scenario '" + sc.name + "': request " +
                                       std::to_string(k % tr.size() + 1) + " asks for model '" +
                                       r.model + "', which is not in the experiment's models");
      }
      ep.time_s.push_back(r.time_s + static_cast<double>(k / tr.size()) * period);
      ep.model.push_back(m);
      ep.latency_bound_ms.push_back(static_cast<float>(r.latency_bound_ms));
      ep.min_accuracy.push_back(static_cast<float>(r.min_accuracy));
    }
    ep.mean_gap_s = period / static_cast<double>(tr.size());
  } else {
    const double t0 = static_cast<double>(first) / rq.rate_hz;
    ep.time_s = GeneratePoissonArrivals(rq.rate_hz, count, t0, Mix64(base, 1));
    Rng rng(Mix64(base, 2));
    for (size_t k = 0; k < count; ++k) {
      ep.model.push_back(static_cast<int32_t>(rng.Below(static_cast<uint32_t>(models.size()))));
    }
    ep.latency_bound_ms.assign(count, static_cast<float>(rq.latency_bound_ms));
    ep.min_accuracy.assign(count, static_cast<float>(rq.min_accuracy));
    ep.mean_gap_s = 1.0 / rq.rate_hz;
  }
  if (count == 0) return ep;
  const double t0 = ep.time_s.front();
  const double duration = ep.time_s.back() - t0;

  const NetworkCondition& net = sc.network;
  ep.wifi_connected = net.wifi.connected;
  ep.cell_connected = net.cell.connected;
  auto signal = [&](const LinkSpec& l, const char* name, uint64_t salt) {
    QuantitySpec none;
    none.value = kNoSignalDbm;
    return Materialise(l.connected ? l.signal_dbm : none, name, t0, duration, Mix64(base, salt));
  };
  ep.wifi_dbm = signal(net.wifi, "wifi_dbm", 10);
  ep.cell_dbm = signal(net.cell, "cell_dbm", 11);
  ep.p2p_dbm = Materialise(net.p2p_dbm, "p2p_dbm", t0, duration, Mix64(base, 12));
  auto tput = [&](const std::shared_ptr<QuantitySpec>& q, const char* name, uint64_t salt) {
    return q ? Materialise(*q, name, t0, duration, Mix64(base, salt)) : Trace();
  };
  ep.wifi_down = tput(net.wifi.down_mbps, "wifi_down", 13);
  ep.wifi_up = tput(net.wifi.up_mbps, "wifi_up", 14);
  ep.cell_down = tput(net.cell.down_mbps, "cell_down", 15);
  ep.cell_up = tput(net.cell.up_mbps, "cell_up", 16);
  ep.cpu = Materialise(sc.load.cpu, "cpu", t0, duration, Mix64(base, 20));
  ep.gpu = Materialise(sc.load.gpu, "gpu", t0, duration, Mix64(base, 21));
  ep.mem = Materialise(sc.load.mem, "mem", t0, duration, Mix64(base, 22));
  if (ep.wifi_connected) {
    ASSIGN_OR_RETURN(ep.wifi_profile, catalog.Network("wifi"));
  }
  if (ep.cell_connected) {
    ASSIGN_OR_RETURN(ep.cell_profile, catalog.Network("lte"));
  }
  return ep;
}

namespace {
Trace::Cursor CursorOf(const Trace& t) { return t.empty() ? Trace::Cursor() : t.MakeCursor(0); }
}  // namespace

Observer::Observer(const Episode& ep, const std::vector<ModelProfile>& models)
    : ep_(ep),
      models_(models),
      wifi_(CursorOf(ep.wifi_dbm)),
      cell_(CursorOf(ep.cell_dbm)),
      p2p_(CursorOf(ep.p2p_dbm)),
      cpu_(CursorOf(ep.cpu)),
      gpu_(CursorOf(ep.gpu)),
      mem_(CursorOf(ep.mem)),
      wifi_down_(CursorOf(ep.wifi_down)),
      wifi_up_(CursorOf(ep.wifi_up)),
      cell_down_(CursorOf(ep.cell_down)),
      cell_up_(CursorOf(ep.cell_up)) {}

Observation Observer::At(size_t i) {
  Observation o;
  const double t = ep_.time_s[i];
  o.time_s = t;
  o.model = ep_.model[i];
  const ModelProfile& m = models_[o.model];
  o.conv_layers = m.conv_layers;
  o.fc_layers = m.fc_layers;
  o.recurrent_layers = m.recurrent_layers;
  o.macs = m.macs;
  o.cpu_load = static_cast<float>(cpu_.At(t));
  o.gpu_load = static_cast<float>(gpu_.At(t));
  o.mem_load = static_cast<float>(mem_.At(t));
  o.p2p_rssi_dbm = static_cast<float>(p2p_.At(t));
  // A link's signal, and its throughput from traces where given, else from the profile's curve.
  auto read_link = [t](const Trace& down_trace, const Trace& up_trace, const NetworkProfile& net,
                       Trace::Cursor& signal, Trace::Cursor& down, Trace::Cursor& up,
                       CurveMemo& memo, float* signal_dbm, float* down_mbps, float* up_mbps) {
    *signal_dbm = static_cast<float>(signal.At(t));
    if (down_trace.empty() || up_trace.empty()) {
      if (!(memo.signal_dbm == *signal_dbm)) {
        const NetworkProfile::Point p = net.At(*signal_dbm);
        memo = {*signal_dbm, static_cast<float>(p.down_mbps), static_cast<float>(p.up_mbps)};
      }
      *down_mbps = memo.down_mbps;
      *up_mbps = memo.up_mbps;
    }
    if (!down_trace.empty()) *down_mbps = static_cast<float>(down.At(t));
    if (!up_trace.empty()) *up_mbps = static_cast<float>(up.At(t));
  };
  if (ep_.wifi_connected) {
    read_link(ep_.wifi_down, ep_.wifi_up, *ep_.wifi_profile, wifi_, wifi_down_, wifi_up_,
              wifi_curve_, &o.wifi_rssi_dbm, &o.wifi_down_mbps, &o.wifi_up_mbps);
  }
  if (ep_.cell_connected) {
    read_link(ep_.cell_down, ep_.cell_up, *ep_.cell_profile, cell_, cell_down_, cell_up_,
              cell_curve_, &o.cell_rsrp_dbm, &o.cell_down_mbps, &o.cell_up_mbps);
  }
  o.latency_bound_ms = ep_.latency_bound_ms[i];
  o.min_accuracy = ep_.min_accuracy[i];
  return o;
}

}  // namespace autoscale
