// Golden run (STYLE.md 9): a fixed experiment and seed give a fixed summary.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/file_util.h"
#include "sim/experiment.h"
#include "sim/report.h"
#include "test_util.h"

namespace autoscale {
namespace {

TEST(Golden, SmallExperimentSummaryMatchesCheckedInExpectation) {
  auto exp = LoadExperiment(testing::TestData("golden.yaml"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  RunOptions opts;
  opts.threads = 2;
  auto result = RunExperiment(*exp, opts);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const std::string json = SummaryJson(*exp, *result);
  const std::string golden_path = testing::TestData("golden_summary.json");
  if (std::getenv("AUTOSCALE_UPDATE_GOLDEN")) {
    ASSERT_TRUE(WriteFileAtomic(golden_path, json).ok());
    GTEST_SKIP() << "rewrote " << golden_path;
  }
  auto golden = ReadFile(golden_path);
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  EXPECT_EQ(json, *golden) << "the simulator's behaviour changed; if intended, regenerate with "
                              "AUTOSCALE_UPDATE_GOLDEN=1 and explain why in the commit";
}

TEST(Golden, SameSeedGivesByteIdenticalSummariesWhateverTheThreads) {
  auto exp = LoadExperiment(testing::TestData("golden.yaml"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  RunOptions one, two;
  one.threads = 1;
  two.threads = 2;
  auto a = RunExperiment(*exp, one);
  auto b = RunExperiment(*exp, two);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(SummaryJson(*exp, *a), SummaryJson(*exp, *b));
  EXPECT_EQ(RunsCsv(*a), RunsCsv(*b));
}

TEST(Golden, AnotherSeedChangesTheSummary) {
  auto exp = LoadExperiment(testing::TestData("golden.yaml"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto a = RunExperiment(*exp);
  exp->seeds = {8};
  auto b = RunExperiment(*exp);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(RunsCsv(*a), RunsCsv(*b));
}

}  // namespace
}  // namespace autoscale
