// Parsing of autoscaled's YAML configuration.
#include "agent/daemon_config.h"

#include <algorithm>
#include <filesystem>

#include "policies/policy_keys.h"
#include "targets/target.h"

namespace autoscale {

namespace {

using enum KeyType;

std::string Resolve(const ConfigNode& node, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(node.Directory()) / path).lexically_normal().string();
}

// A `cpus` value: a CPU list such as `0-3,6`.
Result<std::vector<int>> ParseCpus(const ConfigNode& c) {
  ASSIGN_OR_RETURN(std::string list, c.AsString());
  auto cpus = ParseCpuList(list);
  if (!cpus.ok()) return c.Error(cpus.status().message());
  return cpus;
}

// A cpu_pipeline binding's `stages`: 1 to 8 core groups, none sharing a CPU with another.
Result<std::vector<TargetBinding::Stage>> ParseStages(const ConfigNode& list) {
  RETURN_IF_ERROR(list.ExpectSequence());
  if (list.size() < 1 || list.size() > 8) {
    return list.Error("expected 1 to 8 stages, got " + std::to_string(list.size()));
  }
  const KeyTable& keys = PipelineStageKeys();
  std::vector<TargetBinding::Stage> stages;
  for (size_t i = 0; i < list.size(); ++i) {
    const ConfigNode n = list.At(i);
    RETURN_IF_ERROR(keys.Check(n));
    TargetBinding::Stage st;
    if (auto c = n.Optional("cpus")) {
      ASSIGN_OR_RETURN(st.cpus, ParseCpus(*c));
      for (int cpu : st.cpus) {
        for (size_t j = 0; j < stages.size(); ++j) {
          if (std::find(stages[j].cpus.begin(), stages[j].cpus.end(), cpu) !=
              stages[j].cpus.end()) {
            return c->Error("CPU " + std::to_string(cpu) + " is also stage " + std::to_string(j) +
                            "'s: each stage needs cores of its own");
          }
        }
      }
    }
    ASSIGN_OR_RETURN(int64_t threads, keys.Integer(n, "threads"));
    st.threads = static_cast<int>(threads);
    stages.push_back(std::move(st));
  }
  return stages;
}

Result<TargetBinding> ParseBinding(const std::string& name, const ConfigNode& n) {
  const KeyTable& keys = TargetBindingKeys();
  RETURN_IF_ERROR(keys.Check(n));
  TargetBinding b;
  b.name = name;
  ASSIGN_OR_RETURN(b.backend, keys.String(n, "backend"));
  if (b.backend != "cpu" && b.backend != "cpu_pipeline" && b.backend != "opencl" &&
      b.backend != "dsp" && b.backend != "remote") {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("backend"));
    return c.Error("unknown backend '" + b.backend +
                   "' (expected cpu, cpu_pipeline, opencl, dsp or remote)");
  }
  const bool pipeline = b.backend == "cpu_pipeline";
  ASSIGN_OR_RETURN(int64_t threads, keys.Integer(n, "threads"));
  b.threads = static_cast<int>(threads);
  if (pipeline && n.Has("threads")) {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("threads"));
    return c.Error("a cpu_pipeline target sets threads per stage (stages[].threads)");
  }
  if (n.Has("cpus")) {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("cpus"));
    if (pipeline) return c.Error("a cpu_pipeline target pins each stage (stages[].cpus)");
    if (b.backend != "cpu" && b.backend != "dsp") {
      return c.Error("only cpu and dsp targets take 'cpus'");
    }
    ASSIGN_OR_RETURN(b.cpus, ParseCpus(c));
  }
  ASSIGN_OR_RETURN(b.cpufreq, keys.String(n, "cpufreq"));
  if (b.cpufreq != "auto" && b.cpufreq != "off") {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("cpufreq"));
    return c.Error("unknown cpufreq setting '" + b.cpufreq + "' (expected auto or off)");
  }
  if (n.Has("cpufreq") && b.backend != "cpu") {
    ASSIGN_OR_RETURN(ConfigNode c, n.Child("cpufreq"));
    return c.Error("only cpu targets take 'cpufreq'" +
                   std::string(pipeline ? " (a pipeline's stages run at the host's setting)" : ""));
  }
  if (pipeline) {
    if (auto st = n.Optional("stages")) {
      ASSIGN_OR_RETURN(b.stages, ParseStages(*st));
    }
    ASSIGN_OR_RETURN(int64_t in_flight, keys.Integer(n, "max_in_flight"));
    b.max_in_flight = static_cast<int>(in_flight);
    ASSIGN_OR_RETURN(int64_t search, keys.Integer(n, "search_requests"));
    b.search_requests = static_cast<int>(search);
  } else {
    for (const char* k : {"stages", "max_in_flight", "search_requests"}) {
      if (n.Has(k)) {
        ASSIGN_OR_RETURN(ConfigNode c, n.Child(k));
        return c.Error("only cpu_pipeline targets take '" + std::string(k) + "'");
      }
    }
  }
  if (b.backend == "remote") {
    if (!n.Has("endpoint")) return n.Error("missing required key 'endpoint' (a remote target's)");
    ASSIGN_OR_RETURN(b.endpoint, n.GetString("endpoint"));
    ASSIGN_OR_RETURN(b.wire, keys.String(n, "wire"));
    if (b.wire != "binary" && b.wire != "json" && b.wire != "uint8") {
      ASSIGN_OR_RETURN(ConfigNode c, n.Child("wire"));
      return c.Error("unknown wire format '" + b.wire + "' (expected binary, json or uint8)");
    }
    ASSIGN_OR_RETURN(int64_t f, keys.Integer(n, "failures_to_open"));
    b.failures_to_open = static_cast<int>(f);
    ASSIGN_OR_RETURN(b.open_cooldown_ms, keys.Number(n, "open_cooldown_ms"));
    ASSIGN_OR_RETURN(b.probe_interval_ms, keys.Number(n, "probe_interval_ms"));
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

// ---- Key tables ------------------------------------------------------------------------------

const KeyTable& DaemonConfigKeys() {
  static const DaemonConfig d;
  static const KeyTable t(
      "",
      "autoscaled's configuration (`autoscaled --config FILE`; configs/daemon/ holds a commented "
      "example). Relative paths are relative to the file.",
      {
          Key("device", kString,
              "the device profile: a configs/devices name, or a path ending in .yaml")
              .DefaultString(d.device),
          Key("models", kNames,
              "the models served: NAME.pt in model_dir is the user's model, else the shipped "
              "configs/models profile")
              .Required(),
          Key("model_dir", kString, "a folder of TorchScript models (NAME.pt + NAME.yaml)")
              .DefaultText("none"),
          Key("accuracy_estimate", kMap,
              "how a precision's accuracy a sidecar does not state is estimated at start-up (see "
              "`accuracy_estimate`)"),
          Key("calibration", kMap,
              "re-running reduced-precision answers at fp32 to measure agreement (see "
              "`calibration`); absent: off"),
          Key("listen", kString,
              "`unix:/PATH`, `HOST:PORT`, or `default`: a Unix socket in a folder the daemon "
              "owns (/run/autoscaled as root, else $XDG_RUNTIME_DIR/autoscaled)")
              .DefaultString(d.listen),
          Key("io_threads", kInteger, "threads serving connections")
              .Range(1, 64)
              .Default(d.io_threads),
          Key("max_request_mb", kNumber, "largest request body; larger ones get 413")
              .Range(0.001, 1024)
              .Default(static_cast<double>(d.max_request_bytes) / (1 << 20)),
          Key("max_inflight_mb", kNumber,
              "requests held at once (bodies and float inputs); beyond it, 503")
              .Range(1, 1 << 20)
              .Default(static_cast<double>(d.max_inflight_bytes) / (1 << 20)),
          Key("policy", kAny,
              "a policy name, or `{name, params}` (see `policy` and Policy parameters)")
              .Type("name or map")
              .DefaultString(d.policy),
          Key("state_file", kString,
              "learned state, saved atomically: a path, `default` (/var/lib/autoscaled as root, "
              "else $XDG_STATE_HOME/autoscaled), or empty: not saved")
              .DefaultString(d.engine.state_file),
          Key("save_interval_s", kNumber, "how often the state is saved; 0: only at shutdown")
              .Range(0, 86400)
              .Default(d.engine.save_interval_s),
          Key("fallback", kString, "the local target failed or late offloads run on")
              .DefaultText("the first available local target"),
          Key("defaults", kMap, "constraints of requests that carry none (see `defaults`)"),
          Key("remote_timeout_ms", kNumber, "deadline of an offload without a latency bound")
              .Range(1, 3.6e6)
              .Default(d.engine.remote_timeout_ms),
          Key("targets", kMap,
              "`{TARGET: binding}`: how targets of the device profile run here (see "
              "`targets.TARGET`); at least one")
              .Required(),
          Key("probes", kMap, "where load and signal are read (see `probes`)"),
          Key("reward", kMap, "the reward's penalties (see `reward` under Policy parameters)"),
          Key("seed", kInteger, "seed of exploration and calibration sampling")
              .AtLeast(0)
              .Default(static_cast<double>(d.seed)),
      });
  return t;
}

const KeyTable& DaemonPolicyKeys() {
  static const KeyTable t("policy", "The policy given as a map.",
                          {
                              Key("name", kString, "the policy (`autoscale policies`)").Required(),
                              Key("params", kMap, "its parameters (see Policy parameters)"),
                          });
  return t;
}

const KeyTable& AccuracyEstimateKeys() {
  static const AgreementOptions d;
  static const KeyTable t(
      "accuracy_estimate",
      "A user's model's accuracy at a precision its sidecar does not state: fp32 accuracy x the "
      "measured top-1 agreement with fp32 on sample inputs.",
      {
          Key("samples", kInteger, "sample inputs compared").Range(1, 10000).Default(d.max_samples),
          Key("seed", kInteger, "of the seeded inputs, when the sidecar names no samples folder")
              .AtLeast(0)
              .Default(static_cast<double>(d.seed)),
          Key("batch", kInteger, "inputs per inference").Range(1, 256).Default(d.batch),
      });
  return t;
}

const KeyTable& CalibrationKeys() {
  static const CalibrationOptions d;
  static const KeyTable t(
      "calibration",
      "While serving, a share of reduced-precision local answers is re-run at fp32 when the "
      "daemon is idle; the observed agreement updates that precision's accuracy estimate.",
      {
          Key("sample_rate", kNumber, "share of reduced-precision answers re-run at fp32")
              .Range(0, 1)
              .Default(0.05),
          Key("max_pending", kInteger, "samples waiting for an idle moment; beyond it, dropped")
              .Range(1, 4096)
              .Default(d.max_pending),
          Key("prior_samples", kNumber, "how many samples the profile's own estimate is worth")
              .Range(0, 1e9)
              .Default(d.prior_samples),
      });
  return t;
}

const KeyTable& RequestDefaultKeys() {
  static const EngineOptions d;
  static const KeyTable t("defaults", "Constraints of a request that states none.",
                          {
                              Key("latency_bound_ms", kNumber, "latency bound")
                                  .Range(0.001, 1e7)
                                  .Default(d.default_latency_bound_ms),
                              Key("min_accuracy", kNumber, "accuracy floor")
                                  .Range(0, 1)
                                  .Default(d.default_min_accuracy),
                          });
  return t;
}

const KeyTable& TargetBindingKeys() {
  static const TargetBinding d;
  static const KeyTable t(
      "targets.TARGET",
      "How one target of the device profile runs on this machine: a local backend or a KServe "
      "v2 worker (remote). Remote-only keys are errors on a local backend.",
      {
          Key("backend", kString,
              "the backend; `cpu_pipeline`: the model's layers split into stages, one per core "
              "group, requests streaming through them (several in flight)")
              .Values("cpu | cpu_pipeline | opencl | dsp | remote")
              .Required(),
          Key("threads", kInteger, "cpu: intra-op threads; 0: one per allowed CPU")
              .AtLeast(0)
              .Default(d.threads),
          Key("cpus", kString,
              "cpu, dsp: pin inference to these CPUs, e.g. `4-7`; for cpu, their cpufreq "
              "policy is the cluster whose frequency it sets")
              .DefaultText("none (no pinning)"),
          Key("cpufreq", kString,
              "cpu: `auto` sets the cluster's frequency for each run where cpufreq allows it "
              "(the profile's levels run at the nearest real frequencies, restored after each "
              "run); `off`: one level, the host's setting")
              .Values("auto | off")
              .DefaultString(d.cpufreq),
          Key("stages", kList,
              "cpu_pipeline: the stages in order, each a core group (see "
              "`targets.TARGET.stages[]`)")
              .DefaultText("one per cpufreq cluster, else the allowed CPUs in two halves"),
          Key("max_in_flight", kInteger,
              "cpu_pipeline: requests inside the stages at once; more wait in the daemon's queue")
              .Range(1, 1024)
              .Default(d.max_in_flight),
          Key("search_requests", kInteger,
              "cpu_pipeline: requests streamed through each candidate split when a model is "
              "prepared (Pipe-it's measured search: 3 interleaved rounds of at least 7, then "
              "the cuts around the fastest); 0: the balanced split as predicted")
              .Range(0, 10000)
              .Default(d.search_requests),
          Key("endpoint", kString, "remote: the worker, `HOST:PORT` or `unix:/PATH`")
              .DefaultText("remote: required"),
          Key("wire", kString, "remote: tensor encoding on the wire")
              .Values("binary | json | uint8")
              .DefaultString(d.wire),
          Key("failures_to_open", kInteger, "remote: failures in a row that open the breaker")
              .AtLeast(1)
              .Default(d.failures_to_open),
          Key("open_cooldown_ms", kNumber, "remote: how long an open breaker refuses requests")
              .Range(1, 3.6e6)
              .Default(d.open_cooldown_ms),
          Key("probe_interval_ms", kNumber, "remote: health-probe period")
              .Range(1, 3.6e6)
              .Default(d.probe_interval_ms),
      });
  return t;
}

const KeyTable& PipelineStageKeys() {
  static const TargetBinding::Stage d;
  static const KeyTable t(
      "targets.TARGET.stages[]",
      "One stage of a cpu_pipeline target: a core group running its share of the model's layers "
      "with its own intra-op threads. No two stages share a CPU.",
      {
          Key("cpus", kString, "pin the stage to these CPUs, e.g. `4-7`")
              .DefaultText("none (no pinning)"),
          Key("threads", kInteger, "intra-op threads; 0: one per CPU in `cpus` (1 when unpinned)")
              .Range(0, 1024)
              .Default(d.threads),
      });
  return t;
}

const KeyTable& ProbeKeys() {
  static const ProbeOptions d;
  static const KeyTable t(
      "probes",
      "Where the daemon reads co-runner load (/proc, /sys) and signal strength (wireless "
      "interfaces, or replayed traces).",
      {
          Key("interval_ms", kInteger, "background sampling period")
              .Range(1, 60000)
              .Default(d.interval_ms),
          Key("proc_root", kString, "the proc file system").DefaultString(d.proc_root),
          Key("sys_root", kString, "the sys file system").DefaultString(d.sys_root),
          Key("wifi_interface", kString, "the Wi-Fi interface")
              .DefaultText("the strongest non-p2p one in /proc/net/wireless"),
          Key("wifi_trace", kString, "a Wi-Fi signal trace (CSV, dBm over time) to replay")
              .DefaultText("none"),
          Key("cell_trace", kString, "an LTE signal trace (CSV, dBm over time) to replay")
              .DefaultText("none"),
          Key("wifi_trace_column", kString, "the wifi_trace column").DefaultText("the first"),
          Key("cell_trace_column", kString, "the cell_trace column").DefaultText("the first"),
          Key("assumed_wifi_rssi_dbm", kNumber,
              "Wi-Fi signal assumed when no radio is seen (a loopback or wired host); -200: none")
              .Range(-200, 0)
              .Default(-200),
          Key("p2p_interface", kString, "the Wi-Fi Direct interface")
              .DefaultText("the strongest p2p* one in /proc/net/wireless"),
          Key("p2p_trace", kString, "a Wi-Fi Direct signal trace to replay").DefaultText("none"),
          Key("p2p_trace_column", kString, "the p2p_trace column").DefaultText("the first"),
          Key("assumed_p2p_rssi_dbm", kNumber,
              "Wi-Fi Direct signal assumed when no p2p group is seen; -200: none")
              .Range(-200, 0)
              .Default(-200),
      });
  return t;
}

std::vector<const KeyTable*> DaemonConfigTables() {
  return {&DaemonConfigKeys(),   &DaemonPolicyKeys(),  &AccuracyEstimateKeys(), &CalibrationKeys(),
          &RequestDefaultKeys(), &TargetBindingKeys(), &PipelineStageKeys(),    &ProbeKeys()};
}

// ---- Parsing ---------------------------------------------------------------------------------

Result<DaemonConfig> ParseDaemonConfig(const ConfigNode& root) {
  const KeyTable& keys = DaemonConfigKeys();
  RETURN_IF_ERROR(keys.Check(root));
  DaemonConfig c;
  c.file = root.file();
  ASSIGN_OR_RETURN(c.device, keys.String(root, "device"));
  if (c.device.ends_with(".yaml")) c.device = Resolve(root, c.device);
  ASSIGN_OR_RETURN(ConfigNode models, root.Child("models"));
  ASSIGN_OR_RETURN(c.models, models.AsStringList());
  if (c.models.empty()) return models.Error("expected at least one model");
  ASSIGN_OR_RETURN(c.model_dir, keys.String(root, "model_dir", ""));
  c.model_dir = Resolve(root, c.model_dir);
  if (root.Has("model_dir")) {
    std::error_code ec;
    if (!std::filesystem::is_directory(c.model_dir, ec)) {
      ASSIGN_OR_RETURN(ConfigNode n, root.Child("model_dir"));
      return n.Error("'" + c.model_dir + "' is not a folder");
    }
  }
  if (auto a = root.Optional("accuracy_estimate")) {
    const KeyTable& ak = AccuracyEstimateKeys();
    RETURN_IF_ERROR(ak.Check(*a));
    ASSIGN_OR_RETURN(int64_t n, ak.Integer(*a, "samples"));
    ASSIGN_OR_RETURN(int64_t b, ak.Integer(*a, "batch"));
    ASSIGN_OR_RETURN(int64_t seed, ak.Integer(*a, "seed"));
    c.agreement.max_samples = static_cast<int>(n);
    c.agreement.batch = static_cast<int>(b);
    c.agreement.seed = static_cast<uint64_t>(seed);
  }
  if (auto k = root.Optional("calibration")) {
    const KeyTable& kk = CalibrationKeys();
    RETURN_IF_ERROR(kk.Check(*k));
    CalibrationOptions& o = c.engine.calibration;
    ASSIGN_OR_RETURN(o.sample_rate, kk.Number(*k, "sample_rate"));
    ASSIGN_OR_RETURN(int64_t pending, kk.Integer(*k, "max_pending"));
    o.max_pending = static_cast<int>(pending);
    ASSIGN_OR_RETURN(o.prior_samples, kk.Number(*k, "prior_samples"));
  }
  ASSIGN_OR_RETURN(c.listen, keys.String(root, "listen"));
  ASSIGN_OR_RETURN(int64_t io, keys.Integer(root, "io_threads"));
  c.io_threads = static_cast<int>(io);
  ASSIGN_OR_RETURN(double mb, keys.Number(root, "max_request_mb"));
  c.max_request_bytes = static_cast<size_t>(mb * (1 << 20));
  ASSIGN_OR_RETURN(double inflight_mb, keys.Number(root, "max_inflight_mb"));
  c.max_inflight_bytes = static_cast<size_t>(inflight_mb * (1 << 20));
  if (auto p = root.Optional("policy")) {
    if (p->IsScalar()) {
      ASSIGN_OR_RETURN(c.policy, p->AsString());
    } else {
      RETURN_IF_ERROR(DaemonPolicyKeys().Check(*p));
      ASSIGN_OR_RETURN(c.policy, p->GetString("name"));
      if (auto params = p->Optional("params")) c.policy_params = *params;
    }
  }
  ASSIGN_OR_RETURN(c.engine.state_file, keys.String(root, "state_file"));
  if (c.engine.state_file != "default") c.engine.state_file = Resolve(root, c.engine.state_file);
  ASSIGN_OR_RETURN(c.engine.save_interval_s, keys.Number(root, "save_interval_s"));
  ASSIGN_OR_RETURN(c.engine.fallback, keys.String(root, "fallback", ""));
  if (auto d = root.Optional("defaults")) {
    const KeyTable& dk = RequestDefaultKeys();
    RETURN_IF_ERROR(dk.Check(*d));
    ASSIGN_OR_RETURN(double bound, dk.Number(*d, "latency_bound_ms"));
    ASSIGN_OR_RETURN(double acc, dk.Number(*d, "min_accuracy"));
    c.engine.default_latency_bound_ms = static_cast<float>(bound);
    c.engine.default_min_accuracy = static_cast<float>(acc);
  }
  ASSIGN_OR_RETURN(c.engine.remote_timeout_ms, keys.Number(root, "remote_timeout_ms"));
  ASSIGN_OR_RETURN(ConfigNode targets, root.Child("targets"));
  for (const auto& [name, node] : targets.Entries()) {
    ASSIGN_OR_RETURN(TargetBinding b, ParseBinding(name, node));
    c.targets.push_back(std::move(b));
  }
  if (c.targets.empty()) return targets.Error("expected at least one target");
  if (auto p = root.Optional("probes")) {
    const KeyTable& pk = ProbeKeys();
    RETURN_IF_ERROR(pk.Check(*p));
    ASSIGN_OR_RETURN(int64_t iv, pk.Integer(*p, "interval_ms"));
    c.probes.interval_ms = static_cast<int>(iv);
    ASSIGN_OR_RETURN(c.probes.proc_root, pk.String(*p, "proc_root"));
    ASSIGN_OR_RETURN(c.probes.sys_root, pk.String(*p, "sys_root"));
    ASSIGN_OR_RETURN(c.probes.wifi_interface, pk.String(*p, "wifi_interface", ""));
    ASSIGN_OR_RETURN(c.probes.wifi_trace, pk.String(*p, "wifi_trace", ""));
    ASSIGN_OR_RETURN(c.probes.cell_trace, pk.String(*p, "cell_trace", ""));
    c.probes.wifi_trace = Resolve(*p, c.probes.wifi_trace);
    c.probes.cell_trace = Resolve(*p, c.probes.cell_trace);
    ASSIGN_OR_RETURN(c.probes.wifi_trace_column, pk.String(*p, "wifi_trace_column", ""));
    ASSIGN_OR_RETURN(c.probes.cell_trace_column, pk.String(*p, "cell_trace_column", ""));
    ASSIGN_OR_RETURN(double rssi, pk.Number(*p, "assumed_wifi_rssi_dbm"));
    c.engine.assumed_wifi_rssi_dbm = static_cast<float>(rssi);
    ASSIGN_OR_RETURN(c.probes.p2p_interface, pk.String(*p, "p2p_interface", ""));
    ASSIGN_OR_RETURN(c.probes.p2p_trace, pk.String(*p, "p2p_trace", ""));
    c.probes.p2p_trace = Resolve(*p, c.probes.p2p_trace);
    ASSIGN_OR_RETURN(c.probes.p2p_trace_column, pk.String(*p, "p2p_trace_column", ""));
    ASSIGN_OR_RETURN(double p2p, pk.Number(*p, "assumed_p2p_rssi_dbm"));
    c.engine.assumed_p2p_rssi_dbm = static_cast<float>(p2p);
  }
  if (auto r = root.Optional("reward")) {
    const KeyTable& rk = RewardKeys();
    RETURN_IF_ERROR(rk.Check(*r));
    ASSIGN_OR_RETURN(c.engine.reward.qos_penalty_mj, rk.Number(*r, "qos_penalty_mj"));
    ASSIGN_OR_RETURN(c.engine.reward.accuracy_penalty_mj, rk.Number(*r, "accuracy_penalty_mj"));
  }
  ASSIGN_OR_RETURN(int64_t seed, keys.Integer(root, "seed"));
  c.seed = static_cast<uint64_t>(seed);
  c.engine.calibration.seed = c.seed;
  return c;
}

Result<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  return ParseDaemonConfig(root);
}

}  // namespace autoscale
