// The cloud worker's inference service (DESIGN.md, `autoscale-worker`): the KServe v2 / Open
// Inference Protocol over HTTP/REST, JSON and binary tensors, with a model repository (zoo models
// by name and TorchScript files in a folder, see targets/model_store.h), dynamic batching and
// CUDA when the libtorch it was built with has it. It plugs into an HttpServer as its handler.
// No torch or Boost in this header.
//
// Routes:
//   GET  /v2/health/live              200 {"live": true}
//   GET  /v2/health/ready             200 {"ready": true}; 503 after Shutdown()
//   GET  /v2                          server metadata: name, version, extensions
//   GET  /v2/models/{name}            model metadata: platform, inputs and outputs with datatype
//                                     and shape (-1 for the batch); loads the model if needed
//   GET  /v2/models/{name}/ready      200 when loaded; 400 while not yet (a load is started)
//   POST /v2/models/{name}/infer      inference; JSON or binary tensors in and out
//   GET  /metrics                     Prometheus text format 0.0.4 (below)
// (/v2/models/{name}/versions/1/... is accepted too: every model has the one version "1".)
//
// Metrics, labelled by model (only models served get a label value; a request for another name
// counts under model=""). They cover Triton's per-model inference metrics, in Prometheus's base
// units, with histograms where Triton has cumulative microsecond counters (a histogram's _sum
// and _count are those counters):
//   autoscale_worker_...                   Triton
//   requests_total{code="200"} / {!="200"} nv_inference_request_success / _failure
//   inference_count_total                  nv_inference_count (samples; batch of N counts N)
//   execution_count_total                  nv_inference_exec_count (forward passes)
//   request_duration_seconds               nv_inference_request_duration_us
//   queue_duration_seconds                 nv_inference_queue_duration_us
//   compute_input_duration_seconds         nv_inference_compute_input_duration_us
//   compute_duration_seconds               nv_inference_compute_infer_duration_us
//   compute_output_duration_seconds        nv_inference_compute_output_duration_us
//   queue_depth                            nv_inference_pending_request_count
//   batch_size                             (the distribution of samples per pass)
// Triton adds a pass's compute times once per request in it; these count them once per pass.
// Per-pass metrics count the passes that succeeded; a failed pass fails its requests, which
// requests_total counts with their status (500).
//
// Infer requests carry one input, FP32 or UINT8 (see ToHostTensor in targets/kserve/kserve.h
// for how UINT8 images are normalised), of shape [N, input_shape...] or input_shape. The one
// output is "output", FP32; it comes back binary when the request asks for it. Responses carry
// "parameters": {"compute_ms", "queue_ms", "batch_size"}.
//
// Errors are {"error": "..."}: 400 for a malformed body or a wrong shape, type or name, or a
// batch over max_batch_size, 404 for a model not served (see WorkerOptions) or an unknown route,
// 405 for a wrong method, 500 when a model fails to load or run, 503 when the queue or its byte
// budget is full or the worker is shutting down. A model name is checked with
// IsSafeModelName before it is used, so no request reaches outside the model folder.
//
// Batching: each model has a queue and a batcher thread. The thread takes the oldest request and
// waits until `max_batch_size` samples are queued or `max_queue_delay_us` has passed since that
// request arrived, then runs them as one forward pass and answers each request with its rows.
// Models load on their batcher thread, on first use (or at Create for `models`), so a load never
// blocks the HTTP threads or other models.
//
// Tail-aware batching (`tail_aware_batching`, on by default on CUDA): a GPU runs a layer's thread
// blocks in waves, so a batch whose last wave is mostly empty costs nearly a whole wave more. At
// load the worker measures each model's latency per batch size 1..max_batch_size and derives the
// sizes worth closing (PreferredBatchSizes in targets/worker/tail_batching.h); the batcher then
// waits, within the oldest request's max_queue_delay_us, for the queue to reach such a size, and
// at the budget runs the largest one the queue holds, leaving the rest queued for the next batch
// (RequestsToBatch). The model's metadata lists the table and the sizes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/prometheus.h"
#include "core/status.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"

namespace autoscale {

struct WorkerOptions {
  // The models served: `models` (zoo names or model_dir files, loaded by Create) and every
  // NAME.pt in model_dir (loaded on first use). Any other name is 404 and loads nothing.
  std::string model_dir;            // TorchScript models (NAME.pt + NAME.yaml); "" = none
  std::vector<std::string> models;  // loaded by Create
  // Samples per forward pass, >= 1; a request whose own batch is larger gets 400.
  int max_batch_size = 8;
  // How long the oldest queued request may wait for others to join its batch, in [0, 10 s].
  // max_batch_size 1 runs requests one by one as soon as the thread is free (no batching); a
  // delay of 0 with max_batch_size > 1 batches whatever is already queued, without waiting.
  int64_t max_queue_delay_us = 2000;
  std::string device = "auto";  // "auto" (CUDA when available, else CPU), "cpu" or "cuda"
  int threads = 0;              // libtorch intra-op threads per forward; 0 = one per CPU
  int max_queue = 1024;         // queued requests per model beyond which infer answers 503
  // Bytes that infer requests accepted and not yet answered may hold in all (their bodies, their
  // JSON text's parsed tree while it exists, counted as 7 bytes per byte, and their inputs as
  // floats); a request beyond it gets 503 (413 when it alone is larger).
  size_t max_queue_bytes = size_t{512} << 20;
  ParseLimits limits;  // tensor sizes a request may carry
  // libtorch CPU buffers that forward passes free are kept for reuse, up to this many bytes
  // (0: off). Without it, batches of large activations are paged in afresh on every pass (see
  // InstallCachingHostAllocator in targets/worker/executor.h). Process-wide: the first Create
  // that asks installs it, with its cap.
  size_t host_cache_bytes = size_t{1} << 30;
  // Tail-aware batching (above): "auto" (on for cuda, off on the cpu, where there are no waves),
  // "on" or "off".
  std::string tail_aware_batching = "auto";
  // How much more per sample than the best smaller batch a preferred size may cost, in [0, 1].
  double tail_tolerance = 0.1;
  // With tail-aware batching on: this latency table ([b - 1]: ms for a pass of b samples, one
  // entry per batch size 1..max_batch_size) for every model instead of measuring each at load.
  // For tests, and tables measured before.
  std::vector<double> batch_latency_ms;
};

class Worker {
 public:
  // Checks the options (an unknown device, or "cuda" without a usable CUDA device, is an error),
  // then loads `options.models`; an error names the model and what failed.
  static Result<std::unique_ptr<Worker>> Create(const WorkerOptions& options);
  ~Worker();  // Shutdown()

  // The HttpHandler: answers at once (metadata, errors) or from a batcher thread (infer).
  // Thread-safe.
  void Handle(HttpRequest&& request, Responder respond);
  // Handle bound to this worker, for HttpServer::Start; the worker must outlive the server.
  HttpHandler handler();

  // Stops accepting infer requests (they get 503, and /v2/health/ready 503), answers those
  // already queued, and joins the batcher threads. Idempotent; blocks until drained.
  void Shutdown();

  // "cpu" or "cuda".
  std::string device() const;
  // The intra-op threads a forward pass uses.
  int threads() const;
  // Whether tail-aware batching is on (tail_aware_batching resolved for the device).
  bool tail_aware() const;
  // What GET /metrics renders.
  const MetricsRegistry& metrics() const;

  struct Impl;

 private:
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace autoscale
