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
  for (const char* cmd : {"sim", "profile", "models", "infer", "check-config", "policies"}) {
    EXPECT_NE(r.output.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd;
  }
  CliRun s = Cli("sim --help");
  EXPECT_EQ(s.code, 0);
  EXPECT_NE(s.output.find("Usage: autoscale sim [OPTIONS] [EXPERIMENT]"), std::string::npos)
      << s.output;
  EXPECT_NE(s.output.find("--json FILE"), std::string::npos) << s.output;
  // Every subcommand has its own help, and it is the subcommand's, not the program's.
  for (const char* cmd : {"profile", "models", "infer", "check-config", "policies"}) {
    CliRun h = Cli(std::string(cmd) + " --help");
    EXPECT_EQ(h.code, 0) << cmd;
    EXPECT_NE(h.output.find(std::string("Usage: autoscale ") + cmd), std::string::npos)
        << h.output;
  }
}

// One version everywhere: the project's (CMakeLists.txt), from all three programs (the
// daemon and the worker where this build has them: they need libtorch).
TEST(Cli, VersionIsTheProjectsInEveryProgram) {
  CliRun r = Cli("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.output, std::string("autoscale ") + AUTOSCALE_VERSION + "\n");
  const std::filesystem::path dir = std::filesystem::path(AUTOSCALE_BINARY).parent_path();
  for (const char* program : {"autoscaled", "autoscale-worker"}) {
    const std::filesystem::path bin = dir / program;
    if (!std::filesystem::exists(bin)) continue;
    FILE* p = ::popen((bin.string() + " --version 2>&1").c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0) << program;
    EXPECT_EQ(out, std::string(program) + " " + AUTOSCALE_VERSION + "\n");
  }
}

TEST(Cli, UnknownCommandSuggestsTheNearest) {
  CliRun r = Cli("smi");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("did you mean 'sim'?"), std::string::npos) << r.output;
}

TEST(Cli, UnknownOptionIsAUsageError) {
  CliRun r = Cli("sim --jsn x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("autoscale sim: error: unknown option '--jsn'; did you mean '--json'?"),
            std::string::npos)
      << r.output;
  CliRun j = Cli("sim --jobs zero");
  EXPECT_EQ(j.code, 2);
  EXPECT_NE(j.output.find("--jobs: expects a whole number from 1 to 1024, got 'zero'"),
            std::string::npos)
      << j.output;
  // The same through --opt=value, and a value missing at the end of the line.
  CliRun eq = Cli("sim --jobs=0");
  EXPECT_EQ(eq.code, 2);
  EXPECT_NE(eq.output.find("got '0'"), std::string::npos) << eq.output;
  CliRun missing = Cli("sim --out");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("--out"), std::string::npos) << missing.output;
  CliRun two = Cli("sim a.yaml b.yaml");
  EXPECT_EQ(two.code, 2);
  EXPECT_NE(two.output.find("unexpected argument 'b.yaml'"), std::string::npos) << two.output;
}

TEST(Cli, SimWritesTableJsonCsvAndPlots) {
  const std::string dir = testing::TempDir("cli_sim");
  const std::string exp = SmallExperiment(dir);
  // Both spellings of an option's value: --json FILE and --out=DIR.
  CliRun r = Cli("sim " + exp + " --json " + dir + "/s.json --out=" + dir + "/out --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/summary.json")) << r.output;
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
  // With the model prior an untrained agent already decides about as well as the trained one.
  EXPECT_LE(trained, untrained + 0.02) << json;
  // The table learned on sd855 loads on sd845 (targets by name, levels by rank) ...
  text.replace(text.find("devices: [sd855]"), 16, "devices: [sd845]");
  testing::WriteFile(dir + "/other.yaml", text);
  CliRun other = Cli("sim " + dir + "/other.yaml --quiet --out " + dir + "/o3");
  EXPECT_EQ(other.code, 0) << other.output;
  // ... but not into an agent with another prior, and the error says where it was asked for.
  text.replace(text.find("params: {table: "), 16, "params: {prior: none, table: ");
  testing::WriteFile(dir + "/none.yaml", text);
  CliRun none = Cli("sim " + dir + "/none.yaml --quiet --out " + dir + "/o4");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.output.find("policies[0].params.table"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("the table was learned with 'prior model'"), std::string::npos)
      << none.output;
}

