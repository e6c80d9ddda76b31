// Seeded generators for synthetic scenarios: signal strength, co-runner load, request arrivals.
// Built on autoscale::Rng only, so a seed gives the same trace on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "env/trace.h"

namespace autoscale {

// Samples are taken at t = k * step_s for k = 0 .. ceil(duration_s / step_s) - 1 (at least one;
// duration_s <= 0 or step_s <= 0 give the single sample at t = 0), so the period is about
// duration_s. At most kMaxGeneratedSamples samples are made: callers size step_s with
// GenerationStep() so that the whole duration fits; a longer request is cut at that many
// samples (never a runaway allocation).
inline constexpr size_t kMaxGeneratedSamples = size_t{1} << 20;

// The step to sample `duration_s` seconds at: `min_step_s`, or coarser when that would take more
// than `max_samples` samples (then duration_s / (max_samples - 1), so they span the duration).
// Non-finite or non-positive durations give min_step_s.
double GenerationStep(double duration_s, double min_step_s, size_t max_samples);

// Ornstein-Uhlenbeck process sampled every step_s: dx = theta*(mean - x)dt + sigma*sqrt(2*theta)dW
// with theta = reversion_per_s and sigma = stddev (so the stationary stddev is `stddev`), starting
// at mean. Stepped with the exact transition x' = mean + (x - mean)*a + stddev*sqrt(1 -
// a^2)*N(0,1), a = exp(-theta*step_s), so the statistics do not depend on step_s. The output is
// clamped to [lo, hi]; the process underneath is not. One column `column`.
struct OuParams {
  double mean = 0, stddev = 0, reversion_per_s = 0.1, lo = -1e300, hi = 1e300;
};
Trace GenerateOu(const std::string& name, const std::string& column, const OuParams& p,
                 double duration_s, double step_s, uint64_t seed);

// Two-state Markov on/off load in continuous time, sampled every step_s: in "on" the value is
// on_level + N(0, jitter) clamped to [0, 1] (drawn afresh per sample), in "off" off_level.
// Dwell times are exponential with the given means; the first state is drawn from the
// stationary distribution (on with probability mean_on_s / (mean_on_s + mean_off_s)). A mean
// dwell <= 0 means that state never occurs (both <= 0: always off). The on/off schedule does
// not depend on jitter or the levels. Column `column`. When a step spans many dwells (more
// than 64 expected switches), each sample's state is drawn from the exact two-state transition
// over the step instead of walking every dwell, so the time taken is bounded by the samples.
struct OnOffParams {
  double on_level = 0.8, off_level = 0.0, mean_on_s = 5, mean_off_s = 5, jitter = 0.05;
};
Trace GenerateOnOff(const std::string& name, const std::string& column, const OnOffParams& p,
                    double duration_s, double step_s, uint64_t seed);

// Poisson arrivals at rate_hz: `count` nondecreasing arrival times after t0 (the first is t0 plus
// an exponential gap). Empty when rate_hz <= 0.
std::vector<double> GeneratePoissonArrivals(double rate_hz, size_t count, double t0, uint64_t seed);

}  // namespace autoscale
