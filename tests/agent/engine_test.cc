// Engine: one reply per request, decisions and learning, remote offload with fallback on
// failure and on a passed deadline, the breaker, and learned state across restarts (a corrupt
// file set aside). Local targets here are a small deterministic CPU computation (the real
// backends are covered in tests/e2e with the daemon binary); remote targets are real
// RemoteTargets talking to an HttpServer with a KServe v2 handler.
#include "agent/engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <thread>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "agent/service.h"
#include "core/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policies/q_learning.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

// Output = the first 1000 input values times 2 (a classifier's 1000 logits, the shape the
// catalogue's models give): cheap, deterministic, checkable.
constexpr int kClasses = 1000;
HostTensor Doubled(const HostTensor& in) {
  HostTensor out;
  out.shape = {in.shape[0], kClasses};
  for (int64_t b = 0; b < in.shape[0]; ++b) {
    const int64_t per = in.elements() / in.shape[0];
    for (int i = 0; i < kClasses; ++i) out.data.push_back(2 * in.data[b * per + i]);
  }
  return out;
}

class DoublingTarget : public Target {
 public:
  explicit DoublingTarget(std::string name) {
    d_.name = std::move(name);
    d_.precisions = {Precision::kFp32, Precision::kInt8};
  }
  const TargetDescription& description() const override { return d_; }
  Status Supports(const ModelSpec&, Precision p) const override {
    return p == Precision::kFp16 ? Status::InvalidArgument("no fp16") : Status::Ok();
  }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec& m, Precision, int, const HostTensor& in) override {
    ++runs;
    if (fail) return Status::Internal("model '" + m.name + "' failed on " + d_.name + " (test)");
    InferenceResult r;
    r.output = Doubled(in);
    r.latency_ms = 1;
    r.energy_mj = 5;
    return r;
  }
  std::atomic<int> runs{0};
  std::atomic<bool> fail{false};

 private:
  TargetDescription d_;
};

// A KServe v2 worker stand-in: doubles like DoublingTarget; can fail or stall on request.
struct FakeWorker {
  // 0 ok, 1 answer 500, 2 stall 2 s; 200s with garbage: 3 a NaN, 4 shape [N, 10], 5 UINT8
  // outputs, 6 three outputs, 7 an output named otherwise than the metadata says
  std::atomic<int> mode{0};
  std::atomic<int> infers{0};
  std::unique_ptr<HttpServer> server;

  FakeWorker() {
    HttpServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    auto s = HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
      Handle(std::move(req), std::move(respond));
    });
    EXPECT_TRUE(s.ok()) << s.status().message();
    server = std::move(s).value();
  }
  std::string endpoint() const { return server->endpoint().ToString(); }

  void Handle(HttpRequest&& req, Responder respond) {
    const std::string path(req.path());
    if (path.starts_with("/v2/models/") && std::count(path.begin(), path.end(), '/') == 3) {
      HttpResponse meta;  // model metadata, as autoscale-worker and Triton give it
      meta.body =
          "{\"name\":\"m\",\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\","
          "\"shape\":[-1,3,224,224]}],\"outputs\":[{\"name\":\"output\","
          "\"datatype\":\"FP32\",\"shape\":[-1,1000]}]}";
      return respond(meta);
    }
    if (!path.ends_with("/infer")) {
      HttpResponse ok;
      ok.body = "{\"ready\":true}";
      return respond(ok);
    }
    ++infers;
    if (mode == 1) return respond(ErrorResponse(500, "worker broken"));
    std::optional<size_t> hl;
    if (const std::string* h = req.Header("inference-header-content-length")) hl = std::stoul(*h);
    auto msg = ParseInferRequest(req.body, hl);
    if (!msg.ok()) return respond(ErrorResponse(400, msg.status().message()));
    HostTensor in;
    in.shape = msg->inputs[0].shape;
    in.data = msg->inputs[0].fp32;
    InferResponseMsg out;
    out.model_name = "m";
    WireTensor t;
    t.name = "output";
    HostTensor d = Doubled(in);
    t.shape = d.shape;
    t.fp32 = d.data;
    t.binary = true;
    switch (mode.load()) {
      case 3:
        t.fp32[7] = std::nanf("");
        break;
      case 4:
        t.shape[1] = 10;
        t.fp32.resize(t.shape[0] * 10);
        break;
      case 5:
        t.type = TensorType::kUint8;
        t.u8.assign(t.fp32.size(), 1);
        t.fp32.clear();
        break;
      case 7:
        t.name = "logits";
        break;
    }
    out.outputs.push_back(t);
    if (mode == 6) {
      out.outputs.push_back(t);
      out.outputs.push_back(t);
      out.outputs[1].name = "aux1";
      out.outputs[2].name = "aux2";
    }
    HttpResponse res;
    std::optional<size_t> ohl;
    std::string body = EncodeInferResponse(out, &ohl);
    SetInferenceBody(std::move(body), ohl, &res);
    if (mode == 2) {
      std::thread([r = std::move(respond), res]() mutable {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        r(res);
      }).detach();
      return;
    }
    respond(res);
  }
};

