// The worker's routes through its handler: health, server and model metadata, errors with
// their status codes, metrics, and shutdown with drain. Models: kws_lstm (small) from the zoo.
#include "targets/worker/worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "targets/model_store.h"
#include "test_util.h"
#include "worker_test_util.h"

namespace autoscale {
namespace {

using nlohmann::json;
using testing::Call;
using testing::CallAsync;
using testing::Request;

constexpr char kModel[] = "kws_lstm";  // input [49, 10], output [12]

// A worker on the CPU with one thread; it serves kws_lstm unless told other models.
std::unique_ptr<Worker> MakeWorker(WorkerOptions o = {}) {
  if (o.models.empty() && o.model_dir.empty()) o.models = {kModel};
  o.device = "cpu";
  if (o.threads == 0) o.threads = 1;
  auto w = Worker::Create(o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : nullptr;
}

json Json(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

std::string Error(const HttpResponse& r) {
  json j = Json(r);
  return j.contains("error") ? j["error"].get<std::string>() : "(no error: " + r.body + ")";
}

WireTensor KwsInput(int64_t batch, float scale = 0.01f) {
  std::vector<int64_t> shape = {batch, 49, 10};
  std::vector<float> data(static_cast<size_t>(batch * 490));
  for (size_t i = 0; i < data.size(); ++i) data[i] = scale * static_cast<float>(i % 97) - 0.4f;
  return testing::Fp32Input(shape, data);
}

TEST(WorkerTest, HealthAndServerMetadata) {
  auto w = MakeWorker();
  HttpResponse live = Call(*w, Request("GET", "/v2/health/live"));
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(Json(live)["live"], true);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/health/ready")).status, 200);
  HttpResponse meta = Call(*w, Request("GET", "/v2"));
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(meta.content_type, "application/json");
  json j = Json(meta);
  EXPECT_EQ(j["name"], "autoscale-worker");
  EXPECT_EQ(j["version"], AUTOSCALE_VERSION);  // the project's, as --version prints it
  EXPECT_EQ(j["extensions"], json::array({"binary_tensor_data"}));
  EXPECT_EQ(w->device(), "cpu");
  EXPECT_EQ(w->threads(), 1);
}

TEST(WorkerTest, ModelMetadataAndReady) {
  auto w = MakeWorker();  // kws_lstm loaded by Create
  HttpResponse before = Call(*w, Request("GET", "/v2/models/kws_lstm/ready"));
  EXPECT_EQ(before.status, 200) << before.body;

  HttpResponse meta = Call(*w, Request("GET", "/v2/models/kws_lstm"));
  ASSERT_EQ(meta.status, 200) << meta.body;
  json j = Json(meta);
  EXPECT_EQ(j["name"], kModel);
  EXPECT_EQ(j["platform"], "pytorch_libtorch");
  EXPECT_EQ(j["versions"], json::array({"1"}));
  ASSERT_EQ(j["inputs"].size(), 1u);
  EXPECT_EQ(j["inputs"][0]["name"], "input");
  EXPECT_EQ(j["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["inputs"][0]["shape"], json::array({-1, 49, 10}));
  ASSERT_EQ(j["outputs"].size(), 1u);
  EXPECT_EQ(j["outputs"][0]["name"], "output");
  EXPECT_EQ(j["outputs"][0]["shape"], json::array({-1, 12}));
  EXPECT_EQ(j["parameters"]["source"], "zoo");

  HttpResponse ready = Call(*w, Request("GET", "/v2/models/kws_lstm/ready"));
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Json(ready)["ready"], true);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/models/kws_lstm/versions/1")).status, 200);
  HttpResponse v2 = Call(*w, Request("GET", "/v2/models/kws_lstm/versions/2/ready"));
  EXPECT_EQ(v2.status, 404);
  EXPECT_NE(Error(v2).find("no version '2'"), std::string::npos);
}

TEST(WorkerTest, JsonInferAnswersWithParameters) {
  auto w = MakeWorker();
  WireTensor in = KwsInput(2);
  in.binary = false;
  HttpResponse r = Call(*w, testing::InferRequest(kModel, in));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.Header("inference-header-content-length"), nullptr);
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->model_name, kModel);
  EXPECT_EQ(msg->id, "req");
  ASSERT_EQ(msg->outputs.size(), 1u);
  EXPECT_EQ(msg->outputs[0].name, "output");
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{2, 12}));
  EXPECT_GT(msg->parameters.at("compute_ms"), 0);
  EXPECT_GE(msg->parameters.at("queue_ms"), 0);
  EXPECT_EQ(msg->parameters.at("batch_size"), 2);

