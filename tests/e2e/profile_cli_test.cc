// End-to-end: `autoscale models` and `autoscale profile` on the zoo and on users' TorchScript
// files (torchvision's networks scripted at test time; skipped without python3-torchvision), and
// the simulator on the profile it writes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "e2e/cli_util.h"
#include "env/profiles.h"
#include "test_util.h"

namespace autoscale {
namespace {

TEST(ModelsCli, ListsTheZooAndOneModelsLayers) {
  CliRun r = Cli("models");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resnet50"), std::string::npos);
  EXPECT_NE(r.output.find("4089.18"), std::string::npos) << "ResNet-50 MACs (M)";
  r = Cli("models --layers mobilenet_v2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("112x112"), std::string::npos);
  r = Cli("models --layers resnet51");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("did you mean 'resnet50'"), std::string::npos) << r.output;
  EXPECT_EQ(Cli("models --bogus").code, 2);
}

// The JSON of `autoscale models` (stdout only: stderr may carry libtorch's warnings).
nlohmann::json ModelsJson(const std::string& args, int* code) {
  CliRun r =
      Shell("(" + std::string(AUTOSCALE_BINARY) + " models --json " + args + " 2>/dev/null)");
  *code = r.code;
  auto j = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

const nlohmann::json* Entry(const nlohmann::json& all, const std::string& name) {
  for (const auto& e : all) {
    if (e["name"] == name) return &e;
  }
  return nullptr;
}

TEST(ModelsCli, JsonDescribesTheZoo) {
  int code = 0;
  const nlohmann::json all = ModelsJson("", &code);
  ASSERT_EQ(code, 0);
  ASSERT_TRUE(all.is_array());
  const nlohmann::json* r50 = Entry(all, "resnet50");
  ASSERT_NE(r50, nullptr) << all.dump();
  EXPECT_EQ((*r50)["source"], "zoo");
  EXPECT_EQ((*r50)["conv_layers"], 53);
  EXPECT_EQ((*r50)["fc_layers"], 1);
  EXPECT_NEAR((*r50)["macs"].get<double>(), 4089.18e6, 0.01e6);
  EXPECT_EQ((*r50)["complete"], true);
  EXPECT_EQ((*r50)["input_shape"], nlohmann::json({3, 224, 224}));
  const nlohmann::json* kws = Entry(all, "kws_lstm");
  ASSERT_NE(kws, nullptr);
  EXPECT_EQ((*kws)["recurrent_layers"], 1);
  EXPECT_GT((*kws)["recurrent_macs"].get<double>(), 0);
  for (const char* key :
       {"fc_macs", "params", "activation_elements", "peak_activation_elements", "uncounted"}) {
    EXPECT_TRUE(kws->contains(key)) << key;
  }
}

#if AUTOSCALE_HAVE_TORCH
const std::vector<std::string> kTorchvision = {
    "mobilenet_v2", "resnet18", "resnet50",           "squeezenet1_1",
    "googlenet",    "vgg16",    "mobilenet_v3_small", "shufflenet_v2_x1_0"};

// torchvision's eight as users bring them: counts exact, MACs and parameters within 1% of
// torch's own (forward hooks in scripts/torchvision_models.py: a convolution's output elements x
// kernel area x in/groups, a linear layer's in x out; sum of parameters' numel). Four are named
// like zoo models and are described as the user's files.
TEST(ModelsCli, DescribesTorchvisionNetworksAsTorchCountsThem) {
  const std::string dir = testing::TorchvisionModels(kTorchvision);
  if (dir.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  int code = 0;
  const nlohmann::json all = ModelsJson("--model-dir " + dir, &code);
  ASSERT_EQ(code, 0) << all.dump(1);
  for (const std::string& name : kTorchvision) {
    SCOPED_TRACE(name);
    const nlohmann::json* e = Entry(all, name);
    ASSERT_NE(e, nullptr);
    std::ifstream in(dir + "/" + name + ".counts.json");
    const nlohmann::json want = nlohmann::json::parse(in);
    EXPECT_EQ((*e)["source"], "torchscript");
    EXPECT_EQ((*e)["file"], dir + "/" + name + ".pt");
    EXPECT_EQ((*e)["complete"], true);
    EXPECT_EQ((*e)["graph"], true);
    EXPECT_TRUE((*e)["uncounted"].empty());
    EXPECT_EQ((*e)["input_shape"], nlohmann::json({3, 224, 224}));
    EXPECT_EQ((*e)["conv_layers"], want["conv_layers"]);
    EXPECT_EQ((*e)["fc_layers"], want["fc_layers"]);
    EXPECT_EQ((*e)["recurrent_layers"], 0);
    const double macs = want["macs"].get<double>(), params = want["params"].get<double>();
    EXPECT_NEAR((*e)["macs"].get<double>(), macs, 0.01 * macs);
    EXPECT_NEAR((*e)["params"].get<double>(), params, 0.01 * params);
    EXPECT_GT((*e)["activation_elements"].get<double>(), 0);
    std::cerr << name << ": conv " << (*e)["conv_layers"] << " fc " << (*e)["fc_layers"] << " macs "
              << (*e)["macs"] << " (torch " << want["macs"] << ") params " << (*e)["params"]
              << " (torch " << want["params"] << ")\n";
  }
  // One of them layer by layer, as a table and as JSON.
  CliRun r = Cli("models --model-dir " + dir + " --layers resnet18");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resnet18 (torchscript " + dir + "/resnet18.pt): "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("112x112"), std::string::npos);
  int layers_code = 0;
  const nlohmann::json sq =
      ModelsJson("--model-dir " + dir + " --layers squeezenet1_1", &layers_code);
  ASSERT_EQ(layers_code, 0);
  ASSERT_TRUE(sq["layers"].is_array());
  EXPECT_EQ(sq["layers"].size(), sq["ops"].get<size_t>());
  int convs = 0;
  for (const auto& l : sq["layers"]) convs += l["type"] == "conv";
  EXPECT_EQ(convs, 26);
}

const char* kGeluNet = R"(
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 8, 3)
        self.fc = torch.nn.Linear(8, 4)
    def forward(self, x):
        x = torch.nn.functional.gelu(self.conv(x))
        x = self.conv2(x).mean([2, 3])
        return self.fc(x)
model = Net()
shape = (3, 16, 16)
)";

// An op the import cannot map: the model is listed as incomplete, its figures null (never a
// silently low count), the uncounted operations named and the counted part kept apart.
TEST(ModelsCli, APartialImportHasNullFiguresAndNamesWhatItDidNotCount) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string dir = testing::TempDir("models_partial");
  ASSERT_TRUE(testing::ScriptModule(dir, "gelu_net", kGeluNet));
  int code = 0;
  const nlohmann::json all = ModelsJson("--model-dir " + dir, &code);
  ASSERT_EQ(code, 0);
  const nlohmann::json* e = Entry(all, "gelu_net");
  ASSERT_NE(e, nullptr) << all.dump(1);
  EXPECT_EQ((*e)["complete"], false);
  EXPECT_EQ((*e)["graph"], false);
  EXPECT_TRUE((*e)["macs"].is_null());
  EXPECT_TRUE((*e)["conv_layers"].is_null());
  EXPECT_TRUE((*e)["params"].is_null());
  EXPECT_EQ((*e)["counted"]["conv_layers"], 1);
  EXPECT_GT((*e)["counted"]["macs"].get<double>(), 0);
  const std::string uncounted = (*e)["uncounted"].dump();
  EXPECT_NE(uncounted.find("aten::gelu"), std::string::npos) << uncounted;
  EXPECT_NE(uncounted.find("aten::linear"), std::string::npos) << uncounted;
  CliRun r = Cli("models --model-dir " + dir);
  EXPECT_NE(r.output.find("gelu_net*"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("incomplete import"), std::string::npos) << r.output;
  r = Cli("models --model-dir " + dir + " --layers gelu_net");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("totals are lower bounds"), std::string::npos) << r.output;
}

// Every error names the file (or folder) at fault; the good models are still listed.
TEST(ModelsCli, ErrorsNameTheFile) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string dir = testing::TempDir("models_bad");
  ASSERT_TRUE(testing::ScriptModule(dir, "good", R"(
model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 6 * 6, 2))
shape = (3, 8, 8)
)"));
  std::filesystem::copy_file(dir + "/good.pt", dir + "/badyaml.pt");
  testing::WriteFile(dir + "/badyaml.yaml", "input_shape: [3, eight, 8]\n");
  testing::WriteFile(dir + "/junk.pt", "not a TorchScript archive");
  testing::WriteFile(dir + "/junk.yaml", "input_shape: [3, 8, 8]\n");
  std::filesystem::copy_file(dir + "/good.pt", dir + "/nosidecar.pt");
  CliRun r = Cli("models --model-dir " + dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(dir + "/badyaml.yaml"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/junk.pt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/nosidecar.yaml"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("good "), std::string::npos) << "the good one is listed:\n" << r.output;
  r = Cli("models --model-dir " + dir + " --layers junk");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(dir + "/junk.pt"), std::string::npos) << r.output;
  r = Cli("models --model-dir " + dir + "/absent --json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(dir + "/absent"), std::string::npos) << r.output;
  r = Cli("models --model-dir " + dir + " --layers nothere");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("no model 'nothere'"), std::string::npos) << r.output;
}
#endif