TEST(Cli, MissingExperimentFileIsAClearError) {
  CliRun r = Cli("sim /nonexistent/exp.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/nonexistent/exp.yaml: cannot open file"), std::string::npos)
      << r.output;
}

// ---- Issue 10, items 4 and 5: hostile but valid-looking inputs --------------------------------

// Runs the binary with its address space capped (ulimit -v, KiB), so a runaway allocation ends
// in std::bad_alloc rather than in swapping.
CliRun CliCapped(const std::string& args, long kib = 1'500'000) {
  return Shell("ulimit -v " + std::to_string(kib) + "; " + std::string(AUTOSCALE_BINARY) + " " +
               args);
}

// An experiment under a folder named experiments/ (check-config tells kinds by folder).
std::string CheckableExperiment(const std::string& name, const std::string& extra = "",
                                const std::string& network = "{wifi: {signal_dbm: -60}}") {
  const std::string dir = testing::TempDir(name) + "/experiments";
  return SmallExperiment(dir, extra, network);
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t p = text.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) text.replace(p, from.size(), to);
  return text;
}

// rate_hz 1e-6 is inside the documented range: the run lasts ~5e8 s, and the generated signal
// used to be sampled every second over it (std::bad_alloc / SIGABRT). It now runs in bounded
// memory; check-config and sim agree.
TEST(Cli, SlowRequestRateRunsInBoundedMemory) {
  const std::string exp = CheckableExperiment("cli_slow", "",
                                              "{wifi: {signal_dbm: {mean: -60, stddev: 3}}}");
  testing::WriteFile(exp, Replace(Slurp(exp), "rt: {latency_bound_ms: 60}",
                                  "rt: {latency_bound_ms: 60, rate_hz: 1e-6}"));
  const std::string out = std::filesystem::path(exp).parent_path().string() + "/out";
  CliRun r = CliCapped("sim " + exp + " --quiet --jobs 2 --out " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("q_learning"), std::string::npos) << r.output;
  EXPECT_EQ(Cli("check-config " + exp).code, 0);
}

// A request trace with a row at t = 1e9 s, looped over 700 requests: the same, through traces.
TEST(Cli, LateRequestTraceRowRunsInBoundedMemory) {
  const std::string exp = CheckableExperiment("cli_late", "",
                                              "{wifi: {signal_dbm: {mean: -60, stddev: 3}}}");
  const std::string dir = std::filesystem::path(exp).parent_path().string();
  testing::WriteFile(dir + "/req.csv", "time_s,model\n0,mobilenet_v2\n1e9,resnet50\n");
  testing::WriteFile(exp, Replace(Slurp(exp), "rt: {latency_bound_ms: 60}",
                                  "rt: {latency_bound_ms: 60, trace: req.csv}"));
  CliRun r = CliCapped("sim " + exp + " --quiet --jobs 2 --out " + dir + "/out");
  EXPECT_EQ(r.code, 0) << r.output;
  // Past the cap on trace times: refused with file and line, by both commands.
  testing::WriteFile(dir + "/req.csv", "time_s,model\n0,mobilenet_v2\n1e11,resnet50\n");
  for (const std::string cmd : {"sim --quiet ", "check-config "}) {
    CliRun bad = Cli(cmd + exp);
    EXPECT_EQ(bad.code, 1) << bad.output;
    EXPECT_NE(bad.output.find(dir + "/req.csv:3: time must be in [0, 1e+10] s"), std::string::npos)
        << bad.output;
  }
}