  // The same through /versions/1 and binary, unbatched shape [49, 10]: the first row again.
  WireTensor one = KwsInput(1);
  one.shape = {49, 10};
  HttpRequest req = testing::InferRequest(kModel, one, /*binary_out=*/true);
  req.target = "/v2/models/kws_lstm/versions/1/infer";
  HttpResponse b = Call(*w, std::move(req));
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.content_type, "application/octet-stream");
  ASSERT_NE(b.Header("inference-header-content-length"), nullptr);
  auto bm = testing::ParseResponse(b);
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_TRUE(bm->outputs[0].binary);
  EXPECT_EQ(bm->outputs[0].shape, (std::vector<int64_t>{1, 12}));
  for (int i = 0; i < 12; ++i) {
    EXPECT_NEAR(bm->outputs[0].fp32[i], msg->outputs[0].fp32[i],
                1e-5 * (1 + std::abs(msg->outputs[0].fp32[i])));
  }
}

// A request as KServe's Python SDK writes it (InferRequest.to_rest: "model_name", a string
// "content_type" parameter at the request and tensor level) and as Triton's clients add
// booleans ("sequence_start"): served. What it names is checked: model_name and model_version
// against the path, the input's and outputs' names against the metadata's.
TEST(WorkerTest, ProtocolClientsRequestsAreServedAndTheirNamesChecked) {
  auto w = MakeWorker();
  const std::string data = testing::KwsJsonData();
  auto body = [&](const std::string& model_name, const std::string& input_name,
                  const std::string& output_name) {
    return R"({"id": "sdk-1", "model_name": ")" + model_name +
           R"(", "model_version": "1", "parameters": {"content_type": "np", "sequence_start": true},
              "inputs": [{"name": ")" +
           input_name + R"(", "shape": [1, 49, 10], "datatype": "FP32",
                          "parameters": {"content_type": "np"}, "data": [)" +
           data + R"(]}], "outputs": [{"name": ")" + output_name + R"("}]})";
  };
  HttpResponse ok =
      Call(*w, Request("POST", "/v2/models/kws_lstm/infer", body("kws_lstm", "input", "output")));
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto msg = testing::ParseResponse(ok);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->id, "sdk-1");
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{1, 12}));

  struct Case {
    std::string body, message;
  };
  const std::vector<Case> cases = {
      {body("resnet18", "input", "output"),
       "model_name: 'resnet18' is not the model of the path, 'kws_lstm'"},
      {body("kws_lstm", "INPUT__0", "output"),
       "model 'kws_lstm' has one input, 'input'; the request sends 'INPUT__0'"},
      {body("kws_lstm", "input", "OUTPUT__0"),
       "model 'kws_lstm' has one output, 'output'; the request asks for 'OUTPUT__0'"},
  };
  for (const Case& c : cases) {
    HttpResponse r = Call(*w, Request("POST", "/v2/models/kws_lstm/infer", c.body));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(Error(r).find(c.message), std::string::npos) << r.body;
  }
}

