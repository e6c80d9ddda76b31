// `cmake --install` into a fresh prefix, then the installed programs run from elsewhere: they
// find the shipped configs beside themselves (PREFIX/share/autoscale/configs), never through the
// source tree, and a user's experiment in any folder names shipped scenarios and profiles.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "e2e/cli_util.h"
#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

TEST(Install, InstalledProgramsRunFromAnywhereOnTheirOwnConfigs) {
  const fs::path root = testing::TempDir("install");
  const fs::path prefix = root / "prefix", work = root / "elsewhere";
  fs::create_directories(work);
  CliRun install = Shell(std::string(AUTOSCALE_CMAKE_COMMAND) + " --install " +
                         AUTOSCALE_BUILD_DIR + " --prefix " + prefix.string());
  ASSERT_EQ(install.code, 0) << install.output;
  const fs::path bin = prefix / "bin" / "autoscale";
  const fs::path configs = prefix / "share" / "autoscale" / "configs";
  ASSERT_TRUE(fs::exists(bin)) << install.output;
  for (const char* f : {"experiments/default.yaml", "scenarios/standard.yaml",
                        "scenarios/traces/wifi_drop.csv", "devices/sd855.yaml",
                        "networks/wifi.yaml", "models/resnet50.yaml", "daemon/loopback.yaml"}) {
    EXPECT_TRUE(fs::is_regular_file(configs / f)) << f;  // copies, not links into the source
  }
  // No path of the source tree is compiled into the programs.
  for (const char* program : {"autoscale", "autoscaled", "autoscale-worker"}) {
    if (!fs::exists(prefix / "bin" / program)) continue;
    EXPECT_EQ(Slurp((prefix / "bin" / program).string()).find(AUTOSCALE_SOURCE_DIR),
              std::string::npos)
        << program;
    CliRun v = Shell((prefix / "bin" / program).string() + " --version");
    EXPECT_EQ(v.code, 0) << program << v.output;
    EXPECT_EQ(v.output.rfind(std::string(program) + " ", 0), 0u) << v.output;
  }

  const std::string run = "cd " + work.string() + " && env -u AUTOSCALE_CONFIG_DIR " + bin.string();
  CliRun help = Shell(run + " --help");
  EXPECT_NE(help.output.find("Shipped configs: " + configs.string()), std::string::npos)
      << help.output;
  // Every shipped file validates where it was installed (the default experiment loaded whole).
  CliRun check = Shell(run + " check-config");
  EXPECT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find(configs.string() + "/experiments/default.yaml"), std::string::npos)
      << check.output;
  EXPECT_NE(check.output.find(" 0 failed"), std::string::npos) << check.output;

  // A user's experiment in its own folder, naming shipped scenarios, devices, networks and
  // models, and a device of its own beside it.
  fs::create_directories(work / "devices");
  fs::copy_file(configs / "devices" / "sd855.yaml", work / "devices" / "sd855.yaml");
  testing::WriteFile((work / "mine.yaml").string(),
                     "name: mine\n"
                     "conditions: [standard]\n"
                     "seeds: [1]\n"
                     "train_requests: 300\n"
                     "eval_requests: 100\n"
                     "models: [mobilenet_v1, resnet50]\n"
                     "grid:\n"
                     "  devices: [sd855, sd845]\n"
                     "  networks: [wifi_strong, lte_weak]\n"
                     "  loads: [none]\n"
                     "  requests: [realtime]\n"
                     "policies: [q_learning, oracle]\n");
  CliRun sim = Shell(run + " sim mine.yaml --out out --quiet");
  ASSERT_EQ(sim.code, 0) << sim.output;
  EXPECT_TRUE(fs::exists(work / "out" / "summary.json")) << sim.output;
  const std::string summary = Slurp((work / "out" / "summary.json").string());
  EXPECT_NE(summary.find("sd845/wifi_strong/none/realtime"), std::string::npos) << summary;

  // A name nowhere says where it looked: beside the file, then the installed configs.
  testing::WriteFile((work / "typo.yaml").string(),
                     "name: typo\nconditions: [standrd]\nseeds: [1]\nmodels: [resnet50]\n"
                     "grid: {devices: [sd855], networks: [wifi_strong], loads: [none], "
                     "requests: [realtime]}\npolicies: [oracle]\n");
  CliRun typo = Shell(run + " sim typo.yaml --quiet");
  EXPECT_EQ(typo.code, 1);
  EXPECT_NE(typo.output.find("typo.yaml:2:13: conditions: no scenario file 'standrd' (looked "
                             "for ./scenarios/standrd.yaml, " +
                             configs.string() + "/scenarios/standrd.yaml)"),
            std::string::npos)
      << typo.output;
  EXPECT_NE(typo.output.find("did you mean 'standard'?"), std::string::npos) << typo.output;
}

}  // namespace
}  // namespace autoscale
