// End-to-end tests of the `autoscale` command line: what a user types, what they get back.
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

// A small experiment in `dir`, with extra YAML appended.
std::string SmallExperiment(const std::string& dir, const std::string& extra = "",
                            const std::string& network = "{wifi: {signal_dbm: -60}}") {
  return testing::WriteFile(
      dir + "/small.yaml",
      "name: small\nconfig_root: " + testing::ConfigRoot() +
          "\nseeds: [1, 2]\ntrain_requests: 500\neval_requests: 200\n"
          "models: [mobilenet_v2, resnet50]\n"
          "networks:\n  net: " +
          network +
          "\n"
          "loads:\n  idle: {cpu: 0.0}\n"
          "requests:\n  rt: {latency_bound_ms: 60}\n"
          "grid: {devices: [sd855], networks: [net], loads: [idle], requests: [rt]}\n"
          "policies: [q_learning, model_greedy, oracle]\n" +
          extra);
}

TEST(Cli, HelpIsHelpful) {
  CliRun r = Cli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("sim [EXPERIMENT.yaml]"), std::string::npos) << r.output;
  CliRun s = Cli("sim --help");
  EXPECT_EQ(s.code, 0);
  EXPECT_NE(s.output.find("--json FILE"), std::string::npos) << s.output;
}

TEST(Cli, UnknownCommandSuggestsTheNearest) {
  CliRun r = Cli("smi");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("did you mean 'sim'?"), std::string::npos) << r.output;
}

TEST(Cli, UnknownOptionIsAUsageError) {
  CliRun r = Cli("sim --jsn x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown option '--jsn'"), std::string::npos) << r.output;
  CliRun j = Cli("sim --jobs zero");
  EXPECT_EQ(j.code, 2);
  EXPECT_NE(j.output.find("--jobs expects a number"), std::string::npos) << j.output;
}

TEST(Cli, SimWritesTableJsonCsvAndPlots) {
  const std::string dir = testing::TempDir("cli_sim");
  const std::string exp = SmallExperiment(dir);
  CliRun r = Cli("sim " + exp + " --json " + dir + "/s.json --out " + dir + "/out --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("q_learning"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model_greedy"), std::string::npos);
  const std::string json = Slurp(dir + "/s.json");
  EXPECT_NE(json.find("\"runs\": ["), std::string::npos) << json;
  EXPECT_NE(json.find("\"scenario\": \"sd855/net/idle/rt\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"energy_vs_oracle\""), std::string::npos);
  // 3 policies x 2 seeds, plus a header line.
  const std::string csv = Slurp(dir + "/out/runs.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7) << csv;
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/summary.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/energy_over_time.dat"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/target_mix.dat"));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_GT(std::filesystem::file_size(dir + "/out/energy_over_time.png"), 1000u);
    EXPECT_GT(std::filesystem::file_size(dir + "/out/target_mix.png"), 1000u);
  }
  // The summary equals the --json copy, and a second run gives the same bytes.
  EXPECT_EQ(Slurp(dir + "/out/summary.json"), json);
  CliRun again = Cli("sim " + exp + " --json " + dir + "/s2.json --out " + dir + "/out2 --quiet");
  ASSERT_EQ(again.code, 0);
  EXPECT_EQ(Slurp(dir + "/s2.json"), json);
}

TEST(Cli, MalformedExperimentNamesFileLineColumnAndKeyPath) {
  const std::string dir = testing::TempDir("cli_bad_yaml");
  const std::string exp = SmallExperiment(dir, "world: {compute_noise: -1}\n");
  CliRun r = Cli("sim " + exp);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(exp + ":15:24:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("world.compute_noise: expected a number in [0, 2], got -1"),
            std::string::npos)
      << r.output;
}

TEST(Cli, BadTraceLineNamesFileAndLine) {
  const std::string dir = testing::TempDir("cli_bad_trace");
  testing::WriteFile(dir + "/rssi.csv", "time_s,rssi\n0,-60\n1,-61\nfoo,-62\n");
  const std::string exp =
      SmallExperiment(dir, "", "{wifi: {signal_dbm: {trace: rssi.csv, column: rssi}}}");
  CliRun r = Cli("sim " + exp);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(dir + "/rssi.csv:4:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'foo'"), std::string::npos) << r.output;
}

