#include "targets/remote/link_estimator.h"

#include <algorithm>

namespace autoscale {
namespace {

constexpr double kMinMs = 0.05;

double Mbps(int64_t bytes, double ms) { return bytes * 8.0 / (std::max(ms, kMinMs) * 1000.0); }

}  // namespace

void LinkEstimator::Update(double* x, double sample) {
  *x = *x == 0 ? sample : *x + kAlpha * (sample - *x);
  ++e_.samples;
}

void LinkEstimator::AddProbe(double elapsed_ms, double connect_ms) {
  Update(&e_.rtt_ms, std::max(elapsed_ms - connect_ms, kMinMs));
}

void LinkEstimator::AddExchange(const LinkSample& s) {
  if (s.compute_ms < 0) return;  // without the worker's times, network and compute do not split
  const double server_ms = s.compute_ms + std::max(s.queue_ms, 0.0);
  const double network_ms = s.elapsed_ms - s.connect_ms - server_ms;
  if (s.bytes_up + s.bytes_down <= kSmallBytes) {
    Update(&e_.rtt_ms, std::max(network_ms, kMinMs));
    return;
  }
  if (e_.rtt_ms == 0) return;
  const double transfer_ms = network_ms - e_.rtt_ms;  // both directions
  const double down_guess_ms = e_.down_mbps > 0 ? s.bytes_down * 8.0 / (e_.down_mbps * 1000) : 0;
  const double up_guess_ms = e_.up_mbps > 0 ? s.bytes_up * 8.0 / (e_.up_mbps * 1000) : 0;
  if (s.bytes_up >= kLargeBytes) {
    Update(&e_.up_mbps, Mbps(s.bytes_up, std::max(transfer_ms - down_guess_ms, s.write_ms)));
  }
  if (s.bytes_down >= kLargeBytes) {
    Update(&e_.down_mbps, Mbps(s.bytes_down, transfer_ms - up_guess_ms));
  }
}

}  // namespace autoscale
