// What dynamic batching buys the worker: N concurrent clients send binary FP32 requests (MobileNet
// v2, 1x3x224x224 by default) for D seconds to a worker with batching off (max_batch_size 1)
// and on (max_batch_size B, max_queue_delay_us U), for each intra-op thread count asked for;
// prints throughput, client-side p50/p99 latency and the mean batch size, and the on/off
// throughput ratio. With --tail-aware it compares plain dynamic batching with tail-aware batching
// instead (both at B and U; targets/worker/tail_batching.h), and prints the preferred batch sizes
// the tail-aware worker measured at load. The worker runs in-process behind an HttpServer on
// 127.0.0.1:0 (or is an external one given by --endpoint, measured as it is configured).
//
//   worker_bench [--clients 16] [--seconds 10] [--requests M] [--model mobilenet_v2]
//                [--threads 1,2] [--max-batch-size 8] [--max-queue-delay-us 2000]
//                [--io-threads 2] [--client-threads 2] [--rounds 3] [--host-cache-mb 1024]
//                [--tail-aware] [--endpoint HOST:PORT]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "targets/model_store.h"
#include "targets/worker/tail_batching.h"
#include "targets/worker/worker.h"

namespace autoscale {
namespace {

constexpr const char* kUsage = R"(usage: worker_bench [options]

Concurrent clients against the worker with dynamic batching off (max_batch_size 1) and on, or
with --tail-aware, plain dynamic batching and tail-aware batching.

options:
  --clients N               concurrent clients (default: 16)
  --seconds D               measured seconds per configuration (default: 10)
  --requests M              stop each client after M requests (default: 0, until D seconds)
  --model NAME              zoo model (default: mobilenet_v2)
  --threads LIST            intra-op thread counts to try, e.g. 1,2 (default: 1,2)
  --max-batch-size B        batching on: samples per pass (default: 8)
  --max-queue-delay-us U    batching on: longest wait for a batch (default: 2000)
  --io-threads N            HTTP server threads (default: 2)
  --client-threads N        threads running the clients' I/O (default: 2; raise it where the
                            worker answers faster than two threads move the requests' bytes)
  --rounds R                split each configuration's seconds into R rounds, alternating
                            the two configurations, so that drift on a shared machine hits both
                            alike; each round makes its workers afresh, one at a time
                            (default: 3)
  --host-cache-mb MB        the workers' cache of freed libtorch CPU buffers, 0 = off
                            (default: 1024; see WorkerOptions::host_cache_bytes)
  --tail-aware              compare plain dynamic batching with tail-aware batching (both at
                            --max-batch-size and --max-queue-delay-us; the tail-aware worker
                            measures the model's latency per batch size at start-up) instead of
                            batching off with on
  --endpoint ADDR           measure an external worker as configured instead
  -h, --help                show this text
)";

struct Config {
  int clients = 16;
  double seconds = 10;
  long long requests = 0;
  std::string model = "mobilenet_v2";
  std::vector<int> threads = {1, 2};
  int max_batch = 8;
  long long delay_us = 2000;
  int io_threads = 2;
  int client_threads = 2;
  int rounds = 3;
  long long host_cache_mb = 1024;
  bool tail_aware = false;
  std::string endpoint;
};

// How the in-process worker batches.
enum class Batching { kOff, kPlain, kTailAware };

// What the clients saw, accumulated over rounds.
struct Stats {
  long long ok = 0, failed = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
  double inv_batch = 0;  // sum over requests of 1 / batch_size
  double compute_ms = 0;
  std::string first_error;

