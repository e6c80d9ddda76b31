// The TorchScript import against networks nobody on the team wrote: torchvision's eight
// classification networks, scripted at test time by Debian's python3-torchvision
// (scripts/torchvision_models.py; seeded weights, nothing downloaded), and small modules scripted
// inline for the cases torchvision lacks (an LSTM, an op with no graph op, a bad file). Each
// imported graph must count what torch counts and compute what torch computes. Skips where
// python3-torchvision is absent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "targets/cpu/torch_model.h"
#include "test_util.h"
#include "zoo/torchscript/torchscript_import.h"

namespace autoscale {
namespace {

const std::vector<std::string> kTorchvision = {
    "mobilenet_v2", "resnet18",  "resnet50",           "squeezenet1_1",
    "googlenet",    "vgg16",     "mobilenet_v3_small", "shufflenet_v2_x1_0"};

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::abs(static_cast<double>(x)));
  return m;
}

// Runs `graph` with the CPU target's FP32 executor on one input.
std::vector<float> RunGraph(const WeightedGraph& graph, const std::vector<float>& input) {
  TorchGraph model(graph);
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), graph.graph.input_shape().begin(), graph.graph.input_shape().end());
  torch::Tensor y = model.Forward(torch::from_blob(const_cast<float*>(input.data()), shape))
                        .contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

class TorchvisionImport : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionImport, CountsAndComputesWhatTorchDoes) {
  const std::string name = GetParam();
  const std::string dir = testing::TorchvisionModels({name});
  if (dir.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  auto m = ImportTorchScriptFile(name, dir + "/" + name + ".pt", {3, 224, 224});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::string unmapped;
  for (const auto& u : m->unmapped) unmapped += u + "\n";
  ASSERT_TRUE(m->graph != nullptr) << "not imported whole:\n" << unmapped;
  EXPECT_TRUE(m->unmapped.empty());
  EXPECT_FALSE(m->graph->graph.seeded_weights());

  // Torch's own figures (forward hooks in the script).
  std::ifstream in(dir + "/" + name + ".counts.json");
  const nlohmann::json want = nlohmann::json::parse(in);
  const ModelFeatures& f = m->features;
  EXPECT_TRUE(f.complete);
  EXPECT_EQ(f.conv_layers, want["conv_layers"].get<int>());
  EXPECT_EQ(f.fc_layers, want["fc_layers"].get<int>());
  EXPECT_EQ(f.recurrent_layers, want["recurrent_layers"].get<int>());
  const double macs = want["macs"].get<double>(), params = want["params"].get<double>();
  EXPECT_NEAR(static_cast<double>(f.macs), macs, 0.01 * macs);
  EXPECT_NEAR(static_cast<double>(f.params), params, 0.01 * params);

  // The graph computes torch's output, as imported and with batch-norm folded.
  const std::vector<float> x = testing::ReadFloats(dir + "/" + name + ".input.f32");
  const std::vector<float> y = testing::ReadFloats(dir + "/" + name + ".output.f32");
  ASSERT_EQ(x.size(), 3u * 224 * 224);
  const double scale = MaxAbs(y);
  ASSERT_GT(scale, 1e-3) << "torch's logits are degenerate";
  double err_raw = 0, err_folded = 0;
  const std::vector<float> raw = RunGraph(*m->graph, x);
  const std::vector<float> folded = RunGraph(FoldBatchNorm(*m->graph), x);
  ASSERT_EQ(raw.size(), y.size());
  ASSERT_EQ(folded.size(), y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    err_raw = std::max(err_raw, std::abs(static_cast<double>(raw[i]) - y[i]));
    err_folded = std::max(err_folded, std::abs(static_cast<double>(folded[i]) - y[i]));
  }
  EXPECT_LE(err_raw, 1e-4 * scale);
  EXPECT_LE(err_folded, 1e-4 * scale);
  std::printf(
      "[ import ] %-19s conv %3d fc %d  MACs %.4g (torch %.4g)  params %.4g (torch %.4g)  "
      "max|graph - torch| %.2g, folded %.2g (largest logit %.3g)\n",
      name.c_str(), f.conv_layers, f.fc_layers, static_cast<double>(f.macs), macs,
      static_cast<double>(f.params), params, err_raw, err_folded, scale);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionImport, ::testing::ValuesIn(kTorchvision),
                         [](const auto& info) { return info.param; });


TEST(TorchScriptImport, ImportsAnLstmReadAtItsLastStep) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string dir = testing::TempDir("import_lstm");
  ASSERT_TRUE(testing::ScriptModule(dir, "kws", R"(
class Kws(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(10, 32, batch_first=True)
        self.fc = torch.nn.Linear(32, 12)
    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])
model = Kws()
shape = (25, 10)
)"));
  auto m = ImportTorchScriptFile("kws", dir + "/kws.pt", {25, 10});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::string unmapped;
  for (const auto& u : m->unmapped) unmapped += u + "\n";
  ASSERT_TRUE(m->graph != nullptr) << unmapped;
  EXPECT_EQ(m->features.recurrent_layers, 1);
  EXPECT_EQ(m->features.fc_layers, 1);
  const std::vector<float> y = testing::ReadFloats(dir + "/kws.output.f32");
  const std::vector<float> got = RunGraph(*m->graph, testing::ReadFloats(dir + "/kws.input.f32"));
  ASSERT_EQ(got.size(), y.size());
  double err = 0;
  for (size_t i = 0; i < y.size(); ++i) err = std::max(err, std::abs(double(got[i]) - y[i]));
  EXPECT_LE(err, 1e-4 * MaxAbs(y));
}

