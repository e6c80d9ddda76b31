// The daemon's request server: applications speak the same KServe v2 / Open Inference Protocol
// as the worker, to a Unix socket or loopback TCP. Request parameters `latency_bound_ms` and
// `min_accuracy` carry each request's constraints. Plugs into HttpServer as its handler.
//
//   GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer      -> output "output" (FP32; binary when asked), with
//        response parameters latency_ms, energy_mj, decide_us, fallback (0/1) and the headers
//        X-Autoscale-Target and X-Autoscale-Action
//   GET  /v2/stats                    -> Engine::StatsJson()
//   GET  /metrics                     -> Prometheus text
#pragma once

#include "agent/engine.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"

namespace autoscale {

class DaemonService {
 public:
  DaemonService(Engine* engine, ParseLimits limits = {}) : engine_(engine), limits_(limits) {}
  void Handle(HttpRequest&& request, Responder respond);

 private:
  void Infer(const std::string& model, HttpRequest&& request, Responder respond);
  Engine* engine_;
  ParseLimits limits_;
};

}  // namespace autoscale
