#include "targets/worker/worker.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/byte_budget.h"
#include "core/model_repository.h"
#include "core/strings.h"
#include "targets/model_store.h"
#include "targets/worker/executor.h"
#include "targets/worker/model_queue.h"
#include "targets/worker/tail_batching.h"
#include "zoo/torchscript/torchscript_import.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kServerName[] = "autoscale-worker";
constexpr char kServerVersion[] = AUTOSCALE_VERSION;  // the project's (CMakeLists.txt)
constexpr char kInputName[] = "input";
constexpr char kOutputName[] = "output";

HttpResponse JsonResponse(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse MethodNotAllowed(const HttpRequest& req, const char* allowed) {
  HttpResponse r = ErrorResponse(405, req.method + " is not allowed on " + std::string(req.path()) +
                                          " (allowed: " + allowed + ")");
  r.headers.emplace_back("Allow", allowed);
  return r;
}

// The path's segments: "/v2/models/x/infer" -> {"v2", "models", "x", "infer"}. One trailing
// '/' is ignored. Nothing is percent-decoded: model names never contain '%'.
std::vector<std::string> Segments(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string> out;
  if (path.empty()) return out;
  for (std::string_view s : Split(path, '/')) out.emplace_back(s);
  return out;
}

std::vector<int64_t> WithBatch(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s = {-1};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

}  // namespace

struct Worker::Impl {
  WorkerOptions options;
  std::string device;
  int threads = 1;
  bool tail_aware = false;  // options.tail_aware_batching resolved for the device
  ModelStore store;
  MetricsRegistry registry;
  CounterFamily* requests = nullptr;
  HistogramFamily* latency = nullptr;
  HistogramFamily* queue_time = nullptr;
  HistogramFamily* compute_time = nullptr;
  HistogramFamily* compute_input_time = nullptr;
  HistogramFamily* compute_output_time = nullptr;
  CounterFamily* inferences = nullptr;
  CounterFamily* executions = nullptr;
  HistogramFamily* batch_size = nullptr;
  GaugeFamily* depth = nullptr;
  std::atomic<bool> accepting{true};
  // Bytes held by infer requests accepted and not yet answered (max_queue_bytes caps it).
  ByteBudget budget{0};

  std::mutex mu;
  std::map<std::string, std::unique_ptr<ModelQueue>> models;  // guarded by mu

  // The metrics of GET /metrics; worker.h lists them with their Triton counterparts.
  explicit Impl(const WorkerOptions& o)
      : options(o), store(o.model_dir), budget(o.max_queue_bytes) {
    requests = &registry.AddCounter("autoscale_worker_requests_total",
                                    "Inference requests answered, by model and HTTP status.",
                                    {"model", "code"});
    latency = &registry.AddHistogram(
        "autoscale_worker_request_duration_seconds",
        "Inference request latency in the worker, from the request handed over to the response.",
        ExponentialBuckets(0.0005, 2, 16), {"model"});
    queue_time = &registry.AddHistogram(
        "autoscale_worker_queue_duration_seconds",
        "Time an inference request waited in its model's queue before its batch ran.",
        ExponentialBuckets(0.0001, 2, 16), {"model"});
    compute_input_time = &registry.AddHistogram(
        "autoscale_worker_compute_input_duration_seconds",
        "Per forward pass: joining the requests' inputs into the batch and copying it to the "
        "device.",
        ExponentialBuckets(0.00001, 2, 16), {"model"});
    compute_time = &registry.AddHistogram(
        "autoscale_worker_compute_duration_seconds",
        "Per forward pass: the pass itself, without its input and output copies.",
        ExponentialBuckets(0.0005, 2, 16), {"model"});
    compute_output_time = &registry.AddHistogram(
        "autoscale_worker_compute_output_duration_seconds",
        "Per forward pass: the output copied back to the host and cut into each request's rows.",
        ExponentialBuckets(0.00001, 2, 16), {"model"});
    inferences = &registry.AddCounter(
        "autoscale_worker_inference_count_total",
        "Samples inferred (a request of N samples counts N), in forward passes that succeeded.",
        {"model"});
    executions = &registry.AddCounter("autoscale_worker_execution_count_total",
                                      "Forward passes (batches) that succeeded.", {"model"});
    batch_size = &registry.AddHistogram("autoscale_worker_batch_size",
                                        "Samples per forward pass that succeeded.",
                                        {1, 2, 4, 8, 16, 32, 64, 128, 256}, {"model"});
    depth = &registry.AddGauge("autoscale_worker_queue_depth",
                               "Inference requests waiting in the model's queue.", {"model"});
  }

  // Whether `name` is one of the models this worker was told to serve: listed in `models`, or a
  // NAME.pt in the model folder.
  bool Serves(const std::string& name) const;
  // The queue of model `name`, created (its thread started, nothing loaded) on first use.
  // InvalidArgument for an unsafe name, NotFound for a model not served; nothing outside the
  // model folder is looked at, and nothing is loaded for a name that is not served.
  Result<ModelQueue*> QueueFor(const std::string& name);
  // Sends `r` and records the infer request's count and latency.
  void FinishInfer(const std::string& model, Clock::time_point start, Responder& respond,
                   HttpResponse r);

  void HandleInfer(HttpRequest&& req, const std::string& name, Responder respond,
                   Clock::time_point start);
  // Answers with `answer` once model `name` is loaded (loading it if needed), or with the error
  // that keeps it from being served or loaded.
  void WhenModelLoaded(const std::string& name, Responder respond,
                       std::function<HttpResponse(const ModelInfo&)> answer);
  void HandleModelMetadata(const std::string& name, Responder respond);
  void HandleModelReady(const std::string& name, Responder respond);
  // Triton's model configuration (GET /v2/models/{name}/config), once the model is loaded.
  void HandleModelConfig(const std::string& name, Responder respond);
  // Triton's repository index (POST /v2/repository/index): every model served, with its state.
  HttpResponse RepositoryIndex(const HttpRequest& req);
  HttpResponse ServerMetadata() const;
};

Result<ModelQueue*> Worker::Impl::QueueFor(const std::string& name) {
  if (!IsSafeModelName(name)) {
    return Status::InvalidArgument("invalid model name '" + name +
                                   "': names are letters, digits, '_', '-' and '.', not starting "
                                   "with '.'");
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = models.find(name);
    if (it != models.end()) return it->second.get();
  }
  // Not the lock's business: a stat.
  if (!Serves(name)) {
    std::string served = options.models.empty() ? "none listed" : JoinNames(options.models);
    if (!options.model_dir.empty()) served += "; and NAME.pt files in " + options.model_dir;
    return Status::NotFound("model '" + name + "' is not served here (served: " + served + ")");
  }
  std::lock_guard<std::mutex> lock(mu);
  auto it = models.find(name);
  if (it != models.end()) return it->second.get();  // another request made it meanwhile
  if (!accepting) return Status::Unavailable("the worker is shutting down");
  ModelLoader load = [this, name]() -> Result<LoadedModel> {
    LoadedModel m;
    ASSIGN_OR_RETURN(m.spec, store.Get(name));
    ASSIGN_OR_RETURN(m.executor, LoadExecutor(*m.spec, device, threads));
    return m;
  };
  BatchingOptions b;
  b.max_batch_size = options.max_batch_size;
  b.max_queue_delay_us = options.max_queue_delay_us;
  b.max_queue = options.max_queue;
  b.tail_aware = tail_aware;
  b.tail_tolerance = options.tail_tolerance;
  b.batch_latency_ms = options.batch_latency_ms;
  b.warm_batch_sizes = device == "cuda";
  struct PassMetrics {
    Histogram &input, &compute, &output, &sizes;
    Counter &inferences, &executions;
  };
  const PassMetrics pm = {.input = compute_input_time->Get({name}),
                          .compute = compute_time->Get({name}),
                          .output = compute_output_time->Get({name}),
                          .sizes = batch_size->Get({name}),
                          .inferences = inferences->Get({name}),
                          .executions = executions->Get({name})};
  auto on_batch = [pm](const BatchReport& b) {
    if (!b.ok) return;
    pm.input.Observe(b.input_ms / 1000.0);
    pm.compute.Observe(b.compute_ms / 1000.0);
    pm.output.Observe(b.output_ms / 1000.0);
    pm.sizes.Observe(b.samples);
    pm.inferences.Increment(b.samples);
    pm.executions.Increment();
  };
  auto q = std::make_unique<ModelQueue>(name, std::move(load), b, std::move(on_batch),
                                        &depth->Get({name}));
  return models.emplace(name, std::move(q)).first->second.get();
}

bool Worker::Impl::Serves(const std::string& name) const {
  for (const std::string& m : options.models) {
    if (m == name) return true;
  }
  return HasUserModel(options.model_dir, name);  // NAME.pt, or Triton's NAME/config.pbtxt
}

void Worker::Impl::FinishInfer(const std::string& model, Clock::time_point start,
                               Responder& respond, HttpResponse r) {
  requests->Get({model, std::to_string(r.status)}).Increment();
  latency->Get({model}).Observe(std::chrono::duration<double>(Clock::now() - start).count());
  respond(std::move(r));
}

void Worker::Impl::HandleInfer(HttpRequest&& req, const std::string& name, Responder respond,
                               Clock::time_point start) {
  Result<ModelQueue*> queue = QueueFor(name);
  // Only models that exist get their own label, so made-up names cannot grow the metrics.
  const std::string label = queue.ok() ? name : "";
  auto fail = [&](int status, const std::string& msg) {
    FinishInfer(label, start, respond, ErrorResponse(status, msg));
  };
  if (!accepting) return fail(503, "the worker is shutting down");
  if (!queue.ok()) return fail(HttpStatusFor(queue.status()), queue.status().message());
  // The request's memory, from here until it is answered: its body (the parsed tensor is no
  // larger), the JSON tree while it is parsed, and its input as floats. Charged before each is
  // made; released with its callback.
  struct Held {
    Impl* impl;
    size_t bytes = 0;
    void Release() {
      impl->budget.Release(bytes);
      bytes = 0;
    }
    ~Held() { Release(); }
  };
  auto held = std::make_shared<Held>(Held{this, 0});
  auto hold = [&](size_t bytes) {
    if (held->bytes + bytes > options.max_queue_bytes) {
      fail(413, "model '" + name + "': the request needs " + std::to_string(held->bytes + bytes) +
                    " bytes, more than the worker's queue budget of " +
                    std::to_string(options.max_queue_bytes) + " bytes (--max-queue-bytes)");
      return false;
    }
    if (!budget.TryHold(bytes)) {
      fail(503, "model '" + name + "': the worker's queue budget of " +
                    std::to_string(options.max_queue_bytes) +
                    " bytes (--max-queue-bytes) is in use by requests being served; retry later");
      return false;
    }
    held->bytes += bytes;
    return true;
  };
  if (!hold(req.body.size())) return;
  Result<std::optional<size_t>> header_length = InferenceHeaderLength(req);
  if (!header_length.ok()) return fail(400, header_length.status().message());
  // Parsing JSON text builds a tree of up to ~8 bytes per byte of it (16-byte values for
  // numbers written in 2 bytes): charged while it exists.
  const size_t json_bytes = std::min(header_length->value_or(req.body.size()), req.body.size()) * 7;
  if (!hold(json_bytes)) return;
  Result<InferRequestMsg> msg = ParseInferRequest(req.body, *header_length, options.limits);
  held->bytes -= json_bytes;
  budget.Release(json_bytes);
  if (!msg.ok()) return fail(400, "model '" + name + "': " + msg.status().message());
  if (Status st = CheckRequestNames(*msg, name, kInputName, kOutputName); !st.ok()) {
    return fail(400, st.message());
  }
  if (!hold(static_cast<size_t>(std::max<int64_t>(0, msg->inputs[0].elements())) * sizeof(float))) {
    return;
  }
  bool binary = msg->binary_outputs_default;
  for (const auto& [out, bin] : msg->outputs) binary = bin;
  auto shared = std::make_shared<Responder>(std::move(respond));
  InferDone done = [this, name, id = msg->id, binary, start, shared, held](Result<InferOutcome> r) {
    held->Release();  // before the answer: a client that has it may send the next at once
    if (!r.ok()) {
      FinishInfer(name, start, *shared,
                  ErrorResponse(HttpStatusFor(r.status()), r.status().message()));
      return;
    }
    queue_time->Get({name}).Observe(r->queue_ms / 1000.0);
    InferResponseMsg resp;
    resp.model_name = name;
    resp.model_version = "1";
    resp.id = id;
    WireTensor out;
    out.name = kOutputName;
    out.shape = std::move(r->output.shape);
    out.fp32 = std::move(r->output.data);
    out.binary = binary;
    resp.outputs.push_back(std::move(out));
    resp.parameters = {{"compute_ms", r->compute_ms},
                       {"queue_ms", r->queue_ms},
                       {"batch_size", static_cast<double>(r->batch_size)}};
    std::optional<size_t> hl;
    HttpResponse http;
    std::string body = EncodeInferResponse(resp, &hl);
    SetInferenceBody(std::move(body), hl, &http);
    FinishInfer(name, start, *shared, std::move(http));
  };
  (*queue)->Submit(std::move(msg->inputs[0]), std::move(done));
}

void Worker::Impl::WhenModelLoaded(const std::string& name, Responder respond,
                                   std::function<HttpResponse(const ModelInfo&)> answer) {
  Result<ModelQueue*> queue = QueueFor(name);
  if (!queue.ok()) {
    return respond(ErrorResponse(HttpStatusFor(queue.status()), queue.status().message()));
  }
  auto shared = std::make_shared<Responder>(std::move(respond));
  (*queue)->WhenLoaded([shared, answer = std::move(answer)](Result<ModelInfo> info) {
    (*shared)(info.ok() ? answer(*info)
                        : ErrorResponse(HttpStatusFor(info.status()), info.status().message()));
  });
}

void Worker::Impl::HandleModelMetadata(const std::string& name, Responder respond) {
  const int max_batch = options.max_batch_size;
  const std::string dev = device;
  WhenModelLoaded(name, std::move(respond), [name, max_batch, dev](const ModelInfo& info) {
    const ModelSpec& spec = *info.spec;
    json j = {
        {"name", name},
        {"versions", {"1"}},
        {"platform", "pytorch_libtorch"},
        {"inputs",
         {{{"name", kInputName},
           {"datatype", "FP32"},
           {"shape", WithBatch(spec.input_shape)},
           {"parameters", {{"accepts", {"FP32", "UINT8"}}}}}}},
        {"outputs",
         {{{"name", kOutputName}, {"datatype", "FP32"}, {"shape", WithBatch(info.output_shape)}}}},
        {"parameters",
         {{"source", spec.torchscript_path.empty() ? "zoo" : "torchscript"},
          {"runs_as", spec.is_graph() ? "graph" : "torchscript"},
          {"device", dev},
          {"max_batch_size", info.batchable ? max_batch : 1},
          {"tail_aware_batching", info.tail_aware()}}},
    };
    if (info.tail_aware()) {
      j["parameters"]["preferred_batch_sizes"] = info.preferred_batch_sizes;
      j["parameters"]["batch_latency_ms"] = info.batch_latency_ms;
    }
    return JsonResponse(200, j);
  });
}

void Worker::Impl::HandleModelConfig(const std::string& name, Responder respond) {
  const int max_batch = options.max_batch_size;
  const int64_t delay_us = options.max_queue_delay_us;
  WhenModelLoaded(name, std::move(respond), [name, max_batch, delay_us](const ModelInfo& info) {
    // As Triton writes it: dims without the batch dimension when max_batch_size > 0 (the
    // batch is then implied), with it (as -1) for a model that does not batch (0).
    const bool batches = info.batchable && max_batch > 1;
    auto dims = [batches](const std::vector<int64_t>& shape) {
      return batches ? shape : WithBatch(shape);
    };
    json j = {
        {"name", name},
        {"platform", "pytorch_libtorch"},
        {"backend", "pytorch"},
        {"max_batch_size", batches ? max_batch : 0},
        {"input",
         {{{"name", kInputName},
           {"data_type", "TYPE_FP32"},
           {"dims", dims(info.spec->input_shape)}}}},
        {"output",
         {{{"name", kOutputName}, {"data_type", "TYPE_FP32"}, {"dims", dims(info.output_shape)}}}},
        {"version_policy", {{"specific", {{"versions", {1}}}}}},
    };
    if (batches) j["dynamic_batching"] = {{"max_queue_delay_microseconds", delay_us}};
    // Triton's field for the sizes its batcher aims at; here, those tail-aware batching closes.
    if (batches && info.tail_aware()) {
      j["dynamic_batching"]["preferred_batch_size"] = info.preferred_batch_sizes;
    }
    return JsonResponse(200, j);
  });
}

HttpResponse Worker::Impl::RepositoryIndex(const HttpRequest& req) {
  // {"ready": true} lists only the models ready now; an empty body, every model served.
  bool only_ready = false;
  if (!req.body.empty()) {
    json b = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!b.is_object())
      return ErrorResponse(400, "expected a JSON object such as {\"ready\": true}");
    if (auto r = b.find("ready"); r != b.end()) {
      if (!r->is_boolean()) return ErrorResponse(400, "ready: expected true or false");
      only_ready = r->get<bool>();
    }
  }
  json list = json::array();
  for (const std::string& n : store.Names()) {  // zoo names, then the folder's models
    if (!Serves(n)) continue;
    std::optional<ModelInfo> info;
    Status last;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = models.find(n); it != models.end()) {
        info = it->second->info();
        last = it->second->last_error();
      }
    }
    if (only_ready && !info) continue;
    json m = {{"name", n}, {"version", "1"}, {"state", info ? "READY" : "UNAVAILABLE"}};
    if (!info) m["reason"] = last.ok() ? "not loaded yet (loads on first use)" : last.message();
    list.push_back(std::move(m));
  }
  return JsonResponse(200, list);
}

