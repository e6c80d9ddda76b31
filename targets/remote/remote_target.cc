#include "targets/remote/remote_target.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <future>
#include <optional>
#include <nlohmann/json.hpp>

namespace autoscale {
namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Model names go into URL paths: keep them to what needs no escaping.
bool ValidModelName(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// The {"error": "..."} of an error answer, else the start of the body.
std::string ErrorText(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  return r.body.size() <= 200 ? r.body : r.body.substr(0, 200) + "...";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// An input's shape against the model's (when the spec carries one) and its value count.
Status CheckShape(const ModelSpec& model, const std::vector<int64_t>& shape, size_t values) {
  if (!model.input_shape.empty()) {
    HostTensor probe;
    probe.shape = shape;
    probe.data.resize(values);
    return CheckInput(model, probe);
  }
  int64_t n = shape.empty() ? 0 : 1;
  for (int64_t d : shape) n *= d;
  if (shape.empty() || shape[0] < 1 || n != static_cast<int64_t>(values)) {
    return Status::InvalidArgument("input shape " + ShapeText(shape) + " with " +
                                   std::to_string(values) + " values for model '" + model.name +
                                   "': expected [N, ...] with N >= 1 holding every value");
  }
  return Status::Ok();
}

constexpr float kImageMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageStd[3] = {0.229f, 0.224f, 0.225f};

}  // namespace

Uint8Tensor QuantizeUint8(const HostTensor& input) {
  Uint8Tensor out;
  out.shape = input.shape;
  out.data.resize(input.data.size());
  const bool image = input.shape.size() == 4 && input.shape[1] == 3;
  const size_t plane = image ? static_cast<size_t>(input.shape[2] * input.shape[3]) : 1;
  for (size_t i = 0; i < input.data.size(); ++i) {
    float v = input.data[i];
    if (image) {
      const size_t c = (i / plane) % 3;
      v = v * kImageStd[c] + kImageMean[c];
    }
    out.data[i] = static_cast<uint8_t>(std::clamp(std::lround(v * 255.0f), 0l, 255l));
  }
  return out;
}

Result<std::unique_ptr<RemoteTarget>> RemoteTarget::Create(RemoteOptions options) {
  const std::string where = "remote target '" + options.name + "'";
  if (options.name.empty()) return Status::InvalidArgument("remote target: the name is empty");
  if (!IsRemote(options.kind)) {
    return Status::InvalidArgument(where + ": kind '" + std::string(TargetKindName(options.kind)) +
                                   "' is not remote (valid: cloud, nearby)");
  }
  if (options.wire != "binary" && options.wire != "json" && options.wire != "uint8") {
    return Status::InvalidArgument(where + ": unknown wire '" + options.wire +
                                   "' (valid: binary, json, uint8)");
  }
  if (options.input_name.empty()) {
    return Status::InvalidArgument(where + ": the input tensor name is empty");
  }
  if (options.breaker.failures_to_open < 1 || options.default_timeout_ms < 1 ||
      options.probe_timeout_ms < 1) {
    return Status::InvalidArgument(
        where + ": failures_to_open, default_timeout_ms and probe_timeout_ms must be >= 1");
  }
  auto ep = Endpoint::Parse(options.endpoint);
  if (!ep.ok()) return ep.status().WithPrefix(where);
  auto client = HttpClient::Create(*ep, options.client);
  if (!client.ok()) return client.status().WithPrefix(where);
  return std::unique_ptr<RemoteTarget>(
      new RemoteTarget(std::move(options), *ep, std::move(client).value()));
}

RemoteTarget::RemoteTarget(RemoteOptions options, Endpoint endpoint,
                           std::unique_ptr<HttpClient> client)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      client_(std::move(client)),
      breaker_(options_.breaker) {
  base_.name = options_.name;
  base_.kind = options_.kind;
  base_.precisions = {Precision::kFp32};
  base_.levels = 1;
  base_.device = "KServe v2 worker at " + endpoint_.ToString() + " (" + options_.wire + " wire)";
  base_.notes =
      "latency measured end to end (network, queue, compute); energy not measured here: the "
      "caller models the radio from latency and bytes";
  desc_ = base_;
  if (options_.probe_interval_ms > 0) prober_ = std::thread([this] { ProbeLoop(); });
}

RemoteTarget::~RemoteTarget() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  probe_cv_.notify_all();
  if (prober_.joinable()) prober_.join();
  client_.reset();  // requests in flight end here, while the state they touch is alive
}

std::string RemoteTarget::Prefix() const {
  return "remote target '" + options_.name + "' (" + endpoint_.ToString() + ")";
}

const TargetDescription& RemoteTarget::description() const {
  desc_ = Snapshot();
  return desc_;
}

TargetDescription RemoteTarget::Snapshot() const {
  TargetDescription d = base_;
  std::lock_guard<std::mutex> lock(mu_);
  if (breaker_.open()) {
    d.available = false;
    d.unavailable_reason = Prefix() + ": " + breaker_.Reason();
    if (options_.probe_interval_ms > 0) {
      d.unavailable_reason += "; probing GET /v2/health/ready every " +
                              std::to_string(options_.probe_interval_ms) + " ms";
    }
  }
  return d;
}

bool RemoteTarget::Healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !breaker_.open();
}

