// DaemonService: KServe v2 routes over the engine.
#include "agent/service.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace autoscale {

namespace {

HttpResponse Json(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string ModelMetadata(const EngineModel& m) {
  std::vector<int64_t> shape{-1};
  shape.insert(shape.end(), m.spec.input_shape.begin(), m.spec.input_shape.end());
  const nlohmann::json j = {
      {"name", m.spec.name},
      {"versions", {"1"}},
      {"platform", "autoscaled"},
      {"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", shape}}}},
      {"outputs", {{{"name", "output"}, {"datatype", "FP32"}, {"shape", {-1, -1}}}}},
  };
  return j.dump();
}

}  // namespace

std::string DaemonService::StatsJson() const {
  const std::vector<std::pair<std::string, int64_t>> delivery = {
      {"delivered", delivered_.load()}, {"undelivered", undelivered_.load()}};
  Engine* engine = engine_.load();
  if (engine) return engine->StatsJson(delivery);
  nlohmann::json j(nlohmann::json::value_t::object);
  for (const auto& [k, v] : delivery) j[k] = v;
  return j.dump();
}

void DaemonService::Handle(HttpRequest&& req, Responder respond) {
  const std::string path(req.path());
  const bool get = req.method == "GET";
  Engine* engine = engine_.load();
  if (path == "/v2/health/live") {
    if (!get) return respond(ErrorResponse(405, "use GET for " + path));
    return respond(Json(nlohmann::json{{"live", true}}.dump()));
  }
  if (path == "/v2/health/ready") {
    if (!get) return respond(ErrorResponse(405, "use GET for " + path));
    return respond(Json(nlohmann::json{{"ready", engine != nullptr}}.dump(), engine ? 200 : 503));
  }
  if (engine == nullptr) {
    return respond(ErrorResponse(503, "autoscaled is starting: preparing its targets and models"));
  }
  if (path == "/v2") {
    const nlohmann::json j = {{"name", "autoscaled"},
                              {"version", AUTOSCALE_VERSION},
                              {"extensions", nlohmann::json::array({"binary_tensor_data"})}};
    return respond(Json(j.dump()));
  }
  if (path == "/v2/stats" || path == "/stats") return respond(Json(StatsJson()));
  if (path == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = engine->metrics().Render();
    return respond(std::move(r));
  }
  constexpr std::string_view kModels = "/v2/models/";
  if (path.starts_with(kModels)) {
    std::string rest = path.substr(kModels.size());
    std::string verb;
    if (const size_t slash = rest.find('/'); slash != std::string::npos) {
      verb = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    // Names are only looked up in the catalogue, never used as paths.
    const int m = engine->ModelIndex(rest);
    if (m < 0) return respond(ErrorResponse(404, "unknown model '" + rest + "'"));
    if (verb.empty()) return respond(Json(ModelMetadata(engine->models()[m])));
    if (verb == "ready") {
      return respond(Json(nlohmann::json{{"name", rest}, {"ready", true}}.dump()));
    }
    if (verb == "infer") {
      if (req.method != "POST") return respond(ErrorResponse(405, "use POST for " + path));
      return Infer(engine, rest, std::move(req), std::move(respond));
    }
  }
  respond(ErrorResponse(404, "no route for " + req.method + " " + path));
}

void DaemonService::Infer(Engine* engine, const std::string& model, HttpRequest&& req,
                          Responder respond) {
  auto header_length = InferenceHeaderLength(req);
  if (!header_length.ok()) return respond(ErrorResponse(400, header_length.status().message()));
  auto msg = ParseInferRequest(req.body, *header_length, limits_);
  if (!msg.ok()) return respond(ErrorResponse(400, msg.status().message()));
  // The names ModelMetadata() gives.
  if (Status st = CheckRequestNames(*msg, model, "input", "output"); !st.ok()) {
    return respond(ErrorResponse(400, st.message()));
  }
  // Memory: the body is held until the reply, and the input becomes floats beside it.
  const int64_t cost =
      static_cast<int64_t>(req.body.size()) + msg->inputs[0].elements() * int64_t{sizeof(float)};
  if (!budget_.TryHold(static_cast<size_t>(cost))) {
    return respond(ErrorResponse(503, "the daemon holds " + std::to_string(budget_.held()) +
                                          " bytes of requests; this one (" + std::to_string(cost) +
                                          " bytes) would pass max_inflight_mb (" +
                                          std::to_string(budget_.limit() >> 20) +
                                          " MiB): retry later"));
  }
  // Released when the last holder (this call, or the reply callback) lets go.
  std::shared_ptr<void> release(nullptr, [this, cost](void*) { budget_.Release(cost); });
  const EngineModel& em = engine->models()[engine->ModelIndex(model)];
  auto input = ToHostTensor(std::move(msg->inputs[0]), em.spec.input_shape);  // u8 kept
  if (!input.ok()) return respond(ErrorResponse(400, input.status().message()));

  Engine::Request r;
  r.id = msg->id;
  r.model = model;
  r.input = std::move(input).value();
  if (msg->inputs[0].type == TensorType::kUint8) {
    Uint8Tensor u8;
    u8.shape = r.input.shape;
    u8.data = std::move(msg->inputs[0].u8);
    r.input_u8 = std::move(u8);
  }
  for (const auto& [k, v] : msg->parameters) {
    if (k == "latency_bound_ms") {
      if (!(v > 0)) return respond(ErrorResponse(400, "parameters.latency_bound_ms must be > 0"));
      r.latency_bound_ms = static_cast<float>(v);
    } else if (k == "min_accuracy") {
      if (!(v >= 0 && v <= 1)) {
        return respond(ErrorResponse(400, "parameters.min_accuracy must be in [0, 1]"));
      }
      r.min_accuracy = static_cast<float>(v);
    }
  }
  bool binary = msg->binary_outputs_default;
  for (const auto& [name, b] : msg->outputs) binary = binary || b;
  // std::function needs a copyable callable; the Responder is move-only.
  auto shared = std::make_shared<Responder>(std::move(respond));
  engine->Submit(
      std::move(r), [this, shared, release, model, id = msg->id, binary](Engine::Reply reply) {
        Responder& respond = *shared;
        (delivering_.load() ? delivered_ : undelivered_).fetch_add(1);
        if (!reply.status.ok()) {
          return respond(ErrorResponse(HttpStatusFor(reply.status), reply.status.message()));
        }
        InferResponseMsg out;
        out.model_name = model;
        out.model_version = "1";
        out.id = id;
        WireTensor t;
        t.name = "output";
        t.shape = reply.result.output.shape;
        t.fp32 = std::move(reply.result.output.data);
        t.binary = binary;
        out.outputs.push_back(std::move(t));
        out.parameters["latency_ms"] = reply.total_ms;
        out.parameters["energy_mj"] = reply.result.energy_mj;
        out.parameters["decide_us"] = reply.decide_us;
        out.parameters["fallback"] = reply.fallback ? 1 : 0;
        // The CPU cluster's frequency the run was set to, read back (targets/cpufreq.h).
        if (reply.result.freq_mhz > 0) out.parameters["frequency_mhz"] = reply.result.freq_mhz;
        std::optional<size_t> hl;
        HttpResponse res;
        std::string body = EncodeInferResponse(out, &hl);
        SetInferenceBody(std::move(body), hl, &res);
        res.headers.emplace_back("X-Autoscale-Target", reply.target);
        res.headers.emplace_back("X-Autoscale-Action", reply.action);
        respond(std::move(res));
      });
}

}  // namespace autoscale
