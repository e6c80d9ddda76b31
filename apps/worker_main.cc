// autoscale-worker: the cloud worker (DESIGN.md). Serves zoo and TorchScript models over the
// KServe v2 / Open Inference Protocol (HTTP/REST, JSON and binary tensors) with dynamic batching,
// on CUDA when the libtorch it was built with has a usable device, else on the CPU.

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli.h"
#include "apps/signals.h"
#include "core/logging.h"
#include "core/strings.h"
#include "targets/http/http.h"
#include "targets/worker/worker.h"

namespace autoscale {
namespace {

constexpr const char* kAbout =
    R"(Serves models over the KServe v2 / Open Inference Protocol (HTTP/REST, JSON and binary tensor
data): zoo models by name (mobilenet_v2, resnet18, ...) and TorchScript models NAME.pt with a
NAME.yaml beside them declaring `input_shape: [3, 224, 224]` in --model-dir. Requests that
arrive together are batched into one forward pass (up to --max-batch-size samples, waiting at
most --max-queue-delay-us for company; on CUDA only at sizes whose last GPU wave is well
filled, see --tail-aware-batching; on CUDA every batch size also runs twice at load, so that
cuDNN's choices for a new shape are not made inside a request). Only the models listed in
--models (loaded before serving) and the NAME.pt files in --model-dir (loaded on first use) are
served; any other name is 404 and loads nothing.

)";

constexpr const char* kNotes =
    R"(endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME, /v2/models/NAME/ready,
           /metrics (Prometheus); POST /v2/models/NAME/infer
On SIGTERM or SIGINT the worker stops taking requests (new ones get 503), answers those queued
and those being received, closes idle connections, and exits 0 (at most --drain-s seconds).
)";

struct WorkerArgs {
  std::string log_level = "info";
  WorkerOptions wo;
  HttpServerOptions so;
  std::string models;
  int drain_s = 10;
  long long max_request_mb = 32, host_cache_mb = 1024;
};

int Serve(WorkerArgs& args) {
  WorkerOptions& wo = args.wo;
  HttpServerOptions& so = args.so;
  const int drain_s = args.drain_s;
  if (Status st = SetUpLogging("autoscale-worker", args.log_level); !st.ok()) {
    std::cerr << "autoscale-worker: error: " << st.message() << "\n";
    return 2;
  }
  wo.models = cli::SplitList(args.models);
  so.max_body_bytes = static_cast<size_t>(args.max_request_mb) << 20;
  // A body of N MiB holds at most N Mi one-byte elements.
  wo.limits.max_elements = std::max<int64_t>(wo.limits.max_elements, args.max_request_mb << 20);
  wo.host_cache_bytes = static_cast<size_t>(args.host_cache_mb) << 20;

  // Signals are taken by WaitForSignal below; block them before any thread starts.
  const sigset_t signals = BlockTerminationSignals();

  // The address is bound first, so that a wrong or busy --listen fails at once rather than
  // after the models have loaded. Until they have, /v2/health/live is 200 and the rest 503.
  std::atomic<Worker*> serving{nullptr};
  auto server = HttpServer::Start(so, [&serving](HttpRequest&& req, Responder respond) {
    if (Worker* w = serving.load()) return w->Handle(std::move(req), std::move(respond));
    if (req.path() == "/v2/health/live") {
      HttpResponse live;
      live.body = "{\"live\":true}";
      return respond(std::move(live));
    }
    respond(ErrorResponse(503, "the worker is loading its models"));
  });
  if (!server.ok()) {
    Log().error("{}", server.status().message());
    return 1;
  }
  auto worker = Worker::Create(wo);
  if (!worker.ok()) {
    Log().error("{}", worker.status().message());
    (*server)->Stop(std::chrono::seconds(0));
    return 1;
  }
  serving = worker->get();
  const int threads = (*worker)->threads();
  Log().info("serving on {} ({}, {} {})", (*server)->endpoint().ToString(), (*worker)->device(),
             threads, threads == 1 ? "thread" : "threads");
  // A line of its own: scripts read the address from the one above. With it on, each model's
  // latency table and preferred sizes were logged as it loaded.
  Log().info("tail-aware batching {} (--tail-aware-batching {} on {})",
             (*worker)->tail_aware() ? "on" : "off", wo.tail_aware_batching, (*worker)->device());
  // libgomp reads its wait policy when it loads, before main(): it can only be told. Its default
  // spins between parallel regions on the cores the HTTP threads need (README, "The worker and
  // the daemon": 16 clients without batching 37-44 requests/s, 113-126 passive).
  if ((*worker)->device() == "cpu" && threads > 1 && std::getenv("OMP_WAIT_POLICY") == nullptr) {
    Log().warn(
        "OMP_WAIT_POLICY is not set: OpenMP's threads spin between a pass's parallel regions on "
        "the cores the HTTP threads need; set OMP_WAIT_POLICY=PASSIVE for the CPU (the Docker "
        "image does)");
  }

  const int sig = WaitForSignal(signals);
  Log().info("{}: draining", strsignal(sig));
  // Both at once: the worker refuses new infer requests (503) and answers those queued, while
  // the server stops accepting connections, reads the requests it is receiving and hands them
  // over, answers every request with Connection: close, and closes idle keep-alive connections.
  // The server's drain waits for every request the worker holds, so none is answered after it.
  std::thread shutdown([&worker] { (*worker)->Shutdown(); });
  (*server)->Stop(std::chrono::seconds(drain_s));
  shutdown.join();
  Log().info("stopped");
  return 0;
}