TEST(Cli, MahimahiTraceDrivesTheLinkWhenPresent) {
  const std::string trace =
      std::string(AUTOSCALE_SHARED_DATA_DIR) + "/traces/mahimahi/TMobile-LTE-short.down";
  if (!std::filesystem::exists(trace)) GTEST_SKIP() << "no shared Mahimahi traces";
  const std::string up =
      std::string(AUTOSCALE_SHARED_DATA_DIR) + "/traces/mahimahi/TMobile-LTE-short.up";
  const std::string dir = testing::TempDir("cli_mahimahi");
  const std::string exp =
      SmallExperiment(dir, "",
                      "{wifi: none, cellular: {signal_dbm: -95, down_mbps: {trace: " + trace +
                          ", format: mahimahi}, up_mbps: {trace: " + up + ", format: mahimahi}}}");
  CliRun r = Cli("sim " + exp + " --quiet --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("oracle"), std::string::npos);
}

TEST(Cli, CheckConfigPassesOnShippedProfilesAndFailsOnABadOne) {
  CliRun ok = Cli("check-config");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find(" 0 failed"), std::string::npos) << ok.output;
  const std::string dir = testing::TempDir("cli_check") + "/models";
  std::filesystem::create_directories(dir);
  testing::WriteFile(dir + "/m.yaml",
                     "name: m\nlayers: {conv: 1}\nmacs: 1e6\ninput_bytes: 4\n"
                     "output_bytes: 4\naccuracy: {fp32: 0.5, int4: 0.4}\n");
  CliRun bad = Cli("check-config " + dir + "/m.yaml");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("m.yaml:6:23: accuracy.int4: unknown key 'int4'"), std::string::npos)
      << bad.output;
}

// Pulls "energy_vs_oracle" of the first run of `policy` out of a summary.
double EnergyVsOracle(const std::string& json, const std::string& policy) {
  size_t p = json.find("\"policy\": \"" + policy + "\"");
  if (p == std::string::npos) return -1;
  p = json.find("\"energy_vs_oracle\": ", p);
  return std::stod(json.substr(p + 20));
}

TEST(Cli, SavedTablesLoadIntoAnotherExperiment) {
  const std::string dir = testing::TempDir("cli_tables");
  const std::string exp = SmallExperiment(dir);
  CliRun train = Cli("sim " + exp + " --quiet --out " + dir + "/o1 --save-tables " + dir + "/t");
  ASSERT_EQ(train.code, 0) << train.output;
  const std::string table = dir + "/t/q_learning/sd855_net_idle_rt_seed1.qtable";
  ASSERT_TRUE(std::filesystem::exists(table));
  // Evaluate only: one q_learning starts from the saved table, one from nothing.
  std::string text = Slurp(exp);
  text.replace(text.find("train_requests: 500"), 19, "train_requests: 0");
  text.replace(text.find("policies: [q_learning, model_greedy, oracle]"), 44,
               "policies: [{name: q_learning, label: trained, params: {table: " + table +
                   "}}, {name: q_learning, label: untrained}]");
  text.replace(text.find("seeds: [1, 2]"), 13, "seeds: [1]");
  testing::WriteFile(dir + "/eval.yaml", text);
  CliRun eval =
      Cli("sim " + dir + "/eval.yaml --quiet --json " + dir + "/e.json --out " + dir + "/o2");
  ASSERT_EQ(eval.code, 0) << eval.output;
  const std::string json = Slurp(dir + "/e.json");
  const double trained = EnergyVsOracle(json, "trained");
  const double untrained = EnergyVsOracle(json, "untrained");
  EXPECT_GT(trained, 0.99);
  EXPECT_LT(trained, untrained) << json;
  // A table from another device does not load, and the error says where it was asked for.
  text.replace(text.find("devices: [sd855]"), 16, "devices: [sd845]");
  testing::WriteFile(dir + "/other.yaml", text);
  CliRun other = Cli("sim " + dir + "/other.yaml --quiet --out " + dir + "/o3");
  EXPECT_EQ(other.code, 1);
  EXPECT_NE(other.output.find("policies[0].params.table"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("another action space"), std::string::npos) << other.output;
}

TEST(Cli, MissingExperimentFileIsAClearError) {
  CliRun r = Cli("sim /nonexistent/exp.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/nonexistent/exp.yaml: cannot open file"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace autoscale
