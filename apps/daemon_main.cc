// autoscaled: the on-device daemon (DESIGN.md). Applications send KServe v2 inference requests
// to a Unix socket or loopback; each is observed, decided, run locally or offloaded, measured
// and learned from; the learned table survives restarts.

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "agent/daemon.h"
#include "agent/service.h"
#include "apps/local_targets.h"
#include "apps/signals.h"
#include "core/strings.h"
#include "targets/http/http.h"

namespace autoscale {
namespace {

constexpr const char* kUsage = R"(usage: autoscaled --config FILE [options]

Serves inference requests over the KServe v2 protocol (HTTP/REST, JSON or binary tensors) and
decides for each where it runs: a local CPU/GPU/DSP target at a precision and frequency level,
or a remote worker (autoscale-worker, Triton, KServe). Request parameters: latency_bound_ms,
min_accuracy. Learns online and saves its Q-table atomically (state_file) on an interval and
at shutdown; a state file that cannot be loaded is set aside as FILE.corrupt-<time>.

options:
  --config FILE        daemon configuration (YAML; see configs/daemon/)
  --listen ADDR        override `listen`: unix:/PATH (mode 0600) or HOST:PORT on loopback
  --state-file FILE    override `state_file`
  --drain-s S          on SIGTERM/SIGINT, wait up to S seconds for requests in flight (10)
  -h, --help           show this text

endpoints: POST /v2/models/NAME/infer, GET /v2/health/ready, /v2/models/NAME, /v2/stats
           (decisions per target, energy, violations), /metrics (Prometheus)
)";

int Usage(const std::string& why) {
  std::cerr << "autoscaled: error: " << why << "\n(run autoscaled --help for usage)\n";
  return 2;
}

int Run(int argc, char** argv) {
  std::string config_path, listen, state_file;
  double drain_s = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--config") {
      if (!value(&config_path)) return Usage("--config needs a file");
    } else if (a == "--listen") {
      if (!value(&listen)) return Usage("--listen needs an address");
    } else if (a == "--state-file") {
      if (!value(&state_file)) return Usage("--state-file needs a path");
    } else if (a == "--drain-s") {
      if (!value(&v) || !ParseDouble(v, &drain_s) || drain_s < 0) {
        return Usage("--drain-s needs seconds >= 0");
      }
    } else {
      return Usage("unknown option '" + a + "'");
    }
  }
  if (config_path.empty()) return Usage("--config FILE is required");

  // Signals are taken by WaitForSignal below; block them before any thread starts.
  const sigset_t signals = BlockTerminationSignals();

  auto config = LoadDaemonConfig(config_path);
  if (!config.ok()) {
    std::cerr << "autoscaled: error: " << config.status().message() << "\n";
    return 1;
  }
  if (!listen.empty()) config->listen = listen;
  if (!state_file.empty()) config->engine.state_file = state_file;

  std::string config_root = std::string(AUTOSCALE_SOURCE_DIR) + "/configs";
  if (const char* env = std::getenv("AUTOSCALE_CONFIG_DIR")) config_root = env;
  LocalTargetFactory make_local =
      [](const TargetBinding& b, const DeviceProfile& device) -> Result<std::unique_ptr<Target>> {
    LocalTargetOptions o;
    o.threads = b.threads;
    o.per_cluster = false;
    o.reference = device;
    ASSIGN_OR_RETURN(auto made, CreateLocalTargets({b.backend}, o));
    if (made.empty()) return Status::Internal("no target made for backend " + b.backend);
    if (!made[0]->available()) {
      return Status::Unavailable("backend '" + b.backend +
                                 "' is unavailable: " + made[0]->description().unavailable_reason);
    }
    return std::move(made[0]);
  };
  auto engine = BuildEngine(*config, config_root, make_local);
  if (!engine.ok()) {
    std::cerr << "autoscaled: error: " << engine.status().message() << "\n";
    return 1;
  }
  if (!(*engine)->state_report().empty()) {
    std::cerr << "autoscaled: " << (*engine)->state_report() << "\n";
  }

  {
    const auto t0 = std::chrono::steady_clock::now();
    const int n = (*engine)->PrepareLocal();
    std::cerr << "autoscaled: prepared " << n << " model/precision pairs on local targets in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
              << " s" << std::endl;
  }
  DaemonService service(engine->get());
  HttpServerOptions so;
  so.listen = config->listen;
  so.threads = config->io_threads;
  so.max_body_bytes = config->max_request_bytes;
  so.server_name = "autoscaled";
  auto server = HttpServer::Start(so, [&service](HttpRequest&& r, Responder respond) {
    service.Handle(std::move(r), std::move(respond));
  });
  if (!server.ok()) {
    std::cerr << "autoscaled: error: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "autoscaled: serving on " << (*server)->endpoint().ToString() << " (device "
            << (*engine)->cost_model().device().name << ", " << config->models.size() << " models, "
            << config->targets.size() << " targets)" << std::endl;

  const int sig = WaitForSignal(signals);
  std::cerr << "autoscaled: " << strsignal(sig) << ": draining" << std::endl;
  (*server)->Stop(std::chrono::milliseconds(static_cast<int64_t>(drain_s * 1000)));
  (*engine)->Shutdown();  // finishes what is left and saves the learned state
  std::cerr << "autoscaled: stopped; " << (*engine)->StatsJson() << std::endl;
  return 0;
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Run(argc, argv); }