TEST(ProfileCli, RejectsBadArguments) {
  EXPECT_EQ(Cli("profile --repeats 0").code, 2);
  EXPECT_EQ(Cli("profile --cpus 3-1").code, 2);
  CliRun r = Cli("profile --targets gpu0 --out " + testing::TempDir("prof_bad"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("unknown local target 'gpu0'"), std::string::npos) << r.output;
  r = Cli("profile --models resnet5 --out " + testing::TempDir("prof_bad2"));
  EXPECT_NE(r.output.find("did you mean 'resnet50'"), std::string::npos) << r.output;
  EXPECT_EQ(Cli("profile --help").code, 0);
}

#if AUTOSCALE_HAVE_TORCH
TEST(ProfileCli, WritesAProfileTheSimulatorRuns) {
  const std::string dir = testing::TempDir("prof_cli");
  CliRun r =
      Cli("profile --targets cpu,dsp --models squeezenet_1_1,kws_lstm --warmup 0 "
          "--repeats 2 --name tiny --out " +
          dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[1/6] cpu squeezenet_1_1 fp32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(modelled)"), std::string::npos) << "the DSP stub says so";
  ASSERT_TRUE(std::filesystem::exists(dir + "/tiny.yaml"));
  const std::string yaml = Slurp(dir + "/tiny.yaml");
  EXPECT_NE(yaml.find("measured_ms:"), std::string::npos);
  EXPECT_NE(yaml.find("squeezenet_1_1: {fp32:"), std::string::npos);
  // Recognised as a device profile by its content, though not under devices/.
  r = Cli("check-config " + dir + "/tiny.yaml " + dir + "/experiment.yaml");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tiny.yaml (device profile)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("experiment.yaml (experiment)"), std::string::npos) << r.output;
  // A short version of the experiment it wrote.
  std::string text = Slurp(dir + "/experiment.yaml");
  text.replace(text.find("train_requests: 50000"), 21, "train_requests: 2000");
  text.replace(text.find("eval_requests: 5000"), 19, "eval_requests: 500");
  testing::WriteFile(dir + "/short.yaml", text);
  r = Cli("sim " + dir + "/short.yaml --quiet --out " + dir + "/sim --json " + dir + "/s.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("q_learning"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/s.json"));
}

