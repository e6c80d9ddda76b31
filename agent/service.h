// The daemon's request server: applications speak the same KServe v2 / Open Inference Protocol
// as the worker, to a Unix socket or loopback TCP. Request parameters `latency_bound_ms` and
// `min_accuracy` carry each request's constraints. Plugs into HttpServer as its handler.
//
//   GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer      -> output "output" (FP32; binary when asked), with
//        response parameters latency_ms, energy_mj, decide_us, fallback (0/1) and the headers
//        X-Autoscale-Target and X-Autoscale-Action
//   GET  /v2/stats                    -> Engine::StatsJson() and "delivered"/"undelivered"
//   GET  /metrics                     -> Prometheus text
// The service may be plugged in before its engine exists (the daemon binds its socket first, so
// that a bad address fails before seconds of model preparation): until SetEngine, live answers
// 200, ready 503, and every other route 503.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/engine.h"
#include "core/byte_budget.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"

namespace autoscale {

class DaemonService {
 public:
  explicit DaemonService(Engine* engine, ParseLimits limits = {})
      : engine_(engine), limits_(limits) {}
  void Handle(HttpRequest&& request, Responder respond);

  // The engine is built and prepared: serve (readiness turns 200). Thread-safe.
  void SetEngine(Engine* engine) { engine_.store(engine); }
  bool ready() const { return engine_.load() != nullptr; }
  // The server has stopped: replies produced from now on reach nobody and are counted as
  // undelivered, not delivered. Thread-safe.
  void StopDelivering() { delivering_.store(false); }
  // Inference requests held at once may take `bytes` (each counted as its body plus its float
  // input); a request beyond it is answered 503 at once. 0: no bound. Call before serving.
  void SetMemoryBudget(size_t bytes) { budget_.set_limit(bytes > 0 ? bytes : SIZE_MAX); }
  int64_t inflight_bytes() const { return static_cast<int64_t>(budget_.held()); }
  // The engine's statistics with "delivered" and "undelivered" replies.
  std::string StatsJson() const;

 private:
  void Infer(Engine* engine, const std::string& model, HttpRequest&& request, Responder respond);
  std::atomic<Engine*> engine_;
  ParseLimits limits_;
  std::atomic<bool> delivering_{true};
  std::atomic<int64_t> delivered_{0}, undelivered_{0};
  ByteBudget budget_{SIZE_MAX};
};

}  // namespace autoscale
