// RemoteTarget against a fake KServe v2 worker on a real HttpServer: outputs decoded on every
// wire, deadlines, the breaker opening and closing, 4xx answers, concurrency, link estimates and
// shutdown with requests in flight.
#include "targets/remote/remote_target.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <mutex>
#include <thread>

namespace autoscale {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Answers like autoscale-worker for one model, "echo", whose output is its input as floats
// (UINT8 inputs decoded with ToHostTensor), reporting compute_ms 1 and queue_ms 0.5. It can be
// told to fail (every answer with `fail_status`, health included) or to answer late.
class FakeWorker {
 public:
  explicit FakeWorker(std::string listen = "127.0.0.1:0") { Start(std::move(listen)); }
  ~FakeWorker() { Stop(); }

  void Start(std::string listen) {
    HttpServerOptions o;
    o.listen = std::move(listen);
    o.threads = 2;
    auto s = HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
      Handle(std::move(req), std::move(respond));
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    endpoint_ = server_->endpoint().ToString();
  }
  void Stop() {
    JoinLater();
    if (server_) server_->Stop(0ms);
    server_.reset();
  }
  const std::string& endpoint() const { return endpoint_; }

  std::atomic<int> fail_status{0};
  std::atomic<int> delay_ms{0};
  std::atomic<int> infers{0};
  std::string source;  // the metadata's parameters.source ("" = not said); set before use

 private:
  void Handle(HttpRequest&& req, Responder respond) {
    const std::string path(req.path());
    if (fail_status != 0) return respond(ErrorResponse(fail_status, "the fake is failing"));
    if (path == "/v2/health/ready") return respond(HttpResponse{});
    if (path == "/v2/models/echo/ready") return respond(HttpResponse{});
    if (path.ends_with("/ready")) return respond(ErrorResponse(404, "no such model"));
    if (path == "/v2/models/echo" && !source.empty()) {
      HttpResponse r;
      r.body = R"({"name":"echo","outputs":[{"name":"output","datatype":"FP32","shape":[-1,3,8,8]}],)"
               R"("parameters":{"source":")" + source + R"("}})";
      return respond(std::move(r));
    }
    if (path == "/v2/models/echo/infer") {
      ++infers;
      HttpResponse r = Infer(req);
      if (delay_ms == 0) return respond(std::move(r));
      std::lock_guard<std::mutex> lock(mu_);
      later_.emplace_back(
          [d = delay_ms.load(), resp = std::move(respond), r = std::move(r)]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(d));
            resp(std::move(r));
          });
      return;
    }
    respond(ErrorResponse(404, "no route " + path));
  }

  static HttpResponse Infer(const HttpRequest& req) {
    std::optional<size_t> hl;
    if (const std::string* v = req.Header("inference-header-content-length")) hl = std::stoul(*v);
    auto msg = ParseInferRequest(req.body, hl);
    if (!msg.ok()) return ErrorResponse(400, msg.status().message());
    const WireTensor& in = msg->inputs[0];
    auto host = ToHostTensor(in, std::vector<int64_t>(in.shape.begin() + 1, in.shape.end()));
    if (!host.ok()) return ErrorResponse(400, host.status().message());
    InferResponseMsg out;
    out.model_name = "echo";
    out.id = msg->id;
    WireTensor t;
    t.name = "output";
    t.shape = host->shape;
    t.fp32 = host->data;
    t.binary = msg->binary_outputs_default;
    out.outputs.push_back(std::move(t));
    out.parameters["compute_ms"] = 1;
    out.parameters["queue_ms"] = 0.5;
    HttpResponse r;
    std::optional<size_t> out_hl;
    std::string body = EncodeInferResponse(out, &out_hl);
    SetInferenceBody(std::move(body), out_hl, &r);
    return r;
  }

  void JoinLater() {
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ts.swap(later_);
    }
    for (auto& t : ts) t.join();
  }

  std::unique_ptr<HttpServer> server_;
  std::string endpoint_;
  std::mutex mu_;
  std::vector<std::thread> later_;  // guarded by mu_
};

ModelSpec Echo(std::vector<int64_t> shape = {3, 8, 8}) {
  ModelSpec m;
  m.name = "echo";
  m.input_shape = std::move(shape);
  return m;
}

HostTensor Input(const ModelSpec& m, uint64_t seed = 1) { return MakeHostInput(m, seed); }

RemoteOptions Options(const FakeWorker& w, std::string wire = "binary") {
  RemoteOptions o;
  o.endpoint = w.endpoint();
  o.wire = std::move(wire);
  o.probe_interval_ms = 0;
  return o;
}