// Runs `autoscale profile ARGS --out DIR --name NAME` and loads what it wrote, as sim would.
// Without the in-model probes (their 150 M weights take ~15 s) unless `probes`.
DeviceProfile ProfileAndLoad(const std::string& args, const std::string& dir, std::string* output,
                             bool probes = false) {
  CliRun r = Cli("profile " + args + " --warmup 1 --repeats 3 --name measured --out " + dir +
                 (probes ? "" : " --no-probes"));
  *output = r.output;
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(validated: loaded back)"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/measured.yaml.rejected"));
  auto d = LoadDeviceProfile(dir + "/measured.yaml");
  EXPECT_TRUE(d.ok()) << d.status().ToString() << "\n" << r.output;
  return d.ok() ? *d : DeviceProfile{};
}

// The issue's case: one user model named like a zoo model ('gmacs_per_s: expected a map of
// keys, got nothing' after measuring).
TEST(ProfileCli, OneUserModel) {
  const std::string models = testing::TorchvisionModels({"mobilenet_v3_small"});
  if (models.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  const std::string dir = testing::TempDir("prof_one_user");
  std::string out;
  const DeviceProfile d = ProfileAndLoad(
      "--targets cpu --model-dir " + models + " --models mobilenet_v3_small", dir, &out);
  const int t = d.FindTarget("cpu");
  ASSERT_GE(t, 0) << out;
  EXPECT_EQ(d.targets[t].measured_ms.count("mobilenet_v3_small"), 1u);
  EXPECT_GT(d.targets[t].gmacs_per_s[0][0], 0);
  EXPECT_NE(out.find("rates not fitted: cpu fp32: conv and fc (one rate for conv and fc: 1 model "
                     "cannot separate 2 classes)"),
            std::string::npos)
      << out;
  const std::string yaml = Slurp(dir + "/measured.yaml");
  EXPECT_NE(yaml.find("the user's TorchScript file " + models + "/mobilenet_v3_small.pt"),
            std::string::npos);
  // The experiment it writes simulates the user's models too, naming them (and the profile)
  // relative to itself, so that the folder can move.
  const std::string relative = std::filesystem::absolute(models)
                                   .lexically_normal()
                                   .lexically_relative(std::filesystem::absolute(dir))
                                   .string();
  const std::string experiment = Slurp(dir + "/experiment.yaml");
  EXPECT_NE(experiment.find("model_dir: " + relative + "\n"), std::string::npos) << experiment;
  EXPECT_NE(experiment.find("devices: [./measured.yaml]"), std::string::npos) << experiment;
  EXPECT_EQ(experiment.find(dir), std::string::npos) << experiment;
}

// User models only, and zoo + user models with the DSP stub.
TEST(ProfileCli, UserModelsOnlyAndZooWithUser) {
  const std::string models = testing::TorchvisionModels({"squeezenet1_1", "shufflenet_v2_x1_0"});
  if (models.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  std::string out;
  DeviceProfile d = ProfileAndLoad(
      "--targets cpu --model-dir " + models + " --models squeezenet1_1,shufflenet_v2_x1_0",
      testing::TempDir("prof_users"), &out);
  ASSERT_GE(d.FindTarget("cpu"), 0) << out;
  EXPECT_EQ(d.targets[d.FindTarget("cpu")].measured_ms.size(), 2u);
  d = ProfileAndLoad(
      "--targets cpu,dsp --model-dir " + models + " --models squeezenet_1_1,kws_lstm,squeezenet1_1",
      testing::TempDir("prof_zoo_user"), &out);
  ASSERT_GE(d.FindTarget("cpu"), 0) << out;
  EXPECT_EQ(d.targets[d.FindTarget("cpu")].measured_ms.size(), 3u);
  EXPECT_GE(d.FindTarget("dsp"), 0) << "copied from the reference";
}

// A model whose import is partial runs as TorchScript; with nothing countable measured the
// rates come from the reference, said so, and the profile is still valid.
TEST(ProfileCli, APartialImportAloneTakesTheReferenceRates) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string models = testing::TempDir("prof_partial_models");
  ASSERT_TRUE(testing::ScriptModule(models, "gelu_net", kGeluNet));
  const std::string dir = testing::TempDir("prof_partial");
  std::string out;
  const DeviceProfile d =
      ProfileAndLoad("--targets cpu --model-dir " + models + " --models gelu_net", dir, &out);
  ASSERT_GE(d.FindTarget("cpu"), 0) << out;
  EXPECT_NE(out.find("copied from configs/devices/sd845.yaml"), std::string::npos) << out;
  EXPECT_NE(out.find("gelu_net not fully imported"), std::string::npos) << out;
}

const char* kTinyNet = R"(
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 8, 3)
        self.fc = torch.nn.Linear(8, 4)
    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = torch.relu(self.conv2(x)).mean([2, 3])
        return self.fc(x)
