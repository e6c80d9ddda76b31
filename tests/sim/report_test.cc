// Reports: runs.csv is RFC 4180 CSV and summary.json valid JSON in valid UTF-8, whatever the
// names in the experiment hold (issue 10, item 5).
#include "sim/report.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "core/file_util.h"
#include "core/strings.h"
#include "sim/plots.h"
#include "test_util.h"

namespace autoscale {
namespace {

// One run whose names hold a comma, a quote, a newline and bytes that are not UTF-8.
ExperimentResult HostileResult(Experiment* exp) {
  exp->name = "e";
  PolicySpec p;
  p.name = "q_learning";
  p.label = "q, \"tuned\"\xff";
  exp->policies.push_back(p);
  RunSummary r;
  r.scenario = "dev/net,1/load\n/req";
  r.device = "dev";
  r.network = "net,1";
  r.load = "load\n";
  r.requests_condition = "req\xc3(";
  r.policy = p.label;
  r.seed = 3;
  r.requests = 10;
  r.energy_mj_per_inference = 1.5;
  r.target_names = {"cpu,big", "cloud"};
  r.target_counts = {4, 6};
  ExperimentResult res;
  res.runs.push_back(r);
  return res;
}

// Splits one CSV text into records of fields per RFC 4180.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

TEST(Report, RunsCsvQuotesFieldsPerRfc4180) {
  Experiment exp;
  const ExperimentResult res = HostileResult(&exp);
  const auto rows = ParseCsv(RunsCsv(res));
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].size(), 21u);
  ASSERT_EQ(rows[1].size(), 21u);
  EXPECT_EQ(rows[1][0], res.runs[0].scenario);
  EXPECT_EQ(rows[1][2], "net,1");
  EXPECT_EQ(rows[1][3], "load\n");
  EXPECT_EQ(rows[1][5], res.runs[0].policy);
  EXPECT_EQ(rows[1][6], "3");
  EXPECT_EQ(rows[1][20], "cpu,big=4;cloud=6");
}

TEST(Report, SummaryJsonIsValidUtf8WithEscapedNames) {
  Experiment exp;
  const ExperimentResult res = HostileResult(&exp);
  const std::string json = SummaryJson(exp, res);
  EXPECT_TRUE(IsValidUtf8(json));
  EXPECT_NE(json.find("\"policy\": \"q, \\\"tuned\\\"\xEF\xBF\xBD\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"scenario\": \"dev/net,1/load\\n/req\""), std::string::npos) << json;
  for (char c : json) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20);
  const auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["runs"][0]["scenario"], res.runs[0].scenario);
}

// NaN and infinities are not JSON numbers: they become null, and the document stays valid.
TEST(Report, SummaryJsonWritesNullForNumbersThatAreNotFinite) {
  Experiment exp;
  ExperimentResult res = HostileResult(&exp);
  res.runs[0].energy_vs_oracle = std::numeric_limits<double>::quiet_NaN();
  res.runs[0].latency_ms_p99 = std::numeric_limits<double>::infinity();
  res.runs[0].efficiency_vs_cpu = -std::numeric_limits<double>::infinity();
  const std::string json = SummaryJson(exp, res);
  for (const char* bad : {": nan", ": -nan", ": NaN", ": inf", ": -inf", "Infinity"}) {
    EXPECT_EQ(json.find(bad), std::string::npos) << bad << " in " << json;
  }
  const auto doc = nlohmann::json::parse(json);  // throws on invalid JSON
  EXPECT_TRUE(doc["runs"][0]["energy_vs_oracle"].is_null());
  EXPECT_TRUE(doc["runs"][0]["latency_ms_p99"].is_null());
  EXPECT_TRUE(doc["runs"][0]["efficiency_vs_cpu"].is_null());
  EXPECT_EQ(doc["runs"][0]["energy_mj_per_inference"], 1.5);
  // No histogram in this result: the pooled percentiles are unknown, not 0.
  EXPECT_TRUE(doc["aggregate"][0]["latency_ms_p50"].is_null());
}

// Two runs of one policy, 200 and 300 requests: 90% and 50% met both constraints, mean scores
// 0.95 and 0.7. Aggregate (over requests): (180 + 150) / 500 = 0.66 and (190 + 210) / 500 = 0.8.
ExperimentResult SatisfactionResult(Experiment* exp) {
  exp->name = "e";
  PolicySpec p;
  p.name = "q_learning";
  p.label = "q";
  exp->policies.push_back(p);
  RunSummary a;
  a.scenario = "d/n/l/r";
  a.policy = "q";
  a.requests = 200;
  a.satisfied_rate = 0.9;
  a.satisfaction = 0.95;
  RunSummary b = a;
  b.seed = 2;
  b.requests = 300;
  b.satisfied_rate = 0.5;
  b.satisfaction = 0.7;
  ExperimentResult res;
  res.runs = {a, b};
  return res;
}

