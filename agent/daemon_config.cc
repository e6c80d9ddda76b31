// Parsing of autoscaled's YAML configuration.
#include "agent/daemon_config.h"

#include <filesystem>

namespace autoscale {

namespace {

std::string Resolve(const ConfigNode& node, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(node.Directory()) / path).lexically_normal().string();
}

Result<TargetBinding> ParseBinding(const std::string& name, const ConfigNode& n) {
  RETURN_IF_ERROR(n.ExpectMap());
  RETURN_IF_ERROR(n.CheckKeys({"backend", "threads", "endpoint", "wire", "failures_to_open",
                               "open_cooldown_ms", "probe_interval_ms"}));
  TargetBinding b;
  b.name = name;
  ASSIGN_OR_RETURN(b.backend, n.GetString("backend"));
  if (b.backend != "cpu" && b.backend != "opencl" && b.backend != "dsp" && b.backend != "remote") {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("backend"));
    return c.Error("unknown backend '" + b.backend + "' (expected cpu, opencl, dsp or remote)");
  }
  ASSIGN_OR_RETURN(int64_t threads, n.GetInt("threads", 0));
  if (threads < 0) {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("threads"));
    return c.Error("expected a thread count >= 0");
  }
  b.threads = static_cast<int>(threads);
  if (b.backend == "remote") {
    ASSIGN_OR_RETURN(b.endpoint, n.GetString("endpoint"));
    ASSIGN_OR_RETURN(b.wire, n.GetString("wire", b.wire));
    if (b.wire != "binary" && b.wire != "json" && b.wire != "uint8") {
      ASSIGN_OR_RETURN(ConfigNode c, n.Child("wire"));
      return c.Error("unknown wire format '" + b.wire + "' (expected binary, json or uint8)");
    }
    ASSIGN_OR_RETURN(int64_t f, n.GetInt("failures_to_open", b.failures_to_open));
    if (f < 1) {
      ASSIGN_OR_RETURN(ConfigNode c, n.Child("failures_to_open"));
      return c.Error("expected >= 1");
    }
    b.failures_to_open = static_cast<int>(f);
    ASSIGN_OR_RETURN(b.open_cooldown_ms,
                     n.GetDoubleIn("open_cooldown_ms", 1, 3.6e6, b.open_cooldown_ms));
    ASSIGN_OR_RETURN(b.probe_interval_ms,
                     n.GetDoubleIn("probe_interval_ms", 1, 3.6e6, b.probe_interval_ms));
  } else {
    for (const char* k :
         {"endpoint", "wire", "failures_to_open", "open_cooldown_ms", "probe_interval_ms"}) {
      if (n.Has(k)) {
        ASSIGN_OR_RETURN(ConfigNode c, n.Child(k));
        return c.Error("only remote targets take '" + std::string(k) + "'");
      }
    }
  }
  return b;
}

}  // namespace