// Device files and other non-regular files are refused wherever a file is read: the experiment
// itself, a Q-table, a trace, a request trace, a conditions file.
TEST(Cli, DeviceFilesAreRefusedEverywhere) {
  CliRun r = Cli("sim /dev/zero");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/dev/zero: not a regular file"), std::string::npos) << r.output;
  struct Case {
    std::string extra, network, from, to, key;
  };
  const std::vector<Case> cases = {
      {"", "{wifi: {signal_dbm: -60}}", "policies: [q_learning, model_greedy, oracle]",
       "policies: [{name: q_learning, params: {table: /dev/zero}}]", "policies[0].params.table"},
      {"", "{wifi: {signal_dbm: {trace: /dev/zero}}}", "", "", "networks.net.wifi.signal_dbm.trace"},
      {"", "{wifi: {signal_dbm: -60}}", "rt: {latency_bound_ms: 60}",
       "rt: {latency_bound_ms: 60, trace: /dev/zero}", "requests.rt.trace"},
      {"conditions: /dev/zero\n", "{wifi: {signal_dbm: -60}}", "", "", "conditions"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string exp = CheckableExperiment("cli_devzero" + std::to_string(i), c.extra,
                                                c.network);
    if (!c.from.empty()) testing::WriteFile(exp, Replace(Slurp(exp), c.from, c.to));
    for (const std::string cmd : {"sim ", "check-config "}) {
      CliRun bad = CliCapped(cmd + exp);
      EXPECT_EQ(bad.code, 1) << cmd << bad.output;
      EXPECT_NE(bad.output.find(c.key), std::string::npos) << cmd << bad.output;
      EXPECT_NE(bad.output.find("/dev/zero: not a regular file"), std::string::npos)
          << cmd << bad.output;
    }
  }
}

// Trace values outside their quantity's range: a load of 50 (used to give negative energy per
// inference), a link of 1e300 Mbit/s (used to give null in summary.json).
TEST(Cli, TraceValuesOutOfRangeAreRefusedBySimAndCheckConfig) {
  const std::string exp = CheckableExperiment("cli_range");
  const std::string dir = std::filesystem::path(exp).parent_path().string();
  testing::WriteFile(dir + "/load.csv", "time_s,cpu\n0,0.5\n1,50\n2,-3\n");
  testing::WriteFile(dir + "/bw.log", "0 10\n1 1e300\n");
  const std::string text = Slurp(exp);
  testing::WriteFile(dir + "/load.yaml",
                     Replace(text, "idle: {cpu: 0.0}", "idle: {cpu: {trace: load.csv}}"));
  testing::WriteFile(dir + "/link.yaml",
                     Replace(text, "{wifi: {signal_dbm: -60}}",
                             "{wifi: {signal_dbm: -60, down_mbps: {trace: bw.log, format: "
                             "bandwidth_log}}}"));
  for (const std::string cmd : {"sim ", "check-config "}) {
    CliRun load = Cli(cmd + dir + "/load.yaml");
    EXPECT_EQ(load.code, 1) << load.output;
    EXPECT_NE(load.output.find("loads.idle.cpu.trace: " + dir +
                               "/load.csv:3: load in column 'cpu' must be in [0, 1], got 50"),
              std::string::npos)
        << load.output;
    CliRun link = Cli(cmd + dir + "/link.yaml");
    EXPECT_EQ(link.code, 1) << link.output;
    EXPECT_NE(link.output.find(dir + "/bw.log:2: throughput in Mbit/s"), std::string::npos)
        << link.output;
  }
}

// min_accuracy 1.0, which nothing can meet, used to report 0 mJ and 0 ms per inference.
TEST(Cli, UnreachableAccuracyFloorIsRefusedWithItsLocation) {
  const std::string exp = CheckableExperiment("cli_floor");
  testing::WriteFile(exp, Replace(Slurp(exp), "rt: {latency_bound_ms: 60}",
                                  "rt: {latency_bound_ms: 60, min_accuracy: 1.0}"));
  for (const std::string cmd : {"sim ", "check-config "}) {
    CliRun r = Cli(cmd + exp);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find(exp + ":12:44: requests.rt.min_accuracy: "), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("can never be met on device 'sd855'"), std::string::npos) << r.output;
  }
}

// name: ../../x used to write the reports two folders above results/.
TEST(Cli, ExperimentNameCannotLeaveTheResultsFolder) {
  const std::string exp = CheckableExperiment("cli_name");
  testing::WriteFile(exp, Replace(Slurp(exp), "name: small", "name: ../../x"));
  for (const std::string cmd : {"sim ", "check-config "}) {
    CliRun r = Cli(cmd + exp);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find(exp + ":1:7: name: experiment name '../../x' must be"),
              std::string::npos)
        << r.output;
  }
}

