// AUTOSCALE_VECTOR_CLONES marks a hot, vectorisable loop function to be built three times, for
// AVX-512, for AVX2 and for the baseline x86-64 (SSE2), the best the machine runs chosen when the
// program loads (GCC's target_clones, resolved once through an ifunc). No clone fuses a multiply
// and an add (CMakeLists.txt builds with -ffp-contract=off; AVX-512 has FMA instructions), so a
// loop of plain arithmetic, comparisons, selects and square roots gives the same values bit for
// bit in every build: results never depend on the machine (tests/sim/golden_test.cc checks the
// code for fused multiply-adds). Elsewhere (another compiler, architecture or C library) it
// expands to nothing, and under ThreadSanitizer too: the ifunc's resolver runs while the program
// is relocated, before TSan's runtime is up, and its instrumented entry crashed every test binary
// at load.
#pragma once

#include <cstddef>  // defines __GLIBC__ where the C library is glibc (ifuncs need it)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_THREAD__)
#define AUTOSCALE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AUTOSCALE_VECTOR_CLONES
#endif
