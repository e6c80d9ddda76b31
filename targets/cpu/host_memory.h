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
// OpenBLAS's thread count now; -1 when the process has no OpenBLAS.
int BlasThreads();
// What the CPU targets and the pipelined target use: one BLAS thread, once, when they are
// created (before any of their runs). OpenBLAS's pool threads are neither a target's intra-op
// threads nor pinned to its cores, and after every GEMM they spin for a while on whichever core
// is free; at batch 1 only the classifier is a GEMM (convolutions go to oneDNN), so a second BLAS
// thread gains next to nothing and steals a core from the OpenMP threads or the other stage. On a
// 2-vCPU VM, MobileNet v2 through two one-core stages streamed 57-60 requests/s with the default
// pool (one thread per CPU) against 87-90 with one thread, and intra-op parallelism on both
// cores measured right after it 21-22 against 62-73 (`autoscale pipeline mobilenet_v2 --measure
// 200 --search 0`, OPENBLAS_NUM_THREADS unset and 1, two runs each). Every local target sets the
// same value, so none changes it under another's run; the worker's executor sets its own per
// pass (another process).
void UseOneBlasThread();

// Holds the calling thread to one libtorch intra-op thread while it lives, and gives back the
// count it found. For a target's work on a thread that does not run its requests: a model's build
// in Prepare, which the daemon calls on its main thread (Engine::PrepareLocal) and benchmarks on
// theirs. Built with that thread's count (two here), the build's parallel loops started an OpenMP
// team for that thread, and the same target's intra-op runs on its own thread then took twice as
// long: MobileNet v2 on two threads 95 against 179-191 requests/s (`pipeline_bench
// --benchmark_filter=BM_IntraOp/mobilenet_v2`, 2-vCPU AMD EPYC VM, 2026-12-04), as libgomp does
// when it counts more of its threads than CPUs and stops spinning between parallel regions. Takes
// no lock: a caller that shares libtorch's settings with other targets holds its own around it.
class OneTorchThreadHere {
 public:
  OneTorchThreadHere();
  ~OneTorchThreadHere();
  OneTorchThreadHere(const OneTorchThreadHere&) = delete;
  OneTorchThreadHere& operator=(const OneTorchThreadHere&) = delete;

 private:
  int before_;
};

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
