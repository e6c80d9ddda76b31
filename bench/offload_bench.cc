// Loopback offload overhead: what one 1x3x224x224 inference request to a worker costs beyond
// the worker's forward pass, per wire format (the target: at most 1 ms for binary).
//
// An in-process Worker (max_batch_size 1, no queue delay, CPU) behind an HttpServer on
// 127.0.0.1:0, and a keep-alive HttpClient. Each iteration encodes the request, sends it, waits
// for and parses the response; overhead = that end-to-end time minus the response's compute_ms
// (the worker's forward pass alone), so it covers encoding and parsing at both ends, the HTTP
// exchange over loopback, the hand-over to the batcher thread and the copies of input and output.
//
// Models: "probe" is a TorchScript module written at start-up that takes [N, 3, 224, 224] and
// returns [N, 1000] (the first 1000 inputs, doubled): a real classifier's input and output sizes
// at almost no compute, so the shared CPU's noise from a long forward pass stays out of the
// figure. The mobilenet_v2 runs check that the overhead does not depend on the model.
//
// Counters per run (means unless named p50/p99): overhead_ms, overhead_p50_ms, overhead_p99_ms,
// e2e_ms, compute_ms; encode_ms (the client encoding the request), queue_ms (waiting for the
// batcher thread), write_ms (the client writing the request), wait_ms (request written to
// response read); req_bytes and resp_bytes (HTTP bodies); page_faults (the process's minor page
// faults per request); cpu_ms, the CPU time all threads of the process (client, server, worker)
// spent per request, forward pass included. With the probe model that is the overhead's CPU
// cost, which does not depend on how busy the machine is (on a loaded machine, much of the
// wall-clock overhead is threads waiting to be scheduled).
// --benchmark_repetitions=N aggregates them across runs. --threads=N sets libtorch's threads
// (default 1: the forward pass is not what is measured).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "targets/model_store.h"
#include "targets/worker/worker.h"

namespace autoscale {
namespace {

using Clock = std::chrono::steady_clock;

int g_threads = 1;  // --threads=N

enum class Wire { kJsonFp32, kBinaryFp32, kBinaryUint8 };

// The worker, its server and a client, shared by every benchmark (built on first use).
struct Loopback {
  std::string model_dir;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<ModelStore> store;
};

// Writes the "probe" TorchScript model into a fresh folder.
std::string WriteProbeModel() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("autoscale_offload_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  torch::jit::Module m("Probe");
  m.define("def forward(self, x):\n  return x.flatten(1)[:, 0:1000] * 2.0\n");
  m.save((dir / "probe.pt").string());
  std::ofstream(dir / "probe.yaml") << "input_shape: [3, 224, 224]\n";
  return dir.string();
}

Loopback& Get() {
  static Loopback* lb = [] {
    auto* l = new Loopback();
    l->model_dir = WriteProbeModel();
    l->store = std::make_unique<ModelStore>(l->model_dir);
    WorkerOptions wo;
    wo.model_dir = l->model_dir;
    wo.max_batch_size = 1;
    wo.max_queue_delay_us = 0;
    wo.device = "cpu";
    wo.threads = g_threads;
    auto w = Worker::Create(wo);
    if (!w.ok()) {
      std::fprintf(stderr, "offload_bench: worker: %s\n", w.status().ToString().c_str());
      std::abort();
    }
    l->worker = std::move(w).value();
    HttpServerOptions so;
    so.listen = "127.0.0.1:0";
    so.server_name = "offload_bench";
    auto s = HttpServer::Start(so, l->worker->handler());
    if (!s.ok()) {
      std::fprintf(stderr, "offload_bench: server: %s\n", s.status().ToString().c_str());
      std::abort();
    }
    l->server = std::move(s).value();
    auto c = HttpClient::Create(l->server->endpoint());
    if (!c.ok()) std::abort();
    l->client = std::move(c).value();
    return l;
  }();
  return *lb;
}

// The request's input tensor: seeded floats in [-1, 1], or seeded bytes for UINT8.
WireTensor MakeInput(const ModelSpec& spec, Wire wire) {
  WireTensor t;
  t.name = "input";
  t.shape = spec.input_shape;
  t.shape.insert(t.shape.begin(), 1);
  t.binary = wire != Wire::kJsonFp32;
  if (wire == Wire::kBinaryUint8) {
    t.type = TensorType::kUint8;
    std::mt19937_64 rng(1);
    t.u8.resize(static_cast<size_t>(t.elements()));
    for (auto& v : t.u8) v = static_cast<uint8_t>(rng() & 0xff);
  } else {
    t.type = TensorType::kFp32;
    t.fp32 = MakeHostInput(spec, 1).data;
  }
  return t;
}

// Minor page faults of the whole process so far (fresh pages the kernel had to map in).
double MinorFaults() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_minflt);
}

