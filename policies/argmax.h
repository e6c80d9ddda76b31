// FirstArgMax: the greedy choice over a request's feasible actions, as the policies make it.
#pragma once

#include <span>

namespace autoscale {

// The position in `ids` of the first id whose value[id] is the greatest of those above `floor`,
// skipping `exclude`; -1 when none is above it (a NaN never is). As the plain loop
// `if (value[id] > best && id != exclude) best = value[id], at = k` with best = floor, but in
// four independent chains (positions k mod 4), joined at the end: one chain's compare-and-select
// waits for the one before, and over every action of a request that wait is what costs.
inline int FirstArgMax(const float* value, std::span<const int> ids, float floor, int exclude) {
  constexpr int kChains = 4;
  float best[kChains];
  int at[kChains];
  for (int j = 0; j < kChains; ++j) {
    best[j] = floor;
    at[j] = -1;
  }
  const int n = static_cast<int>(ids.size());
  int k = 0;
  for (; k + kChains <= n; k += kChains) {
    for (int j = 0; j < kChains; ++j) {
      const int id = ids[k + j];
      const float v = value[id];
      const bool better = v > best[j] && id != exclude;
      best[j] = better ? v : best[j];
      at[j] = better ? k + j : at[j];
    }
  }
  for (; k < n; ++k) {
    const int j = k % kChains;
    const int id = ids[k];
    const float v = value[id];
    const bool better = v > best[j] && id != exclude;
    best[j] = better ? v : best[j];
    at[j] = better ? k : at[j];
  }
  // Each chain holds its first position of its greatest value: the answer is the greatest of
  // those, the earliest position among equals.
  int found = -1;
  float found_value = floor;
  for (int j = 0; j < kChains; ++j) {
    if (at[j] < 0) continue;
    if (found < 0 || best[j] > found_value || (best[j] == found_value && at[j] < found)) {
      found = at[j];
      found_value = best[j];
    }
  }
  return found;
}

}  // namespace autoscale
