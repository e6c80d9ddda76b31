// FirstArgMax: the greedy choice over a request's feasible actions, as the policies make it.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

namespace autoscale {

// The position in `ids` of the first id whose value[id] is the greatest of those above `floor`,
// skipping `exclude`; -1 when none is above it (a NaN never is). As the plain loop
// `if (value[id] > best && id != exclude) best = value[id], at = k` with best = floor, but in
// four independent chains (positions k mod 4), joined at the end: one chain's compare-and-select
// waits for the one before, and over every action of a request that wait is what costs.
namespace argmax_internal {
// One step of a chain, selecting through masks rather than branches (which the compiler would
// otherwise emit, and which mispredict on scores that rise and fall).
inline void Step(const float* value, int id, int k, int exclude, float& best, int& at) {
  const float v = value[id];
  const uint32_t take = 0u - static_cast<uint32_t>((v > best) & (id != exclude));
  const uint32_t vb = std::bit_cast<uint32_t>(v), bb = std::bit_cast<uint32_t>(best);
  best = std::bit_cast<float>((vb & take) | (bb & ~take));
  at = static_cast<int>((static_cast<uint32_t>(k) & take) | (static_cast<uint32_t>(at) & ~take));
}
}  // namespace argmax_internal

inline int FirstArgMax(const float* value, std::span<const int> ids, float floor, int exclude) {
  using argmax_internal::Step;
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
    for (int j = 0; j < kChains; ++j) Step(value, ids[k + j], k + j, exclude, best[j], at[j]);
  }
  for (; k < n; ++k) {
    Step(value, ids[k], k, exclude, best[k % kChains], at[k % kChains]);
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
