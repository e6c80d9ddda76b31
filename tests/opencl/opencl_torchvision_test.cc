// torchvision's networks (issue 11) on the OpenCL target, against torch: scripts/
// torchvision_models.py scripts each with seeded weights and saves torch's output for a seeded
// input; the installed TorchScript importer (zoo/model_import.h) brings it into the graph IR
// with its weights; the OpenCL target runs it. Tolerance as in opencl_target_test.cc: max |diff|
// <= 1e-4 * max |torch| + 1e-5.
//
// Skips cleanly without an OpenCL device, without an installed importer (a binary that links
// zoo/torchscript calls InstallTorchScriptImporter() first; this suite then runs), or without
// Debian's python3-torchvision. Set AUTOSCALE_TORCHVISION_DIR to a folder the script already
// filled to skip the scripting (about 30 s for all eight).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "targets/opencl/opencl_target.h"
#include "zoo/model_import.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

const char* const kModels[] = {"mobilenet_v2",       "resnet18",          "resnet50",
                               "squeezenet1_1",      "googlenet",         "vgg16",
                               "mobilenet_v3_small", "shufflenet_v2_x1_0"};

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  std::vector<float> v(bytes.size() / sizeof(float));
  std::copy_n(bytes.data(), v.size() * sizeof(float), reinterpret_cast<char*>(v.data()));
  return v;
}

// The folder of scripted models, made once per process; empty (and `why` set) when impossible.
std::string ModelDir(std::string* why) {
  if (const char* dir = std::getenv("AUTOSCALE_TORCHVISION_DIR")) return dir;
  static const std::string dir = [] {
    const char* tmp = std::getenv("AUTOSCALE_TEST_TMP");
    const fs::path d =
        fs::path(tmp != nullptr ? tmp : fs::temp_directory_path().string()) / "opencl_torchvision";
    if (fs::exists(d / (std::string(kModels[7]) + ".output.f32"))) return d.string();
    if (std::system("/usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1") != 0) {
      return std::string();
    }
    const std::string cmd = std::string("/usr/bin/python3 ") + AUTOSCALE_SOURCE_DIR +
                            "/scripts/torchvision_models.py " + d.string() + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 ? d.string() : std::string();
  }();
  if (dir.empty()) *why = "python3-torchvision is not installed (or scripting failed)";
  return dir;
}

class OpenClTorchvision : public ::testing::TestWithParam<const char*> {};

TEST_P(OpenClTorchvision, MatchesTorch) {
  static OpenClTarget* target = OpenClTarget::Create(OpenClOptions{}).release();
  if (!target->available()) {
    GTEST_SKIP() << "no OpenCL device: " << target->description().unavailable_reason;
  }
  if (!HaveTorchScriptImporter()) GTEST_SKIP() << "this binary installs no TorchScript importer";
  std::string why;
  const std::string dir = ModelDir(&why);
  if (dir.empty()) GTEST_SKIP() << why;
  const std::string name = GetParam();
  const std::string base = dir + "/" + name;
  Result<ImportedModel> im = ImportTorchScript(name, base + ".pt", {3, 224, 224});
  ASSERT_TRUE(im.ok()) << im.status().ToString();
  ModelSpec m;
  m.name = name;
  m.torchscript_path = base + ".pt";
  m.input_shape = {3, 224, 224};
  m.graph = im->graph;
  m.unmapped = im->unmapped;
  ASSERT_TRUE(m.is_graph()) << target->Supports(m, Precision::kFp32).ToString();
  const HostTensor in{{1, 3, 224, 224}, ReadFloats(base + ".input.f32")};
  const std::vector<float> want = ReadFloats(base + ".output.f32");
  ASSERT_EQ(in.data.size(), 3u * 224 * 224) << base << ".input.f32";
  const auto t0 = std::chrono::steady_clock::now();
  Result<InferenceResult> r = target->Run(m, Precision::kFp32, 0, in);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->output.data.size(), want.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(r->output.data[i]) - want[i]));
    ref = std::max(ref, std::fabs(static_cast<double>(want[i])));
  }
  EXPECT_LE(diff, 1e-4 * ref + 1e-5) << name << ": max |diff| " << diff << ", max |torch| " << ref;
  std::printf(
      "[ numerics ] %-20s max |diff| %.3g, max |torch| %.3g (%.2g relative); opencl %.0f "
      "ms (incl. prepare)\n",
      name.c_str(), diff, ref, diff / std::max(ref, 1e-30),
      std::chrono::duration<double, std::milli>(t1 - t0).count());
}

INSTANTIATE_TEST_SUITE_P(Models, OpenClTorchvision, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace autoscale
