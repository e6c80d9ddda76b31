// `autoscale waves`: the GPU tail-effect model from the command line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "e2e/cli_util.h"

namespace autoscale {
namespace {

TEST(WavesCli, HelpExplainsTheModel) {
  CliRun r = Cli("waves --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("Usage: autoscale waves"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("waves x the time of one full wave"), std::string::npos) << r.output;
}

TEST(WavesCli, OneLayerStepsWithBatchSize) {
  // ResNet-50's last 3x3 convolution on the V100 profile: 7 x 7 pixels per input in tiles of
  // 128, 512 channels in tiles of 32, 80 blocks per wave: a wave is added at batch 14.
  CliRun r = Cli("waves resnet50 --device cloud_gpu --batches 1-20 --layer conv166 --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json rows = nlohmann::json::parse(r.output);
  ASSERT_EQ(rows.size(), 20u);
  for (int b = 1; b <= 13; ++b) {
    EXPECT_EQ(rows[b - 1]["waves"], 1) << b;
    EXPECT_DOUBLE_EQ(rows[b - 1]["ms"].get<double>(), rows[0]["ms"].get<double>()) << b;
  }
  EXPECT_EQ(rows[13]["waves"], 2);
  EXPECT_DOUBLE_EQ(rows[13]["ms"].get<double>(), 2 * rows[0]["ms"].get<double>());
  EXPECT_EQ(rows[10]["blocks"], 80);
  EXPECT_DOUBLE_EQ(rows[10]["fill"].get<double>(), 1.0);
}

TEST(WavesCli, PerLayerListingAndItsErrors) {
  CliRun r = Cli("waves mobilenet_v2 --device sd845");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 units x 32 blocks = capacity 64, opencl tiling"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("convolutions by waves:"), std::string::npos) << r.output;
  CliRun no_waves = Cli("waves resnet50 --device sd810");
  EXPECT_EQ(no_waves.code, 1);
  EXPECT_NE(no_waves.output.find("keeps the MAC-rate formula"), std::string::npos)
      << no_waves.output;
  CliRun bad = Cli("waves resnet50 --batches 8-2");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("expected A-B"), std::string::npos) << bad.output;
  CliRun layer = Cli("waves resnet50 --batches 1-2 --layer nope");
  EXPECT_EQ(layer.code, 1);
  EXPECT_NE(layer.output.find("no layer 'nope'"), std::string::npos) << layer.output;
}

}  // namespace
}  // namespace autoscale
