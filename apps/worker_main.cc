// autoscale-worker: the cloud worker (DESIGN.md). Serves zoo and TorchScript models over the
// KServe v2 / Open Inference Protocol (HTTP/REST, JSON and binary tensors) with dynamic batching,
// on CUDA when the libtorch it was built with has a usable device, else on the CPU.

#include <atomic>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "apps/signals.h"
#include "core/strings.h"
#include "targets/http/http.h"
#include "targets/worker/worker.h"

namespace autoscale {
namespace {

constexpr const char* kUsage = R"(usage: autoscale-worker [options]

Serves models over the KServe v2 / Open Inference Protocol (HTTP/REST, JSON and binary tensor
data): zoo models by name (mobilenet_v2, resnet18, ...) and TorchScript models NAME.pt with a
NAME.yaml beside them declaring `input_shape: [3, 224, 224]` in --model-dir. Requests that
arrive together are batched into one forward pass (up to --max-batch-size samples, waiting at
most --max-queue-delay-us for company). Only the models listed in --models (loaded before
serving) and the NAME.pt files in --model-dir (loaded on first use) are served; any other name
is 404 and loads nothing.

options:
  --listen ADDR             HOST:PORT or unix:/PATH (default: 127.0.0.1:8000; port 0 = any)
  --allow-remote            allow a non-loopback --listen address (the worker has no auth)
  --model-dir DIR           folder of TorchScript models (NAME.pt + NAME.yaml)
  --models A,B              the zoo (or --model-dir) models to serve, loaded before serving
  --max-batch-size N        samples per forward pass, 1 = no batching (default: 8); a request
                            of more samples gets 400
  --max-queue-delay-us US   longest wait for a batch to fill, 0-10000000 (default: 2000)
  --device D                auto, cpu or cuda (default: auto: cuda when available)
  --threads N               libtorch intra-op threads (default: one per allowed CPU); on the
                            CPU a batch of zoo-model samples is split across them by sample
  --io-threads N            HTTP I/O threads (default: 2)
  --max-request-mb MB       largest request body in MiB (default: 32)
  --max-queue-bytes N       bytes that requests being served may hold in all (bodies and
                            inputs as floats); beyond, infer gets 503 (default: 536870912)
  --max-connections N       open connections at most; more wait in the listen backlog until
                            one closes (default: the open-file limit less 64)
  --drain-s S               longest drain on SIGTERM, 0-3600 (default: 10)
  --host-cache-mb MB        keep up to MB of freed libtorch CPU buffers for reuse, 0 = off
                            (default: 1024)
  --version                 print the version
  -h, --help                show this text

endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME, /v2/models/NAME/ready,
           /metrics (Prometheus); POST /v2/models/NAME/infer
On SIGTERM or SIGINT the worker stops taking requests (new ones get 503), answers those queued
and those being received, closes idle connections, and exits 0 (at most --drain-s seconds).
)";

int Usage(const std::string& why) {
  std::cerr << "autoscale-worker: error: " << why << "\n(run autoscale-worker --help for usage)\n";
  return 2;
}

int Run(int argc, char** argv) {
  WorkerOptions wo;
  HttpServerOptions so;
  so.server_name = "autoscale-worker";
  int drain_s = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    auto value = [&]() {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    auto number = [&](long long lo, long long hi, long long* n) {
      return value() && ParseInt64(v, n) && *n >= lo && *n <= hi;
    };
    long long n = 0;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << "autoscale-worker " << AUTOSCALE_VERSION << "\n";
      return 0;
    } else if (a == "--listen") {
      if (!value()) return Usage("--listen needs an address (HOST:PORT or unix:/PATH)");
      so.listen = v;
    } else if (a == "--allow-remote") {
      so.allow_remote = true;
    } else if (a == "--model-dir") {
      if (!value()) return Usage("--model-dir needs a folder");
      wo.model_dir = v;
    } else if (a == "--models") {
      if (!value()) return Usage("--models needs a comma-separated list of names");
      for (std::string_view m : Split(v, ',')) {
        if (!Trim(m).empty()) wo.models.emplace_back(Trim(m));
      }
    } else if (a == "--max-batch-size") {
      if (!number(1, 4096, &n)) return Usage("--max-batch-size needs a number from 1 to 4096");
      wo.max_batch_size = static_cast<int>(n);
    } else if (a == "--max-queue-delay-us") {
      if (!number(0, 10'000'000, &n)) {
        return Usage("--max-queue-delay-us needs microseconds from 0 to 10000000");
      }
      wo.max_queue_delay_us = n;
    } else if (a == "--device") {
      if (!value() || (v != "auto" && v != "cpu" && v != "cuda")) {
        return Usage("--device needs auto, cpu or cuda");
      }
      wo.device = v;
    } else if (a == "--threads") {
      if (!number(1, 1024, &n)) return Usage("--threads needs a number from 1 to 1024");
      wo.threads = static_cast<int>(n);
    } else if (a == "--io-threads") {
      if (!number(1, 256, &n)) return Usage("--io-threads needs a number from 1 to 256");
      so.threads = static_cast<int>(n);
    } else if (a == "--max-request-mb") {
      if (!number(1, 4096, &n)) return Usage("--max-request-mb needs a number from 1 to 4096");
      so.max_body_bytes = static_cast<size_t>(n) << 20;
      // A body of N MiB holds at most N Mi one-byte elements.
      wo.limits.max_elements = std::max<int64_t>(wo.limits.max_elements, n << 20);
    } else if (a == "--max-queue-bytes") {
      if (!number(1 << 20, 1ll << 40, &n)) {
        return Usage("--max-queue-bytes needs a number of bytes from 1048576 to 2^40");
      }
      wo.max_queue_bytes = static_cast<size_t>(n);
    } else if (a == "--max-connections") {
      if (!number(1, 1 << 20, &n)) return Usage("--max-connections needs a number from 1 to 2^20");
      so.max_connections = static_cast<int>(n);
    } else if (a == "--drain-s") {
      if (!number(0, 3600, &n)) return Usage("--drain-s needs seconds from 0 to 3600");
      drain_s = static_cast<int>(n);
    } else if (a == "--host-cache-mb") {
      if (!number(0, 1 << 20, &n)) return Usage("--host-cache-mb needs a number from 0 to 1048576");
      wo.host_cache_bytes = static_cast<size_t>(n) << 20;
    } else {
      return Usage("unknown option '" + a + "'");
    }
  }

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
    std::cerr << "autoscale-worker: error: " << server.status().message() << "\n";
    return 1;
  }
  auto worker = Worker::Create(wo);
  if (!worker.ok()) {
    std::cerr << "autoscale-worker: error: " << worker.status().message() << "\n";
    (*server)->Stop(std::chrono::seconds(0));
    return 1;
  }
  serving = worker->get();
  const int threads = (*worker)->threads();
  std::cerr << "autoscale-worker: serving on " << (*server)->endpoint().ToString() << " ("
            << (*worker)->device() << ", " << threads << (threads == 1 ? " thread" : " threads")
            << ")" << std::endl;

  const int sig = WaitForSignal(signals);
  std::cerr << "autoscale-worker: " << strsignal(sig) << ": draining" << std::endl;
  // Both at once: the worker refuses new infer requests (503) and answers those queued, while
  // the server stops accepting connections, reads the requests it is receiving and hands them
  // over, answers every request with Connection: close, and closes idle keep-alive connections.
  // The server's drain waits for every request the worker holds, so none is answered after it.
  std::thread shutdown([&worker] { (*worker)->Shutdown(); });
  (*server)->Stop(std::chrono::seconds(drain_s));
  shutdown.join();
  std::cerr << "autoscale-worker: stopped" << std::endl;
  return 0;
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Run(argc, argv); }