TEST(Report, SatisfactionInEveryReport) {
  Experiment exp;
  const ExperimentResult res = SatisfactionResult(&exp);
  const auto agg = Aggregate(exp, res);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_DOUBLE_EQ(agg[0].satisfied_rate, 0.66);
  EXPECT_DOUBLE_EQ(agg[0].satisfaction, 0.8);

  const auto rows = ParseCsv(RunsCsv(res));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][14], "satisfied_rate");
  EXPECT_EQ(rows[0][15], "satisfaction");
  EXPECT_EQ(rows[1][14], "0.9");
  EXPECT_EQ(rows[1][15], "0.95");
  EXPECT_EQ(rows[2][14], "0.5");
  EXPECT_EQ(rows[2][15], "0.7");

  const auto json = nlohmann::json::parse(SummaryJson(exp, res));
  ASSERT_EQ(json["runs"].size(), 2u);
  EXPECT_EQ(json["runs"][0]["seed"], 0);
  EXPECT_EQ(json["runs"][0]["requests"], 200);
  EXPECT_EQ(json["runs"][0]["satisfied_rate"], 0.9);
  EXPECT_EQ(json["runs"][0]["satisfaction"], 0.95);
  EXPECT_EQ(json["runs"][1]["satisfied_rate"], 0.5);
  EXPECT_EQ(json["runs"][1]["satisfaction"], 0.7);
  EXPECT_EQ(json["aggregate"][0]["satisfied_rate"], 0.66);
  EXPECT_EQ(json["aggregate"][0]["satisfaction"], 0.8);

  std::ostringstream table;
  PrintTable(table, exp, res);
  EXPECT_NE(table.str().find("sat%  satis"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find(" 66.00  0.800 "), std::string::npos) << table.str();
}

// A name with a line break must not end a gnuplot command and start another: plots.gp keeps
// every quoted name on its line (gnuplot runs lines starting with '!' in a shell).
TEST(Report, PlotScriptKeepsNamesOnOneLine) {
  Experiment exp;
  ExperimentResult res = HostileResult(&exp);
  res.runs[0].target_names = {"cpu\n!touch pwned", "cloud"};
  exp.series_bins = 4;
  const std::string dir = ::testing::TempDir() + "/report_plot_" + std::to_string(::getpid());
  std::string note;
  ASSERT_TRUE(WriteReports(dir, exp, res, &note).ok());
  auto gp = ReadFile(dir + "/plots.gp");
  ASSERT_TRUE(gp.ok());
  EXPECT_EQ(gp->find("\n!"), std::string::npos) << *gp;
  EXPECT_NE(gp->find("'cpu !touch pwned'"), std::string::npos) << *gp;
  auto mix = ReadFile(dir + "/target_mix.dat");
  ASSERT_TRUE(mix.ok());
  EXPECT_EQ(mix->find("\n!"), std::string::npos) << *mix;
}

// Two runs of one policy over two seeds: the aggregate's p50 and p99 are percentiles of the
// pooled requests, not means of the runs' percentiles.
TEST(Report, PercentilesAreOverThePooledRequests) {
  Experiment exp;
  exp.name = "e";
  exp.seeds = {1, 2};
  PolicySpec p;
  p.name = p.label = "q_learning";
  exp.policies.push_back(p);
  ExperimentResult res;
  RunSummary a;
  a.scenario = "d/n/l/r";
  a.policy = "q_learning";
  a.seed = 1;
  RunSummary b = a;
  b.seed = 2;
  // Run a: 90 requests at 10 ms, 10 at 1000 ms (p50 10, p99 1000); run b: 100 at 20 ms (p50 and
  // p99 20). Means of the runs' percentiles: 15 and 510. Pooled (200 requests): p50 is the 100th
  // smallest, 20 ms; p99 the 198th, 1000 ms.
  a.requests = b.requests = 100;
  a.latency_ms_p50 = 10, a.latency_ms_p99 = 1000;
  b.latency_ms_p50 = b.latency_ms_p99 = 20;
  res.runs = {a, b};
  res.latencies.resize(1);
  res.latencies[0].Add(10.0f, 90);
  res.latencies[0].Add(1000.0f, 10);
  res.latencies[0].Add(20.0f, 100);
  const auto agg = Aggregate(exp, res);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_NEAR(agg[0].latency_ms_p50, 20, 20 * 0.004);
  EXPECT_NEAR(agg[0].latency_ms_p99, 1000, 1000 * 0.004);
}

