// Worker inference against the libtorch reference (STYLE.md 8): a zoo model's outputs equal a
// bare TorchGraph forward on the same input, channels-last as the worker runs it on the CPU
// (bit-exact alone, within 1e-5 relative in a batch and against the NCHW pass),
// UINT8 images are normalised as documented, concurrent requests form batches, and TorchScript
// models are served from a model folder.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "targets/cpu/torch_model.h"
#include "targets/model_store.h"
#include "targets/worker/executor.h"
#include "targets/worker/worker.h"
#include "test_util.h"
#include "worker_test_util.h"

namespace autoscale {
namespace {

using testing::Call;

constexpr char kModel[] = "mobilenet_v2";

std::shared_ptr<const ModelSpec> Zoo(const std::string& name) {
  static ModelStore* store = new ModelStore();
  auto spec = store->Get(name);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

// The reference: a bare TorchGraph forward with one intra-op thread, channels-last as the worker
// is set up (or NCHW, the layout the CPU target uses).
torch::Tensor Reference(const ModelSpec& spec, const torch::Tensor& input,
                        bool channels_last = true) {
  static std::map<std::pair<std::string, bool>, std::unique_ptr<TorchGraph>>* graphs =
      new std::map<std::pair<std::string, bool>, std::unique_ptr<TorchGraph>>();
  auto& g = (*graphs)[{spec.name, channels_last}];
  if (!g) {
    g = std::make_unique<TorchGraph>(*spec.graph);
    if (channels_last) g->UseChannelsLast();
  }
  at::set_num_threads(1);
  return g->Forward(input).contiguous();
}

// A worker on the CPU; it serves kModel unless told other models.
std::unique_ptr<Worker> MakeWorker(WorkerOptions o, int threads = 1) {
  if (o.models.empty() && o.model_dir.empty()) o.models = {kModel};
  o.device = "cpu";
  o.threads = threads;
  auto w = Worker::Create(o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : nullptr;
}

torch::Tensor OutputTensor(const WireTensor& t) {
  return torch::from_blob(const_cast<float*>(t.fp32.data()), t.shape, torch::kFloat32).clone();
}

void ExpectClose(const torch::Tensor& got, const torch::Tensor& want, double rel) {
  ASSERT_EQ(got.sizes(), want.sizes());
  const double err = (got - want).abs().max().item<double>();
  const double scale = want.abs().max().item<double>();
  EXPECT_LE(err, rel * std::max(1.0, scale)) << "max abs error " << err << ", scale " << scale;
}

TEST(WorkerInferTest, ZooModelEqualsTorchGraphJsonAndBinary) {
  auto spec = Zoo(kModel);
  WorkerOptions o;
  o.max_batch_size = 1;
  o.max_queue_delay_us = 0;
  auto w = MakeWorker(o);
  const HostTensor in = MakeHostInput(*spec, 11);
  const torch::Tensor want = Reference(*spec, WrapFloat(in.data.data(), in.shape));
  for (bool binary : {true, false}) {
    WireTensor t = testing::Fp32Input(in.shape, in.data, binary);
    HttpResponse r = Call(*w, testing::InferRequest(kModel, t, binary));
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    auto msg = testing::ParseResponse(r);
    ASSERT_TRUE(msg.ok()) << msg.status().ToString();
    ASSERT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{1, 1000}));
    EXPECT_EQ(msg->outputs[0].binary, binary);
    EXPECT_TRUE(torch::equal(OutputTensor(msg->outputs[0]), want)) << "binary " << binary;
    ExpectClose(OutputTensor(msg->outputs[0]),
                Reference(*spec, WrapFloat(in.data.data(), in.shape), /*channels_last=*/false),
                1e-5);
    EXPECT_EQ(msg->parameters.at("batch_size"), 1);
  }
  EXPECT_GT(CachedHostBytes(), 0u);  // the activations of those passes, kept for the next
}

TEST(WorkerInferTest, Uint8ImageIsNormalisedLikeImageNet) {
  auto spec = Zoo(kModel);
  auto w = MakeWorker({});
  WireTensor img;
  img.name = "input";
  img.type = TensorType::kUint8;
  img.shape = {1, 3, 224, 224};
  img.binary = true;
  for (int64_t i = 0; i < img.elements(); ++i)
    img.u8.push_back(static_cast<uint8_t>(i * 7919 % 256));
  HttpResponse r = Call(*w, testing::InferRequest(kModel, img, true));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();

  torch::Tensor x = torch::from_blob(img.u8.data(), img.shape, torch::kUInt8).to(torch::kFloat32);
  const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const torch::Tensor stdev = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  x = (x / 255.0f - mean) / stdev;
  ExpectClose(OutputTensor(msg->outputs[0]), Reference(*spec, x), 1e-5);
}

// With more than one thread, a batch is split by samples into one shard per thread (3 threads:
// shards of 2, 3 and 3); each request's rows must still be its own.
class BatchThreadsTest : public ::testing::TestWithParam<int> {};

TEST_P(BatchThreadsTest, ConcurrentRequestsFormBatchesEqualToSingleRuns) {
  const int intra_threads = GetParam();
  auto spec = Zoo(kModel);
  WorkerOptions o;
  o.models = {kModel};
  o.max_batch_size = 8;
  o.max_queue_delay_us = 2'000'000;  // generous: the batch fills long before
  auto w = MakeWorker(o, intra_threads);
  constexpr int kRequests = 8;
  std::vector<HostTensor> inputs;
  for (int i = 0; i < kRequests; ++i) inputs.push_back(MakeHostInput(*spec, 100 + i));
  std::vector<std::future<HttpResponse>> fs(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      fs[i] = testing::CallAsync(
          *w,
          testing::InferRequest(kModel, testing::Fp32Input(inputs[i].shape, inputs[i].data), true));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) {
    HttpResponse r = testing::Wait(fs[i]);
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    auto msg = testing::ParseResponse(r);
    ASSERT_TRUE(msg.ok()) << msg.status().ToString();
    EXPECT_EQ(msg->parameters.at("batch_size"), kRequests) << "request " << i;
    EXPECT_GT(msg->parameters.at("compute_ms"), 0);
    const torch::Tensor want = Reference(*spec, WrapFloat(inputs[i].data.data(), inputs[i].shape));
    ExpectClose(OutputTensor(msg->outputs[0]), want, 1e-5);
  }
  const std::string metrics = w->metrics().Render();
  EXPECT_NE(metrics.find("autoscale_worker_batch_size_bucket{model=\"mobilenet_v2\",le=\"4\"} 0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("autoscale_worker_batch_size_sum{model=\"mobilenet_v2\"} 8"),
            std::string::npos)
      << metrics;
}

INSTANTIATE_TEST_SUITE_P(WorkerInferTest, BatchThreadsTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::to_string(p.param) + "_threads";
                         });

void SaveScript(const std::string& dir, const std::string& name, const std::string& body,
                const std::string& yaml) {
  torch::jit::Module m("M");
  m.define(body);
  m.save(dir + "/" + name + ".pt");
  testing::WriteFile(dir + "/" + name + ".yaml", yaml);
}

TEST(WorkerInferTest, ServesTorchScriptFromTheModelFolder) {
  const std::string dir = testing::TempDir("worker_torchscript");
  SaveScript(dir, "affine", "def forward(self, x):\n  return x * 2.0 + 1.0\n",
             "input_shape: [4]\n");
  SaveScript(dir, "fixed", "def forward(self, x):\n  return x.view(1, 4) * 3.0\n",
             "input_shape: [4]\n");
  WorkerOptions o;
  o.model_dir = dir;
  o.max_queue_delay_us = 0;
  auto w = MakeWorker(o);

  HttpResponse r = Call(
      *w, testing::InferRequest("affine", testing::Fp32Input({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7})));
  ASSERT_EQ(r.status, 200) << r.body;
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(msg->outputs[0].fp32, (std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15}));
  HttpResponse meta = Call(*w, testing::Request("GET", "/v2/models/affine"));
  ASSERT_EQ(meta.status, 200);
  nlohmann::json j = nlohmann::json::parse(meta.body);
  EXPECT_EQ(j["parameters"]["source"], "torchscript");
  EXPECT_EQ(j["inputs"][0]["shape"], nlohmann::json::array({-1, 4}));
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json::array({-1, 4}));