void Worker::Impl::HandleModelReady(const std::string& name, Responder respond) {
  Result<ModelQueue*> queue = QueueFor(name);
  if (!queue.ok()) {
    return respond(ErrorResponse(HttpStatusFor(queue.status()), queue.status().message()));
  }
  if ((*queue)->info()) return respond(JsonResponse(200, {{"name", name}, {"ready", true}}));
  const Status last = (*queue)->last_error();
  (*queue)->Load();
  std::string msg = "model '" + name + "' is not loaded yet; loading started";
  if (!last.ok()) msg = last.message() + "; loading again";
  respond(ErrorResponse(400, msg));
}

HttpResponse Worker::Impl::ServerMetadata() const {
  return JsonResponse(200, {{"name", kServerName},
                            {"version", kServerVersion},
                            {"extensions", {"binary_tensor_data"}},
                            {"device", device},
                            {"threads", threads},
                            {"tail_aware_batching", tail_aware}});
}

// ---- Worker -----------------------------------------------------------------------------------

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Worker::~Worker() { Shutdown(); }

Result<std::unique_ptr<Worker>> Worker::Create(const WorkerOptions& options) {
  // Users' TorchScript files are imported into the graph IR (their real weights), which the
  // worker runs like a zoo graph; what the import cannot map runs as TorchScript.
  if (!HaveTorchScriptImporter()) InstallTorchScriptImporter();
  if (options.max_batch_size < 1) {
    return Status::InvalidArgument("max_batch_size must be at least 1; got " +
                                   std::to_string(options.max_batch_size));
  }
  if (options.max_queue_delay_us < 0 || options.max_queue_delay_us > 10'000'000) {
    return Status::InvalidArgument("max_queue_delay_us must be in [0, 10000000]; got " +
                                   std::to_string(options.max_queue_delay_us));
  }
  if (options.threads < 0) {
    return Status::InvalidArgument("threads must be 0 (one per CPU) or more; got " +
                                   std::to_string(options.threads));
  }
  if (options.max_queue_bytes < 1) {
    return Status::InvalidArgument("max_queue_bytes must be at least 1");
  }
  if (options.max_queue < 1) {
    return Status::InvalidArgument("max_queue must be at least 1; got " +
                                   std::to_string(options.max_queue));
  }
  std::error_code ec;
  if (!options.model_dir.empty() && !std::filesystem::is_directory(options.model_dir, ec)) {
    return Status::NotFound("model folder '" + options.model_dir + "' does not exist");
  }
  if (!std::isfinite(options.tail_tolerance) || options.tail_tolerance < 0 ||
      options.tail_tolerance > 1) {
    return Status::InvalidArgument("tail_tolerance must be in [0, 1]; got " +
                                   std::to_string(options.tail_tolerance));
  }
  if (!options.batch_latency_ms.empty()) {
    if (static_cast<int>(options.batch_latency_ms.size()) != options.max_batch_size) {
      return Status::InvalidArgument(
          "batch_latency_ms has " + std::to_string(options.batch_latency_ms.size()) +
          " entries; it needs one per batch size 1.." + std::to_string(options.max_batch_size));
    }
    RETURN_IF_ERROR(PreferredBatchSizes(options.batch_latency_ms, options.tail_tolerance).status());
  }
  auto impl = std::make_unique<Impl>(options);
  ASSIGN_OR_RETURN(impl->device, ResolveDevice(options.device));
  ASSIGN_OR_RETURN(impl->tail_aware,
                   ResolveTailAwareBatching(options.tail_aware_batching, impl->device));
  if (options.host_cache_bytes > 0) InstallCachingHostAllocator(options.host_cache_bytes);
  impl->threads = EffectiveThreads(options.threads);
  SetBlasThreads(impl->threads);  // each pass then sets what it needs (executor.cc)
  std::unique_ptr<Worker> worker(new Worker(std::move(impl)));
  // Every listed model must exist (a zoo name, or a user's model in the model folder).
  for (const std::string& name : options.models) {
    if (!IsSafeModelName(name)) {
      return Status::InvalidArgument("invalid model name '" + name + "' in the models to serve");
    }
    const bool in_dir = HasUserModel(options.model_dir, name);
    if (!IsZooModel(name) && !in_dir) {
      Result<std::shared_ptr<const ModelSpec>> r = worker->impl_->store.Get(name);
      return r.ok() ? Status::NotFound("no model '" + name + "'") : r.status();
    }
  }
  // Preload in parallel, one batcher thread each, and wait for all.
  std::vector<std::pair<std::string, std::future<Status>>> loads;
  for (const std::string& name : options.models) {
    ASSIGN_OR_RETURN(ModelQueue * q, worker->impl_->QueueFor(name));
    auto promise = std::make_shared<std::promise<Status>>();
    loads.emplace_back(name, promise->get_future());
    q->WhenLoaded([promise](Result<ModelInfo> r) { promise->set_value(r.status()); });
  }
  for (auto& [name, f] : loads) {
    Status s = f.get();
    if (!s.ok()) return s.WithPrefix("preloading model '" + name + "'");
  }
  return worker;
}