LinkEstimate RemoteTarget::link() const {
  std::lock_guard<std::mutex> lock(mu_);
  return link_.estimate();
}

int RemoteTarget::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return breaker_.consecutive_failures();
}

void RemoteTarget::RecordFailure(const std::string& reason) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    breaker_.Abandon();  // cancelled at shutdown: says nothing about the worker
  } else {
    breaker_.Failure(reason, Clock::now());
  }
}

void RemoteTarget::RecordSuccess() const {
  std::lock_guard<std::mutex> lock(mu_);
  breaker_.Success();
}

Status RemoteTarget::QueryReady(const std::string& model) const {
  if (!ValidModelName(model)) {
    return Status::InvalidArgument(Prefix() + ": model name '" + model +
                                   "' (letters, digits, '_', '-' and '.' only)");
  }
  HttpRequest req;
  req.method = "GET";
  req.target = "/v2/models/" + model + "/ready";
  auto r = client_->Send(std::move(req), std::chrono::milliseconds(options_.probe_timeout_ms));
  if (!r.ok()) {
    RecordFailure(r.status().message());
    return Status::Unavailable(Prefix() + ": " + r.status().message());
  }
  Status st;
  if (r->status == 200) {
    st = Status::Ok();
    QueryMetadata(model);
  } else if (r->status == 404) {
    st = Status::NotFound(Prefix() + ": the worker has no model '" + model + "' (" + ErrorText(*r) +
                          ")");
  } else {
    st = Status::Unavailable(Prefix() + ": model '" + model + "' is not ready (HTTP " +
                             std::to_string(r->status) + ": " + ErrorText(*r) + ")");
  }
  std::lock_guard<std::mutex> lock(mu_);
  ready_[model] = {st, Clock::now()};
  return st;
}

void RemoteTarget::QueryMetadata(const std::string& model) const {
  HttpRequest req;
  req.method = "GET";
  req.target = "/v2/models/" + model;
  auto r = client_->Send(std::move(req), std::chrono::milliseconds(options_.probe_timeout_ms));
  if (!r.ok() || r->status != 200) return;  // no metadata: answers are checked without it
  auto j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  if (j.contains("parameters") && j["parameters"].is_object() &&
      j["parameters"].contains("source") && j["parameters"]["source"].is_string()) {
    std::lock_guard<std::mutex> lock(mu_);
    sources_[model] = j["parameters"]["source"].get<std::string>();
  }
  if (!j.contains("outputs") || !j["outputs"].is_array()) return;
  std::vector<OutputMeta> outs;
  for (const auto& o : j["outputs"]) {
    if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) return;
    OutputMeta m;
    m.name = o["name"].get<std::string>();
    if (o.contains("datatype") && o["datatype"].is_string()) m.datatype = o["datatype"];
    if (o.contains("shape") && o["shape"].is_array() && o["shape"].size() <= 16) {
      for (const auto& d : o["shape"]) {
        if (!d.is_number_integer()) return;
        m.shape.push_back(d.get<int64_t>());
      }
    }
    outs.push_back(std::move(m));
    if (outs.size() > 64) return;  // not a classifier's metadata: check without it
  }
  if (outs.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  outputs_[model] = std::make_shared<const std::vector<OutputMeta>>(std::move(outs));
}

