// autoscaled: the on-device daemon (DESIGN.md). Applications send KServe v2 inference requests
// to a Unix socket or loopback; each is observed, decided, run locally or offloaded, measured
// and learned from; the learned table survives restarts.

#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "agent/daemon.h"
#include "agent/daemon_paths.h"
#include "agent/service.h"
#include "apps/cli.h"
#include "apps/local_targets.h"
#include "apps/signals.h"
#include "core/logging.h"
#include "core/strings.h"
#include "env/profiles.h"
#include "schema/config_check.h"
#include "targets/http/http.h"

namespace autoscale {
namespace {

constexpr const char* kAbout =
    R"(Serves inference requests over the KServe v2 protocol (HTTP/REST, JSON or binary tensors) and
decides for each where it runs: a local CPU/GPU/DSP target at a precision and frequency level,
or a remote worker (autoscale-worker, Triton, KServe). Request parameters: latency_bound_ms,
min_accuracy. Learns online and saves its Q-table atomically (state_file) on an interval and
at shutdown; a state file that cannot be loaded is set aside as FILE.corrupt-<time>.

)";

constexpr const char* kNotes =
    R"(folders: the daemon's state and socket live in folders it owns (created 0700):
  STATE    /var/lib/autoscaled as root, else $XDG_STATE_HOME/autoscaled or
           ~/.local/state/autoscaled
  RUNTIME  /run/autoscaled as root, else $XDG_RUNTIME_DIR/autoscaled, else STATE
A state file or socket in a folder other users can write (such as /tmp) is refused.

start-up: the configuration is checked and the listen address bound first (GET
/v2/health/ready answers 503 while models are prepared, then 200); nothing is written when
start-up fails.

models: a name with NAME.pt (+ NAME.yaml) in model_dir is the user's model, described from its
file (features from the import; accuracy per precision from the sidecar, or estimated at
start-up as fp32 accuracy x the measured top-1 agreement with fp32, printed); other names are
the zoo's. With `calibration:`, a sample of answers at int8/fp16 is re-run at fp32 when idle
and the observed agreement updates that precision's accuracy estimate (configs/README.md).

targets: each local target runs its requests one at a time, in order, on a thread of its own,
except a cpu_pipeline target (backend: cpu_pipeline): the model's layers split into stages,
one per core group (Pipe-it), several requests streaming through them at once. The policy sees
each target's queue (how long a request would wait for it, from the requests queued there and
their measured times) and can move requests to the pipeline when a queue builds.

endpoints: POST /v2/models/NAME/infer, GET /v2/health/live, /v2/health/ready,
           /v2/models/NAME, /v2/stats (decisions and answers per target, failures, energy,
           violations, delivered replies, calibration per model and precision), /metrics
           (Prometheus)
)";

constexpr double kMaxDrainS = 3600;

struct DaemonArgs {
  std::string log_level = "info";
  std::string config_path, listen, state_file;
  double drain_s = 10;
  std::string check;  // --check FILE
};