// CPU time of every thread of this process (client, server, worker), in ms.
double ProcessCpuMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(v.size() - 1, i)];
}

void BM_Offload(benchmark::State& state, Wire wire, const char* model) {
  Loopback& lb = Get();
  auto spec = lb.store->Get(model);
  if (!spec.ok()) return state.SkipWithError(spec.status().message().c_str());
  InferRequestMsg msg;
  msg.id = "bench";
  msg.inputs.push_back(MakeInput(**spec, wire));
  msg.binary_outputs_default = wire != Wire::kJsonFp32;
  const std::string target = std::string("/v2/models/") + model + "/infer";

  std::vector<double> overhead, e2e, encode, compute, queue, write, wait;
  size_t req_bytes = 0, resp_bytes = 0;
  // One exchange; false (and the benchmark marked as failed) on any error.
  auto exchange = [&](bool record) {
    const auto t0 = Clock::now();
    HttpRequest req;
    req.method = "POST";
    req.target = target;
    std::optional<size_t> hl;
    std::string body = EncodeInferRequest(msg, &hl);
    SetInferenceBody(std::move(body), hl, &req);
    req_bytes = req.body.size();
    const auto te = Clock::now();
    auto res = lb.client->Send(std::move(req), std::chrono::seconds(60));
    if (!res.ok() || res->status != 200) {
      state.SkipWithError(res.ok()
                              ? ("HTTP " + std::to_string(res->status) + ": " + res->body).c_str()
                              : res.status().message().c_str());
      return false;
    }
    auto rhl = InferenceHeaderLength(*res);
    auto out =
        rhl.ok() ? ParseInferResponse(res->body, *rhl) : Result<InferResponseMsg>(rhl.status());
    const auto t1 = Clock::now();
    if (!out.ok() || out->outputs.empty() || out->outputs[0].fp32.size() != 1000) {
      state.SkipWithError("bad response");
      return false;
    }
    benchmark::DoNotOptimize(out->outputs[0].fp32.data());
    resp_bytes = res->body.size();
    if (record) {
      const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      const double c = out->parameters["compute_ms"];
      e2e.push_back(ms);
      compute.push_back(c);
      queue.push_back(out->parameters["queue_ms"]);
      overhead.push_back(ms - c);
      encode.push_back(std::chrono::duration<double, std::milli>(te - t0).count());
      write.push_back(res->write_ms);
      wait.push_back(res->response_ms);
    }
    return true;
  };
  // Warm up: the model loads on first use, and the connection opens.
  for (int i = 0; i < 3; ++i) {
    if (!exchange(false)) return;
  }
  const double cpu0 = ProcessCpuMs();
  const double faults0 = MinorFaults();
  for (auto _ : state) {
    if (!exchange(true)) return;
  }
  const double cpu_per_request = (ProcessCpuMs() - cpu0) / std::max<size_t>(1, e2e.size());
  state.counters["overhead_ms"] = Mean(overhead);
  state.counters["overhead_p50_ms"] = Quantile(overhead, 0.5);
  state.counters["overhead_p99_ms"] = Quantile(overhead, 0.99);
  state.counters["e2e_ms"] = Mean(e2e);
  state.counters["encode_ms"] = Mean(encode);
  state.counters["compute_ms"] = Mean(compute);
  state.counters["queue_ms"] = Mean(queue);
  state.counters["cpu_ms"] = cpu_per_request;
  state.counters["page_faults"] = (MinorFaults() - faults0) / std::max<size_t>(1, e2e.size());
  state.counters["write_ms"] = Mean(write);
  state.counters["wait_ms"] = Mean(wait);
  state.counters["req_bytes"] = static_cast<double>(req_bytes);
  state.counters["resp_bytes"] = static_cast<double>(resp_bytes);
}

BENCHMARK_CAPTURE(BM_Offload, json_fp32_probe, Wire::kJsonFp32, "probe")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);
BENCHMARK_CAPTURE(BM_Offload, binary_fp32_probe, Wire::kBinaryFp32, "probe")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);
BENCHMARK_CAPTURE(BM_Offload, binary_uint8_probe, Wire::kBinaryUint8, "probe")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);
BENCHMARK_CAPTURE(BM_Offload, json_fp32_mobilenet_v2, Wire::kJsonFp32, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);
BENCHMARK_CAPTURE(BM_Offload, binary_fp32_mobilenet_v2, Wire::kBinaryFp32, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);
BENCHMARK_CAPTURE(BM_Offload, binary_uint8_mobilenet_v2, Wire::kBinaryUint8, "mobilenet_v2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      autoscale::g_threads = std::max(1, std::atoi(a.c_str() + 10));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                  ("autoscale_offload_bench_" + std::to_string(::getpid())),
                              ec);
  return 0;
}