DaemonConfig BaseConfig(const std::string& state_file) {
  DaemonConfig c;
  c.device = "sd845";
  c.models = {"mobilenet_v2", "squeezenet_1_1"};
  c.engine.state_file = state_file;
  c.engine.save_interval_s = 0;
  c.engine.default_latency_bound_ms = 500;
  c.engine.assumed_wifi_rssi_dbm = -50;
  c.probes.interval_ms = 50;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  c.targets.push_back(cpu);
  return c;
}

LocalTargetFactory Doubling() {
  return [](const TargetBinding& b, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
    return std::unique_ptr<Target>(new DoublingTarget(b.name));
  };
}

HostTensor Input(float v) {
  HostTensor t;
  t.shape = {1, 3, 224, 224};
  t.data.assign(3 * 224 * 224, 0.0f);
  for (int i = 0; i < 10; ++i) t.data[i] = v + i;
  return t;
}

Engine::Reply RunOne(Engine& e, const std::string& model, float v,
                     std::optional<float> bound = std::nullopt) {
  std::promise<Engine::Reply> p;
  Engine::Request r;
  r.model = model;
  r.input = Input(v);
  r.latency_bound_ms = bound;
  e.Submit(std::move(r), [&](Engine::Reply reply) { p.set_value(std::move(reply)); });
  return p.get_future().get();
}

void ExpectDoubled(const Engine::Reply& r, float v) {
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.result.output.shape, (std::vector<int64_t>{1, kClasses}));
  ASSERT_EQ(r.result.output.data.size(), size_t{kClasses});
  for (int i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(r.result.output.data[i], 2 * (v + i));
}

nlohmann::json Stats(const Engine& e) { return nlohmann::json::parse(e.StatsJson()); }