// Triton's model configuration and repository index, which its tools (perf_analyzer, model
// analyzer) read.
TEST(WorkerTest, TritonModelConfigAndRepositoryIndex) {
  auto w = MakeWorker();
  HttpResponse c = Call(*w, Request("GET", "/v2/models/kws_lstm/config"));
  ASSERT_EQ(c.status, 200) << c.body;
  json j = Json(c);
  EXPECT_EQ(j["name"], "kws_lstm");
  EXPECT_EQ(j["platform"], "pytorch_libtorch");
  EXPECT_EQ(j["max_batch_size"], 8);  // the worker's default
  EXPECT_EQ(j["input"][0]["name"], "input");
  EXPECT_EQ(j["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(j["input"][0]["dims"], json({49, 10}));  // without the batch, as Triton writes it
  EXPECT_EQ(j["output"][0]["name"], "output");
  EXPECT_EQ(j["output"][0]["dims"], json({12}));
  EXPECT_EQ(j["dynamic_batching"]["max_queue_delay_microseconds"], 2000);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/models/nope/config")).status, 404);
  EXPECT_EQ(Call(*w, Request("POST", "/v2/models/kws_lstm/config")).status, 405);

  HttpResponse idx = Call(*w, Request("POST", "/v2/repository/index"));
  ASSERT_EQ(idx.status, 200) << idx.body;
  EXPECT_EQ(Json(idx), json::parse(R"([{"name": "kws_lstm", "version": "1", "state": "READY"}])"));
  HttpResponse ready = Call(*w, Request("POST", "/v2/repository/index", R"({"ready": true})"));
  EXPECT_EQ(Json(ready).size(), 1u) << ready.body;
  EXPECT_EQ(Call(*w, Request("POST", "/v2/repository/index", "[1]")).status, 400);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/repository/index")).status, 405);
}

TEST(WorkerTest, RequestErrorsSayWhatAndWhere) {
  auto w = MakeWorker();
  struct Case {
    HttpRequest req;
    int status;
    std::string message;
  };
  WireTensor wrong = KwsInput(1);
  wrong.shape = {1, 10, 49};
  WireTensor two = KwsInput(1);
  InferRequestMsg two_inputs;
  two_inputs.inputs = {two, two};
  std::optional<size_t> hl;
  std::string two_body = EncodeInferRequest(two_inputs, &hl);
  std::vector<Case> cases;
  cases.push_back({Request("POST", "/v2/models/nope/infer", "{}"), 404,
                   "model 'nope' is not served here (served: kws_lstm)"});
  cases.push_back({Request("POST", "/v2/models/resnet18/infer", "{}"), 404,
                   "model 'resnet18' is not served here"});
  cases.push_back({Request("POST", "/v2/models/kws_lstm/infer", "{\"inputs\": ["), 400,
                   "malformed JSON at byte"});
  cases.push_back({Request("POST", "/v2/models/kws_lstm/infer", "{\"inputs\": 3}"), 400,
                   "inputs: expected an array"});
  cases.push_back({testing::InferRequest(kModel, wrong), 400,
                   "shape [1, 10, 49] does not fit the model's input [N, 49, 10]"});
  cases.push_back({Request("POST", "/v2/models/kws_lstm/infer", two_body,
                           {{"inference-header-content-length", std::to_string(*hl)}}),
                   400, "takes one input; the request has 2"});
  cases.push_back({Request("POST", "/v2/models/kws_lstm/infer", two_body,
                           {{"inference-header-content-length", "12x"}}),
                   400, "Inference-Header-Content-Length: expected a byte count"});
  HttpRequest logits = testing::InferRequest(kModel, two);
  {
    InferRequestMsg m;
    m.inputs = {two};
    m.outputs = {{"logits", false}};
    logits.body = EncodeInferRequest(m, &hl);
    logits.headers = {{"inference-header-content-length", std::to_string(*hl)}};
  }
  cases.push_back(
      {std::move(logits), 400, "has one output, 'output'; the request asks for 'logits'"});
  cases.push_back({Request("GET", "/v2/models/kws_lstm/infer"), 405, "allowed: POST"});
  cases.push_back({Request("POST", "/v2/models/kws_lstm"), 405, "allowed: GET"});
  cases.push_back({Request("DELETE", "/v2/health/live"), 405, "allowed: GET"});
  cases.push_back({Request("GET", "/v3/models"), 404, "no route GET /v3/models"});
  cases.push_back({Request("GET", "/v2/models/kws_lstm/stats"), 404, "no route"});
  cases.push_back({Request("GET", "/"), 404, "no route"});
  for (Case& c : cases) {
    const std::string what = c.req.method + " " + c.req.target;
    HttpResponse r = Call(*w, std::move(c.req));
    EXPECT_EQ(r.status, c.status) << what << ": " << r.body;
    EXPECT_NE(Error(r).find(c.message), std::string::npos) << what << ": " << r.body;
  }
  HttpResponse r405 = Call(*w, Request("PUT", "/metrics"));
  ASSERT_NE(r405.Header("allow"), nullptr);
  EXPECT_EQ(*r405.Header("allow"), "GET");
}

TEST(WorkerTest, NamesNeverReachOutsideTheModelFolder) {
  const std::string dir = testing::TempDir("worker_names");
  testing::WriteFile(dir + "/../outside.pt", "x");
  testing::WriteFile(dir + "/../outside.yaml", "input_shape: [4]\n");
  WorkerOptions o;
  o.model_dir = dir;
  auto w = MakeWorker(o);
  // Names are not percent-decoded, and '%', '/' and a leading '.' are refused.
  for (const std::string target :
       {"/v2/models/..%2Foutside/infer", "/v2/models/%2E%2E%2Foutside/infer",
        "/v2/models/.hidden/infer", "/v2/models/../infer", "/v2/models/a%00b/infer"}) {
    HttpResponse r = Call(*w, Request("POST", target, "{}"));
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(Error(r).find("invalid model name"), std::string::npos) << target << ": " << r.body;
  }
  // Segments are split on '/' before any name is used: "../outside" is never one name.
  for (const std::string target : {"/v2/models/../outside/infer", "/v2/models/../outside"}) {
    HttpResponse r = Call(*w, Request("POST", target, "{}"));
    EXPECT_EQ(r.status, 404) << target << ": " << r.body;
  }
  HttpResponse r = Call(*w, Request("GET", "/v2/models/outside"));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(Error(r).find("model 'outside' is not served here"), std::string::npos) << r.body;
}

TEST(WorkerTest, MissingOrBrokenTorchScriptGivesClearErrors) {
  const std::string dir = testing::TempDir("worker_bad_models");
  testing::WriteFile(dir + "/garbage.pt", "this is not a zip archive");
  testing::WriteFile(dir + "/garbage.yaml", "input_shape: [4]\n");
  testing::WriteFile(dir + "/noyaml.pt", "x");
  WorkerOptions o;
  o.model_dir = dir;
  auto w = MakeWorker(o);
  HttpResponse g =
      Call(*w, testing::InferRequest("garbage", testing::Fp32Input({1, 4}, {1, 2, 3, 4})));
  EXPECT_EQ(g.status, 500);
  EXPECT_NE(Error(g).find("model 'garbage' could not be loaded"), std::string::npos) << g.body;
  EXPECT_NE(Error(g).find("not a TorchScript archive"), std::string::npos) << g.body;
  HttpResponse meta = Call(*w, Request("GET", "/v2/models/noyaml"));
  EXPECT_EQ(meta.status, 500);
  EXPECT_NE(Error(meta).find("noyaml.yaml"), std::string::npos) << meta.body;
  HttpResponse ready = Call(*w, Request("GET", "/v2/models/garbage/ready"));
  EXPECT_EQ(ready.status, 400);
  EXPECT_NE(Error(ready).find("could not be loaded"), std::string::npos) << ready.body;

  WorkerOptions missing;
  missing.model_dir = dir;
  missing.models = {"garbage"};
  auto failed = Worker::Create(missing);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("preloading model 'garbage'"), std::string::npos)
      << failed.status().message();
  missing.models = {"absent"};
  failed = Worker::Create(missing);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kNotFound);
  missing.model_dir = dir + "/nowhere";
  missing.models.clear();
  EXPECT_EQ(Worker::Create(missing).status().code(), StatusCode::kNotFound);
}