  double throughput() const { return seconds > 0 ? ok / seconds : 0; }
  // Samples per forward pass: requests / sum(1 / batch_size) (each batch counted once).
  double mean_batch() const { return inv_batch > 0 ? ok / inv_batch : 0; }
  double Percentile(double p) const {
    if (latency_ms.empty()) return 0;
    std::vector<double> v = latency_ms;
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[k];
  }
};

// Clients sending `request` for `seconds` (or M requests each); adds what they saw to `*s`.
void Drive(HttpClient& client, const HttpRequest& request, const Config& c, double seconds,
           Stats* s) {
  using Clock = std::chrono::steady_clock;
  std::vector<Stats> per(c.clients);
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < c.clients; ++i) {
    threads.emplace_back([&, i] {
      Stats& mine = per[i];
      for (long long n = 0; Clock::now() < deadline && (c.requests == 0 || n < c.requests); ++n) {
        const auto t0 = Clock::now();
        Result<HttpResponse> r = client.Send(request, std::chrono::seconds(60));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        Result<InferResponseMsg> msg = Status::Internal("no response");
        if (r.ok() && r->status == 200) {
          auto hl = InferenceHeaderLength(*r);
          msg = hl.ok() ? ParseInferResponse(r->body, *hl) : Result<InferResponseMsg>(hl.status());
        }
        if (!msg.ok()) {
          ++mine.failed;
          if (mine.first_error.empty()) {
            mine.first_error = !r.ok()            ? r.status().ToString()
                               : r->status != 200 ? r->body.substr(0, 200)
                                                  : msg.status().ToString();
          }
          continue;
        }
        ++mine.ok;
        mine.latency_ms.push_back(ms);
        auto b = msg->parameters.find("batch_size");
        mine.inv_batch += b != msg->parameters.end() && b->second > 0 ? 1.0 / b->second : 1.0;
        auto cm = msg->parameters.find("compute_ms");
        if (cm != msg->parameters.end()) mine.compute_ms += cm->second;
      }
    });
  }
  for (auto& t : threads) t.join();
  s->seconds += std::chrono::duration<double>(Clock::now() - start).count();
  for (const Stats& p : per) {
    s->ok += p.ok;
    s->failed += p.failed;
    s->latency_ms.insert(s->latency_ms.end(), p.latency_ms.begin(), p.latency_ms.end());
    s->inv_batch += p.inv_batch;
    s->compute_ms += p.compute_ms;
    if (s->first_error.empty()) s->first_error = p.first_error;
  }
}

// The tail-aware worker's latency per batch size and preferred sizes, from the model's metadata.
std::string PreferredSizes(HttpClient& client, const std::string& model) {
  HttpRequest get;
  get.method = "GET";
  get.target = "/v2/models/" + model;
  Result<HttpResponse> r = client.Send(get, std::chrono::seconds(60));
  if (!r.ok() || r->status != 200) return "(no metadata)";
  const nlohmann::json p = nlohmann::json::parse(r->body, nullptr, false)["parameters"];
  if (!p.is_object() || !p.contains("preferred_batch_sizes")) return "(off)";
  std::string out = "latency per batch size (ms)";
  for (const auto& ms : p["batch_latency_ms"]) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f", ms.get<double>());
    out += buf;
  }
  return out + "; preferred sizes " +
         FormatBatchSizes(p["preferred_batch_sizes"].get<std::vector<int>>());
}

void Print(const std::string& label, const Stats& s) {
  std::printf(
      "%-26s %7.1f req/s  p50 %7.1f ms  p99 %7.1f ms  mean batch %5.2f  compute/req "
      "%6.1f ms  (%lld ok, %lld failed)\n",
      label.c_str(), s.throughput(), s.Percentile(0.50), s.Percentile(0.99), s.mean_batch(),
      s.ok > 0 ? s.compute_ms / s.ok : 0.0, s.ok, s.failed);
  if (!s.first_error.empty()) std::printf("  first error: %s\n", s.first_error.c_str());
  std::fflush(stdout);
}

// A worker behind a server on 127.0.0.1:0 with its client; or a client of an external one.
struct Setup {
  std::unique_ptr<Worker> worker;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<HttpClient> client;

  ~Setup() {
    if (worker) worker->Shutdown();
    if (server) server->Stop(std::chrono::seconds(10));
  }
};

Result<std::unique_ptr<Setup>> Connect(const Endpoint& ep, const HttpRequest& request,
                                       const Config& c, std::unique_ptr<Setup> s) {
  HttpClientOptions co;
  co.threads = c.client_threads;
  ASSIGN_OR_RETURN(s->client, HttpClient::Create(ep, co));
  // Warm-up: every client twice (connections open, allocator and batch shapes seen).
  Config warm = c;
  warm.requests = 2;
  Stats ignored;
  Drive(*s->client, request, warm, 60, &ignored);
  if (ignored.ok == 0) {
    return Status::Unavailable("no successful warm-up request: " + ignored.first_error);
  }
  return s;
}

Result<std::unique_ptr<Setup>> InProcess(const Config& c, int threads, Batching batching,
                                         const HttpRequest& request) {
  auto s = std::make_unique<Setup>();
  WorkerOptions wo;
  wo.models = {c.model};
  wo.device = "auto";
  wo.threads = threads;
  wo.max_batch_size = batching != Batching::kOff ? c.max_batch : 1;
  wo.max_queue_delay_us = batching != Batching::kOff ? c.delay_us : 0;
  wo.tail_aware_batching = batching == Batching::kTailAware ? "on" : "off";
  wo.max_queue = 4 * c.clients;
  wo.host_cache_bytes = static_cast<size_t>(c.host_cache_mb) << 20;
  ASSIGN_OR_RETURN(s->worker, Worker::Create(wo));
  HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  so.threads = c.io_threads;
  ASSIGN_OR_RETURN(s->server, HttpServer::Start(so, s->worker->handler()));
  const Endpoint ep = s->server->endpoint();
  return Connect(ep, request, c, std::move(s));
}