Result<DaemonConfig> ParseDaemonConfig(const ConfigNode& root) {
  RETURN_IF_ERROR(root.ExpectMap());
  RETURN_IF_ERROR(root.CheckKeys(
      {"device", "models", "model_dir", "accuracy_estimate", "calibration", "listen", "io_threads",
       "max_request_mb", "max_inflight_mb", "policy", "state_file", "save_interval_s", "fallback",
       "defaults", "remote_timeout_ms", "targets", "probes", "reward", "seed"}));
  DaemonConfig c;
  c.file = root.file();
  ASSIGN_OR_RETURN(c.device, root.GetString("device", c.device));
  if (c.device.ends_with(".yaml")) c.device = Resolve(root, c.device);
  ASSIGN_OR_RETURN(ConfigNode models, root.Child("models"));
  ASSIGN_OR_RETURN(c.models, models.AsStringList());
  if (c.models.empty()) return models.Error("expected at least one model");
  ASSIGN_OR_RETURN(c.model_dir, root.GetString("model_dir", ""));
  c.model_dir = Resolve(root, c.model_dir);
  if (root.Has("model_dir")) {
    std::error_code ec;
    if (!std::filesystem::is_directory(c.model_dir, ec)) {
      ASSIGN_OR_RETURN(ConfigNode n, root.Child("model_dir"));
      return n.Error("'" + c.model_dir + "' is not a folder");
    }
  }
  if (auto a = root.Optional("accuracy_estimate")) {
    RETURN_IF_ERROR(a->ExpectMap());
    RETURN_IF_ERROR(a->CheckKeys({"samples", "seed", "batch"}));
    ASSIGN_OR_RETURN(double n, a->GetDoubleIn("samples", 1, 10000, c.agreement.max_samples));
    ASSIGN_OR_RETURN(double b, a->GetDoubleIn("batch", 1, 256, c.agreement.batch));
    ASSIGN_OR_RETURN(int64_t seed, a->GetInt("seed", 1));
    c.agreement.max_samples = static_cast<int>(n);
    c.agreement.batch = static_cast<int>(b);
    c.agreement.seed = static_cast<uint64_t>(seed);
  }
  if (auto k = root.Optional("calibration")) {
    RETURN_IF_ERROR(k->ExpectMap());
    RETURN_IF_ERROR(k->CheckKeys({"sample_rate", "max_pending", "prior_samples"}));
    CalibrationOptions& o = c.engine.calibration;
    ASSIGN_OR_RETURN(o.sample_rate, k->GetDoubleIn("sample_rate", 0, 1, 0.05));
    ASSIGN_OR_RETURN(double pending, k->GetDoubleIn("max_pending", 1, 4096, o.max_pending));
    o.max_pending = static_cast<int>(pending);
    ASSIGN_OR_RETURN(o.prior_samples, k->GetDoubleIn("prior_samples", 0, 1e9, o.prior_samples));
  }
  ASSIGN_OR_RETURN(c.listen, root.GetString("listen", c.listen));
  ASSIGN_OR_RETURN(int64_t io, root.GetInt("io_threads", c.io_threads));
  if (io < 1 || io > 64) {
    ASSIGN_OR_RETURN(ConfigNode n, root.Child("io_threads"));
    return n.Error("expected 1..64 threads");
  }
  c.io_threads = static_cast<int>(io);
  ASSIGN_OR_RETURN(double mb, root.GetDoubleIn("max_request_mb", 0.001, 1024, 32));
  c.max_request_bytes = static_cast<size_t>(mb * (1 << 20));
  ASSIGN_OR_RETURN(double inflight_mb, root.GetDoubleIn("max_inflight_mb", 1, 1 << 20, 256));
  c.max_inflight_bytes = static_cast<size_t>(inflight_mb * (1 << 20));
  if (auto p = root.Optional("policy")) {
    if (p->IsScalar()) {
      ASSIGN_OR_RETURN(c.policy, p->AsString());
    } else {
      RETURN_IF_ERROR(p->ExpectMap());
      RETURN_IF_ERROR(p->CheckKeys({"name", "params"}));
      ASSIGN_OR_RETURN(c.policy, p->GetString("name"));
      if (auto params = p->Optional("params")) c.policy_params = *params;
    }
  }
  ASSIGN_OR_RETURN(c.engine.state_file, root.GetString("state_file", ""));
  if (c.engine.state_file != "default") c.engine.state_file = Resolve(root, c.engine.state_file);
  ASSIGN_OR_RETURN(c.engine.save_interval_s, root.GetDoubleIn("save_interval_s", 0, 86400, 60));
  ASSIGN_OR_RETURN(c.engine.fallback, root.GetString("fallback", ""));
  if (auto d = root.Optional("defaults")) {
    RETURN_IF_ERROR(d->ExpectMap());
    RETURN_IF_ERROR(d->CheckKeys({"latency_bound_ms", "min_accuracy"}));
    ASSIGN_OR_RETURN(double bound, d->GetDoubleIn("latency_bound_ms", 0.001, 1e7, 1000));
    ASSIGN_OR_RETURN(double acc, d->GetDoubleIn("min_accuracy", 0, 1, 0));
    c.engine.default_latency_bound_ms = static_cast<float>(bound);
    c.engine.default_min_accuracy = static_cast<float>(acc);
  }
  ASSIGN_OR_RETURN(c.engine.remote_timeout_ms,
                   root.GetDoubleIn("remote_timeout_ms", 1, 3.6e6, 3000));
  ASSIGN_OR_RETURN(ConfigNode targets, root.Child("targets"));
  RETURN_IF_ERROR(targets.ExpectMap());
  for (const auto& [name, node] : targets.Entries()) {
    ASSIGN_OR_RETURN(TargetBinding b, ParseBinding(name, node));
    c.targets.push_back(std::move(b));
  }
  if (c.targets.empty()) return targets.Error("expected at least one target");
  if (auto p = root.Optional("probes")) {
    RETURN_IF_ERROR(p->ExpectMap());
    RETURN_IF_ERROR(p->CheckKeys({"interval_ms", "proc_root", "sys_root", "wifi_interface",
                                  "wifi_trace", "cell_trace", "wifi_trace_column",
                                  "cell_trace_column", "assumed_wifi_rssi_dbm", "p2p_interface",
                                  "p2p_trace", "p2p_trace_column", "assumed_p2p_rssi_dbm"}));
    ASSIGN_OR_RETURN(double iv, p->GetDoubleIn("interval_ms", 1, 60000, 200));
    c.probes.interval_ms = static_cast<int>(iv);
    ASSIGN_OR_RETURN(c.probes.proc_root, p->GetString("proc_root", c.probes.proc_root));
    ASSIGN_OR_RETURN(c.probes.sys_root, p->GetString("sys_root", c.probes.sys_root));
    ASSIGN_OR_RETURN(c.probes.wifi_interface, p->GetString("wifi_interface", ""));
    ASSIGN_OR_RETURN(c.probes.wifi_trace, p->GetString("wifi_trace", ""));
    ASSIGN_OR_RETURN(c.probes.cell_trace, p->GetString("cell_trace", ""));
    c.probes.wifi_trace = Resolve(*p, c.probes.wifi_trace);
    c.probes.cell_trace = Resolve(*p, c.probes.cell_trace);
    ASSIGN_OR_RETURN(c.probes.wifi_trace_column, p->GetString("wifi_trace_column", ""));
    ASSIGN_OR_RETURN(c.probes.cell_trace_column, p->GetString("cell_trace_column", ""));
    ASSIGN_OR_RETURN(double rssi, p->GetDoubleIn("assumed_wifi_rssi_dbm", -200, 0, -200));
    c.engine.assumed_wifi_rssi_dbm = static_cast<float>(rssi);
    ASSIGN_OR_RETURN(c.probes.p2p_interface, p->GetString("p2p_interface", ""));
    ASSIGN_OR_RETURN(c.probes.p2p_trace, p->GetString("p2p_trace", ""));
    c.probes.p2p_trace = Resolve(*p, c.probes.p2p_trace);
    ASSIGN_OR_RETURN(c.probes.p2p_trace_column, p->GetString("p2p_trace_column", ""));
    ASSIGN_OR_RETURN(double p2p, p->GetDoubleIn("assumed_p2p_rssi_dbm", -200, 0, -200));
    c.engine.assumed_p2p_rssi_dbm = static_cast<float>(p2p);
  }
  if (auto r = root.Optional("reward")) {
    RETURN_IF_ERROR(r->ExpectMap());
    RETURN_IF_ERROR(r->CheckKeys({"qos_penalty_mj", "accuracy_penalty_mj"}));
    ASSIGN_OR_RETURN(c.engine.reward.qos_penalty_mj,
                     r->GetDoubleIn("qos_penalty_mj", 0, 1e12, c.engine.reward.qos_penalty_mj));
    ASSIGN_OR_RETURN(
        c.engine.reward.accuracy_penalty_mj,
        r->GetDoubleIn("accuracy_penalty_mj", 0, 1e12, c.engine.reward.accuracy_penalty_mj));
  }
  ASSIGN_OR_RETURN(int64_t seed, root.GetInt("seed", 1));
  c.seed = static_cast<uint64_t>(seed);
  c.engine.calibration.seed = c.seed;
  return c;
}

Result<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseDaemonConfig(root);
}

}  // namespace autoscale