int Run(int argc, char** argv) {
  CLI::App app;
  cli::Setup(app, "autoscale-worker");
  app.description(kAbout);
  app.footer(kNotes);
  auto a = std::make_shared<WorkerArgs>();
  a->so.server_name = "autoscale-worker";
  app.add_option("--listen", a->so.listen, "HOST:PORT or unix:/PATH (port 0 = any)")
      ->type_name("ADDR")
      ->capture_default_str();
  app.add_flag("--allow-remote", a->so.allow_remote,
               "allow a non-loopback --listen address (the worker has no auth)");
  app.add_option("--model-dir", a->wo.model_dir,
                 "folder of TorchScript models (NAME.pt + NAME.yaml)")
      ->type_name("DIR");
  app.add_option("--models", a->models,
                 "the zoo (or --model-dir) models to serve, loaded before serving")
      ->type_name("A,B");
  app.add_option("--max-batch-size", a->wo.max_batch_size,
                 "samples per forward pass, 1 = no batching; a request of more samples gets 400")
      ->check(cli::IntegerIn(1, 4096))
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--max-queue-delay-us", a->wo.max_queue_delay_us,
                 "longest wait for a batch to fill")
      ->check(cli::IntegerIn(0, 10'000'000))
      ->type_name("US")
      ->capture_default_str();
  app.add_option("--tail-aware-batching", a->wo.tail_aware_batching,
                 "auto, on or off (auto: on for cuda, off on the cpu): measure each model's "
                 "latency per batch size at load and close batches only at sizes whose last GPU "
                 "wave is well filled, waiting within --max-queue-delay-us to fill one")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->type_name("MODE")
      ->capture_default_str();
  app.add_option("--tail-tolerance", a->wo.tail_tolerance,
                 "tail-aware batching: a batch size is worth closing when its time per sample is "
                 "within this fraction of the best at or below it")
      ->check(CLI::Range(0.0, 1.0))
      ->type_name("F")
      ->capture_default_str();
  app.add_option("--device", a->wo.device, "auto, cpu or cuda (auto: cuda when available)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->type_name("D")
      ->capture_default_str();
  app.add_option("--threads", a->wo.threads,
                 "libtorch intra-op threads (default: one per allowed CPU); on the CPU a batch "
                 "of zoo-model samples is split across them by sample")
      ->check(cli::IntegerIn(1, 1024))
      ->type_name("N");
  app.add_option("--io-threads", a->so.threads, "HTTP I/O threads")
      ->check(cli::IntegerIn(1, 256))
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--max-request-mb", a->max_request_mb, "largest request body in MiB")
      ->check(cli::IntegerIn(1, 4096))
      ->type_name("MB")
      ->capture_default_str();
  app.add_option("--max-queue-bytes", a->wo.max_queue_bytes,
                 "bytes that requests being served may hold in all (bodies and inputs as "
                 "floats); beyond, infer gets 503")
      ->check(cli::IntegerIn(1 << 20, 1ll << 40))
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--max-connections", a->so.max_connections,
                 "open connections at most; more wait in the listen backlog until one closes "
                 "(default: the open-file limit less 64)")
      ->check(cli::IntegerIn(1, 1 << 20))
      ->type_name("N");
  app.add_option("--log-level", a->log_level,
                 "least severe log lines written to stderr (each with time and level)")
      ->check(CLI::IsMember(LogLevelNames()))
      ->type_name("LEVEL")
      ->capture_default_str();
  app.add_option("--drain-s", a->drain_s, "longest drain on SIGTERM")
      ->check(cli::IntegerIn(0, 3600))
      ->type_name("S")
      ->capture_default_str();
  app.add_option("--host-cache-mb", a->host_cache_mb,
                 "keep up to MB of freed libtorch CPU buffers for reuse, 0 = off")
      ->check(cli::IntegerIn(0, 1 << 20))
      ->type_name("MB")
      ->capture_default_str();
  return cli::Run(app, "autoscale-worker", argc, argv, {}, [a] { return Serve(*a); });
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Run(argc, argv); }
