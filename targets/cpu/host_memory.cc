#include "targets/cpu/host_memory.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace autoscale {

namespace {

// Best-fit free blocks: a request takes the smallest cached block that holds it and is at most
// twice its size, so passes of different batch sizes share blocks. The context of each DataPtr
// is its data pointer (as c10's raw_allocate expects); its capacity is looked up in live_.
class CachingCpuAllocator final : public at::Allocator {
 public:
  static constexpr size_t kMinCached = 256 << 10;  // smaller ones are cheap in glibc
  static constexpr size_t kAlignment = 64;         // as c10's default CPU allocator

  CachingCpuAllocator(at::Allocator* base, size_t max_cached)
      : base_(base), max_cached_(max_cached) {}

  // libtorch 1.13 declares `DataPtr allocate(size_t) const`; 2.3 and later drop the const and
  // add a pure `copy_data`. Both overloads are defined, without `override`, so that each
  // libtorch finds the one it declares (the GPU machine's worker builds against a 2.x).
  at::DataPtr allocate(size_t n) const { return Allocate(n); }
  at::DataPtr allocate(size_t n) { return Allocate(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const {
    std::memcpy(dest, src, count);
  }

  at::DeleterFnPtr raw_deleter() const override { return &Release; }

  size_t cached() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

  static std::atomic<CachingCpuAllocator*> instance;

 private:
  at::DataPtr Allocate(size_t n) const {
    if (n < kMinCached) return base_->allocate(n);
    void* p = nullptr;
    size_t capacity = n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first <= 2 * n) {
        capacity = it->first;
        p = it->second;
        free_.erase(it);
        cached_ -= capacity;
      }
    }
    if (p == nullptr && posix_memalign(&p, kAlignment, n) != 0) throw std::bad_alloc();
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = capacity;
    }
    return at::DataPtr(p, p, &Release, at::Device(at::DeviceType::CPU));
  }

  static void Release(void* p) { instance.load()->Put(p); }

  void Put(void* p) const {
    std::vector<void*> evicted;
    bool ours = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        ours = true;
        const size_t capacity = it->second;
        live_.erase(it);
        if (capacity <= max_cached_) {
          // Over the cap: the smallest blocks go first (the big ones are the costly ones).
          while (cached_ + capacity > max_cached_ && !free_.empty()) {
            cached_ -= free_.begin()->first;
            evicted.push_back(free_.begin()->second);
            free_.erase(free_.begin());
          }
          free_.emplace(capacity, p);
          cached_ += capacity;
          p = nullptr;
        }
      }
    }
    for (void* e : evicted) std::free(e);
    if (p == nullptr) return;
    if (ours) {
      std::free(p);
    } else {
      base_->raw_deleter()(p);  // a small block from base_, freed through raw_deallocate
    }
  }

  at::Allocator* const base_;
  const size_t max_cached_;
  mutable std::mutex mu_;
  mutable std::multimap<size_t, void*> free_;       // capacity -> block; guarded by mu_
  mutable std::unordered_map<void*, size_t> live_;  // block -> capacity; guarded by mu_
  mutable size_t cached_ = 0;                       // guarded by mu_
};

std::atomic<CachingCpuAllocator*> CachingCpuAllocator::instance{nullptr};

}  // namespace

void InstallCachingHostAllocator(size_t max_cached_bytes) {
  static std::once_flag once;
  std::call_once(once, [&] {
    // Never destroyed: buffers it handed out may be freed during static destruction.
    auto* a = new CachingCpuAllocator(c10::GetCPUAllocator(), max_cached_bytes);
    CachingCpuAllocator::instance = a;
    c10::SetCPUAllocator(a, /*priority=*/1);
  });
}

void SetBlasThreads(int threads) {
  using SetThreads = void (*)(int);
  static const auto set =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set != nullptr) set(threads);
}

int BlasThreads() {
  using GetThreads = int (*)();
  static const auto get =
      reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : -1;
}

void UseOneBlasThread() {
  if (BlasThreads() != 1) SetBlasThreads(1);
}

OneTorchThreadHere::OneTorchThreadHere() : before_(at::get_num_threads()) {
  if (before_ != 1) at::set_num_threads(1);
}

OneTorchThreadHere::~OneTorchThreadHere() {
  if (before_ != 1) at::set_num_threads(before_);
}

size_t CachedHostBytes() {
  CachingCpuAllocator* a = CachingCpuAllocator::instance.load();
  return a != nullptr ? a->cached() : 0;
}

}  // namespace autoscale