std::unique_ptr<RemoteTarget> Make(const RemoteOptions& o) {
  auto t = RemoteTarget::Create(o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

Result<RemoteResult> RunSync(RemoteTarget& t, const ModelSpec& m, const HostTensor& in,
                             std::chrono::milliseconds timeout = 2s) {
  std::promise<Result<RemoteResult>> p;
  t.RunAsync(m, in, Clock::now() + timeout,
             [&p](Result<RemoteResult> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST(RemoteTarget, RunDecodesTheOutput) {
  FakeWorker w;
  auto t = Make(Options(w));
  const ModelSpec m = Echo();
  EXPECT_EQ(t->description().kind, TargetKind::kCloud);
  EXPECT_EQ(t->description().precisions, std::vector<Precision>{Precision::kFp32});
  EXPECT_TRUE(t->available());
  ASSERT_TRUE(t->Prepare(m, Precision::kFp32).ok());
  const HostTensor in = Input(m);
  auto r = t->Run(m, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.shape, in.shape);
  EXPECT_EQ(r->output.data, in.data);
  EXPECT_GT(r->latency_ms, 0);
  EXPECT_EQ(r->energy_mj, 0);

  auto rr = RunSync(*t, m, in);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  EXPECT_EQ(rr->compute_ms, 1);
  EXPECT_EQ(rr->queue_ms, 0.5);
  EXPECT_GT(rr->bytes_up, static_cast<int64_t>(in.data.size() * 4));
  EXPECT_GT(rr->bytes_down, static_cast<int64_t>(in.data.size() * 4));
  EXPECT_TRUE(rr->reused_connection);
  EXPECT_GE(rr->inference.latency_ms, rr->response_ms);

  EXPECT_FALSE(t->Run(m, Precision::kFp32, 1, in).ok());  // one level only
  auto bad = t->Run(m, Precision::kFp32, 0, Input(Echo({3, 4, 4})));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// A user's file named like a zoo model, offloaded to a worker that serves the zoo's network of
// that name (started without the file): refused, not answered by the wrong network.
TEST(RemoteTarget, AWorkerServingTheZoosNetworkForAUsersFileIsRefused) {
  FakeWorker w;
  w.source = "zoo";
  auto t = Make(Options(w));
  ModelSpec user = Echo();
  user.torchscript_path = "/models/echo.pt";
  Status s = t->Supports(user, Precision::kFp32);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/models/echo.pt"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("--model-dir"), std::string::npos) << s.ToString();
  EXPECT_FALSE(t->Run(user, Precision::kFp32, 0, Input(user)).ok());
  EXPECT_EQ(w.infers, 0);
  EXPECT_TRUE(t->Supports(Echo(), Precision::kFp32).ok()) << "the zoo's own network is fine";

  FakeWorker tw;
  tw.source = "torchscript";
  auto t2 = Make(Options(tw));
  EXPECT_TRUE(t2->Supports(user, Precision::kFp32).ok());
  EXPECT_FALSE(t2->Supports(Echo(), Precision::kFp32).ok());
  EXPECT_TRUE(t2->Run(user, Precision::kFp32, 0, Input(user)).ok());
}

TEST(RemoteTarget, EveryWireRoundTrips) {
  FakeWorker w;
  const ModelSpec m = Echo();
  const HostTensor in = Input(m);  // values in [-1, 1]: normalised pixels fit in bytes
  std::map<std::string, int64_t> bytes_up;
  for (const std::string wire : {"binary", "json", "uint8"}) {
    SCOPED_TRACE(wire);
    auto t = Make(Options(w, wire));
    auto r = RunSync(*t, m, in);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const HostTensor& out = r->inference.output;
    ASSERT_EQ(out.shape, in.shape);
    ASSERT_EQ(out.data.size(), in.data.size());
    const float tolerance = wire == "uint8" ? 0.5f / 255 / 0.224f + 1e-4f : 0.0f;
    for (size_t i = 0; i < in.data.size(); ++i) {
      ASSERT_NEAR(out.data[i], in.data[i], tolerance) << "at " << i;
    }
    bytes_up[wire] = r->bytes_up;
  }
  EXPECT_LT(bytes_up["uint8"], bytes_up["binary"]);
  EXPECT_LT(bytes_up["binary"], bytes_up["json"]);

  // Bytes already in hand (a camera frame) go as they are.
  auto t = Make(Options(w, "binary"));
  Uint8Tensor frame;
  frame.shape = {1, 3, 8, 8};
  for (int i = 0; i < 3 * 64; ++i) frame.data.push_back(static_cast<uint8_t>(i));
  std::promise<Result<RemoteResult>> p;
  t->RunAsync(m, frame, Clock::now() + 2s,
              [&p](Result<RemoteResult> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->inference.output.data[70], (70 / 255.0f - 0.456f) / 0.224f, 1e-5);
}

TEST(RemoteTarget, DeadlineExpiryIsUnavailable) {
  FakeWorker w;
  w.delay_ms = 600;
  auto t = Make(Options(w));
  const ModelSpec m = Echo();
  const HostTensor in = Input(m);
  auto r = RunSync(*t, m, in, 150ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("deadline of "), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("ms passed while"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(t->consecutive_failures(), 1);
  // A deadline already past is the caller's: nothing is sent and the breaker is not told.
  auto late = RunSync(*t, m, in, -1ms);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.status().message().find("deadline passed before the request was sent"),
            std::string::npos)
      << late.status().message();
  EXPECT_EQ(t->consecutive_failures(), 1);
}

TEST(RemoteTarget, BreakerOpensAfterFailuresAndATrialClosesIt) {
  FakeWorker w;
  RemoteOptions o = Options(w);
  o.breaker.open_cooldown_ms = 100;
  auto t = Make(o);
  const ModelSpec m = Echo();
  const HostTensor in = Input(m);
  w.fail_status = 500;
  for (int i = 0; i < 3; ++i) {
    auto r = RunSync(*t, m, in);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("HTTP 500: the fake is failing"), std::string::npos)
        << r.status().message();
  }
  EXPECT_FALSE(t->Healthy());
  EXPECT_FALSE(t->description().available);
  EXPECT_NE(t->description().unavailable_reason.find("breaker open after 3 failures"),
            std::string::npos)
      << t->description().unavailable_reason;
  const int infers = w.infers;
  auto fast = RunSync(*t, m, in);
  ASSERT_FALSE(fast.ok());
  EXPECT_NE(fast.status().message().find("breaker open after 3 failures: "), std::string::npos)
      << fast.status().message();
  EXPECT_EQ(w.infers, infers) << "an open breaker sends nothing";
  EXPECT_EQ(t->Supports(m, Precision::kFp32).code(), StatusCode::kUnavailable);

  w.fail_status = 0;
  std::this_thread::sleep_for(150ms);
  auto trial = RunSync(*t, m, in);  // the half-open trial
  ASSERT_TRUE(trial.ok()) << trial.status().ToString();
  EXPECT_TRUE(t->Healthy());
  EXPECT_TRUE(t->description().available);
}

TEST(RemoteTarget, HealthProbesCloseTheBreakerWhenTheWorkerIsBack) {
  auto w = std::make_unique<FakeWorker>();
  const std::string endpoint = w->endpoint();
  RemoteOptions o = Options(*w);
  o.probe_interval_ms = 20;
  o.breaker.open_cooldown_ms = 50;
  auto t = Make(o);
  ASSERT_TRUE(WaitFor([&] { return t->link().samples > 0; }, 2s));
  w->Stop();  // the worker goes away: connections are refused
  ASSERT_TRUE(WaitFor([&] { return !t->Healthy(); }, 2s));
  auto r = RunSync(*t, Echo(), Input(Echo()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("breaker open"), std::string::npos) << r.status().message();
  EXPECT_NE(t->Snapshot().unavailable_reason.find("connection refused"), std::string::npos)
      << t->Snapshot().unavailable_reason;
  w->Start(endpoint);  // back on the same port
  ASSERT_TRUE(WaitFor([&] { return t->Healthy(); }, 3s));
  auto ok = RunSync(*t, Echo(), Input(Echo()));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(RemoteTarget, ClientErrorsDoNotOpenTheBreaker) {
  FakeWorker w;
  RemoteOptions o = Options(w);
  o.breaker.failures_to_open = 2;
  auto t = Make(o);
  ModelSpec missing = Echo();
  missing.name = "missing";
  for (int i = 0; i < 4; ++i) {
    auto r = RunSync(*t, missing, Input(missing));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  }
  EXPECT_TRUE(t->Healthy());
  EXPECT_EQ(t->consecutive_failures(), 0);
  EXPECT_EQ(t->Prepare(missing, Precision::kFp32).code(), StatusCode::kNotFound);
  EXPECT_EQ(t->Supports(missing, Precision::kFp32).code(), StatusCode::kNotFound);
  EXPECT_TRUE(t->Supports(Echo(), Precision::kFp32).ok());
  EXPECT_EQ(t->Supports(Echo(), Precision::kInt8).code(), StatusCode::kUnavailable);
  ModelSpec odd = Echo();
  odd.name = "../etc";
  EXPECT_EQ(t->Prepare(odd, Precision::kFp32).code(), StatusCode::kInvalidArgument);
}

TEST(RemoteTarget, ConcurrentRequestsAreEachAnsweredOnce) {
  FakeWorker w;
  w.delay_ms = 20;
  auto t = Make(Options(w));
  const ModelSpec m = Echo();
  constexpr int kThreads = 4, kPerThread = 8;
  std::atomic<int> ok{0}, calls{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        const HostTensor in = Input(m, i * kPerThread + j);
        t->RunAsync(m, in, Clock::now() + 5s, [&, in](Result<RemoteResult> r) {
          if (r.ok() && r->inference.output.data == in.data) ++ok;
          ++calls;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(WaitFor([&] { return calls == kThreads * kPerThread; }, 10s));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls, kThreads * kPerThread);
  EXPECT_EQ(ok, kThreads * kPerThread);
}

TEST(RemoteTarget, LinkEstimatesBecomePositive) {
  FakeWorker w;
  RemoteOptions o = Options(w);
  o.probe_interval_ms = 20;
  auto t = Make(o);
  const ModelSpec m = Echo({3, 64, 64});  // 48 KiB each way: large enough for throughput
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(RunSync(*t, m, Input(m, i)).ok());
  ASSERT_TRUE(WaitFor([&] { return t->link().rtt_ms > 0; }, 2s));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(RunSync(*t, m, Input(m, i)).ok());
  const LinkEstimate e = t->link();
  EXPECT_GT(e.rtt_ms, 0);
  EXPECT_LT(e.rtt_ms, 100);  // loopback
  EXPECT_GT(e.up_mbps, 0);
  EXPECT_GT(e.down_mbps, 0);
  EXPECT_GE(e.samples, 11);
}

TEST(RemoteTarget, DestructionAnswersRequestsInFlight) {
  FakeWorker w;
  w.delay_ms = 500;
  auto t = Make(Options(w));
  std::atomic<int> calls{0};
  Status got;
  t->RunAsync(Echo(), Input(Echo()), Clock::now() + 5s, [&](Result<RemoteResult> r) {
    got = r.status();
    ++calls;
  });
  ASSERT_TRUE(WaitFor([&] { return w.infers == 1; }, 2s));
  t.reset();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got.code(), StatusCode::kUnavailable);
}

TEST(RemoteTarget, CreateRejectsBadOptions) {
  RemoteOptions o;
  o.wire = "protobuf";
  auto a = RemoteTarget::Create(o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("unknown wire 'protobuf' (valid: binary, json, uint8)"),
            std::string::npos);
  o = RemoteOptions();
  o.kind = TargetKind::kCpu;
  EXPECT_FALSE(RemoteTarget::Create(o).ok());
  o = RemoteOptions();
  o.endpoint = "nowhere";
  auto c = RemoteTarget::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("remote target 'cloud'"), std::string::npos);
  o = RemoteOptions();
  o.name = "phone2";
  o.kind = TargetKind::kNearby;
  o.probe_interval_ms = 0;
  auto d = RemoteTarget::Create(o);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->description().kind, TargetKind::kNearby);
  EXPECT_EQ((*d)->description().name, "phone2");
}

TEST(RemoteTarget, QuantizeUint8InvertsToHostTensor) {
  const ModelSpec m = Echo();
  const HostTensor in = Input(m);
  const Uint8Tensor q = QuantizeUint8(in);
  WireTensor w;
  w.type = TensorType::kUint8;
  w.shape = q.shape;
  w.u8 = q.data;
  auto back = ToHostTensor(w, m.input_shape);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (size_t i = 0; i < in.data.size(); ++i) {
    ASSERT_NEAR(back->data[i], in.data[i], 0.5f / 255 / 0.224f + 1e-4f);
  }
  HostTensor flat;
  flat.shape = {1, 4};
  flat.data = {0.0f, 0.5f, 1.0f, 2.0f};
  EXPECT_EQ(QuantizeUint8(flat).data, (std::vector<uint8_t>{0, 128, 255, 255}));
}

}  // namespace
}  // namespace autoscale