int Serve(const DaemonArgs& args) {
  const std::string &config_path = args.config_path, &listen = args.listen,
                    &state_file = args.state_file;
  const double drain_s = args.drain_s;
  if (Status st = SetUpLogging("autoscaled", args.log_level); !st.ok()) {
    std::cerr << "autoscaled: error: " << st.message() << "\n";
    return 2;
  }
  if (!args.check.empty()) {
    // The config, its device, targets, models and policy, as start-up would check them, with
    // nothing bound, built or written.
    const Status st = CheckDaemonConfig(args.check, "");
    if (!st.ok()) {
      Log().error("{}", st.message());
      return 1;
    }
    std::cout << "ok    " << args.check << "\n";
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "autoscaled: error: --config FILE is required\n(run `autoscaled --help` for "
                 "usage)\n";
    return 2;
  }
  // Signals are taken by WaitForSignal below; block them before any thread starts.
  const sigset_t signals = BlockTerminationSignals();

  auto config = LoadDaemonConfig(config_path);
  if (!config.ok()) {
    Log().error("{}", config.status().message());
    return 1;
  }
  if (!listen.empty()) config->listen = listen;
  if (!state_file.empty()) config->engine.state_file = state_file;

  // Paths: `default` ones in folders the daemon owns; given ones only in folders nobody else
  // can write. All checked before anything is bound, built or written.
  if (config->listen == "default" || config->engine.state_file == "default") {
    auto dirs = DefaultDaemonDirs();
    if (!dirs.ok()) {
      Log().error("{}", dirs.status().message());
      return 1;
    }
    for (const std::string& dir : {dirs->state, dirs->runtime}) {
      if (Status st = EnsurePrivateDir(dir); !st.ok()) {
        Log().error("{}", st.message());
        return 1;
      }
    }
    if (config->listen == "default") config->listen = "unix:" + dirs->runtime + "/autoscaled.sock";
    if (config->engine.state_file == "default") {
      config->engine.state_file = dirs->state + "/autoscaled.qtable";
    }
  }
  auto endpoint = Endpoint::Parse(config->listen);
  if (!endpoint.ok()) {
    Log().error("{}: listen: {}", config->file, endpoint.status().message());
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> owned;  // (path, what)
  if (endpoint->unix_socket) owned.emplace_back(endpoint->host, "listen");
  if (!config->engine.state_file.empty())
    owned.emplace_back(config->engine.state_file, "state_file");
  for (const auto& [path, what] : owned) {
    if (Status st = CheckOwnedFolder(path, what); !st.ok()) {
      Log().error("{}: {}", config->file, st.message());
      return 1;
    }
  }

  // Bind first: a bad or busy address fails now, before seconds of preparation, and before any
  // learned state is loaded or could be written. Until the engine is ready, readiness is 503.
  DaemonService service(nullptr);
  service.SetMemoryBudget(config->max_inflight_bytes);
  HttpServerOptions so;
  so.listen = config->listen;
  so.threads = config->io_threads;
  so.max_body_bytes = config->max_request_bytes;
  so.server_name = "autoscaled";
  auto server = HttpServer::Start(so, [&service](HttpRequest&& r, Responder respond) {
    service.Handle(std::move(r), std::move(respond));
  });
  if (!server.ok()) {
    Log().error("{}", server.status().message());
    return 1;
  }

  // Devices and networks by name: beside the config first, then the shipped ones.
  const std::vector<std::string> roots =
      ConfigSearchRoots(std::filesystem::path(config->file).parent_path().string());
  LocalTargetFactory make_local =
      [](const TargetBinding& b, const DeviceProfile& device) -> Result<std::unique_ptr<Target>> {
    LocalTargetOptions o;
    o.threads = b.threads;
    o.cpus = b.cpus;
    o.set_frequency = b.cpufreq != "off";
    o.per_cluster = false;
    o.reference = device;
    o.power_target = b.name;
    for (const TargetBinding::Stage& st : b.stages) o.stages.push_back({st.cpus, st.threads});
    o.max_in_flight = b.max_in_flight;
    o.search_requests = b.search_requests;
    ASSIGN_OR_RETURN(auto made, CreateLocalTargets({b.backend}, o));
    if (made.empty()) return Status::Internal("no target made for backend " + b.backend);
    if (!made[0]->available()) {
      return Status::Unavailable("backend '" + b.backend +
                                 "' is unavailable: " + made[0]->description().unavailable_reason);
    }
    const TargetDescription& d = made[0]->description();
    Log().info("target {}: {} backend on {}{}", b.name, b.backend, d.device,
               d.max_concurrent > 1 ? " (up to " + std::to_string(d.max_concurrent) +
                                          " requests at once; " + d.notes + ")"
                                    : "");
    return std::move(made[0]);
  };
  // Users' TorchScript models (model_dir) are read, and their profiles derived, in BuildEngine.
  InstallModelReaders();
  auto engine = BuildEngine(*config, roots, make_local);
  if (!engine.ok()) {
    Log().error("{}", engine.status().message());
    return 1;
  }
  if (!(*engine)->state_report().empty()) {
    Log().info("{}", (*engine)->state_report());
  }
  Log().info("listening on {} (not ready until the models are prepared)",
             (*server)->endpoint().ToString());
  {
    const auto t0 = std::chrono::steady_clock::now();
    const int n = (*engine)->PrepareLocal();
    Log().info("prepared {} model/precision pairs on local targets in {:.3f} s", n,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  service.SetEngine(engine->get());
  Log().info("serving on {} (device {}, {} models, {} targets)", (*server)->endpoint().ToString(),
             (*engine)->cost_model().device().name, config->models.size(), config->targets.size());

  const int sig = WaitForSignal(signals);
  Log().info("{}: draining", strsignal(sig));
  (*server)->Stop(std::chrono::milliseconds(static_cast<int64_t>(drain_s * 1000)));
  service.StopDelivering();  // replies from here on reach nobody: counted as undelivered
  (*engine)->Shutdown();     // finishes what is left and saves the learned state
  Log().info("stopped; {}", service.StatsJson());
  return 0;
}

int Run(int argc, char** argv) {
  CLI::App app;
  cli::Setup(app, "autoscaled");
  auto a = std::make_shared<DaemonArgs>();
  app.description(kAbout);
  app.footer(kNotes);
  app.add_option("--config", a->config_path,
                 "daemon configuration (YAML; see configs/daemon/) (required unless --check)")
      ->type_name("FILE");
  app.add_option("--check", a->check,
                 "check a configuration (its device, targets, models and policy) as start-up "
                 "would, print ok or what is wrong, and exit 0 or 1, starting nothing")
      ->type_name("FILE");
  app.add_option("--listen", a->listen,
                 "override `listen`: unix:/PATH (mode 0600), HOST:PORT on loopback, or "
                 "`default`: unix:RUNTIME/autoscaled.sock")
      ->type_name("ADDR");
  app.add_option("--state-file", a->state_file,
                 "override `state_file` (`default`: STATE/autoscaled.qtable)")
      ->type_name("FILE");
  app.add_option("--log-level", a->log_level,
                 "least severe log lines written to stderr (each with time and level)")
      ->check(CLI::IsMember(LogLevelNames()))
      ->type_name("LEVEL")
      ->capture_default_str();
  app.add_option("--drain-s", a->drain_s,
                 "on SIGTERM/SIGINT, wait up to S seconds for requests in flight")
      ->check(cli::NumberIn(0, kMaxDrainS))
      ->type_name("S")
      ->capture_default_str();
  return cli::Run(app, "autoscaled", argc, argv, {}, [a] { return Serve(*a); });
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Run(argc, argv); }