void Worker::Handle(HttpRequest&& req, Responder respond) {
  const Clock::time_point start = Clock::now();
  const std::vector<std::string> seg = Segments(req.path());
  const bool get = req.method == "GET";
  auto only_get = [&]() {
    if (get) return true;
    respond(MethodNotAllowed(req, "GET"));
    return false;
  };
  const size_t n = seg.size();
  if (n == 1 && seg[0] == "metrics") {
    if (!only_get()) return;
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = impl_->registry.Render();
    return respond(std::move(r));
  }
  if (n >= 1 && seg[0] == "v2") {
    if (n == 1) {
      if (only_get()) respond(impl_->ServerMetadata());
      return;
    }
    if (n == 3 && seg[1] == "health" && (seg[2] == "live" || seg[2] == "ready")) {
      if (!only_get()) return;
      if (seg[2] == "live") return respond(JsonResponse(200, {{"live", true}}));
      if (!impl_->accepting) return respond(ErrorResponse(503, "the worker is shutting down"));
      return respond(JsonResponse(200, {{"ready", true}}));
    }
    if (n == 3 && seg[1] == "repository" && seg[2] == "index") {
      if (req.method != "POST") return respond(MethodNotAllowed(req, "POST"));
      return respond(impl_->RepositoryIndex(req));
    }
    if (n >= 3 && seg[1] == "models") {
      const std::string& name = seg[2];
      std::vector<std::string> rest(seg.begin() + 3, seg.end());
      if (rest.size() >= 2 && rest[0] == "versions") {
        if (rest[1] != "1") {
          return respond(ErrorResponse(
              404, "model '" + name + "' has no version '" + rest[1] + "' (versions: 1)"));
        }
        rest.erase(rest.begin(), rest.begin() + 2);
      }
      if (rest.empty()) {
        if (only_get()) impl_->HandleModelMetadata(name, std::move(respond));
        return;
      }
      if (rest.size() == 1 && rest[0] == "ready") {
        if (only_get()) impl_->HandleModelReady(name, std::move(respond));
        return;
      }
      if (rest.size() == 1 && rest[0] == "config") {
        if (only_get()) impl_->HandleModelConfig(name, std::move(respond));
        return;
      }
      if (rest.size() == 1 && rest[0] == "infer") {
        if (req.method != "POST") return respond(MethodNotAllowed(req, "POST"));
        return impl_->HandleInfer(std::move(req), name, std::move(respond), start);
      }
    }
  }
  respond(ErrorResponse(404, "no route " + req.method + " " + std::string(req.path()) +
                                 " (routes: /v2, /v2/health/{live,ready}, /v2/models/{name}, "
                                 "/v2/models/{name}/ready, /v2/models/{name}/config, "
                                 "/v2/models/{name}/infer, /v2/repository/index, /metrics)"));
}

HttpHandler Worker::handler() {
  return
      [this](HttpRequest&& req, Responder respond) { Handle(std::move(req), std::move(respond)); };
}

void Worker::Shutdown() {
  impl_->accepting = false;
  std::vector<ModelQueue*> queues;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [_, q] : impl_->models) queues.push_back(q.get());
  }
  for (ModelQueue* q : queues) q->Stop();
}

std::string Worker::device() const { return impl_->device; }
int Worker::threads() const { return impl_->threads; }
bool Worker::tail_aware() const { return impl_->tail_aware; }
const MetricsRegistry& Worker::metrics() const { return impl_->registry; }

}  // namespace autoscale
