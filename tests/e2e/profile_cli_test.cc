// End-to-end: `autoscale models` and `autoscale profile`, and the simulator on the profile it
// writes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "e2e/cli_util.h"
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
  r = Cli("check-config " + dir + "/tiny.yaml");
  EXPECT_NE(r.output.find("kind is unknown"), std::string::npos) << "not under devices/";
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
#else
TEST(ProfileCli, SaysWhatABuildWithoutTorchLacks) {
  CliRun r = Cli("profile --targets cpu --out " + testing::TempDir("prof_notorch"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("-DAUTOSCALE_WITH_TORCH=ON"), std::string::npos) << r.output;
}
#endif

}  // namespace
}  // namespace autoscale
