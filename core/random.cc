#include "core/random.h"

#include <cmath>

namespace autoscale {

double NormalFromBits(uint64_t bits) {
  // Map to (0, 1) exclusive.
  double p = (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double lo = 0.02425, hi = 1 - lo;
  if (p < lo) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > hi) {
    // p rounds to exactly 1 when the top 53 bits are all set; use the mirror of bits == 0
    // (1 - p = 2^-54) instead of log(0), which made the result NaN.
    double q = std::sqrt(-2 * std::log(p < 1 ? 1 - p : 0x1.0p-54));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

namespace {
struct NormalTable {
  float z[4096];
  NormalTable() {
    for (uint64_t k = 0; k < 4096; ++k) {
      // Bits whose top 53 give the uniform (k + 0.5) / 4096 in NormalFromBits.
      z[k] = static_cast<float>(NormalFromBits(((k << 1) | 1) << 51));
    }
  }
};
const NormalTable kNormalTable;
}  // namespace

float FastNormalFromBits(uint64_t bits) { return kNormalTable.z[FastNormalIndex(bits)]; }
float FastNormalLevel(int index) { return kNormalTable.z[index]; }

double Rng::Exponential(double mean) {
  double u = (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53;
  return -mean * std::log(u);
}

}  // namespace autoscale
