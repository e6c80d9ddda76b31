// `autoscale infer`: a small client of autoscaled (or of any KServe v2 server, such as
// autoscale-worker): sends one or more inference requests and prints where each ran.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/daemon_paths.h"
#include "apps/commands.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"

namespace autoscale {

namespace {

constexpr const char* kInferAbout = R"(Sends inference requests for MODEL to autoscaled (or any KServe v2 server) and prints, per
request, where it ran (target, action), its latency, modelled or measured energy, whether it
fell back from a remote target, and the top outputs.

)";

Result<std::vector<int64_t>> InputShape(HttpClient& client, const std::string& model,
                                        int timeout_ms) {
  HttpRequest req;
  req.method = "GET";
  req.target = "/v2/models/" + model;
  ASSIGN_OR_RETURN(HttpResponse res, client.Send(req, std::chrono::milliseconds(timeout_ms)));
  if (res.status != 200) {
    return Status::NotFound("model '" + model + "': server answered " + std::to_string(res.status) +
                            ": " + res.body);
  }
  try {
    auto j = nlohmann::json::parse(res.body);
    std::vector<int64_t> shape = j.at("inputs").at(0).at("shape").get<std::vector<int64_t>>();
    if (!shape.empty() && shape[0] == -1) shape.erase(shape.begin());
    for (int64_t d : shape) {
      if (d <= 0) return Status::InvalidArgument("model metadata has a variable dimension");
    }
    return shape;
  } catch (const std::exception& e) {
    return Status::InvalidArgument("model metadata of '" + model + "': " + e.what());
  }
}

struct InferArgs {
  std::string model, server, input_file;
  uint64_t seed = 1;
  bool uint8 = false, json = false;
  double bound = -1, min_acc = -1, timeout_ms = 30000;
  long long repeat = 1, top = 5;
};

int RunInfer(const InferArgs& args) {
  const std::string& model = args.model;
  const std::string& input_file = args.input_file;
  std::string server = args.server;
  const uint64_t seed = args.seed;
  const bool uint8 = args.uint8, json = args.json;
  const double bound = args.bound, min_acc = args.min_acc, timeout_ms = args.timeout_ms;
  const long long repeat = args.repeat, top = args.top;
  if (server.empty()) {
    if (const char* env = std::getenv("AUTOSCALED")) {
      server = env;
    } else {
      auto dirs = DefaultDaemonDirs();  // where `listen: default` puts the daemon's socket
      if (!dirs.ok()) return Fail(dirs.status().WithPrefix("--server not given"));
      server = "unix:" + dirs->runtime + "/autoscaled.sock";
    }
  }
  auto ep = Endpoint::Parse(server);
  if (!ep.ok()) return Fail(ep.status());
  auto client = HttpClient::Create(*ep);
  if (!client.ok()) return Fail(client.status());
  const int timeout = static_cast<int>(timeout_ms);
  auto shape = InputShape(**client, model, timeout);
  if (!shape.ok()) return Fail(shape.status());

  WireTensor t;
  t.name = "input";
  t.type = uint8 ? TensorType::kUint8 : TensorType::kFp32;
  t.shape = *shape;
  t.shape.insert(t.shape.begin(), 1);
  t.binary = !json;
  const int64_t n = t.elements();
  if (!input_file.empty()) {
    auto bytes = ReadFile(input_file);
    if (!bytes.ok()) return Fail(bytes.status());
    const size_t want = static_cast<size_t>(n) * (uint8 ? 1 : 4);
    if (bytes->size() != want) {
      return Fail(Status::InvalidArgument(input_file + ": " + std::to_string(bytes->size()) +
                                          " bytes, the model's input needs " +
                                          std::to_string(want)));
    }
    if (uint8) {
      t.u8.assign(bytes->begin(), bytes->end());
    } else {
      t.fp32.resize(n);
      std::memcpy(t.fp32.data(), bytes->data(), want);
    }
  } else {
    std::mt19937_64 rng(seed);
    if (uint8) {
      t.u8.resize(n);
      for (auto& v : t.u8) v = static_cast<uint8_t>(rng() & 0xff);
    } else {
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      t.fp32.resize(n);
      for (auto& v : t.fp32) v = u(rng);
    }
  }
  InferRequestMsg msg;
  msg.inputs.push_back(std::move(t));
  msg.binary_outputs_default = !json;
  if (bound > 0) msg.parameters["latency_bound_ms"] = bound;
  if (min_acc >= 0) msg.parameters["min_accuracy"] = min_acc;
  std::optional<size_t> header_length;
  HttpRequest req;
  req.method = "POST";
  req.target = "/v2/models/" + model + "/infer";
  std::string body = EncodeInferRequest(msg, &header_length);
  SetInferenceBody(std::move(body), header_length, &req);

  std::vector<double> latencies;
  int errors = 0;
  for (long long r = 0; r < repeat; ++r) {
    auto res = (*client)->Send(req, std::chrono::milliseconds(timeout));
    if (!res.ok()) {
      std::cerr << "autoscale: error: " << res.status().message() << "\n";
      ++errors;
      continue;
    }
    if (res->status != 200) {
      std::cerr << "autoscale: error: server answered " << res->status << ": " << res->body << "\n";
      ++errors;
      continue;
    }
    auto hl = InferenceHeaderLength(*res);
    if (!hl.ok()) return Fail(hl.status());
    auto out = ParseInferResponse(res->body, *hl);
    if (!out.ok()) return Fail(out.status());
    latencies.push_back(res->elapsed_ms);
    const std::string* target = res->Header("x-autoscale-target");
    const std::string* action = res->Header("x-autoscale-action");
    auto param = [&](const char* k) {
      auto it = out->parameters.find(k);
      return it == out->parameters.end() ? -1.0 : it->second;
    };
    std::printf("request %lld: %.2f ms", r + 1, res->elapsed_ms);
    if (target) std::printf("  target %s", target->c_str());
    if (action && !action->empty()) std::printf("  action %s", action->c_str());
    if (param("energy_mj") >= 0) std::printf("  energy %.2f mJ", param("energy_mj"));
    if (param("fallback") > 0) std::printf("  (fell back from the remote target)");
    std::printf("\n");
    if (top > 0 && !out->outputs.empty() && repeat == 1) {
      const auto& v = out->outputs[0].fp32;
      std::vector<size_t> idx(v.size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
      const size_t k = std::min<size_t>(static_cast<size_t>(top), idx.size());
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                        [&](size_t a, size_t b) { return v[a] > v[b]; });
      for (size_t i = 0; i < k; ++i)
        std::printf("  #%zu  output[%zu] = %.6g\n", i + 1, idx[i], v[idx[i]]);
    }
  }
  if (repeat > 1 && !latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto q = [&](double p) {
      return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
    };
    std::printf("%zu ok, %d failed: p50 %.2f ms, p99 %.2f ms\n", latencies.size(), errors, q(0.5),
                q(0.99));
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace

cli::Command AddInferCommand(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "infer", "send inference requests to autoscaled and show where they ran");
  sub->footer(kInferAbout);
  auto a = std::make_shared<InferArgs>();
  sub->add_option("MODEL", a->model, "the model to ask for")->type_name("NAME")->required();
  sub->add_option("--server", a->server,
                  "unix:/PATH or HOST:PORT (default: $AUTOSCALED, else the daemon's default "
                  "socket: unix:/run/autoscaled/autoscaled.sock as root, else "
                  "unix:$XDG_RUNTIME_DIR/autoscaled/autoscaled.sock, else "
                  "unix:~/.local/state/autoscaled/autoscaled.sock)")
      ->type_name("ADDR");
  sub->add_option("--input", a->input_file,
                  "raw little-endian input: float32, or bytes with --uint8 (default: a seeded "
                  "input of the model's shape)")
      ->type_name("FILE");
  sub->add_option("--seed", a->seed, "seed of the generated input")
      ->check(cli::IntegerIn(0, std::numeric_limits<long long>::max()))
      ->type_name("N")
      ->capture_default_str();
  sub->add_flag("--uint8", a->uint8, "send a UINT8 image (a quarter of the bytes of FP32)");
  sub->add_flag("--json", a->json, "send the tensor as JSON numbers instead of binary data");
  sub->add_option("--latency-bound-ms", a->bound, "the request's latency bound")
      ->check(cli::NumberIn(1e-6, 1e9))
      ->type_name("MS");
  sub->add_option("--min-accuracy", a->min_acc, "the request's accuracy floor")
      ->check(cli::NumberIn(0, 1))
      ->type_name("A");
  sub->add_option("--repeat", a->repeat, "send N requests and print p50/p99 at the end")
      ->check(cli::IntegerIn(1, 1'000'000'000))
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--top", a->top, "outputs to print (0 = none)")
      ->check(cli::IntegerIn(0, 1'000'000'000))
      ->type_name("K")
      ->capture_default_str();
  sub->add_option("--timeout-ms", a->timeout_ms, "give up on a request after MS")
      ->check(cli::NumberIn(1, 86'400'000))
      ->type_name("MS")
      ->capture_default_str();
  return {sub, [a] { return RunInfer(*a); }};
}

}  // namespace autoscale
