// The remote target: offloads inference to a KServe v2 worker (autoscale-worker, or any Triton or
// KServe deployment) over HTTP/1.1 keep-alive. A cloud GPU worker and a nearby device are the same
// class with different names and kinds. It measures latency end to end, learns the link (RTT and
// throughput, link_estimator.h), and keeps a circuit breaker (breaker.h) fed by requests and by
// background health probes, so that a worker that is down makes the target unavailable instead
// of failing every request slowly. Torch-free; Boost only inside targets/http.
//
// The worker's protocol (kserve/open-inference-protocol, REST):
//   POST /v2/models/{name}/infer      one input tensor (named options.input_name), every output
//                                     asked back; the first output is the result
//   GET  /v2/models/{name}/ready      Prepare() and Supports()
//   GET  /v2/models/{name}            after a ready answer: the outputs' names, datatypes and
//                                     shapes, against which every answer is checked
//   GET  /v2/health/ready             the background probe
// An answer is used only when its outputs are what the model's metadata says (names, FP32,
// shape [batch, ...] with the per-sample shape of the metadata and, for a zoo graph, of the
// graph, the element count) and finite where the input was; anything else is a failed request
// (the breaker is told, the caller falls back), never garbage passed on as a result.
// Wires: "binary" (FP32, binary tensor extension: a JSON header of Inference-Header-Content-Length
// bytes, then raw little-endian data), "json" (FP32 as JSON numbers, about 3x the bytes) and
// "uint8" (a quarter of the bytes of FP32: see QuantizeUint8). Outputs come back binary except on
// the json wire. The worker may report "compute_ms" and "queue_ms" in the response parameters.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "targets/remote/breaker.h"
#include "targets/remote/link_estimator.h"
#include "targets/target.h"

namespace autoscale {

struct RemoteOptions {
  std::string name = "cloud";
  TargetKind kind = TargetKind::kCloud;     // kCloud or kNearby
  std::string endpoint = "127.0.0.1:8000";  // Endpoint::Parse: "host:port", "unix:/path"
  std::string wire = "binary";              // "binary" | "json" | "uint8"
  std::string input_name = "input";         // the name the request gives its input tensor
  int default_timeout_ms = 2000;            // Run()'s deadline
  BreakerOptions breaker;                   // failures_to_open 3, open_cooldown_ms 1000
  int probe_interval_ms = 500;              // background health probes; 0: none (then the first
                                            // request after the cooldown is the half-open trial)
  int probe_timeout_ms = 1000;              // deadline of a probe and of a readiness query
  int ready_cache_ms = 10000;               // how long Supports() trusts a readiness answer
  // The worker's answers are a model's outputs (a classifier's batch: kilobytes): a larger one is
  // refused while it is read, so a hostile worker cannot make the daemon hold 256 MiB a request.
  HttpClientOptions client{
      .max_idle_connections = 64, .threads = 1, .max_response_bytes = 32u << 20};
};

// An input already in bytes (a camera frame), sent as UINT8 on any wire. The worker turns it into
// floats as kserve.h's ToHostTensor says: per-sample shape [3, H, W] is an RGB image normalised
// with the ImageNet statistics, any other shape v / 255.
struct Uint8Tensor {
  std::vector<int64_t> shape;  // with the batch dimension
  std::vector<uint8_t> data;
};

// The inverse of ToHostTensor for UINT8: what the uint8 wire sends for a float input. Values the
// bytes cannot hold are clamped (an image's pixels, normalised, always fit).
Uint8Tensor QuantizeUint8(const HostTensor& input);

struct RemoteResult {
  // output: the worker's first output; latency_ms: end to end, from RunAsync to the decoded
  // output (encoding, network, queue, compute, decoding); energy_mj 0: the caller models the
  // radio's energy from the latency and the bytes.
  InferenceResult inference;
  double compute_ms = -1;  // the worker's reported figures; -1 when it reported none
  double queue_ms = -1;
  int64_t bytes_up = 0;    // request body bytes (HTTP headers not counted)
  int64_t bytes_down = 0;  // response body bytes
  // From the HTTP exchange (HttpResponse): connection set-up, request write, response wait.
  double connect_ms = 0, write_ms = 0, response_ms = 0;
  bool reused_connection = false;
};

class RemoteTarget final : public Target {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(Result<RemoteResult>)>;

  // InvalidArgument for a malformed endpoint, an unknown wire or a kind that is not remote.
  // Contacts nobody: the target starts available and the first probe goes out at once.
  static Result<std::unique_ptr<RemoteTarget>> Create(RemoteOptions options);
  // Stops probing and cancels requests in flight (their callbacks get Unavailable) before it
  // returns. Must not be called from one of this target's callbacks.
  ~RemoteTarget() override;

