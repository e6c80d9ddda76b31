// Torch-free helpers of the targets layer: CPU clusters and lists, input checks, power model.
#include "targets/target.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace autoscale {
namespace {

TEST(CpuClusters, FromCpufreqFastestFirst) {
  const std::string root = testing::TempDir("fake_cpufreq");
  const std::string base = root + "/devices/system/cpu/cpufreq/";
  testing::WriteFile(base + "policy0/related_cpus", "0 1 2 3\n");
  testing::WriteFile(base + "policy0/cpuinfo_max_freq", "1766400\n");
  testing::WriteFile(base + "policy4/related_cpus", "4 5 6 7\n");
  testing::WriteFile(base + "policy4/cpuinfo_max_freq", "2649600\n");
  const std::vector<CpuCluster> c = DetectCpuClusters(root);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].cpus, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_DOUBLE_EQ(c[0].max_freq_mhz, 2649.6);
  EXPECT_EQ(c[1].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(DetectCpuClusters(root + "/nothing").empty());
}

TEST(CpuClusters, CpuListsParse) {
  auto list = ParseCpuList("0-2,5");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<int>{0, 1, 2, 5}));
  EXPECT_FALSE(ParseCpuList("3-1").ok());
  EXPECT_FALSE(ParseCpuList("a").ok());
  EXPECT_FALSE(AllowedCpus().empty());
}

TEST(Targets, CheckInputSaysWhatWasWrong) {
  ModelSpec spec;
  spec.name = "m";
  spec.input_shape = {3, 4};
  HostTensor ok{{2, 3, 4}, std::vector<float>(24)};
  EXPECT_TRUE(CheckInput(spec, ok).ok());
  HostTensor no_batch{{3, 4}, std::vector<float>(12)};
  EXPECT_NE(CheckInput(spec, no_batch).message().find("takes input [N, 3x4]"), std::string::npos);
  HostTensor short_data{{1, 3, 4}, std::vector<float>(11)};
  EXPECT_NE(CheckInput(spec, short_data).message().find("needs 12 values, got 11"),
            std::string::npos);
  HostTensor zero_batch{{0, 3, 4}, {}};
  EXPECT_FALSE(CheckInput(spec, zero_batch).ok());
}

TEST(Targets, PowerModelEnergy) {
  PowerModel p{{2000, 1000}, 500, "x", {}};
  EXPECT_DOUBLE_EQ(p.EnergyMj(0, 10), 25);  // 2.5 W x 10 ms
  EXPECT_DOUBLE_EQ(p.EnergyMj(1, 10), 15);
  EXPECT_DOUBLE_EQ(p.EnergyMj(5, 10), 15) << "levels past the end use the lowest";
  EXPECT_DOUBLE_EQ(PowerModel{}.EnergyMj(0, 10), 0);
}

}  // namespace
}  // namespace autoscale
