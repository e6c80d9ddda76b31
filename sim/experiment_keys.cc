#include "sim/experiment_keys.h"

#include "env/cost_model.h"
#include "env/trace.h"
#include "sim/experiment.h"
#include "sim/world.h"

namespace autoscale {

namespace {
using enum KeyType;
constexpr const char* kQuantity = "quantity";
}  // namespace

const KeyTable& ExperimentKeys() {
  static const KeyTable t(
      "",
      "An experiment: a grid of devices x networks x loads x requests conditions, each run for "
      "every policy and seed (`autoscale sim FILE`). Relative paths are relative to the file.",
      {
          Key("name", kString,
              "names the report folder results/NAME: 1 to 128 letters, digits, '_', '-' or '.', "
              "not starting with '.' or '-'")
              .Required(),
          Key("description", kString, "free text").DefaultString(""),
          Key("config_root", kString,
              "a folder holding devices/, networks/, models/ and scenarios/, searched first for "
              "names")
              .DefaultText("beside the file (its folder, or its parent for experiments/X.yaml), "
                           "then the shipped configs"),
          Key("conditions", kNames,
              "condition files whose networks, loads and requests the grid may name: a name "
              "(scenarios/NAME.yaml, beside the file first, then the shipped ones) or a path "
              "relative to the file"),
          Key("seeds", kList, "one run of every scenario and policy per seed")
              .Type("list of integers")
              .Values(">= 0; 1 to " + std::to_string(kMaxSeeds))
              .DefaultText("[1]"),
          Key("train_requests", kNumber, "requests of one training epoch")
              .Range(0, static_cast<double>(kMaxEpisodeRequests))
              .Default(20000),
          Key("eval_requests", kNumber, "requests of the evaluation episode")
              .Range(1, static_cast<double>(kMaxEpisodeRequests))
              .Default(5000),
          Key("train_epochs", kNumber, "training episodes before the evaluation")
              .Range(1, 1000)
              .Default(1),
          Key("series_bins", kNumber, "points of the over-time series in the reports")
              .Range(1, 10000)
              .Default(100),
          Key("model_dir", kString,
              "a folder of users' models: NAME.pt (with NAME.yaml) there is model NAME, before "
              "any shipped profile")
              .DefaultText("none"),
          Key("models", kNames,
              "`all` (every shipped profile and every model of model_dir) or model names")
              .Required(),
          Key("world", kMap, "the simulated world's noise and failures (see `world`)"),
          Key("reward", kMap, "the reward's penalties (see `reward` under Policy parameters)"),
          Key("grid", kMap, "the conditions to cross (see `grid`)").Required(),
          Key("networks", kMap, "inline network conditions, as in a condition file"),
          Key("loads", kMap, "inline load conditions, as in a condition file"),
          Key("requests", kMap, "inline request conditions, as in a condition file"),
          Key("policies", kList,
              "policy names, or maps (see `policies[]`); at most " +
                  std::to_string(kMaxPolicies))
              .Required(),
          Key("references", kMap,
              "the targets energy efficiency is measured against (see `references`)"),
          Key("beliefs", kMap,
              "`{DEVICE: PROFILE}`: the policies' cost model on DEVICE comes from PROFILE (a "
              "devices/ name or a path) while the world stays DEVICE's; same action space"),
      });
  return t;
}

const KeyTable& WorldKeys() {
  static const WorldOptions d;
  static const CostModelOptions c;
  static const KeyTable t(
      "world", "The simulated world: what the policies' cost model does not know.",
      {
          Key("compute_noise", kNumber, "lognormal sigma of compute time, per request and action")
              .Range(0, 2)
              .Default(d.compute_noise),
          Key("network_noise", kNumber, "lognormal sigma of link throughput")
              .Range(0, 2)
              .Default(d.network_noise),
          Key("remote_failure_rate", kNumber, "probability that an offload's connection drops")
              .Range(0, 1)
              .Default(d.remote_failure_rate),
          Key("remote_timeout_ms", kNumber, "the longest an offload waits for its answer")
              .Range(1, 1e7)
              .Default(c.remote_timeout_ms),
          Key("queueing", kBool,
              "model queues: a request waits until the local targets its action needs are free "
              "(each policy observes the waits); requests arriving faster than a target serves "
              "them queue up, and a pipelined target (targets[].pipeline) takes one per slowest "
              "stage. Off: every request finds its target idle")
              .Default(d.queueing),
      });
  return t;
}

const KeyTable& GridKeys() {
  static const KeyTable t(
      "grid", "Every combination is one scenario (at most " + std::to_string(kMaxScenarios) +
                  "). Each key takes a name or a list of names.",
      {
          Key("devices", kNames, "device profiles (configs/devices names or paths)").Required(),
          Key("networks", kNames, "network conditions").Required(),
          Key("loads", kNames, "co-runner load conditions").Required(),
          Key("requests", kNames, "request conditions").Required(),
      });
  return t;
}

const KeyTable& ReferenceKeys() {
  static const KeyTable t(
      "references",
      "Energy efficiency is reported against always running on these targets at fp32; every "
      "device of the grid must have both.",
      {
          Key("cpu", kString, "the local reference target").DefaultString("cpu_big"),
          Key("cloud", kString, "the offloading reference target").DefaultString("cloud"),
      });
  return t;
}

const KeyTable& PolicyEntryKeys() {
  static const KeyTable t(
      "policies[]",
      "A policy entry: a name (`autoscale policies` lists them), or this map. Each is checked "
      "on every device of the grid when the experiment loads.",
      {
          Key("name", kString, "the policy").Values("q_learning | static | model_greedy | random "
                                                    "| oracle")
              .Required(),
          Key("label", kString,
              "names the policy's rows in reports (and its --save-tables folder); unique")
              .DefaultText("the name"),
          Key("params", kMap, "the policy's parameters (see Policy parameters)"),
      });
  return t;
}

// ---- Conditions ------------------------------------------------------------------------------

const KeyTable& ConditionFileKeys() {
  static const KeyTable t(
      "",
      "Named conditions an experiment's grid refers to (its `conditions` list names such "
      "files). Names must be unique and plain text.",
      {
          Key("networks", kMap, "`{NAME: network condition}` (see `networks.NAME`)"),
          Key("loads", kMap, "`{NAME: load condition}` (see `loads.NAME`)"),
          Key("requests", kMap, "`{NAME: request condition}` (see `requests.NAME`)"),
      });
  return t;
}

const KeyTable& NetworkConditionKeys() {
  static const KeyTable t(
      "networks.NAME", "The links the phone has; with neither, remote targets are never offered.",
      {
          Key("wifi", kAny, "the Wi-Fi link (see `LINK`), or `none`")
              .Type("map or `none`")
              .DefaultText("`none`"),
          Key("cellular", kAny, "the LTE link (see `LINK`), or `none`")
              .Type("map or `none`")
              .DefaultText("`none`"),
          Key("p2p_dbm", kAny, "Wi-Fi Direct signal to the nearby device")
              .Type(kQuantity)
              .Values("[-199, 0]")
              .DefaultText("no nearby device"),
      });
  return t;
}

const KeyTable& LinkKeys() {
  static const KeyTable t(
      "LINK", "A link (`networks.NAME.wifi`, `networks.NAME.cellular`).",
      {
          Key("signal_dbm", kAny, "signal strength (Wi-Fi RSSI, LTE RSRP)")
              .Type(kQuantity)
              .Values("[-199, 0]")
              .Required(),
          Key("down_mbps", kAny, "downlink throughput")
              .Type(kQuantity)
              .Values("[0, 1e+06]")
              .DefaultText("the network profile's curve at the signal"),
          Key("up_mbps", kAny, "uplink throughput")
              .Type(kQuantity)
              .Values("[0, 1e+06]")
              .DefaultText("the network profile's curve at the signal"),
      });
  return t;
}

const KeyTable& LoadConditionKeys() {
  static const KeyTable t("loads.NAME", "Co-runner load, each in [0, 1].",
                          {
                              Key("cpu", kAny, "CPU load").Type(kQuantity).Values("[0, 1]").Default(0),
                              Key("gpu", kAny, "GPU load").Type(kQuantity).Values("[0, 1]").Default(0),
                              Key("mem", kAny, "memory load")
                                  .Type(kQuantity)
                                  .Values("[0, 1]")
                                  .Default(0),
                          });
  return t;
}

const KeyTable& RequestConditionKeys() {
  static const KeyTable t(
      "requests.NAME",
      "The request stream: generated (Poisson arrivals at rate_hz, each model of the experiment "
      "in turn) or replayed from a trace.",
      {
          Key("latency_bound_ms", kNumber, "each request's latency bound")
              .Range(kMinLatencyBoundMs, kMaxLatencyBoundMs)
              .Default(100),
          Key("min_accuracy", kNumber, "each request's accuracy floor").Range(0, 1).Default(0),
          Key("rate_hz", kNumber, "mean arrival rate").Range(1e-6, 1e6).Default(5),
          Key("trace", kString,
              "a request trace (CSV: time_s, model, and optionally latency_bound_ms, "
              "min_accuracy, which default to the keys above)")
              .DefaultText("generated"),
      });
  return t;
}

const KeyTable& TraceQuantityKeys() {
  static const KeyTable t(
      "QUANTITY (trace)",
      "A quantity (a number, or a map in one of three forms) read from a trace: every value, "
      "scaled, must lie in the quantity's range.",
      {
          Key("trace", kString, "the trace file").Required(),
          Key("format", kString,
              "`csv` (time_s and named columns), `mahimahi` (one line per 1500-byte delivery "
              "opportunity, in Mbit/s over window_s), `bandwidth_log` (`time_s Mbps` lines)")
              .Values("csv | mahimahi | bandwidth_log")
              .DefaultString("csv"),
          Key("column", kString, "the column to read").DefaultText("the first"),
          Key("scale", kNumber, "multiplies every value").Range(0, 1e9).Default(1),
          Key("window_s", kNumber, "mahimahi: averaging window").Range(1e-3, 3600).Default(1),
      });
  return t;
}

const KeyTable& OnOffQuantityKeys() {
  static const KeyTable t(
      "QUANTITY (on/off)",
      "A quantity that switches between two levels after exponentially distributed times (a "
      "load model: its range must include [0, 1]).",
      {
          Key("on", kNumber, "level while on").Range(0, 1).Required(),
          Key("off", kNumber, "level while off").Range(0, 1).Default(0),
          Key("mean_on_s", kNumber, "mean time on").Range(1e-3, 1e6).Default(10),
          Key("mean_off_s", kNumber, "mean time off").Range(1e-3, 1e6).Default(10),
          Key("jitter", kNumber, "noise added to the level").Range(0, 1).Default(0.05),
      });
  return t;
}

const KeyTable& OuQuantityKeys() {
  static const KeyTable t(
      "QUANTITY (random walk)",
      "A mean-reverting random walk (Ornstein-Uhlenbeck), clamped to [min, max].",
      {
          Key("mean", kNumber, "the level it reverts to").Values("the quantity's range").Required(),
          Key("stddev", kNumber, "stationary standard deviation")
              .Values("[0, the quantity's range]")
              .Default(0),
          Key("reversion_per_s", kNumber, "rate of reversion to the mean")
              .Range(1e-6, 1e3)
              .Default(0.05),
          Key("min", kNumber, "lower clamp")
              .Values("the quantity's range")
              .DefaultText("the range's lower end"),
          Key("max", kNumber, "upper clamp")
              .Values("the quantity's range")
              .DefaultText("the range's upper end"),
      });
  return t;
}

std::vector<const KeyTable*> ExperimentTables() {
  return {&ExperimentKeys(), &WorldKeys(), &GridKeys(), &ReferenceKeys(), &PolicyEntryKeys()};
}

std::vector<const KeyTable*> ConditionTables() {
  return {&ConditionFileKeys(),  &NetworkConditionKeys(), &LinkKeys(),
          &LoadConditionKeys(),  &RequestConditionKeys(), &TraceQuantityKeys(),
          &OnOffQuantityKeys(), &OuQuantityKeys()};
}

}  // namespace autoscale
