// What the network between this device and a remote worker looks like, learnt from the
// exchanges the remote target makes anyway (health probes and inferences); the daemon feeds the
// estimate into its Observation (wifi_up_mbps, wifi_down_mbps...). Plain state with no lock of its
// own: the owner (RemoteTarget) guards it.
//
// Every figure is an exponentially weighted moving average, x <- x + alpha (sample - x), the first
// sample taken as is. From one exchange (times in ms, from HttpResponse and the worker's reported
// compute_ms and queue_ms; `connect` is 0 on a reused connection):
//   RTT:  a health probe (a small GET): elapsed - connect.
//         an inference of small payloads (up + down <= kSmallBytes) whose worker reported its
//         times: elapsed - connect - compute - queue.
//   Up:   an inference with up >= kLargeBytes whose worker reported its times, once an RTT is
//         known: up_ms = elapsed - connect - rtt - compute - queue - down_bytes / down_rate (the
//         last term when a download rate is known), at least write_ms (the request cannot have
//         left faster than the socket took it); up_mbps = up_bytes * 8 / (up_ms * 1000).
//   Down: symmetrically, with down >= kLargeBytes and the upload term subtracted.
// Sample times are floored at 0.05 ms so that loopback links give large, finite rates.
#pragma once

#include <cstdint>

namespace autoscale {

struct LinkEstimate {
  double rtt_ms = 0;     // 0 until sampled
  double up_mbps = 0;    // 0 until sampled
  double down_mbps = 0;  // 0 until sampled
  int samples = 0;       // samples taken, of all three figures together
};

// One exchange, as the estimator sees it.
struct LinkSample {
  double elapsed_ms = 0;
  double connect_ms = 0;
  double write_ms = 0;
  int64_t bytes_up = 0;
  int64_t bytes_down = 0;
  double compute_ms = -1;  // the worker's report; < 0 when it gave none
  double queue_ms = -1;
};

class LinkEstimator {
 public:
  static constexpr double kAlpha = 0.2;
  static constexpr int64_t kSmallBytes = 16 << 10;
  static constexpr int64_t kLargeBytes = 32 << 10;

  void AddProbe(double elapsed_ms, double connect_ms);
  void AddExchange(const LinkSample& s);
  const LinkEstimate& estimate() const { return e_; }

 private:
  void Update(double* x, double sample);
  LinkEstimate e_;
};

}  // namespace autoscale