  // A module with the batch fixed inside runs one sample per request.
  HttpResponse fixed_meta = Call(*w, testing::Request("GET", "/v2/models/fixed"));
  ASSERT_EQ(fixed_meta.status, 200) << fixed_meta.body;
  EXPECT_EQ(nlohmann::json::parse(fixed_meta.body)["parameters"]["max_batch_size"], 1);
  HttpResponse one =
      Call(*w, testing::InferRequest("fixed", testing::Fp32Input({4}, {1, 2, 3, 4})));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(testing::ParseResponse(one)->outputs[0].fp32, (std::vector<float>{3, 6, 9, 12}));
  HttpResponse two = Call(
      *w, testing::InferRequest("fixed", testing::Fp32Input({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})));
  EXPECT_EQ(two.status, 400) << two.body;
}

// A user's trained mobilenet_v2.pt is served as itself: before, the worker answered with the
// zoo's seeded graph of the same name (outputs differing from torch's by up to 1e9 relative) and
// its metadata said nothing.
TEST(WorkerInferTest, AUserFileNamedLikeAZooModelIsServedAsItself) {
  const std::string dir = testing::TempDir("worker_shadow");
  SaveScript(dir, "mobilenet_v2",
             "def forward(self, x):\n  return x.reshape(x.size(0), -1)[:, :10] * 2.0\n",
             "input_shape: [3, 224, 224]\n");
  WorkerOptions o;
  o.model_dir = dir;
  o.max_queue_delay_us = 0;
  auto w = MakeWorker(o);
  std::vector<float> image(3 * 224 * 224);
  for (size_t i = 0; i < image.size(); ++i) image[i] = 0.001f * static_cast<float>(i % 1000);
  HttpResponse r = Call(
      *w, testing::InferRequest("mobilenet_v2", testing::Fp32Input({1, 3, 224, 224}, image)));
  ASSERT_EQ(r.status, 200) << r.body;
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->outputs[0].shape, (std::vector<int64_t>{1, 10}));  // the zoo's gives [1, 1000]
  for (int i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(msg->outputs[0].fp32[i], 2 * image[i]);
  HttpResponse meta = Call(*w, testing::Request("GET", "/v2/models/mobilenet_v2"));
  ASSERT_EQ(meta.status, 200) << meta.body;
  EXPECT_EQ(nlohmann::json::parse(meta.body)["parameters"]["source"], "torchscript");
}

}  // namespace
}  // namespace autoscale