TEST(TorchScriptImport, AnOpWithNoGraphOpIsListedAndNothingIsMiscounted) {
  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string dir = testing::TempDir("import_unmapped");
  ASSERT_TRUE(testing::ScriptModule(dir, "gelu", R"(
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
)"));
  auto m = ImportTorchScriptFile("gelu", dir + "/gelu.pt", {3, 16, 16});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->graph, nullptr) << "a graph without gelu would compute something else";
  ASSERT_EQ(m->unmapped.size(), 1u);
  EXPECT_NE(m->unmapped[0].find("aten::gelu"), std::string::npos) << m->unmapped[0];
  EXPECT_FALSE(m->features.complete);
  // The layers after gelu could not be counted: the features say so rather than leave them out.
  std::string uncounted;
  for (const auto& u : m->features.uncounted) uncounted += u + "\n";
  EXPECT_NE(uncounted.find("aten::conv2d"), std::string::npos) << uncounted;
  EXPECT_NE(uncounted.find("aten::linear"), std::string::npos) << uncounted;
  EXPECT_EQ(m->features.conv_layers, 1) << "only the convolution before gelu is counted";
}

TEST(TorchScriptImport, BadFilesAndShapesAreErrorsNamingTheFile) {
  const std::string dir = testing::TempDir("import_bad");
  const std::string junk = testing::WriteFile(dir + "/junk.pt", "not a zip archive");
  auto m = ImportTorchScriptFile("junk", junk, {3, 8, 8});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find(junk), std::string::npos) << m.status().ToString();
  auto missing = ImportTorchScriptFile("none", dir + "/none.pt", {3, 8, 8});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.pt"), std::string::npos);

  if (!testing::HaveTorchvision()) GTEST_SKIP() << "python3-torch is not installed";
  ASSERT_TRUE(testing::ScriptModule(dir, "fc", R"(
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4))
shape = (3, 4, 4)
)"));
  // A declared input shape the network cannot take: an error, not a graph of the wrong size.
  auto wrong = ImportTorchScriptFile("fc", dir + "/fc.pt", {3, 8, 8});
  if (wrong.ok()) {
    EXPECT_EQ(wrong->graph, nullptr);
    EXPECT_FALSE(wrong->unmapped.empty());
  } else {
    EXPECT_NE(wrong.status().message().find("fc.pt"), std::string::npos)
        << wrong.status().ToString();
  }
  auto right = ImportTorchScriptFile("fc", dir + "/fc.pt", {3, 4, 4});
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_NE(right->graph, nullptr);
}

}  // namespace
}  // namespace autoscale
