// `autoscale pipeline`: the split predicted on a device profile's processors (any build) and
// the split chosen and measured on this machine's cores (with libtorch).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "e2e/cli_util.h"
#include "test_util.h"

namespace autoscale {
namespace {

nlohmann::json ParseOrFail(const CliRun& r) {
  EXPECT_EQ(r.code, 0) << r.output;
  // The JSON is the output's last object; anything before it is a progress note on stderr.
  const size_t at = r.output.find("{\n");
  EXPECT_NE(at, std::string::npos) << r.output;
  return at == std::string::npos ? nlohmann::json() : nlohmann::json::parse(r.output.substr(at));
}

TEST(PipelineCli, PredictsABigLittleSplitFromADeviceProfile) {
  const std::string profile = testing::ConfigRoot() + "/devices/sd845.yaml";
  const nlohmann::json j = ParseOrFail(Cli("pipeline mobilenet_v2 --json --profile " + profile));
  ASSERT_EQ(j["stages"].size(), 2u) << j.dump();
  EXPECT_EQ(j["stages"][0]["target"], "cpu_big");
  EXPECT_EQ(j["stages"][1]["target"], "cpu_little");
  EXPECT_EQ(j["stages"][0]["first_layer"], 0);
  EXPECT_EQ(j["stages"][1]["first_layer"].get<int>(), j["stages"][0]["last_layer"].get<int>() + 1);
  // Pipe-it's claim in the model: both clusters together outrun the big one alone.
  EXPECT_GT(j["predicted_per_s"].get<double>(), j["best_single_target_per_s"].get<double>());
  EXPECT_GT(j["predicted_latency_ms"].get<double>(), 1e3 / j["predicted_per_s"].get<double>());

  CliRun text = Cli("pipeline resnet18 --profile " + profile + " --stage-targets cpu_big,gpu");
  EXPECT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("cpu_big"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("requests/s"), std::string::npos) << text.output;
}

TEST(PipelineCli, BadStagesAndOptionsAreClearErrors) {
  const std::string profile = testing::ConfigRoot() + "/devices/sd845.yaml";
  CliRun remote = Cli("pipeline resnet18 --profile " + profile + " --stage-targets cpu_big,cloud");
  EXPECT_EQ(remote.code, 1);
  EXPECT_NE(remote.output.find("'cloud' of device 'sd845' is remote"), std::string::npos)
      << remote.output;
  CliRun unknown = Cli("pipeline resnet18 --profile " + profile + " --stage-targets cpu_bigg");
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.output.find("no target 'cpu_bigg'"), std::string::npos) << unknown.output;
  CliRun no_profile = Cli("pipeline resnet18 --stage-targets cpu_big");
  EXPECT_EQ(no_profile.code, 1);
  EXPECT_NE(no_profile.output.find("needs --profile"), std::string::npos) << no_profile.output;
  CliRun no_model = Cli("pipeline no_such_model --profile " + profile);
  EXPECT_EQ(no_model.code, 1);
  EXPECT_NE(no_model.output.find("no_such_model"), std::string::npos) << no_model.output;
}

#if AUTOSCALE_HAVE_TORCH
TEST(PipelineCli, SplitsAndMeasuresOnThisMachine) {
  const nlohmann::json j = ParseOrFail(Cli("pipeline squeezenet_1_1 --json --runs 2 --measure 6"));
  ASSERT_GE(j["stages"].size(), 1u) << j.dump();
  EXPECT_EQ(j["stages"][0]["first_node"], 0);
  EXPECT_GT(j["predicted_per_s"].get<double>(), 0);
  EXPECT_GT(j["measured_per_s"].get<double>(), 0);
  EXPECT_GT(j["intra_op_per_s"].get<double>(), 0);
  CliRun bad = Cli("pipeline squeezenet_1_1 --stage 1000");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("CPU 1000 is not one this process may use"), std::string::npos)
      << bad.output;
}
#else
TEST(PipelineCli, WithoutLibtorchSaysWhatWouldWork) {
  CliRun r = Cli("pipeline squeezenet_1_1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--profile"), std::string::npos) << r.output;
}
#endif

}  // namespace
}  // namespace autoscale