TEST(WorkerTest, OptionsAreChecked) {
  WorkerOptions o;
  o.device = "tpu";
  auto r = Worker::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown device 'tpu' (valid: auto, cpu, cuda)"),
            std::string::npos);
  o = {};
  o.max_batch_size = 0;
  EXPECT_EQ(Worker::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.max_queue_delay_us = -1;
  EXPECT_EQ(Worker::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.device = "auto";  // CPU here unless libtorch has CUDA
  auto a = Worker::Create(o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->device() == "cpu" || (*a)->device() == "cuda");
}

TEST(WorkerTest, MetricsHaveCountersAndHistograms) {
  auto w = MakeWorker();
  ASSERT_EQ(Call(*w, testing::InferRequest(kModel, KwsInput(1))).status, 200);
  ASSERT_EQ(Call(*w, testing::InferRequest("nope", KwsInput(1))).status, 404);
  HttpResponse m = Call(*w, Request("GET", "/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4");
  for (const std::string line : {
           "# TYPE autoscale_worker_requests_total counter",
           "autoscale_worker_requests_total{model=\"kws_lstm\",code=\"200\"} 1",
           "autoscale_worker_requests_total{model=\"\",code=\"404\"} 1",
           "# TYPE autoscale_worker_request_duration_seconds histogram",
           "autoscale_worker_request_duration_seconds_count{model=\"kws_lstm\"} 1",
           "autoscale_worker_queue_duration_seconds_bucket{model=\"kws_lstm\",le=\"+Inf\"} 1",
           "autoscale_worker_compute_duration_seconds_sum{model=\"kws_lstm\"}",
           "autoscale_worker_batch_size_bucket{model=\"kws_lstm\",le=\"1\"} 1",
           "autoscale_worker_queue_depth{model=\"kws_lstm\"} 0",
       }) {
    EXPECT_NE(m.body.find(line), std::string::npos) << line << "\n" << m.body;
  }
  EXPECT_EQ(m.body, w->metrics().Render());
}

TEST(WorkerTest, ShutdownDrainsQueuedRequestsThenRefuses) {
  WorkerOptions o;
  o.models = {kModel};
  o.max_batch_size = 64;
  o.max_queue_delay_us = 10'000'000;  // would hold a lone request for 10 s
  auto w = MakeWorker(o);
  std::vector<std::future<HttpResponse>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(CallAsync(*w, testing::InferRequest(kModel, KwsInput(1))));
  const auto t0 = std::chrono::steady_clock::now();
  w->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  for (auto& f : fs) {
    HttpResponse r = testing::Wait(f);
    EXPECT_EQ(r.status, 200) << r.body;
    auto msg = testing::ParseResponse(r);
    ASSERT_TRUE(msg.ok());
    EXPECT_EQ(msg->parameters.at("batch_size"), 3);
  }
  HttpResponse late = Call(*w, testing::InferRequest(kModel, KwsInput(1)));
  EXPECT_EQ(late.status, 503);
  EXPECT_NE(Error(late).find("shutting down"), std::string::npos);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/health/ready")).status, 503);
  EXPECT_EQ(Call(*w, Request("GET", "/v2/health/live")).status, 200);
  w->Shutdown();  // idempotent
}

// Issue 10, item 8: only the models the worker was told to serve are served. A zoo model not
// listed is 404 for every route and loads nothing (no queue, no metrics series): before, any
// client could make the worker load every zoo model by asking for it (+1.7 GB).
TEST(WorkerTest, ModelsNotListedAreNotServedAndNotLoaded) {
  auto w = MakeWorker();  // serves kws_lstm only
  for (const std::string target : {"/v2/models/mobilenet_v2", "/v2/models/mobilenet_v2/ready",
                                   "/v2/models/resnet50/versions/1"}) {
    HttpResponse r = Call(*w, Request("GET", target));
    EXPECT_EQ(r.status, 404) << target << ": " << r.body;
    EXPECT_NE(Error(r).find("is not served here (served: kws_lstm)"), std::string::npos) << r.body;
  }
  HttpResponse infer = Call(*w, testing::InferRequest("squeezenet_1_1", KwsInput(1)));
  EXPECT_EQ(infer.status, 404) << infer.body;
  const std::string metrics = w->metrics().Render();
  for (const char* name : {"mobilenet_v2", "resnet50", "squeezenet_1_1"}) {
    EXPECT_EQ(metrics.find(std::string("model=\"") + name + "\""), std::string::npos) << name;
  }
  EXPECT_EQ(Call(*w, testing::InferRequest(kModel, KwsInput(1))).status, 200);
}

// Issue 10, item 8: a request's own batch is bounded by max_batch_size (it runs as one pass):
// 400 naming the limit, and its input is not converted. Before, one request of 200 images
// took the worker's RSS from 0.47 to 2.0 GB.
TEST(WorkerTest, RequestBatchOverMaxBatchSizeIs400) {
  WorkerOptions o;
  o.max_batch_size = 4;
  auto w = MakeWorker(o);
  HttpResponse big = Call(*w, testing::InferRequest(kModel, KwsInput(5)));
  EXPECT_EQ(big.status, 400) << big.body;
  EXPECT_NE(Error(big).find("batch of 5 samples exceeds the worker's max_batch_size of 4"),
            std::string::npos)
      << big.body;
  HttpResponse fits = Call(*w, testing::InferRequest(kModel, KwsInput(4)));
  ASSERT_EQ(fits.status, 200) << fits.body;
  auto msg = testing::ParseResponse(fits);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{4, 12}));
}

