// Sweeps in slices (issue 13, point 8): shards of an experiment merged are the unsharded run's
// reports byte for byte, and merge refuses slices that do not make one whole sweep.
#include "sim/shard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "sim/experiment.h"
#include "sim/report.h"
#include "test_util.h"

namespace autoscale {
namespace {

// A small experiment in its own folder (with a copy of the standard conditions beside it): two
// seeds, two networks, two policies: 4 (scenario, seed) jobs.
std::string SmallExperiment(const std::string& dir, const std::string& seeds = "[1, 2]") {
  const std::string conditions = *ReadFile(testing::ConfigRoot() + "/scenarios/standard.yaml");
  testing::WriteFile(dir + "/standard.yaml", conditions);
  return testing::WriteFile(dir + "/small.yaml",
                            "name: small\nconfig_root: " + testing::ConfigRoot() +
                                "\nconditions: standard.yaml\nseeds: " + seeds +
                                "\ntrain_requests: 300\neval_requests: 60\nseries_bins: 6\n"
                                "models: [mobilenet_v1, vgg16]\n"
                                "grid: {devices: [sd845], networks: [wifi_strong, lte_weak], "
                                "loads: [none], requests: [realtime]}\n"
                                "policies: [q_learning, oracle]\n");
}

// Runs shard `index` of `count` of `exp` and writes its runs.json into `dir`.
void RunShard(const Experiment& exp, size_t index, size_t count, const std::string& dir) {
  RunOptions opts;
  opts.threads = 2;
  opts.shard = Shard{index, count};
  auto r = RunExperiment(exp, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/runs.json", RunsJson(ReportSpec::Of(exp), *r)).ok());
}

TEST(Shard, ThreeShardsMergedAreByteIdenticalToTheUnshardedRun) {
  auto exp = LoadExperiment(testing::TestData("golden.yaml"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  const std::string base = testing::TempDir("shards");
  RunOptions opts;
  opts.threads = 2;
  auto whole = RunExperiment(*exp, opts);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  std::string note;
  ASSERT_TRUE(WriteReports(base + "/whole", *exp, *whole, &note).ok());

  size_t runs = 0;
  for (size_t i = 0; i < 3; ++i) {
    RunShard(*exp, i, 3, base + "/shard" + std::to_string(i));
    auto f = ReadRunsJson(base + "/shard" + std::to_string(i) + "/runs.json");
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_GT(f->result.runs.size(), 0u) << "shard " << i;
    runs += f->result.runs.size();
  }
  EXPECT_EQ(runs, whole->runs.size());
  // In any order, as folders or as files.
  auto merged = MergeShards({base + "/shard2", base + "/shard0/runs.json", base + "/shard1"});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  ASSERT_TRUE(WriteReports(base + "/merged", merged->spec, merged->result, &note).ok());
  for (const char* file :
       {"summary.json", "runs.csv", "runs.json", "plots.gp", "evaluation.dat", "heatmap.dat",
        "energy_over_time.dat", "training.dat", "target_mix.dat"}) {
    auto a = ReadFile(base + "/whole/" + file);
    auto b = ReadFile(base + "/merged/" + file);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(*a, *b) << file << " differs between the unsharded run and the merged shards";
  }
  EXPECT_EQ(SummaryJson(merged->spec, merged->result), SummaryJson(*exp, *whole));
}

TEST(Shard, ShardsPartitionTheJobsRoundRobin) {
  Shard s{1, 3};
  EXPECT_FALSE(s.Holds(0));
  EXPECT_TRUE(s.Holds(1));
  EXPECT_TRUE(s.Holds(4));
  EXPECT_FALSE(s.Holds(5));
  EXPECT_TRUE(Shard{}.whole());
  auto ok = ParseShard("2/5");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->index, 2u);
  EXPECT_EQ(ok->count, 5u);
  for (const char* bad : {"5/5", "-1/3", "1/0", "1", "a/b", "1/3x", "", "/3", "2/"}) {
    auto r = ParseShard(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--shard expects I/N"), std::string::npos)
        << r.status().message();
  }
}

TEST(Shard, MergeRefusesSlicesThatAreNotOneWholeSweep) {
  const std::string base = testing::TempDir("shard_refusals");
  auto exp = LoadExperiment(SmallExperiment(base + "/exp"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  RunShard(*exp, 0, 2, base + "/a0");
  RunShard(*exp, 1, 2, base + "/a1");
  RunShard(*exp, 0, 3, base + "/b0");
  ASSERT_TRUE(MergeShards({base + "/a0", base + "/a1"}).ok());

  auto error = [&](const std::vector<std::string>& shards) {
    auto r = MergeShards(shards);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  // A shard missing.
  std::string e = error({base + "/a1"});
  EXPECT_NE(e.find("1 of 2 shards missing: 0"), std::string::npos) << e;
  // A shard given twice (a copy elsewhere).
  std::filesystem::create_directories(base + "/copy");
  std::filesystem::copy_file(base + "/a0/runs.json", base + "/copy/runs.json");
  e = error({base + "/a0", base + "/copy", base + "/a1"});
  EXPECT_NE(e.find("shard 0/2 given twice"), std::string::npos) << e;
  EXPECT_NE(e.find(base + "/copy/runs.json"), std::string::npos) << e;
  // Different N.
  e = error({base + "/a0", base + "/a1", base + "/b0"});
  EXPECT_NE(e.find("same N"), std::string::npos) << e;
  // Another experiment (other seeds): a different fingerprint.
  auto other = LoadExperiment(SmallExperiment(base + "/other", "[1, 3]"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  RunShard(*other, 1, 2, base + "/c1");
  e = error({base + "/a0", base + "/c1"});
  EXPECT_NE(e.find("different experiments or configurations"), std::string::npos) << e;
  // A slice that lost a run.
  {
    auto doc = nlohmann::json::parse(*ReadFile(base + "/a1/runs.json"));
    doc["runs"].erase(doc["runs"].size() - 1);
    testing::WriteFile(base + "/cut/runs.json", doc.dump());
  }
  e = error({base + "/a0", base + "/cut"});
  EXPECT_NE(e.find(base + "/cut/runs.json: shard 1/2 should hold 4 runs, holds 3"),
            std::string::npos)
      << e;
  // Not a runs.json at all.
  testing::WriteFile(base + "/junk/runs.json", "{\"runs\": []}");
  e = error({base + "/a0", base + "/junk"});
  EXPECT_NE(e.find("not a runs.json of `autoscale sim`"), std::string::npos) << e;
  testing::WriteFile(base + "/broken/runs.json", "{\"format\": ");
  e = error({base + "/broken"});
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_FALSE(MergeShards({}).ok());
}

// The fingerprint follows contents, not paths: the same files elsewhere agree; a changed
// conditions file does not.
TEST(Shard, FingerprintFollowsTheFilesContents) {
  const std::string base = testing::TempDir("shard_fingerprint");
  auto a = LoadExperiment(SmallExperiment(base + "/a"));
  auto b = LoadExperiment(SmallExperiment(base + "/b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ExperimentFingerprint(*a), ExperimentFingerprint(*b));
  EXPECT_EQ(ExperimentFingerprint(*a).size(), 16u);
  std::string conditions = *ReadFile(base + "/b/standard.yaml");
  conditions.replace(conditions.find("mean: -55"), 9, "mean: -56");
  testing::WriteFile(base + "/b/standard.yaml", conditions);
  auto changed = LoadExperiment(base + "/b/small.yaml");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(ExperimentFingerprint(*a), ExperimentFingerprint(*changed));
}

}  // namespace
}  // namespace autoscale
