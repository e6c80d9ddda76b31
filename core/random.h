// Seeded, fast, platform-independent randomness. The standard library's distributions differ
// between implementations, so the simulator uses these to keep results byte-identical anywhere.
#pragma once

#include <cstdint>
#include <string_view>

namespace autoscale {

// SplitMix64 finaliser: a strong 64-bit mix, used for counter-based (stateless) randomness.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline uint64_t Mix64(uint64_t a, uint64_t b) { return Mix64(a ^ Mix64(b)); }
inline uint64_t Mix64(uint64_t a, uint64_t b, uint64_t c) { return Mix64(Mix64(a, b), c); }

// FNV-1a of a string: a stable seed component from a name (a scenario's, say).
inline uint64_t HashString(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Uniform in [0, 1) from the top 53 bits.
inline double ToUnit(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

// A standard normal deviate from 64 random bits (inverse CDF, Acklam's rational approximation,
// relative error below 1.2e-9). Deterministic across platforms for the same bits.
double NormalFromBits(uint64_t bits);

// A standard normal deviate quantised to 4096 equiprobable levels (the quantiles at
// (k + 0.5) / 4096, so |z| <= 3.5): a table lookup for hot loops such as the simulator's
// noise. Same bits, same value, on every platform.
float FastNormalFromBits(uint64_t bits);
// Which of the 4096 levels FastNormalFromBits(bits) is (the top 12 bits), for tables of a
// function of it: FastNormalFromBits(bits) == FastNormalLevel(FastNormalIndex(bits)).
constexpr int kFastNormalLevels = 4096;
inline int FastNormalIndex(uint64_t bits) { return static_cast<int>(bits >> 52); }
float FastNormalLevel(int index);

// xoshiro256** (Blackman and Vigna): the sequential generator for policies and trace generators.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : s_) s = x = Mix64(x);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  double Uniform() { return ToUnit(Next()); }  // [0, 1)
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n); n > 0. Lemire's multiply-shift, unbiased enough for n << 2^32.
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }
  double Normal() { return NormalFromBits(Next()); }
  double Exponential(double mean);

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace autoscale