// Every answer of the daemon's routes is JSON that a parser reads (through nlohmann-json, not
// written by hand): health, server metadata, model metadata and readiness, stats.
TEST(DaemonService, EveryRouteAnswersParseableJson) {
  auto engine = BuildEngine(BaseConfig(""), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  DaemonService service(engine->get());
  auto get = [&](const std::string& path) {
    HttpRequest req;
    req.method = "GET";
    req.target = path;
    HttpResponse got;
    service.Handle(std::move(req), Responder([&](HttpResponse r) { got = std::move(r); }));
    EXPECT_EQ(got.status, 200) << path << ": " << got.body;
    return nlohmann::json::parse(got.body);  // throws (and fails the test) on invalid JSON
  };
  EXPECT_EQ(get("/v2/health/live"), (nlohmann::json{{"live", true}}));
  EXPECT_EQ(get("/v2/health/ready"), (nlohmann::json{{"ready", true}}));
  const nlohmann::json meta = get("/v2");
  EXPECT_EQ(meta["name"], "autoscaled");
  EXPECT_FALSE(meta["version"].get<std::string>().empty());
  EXPECT_EQ(meta["extensions"], nlohmann::json::array({"binary_tensor_data"}));
  EXPECT_EQ(get("/v2/models/mobilenet_v2")["name"], "mobilenet_v2");
  EXPECT_EQ(get("/v2/models/mobilenet_v2/ready")["ready"], true);
  EXPECT_TRUE(get("/v2/stats").contains("requests"));
}

TEST(Engine, AnswersLocallyLearnsAndCounts) {
  auto engine = BuildEngine(BaseConfig(""), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  for (int i = 0; i < 20; ++i) {
    Engine::Reply r = RunOne(**engine, i % 2 ? "mobilenet_v2" : "squeezenet_1_1", i);
    ExpectDoubled(r, i);
    EXPECT_EQ(r.target, "cpu_big");
    EXPECT_TRUE(r.action.starts_with("cpu_big/")) << r.action;
    EXPECT_GT(r.decide_us, 0);
  }
  const nlohmann::json stats = Stats(**engine);
  EXPECT_EQ(stats["requests"], 20) << stats;
  EXPECT_EQ(stats["answered"], 20) << stats;
  EXPECT_EQ(stats["decisions"]["cpu_big"], 20) << stats;
  EXPECT_EQ(stats["answers"]["cpu_big"], 20) << stats;
  EXPECT_DOUBLE_EQ(stats["energy_mj"].get<double>(), 100) << stats;
  EXPECT_NE((*engine)->metrics().Render().find("autoscaled_decide_seconds_bucket"),
            std::string::npos);
}

TEST(Engine, UnknownModelAndBadInputAreErrorsNotCrashes) {
  auto engine = BuildEngine(BaseConfig(""), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok());
  Engine::Reply r = RunOne(**engine, "nope", 0);
  EXPECT_EQ(r.status.code(), StatusCode::kNotFound);
  EXPECT_NE(r.status.message().find("mobilenet_v2"), std::string::npos);
  std::promise<Engine::Reply> p;
  Engine::Request bad;
  bad.model = "mobilenet_v2";
  bad.input.shape = {1, 3, 10, 10};
  bad.input.data.assign(300, 0);
  (*engine)->Submit(std::move(bad), [&](Engine::Reply reply) { p.set_value(std::move(reply)); });
  EXPECT_EQ(p.get_future().get().status.code(), StatusCode::kInvalidArgument);
}

TEST(Engine, BadBindingsAreReported) {
  DaemonConfig c = BaseConfig("");
  c.targets[0].name = "cpu_huge";
  auto e = BuildEngine(c, testing::ConfigRoot(), Doubling());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("cpu_big"), std::string::npos) << e.status().message();
  c = BaseConfig("");
  c.models.push_back("no_such_model");
  e = BuildEngine(c, testing::ConfigRoot(), Doubling());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("no_such_model"), std::string::npos);
}

// Only the cloud is allowed (static policy), so every request goes there first.
DaemonConfig CloudConfig(const std::string& endpoint) {
  DaemonConfig c = BaseConfig("");
  c.policy = "static";
  auto params = ConfigNode::LoadString("{target: cloud, precision: fp32}");
  EXPECT_TRUE(params.ok());
  c.policy_params = *params;
  TargetBinding cloud;
  cloud.name = "cloud";
  cloud.backend = "remote";
  cloud.endpoint = endpoint;
  cloud.failures_to_open = 3;
  cloud.open_cooldown_ms = 100;
  cloud.probe_interval_ms = 50;
  c.targets.push_back(cloud);
  return c;
}

