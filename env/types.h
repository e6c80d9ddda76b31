// The vocabulary shared by every layer: precisions, target kinds, actions, observations and
// outcomes (DESIGN.md, "One request, end to end"). Plain value types, cheap to copy, no heap.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.h"

namespace autoscale {

enum class Precision : uint8_t { kFp32 = 0, kFp16 = 1, kInt8 = 2 };
inline constexpr int kNumPrecisions = 3;
std::string_view PrecisionName(Precision p);
Result<Precision> ParsePrecision(std::string_view name);

// What executes a request. Local kinds run on the phone; remote kinds offload over a network.
enum class TargetKind : uint8_t { kCpu = 0, kGpu = 1, kDsp = 2, kCloud = 3, kNearby = 4 };
inline constexpr int kNumTargetKinds = 5;
std::string_view TargetKindName(TargetKind k);
Result<TargetKind> ParseTargetKind(std::string_view name);
inline bool IsRemote(TargetKind k) { return k == TargetKind::kCloud || k == TargetKind::kNearby; }

// Targets whose queue an observation carries (Observation::wait_ms).
inline constexpr int kMaxWaitTargets = 12;

// Signal strength when a radio is not connected.
inline constexpr float kNoSignalDbm = -200.0f;

// One choice for one request: which of the device's targets, at which precision, at which
// frequency level (index into that target's levels; 0 = highest frequency; remote targets have
// one level). `target` indexes DeviceProfile::targets.
struct Action {
  uint8_t target = 0;
  Precision precision = Precision::kFp32;
  uint8_t level = 0;
  bool operator==(const Action&) const = default;
};

// What the agent sees before deciding (DESIGN.md: signal, link throughput, interference, model
// features, constraints). Filled by the simulator from traces or by the daemon from probes.
struct Observation {
  double time_s = 0;
  // The model requested: index into the experiment's model catalogue, and its features.
  int32_t model = 0;
  int32_t conv_layers = 0;
  int32_t fc_layers = 0;
  int32_t recurrent_layers = 0;
  double macs = 0;
  // Co-runner utilisation in [0, 1].
  float cpu_load = 0;
  float gpu_load = 0;
  float mem_load = 0;
  // Wireless: signal strength in dBm (kNoSignalDbm when not connected) and the link
  // throughput the device last observed, downlink and uplink, in Mbit/s.
  float wifi_rssi_dbm = kNoSignalDbm;
  float cell_rsrp_dbm = kNoSignalDbm;
  float wifi_down_mbps = 0, wifi_up_mbps = 0;
  float cell_down_mbps = 0, cell_up_mbps = 0;
  float p2p_rssi_dbm = kNoSignalDbm;  // Wi-Fi Direct link to a nearby device
  // Constraints of this request.
  float latency_bound_ms = std::numeric_limits<float>::infinity();
  float min_accuracy = 0;
  // Queues (issue 14): per device-profile target index, how long a request started now would
  // wait before that local target is free (ms; 0: idle, and always 0 for remote targets and
  // for targets at index kMaxWaitTargets and beyond). The simulator fills it from the requests
  // its queue model holds (world.queueing), the daemon from its executors' queues; the cost
  // model adds it to a local action's latency (CostModel::QueuedLatencyMs).
  std::array<float, kMaxWaitTargets> wait_ms{};

  bool wifi_connected() const { return wifi_rssi_dbm > kNoSignalDbm; }
  bool cell_connected() const { return cell_rsrp_dbm > kNoSignalDbm; }
};

// What running one request cost. `failed` means no output came back: nothing could answer (an
// offload given up with no fallback able to run the model; an offload the deadline cut short
// that a fallback answered is not failed, CostModel::Evaluate). Its latency and energy are what
// was spent before the failure.
struct Outcome {
  float latency_ms = 0;
  float energy_mj = 0;
  float accuracy = 0;
  bool failed = false;
};

// Constraint checks shared by reward, metrics and the oracle.
inline bool MissesLatency(const Outcome& o, const Observation& obs) {
  return o.failed || o.latency_ms > obs.latency_bound_ms;
}
inline bool MissesAccuracy(const Outcome& o, const Observation& obs) {
  return o.failed || o.accuracy < obs.min_accuracy;
}
// Both checks packed for a prediction kept without its Outcome (CostModel::PredictFeasible):
// bit 0: it fails; bit 1: MissesAccuracy().
inline int32_t MissFlags(const Outcome& o, const Observation& obs) {
  return static_cast<int32_t>(o.failed) | (static_cast<int32_t>(MissesAccuracy(o, obs)) << 1);
}

}  // namespace autoscale