Status RemoteTarget::CheckOutputs(const InferResponseMsg& msg, const Expected& e) const {
  std::shared_ptr<const std::vector<OutputMeta>> known;  // not copied per answer
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = outputs_.find(e.model); it != outputs_.end()) known = it->second;
  }
  static const std::vector<OutputMeta> kNone;
  const std::vector<OutputMeta>& meta = known ? *known : kNone;
  if (msg.outputs.empty()) return Status::InvalidArgument("the answer has no outputs");
  const size_t want = meta.empty() ? 1 : meta.size();
  if (msg.outputs.size() != want) {
    return Status::InvalidArgument(std::to_string(msg.outputs.size()) + " outputs for model '" +
                                   e.model + "', which has " + std::to_string(want));
  }
  for (size_t i = 0; i < msg.outputs.size(); ++i) {
    const WireTensor& out = msg.outputs[i];
    const std::string what = "output '" + out.name + "'";
    if (!meta.empty()) {
      auto m = std::find_if(meta.begin(), meta.end(),
                            [&](const OutputMeta& o) { return o.name == out.name; });
      if (m == meta.end()) {
        return Status::InvalidArgument(what + " is not an output of model '" + e.model +
                                       "' (its metadata lists '" + meta.front().name + "'" +
                                       (meta.size() > 1 ? ", ..." : "") + ")");
      }
      if (!m->datatype.empty() && m->datatype != "FP32") {
        return Status::InvalidArgument(what + ": the metadata says " + m->datatype +
                                       "; the daemon takes FP32 outputs");
      }
      if (!m->shape.empty()) {
        bool fits = m->shape.size() == out.shape.size();
        for (size_t d = 0; fits && d < out.shape.size(); ++d) {
          fits = m->shape[d] < 0 || m->shape[d] == out.shape[d];
        }
        if (!fits) {
          return Status::InvalidArgument(what + ": shape " + ShapeText(out.shape) +
                                         ", the metadata says " + ShapeText(m->shape));
        }
      }
    }
    if (out.type != TensorType::kFp32) {
      return Status::InvalidArgument(what + ": datatype " + TensorTypeName(out.type) +
                                     ", expected FP32");
    }
    if (out.shape.empty() || out.shape[0] != e.batch) {
      return Status::InvalidArgument(what + ": shape " + ShapeText(out.shape) + " for a batch of " +
                                     std::to_string(e.batch));
    }
    if (!e.per_sample.empty() && !std::equal(out.shape.begin() + 1, out.shape.end(),
                                             e.per_sample.begin(), e.per_sample.end())) {
      std::vector<int64_t> full{e.batch};
      full.insert(full.end(), e.per_sample.begin(), e.per_sample.end());
      return Status::InvalidArgument(what + ": shape " + ShapeText(out.shape) + ", model '" +
                                     e.model + "' gives " + ShapeText(full));
    }
    if (out.elements() != static_cast<int64_t>(out.fp32.size())) {
      return Status::InvalidArgument(what + ": " + std::to_string(out.fp32.size()) +
                                     " values for shape " + ShapeText(out.shape));
    }
    if (e.input_finite) {
      auto bad =
          std::find_if(out.fp32.begin(), out.fp32.end(), [](float v) { return !std::isfinite(v); });
      if (bad != out.fp32.end()) {
        return Status::InvalidArgument(what + ": value " + std::to_string(*bad) + " at index " +
                                       std::to_string(bad - out.fp32.begin()) +
                                       " for a finite input");
      }
    }
  }
  return Status::Ok();
}

Status RemoteTarget::CheckSource(const ModelSpec& model) const {
  std::string source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sources_.find(model.name);
    if (it == sources_.end()) return Status::Ok();  // not said (Triton, KServe): not checked
    source = it->second;
  }
  const bool user = !model.torchscript_path.empty();
  if (user && source == "zoo") {
    return Status::Unavailable(Prefix() + " serves '" + model.name +
                               "' from its zoo, but here it is the user's file " +
                               model.torchscript_path +
                               "; start the worker with --model-dir holding that file");
  }
  if (!user && source == "torchscript") {
    return Status::Unavailable(Prefix() + " serves '" + model.name +
                               "' from a TorchScript file, but here it is the zoo's network");
  }
  return Status::Ok();
}

Status RemoteTarget::Supports(const ModelSpec& model, Precision precision) const {
  if (precision != Precision::kFp32) {
    return Status::Unavailable(Prefix() + " runs fp32 only; asked for " +
                               std::string(PrecisionName(precision)));
  }
  std::optional<Status> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (breaker_.open()) return Status::Unavailable(Prefix() + ": " + breaker_.Reason());
    auto it = ready_.find(model.name);
    if (it != ready_.end() &&
        Clock::now() - it->second.at < std::chrono::milliseconds(options_.ready_cache_ms)) {
      cached = it->second.status;
    }
  }
  RETURN_IF_ERROR(cached ? *cached : QueryReady(model.name));
  return CheckSource(model);  // takes mu_ itself
}