TEST(Engine, OffloadsAndFallsBackWhenTheWorkerFailsOrIsLate) {
  FakeWorker worker;
  auto engine = BuildEngine(CloudConfig(worker.endpoint()), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine::Reply r = RunOne(**engine, "mobilenet_v2", 1);
  ExpectDoubled(r, 1);
  EXPECT_EQ(r.target, "cloud");
  EXPECT_FALSE(r.fallback);

  worker.mode = 1;  // 500s: the request falls back to the local CPU
  r = RunOne(**engine, "mobilenet_v2", 2);
  ExpectDoubled(r, 2);
  EXPECT_EQ(r.target, "cpu_big");
  EXPECT_TRUE(r.fallback);

  worker.mode = 2;  // stalls 2 s: the deadline (from the 300 ms bound) passes, then fallback
  worker.mode = 2;
  auto start = std::chrono::steady_clock::now();
  DaemonConfig c = CloudConfig(worker.endpoint());
  r = RunOne(**engine, "mobilenet_v2", 3, 300.0f);
  ExpectDoubled(r, 3);
  EXPECT_TRUE(r.fallback || r.target == "cpu_big");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  const std::string stats = (*engine)->StatsJson();
  EXPECT_NE(stats.find("\"fallbacks\":"), std::string::npos);
}

// A worker that answers 200 with garbage: each answer is a failed offload (the request falls
// back and gets the local, correct output; the breaker hears of it), never passed through.
TEST(Engine, GarbageFromTheWorkerIsAFailedOffload) {
  FakeWorker worker;
  DaemonConfig c = CloudConfig(worker.endpoint());
  c.targets[1].failures_to_open = 100;  // keep offering the cloud: each request tries it first
  auto engine = BuildEngine(c, testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  ExpectDoubled(RunOne(**engine, "mobilenet_v2", 1), 1);  // a sound answer: the metadata known
  const std::map<int, std::string> cases = {
      {3, "nan"}, {4, "[1, 10]"}, {5, "UINT8"}, {6, "3 outputs"}, {7, "not an output"}};
  for (const auto& [mode, why] : cases) {
    worker.mode = mode;
    const int infers = worker.infers;
    Engine::Reply r = RunOne(**engine, "mobilenet_v2", mode);
    EXPECT_EQ(worker.infers, infers + 1) << "mode " << mode << ": the cloud was not tried";
    ExpectDoubled(r, mode);
    EXPECT_EQ(r.target, "cpu_big") << "mode " << mode;
    EXPECT_TRUE(r.fallback) << "mode " << mode;
  }
  const nlohmann::json stats = Stats(**engine);
  EXPECT_EQ(stats["target_failures"]["cloud"], cases.size()) << stats;
  EXPECT_EQ(stats["answers"]["cloud"], 1) << stats;
  EXPECT_EQ(stats["fallbacks"], cases.size()) << stats;
}

// The engine gives an offload up when the cost model says (CostModel::OffloadDeadlineMs, which
// the simulator charges too): the same fallback, the same timeout, the same deadline.
TEST(Engine, OffloadDeadlineIsTheCostModels) {
  FakeWorker worker;
  for (const char* fallback : {"", "cpu_little"}) {
    SCOPED_TRACE(fallback);
    DaemonConfig c = CloudConfig(worker.endpoint());
    TargetBinding little;
    little.name = "cpu_little";
    little.backend = "cpu";
    c.targets.push_back(little);
    c.engine.fallback = fallback;
    c.engine.remote_timeout_ms = 1500;
    auto engine = BuildEngine(c, testing::ConfigRoot(), Doubling());
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const CostModel& cm = (*engine)->cost_model();
    const std::string want = *fallback ? fallback : "cpu_big";  // else the first local one
    EXPECT_EQ(cm.fallback_action(), cm.actions().Find(want, Precision::kFp32, 0));
    EXPECT_DOUBLE_EQ(cm.options().remote_timeout_ms, 1500);
    for (int model = 0; model < cm.num_models(); ++model) {
      for (float load : {0.0f, 0.6f}) {
        for (float bound :
             {std::numeric_limits<float>::infinity(), 5.0f, 30.0f, 50.0f, 100.0f, 500.0f, 1e5f}) {
          Observation obs;
          obs.model = model;
          obs.cpu_load = load;
          obs.latency_bound_ms = bound;
          const double d = cm.OffloadDeadlineMs(obs);
          EXPECT_EQ((*engine)->OffloadDeadlineMs(obs), d) << model << " " << load << " " << bound;
          const double f = cm.Predict(cm.fallback_action(), obs).latency_ms;
          if (!std::isfinite(bound) || bound >= 1e5f) {
            EXPECT_DOUBLE_EQ(d, 1500);
          } else if (f <= 0.5 * bound) {
            EXPECT_NEAR(d, bound - f, 1e-3);
          } else {
            EXPECT_NEAR(d, std::max<double>(bound, f), 1e-3);
          }
        }
      }
    }
  }
}

// A factory whose targets named in `failing` fail every run.
LocalTargetFactory DoublingExcept(std::vector<std::string> failing,
                                  std::map<std::string, DoublingTarget*>* made) {
  return [failing, made](const TargetBinding& b,
                         const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
    auto t = std::make_unique<DoublingTarget>(b.name);
    t->fail = std::find(failing.begin(), failing.end(), b.name) != failing.end();
    (*made)[b.name] = t.get();
    return std::unique_ptr<Target>(std::move(t));
  };
}

DaemonConfig DspConfig() {
  DaemonConfig c = BaseConfig("");
  c.policy = "static";
  auto params = ConfigNode::LoadString("{target: dsp, precision: int8}");
  EXPECT_TRUE(params.ok());
  c.policy_params = *params;
  TargetBinding dsp;
  dsp.name = "dsp";
  dsp.backend = "dsp";
  c.targets.push_back(dsp);
  TargetBinding gpu;
  gpu.name = "gpu";
  gpu.backend = "opencl";
  c.targets.push_back(gpu);
  c.engine.fallback = "cpu_big";
  return c;
}

// A failed local run falls back like a failed offload: to the fallback target, and when that is
// the one that failed (or fails too), to the next feasible action on a target not yet tried.
TEST(Engine, AFailedLocalRunFallsBack) {
  std::map<std::string, DoublingTarget*> made;
  auto engine = BuildEngine(DspConfig(), testing::ConfigRoot(), DoublingExcept({"dsp"}, &made));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  for (int i = 0; i < 4; ++i) {
    Engine::Reply r = RunOne(**engine, "mobilenet_v2", i);
    ExpectDoubled(r, i);
    EXPECT_EQ(r.target, "cpu_big");
    EXPECT_TRUE(r.fallback);
    EXPECT_TRUE(r.action.starts_with("dsp/int8")) << r.action;
  }
  EXPECT_EQ(made["dsp"]->runs, 4);
  nlohmann::json stats = Stats(**engine);
  EXPECT_EQ(stats["decisions"]["dsp"], 4) << stats;  // counted although each one failed
  EXPECT_EQ(stats["target_failures"]["dsp"], 4) << stats;
  EXPECT_EQ(stats["answers"]["cpu_big"], 4) << stats;
  EXPECT_EQ(stats["failed"], 0) << stats;

  // The fallback fails too: the next feasible action (the GPU here) answers.
  made.clear();
  engine =
      BuildEngine(DspConfig(), testing::ConfigRoot(), DoublingExcept({"dsp", "cpu_big"}, &made));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine::Reply r = RunOne(**engine, "mobilenet_v2", 5);
  ExpectDoubled(r, 5);
  EXPECT_EQ(r.target, "gpu");
  EXPECT_TRUE(r.fallback);

  // Every target fails: one error reply that names each failure.
  made.clear();
  engine = BuildEngine(DspConfig(), testing::ConfigRoot(),
                       DoublingExcept({"dsp", "cpu_big", "gpu"}, &made));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  r = RunOne(**engine, "mobilenet_v2", 6);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(HttpStatusFor(r.status), 503);
  for (const char* t : {"dsp: ", "cpu_big: ", "gpu: "}) {
    EXPECT_NE(r.status.message().find(t), std::string::npos) << r.status.message();
  }
  EXPECT_EQ(made["dsp"]->runs + made["cpu_big"]->runs + made["gpu"]->runs, 3);
  stats = Stats(**engine);
  EXPECT_EQ(stats["failed"], 1) << stats;
  EXPECT_EQ(stats["answered"], 0) << stats;
}

// A nearby device is a remote target reached over Wi-Fi Direct: without a p2p signal (this host
// has no radio) it is not offered to the policy; with an assumed one, requests go there.
TEST(Engine, NearbyDeviceIsOfferedOnlyWithAWifiDirectSignal) {
  FakeWorker worker;
  DaemonConfig c = CloudConfig(worker.endpoint());
  c.targets.back().name = "nearby";
  auto params = ConfigNode::LoadString("{target: nearby, precision: fp32}");
  ASSERT_TRUE(params.ok());
  c.policy_params = *params;
  {
    auto engine = BuildEngine(c, testing::ConfigRoot(), Doubling());
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    Engine::Reply r = RunOne(**engine, "mobilenet_v2", 1);
    ExpectDoubled(r, 1);
    EXPECT_EQ(r.target, "cpu_big");
    EXPECT_FALSE(r.fallback);  // never tried: infeasible, not failed
  }
  c.engine.assumed_p2p_rssi_dbm = -50;
  auto engine = BuildEngine(c, testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine::Reply r = RunOne(**engine, "mobilenet_v2", 2);
  ExpectDoubled(r, 2);
  EXPECT_EQ(r.target, "nearby");
  EXPECT_FALSE(r.fallback);
}

TEST(DaemonConfig, WifiDirectProbeKeys) {
  auto root = ConfigNode::LoadString(
      "models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\n"
      "probes: {p2p_interface: p2p0, p2p_trace_column: rssi, assumed_p2p_rssi_dbm: -55}\n");
  ASSERT_TRUE(root.ok()) << root.status().message();
  auto c = ParseDaemonConfig(*root);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->probes.p2p_interface, "p2p0");
  EXPECT_EQ(c->probes.p2p_trace_column, "rssi");
  EXPECT_EQ(c->engine.assumed_p2p_rssi_dbm, -55.0f);
  root = ConfigNode::LoadString(
      "models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\n"
      "probes: {assumed_p2p_rssi_dbm: 10}\n");
  ASSERT_TRUE(root.ok());
  c = ParseDaemonConfig(*root);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("assumed_p2p_rssi_dbm"), std::string::npos)
      << c.status().message();
}

TEST(Engine, EveryRequestIsAnsweredOnceWhileTheWorkerDies) {
  auto worker = std::make_unique<FakeWorker>();
  auto engine = BuildEngine(CloudConfig(worker->endpoint()), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  constexpr int kRequests = 200;
  std::atomic<int> answered{0}, wrong{0};
  std::vector<std::atomic<int>> replies(kRequests);
  std::promise<void> all;
  for (int i = 0; i < kRequests; ++i) {
    if (i == kRequests / 2) worker.reset();  // killed mid-load
    Engine::Request r;
    r.model = "mobilenet_v2";
    r.input = Input(i);
    (*engine)->Submit(std::move(r), [&, i](Engine::Reply reply) {
      replies[i]++;
      if (!reply.status.ok() || reply.result.output.data[0] != 2.0f * i) wrong++;
      if (++answered == kRequests) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(wrong.load(), 0);
  for (auto& n : replies) EXPECT_EQ(n.load(), 1);
}

TEST(Engine, LearnedStateSurvivesARestartAndACorruptFileIsSetAside) {
  const std::string dir = testing::TempDir("engine_state");
  const std::string state = dir + "/q.table";
  {
    auto engine = BuildEngine(BaseConfig(state), testing::ConfigRoot(), Doubling());
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    EXPECT_NE((*engine)->state_report().find("no learned state"), std::string::npos);
    for (int i = 0; i < 10; ++i) ExpectDoubled(RunOne(**engine, "mobilenet_v2", i), i);
    (*engine)->Shutdown();
  }
  ASSERT_TRUE(fs::exists(state));
  auto saved = ReadFile(state);
  ASSERT_TRUE(saved.ok());
  {
    auto engine = BuildEngine(BaseConfig(state), testing::ConfigRoot(), Doubling());
    ASSERT_TRUE(engine.ok());
    EXPECT_NE((*engine)->state_report().find("loaded learned state"), std::string::npos)
        << (*engine)->state_report();
    (*engine)->Shutdown();
    // What was loaded is what is saved again (no requests in between).
    EXPECT_EQ(*ReadFile(state), *saved);
  }
  const std::string corrupt = "autoscale-qtable 2\ngarbage\n";
  ASSERT_TRUE(WriteFileAtomic(state, corrupt).ok());
  {
    auto engine = BuildEngine(BaseConfig(state), testing::ConfigRoot(), Doubling());
    ASSERT_TRUE(engine.ok());
    const std::string report = (*engine)->state_report();
    EXPECT_NE(report.find("set aside"), std::string::npos) << report;
    EXPECT_NE(report.find(":2:"), std::string::npos) << report;  // where it was wrong
  }
  int aside = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with("q.table.corrupt-")) {
      ++aside;
      EXPECT_EQ(*ReadFile(entry.path().string()), corrupt);  // kept, untouched
    }
  }
  EXPECT_EQ(aside, 1);
}

}  // namespace
}  // namespace autoscale

namespace autoscale {
namespace {

// Requests held at once are bounded by max_inflight_mb: one over the budget is a 503 at once,
// and every byte is given back after the reply.
TEST(DaemonService, InflightBytesAreBounded) {
  auto engine = BuildEngine(BaseConfig(""), testing::ConfigRoot(), Doubling());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto request = [] {
    InferRequestMsg m;
    WireTensor t;
    t.name = "input";
    t.shape = {1, 3, 224, 224};
    t.fp32 = Input(1).data;  // 602 KB as binary, and 602 KB again as the float input
    t.binary = true;
    m.inputs.push_back(std::move(t));
    m.binary_outputs_default = true;
    HttpRequest r;
    r.method = "POST";
    r.target = "/v2/models/mobilenet_v2/infer";
    std::optional<size_t> hl;
    std::string body = EncodeInferRequest(m, &hl);
    SetInferenceBody(std::move(body), hl, &r);
    return r;
  };
  for (const auto& [budget_mb, want] : {std::pair{1, 503}, std::pair{2, 200}}) {
    DaemonService service(engine->get());
    service.SetMemoryBudget(size_t(budget_mb) << 20);
    std::promise<HttpResponse> got;
    service.Handle(request(), Responder([&](HttpResponse r) { got.set_value(std::move(r)); }));
    HttpResponse r = got.get_future().get();
    EXPECT_EQ(r.status, want) << budget_mb << " MiB: " << r.body;
    if (want == 503) {
      EXPECT_NE(r.body.find("max_inflight_mb"), std::string::npos) << r.body;
    }
    // The bytes are held until the reply callback is destroyed, which happens just after it
    // answers: wait for it rather than race it.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (service.inflight_bytes() != 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(service.inflight_bytes(), 0);
  }
}

}  // namespace
}  // namespace autoscale

namespace autoscale {
namespace {

// A user's mobilenet_v2.pt is the user's model in the daemon, described from its file, never
// by the zoo's profile (configs/models/mobilenet_v2.yaml). A program that cannot read the file
// (no importer installed here) says so, naming it.
TEST(Engine, AUserFileNamedLikeAZooModelIsDescribedFromTheFileNotTheZoo) {
  const std::string dir = testing::TempDir("engine_shadow");
  testing::WriteFile(dir + "/mobilenet_v2.pt", "a user's trained network");
  testing::WriteFile(dir + "/mobilenet_v2.yaml", "input_shape: [3, 224, 224]\n");
  DaemonConfig c = BaseConfig("");
  c.model_dir = dir;
  auto e = BuildEngine(c, testing::ConfigRoot(), Doubling());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find(dir + "/mobilenet_v2.pt"), std::string::npos)
      << e.status().message();
  EXPECT_NE(e.status().message().find("cannot import TorchScript"), std::string::npos)
      << e.status().message();
}

}  // namespace
}  // namespace autoscale
