// Real networks nobody on the team wrote: torchvision's, scripted to TorchScript at test time by
// Debian's python3-torchvision (scripts/torchvision_models.py; seeded weights, nothing
// downloaded). The worker serves each file as itself, named like the zoo's model or not, with
// outputs equal to torch's: each is imported into the graph IR with its real weights and run
// like a zoo graph. Skips where python3-torchvision is absent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "targets/worker/worker.h"
#include "test_util.h"
#include "worker_test_util.h"

namespace autoscale {
namespace {

// max |got - want|, and in *scale the largest |want| (what the error is relative to).
double MaxAbsDiff(const std::vector<float>& got, const std::vector<float>& want, double* scale) {
  double err = 0;
  *scale = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(got[i]) - want[i]));
    *scale = std::max(*scale, std::abs(static_cast<double>(want[i])));
  }
  return err;
}

// Serves NAME's INPUT on W and checks the answer against torch's WANT (max |difference| within
// 1e-4 of the largest logit) and that the metadata calls it the user's TorchScript model; the
// error, the scale and the metadata go to the caller.
void ExpectAnswersAsTorch(Worker& w, const std::string& name, const std::vector<float>& input,
                          const std::vector<float>& want, double* err, double* scale,
                          nlohmann::json* meta_json) {
  HttpResponse r = testing::Call(
      w, testing::InferRequest(name, testing::Fp32Input({1, 3, 224, 224}, input), true));
  ASSERT_EQ(r.status, 200) << r.body;
  auto msg = testing::ParseResponse(r);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  const std::vector<float>& got = msg->outputs[0].fp32;
  ASSERT_EQ(got.size(), want.size());
  *err = MaxAbsDiff(got, want, scale);
  EXPECT_LE(*err, 1e-4 * *scale + 1e-6) << "max |worker - torch| " << *err << ", scale " << *scale;
  HttpResponse meta = testing::Call(w, testing::Request("GET", "/v2/models/" + name));
  ASSERT_EQ(meta.status, 200) << meta.body;
  *meta_json = nlohmann::json::parse(meta.body);
  EXPECT_EQ((*meta_json)["parameters"]["source"], "torchscript");
}

// A CPU worker of one thread that batches nothing, over MODEL_DIR.
Result<std::unique_ptr<Worker>> CpuWorker(const std::string& model_dir) {
  WorkerOptions o;
  o.model_dir = model_dir;
  o.device = "cpu";
  o.threads = 1;
  o.max_queue_delay_us = 0;
  return Worker::Create(o);
}

TEST(WorkerTorchvision, ServesScriptedTorchvisionNetworksAsThemselves) {
  const std::vector<std::string> names = {"mobilenet_v2",  "resnet18",
                                          "resnet50",      "squeezenet1_1",
                                          "googlenet",     "vgg16",
                                          "mobilenet_v3_small", "shufflenet_v2_x1_0"};
  const std::string dir = testing::TorchvisionModels(names);
  if (dir.empty()) {
    GTEST_SKIP() << "python3-torchvision is not installed (scripts/install-deps.sh installs it)";
  }
  auto w = CpuWorker(dir);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const std::vector<float> input = testing::ReadFloats(dir + "/" + name + ".input.f32");
    const std::vector<float> want = testing::ReadFloats(dir + "/" + name + ".output.f32");
    ASSERT_EQ(input.size(), 3u * 224 * 224);
    ASSERT_EQ(want.size(), 1000u);
    double err = 0, scale = 0;
    nlohmann::json j;
    ASSERT_NO_FATAL_FAILURE(ExpectAnswersAsTorch(**w, name, input, want, &err, &scale, &j));
    // Imported into the graph IR (its real weights), not run as the zoo's graph of the name.
    EXPECT_EQ(j["parameters"]["runs_as"], "graph");
    std::printf("[ torchvision ] %s: max |worker - torch| = %.3g (largest logit %.3g)\n",
                name.c_str(), err, scale);
  }
}

// The same scripted networks laid out as a Triton model repository (NAME/config.pbtxt written
// as Triton's docs write it, NAME/1/model.pt and a newer NAME/2/model.pt) are served as
// themselves, the newest version, with outputs equal to torch's; a zoo name in that layout is
// the user's model too.
TEST(WorkerTorchvision, ServesATritonModelRepository) {
  const std::vector<std::string> names = {"resnet18", "mobilenet_v3_small"};
  const std::string flat = testing::TorchvisionModels(names);
  if (flat.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  namespace fs = std::filesystem;
  const fs::path repo = testing::TempDir("triton_repo");
  for (const auto& name : names) {
    fs::create_directories(repo / name / "1");
    fs::create_directories(repo / name / "2");
    fs::copy_file(fs::path(flat) / (name + ".pt"), repo / name / "2" / "model.pt");
    std::ofstream(repo / name / "1" / "model.pt") << "not a TorchScript file: version 1 is old";
    std::ofstream(repo / name / "config.pbtxt")
        << "name: \"" << name << "\"\nplatform: \"pytorch_libtorch\"\nmax_batch_size: 8\n"
        << "input [\n  {\n    name: \"INPUT__0\"\n    data_type: TYPE_FP32\n"
        << "    format: FORMAT_NCHW\n    dims: [ 3, 224, 224 ]\n  }\n]\n"
        << "output [\n  {\n    name: \"OUTPUT__0\"\n    data_type: TYPE_FP32\n"
        << "    dims: [ 1000 ]\n  }\n]\n"
        << "instance_group [ { kind: KIND_CPU } ]\n";
  }
  auto w = CpuWorker(repo.string());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const std::vector<float> input = testing::ReadFloats(flat + "/" + name + ".input.f32");
    const std::vector<float> want = testing::ReadFloats(flat + "/" + name + ".output.f32");
    double err = 0, scale = 0;
    nlohmann::json j;
    ASSERT_NO_FATAL_FAILURE(ExpectAnswersAsTorch(**w, name, input, want, &err, &scale, &j));
  }
  // The repository index lists them.
  HttpResponse index = testing::Call(**w, testing::Request("POST", "/v2/repository/index"));
  ASSERT_EQ(index.status, 200) << index.body;
  for (const auto& name : names) {
    EXPECT_NE(index.body.find("\"" + name + "\""), std::string::npos) << index.body;
  }
}

}  // namespace
}  // namespace autoscale