// A label with a comma and a quote: runs.csv quotes it (RFC 4180), so every row keeps its 19
// fields; summary.json escapes it.
TEST(Cli, LabelsWithCommasAreQuotedInTheReports) {
  const std::string exp = CheckableExperiment("cli_label");
  const std::string dir = std::filesystem::path(exp).parent_path().string();
  testing::WriteFile(exp, Replace(Slurp(exp), "policies: [q_learning, model_greedy, oracle]",
                                  "policies: [{name: q_learning, label: 'q, \"tuned\"'}, oracle]"));
  CliRun r = Cli("sim " + exp + " --quiet --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string csv = Slurp(dir + "/out/runs.csv");
  EXPECT_NE(csv.find(",\"q, \"\"tuned\"\"\",1,"), std::string::npos) << csv;
  const std::string json = Slurp(dir + "/out/summary.json");
  EXPECT_NE(json.find("\"policy\": \"q, \\\"tuned\\\"\""), std::string::npos) << json;
}

// check-config checks an experiment wherever it lies (sim runs it from anywhere), by the same
// loading sim does; it used to call any file outside experiments/ of unknown kind.
TEST(Cli, CheckConfigChecksExperimentsOutsideTheExperimentsFolder) {
  const std::string dir = testing::TempDir("cli_check_anywhere");
  const std::string exp = SmallExperiment(dir);
  CliRun ok = Cli("check-config " + exp);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("1 passed, 0 failed"), std::string::npos) << ok.output;
  testing::WriteFile(exp, Replace(Slurp(exp), "rt: {latency_bound_ms: 60}",
                                  "rt: {latency_bound_ms: 60, rate_hz: 1e7}"));
  CliRun bad = Cli("check-config " + exp);
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_NE(bad.output.find("requests.rt.rate_hz: expected a number in [1e-06, 1e+06]"),
            std::string::npos)
      << bad.output;
}

// check-config tells every kind by content, wherever the file is; `autoscaled --check` checks
// a daemon config as start-up would, starting nothing.
TEST(Cli, CheckConfigTellsKindsAndDaemonChecksItsConfig) {
  const std::string dir = testing::TempDir("cli_kinds");
  const std::string shipped = testing::ConfigRoot();
  const std::string daemon = Slurp(shipped + "/daemon/loopback.yaml");
  testing::WriteFile(dir + "/d.yaml", daemon);
  testing::WriteFile(dir + "/s.yaml", Slurp(shipped + "/scenarios/standard.yaml"));
  testing::WriteFile(dir + "/lte.yaml", Slurp(shipped + "/networks/lte.yaml"));
  CliRun ok = Cli("check-config " + dir + "/d.yaml " + dir + "/s.yaml " + dir + "/lte.yaml");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("d.yaml (daemon config)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("s.yaml (conditions)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("lte.yaml (network profile)"), std::string::npos) << ok.output;
  testing::WriteFile(dir + "/odd.yaml", "colour: blue\n");
  CliRun odd = Cli("check-config " + dir + "/odd.yaml");
  EXPECT_EQ(odd.code, 1) << odd.output;
  EXPECT_NE(odd.output.find("odd.yaml:1:1: cannot tell which kind"), std::string::npos)
      << odd.output;

  const std::string autoscaled =
      (std::filesystem::path(AUTOSCALE_BINARY).parent_path() / "autoscaled").string();
  if (!std::filesystem::exists(autoscaled)) GTEST_SKIP() << "autoscaled not built";
  CliRun good = Shell(autoscaled + " --check " + dir + "/d.yaml");
  EXPECT_EQ(good.code, 0) << good.output;
  const size_t at = daemon.find("device: sd845");
  ASSERT_NE(at, std::string::npos) << daemon;
  std::string bad = daemon;
  bad.replace(at, 13, "device: sd8455");
  testing::WriteFile(dir + "/bad.yaml", bad);
  CliRun refused = Shell(autoscaled + " --check " + dir + "/bad.yaml");
  EXPECT_EQ(refused.code, 1) << refused.output;
  EXPECT_NE(refused.output.find("no device profile 'sd8455'"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("did you mean 'sd845'?"), std::string::npos) << refused.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/state.qtable"));  // nothing written
}

}  // namespace
}  // namespace autoscale