Status RemoteTarget::Prepare(const ModelSpec& model, Precision precision) {
  if (precision != Precision::kFp32) {
    return Status::Unavailable(Prefix() + " runs fp32 only; asked for " +
                               std::string(PrecisionName(precision)));
  }
  RETURN_IF_ERROR(QueryReady(model.name));
  return CheckSource(model);
}

Result<InferenceResult> RemoteTarget::Run(const ModelSpec& model, Precision precision, int level,
                                          const HostTensor& input) {
  if (precision != Precision::kFp32) {
    return Status::Unavailable(Prefix() + " runs fp32 only; asked for " +
                               std::string(PrecisionName(precision)));
  }
  if (level != 0) {
    return Status::InvalidArgument(Prefix() + " has level 0 only; got " + std::to_string(level));
  }
  RETURN_IF_ERROR(CheckSource(model));
  std::promise<Result<RemoteResult>> promise;
  auto future = promise.get_future();
  RunAsync(model, input, Clock::now() + std::chrono::milliseconds(options_.default_timeout_ms),
           [&promise](Result<RemoteResult> r) { promise.set_value(std::move(r)); });
  Result<RemoteResult> r = future.get();
  if (!r.ok()) return r.status();
  return std::move(r).value().inference;
}

void RemoteTarget::RunAsync(const ModelSpec& model, const HostTensor& input,
                            Clock::time_point deadline, Done done) {
  if (Status st = CheckShape(model, input.shape, input.data.size()); !st.ok()) {
    return done(st.WithPrefix(Prefix()));
  }
  if (options_.wire == "uint8") {
    Uint8Tensor q = QuantizeUint8(input);
    return RunAsync(model, q, deadline, std::move(done));
  }
  WireTensor t;
  t.name = options_.input_name;
  t.type = TensorType::kFp32;
  t.shape = input.shape;
  t.fp32 = input.data;
  t.binary = options_.wire == "binary";
  Send(model, std::move(t), deadline, std::move(done));
}

void RemoteTarget::RunAsync(const ModelSpec& model, const Uint8Tensor& input,
                            Clock::time_point deadline, Done done) {
  if (Status st = CheckShape(model, input.shape, input.data.size()); !st.ok()) {
    return done(st.WithPrefix(Prefix()));
  }
  WireTensor t;
  t.name = options_.input_name;
  t.type = TensorType::kUint8;
  t.shape = input.shape;
  t.u8 = input.data;
  t.binary = options_.wire != "json";
  Send(model, std::move(t), deadline, std::move(done));
}