int Run(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "worker_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](long long lo) {
      const std::string v = value();
      long long n = 0;
      if (!ParseInt64(v, &n) || n < lo) {
        std::cerr << "worker_bench: " << a << " needs a number >= " << lo << ", got '" << v
                  << "'\n";
        std::exit(2);
      }
      return n;
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--clients") {
      c.clients = static_cast<int>(number(1));
    } else if (a == "--seconds") {
      c.seconds = static_cast<double>(number(1));
    } else if (a == "--requests") {
      c.requests = number(0);
    } else if (a == "--model") {
      c.model = value();
    } else if (a == "--threads") {
      c.threads.clear();
      for (std::string_view t : Split(value(), ',')) {
        long long n = 0;
        if (!ParseInt64(t, &n) || n < 1) {
          std::cerr << "worker_bench: --threads needs a list of numbers >= 1\n";
          return 2;
        }
        c.threads.push_back(static_cast<int>(n));
      }
    } else if (a == "--max-batch-size") {
      c.max_batch = static_cast<int>(number(2));
    } else if (a == "--max-queue-delay-us") {
      c.delay_us = number(0);
    } else if (a == "--io-threads") {
      c.io_threads = static_cast<int>(number(1));
    } else if (a == "--client-threads") {
      c.client_threads = static_cast<int>(number(1));
    } else if (a == "--host-cache-mb") {
      c.host_cache_mb = number(0);
    } else if (a == "--rounds") {
      c.rounds = static_cast<int>(number(1));
    } else if (a == "--tail-aware") {
      c.tail_aware = true;
    } else if (a == "--endpoint") {
      c.endpoint = value();
    } else {
      std::cerr << "worker_bench: unknown option '" << a << "'\n" << kUsage;
      return 2;
    }
  }

  ModelStore store;
  auto spec = store.Get(c.model);
  if (!spec.ok()) {
    std::cerr << "worker_bench: " << spec.status().message() << "\n";
    return 1;
  }
  const HostTensor input = MakeHostInput(**spec, 1);
  InferRequestMsg msg;
  WireTensor t;
  t.name = "input";
  t.shape = input.shape;
  t.fp32 = input.data;
  t.binary = true;
  msg.inputs.push_back(std::move(t));
  msg.binary_outputs_default = true;
  std::optional<size_t> hl;
  HttpRequest request;
  request.method = "POST";
  request.target = "/v2/models/" + c.model + "/infer";
  std::string body = EncodeInferRequest(msg, &hl);
  SetInferenceBody(std::move(body), hl, &request);

  std::printf("worker_bench: %s %s, %d clients, %.0f s per configuration, %u CPUs\n",
              c.model.c_str(), ShapeString(input.shape).c_str(), c.clients, c.seconds,
              std::thread::hardware_concurrency());
  if (!c.endpoint.empty()) {
    auto ep = Endpoint::Parse(c.endpoint);
    if (!ep.ok()) {
      std::cerr << "worker_bench: " << ep.status().message() << "\n";
      return 2;
    }
    auto s = Connect(*ep, request, c, std::make_unique<Setup>());
    if (!s.ok()) {
      std::cerr << "worker_bench: " << s.status().message() << "\n";
      return 1;
    }
    Stats stats;
    Drive(*(*s)->client, request, c, c.seconds, &stats);
    Print(c.endpoint, stats);
    return 0;
  }
  for (int threads : c.threads) {
    const Batching base = c.tail_aware ? Batching::kPlain : Batching::kOff;
    const Batching test = c.tail_aware ? Batching::kTailAware : Batching::kPlain;
    Stats s_base, s_test;
    std::string device;
    std::vector<std::string> sizes;  // the tail-aware worker's, each round
    // One worker at a time, made afresh in each round: with two MobileNet v2 workers in one
    // process, the second one made ran its passes ~1.5x slower than the first, in either order
    // and with the first idle (x0.61-0.65 for the same plain batching on this 2-vCPU VM).
    for (int r = 0; r < c.rounds; ++r) {
      for (const Batching b : {base, test}) {
        auto setup = InProcess(c, threads, b, request);
        if (!setup.ok()) {
          std::cerr << "worker_bench: " << setup.status().message() << "\n";
          return 1;
        }
        device = (*setup)->worker->device();
        if (b == Batching::kTailAware) sizes.push_back(PreferredSizes(*(*setup)->client, c.model));
        Drive(*(*setup)->client, request, c, c.seconds / c.rounds, b == base ? &s_base : &s_test);
      }
    }
    const std::string t = std::to_string(threads) + (threads == 1 ? " thread, " : " threads, ");
    const std::string batch =
        "batch<=" + std::to_string(c.max_batch) + ", " + std::to_string(c.delay_us) + "us";
    if (c.tail_aware) {
      for (size_t r = 0; r < sizes.size(); ++r) {
        std::printf("%s%s, round %zu, tail-aware: %s\n", t.c_str(), device.c_str(), r + 1,
                    sizes[r].c_str());
      }
      Print(t + "plain " + batch, s_base);
      Print(t + "tail-aware " + batch, s_test);
    } else {
      Print(t + "no batching", s_base);
      Print(t + batch, s_test);
    }
    if (s_base.throughput() > 0) {
      std::printf("%-26s x%.2f throughput with %s\n", "", s_test.throughput() / s_base.throughput(),
                  c.tail_aware ? "tail-aware batching" : "batching");
    }
  }
  return 0;
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Run(argc, argv); }