TEST(Report, IntervalsOverSeedsUseStudentsT) {
  EXPECT_DOUBLE_EQ(StudentT95(1), 12.706);
  EXPECT_DOUBLE_EQ(StudentT95(2), 4.303);
  EXPECT_DOUBLE_EQ(StudentT95(30), 2.042);
  EXPECT_DOUBLE_EQ(StudentT95(100000), 1.96);
  // 1, 2, 3: mean 2, sd 1, half-width 4.303 / sqrt(3).
  const SeedInterval s = IntervalOverSeeds({1, 2, 3});
  EXPECT_DOUBLE_EQ(s.mean, 2);
  EXPECT_NEAR(s.hi - s.mean, 4.303 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(s.mean - s.lo, 4.303 / std::sqrt(3.0), 1e-12);
  const SeedInterval one = IntervalOverSeeds({5});
  EXPECT_DOUBLE_EQ(one.mean, 5);
  EXPECT_TRUE(std::isnan(one.lo) && std::isnan(one.hi));

  // In the aggregate: per seed, the mean over its runs of energy_vs_oracle (here 1.1 and 1.3)
  // and its QoS violation rate over its requests.
  Experiment exp;
  exp.name = "e";
  exp.seeds = {4, 9};
  PolicySpec p;
  p.name = p.label = "q";
  exp.policies.push_back(p);
  ExperimentResult res;
  for (auto [seed, vs, qos] :
       {std::tuple{4, 1.0, 0.1}, {4, 1.2, 0.3}, {9, 1.3, 0.2}, {9, 1.3, 0.2}}) {
    RunSummary r;
    r.policy = "q";
    r.seed = seed;
    r.requests = 10;
    r.energy_vs_oracle = vs;
    r.qos_violation_rate = qos;
    res.runs.push_back(r);
  }
  const auto agg = Aggregate(exp, res);
  EXPECT_NEAR(agg[0].energy_vs_oracle_seeds.mean, 1.2, 1e-12);
  // Values 1.1 and 1.3: sd 0.1414, half-width 12.706 * 0.1414 / sqrt(2) = 1.2706.
  EXPECT_NEAR(agg[0].energy_vs_oracle_seeds.hi, 1.2 + 1.2706, 1e-9);
  EXPECT_NEAR(agg[0].qos_violation_rate_seeds.mean, 0.2, 1e-12);
  EXPECT_NEAR(agg[0].qos_violation_rate_seeds.lo, 0.2, 1e-12);  // both seeds 0.2
  const auto json = nlohmann::json::parse(SummaryJson(exp, res));
  EXPECT_NEAR(json["aggregate"][0]["energy_vs_oracle_ci95"][1].get<double>(), 2.4706, 1e-4);
}

// A target's and a policy's colour is the same in every experiment, whatever else it holds and
// in whatever order; a static policy wears its target's colour.
TEST(Report, ColoursAreStableByName) {
  EXPECT_EQ(TargetColour("gpu"), "#2ca02c");
  EXPECT_EQ(TargetColour("cloud"), "#1f77b4");
  EXPECT_EQ(TargetColour("my_npu"), TargetColour("my_npu"));
  EXPECT_EQ(PolicyColour({"q_learning", "q_learning", ""}), "#ff7f0e");
  EXPECT_EQ(PolicyColour({"always_gpu", "static", "gpu"}), TargetColour("gpu"));
  EXPECT_EQ(PolicyColour({"whatever", "static", "cloud"}), TargetColour("cloud"));
  // A relabelled q_learning is not taken for the plain one.
  EXPECT_NE(PolicyColour({"q_tuned", "q_learning", ""}),
            PolicyColour({"q_learning", "q_learning", ""}));

  // In the plot script: the same colour for gpu with the targets in either order.
  auto script = [](std::vector<std::string> targets) {
    Experiment exp;
    exp.name = "e";
    PolicySpec p;
    p.name = p.label = "random";
    exp.policies.push_back(p);
    ExperimentResult res;
    RunSummary r;
    r.policy = "random";
    r.requests = 2;
    r.target_names = targets;
    r.target_counts.assign(targets.size(), 1);
    res.runs.push_back(r);
    const std::string dir = testing::TempDir("colours");
    std::string note;
    EXPECT_TRUE(WriteReports(dir, exp, res, &note).ok());
    return *ReadFile(dir + "/plots.gp");
  };
  const std::string a = script({"gpu", "cloud"}), b = script({"cloud", "gpu", "dsp"});
  EXPECT_NE(a.find("lc rgb '#2ca02c' title 'gpu'"), std::string::npos) << a;
  EXPECT_NE(b.find("lc rgb '#2ca02c' title 'gpu'"), std::string::npos) << b;
  EXPECT_NE(b.find("lc rgb '#1f77b4' title 'cloud'"), std::string::npos) << b;
}

}  // namespace
}  // namespace autoscale
