// What the daemon's engine is told beyond its targets and models: learned-state persistence,
// request defaults, the remote deadline, the reward and the signals to assume without a radio.
// Its own header so that the daemon's configuration can hold one without the engine's includes.
#pragma once

#include <memory>
#include <string>

#include "env/profiles.h"
#include "env/types.h"
#include "policies/reward.h"

namespace autoscale {

// P-CNN's calibration (Song et al., the seed paper 000): a model served at a reduced precision
// (int8, fp16) on a local target has a sample of its requests run again at FP32 once the daemon
// is idle (no request in flight); the observed top-1 agreement updates that precision's accuracy
// estimate, FP32 accuracy x (prior_samples x prior agreement + agreements) / (prior_samples +
// samples), where the prior agreement is the profile's (measured at start-up, or the stated
// precision's accuracy over FP32's). A precision whose estimate falls below a request's floor is
// not offered to the policy for that request.
struct CalibrationOptions {
  double sample_rate = 0;     // share of reduced-precision local answers re-run at FP32; 0: off
  int max_pending = 16;       // samples waiting for an idle moment; beyond it, new ones dropped
  double prior_samples = 20;  // how many samples the profile's own estimate is worth
  uint64_t seed = 1;          // of the sampling
};

struct EngineOptions {
  RewardConfig reward;
  // Learned state; "" = not persisted. The daemon turns "default" into
  // STATE/autoscaled.qtable (agent/daemon_paths.h) before the engine sees it.
  std::string state_file;
  double save_interval_s = 60;  // 0 = only at shutdown
  std::string fallback;         // a local bound target; "" = the first local one
  float default_latency_bound_ms = 1000;
  float default_min_accuracy = 0;
  double remote_timeout_ms = 3000;  // deadline of an offload without a latency bound
  // Signal strength to assume when the probe sees no radio (a loopback or wired host); the
  // kNoSignalDbm default keeps remote targets infeasible there.
  float assumed_wifi_rssi_dbm = kNoSignalDbm;
  // The same for the Wi-Fi Direct link to a `nearby` target (no p2p group seen by the probe).
  float assumed_p2p_rssi_dbm = kNoSignalDbm;
  // The Wi-Fi profile: its curve gives the throughput before any is measured, and caps a
  // measured one (a loopback or wired "link" is not a radio; Huang et al.'s power model is only
  // valid within the radio's range). Null: measured values as they are.
  std::shared_ptr<const NetworkProfile> wifi;
  CalibrationOptions calibration;
};

}  // namespace autoscale