model = Net()
shape = (3, 16, 16)
)";

// Issue 11, point 7: the profile holds a layer model per precision measured on the CPU, fitted
// on the measured model's in-model layer times and the in-model probes' (large fully connected
// layers, pooling, squeeze-and-excitation, ShuffleNet's unit, LSTM); `models --profile --json`
// predicts every model with a graph from it, one the profile did not measure included.
TEST(ProfileCli, LayerModelsPredictModelsTheProfileDidNotMeasure) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string models = testing::TempDir("prof_layer_models");
  ASSERT_TRUE(testing::ScriptModule(models, "tiny_net", kTinyNet));
  const std::string dir = testing::TempDir("prof_layer");
  std::string out;
  const DeviceProfile d = ProfileAndLoad(
      "--targets cpu --model-dir " + models + " --models tiny_net", dir, &out, /*probes=*/true);
  const int t = d.FindTarget("cpu");
  ASSERT_GE(t, 0) << out;
  for (Precision p : {Precision::kFp32, Precision::kInt8}) {
    const auto& fit = d.targets[t].layer_model[static_cast<int>(p)];
    ASSERT_NE(fit, nullptr) << PrecisionName(p) << "\n" << out;
    // conv+relu, conv+relu, mean, linear; then the probes' layers.
    size_t linear = 0, avg_pool = 0, global_pool = 0, mul = 0, shuffle = 0, lstm = 0;
    for (const LayerSample& s : fit->samples) {
      linear += s.layer.op == "linear";
      avg_pool += s.layer.op == "avg_pool";
      global_pool += s.layer.kind() == LayerKind::kGlobalPool;
      mul += s.layer.kind() == LayerKind::kMul;
      shuffle += s.layer.op == "channel_shuffle";
      lstm += s.layer.kind() == LayerKind::kLstm;
    }
    EXPECT_GE(linear, 8u) << "the model's and the probe chain's";
    EXPECT_GE(avg_pool, 3u);
    EXPECT_GE(global_pool, 4u);
    EXPECT_GE(mul, 4u);
    EXPECT_GE(shuffle, 4u);
    EXPECT_GE(lstm, 6u);
  }
  EXPECT_NE(out.find("layer model: cpu fp32 fitted on"), std::string::npos) << out;
  EXPECT_NE(out.find("layers of 1 models and "), std::string::npos) << out;
  EXPECT_EQ(out.find("layers of 1 models and 0 probes"), std::string::npos) << out;
  const std::string yaml = Slurp(dir + "/measured.yaml");
  EXPECT_NE(yaml.find("\nlayer_models:\n  cpu:\n    fp32:\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("in-model layer times of 1 models and "), std::string::npos);
  EXPECT_NE(yaml.find(" probes, measured by autoscale profile"), std::string::npos);
  // --no-probes: the model's layers alone.
  const DeviceProfile bare = ProfileAndLoad(
      "--targets cpu --model-dir " + models + " --models tiny_net", dir + "_bare", &out);
  ASSERT_GE(bare.FindTarget("cpu"), 0) << out;
  const auto& bare_fit = bare.targets[bare.FindTarget("cpu")].layer_model[0];
  ASSERT_NE(bare_fit, nullptr) << out;
  EXPECT_EQ(bare_fit->samples.size(), 5u) << "conv+relu, conv+relu, mean, flatten?, linear";
  EXPECT_NE(out.find("layers of 1 models and 0 probes"), std::string::npos) << out;

  int code = 0;
  const nlohmann::json all =
      ModelsJson("--model-dir " + models + " --profile " + dir + "/measured.yaml", &code);
  ASSERT_EQ(code, 0);
  for (const char* name : {"tiny_net", "mobilenet_v2"}) {  // measured, and not measured
    const nlohmann::json* e = Entry(all, name);
    ASSERT_NE(e, nullptr) << name;
    ASSERT_TRUE(e->contains("predicted_ms")) << e->dump();
    for (const char* p : {"fp32", "int8"}) {
      ASSERT_TRUE((*e)["predicted_ms"]["cpu"][p].is_number()) << e->dump();
      EXPECT_GT((*e)["predicted_ms"]["cpu"][p].get<double>(), 0) << name << " " << p;
    }
  }
  // Without --profile there is no prediction.
  const nlohmann::json plain = ModelsJson("--model-dir " + models, &code);
  ASSERT_NE(Entry(plain, "tiny_net"), nullptr);
  EXPECT_FALSE(Entry(plain, "tiny_net")->contains("predicted_ms"));
}

// One zoo model on every local target built in (the OpenCL one where a device is present).
TEST(ProfileCli, OneZooModelOnEveryTarget) {
  std::string out;
  const DeviceProfile d =
      ProfileAndLoad("--models squeezenet_1_1", testing::TempDir("prof_one_zoo"), &out);
  ASSERT_GE(d.FindTarget("cpu"), 0) << out;
}
#else
TEST(ProfileCli, SaysWhatABuildWithoutTorchLacks) {
  CliRun r = Cli("profile --targets cpu --out " + testing::TempDir("prof_notorch"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("-DAUTOSCALE_WITH_TORCH=ON"), std::string::npos) << r.output;
}
#endif

}  // namespace
}  // namespace autoscale