void RemoteTarget::Send(const ModelSpec& model, WireTensor input, Clock::time_point deadline,
                        Done done) {
  const Clock::time_point start = Clock::now();
  if (!ValidModelName(model.name)) {
    return done(Status::InvalidArgument(Prefix() + ": model name '" + model.name +
                                        "' (letters, digits, '_', '-' and '.' only)"));
  }
  if (deadline <= start) {  // the caller's budget, not the worker's fault: the breaker is not told
    return done(Status::Unavailable(Prefix() + ": POST /v2/models/" + model.name +
                                    "/infer: the deadline passed before the request was sent"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    // With background probes, a probe closes an open breaker; without, the first request after
    // the cooldown is the half-open trial.
    if (!breaker_.Allow(start, /*trial_allowed=*/options_.probe_interval_ms <= 0)) {
      const std::string reason = breaker_.Reason();
      return done(Status::Unavailable(Prefix() + ": " + reason));
    }
  }
  Expected expected;
  expected.model = model.name;
  expected.batch = input.shape.empty() ? 0 : input.shape[0];
  if (model.is_graph()) {
    const Graph& g = model.graph->graph;
    expected.per_sample = g.node(g.output()).out_shape;
  }
  expected.input_finite =
      input.type != TensorType::kFp32 ||
      std::all_of(input.fp32.begin(), input.fp32.end(), [](float v) { return std::isfinite(v); });
  InferRequestMsg msg;
  msg.id = std::to_string(++next_id_);
  msg.inputs.push_back(std::move(input));
  msg.binary_outputs_default = options_.wire != "json";
  std::optional<size_t> header_length;
  HttpRequest req;
  req.method = "POST";
  req.target = "/v2/models/" + model.name + "/infer";
  std::string body = EncodeInferRequest(msg, &header_length);
  SetInferenceBody(std::move(body), header_length, &req);
  const int64_t bytes_up = static_cast<int64_t>(req.body.size());
  client_->Async(std::move(req), deadline,
                 [this, start, bytes_up, expected = std::move(expected),
                  done = std::move(done)](Result<HttpResponse> r) {
                   OnInferResponse(std::move(r), start, bytes_up, expected, done);
                 });
}

void RemoteTarget::OnInferResponse(Result<HttpResponse> r, Clock::time_point start,
                                   int64_t bytes_up, const Expected& expected, const Done& done) {
  if (!r.ok()) {
    RecordFailure(r.status().message());
    return done(Status::Unavailable(Prefix() + ": " + r.status().message()));
  }
  const HttpResponse& h = *r;
  auto fail = [&](const std::string& what) {
    RecordFailure(what);
    done(Status::Unavailable(Prefix() + ": " + what));
  };
  if (h.status >= 400 && h.status < 500) {
    RecordSuccess();  // the worker is up; the request was wrong
    const std::string what =
        "the worker refused the request (HTTP " + std::to_string(h.status) + "): " + ErrorText(h);
    return done(h.status == 404 ? Status::NotFound(Prefix() + ": " + what)
                                : Status::InvalidArgument(Prefix() + ": " + what));
  }
  if (h.status != 200) {
    return fail("the worker answered HTTP " + std::to_string(h.status) + ": " + ErrorText(h));
  }
  auto header_length = InferenceHeaderLength(h);
  if (!header_length.ok()) {
    return fail("bad answer from the worker: " + header_length.status().message());
  }
  auto msg = ParseInferResponse(h.body, *header_length);
  if (!msg.ok()) return fail("bad answer from the worker: " + msg.status().message());
  if (Status st = CheckOutputs(*msg, expected); !st.ok()) {
    return fail("bad answer from the worker: " + st.message());
  }
  WireTensor& out = msg->outputs.front();
  RemoteResult res;
  res.inference.output.shape = out.shape;
  res.inference.output.data = std::move(out.fp32);
  auto param = [&](const char* key) {
    auto it = msg->parameters.find(key);
    return it == msg->parameters.end() ? -1.0 : it->second;
  };
  res.compute_ms = param("compute_ms");
  res.queue_ms = param("queue_ms");
  res.bytes_up = bytes_up;
  res.bytes_down = static_cast<int64_t>(h.body.size());
  res.connect_ms = h.connect_ms;
  res.write_ms = h.write_ms;
  res.response_ms = h.response_ms;
  res.reused_connection = h.reused_connection;
  res.inference.energy_mj = 0;
  res.inference.energy_source = EnergySource::kModelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    breaker_.Success();
    link_.AddExchange({h.elapsed_ms, h.connect_ms, h.write_ms, res.bytes_up, res.bytes_down,
                       res.compute_ms, res.queue_ms});
  }
  res.inference.latency_ms = MsSince(start);
  done(std::move(res));
}

void RemoteTarget::ProbeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    // Closed: probes keep the RTT fresh and notice a worker gone quiet. Open: once cooled down,
    // a probe is the half-open trial.
    if (!breaker_.open() || breaker_.ProbeDue(now)) {
      probe_in_flight_ = true;
      lock.unlock();
      HttpRequest req;
      req.method = "GET";
      req.target = "/v2/health/ready";
      client_->Async(
          std::move(req), now + std::chrono::milliseconds(options_.probe_timeout_ms),
          [this](Result<HttpResponse> r) {
            std::lock_guard<std::mutex> guard(mu_);
            probe_in_flight_ = false;
            probe_cv_.notify_all();
            if (stopping_) return;
            if (r.ok() && r->status == 200) {
              link_.AddProbe(r->elapsed_ms, r->connect_ms);
              // While closed, a healthy probe does not excuse failing inferences.
              if (breaker_.open()) breaker_.Success();
            } else {
              breaker_.Failure(
                  "health probe: " + (r.ok() ? "GET /v2/health/ready answered HTTP " +
                                                   std::to_string(r->status) + ": " + ErrorText(*r)
                                             : r.status().message()),
                  Clock::now());
            }
          });
      lock.lock();
      probe_cv_.wait(lock, [this] { return stopping_ || !probe_in_flight_; });
    }
    probe_cv_.wait_for(lock, std::chrono::milliseconds(options_.probe_interval_ms),
                       [this] { return stopping_; });
  }
}

}  // namespace autoscale
