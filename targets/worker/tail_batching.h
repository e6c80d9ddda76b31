// Tail-aware batching (issue 14, point 3; the GPU tail effect of ../shared/seeds/002): a GPU runs
// a layer's thread blocks in waves of as many as its multiprocessors hold at once, so a batch
// whose last wave is mostly empty costs a whole wave for a few samples, and latency steps with
// the batch size instead of following its FLOPs. The worker measures each model's latency per
// batch size once, at load, and its batcher then closes batches only at sizes whose waves are
// well filled. These are the pure parts, with no torch and no threads: the rule that picks those
// sizes from a latency table, the batcher's decision, and the table's measurement through an
// Executor.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "targets/worker/executor.h"

namespace autoscale {

// The batch sizes worth closing, from a latency table: latency_ms[b - 1] is the latency of a
// pass of b samples, for b = 1..latency_ms.size() (the model's max batch size).
//
// Rule: with per-sample time c(b) = latency_ms[b - 1] / b and j* the size of least c at or
// below b, size b is preferred iff
//     c(b) <= (1 + max(tolerance, spread[b - 1], spread[j* - 1])) * c(j*),
// that is, no smaller batch serves its samples more than `tolerance` cheaper. A batch that
// starts a new wave pays for the whole wave with a few samples, so its c(b) jumps above the best
// at or below it and it is not preferred until the wave is filled again. On a stepped table
// latency(b) = ceil(b / 8) * 10 ms and tolerance 0.1 that is 1-8 (one wave, each the cheapest
// so far), 15-16, 22-24 and 30-32 (within 10% of 1.25 ms per sample); with tolerance 0, 1-8,
// 16, 24 and 32. Where latency grows no faster than the batch (a CPU, or a GPU below its first
// full wave), c(b) does not rise and every size is preferred: tail-aware batching then batches
// as plain dynamic batching does. Size 1 is always preferred. Sorted, ascending.
//
// `spread` (empty, or one per size: MeasureBatchLatency's) widens the tolerance to what the
// measurement itself could not tell apart, so that a busy machine's noise does not cut batches:
// where the passes of a size differed by 50%, a 40% step is not taken for a wave.
// InvalidArgument for an empty table, a latency that is not a finite positive number, a
// tolerance or spread that is not finite and >= 0, or a spread of another length.
Result<std::vector<int>> PreferredBatchSizes(std::span<const double> latency_ms, double tolerance,
                                             std::span<const double> spread = {});

// The batcher's decision: how many of the queued requests to run as the next batch, oldest
// first, or 0 to wait for more. `samples` holds the samples of the queued requests, oldest
// first (the caller may pass only the first max_batch + 1 of them: those decide it); each is at
// least 1 and at most max_batch. `may_wait` is false once the oldest request's queue-delay
// budget is spent (or the queue is stopping).
//
// Plain dynamic batching (`preferred` empty): wait while fewer than max_batch samples are queued
// and `may_wait`; then take the longest run of requests from the front whose samples fit in
// max_batch.
//
// Tail-aware (`preferred` from PreferredBatchSizes): let k be the samples of that longest run.
// Wait while `may_wait`, fewer than max_batch samples are queued, and some preferred size p with
// k < p <= max_batch may still be reached. Otherwise take the longest run from the front whose
// samples are a preferred size (the rest stay queued, at the front, for the next batch); when no
// run is (a request of several samples can skip a size), the longest run that fits. So a batch
// is never closed at a size whose last wave is mostly idle while the budget allows it to fill,
// and at the budget it is cut back to the largest well-filled size. The oldest request always
// goes in the batch, so none starves; waiting never outlasts the oldest request's budget.
int RequestsToBatch(std::span<const int> samples, int max_batch, std::span<const int> preferred,
                    bool may_wait);

// "auto" -> on when `device` is "cuda" (where waves exist), else off; "on"; "off". Anything else
// is InvalidArgument listing the valid names.
Result<bool> ResolveTailAwareBatching(const std::string& mode, const std::string& device);

// Latency per batch size, measured on `executor` (on its device) with zero inputs of
// [b, input_shape...]: `runs` rounds over the sizes 1..max_batch in turn (so that a change in
// the machine's speed while it measures, such as another program's load, falls on all sizes
// alike rather than on some), each size run twice in a row with the second pass timed (the first
// warms the shape up and settles the change from the size before), and per size the median of
// its timed PassTimes::total_ms (the pass with its copies to and from the device). `spread`, when
// not null, gets per size (slowest - fastest) / median of its timed passes: how far to trust
// the table. Errors are the executor's, naming the batch size; InvalidArgument for runs < 1.
Result<std::vector<double>> MeasureBatchLatency(Executor& executor,
                                                const std::vector<int64_t>& input_shape,
                                                int max_batch, int runs,
                                                std::vector<double>* spread = nullptr);

// Runs each batch size 1..max_batch twice in turn on `executor` (zero inputs of
// [b, input_shape...]), so that what a device does at a shape's first pass happens at load rather
// than in a request's: on CUDA, cuDNN choosing its algorithms and the caching allocator its
// blocks for the shape. Returns the ms of all first passes and of all second ones
// (PassTimes::total_ms), for the log. Errors are the executor's, naming the batch size.
struct WarmUpTimes {
  double first_ms = 0, second_ms = 0;
};
Result<WarmUpTimes> WarmBatchSizes(Executor& executor, const std::vector<int64_t>& input_shape,
                                   int max_batch);

// "1-8, 15-16, 24": sizes as ranges of consecutive values.
std::string FormatBatchSizes(std::span<const int> sizes);

}  // namespace autoscale
