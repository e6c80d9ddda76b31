// Scenarios: the conditions one simulated run replays (network, co-runner load, requests) on one
// device, and their materialisation into an Episode of concrete requests and traces.
//
// Conditions come from YAML (an experiment's `networks`, `loads`, `requests` maps, or a shared
// file under configs/scenarios/); schema in configs/README.md and sim/README.md.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "env/cost_model.h"
#include "env/profiles.h"
#include "env/trace.h"
#include "env/trace_gen.h"
#include "env/types.h"

namespace autoscale {

// How one quantity (a signal strength, a load, a throughput) evolves over a run.
struct QuantitySpec {
  enum class Kind { kConstant, kOu, kOnOff, kTrace };
  Kind kind = Kind::kConstant;
  double value = 0;                    // kConstant
  OuParams ou;                         // kOu
  OnOffParams on_off;                  // kOnOff
  std::shared_ptr<const Trace> trace;  // kTrace
  int column = 0;                      // kTrace
  double scale = 1;                    // kTrace: multiplies the trace's values
};

struct LinkSpec {
  bool connected = false;
  QuantitySpec signal_dbm;
  // Throughput in Mbit/s from traces; when absent, from the network profile's signal curve.
  std::shared_ptr<QuantitySpec> down_mbps, up_mbps;
};

struct NetworkCondition {
  std::string name;
  LinkSpec wifi, cell;
  QuantitySpec p2p_dbm;  // Wi-Fi Direct signal to the nearby device
};

struct LoadCondition {
  std::string name;
  QuantitySpec cpu, gpu, mem;
};

struct RequestCondition {
  std::string name;
  double latency_bound_ms = 100;
  double min_accuracy = 0;
  double rate_hz = 5;
  // A request trace replaces the generated arrivals (models, bounds and floors come from it).
  std::shared_ptr<const std::vector<RequestSpec>> trace;
  std::string trace_file;  // the trace's path, for errors "FILE:LINE: ..."
  // Where the condition was defined (its map) and its min_accuracy / trace keys, for errors
  // found once the grid is known (a floor no model of the experiment can meet).
  std::shared_ptr<const ConfigNode> node, min_accuracy_node, trace_node;
};

// Generated quantities (Ornstein-Uhlenbeck, on/off) are sampled every second, or more coarsely
// when an episode lasts longer than this many seconds, so that no episode's generated trace
// holds more samples than this, however slow its request rate or late its request trace runs.
inline constexpr size_t kMaxEpisodeGeneratedSamples = size_t{1} << 17;



// Named conditions, parsed from YAML maps `networks:`, `loads:`, `requests:`.
struct ConditionLibrary {
  std::vector<NetworkCondition> networks;
  std::vector<LoadCondition> loads;
  std::vector<RequestCondition> requests;

  // Adds the conditions under `root` (keys networks, loads, requests); relative trace paths
  // resolve against the YAML file's folder. Redefining a name is an error.
  Status Parse(const ConfigNode& root);
  Result<const NetworkCondition*> Network(const std::string& name) const;
  Result<const LoadCondition*> Load(const std::string& name) const;
  Result<const RequestCondition*> Requests(const std::string& name) const;
};

struct Scenario {
  std::string name;  // "sd845/wifi_strong/none/realtime"
  std::string device;
  NetworkCondition network;
  LoadCondition load;
  RequestCondition requests;
};

// Checks that the requests of `scenario` can be served on `cost_model`'s device: every model a
// request trace names is in the catalogue, and some action can meet each request's accuracy
// floor (a generated stream: the floor is met for at least one model of the catalogue, since
// requests pick models at random; requests whose model cannot meet it are then simulated on the
// most accurate action and counted as accuracy violations). Errors are located at the YAML key
// or the trace line.
Status CheckRequestsServable(const Scenario& scenario, const CostModel& cost_model);

// One phase of one run: the requests and the traces they are observed against. Immutable once
// built; shared by every policy run of the same (scenario, seed, phase). Observers point into
// it, so it must not move while one is in use.
struct Episode {
  std::vector<double> time_s;
  std::vector<int32_t> model;  // index into the CostModel's model list
  std::vector<float> latency_bound_ms;
  std::vector<float> min_accuracy;
  double mean_gap_s = 0.2;
  // One single-column trace per observed quantity, in the episode's absolute time.
  Trace wifi_dbm, cell_dbm, p2p_dbm, cpu, gpu, mem;
  // Link throughput traces; empty: derived from the signal through the network profile.
  Trace wifi_down, wifi_up, cell_down, cell_up;
  bool wifi_connected = false, cell_connected = false;
  std::shared_ptr<const NetworkProfile> wifi_profile, cell_profile;

  size_t size() const { return time_s.size(); }
  // Seconds to the previous and next request (at the ends: the mean spacing).
  float PrevGap(size_t i) const;
  float NextGap(size_t i) const;
};

// Builds the episode of requests [first, first + count) of a run. Generated quantities use
// seeds derived from `seed` and `stream` (train and eval use different streams: held-out
// draws); trace-backed quantities and request traces are read at the episode's own times, so
// evaluation continues where training stopped. `models` is the catalogue; a request trace
// naming a model outside it is an error.
Result<Episode> BuildEpisode(const Scenario& scenario, const std::vector<ModelProfile>& models,
                             ProfileCatalog& catalog, size_t first, size_t count, uint64_t seed,
                             uint64_t stream);

// Reads observations of an episode in request order (trace cursors: amortised O(1) each).
class Observer {
 public:
  Observer(const Episode& ep, const std::vector<ModelProfile>& models);
  // The observation of request i; i must not decrease between calls.
  Observation At(size_t i);

 private:
  const Episode& ep_;
  const std::vector<ModelProfile>& models_;
  Trace::Cursor wifi_, cell_, p2p_, cpu_, gpu_, mem_;
  Trace::Cursor wifi_down_, wifi_up_, cell_down_, cell_up_;
  // A link's throughput from its profile's curve at the last signal read (traces hold their
  // values between samples, so the next request usually reads the same signal).
  struct CurveMemo {
    float signal_dbm = std::numeric_limits<float>::quiet_NaN();
    float down_mbps = 0, up_mbps = 0;
  };
  CurveMemo wifi_curve_, cell_curve_;
};

}  // namespace autoscale