// Issue 10, item 8: the requests being served hold at most max_queue_bytes (bodies and inputs
// as floats); beyond it infer gets 503, a request larger than the whole budget 413, and the
// budget is free again once they are answered.
TEST(WorkerTest, QueueByteBudgetRefusesBeyondIt) {
  WorkerOptions o;
  o.max_batch_size = 64;
  o.max_queue_delay_us = 500'000;  // queued requests wait here for half a second
  // One kws_lstm request of 1 sample: a binary body of ~2.1 KB and 1960 bytes of floats.
  o.max_queue_bytes = 10 * 4200;
  auto w = MakeWorker(o);
  std::vector<std::future<HttpResponse>> fs;
  for (int i = 0; i < 20; ++i) {
    fs.push_back(CallAsync(*w, testing::InferRequest(kModel, KwsInput(1))));
  }
  int ok = 0, refused = 0;
  for (auto& f : fs) {
    HttpResponse r = testing::Wait(f);
    if (r.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(r.status, 503) << r.body;
      EXPECT_NE(Error(r).find("queue budget of 42000 bytes (--max-queue-bytes)"), std::string::npos)
          << r.body;
      ++refused;
    }
  }
  EXPECT_GE(ok, 8);
  EXPECT_LE(ok, 11);
  EXPECT_EQ(ok + refused, 20);
  // Answered: the budget is free again.
  EXPECT_EQ(Call(*w, testing::InferRequest(kModel, KwsInput(1))).status, 200);
  // One request larger than the whole budget can never fit.
  HttpResponse huge = Call(*w, testing::InferRequest(kModel, KwsInput(11)));
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_NE(Error(huge).find("more than the worker's queue budget"), std::string::npos)
      << huge.body;
  // JSON text is charged for the tree it parses into (7 bytes per byte, while it exists): 2
  // samples as JSON (~10 KB of text) do not fit in 42 KB, though they would as binary.
  WireTensor json_input = KwsInput(2);
  json_input.binary = false;
  HttpResponse json = Call(*w, testing::InferRequest(kModel, json_input));
  EXPECT_EQ(json.status, 413) << json.body;
  EXPECT_EQ(Call(*w, testing::InferRequest(kModel, KwsInput(2))).status, 200);
}

}  // namespace
}  // namespace autoscale