  // Target's single-caller contract holds here: the returned reference is refreshed on each call
  // and stays valid until the next. Other threads call Snapshot() or Healthy().
  const TargetDescription& description() const override;
  TargetDescription Snapshot() const;  // thread-safe copy
  bool Healthy() const;                // thread-safe: false while the breaker is open

  // fp32 only; Unavailable while the breaker is open; otherwise the worker's readiness of the
  // model (GET /v2/models/{name}/ready), cached for ready_cache_ms. Thread-safe.
  Status Supports(const ModelSpec& model, Precision precision) const override;
  // Asks the worker afresh: NotFound when it has no such model, Unavailable when it is not ready
  // or cannot be reached. Thread-safe.
  Status Prepare(const ModelSpec& model, Precision precision) override;
  // RunAsync with a deadline of default_timeout_ms, waited for. Level 0 only. Thread-safe.
  // Run, Supports and Prepare block on the network: never call them from a RunAsync callback.
  Result<InferenceResult> Run(const ModelSpec& model, Precision precision, int level,
                              const HostTensor& input) override;

  // Sends one inference; `done` is called exactly once: with the result, or with Unavailable (the
  // breaker is open, the worker cannot be reached, it answered 5xx or garbage, the deadline
  // passed: the message says which), NotFound (404: no such model) or InvalidArgument (a bad
  // input, or another 4xx). Usually on a client thread; failures found before sending (breaker
  // open, bad input) call it on the caller's thread before RunAsync returns. `done` must not
  // block for long and must not destroy the target. Thread-safe: any number of threads may call.
  void RunAsync(const ModelSpec& model, const HostTensor& input, Clock::time_point deadline,
                Done done);
  // The same for an input already in bytes (sent as UINT8 whatever the wire; JSON on the json
  // wire, binary otherwise).
  void RunAsync(const ModelSpec& model, const Uint8Tensor& input, Clock::time_point deadline,
                Done done);

  // Thread-safe.
  LinkEstimate link() const;
  int consecutive_failures() const;
  const RemoteOptions& options() const { return options_; }
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  RemoteTarget(RemoteOptions options, Endpoint endpoint, std::unique_ptr<HttpClient> client);
  // What a correct answer to one request looks like.
  struct Expected {
    std::string model;
    int64_t batch = 1;
    std::vector<int64_t> per_sample;  // from the zoo graph; empty when unknown (TorchScript)
    bool input_finite = true;         // then every output value must be finite
  };
  struct OutputMeta {
    std::string name, datatype;
    std::vector<int64_t> shape;  // with the batch dimension; -1 = any
  };
  void Send(const ModelSpec& model, WireTensor input, Clock::time_point deadline, Done done);
  void OnInferResponse(Result<HttpResponse> r, Clock::time_point start, int64_t bytes_up,
                       const Expected& expected, const Done& done);
  Status CheckOutputs(const InferResponseMsg& msg, const Expected& expected) const;
  void QueryMetadata(const std::string& model) const;
  // When the worker's metadata says where its model comes from (autoscale-worker's
  // parameters.source: "zoo" or "torchscript"), it must be where ours does: a user's file
  // named like a zoo model, served by a worker without that file, would be the zoo's network.
  Status CheckSource(const ModelSpec& model) const;
  Status QueryReady(const std::string& model) const;
  void RecordFailure(const std::string& reason) const;
  void RecordSuccess() const;
  void ProbeLoop();
  std::string Prefix() const;  // "remote target 'cloud' (127.0.0.1:8000)"

  const RemoteOptions options_;
  const Endpoint endpoint_;
  TargetDescription base_;  // what never changes
  std::unique_ptr<HttpClient> client_;
  std::atomic<uint64_t> next_id_{0};

  mutable std::mutex mu_;
  mutable CircuitBreaker breaker_;  // guarded by mu_
  mutable LinkEstimator link_;      // guarded by mu_
  struct Ready {
    Status status;
    Clock::time_point at;
  };
  mutable std::map<std::string, Ready> ready_;  // guarded by mu_; per model name
  // The outputs of each model as its metadata lists them; absent when the worker gave none.
  mutable std::map<std::string, std::shared_ptr<const std::vector<OutputMeta>>>
      outputs_;                       // guarded by mu_
  mutable std::map<std::string, std::string> sources_;  // guarded by mu_; metadata's source
  mutable TargetDescription desc_;    // description()'s copy; single caller
  bool stopping_ = false;             // guarded by mu_
  std::condition_variable probe_cv_;  // wakes the prober (stop, probe answered)
  bool probe_in_flight_ = false;      // guarded by mu_
  std::thread prober_;
};

}  // namespace autoscale
