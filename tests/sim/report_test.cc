// Reports: runs.csv is RFC 4180 CSV and summary.json valid JSON in valid UTF-8, whatever the
// names in the experiment hold (issue 10, item 5).
#include "sim/report.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <sstream>

#include "core/file_util.h"
#include "core/strings.h"

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

  const std::string json = SummaryJson(exp, res);
  EXPECT_NE(json.find("\"seed\": 0, \"requests\": 200"), std::string::npos) << json;
  EXPECT_NE(json.find("\"satisfied_rate\": 0.9, \"satisfaction\": 0.95"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"satisfied_rate\": 0.5, \"satisfaction\": 0.7"), std::string::npos) << json;
  EXPECT_NE(json.find("\"satisfied_rate\": 0.66, \"satisfaction\": 0.8"), std::string::npos)
      << json;

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

}  // namespace
}  // namespace autoscale
