#include "policies/argmax.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace autoscale {
namespace {

// The loop FirstArgMax stands for.
int PlainFirstArgMax(const float* value, const std::vector<int>& ids, float floor, int exclude) {
  int at = -1;
  float best = floor;
  for (int k = 0; k < static_cast<int>(ids.size()); ++k) {
    if (value[ids[k]] > best && ids[k] != exclude) {
      best = value[ids[k]];
      at = k;
    }
  }
  return at;
}

TEST(FirstArgMax, AgreesWithThePlainLoopOnTiesNaNsAndInfinities) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 rng(12);
  // Few distinct values, so that ties are common; NaN and both infinities among them.
  const std::vector<float> pool = {-3.0f, -1.0f, -1.0f, 0.0f, 2.0f, 2.0f, kNaN, -kInf, kInf};
  int found = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const int num_actions = 1 + static_cast<int>(rng() % 40);
    std::vector<float> value(num_actions);
    for (float& v : value) v = pool[rng() % pool.size()];
    // Any subset of the actions, in any order (the policies get them increasing; the function
    // must not rely on it).
    std::vector<int> ids;
    for (int a = 0; a < num_actions; ++a) {
      if (rng() % 3 != 0) ids.push_back(a);
    }
    if (trial % 2 == 0) std::shuffle(ids.begin(), ids.end(), rng);
    const float floor = trial % 3 == 0 ? -kInf : pool[rng() % pool.size()];
    const int exclude = trial % 4 == 0 ? -1 : static_cast<int>(rng() % num_actions);
    const int want = PlainFirstArgMax(value.data(), ids, floor, exclude);
    ASSERT_EQ(FirstArgMax(value.data(), ids, floor, exclude), want)
        << "trial " << trial << ", " << ids.size() << " ids";
    found += want >= 0;
  }
  // The cases are not degenerate: most trials find something, some find nothing.
  EXPECT_GT(found, 10000);
  EXPECT_LT(found, 20000);
}

TEST(FirstArgMax, NothingAboveTheFloorIsMinusOne) {
  const std::vector<float> value = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(FirstArgMax(value.data(), std::vector<int>{0, 1, 2}, 3.0f, -1), -1);
  EXPECT_EQ(FirstArgMax(value.data(), std::vector<int>{}, 0.0f, -1), -1);
  // The greatest excluded: the next one.
  EXPECT_EQ(FirstArgMax(value.data(), std::vector<int>{0, 1, 2}, 0.0f, 2), 1);
}

}  // namespace
}  // namespace autoscale
