// Process-wide host memory and BLAS settings for libtorch's CPU passes, shared by the CPU targets
// and the worker. Torch-free header.
#pragma once

#include <cstddef>

namespace autoscale {

// Sizes the BLAS library's own thread pool to `threads` when it has one that libtorch does not
// size: libtorch 1.13 here runs GEMMs in OpenBLAS, whose pthreads pool defaults to one thread per
// CPU and spins beside the intra-op threads (16k context switches in 30 MobileNet v2 passes vs
// 500 with one BLAS thread). Calls openblas_set_num_threads when the process has it; otherwise
// does nothing. Process-wide; cheap (the worker's CPU passes set it each time: one BLAS thread
// for a sharded batch, `threads` for a single pass).
void SetBlasThreads(int threads);

// Makes libtorch's CPU allocator keep freed buffers of 256 KiB and more for reuse (best fit, a
// block serves requests down to half its size), up to `max_cached_bytes` in all (the smallest
// go first beyond that), instead of handing them back to the C library. A forward pass frees
// and re-allocates the same activation sizes every time; glibc serves buffers of tens of MB (a
// batch of 8 at 224x224) with fresh mmaps from a batcher thread's arena, and faulting their pages
// in again costs more than the convolutions on a virtual machine (1.4 M page faults for 30
// MobileNet v2 passes measured here). Process-wide and idempotent (the first call's cap stays);
// tensors allocated before keep their allocator. Thread-safe.
void InstallCachingHostAllocator(size_t max_cached_bytes);
// Bytes held in that cache now (0 when not installed).
size_t CachedHostBytes();

}  // namespace autoscale
