// The daemon's per-request overhead, inference excluded: observe (cached /proc probes, link
// estimates of the remote target), list the feasible actions, decide with the Q-learning policy.
// Built exactly as autoscaled builds it from configs/daemon/loopback.yaml: sd845 action space,
// four models, the libtorch CPU and DSP targets and a remote target whose worker (an in-process
// KServe health/ready responder) is up, so the cloud actions are feasible too.
//
// Reports the mean per call (Google Benchmark's time) and p50/p99/max as counters (us), from a
// clock read around every call. Target: p99 <= 50 us.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "agent/daemon.h"
#include "targets/cpu/cpu_target.h"
#include "targets/dsp/dsp_target.h"
#include "targets/http/http.h"

namespace autoscale {
namespace {

void BM_ObserveAndDecide(benchmark::State& state) {
  HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  auto worker = HttpServer::Start(so, [](HttpRequest&&, Responder respond) {
    HttpResponse r;
    r.body = "{\"ready\":true}";
    respond(r);
  });
  if (!worker.ok()) return state.SkipWithError(worker.status().message().c_str());

  auto config =
      LoadDaemonConfig(std::string(AUTOSCALE_SOURCE_DIR) + "/configs/daemon/loopback.yaml");
  if (!config.ok()) return state.SkipWithError(config.status().message().c_str());
  config->engine.state_file.clear();
  for (auto& t : config->targets) {
    if (t.backend == "remote") t.endpoint = (*worker)->endpoint().ToString();
  }
  LocalTargetFactory make_local =
      [](const TargetBinding& b, const DeviceProfile& device) -> Result<std::unique_ptr<Target>> {
    if (b.backend == "dsp") {
      DspOptions o;
      o.device = device;
      return std::unique_ptr<Target>(DspTarget::Create(o));
    }
    CpuOptions o;
    o.threads = b.threads;
    return std::unique_ptr<Target>(CpuTarget::Create(o));
  };
  auto engine = BuildEngine(*config, std::string(AUTOSCALE_SOURCE_DIR) + "/configs", make_local);
  if (!engine.ok()) return state.SkipWithError(engine.status().message().c_str());
  Engine& e = **engine;
  const int models = static_cast<int>(e.models().size());
  // Requests alternate models and constraints (as applications do); the first round asks each
  // backend once whether it supports the model (cached after), so it is not timed.
  Observation obs;
  for (int m = 0; m < models; ++m) e.ObserveAndDecide(m, 100, 0, &obs);

  std::vector<double> us;
  us.reserve(1 << 20);
  int i = 0, chosen = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const int a = e.ObserveAndDecide(i % models, (i % 3 == 0) ? 50.0f : 200.0f,
                                     (i % 5 == 0) ? 0.7f : 0.0f, &obs);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(a);
    chosen += a >= 0;
    if (us.size() < us.capacity()) {
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    ++i;
  }
  std::sort(us.begin(), us.end());
  auto q = [&](double p) {
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  };
  if (!us.empty()) {
    state.counters["p50_us"] = q(0.50);
    state.counters["p99_us"] = q(0.99);
    state.counters["max_us"] = us.back();
  }
  state.counters["decided"] = static_cast<double>(chosen) / std::max(1, i);
  state.counters["actions"] = e.cost_model().actions().size();
  e.Shutdown();
  (*worker)->Stop(std::chrono::milliseconds(0));
}
BENCHMARK(BM_ObserveAndDecide)->Unit(benchmark::kMicrosecond)->MinTime(2.0);

}  // namespace
}  // namespace autoscale

BENCHMARK_MAIN();