namespace autoscale {
namespace {

// Two models' queues run their CPU passes on their own threads while libtorch's and OpenBLAS's
// thread counts are process-wide: with both models loaded at once and requests to both in
// flight, each answer is still the one the model gives alone.
TEST(WorkerTest, TwoModelsAtOnceAnswerAsEachAlone) {
  WorkerOptions o;
  o.models = {kModel, "squeezenet_1_1"};
  o.threads = 2;
  o.max_batch_size = 1;
  auto w = MakeWorker(o);
  ASSERT_NE(w, nullptr);
  ModelStore store;
  auto squeeze = store.Get("squeezenet_1_1");
  ASSERT_TRUE(squeeze.ok());
  const HostTensor image = MakeHostInput(**squeeze, 3);
  auto request = [&](bool kws) {
    return kws ? testing::InferRequest(kModel, KwsInput(1), true)
               : testing::InferRequest("squeezenet_1_1",
                                       testing::Fp32Input(image.shape, image.data), true);
  };
  auto output = [](const HttpResponse& r) {
    auto m = testing::ParseResponse(r);
    return m.ok() && m->outputs.size() == 1 ? m->outputs[0].fp32 : std::vector<float>{};
  };
  const std::vector<float> kws_alone = output(Call(*w, request(true)));
  const std::vector<float> squeeze_alone = output(Call(*w, request(false)));
  ASSERT_EQ(kws_alone.size(), 12u);
  ASSERT_EQ(squeeze_alone.size(), 1000u);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const bool kws = (t + i) % 2 == 0;
        const std::vector<float> got = output(Call(*w, request(kws)));
        const std::vector<float>& want = kws ? kws_alone : squeeze_alone;
        bool same = got.size() == want.size();
        for (size_t k = 0; same && k < got.size(); ++k) {
          same = std::abs(got[k] - want[k]) <= 1e-4f * (1 + std::abs(want[k]));
        }
        if (!same) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, 0);
}

// Issue 14, point 3: tail-aware batching is for GPUs; on the CPU (no waves) it is off unless
// asked for, and nothing about it shows in the model's metadata or configuration.
TEST(WorkerTest, TailAwareBatchingIsOffByDefaultOnTheCpu) {
  auto w = MakeWorker();
  EXPECT_FALSE(w->tail_aware());
  EXPECT_EQ(Json(Call(*w, Request("GET", "/v2")))["tail_aware_batching"], false);
  json meta = Json(Call(*w, Request("GET", "/v2/models/kws_lstm")));
  EXPECT_EQ(meta["parameters"]["tail_aware_batching"], false);
  EXPECT_FALSE(meta["parameters"].contains("preferred_batch_sizes")) << meta.dump();
  json config = Json(Call(*w, Request("GET", "/v2/models/kws_lstm/config")));
  EXPECT_FALSE(config["dynamic_batching"].contains("preferred_batch_size")) << config.dump();
}

// Asked for on the CPU with a stepped table (waves of 4 samples, 10 ms each): the sizes it
// closes at are in the metadata and in Triton's preferred_batch_size, and requests are served.
TEST(WorkerTest, TailAwareBatchingOnTheCpuWithAGivenTable) {
  WorkerOptions o;
  o.tail_aware_batching = "on";
  o.max_batch_size = 8;
  o.batch_latency_ms = {10, 10, 10, 10, 20, 20, 20, 20};
  auto w = MakeWorker(o);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->tail_aware());
  EXPECT_EQ(Json(Call(*w, Request("GET", "/v2")))["tail_aware_batching"], true);
  json meta = Json(Call(*w, Request("GET", "/v2/models/kws_lstm")));
  EXPECT_EQ(meta["parameters"]["tail_aware_batching"], true);
  // 5-7 start a second wave (4, 3.3 and 2.9 ms a sample against 2.5); 8 fills it.
  EXPECT_EQ(meta["parameters"]["preferred_batch_sizes"], json({1, 2, 3, 4, 8}));
  EXPECT_EQ(meta["parameters"]["batch_latency_ms"], json(o.batch_latency_ms));
  json config = Json(Call(*w, Request("GET", "/v2/models/kws_lstm/config")));
  EXPECT_EQ(config["dynamic_batching"]["preferred_batch_size"], json({1, 2, 3, 4, 8}));
  // A request of 6 samples is no preferred size, and runs whole (requests are never split).
  HttpResponse r = Call(*w, testing::InferRequest(kModel, KwsInput(6)));
  ASSERT_EQ(r.status, 200) << r.body;
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{6, 12}));
  EXPECT_EQ(msg->parameters.at("batch_size"), 6);
}

