#include "env/trace_gen.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/random.h"

namespace autoscale {
namespace {

// Stream tags, so that generators given the same seed are not correlated with each other.
constexpr uint64_t kOuStream = 0x4f552d70726f63ull;           // "OU-proc"
constexpr uint64_t kOnOffDwellStream = 0x6f6e6f66662d64ull;   // "onoff-d"
constexpr uint64_t kOnOffJitterStream = 0x6f6e6f66662d6aull;  // "onoff-j"
constexpr uint64_t kPoissonStream = 0x706f6973736f6eull;      // "poisson"
// On/off: beyond this many expected switches per sample step, states are drawn per sample.
constexpr double kMaxSwitchesPerStep = 64;

size_t SampleCount(double duration_s, double step_s) {
  if (!(duration_s > 0) || !(step_s > 0)) return 1;
  // The tiny slack keeps 10 / 0.1 at 100 samples despite rounding. Compared as a double before
  // the conversion, which would be undefined past size_t's range.
  const double n = std::ceil(duration_s / step_s - 1e-9);
  if (!(n < static_cast<double>(kMaxGeneratedSamples))) return kMaxGeneratedSamples;
  return std::max<size_t>(1, static_cast<size_t>(n));
}

std::vector<double> SampleTimes(size_t n, double step_s) {
  std::vector<double> times(n);
  for (size_t k = 0; k < n; ++k) times[k] = static_cast<double>(k) * step_s;
  return times;
}

}  // namespace

double GenerationStep(double duration_s, double min_step_s, size_t max_samples) {
  if (!(duration_s > 0) || !std::isfinite(duration_s) || max_samples < 2) return min_step_s;
  const double fit = duration_s / static_cast<double>(max_samples - 1);
  return std::max(min_step_s, fit);
}

Trace GenerateOu(const std::string& name, const std::string& column, const OuParams& p,
                 double duration_s, double step_s, uint64_t seed) {
  const size_t n = SampleCount(duration_s, step_s);
  Rng rng(Mix64(seed, kOuStream));
  const double dt = n > 1 ? step_s : 0.0;
  const double a = std::exp(-p.reversion_per_s * dt);
  const double noise = p.stddev * std::sqrt(std::max(0.0, 1.0 - a * a));
  std::vector<double> values(n);
  double x = p.mean;
  for (size_t k = 0; k < n; ++k) {
    if (k > 0) x = p.mean + (x - p.mean) * a + noise * rng.Normal();
    values[k] = std::clamp(x, p.lo, std::max(p.lo, p.hi));
  }
  return Trace(name, {column}, SampleTimes(n, step_s > 0 ? step_s : 1.0), {std::move(values)});
}

Trace GenerateOnOff(const std::string& name, const std::string& column, const OnOffParams& p,
                    double duration_s, double step_s, uint64_t seed) {
  const size_t n = SampleCount(duration_s, step_s);
  const std::vector<double> times = SampleTimes(n, step_s > 0 ? step_s : 1.0);
  Rng dwell(Mix64(seed, kOnOffDwellStream));
  Rng jitter(Mix64(seed, kOnOffJitterStream));
  const bool can_be_on = p.mean_on_s > 0;
  const bool can_be_off = p.mean_off_s > 0;
  const double p_on = !can_be_on    ? 0.0
                      : !can_be_off ? 1.0
                                    : p.mean_on_s / (p.mean_on_s + p.mean_off_s);
  bool on = dwell.Uniform() < p_on;
  const bool switches = can_be_on && can_be_off;
  // Walking every dwell costs time in proportion to duration / mean dwell, not to the samples:
  // a step of hours over dwells of seconds would take billions of draws. There, each sample's
  // state is drawn from the chain's exact transition over one step instead (the same law at the
  // sample times): P(on at t + dt) = p_on + (was_on - p_on) * exp(-(1/mean_on + 1/mean_off) dt).
  const double rate_sum = switches ? 1.0 / p.mean_on_s + 1.0 / p.mean_off_s : 0.0;
  const bool by_transition = switches && n > 1 && step_s * rate_sum > kMaxSwitchesPerStep;
  const double decay = by_transition ? std::exp(-rate_sum * step_s) : 0.0;
  double next_switch = switches && !by_transition
                           ? dwell.Exponential(on ? p.mean_on_s : p.mean_off_s)
                           : std::numeric_limits<double>::infinity();
  std::vector<double> values(n);
  for (size_t k = 0; k < n; ++k) {
    if (by_transition && k > 0) {
      const double p_next_on = p_on + ((on ? 1.0 : 0.0) - p_on) * decay;
      on = dwell.Uniform() < p_next_on;
    }
    while (times[k] >= next_switch) {
      on = !on;
      next_switch += dwell.Exponential(on ? p.mean_on_s : p.mean_off_s);
    }
    if (on) {
      const double noise = p.jitter > 0 ? p.jitter * jitter.Normal() : 0.0;
      values[k] = std::clamp(p.on_level + noise, 0.0, 1.0);
    } else {
      values[k] = p.off_level;
    }
  }
  return Trace(name, {column}, times, {std::move(values)});
}

std::vector<double> GeneratePoissonArrivals(double rate_hz, size_t count, double t0,
                                            uint64_t seed) {
  std::vector<double> out;
  if (!(rate_hz > 0)) return out;
  out.reserve(count);
  Rng rng(Mix64(seed, kPoissonStream));
  const double mean_gap = 1.0 / rate_hz;
  double t = t0;
  for (size_t i = 0; i < count; ++i) {
    t += rng.Exponential(mean_gap);
    out.push_back(t);
  }
  return out;
}

}  // namespace autoscale
