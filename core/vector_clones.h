// AUTOSCALE_VECTOR_CLONES marks a hot, vectorisable loop function to be built twice, for AVX2
// and for the baseline x86-64 (SSE2), the better chosen when the program loads (GCC's
// target_clones, resolved once through an ifunc). "avx2" enables no fused multiply-add, so a
// loop of plain arithmetic, comparisons, selects and square roots gives the same values bit for
// bit in both builds: results never depend on the machine. Elsewhere (another compiler,
// architecture or C library) it expands to nothing, and under ThreadSanitizer too: the ifunc's
// resolver runs while the program is relocated, before TSan's runtime is up, and its
// instrumented entry crashed every test binary at load.
#pragma once

#include <cstddef>  // defines __GLIBC__ where the C library is glibc (ifuncs need it)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_THREAD__)
#define AUTOSCALE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AUTOSCALE_VECTOR_CLONES
#endif