// Asked for without a table: each batch size's latency is measured on the model at load.
TEST(WorkerTest, TailAwareBatchingMeasuresEachBatchSizeAtLoad) {
  WorkerOptions o;
  o.tail_aware_batching = "on";
  o.max_batch_size = 4;
  auto w = MakeWorker(o);
  ASSERT_NE(w, nullptr);
  json p = Json(Call(*w, Request("GET", "/v2/models/kws_lstm")))["parameters"];
  ASSERT_EQ(p["batch_latency_ms"].size(), 4u) << p.dump();
  for (const json& ms : p["batch_latency_ms"]) EXPECT_GT(ms.get<double>(), 0);
  ASSERT_FALSE(p["preferred_batch_sizes"].empty());
  EXPECT_EQ(p["preferred_batch_sizes"][0], 1);
}

TEST(WorkerTest, TailAwareBatchingOptionsAreChecked) {
  WorkerOptions o;
  o.device = "cpu";
  o.tail_aware_batching = "always";
  Result<std::unique_ptr<Worker>> r = Worker::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(
      r.status().message().find("unknown tail-aware batching mode 'always' (valid: auto, on, off"),
      std::string::npos)
      << r.status().message();
  o.tail_aware_batching = "on";
  o.batch_latency_ms = {1, 2, 3};  // max_batch_size is 8
  r = Worker::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "batch_latency_ms has 3 entries; it needs one per batch size 1..8");
  o.batch_latency_ms = {1, 2, 3, 4, 5, 6, 7, -8};
  EXPECT_EQ(Worker::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.batch_latency_ms.clear();
  o.tail_tolerance = -0.1;
  r = Worker::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tail_tolerance must be in [0, 1]"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
