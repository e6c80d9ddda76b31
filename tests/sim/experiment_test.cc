#include "sim/experiment.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "env/user_models.h"
#include "sim/report.h"
#include "test_util.h"

namespace autoscale {
namespace {

// A minimal valid experiment; `extra` is appended, `policies` replaces the policy list.
std::string Yaml(const std::string& extra = "", const std::string& policies = "[q_learning]") {
  return "name: t\nconfig_root: " + testing::ConfigRoot() +
         "\nseeds: [1]\ntrain_requests: 300\neval_requests: 100\n"
         "models: [mobilenet_v1, vgg16]\n"
         "networks:\n  good: {wifi: {signal_dbm: -55}, cellular: none, p2p_dbm: -50}\n"
         "loads:\n  idle: {cpu: 0.0, gpu: 0.0, mem: 0.1}\n"
         "requests:\n  rt: {latency_bound_ms: 50, rate_hz: 5}\n"
         "grid: {devices: [sd845], networks: [good], loads: [idle], requests: [rt]}\n"
         "policies: " +
         policies + "\n" + extra;
}

Result<Experiment> Parse(const std::string& text) {
  auto root = ConfigNode::LoadString(text, "exp.yaml");
  if (!root.ok()) return root.status();
  return ParseExperiment(*root, testing::ConfigRoot());
}

TEST(Experiment, ParsesAMinimalExperiment) {
  auto exp = Parse(Yaml());
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->name, "t");
  ASSERT_EQ(exp->scenarios.size(), 1u);
  EXPECT_EQ(exp->scenarios[0].name, "sd845/good/idle/rt");
  EXPECT_EQ(exp->models.size(), 2u);
  EXPECT_EQ(exp->policies.size(), 1u);
  EXPECT_EQ(exp->cost_models.count("sd845"), 1u);
}

TEST(Experiment, UnknownTopLevelKeySuggestsTheNearest) {
  auto exp = Parse(Yaml("train_request: 5\n"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("exp.yaml:"), std::string::npos);
  EXPECT_NE(exp.status().message().find("did you mean 'train_requests'?"), std::string::npos)
      << exp.status().message();
}

TEST(Experiment, UnknownPolicyListsTheValidNamesWithItsLocation) {
  auto exp = Parse(Yaml("", "[q_learnig]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:14:12:"), std::string::npos) << m;
  EXPECT_NE(m.find("policies[0]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'q_learning'?"), std::string::npos) << m;
  EXPECT_NE(m.find("model_greedy, oracle, q_learning, random, static"), std::string::npos) << m;
}

TEST(Experiment, UnknownStaticTargetListsTheDeviceTargets) {
  auto exp = Parse(Yaml("", "[{name: static, params: {target: gpuu}}]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("policies[0].params.target"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'gpu'?"), std::string::npos) << m;
  EXPECT_NE(m.find("cpu_big, cpu_little, gpu, dsp, cloud, nearby"), std::string::npos) << m;
}

TEST(Experiment, BadPolicyParameterNamesItsPath) {
  auto exp = Parse(Yaml("", "[{name: q_learning, params: {learning_rat: 0.5}}]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("policies[0].params.learning_rat"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'learning_rate'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownDeviceSuggestsAShippedOne) {
  std::string y = Yaml();
  y.replace(y.find("devices: [sd845]"), 16, "devices: [sd8455]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("grid.devices[0]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'sd845'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownConditionListsTheDefinedOnes) {
  std::string y = Yaml();
  y.replace(y.find("loads: [idle]"), 13, "loads: [idel]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("grid.loads"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'idle'?"), std::string::npos) << m;
}

TEST(Experiment, UnknownModelIsLocated) {
  std::string y = Yaml();
  y.replace(y.find("vgg16]"), 6, "vgg61]");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:6:"), std::string::npos) << m;
  EXPECT_NE(m.find("models[1]"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'vgg16'?"), std::string::npos) << m;
}

TEST(Experiment, MalformedYamlNamesFileLineAndColumn) {
  std::string dir = testing::TempDir("exp_syntax");
  std::string path = testing::WriteFile(dir + "/bad.yaml", "name: x\nseeds: [1, 2\n");
  auto exp = LoadExperiment(path);
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find(path + ":3:1: YAML syntax error"), std::string::npos)
      << exp.status().message();
}

TEST(Experiment, WrongTypeNamesTheKeyPath) {
  auto exp = Parse(Yaml("world: {compute_noise: lots}\n"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("world.compute_noise: expected a number, got 'lots'"),
            std::string::npos)
      << exp.status().message();
}

TEST(Experiment, RunsAndReportsEveryPolicy) {
  auto exp = Parse(Yaml("",
                        "[q_learning, model_greedy, oracle, random, "
                        "{name: static, label: always_cloud, params: {target: cloud}}]"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto res = RunExperiment(*exp);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->runs.size(), 5u);
  for (const RunSummary& r : res->runs) {
    EXPECT_EQ(r.requests, 100u) << r.policy;
    EXPECT_GT(r.energy_mj_per_inference, 0) << r.policy;
    EXPECT_GE(r.energy_vs_oracle, 0.999) << r.policy << ": nothing beats the oracle";
  }
  EXPECT_DOUBLE_EQ(res->runs[2].energy_vs_oracle, 1.0);
  EXPECT_DOUBLE_EQ(res->runs[2].oracle_agreement, 1.0);
  EXPECT_DOUBLE_EQ(res->runs[4].efficiency_vs_cloud, 1.0);
  // The oracle's QoS violations bound every other policy's.
  for (const RunSummary& r : res->runs) {
    EXPECT_GE(r.qos_violation_rate + 1e-12, res->runs[2].qos_violation_rate) << r.policy;
  }
  const std::string json = SummaryJson(*exp, *res);
  for (const char* key :
       {"\"scenario\"", "\"policy\"", "\"seed\"", "\"requests\"", "\"energy_mj_per_inference\"",
        "\"latency_ms_p50\"", "\"latency_ms_p99\"", "\"qos_violation_rate\"",
        "\"accuracy_violation_rate\"", "\"satisfied_rate\"", "\"satisfaction\"",
        "\"oracle_agreement\"", "\"energy_vs_oracle\"",
        "\"efficiency_vs_cpu\"", "\"efficiency_vs_cloud\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
}

// Issue 10, item 5: a floor no model can meet used to report 0 mJ and 0 ms for every request.
// It is refused when loading, at the key, naming the best reachable accuracy.
TEST(Experiment, AccuracyFloorNoModelCanMeetIsRefusedAtItsKey) {
  std::string y = Yaml();
  y.replace(y.find("rt: {latency_bound_ms: 50"), 25, "rt: {min_accuracy: 1.0, latency_bound_ms: 50");
  auto exp = Parse(y);
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:12:22:"), std::string::npos) << m;
  EXPECT_NE(m.find("requests.rt.min_accuracy"), std::string::npos) << m;
  EXPECT_NE(m.find("can never be met on device 'sd845'"), std::string::npos) << m;
  EXPECT_NE(m.find("'vgg16') reaches 0.71592"), std::string::npos) << m;
}

// A floor that some models meet and others cannot: the others' requests run on their most
// accurate action and count as accuracy violations at their real cost (never 0 mJ / 0 ms).
TEST(Experiment, AccuracyFloorSomeModelsMissCountsViolationsAtRealCost) {
  std::string y = Yaml("", "[q_learning, oracle]");
  y.replace(y.find("rt: {latency_bound_ms: 50"), 25, "rt: {min_accuracy: 0.713, latency_bound_ms: 50");
  auto exp = Parse(y);
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto res = RunExperiment(*exp);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  for (const RunSummary& r : res->runs) {
    // About half the requests ask for mobilenet_v1 (best 0.71 < 0.713).
    EXPECT_GT(r.accuracy_violation_rate, 0.3) << r.policy;
    EXPECT_LT(r.accuracy_violation_rate, 0.7) << r.policy;
    EXPECT_EQ(r.failure_rate, 0.0) << r.policy;
    EXPECT_GT(r.energy_mj_per_inference, 0.0) << r.policy;
    EXPECT_GT(r.latency_ms_p50, 0.0) << r.policy;
  }
}

// A request trace row whose floor its model can never meet, or that names a model outside the
// experiment, is refused at load (check-config used to pass it; sim failed mid-run), with the
// trace's file and line.
TEST(Experiment, RequestTraceRowsAreCheckedAgainstTheModelsAtLoad) {
  const std::string dir = testing::TempDir("exp_reqtrace");
  testing::WriteFile(dir + "/req.csv",
                     "time_s,model,min_accuracy\n0,vgg16,0.7\n1,mobilenet_v1,0.9\n");
  testing::WriteFile(dir + "/unknown.csv", "time_s,model\n0,vgg16\n1,resnet50\n");
  for (const auto& [file, want] :
       {std::pair<std::string, std::string>{"req.csv", "req.csv:3: min_accuracy 0.9 can never be met"},
        {"unknown.csv", "unknown.csv:3: model 'resnet50' is not in the experiment's models"}}) {
    std::string y = Yaml();
    y.replace(y.find("rt: {latency_bound_ms: 50, rate_hz: 5}"), 38,
              "rt: {latency_bound_ms: 50, trace: " + dir + "/" + file + "}");
    auto exp = Parse(y);
    ASSERT_FALSE(exp.ok()) << file;
    const std::string& m = exp.status().message();
    EXPECT_NE(m.find("requests.rt.trace"), std::string::npos) << m;
    EXPECT_NE(m.find(want), std::string::npos) << m;
  }
}

// Issue 10, item 4: sizes are checked against stated caps before anything is allocated.
TEST(Experiment, SizesAreCappedBeforeAllocating) {
  {
    auto exp = Parse(Yaml("", "[q_learning]").replace(Yaml().find("train_requests: 300"), 19,
                                                       "train_requests: 1e9"));
    ASSERT_FALSE(exp.ok());
    EXPECT_NE(exp.status().message().find("train_requests: expected a number in [0, 1e+07]"),
              std::string::npos)
        << exp.status().message();
  }
  {
    // 1e7 x 1000 epochs is within each cap but not in all: the total work is refused.
    std::string y = Yaml("train_epochs: 1000\n");
    y.replace(y.find("train_requests: 300"), 19, "train_requests: 1e7");
    y.replace(y.find("seeds: [1]"), 10, "seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]");
    auto exp = Parse(y);
    ASSERT_FALSE(exp.ok());
    EXPECT_NE(exp.status().message().find("would simulate 1.2e+11"), std::string::npos)
        << exp.status().message();
  }
}

// Jobs in flight share a memory budget: the largest jobs (1e7 + 1e7 requests, measured at a
// 0.61 GB peak) run at most six at a time, whatever --jobs asks.
TEST(Experiment, JobMemoryEstimateCoversTheMeasuredPeak) {
  Experiment e;
  e.train_requests = 10'000'000;
  e.eval_requests = 10'000'000;
  EXPECT_GE(JobMemoryBytes(e), 0.6e9);
  EXPECT_EQ(static_cast<int>(kMaxJobsMemoryBytes / JobMemoryBytes(e)), 7);
  // The default experiment's sizes, with generated quantities: every core of a big machine.
  auto exp = Parse(Yaml());
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  exp->train_requests = 100'000;
  exp->eval_requests = 5'000;
  EXPECT_GT(kMaxJobsMemoryBytes / JobMemoryBytes(*exp), 64);
  // A scenario's traces count by their samples.
  const std::string dir = testing::TempDir("exp_mem");
  std::string big = "time_s,cpu\n";
  for (int i = 0; i < 100000; ++i) big += std::to_string(i) + ",0.5\n";
  testing::WriteFile(dir + "/cpu.csv", big);
  std::string y = Yaml();
  y.replace(y.find("idle: {cpu: 0.0"), 15, "idle: {cpu: {trace: " + dir + "/cpu.csv}");
  auto traced = Parse(y);
  ASSERT_TRUE(traced.ok()) << traced.status().ToString();
  traced->train_requests = exp->train_requests;
  traced->eval_requests = exp->eval_requests;
  EXPECT_GT(JobMemoryBytes(*traced) - JobMemoryBytes(*exp), 100000 * 32.0);
}

// Issue 10, item 5: the experiment name is the report folder; it cannot leave results/.
TEST(Experiment, NameMustBeOnePlainPathComponent) {
  // "\xc3(" is not UTF-8 (a lead byte without its continuation); yaml-cpp passes it through.
  for (const char* name : {"../../x", "a/b", ".hidden", "bad\xc3" "("}) {
    std::string y = Yaml();
    y.replace(0, 7, std::string("name: ") + name + "\n");
    auto exp = Parse(y);
    ASSERT_FALSE(exp.ok()) << name;
    EXPECT_NE(exp.status().message().find("exp.yaml:1:7: name: experiment name"),
              std::string::npos)
        << exp.status().message();
  }
}

// Labels name --save-tables folders and report rows: no '/', no '..', valid UTF-8, no control
// characters; commas and spaces are fine (the reports quote them).
TEST(Experiment, PolicyLabelsAreCheckedAndCommasAllowed) {
  for (const char* label : {"../up", "a/b", "..", "bad\xc3" "(", "\"a\\tb\""}) {
    auto exp = Parse(Yaml("", std::string("[{name: q_learning, label: ") + label + "}]"));
    ASSERT_FALSE(exp.ok()) << label;
    EXPECT_NE(exp.status().message().find("policies[0].label: policy label"), std::string::npos)
        << exp.status().message();
  }
  auto exp = Parse(Yaml("", "[{name: q_learning, label: \"q, tuned\"}]"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
}

// ---- model_dir: users' models, profiles derived from their files ----------------------------

// An experiment on `models` with model_dir `dir` and a request floor `floor`.
std::string UserYaml(const std::string& dir, const std::string& models, double floor = 0) {
  std::string y = Yaml();
  y.replace(y.find("models: [mobilenet_v1, vgg16]"), 29,
            "model_dir: " + dir + "\nmodels: " + models);
  y.replace(y.find("rate_hz: 5}"), 11, "rate_hz: 5, min_accuracy: " + std::to_string(floor) + "}");
  return y;
}

// Installs a profiler for the test's lifetime that describes DIR/NAME.pt as mobilenet_v1's
// shipped numbers under NAME, with the accuracy the test sets (standing in for the import and
// the measurement, which need libtorch: tests/e2e runs the real one).
struct FakeProfiler {
  explicit FakeProfiler(double fp32 = 0.6, bool unknown = false) {
    SetUserModelProfiler([this, fp32, unknown](const std::string& dir,
                                               const std::string& name) -> Result<ModelProfile> {
      ++calls;
      ProfileCatalog catalog(testing::ConfigRoot());
      ASSIGN_OR_RETURN(auto shipped, catalog.Model("mobilenet_v1"));
      ModelProfile p = *shipped;
      p.name = name;
      p.derived_from = dir + "/" + name + ".pt";
      p.accuracy = {fp32, -1, fp32 * 0.9};
      if (unknown) {
        p.accuracy = {0, -1, 0};
        p.accuracy_unknown = dir + "/" + name + ".yaml states no fp32 accuracy";
      }
      return p;
    });
  }
  ~FakeProfiler() { SetUserModelProfiler(nullptr); }
  int calls = 0;
};

std::string UserDir(const std::string& name, const std::vector<std::string>& models) {
  const std::string dir = testing::TempDir(name);
  for (const auto& m : models) {
    testing::WriteFile(dir + "/" + m + ".pt", "a user's network");
    testing::WriteFile(dir + "/" + m + ".yaml", "input_shape: [3, 224, 224]\n");
  }
  return dir;
}

TEST(Experiment, UserModelsInModelDirAreProfiledFromTheirFilesAndRun) {
  FakeProfiler profiler;
  const std::string dir = UserDir("exp_user", {"mine", "vgg16"});
  auto exp = Parse(UserYaml(dir, "[mine, vgg16, resnet18]"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  ASSERT_EQ(exp->models.size(), 3u);
  EXPECT_EQ(profiler.calls, 2);  // mine and vgg16 (the user's file, before the shipped profile)
  EXPECT_EQ(exp->models[0].name, "mine");
  EXPECT_EQ(exp->models[0].derived_from, dir + "/mine.pt");
  EXPECT_EQ(exp->models[1].name, "vgg16");
  EXPECT_EQ(exp->models[1].derived_from, dir + "/vgg16.pt");  // not configs/models/vgg16.yaml
  EXPECT_DOUBLE_EQ(exp->models[1].Accuracy(Precision::kFp32), 0.6);
  EXPECT_TRUE(exp->models[2].derived_from.empty());  // resnet18: shipped
  RunOptions one_thread;
  one_thread.threads = 1;
  auto res = RunExperiment(*exp, one_thread);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->runs.size(), 1u);
  EXPECT_GT(res->runs[0].energy_mj_per_inference, 0);

  // `models: all` adds the folder's models to the shipped ones, each once.
  auto all = Parse(UserYaml(dir, "all"));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  int mine = 0, vgg = 0;
  for (const auto& m : all->models) {
    mine += m.name == "mine";
    vgg += m.name == "vgg16";
  }
  EXPECT_EQ(mine, 1);
  EXPECT_EQ(vgg, 1);
}

TEST(Experiment, AUserModelWithoutAProfilerSaysTheBuildCannotReadIt) {
  const std::string dir = UserDir("exp_user_noprof", {"mine"});
  auto exp = Parse(UserYaml(dir, "[mine]"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("models[0]"), std::string::npos) << m;
  EXPECT_NE(m.find(dir + "/mine.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("AUTOSCALE_WITH_TORCH"), std::string::npos) << m;
}

TEST(Experiment, ModelDirMustBeAFolderAndUnknownNamesSayWhereTheyWereLookedFor) {
  FakeProfiler profiler;
  auto exp = Parse(UserYaml("/nonexistent/models", "[mine]"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("model_dir"), std::string::npos)
      << exp.status().message();
  const std::string dir = UserDir("exp_user_missing", {"mine"});
  exp = Parse(UserYaml(dir, "[mine, theirs]"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find(dir + "/theirs.pt"), std::string::npos)
      << exp.status().message();
  exp = Parse(UserYaml(dir, "[mine, mine]"));
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.status().message().find("listed twice"), std::string::npos)
      << exp.status().message();
}

// A model whose FP32 accuracy nobody stated: no floor above 0 may be asked of it (its requests
// would only ever miss); refused at the floor's key, naming the sidecar. Floor 0 runs.
TEST(Experiment, AFloorOnAModelOfUnknownAccuracyIsRefusedNamingTheSidecar) {
  FakeProfiler profiler(0, /*unknown=*/true);
  const std::string dir = UserDir("exp_user_unknown", {"mine"});
  auto exp = Parse(UserYaml(dir, "[mine, resnet18]", 0.5));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("min_accuracy"), std::string::npos) << m;
  EXPECT_NE(m.find(dir + "/mine.yaml"), std::string::npos) << m;
  auto ok = Parse(UserYaml(dir, "[mine, resnet18]", 0));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

// ---- beliefs: the policies' profile apart from the world's (issue 12, point 6) ----------------

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// sd845.yaml with `from` replaced by `to` (once), as a profile named `name`.
std::string EditedSd845(const std::string& name, const std::string& from, const std::string& to) {
  std::string text = Slurp(testing::ConfigRoot() + "/devices/sd845.yaml");
  text.replace(text.find("name: sd845\n"), 12, "name: " + name + "\n");
  if (!from.empty()) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}

// sd845.yaml's last target entry, its pipelined CPU, to the end of the file.
std::string LastTargetOfSd845() {
  const std::string text = Slurp(testing::ConfigRoot() + "/devices/sd845.yaml");
  const size_t at = text.find("  - name: cpu_pipeline\n");
  EXPECT_NE(at, std::string::npos);
  return at == std::string::npos ? std::string() : text.substr(at);
}

TEST(Experiment, BeliefsGiveThePoliciesAnotherProfileThanTheWorld) {
  // MobileNet v1 under a relaxed bound: the choice is about energy alone.
  auto yaml = [](const std::string& extra) {
    std::string y = Yaml(extra, "[model_greedy, oracle]");
    y.replace(y.find("models: [mobilenet_v1, vgg16]"), 29, "models: [mobilenet_v1]");
    y.replace(y.find("latency_bound_ms: 50,"), 21, "latency_bound_ms: 500,");
    return y;
  };
  auto exp = Parse(yaml("beliefs: {sd845: sd845_believed}\n"));
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->beliefs.at("sd845"), "sd845_believed");
  EXPECT_EQ(exp->cost_models.at("sd845")->device().name, "sd845");
  EXPECT_EQ(exp->PolicyCostModel("sd845").device().name, "sd845_believed");
  EXPECT_EQ(exp->PolicyCostModel("sd845").actions().actions,
            exp->cost_models.at("sd845")->actions().actions);

  auto truth = Parse(yaml(""));
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  EXPECT_TRUE(truth->beliefs.empty());
  EXPECT_EQ(&truth->PolicyCostModel("sd845"), truth->cost_models.at("sd845").get());

  auto believed = RunExperiment(*exp);
  auto trusted = RunExperiment(*truth);
  ASSERT_TRUE(believed.ok() && trusted.ok());
  ASSERT_EQ(believed->runs.size(), 2u);
  // The oracle keeps the truth: the same run.
  EXPECT_EQ(believed->runs[1].energy_mj_per_inference, trusted->runs[1].energy_mj_per_inference);
  EXPECT_EQ(believed->runs[1].target_counts, trusted->runs[1].target_counts);
  // model_greedy trusts the belief (a GPU 2.5x faster at 1/2.5 the power than it is, a DSP 3x
  // slower at 2.5x the power): it moves to the GPU, and pays for it in the world.
  const RunSummary& greedy = believed->runs[0];
  const RunSummary& greedy_truth = trusted->runs[0];
  const int gpu = 2;
  ASSERT_EQ(greedy.target_names[gpu], "gpu");
  EXPECT_GT(greedy.target_counts[gpu], greedy.requests * 9 / 10);
  EXPECT_LT(greedy_truth.target_counts[gpu], greedy_truth.requests / 10);
  EXPECT_GT(greedy.energy_mj_per_inference, 1.2 * greedy_truth.energy_mj_per_inference);

  // The reports say what the policies believed.
  const auto json = nlohmann::json::parse(SummaryJson(*exp, *believed));
  EXPECT_EQ(json["beliefs"], (nlohmann::json{{"sd845", "sd845_believed"}})) << json.dump(2);
  EXPECT_FALSE(nlohmann::json::parse(SummaryJson(*truth, *trusted)).contains("beliefs"));
  std::ostringstream table;
  PrintTable(table, *exp, *believed);
  EXPECT_NE(table.str().find("the policies decide with profile sd845_believed"), std::string::npos)
      << table.str();
}

TEST(Experiment, BeliefsOnADeviceOutsideTheGridAreRefused) {
  auto exp = Parse(Yaml("beliefs: {sd855: sd845_believed}\n"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:15:"), std::string::npos) << m;
  EXPECT_NE(m.find("beliefs.sd855"), std::string::npos) << m;
  EXPECT_NE(m.find("'sd855' is not a device of the grid; did you mean 'sd845'? (grid devices: "
                   "sd845)"),
            std::string::npos)
      << m;
}

TEST(Experiment, BeliefsNameAShippedProfileOrSuggestOne) {
  auto exp = Parse(Yaml("beliefs: {sd845: sd845_beleived}\n"));
  ASSERT_FALSE(exp.ok());
  const std::string& m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:15:"), std::string::npos) << m;
  EXPECT_NE(m.find("beliefs.sd845"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'sd845_believed'?"), std::string::npos) << m;
  // Another phone with the same targets, precisions and level counts may be believed.
  auto sd855 = Parse(Yaml("beliefs: {sd845: sd855}\n"));
  EXPECT_TRUE(sd855.ok()) << sd855.status().ToString();
}

TEST(Experiment, BeliefsWithOtherActionsAreRefusedSayingWhatDiffers) {
  // sd810 has no DSP: its fourth target is the cloud.
  auto exp = Parse(Yaml("beliefs: {sd845: sd810}\n"));
  ASSERT_FALSE(exp.ok());
  std::string m = exp.status().message();
  EXPECT_NE(m.find("exp.yaml:15:"), std::string::npos) << m;
  EXPECT_NE(m.find("the policies cannot believe 'sd810' on device 'sd845'"), std::string::npos)
      << m;
  EXPECT_NE(m.find("target 4 is 'dsp' in sd845 but 'cloud' in sd810"), std::string::npos) << m;

  // Profiles beside the experiment file: precisions, levels, kinds, target counts.
  const std::string dir = testing::TempDir("exp_beliefs");
  struct Case {
    const char* file;
    std::string profile;
    const char* want;
  };
  const Case cases[] = {
      {"prec.yaml", EditedSd845("prec", "precisions: [fp32, fp16]", "precisions: [fp16, fp32]"),
       "target 'gpu' has precisions [fp32, fp16] in sd845 but [fp16, fp32] in prec"},
      {"levels.yaml", EditedSd845("levels", "      - {freq_mhz: 257, power_mw: 262}", "      #"),
       "target 'gpu' has 5 levels in sd845 but 4 in levels"},
      {"kind.yaml", EditedSd845("kind", "    kind: dsp", "    kind: gpu"),
       "target 'dsp' is of kind dsp in sd845 but gpu in kind"},
      {"fewer.yaml", EditedSd845("fewer", LastTargetOfSd845(), ""),
       "sd845 has 7 targets but fewer has 6 (target 'cpu_pipeline' is only in sd845)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    testing::WriteFile(dir + "/" + c.file, c.profile);
    const std::string path = testing::WriteFile(
        dir + "/exp.yaml", Yaml("beliefs:\n  sd845: " + std::string(c.file) + "\n"));
    auto e = LoadExperiment(path);
    ASSERT_FALSE(e.ok());
    m = e.status().message();
    EXPECT_NE(m.find(path + ":16:"), std::string::npos) << m;
    EXPECT_NE(m.find("beliefs.sd845"), std::string::npos) << m;
    EXPECT_NE(m.find(c.want), std::string::npos) << m;
  }

  // A file that is nowhere: where it was looked for (beside the experiment) is named.
  const std::string path =
      testing::WriteFile(dir + "/exp.yaml", Yaml("beliefs: {sd845: nothere.yaml}\n"));
  auto e = LoadExperiment(path);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("no device profile 'nothere.yaml' (looked for " + dir +
                                      "/nothere.yaml)"),
            std::string::npos)
      << e.status().message();
}

TEST(Experiment, BeliefProfilesResolveBesideTheExperimentFirst) {
  const std::string dir = testing::TempDir("exp_beliefs_beside");
  // Same actions, another DSP power: accepted, and the policies' cost model is this file's.
  testing::WriteFile(dir + "/mine.yaml", EditedSd845("mine", "{freq_mhz: 1000, power_mw: 1000}",
                                                     "{freq_mhz: 1000, power_mw: 3000}"));
  const std::string path =
      testing::WriteFile(dir + "/exp.yaml", Yaml("beliefs: {sd845: mine.yaml}\n"));
  auto exp = LoadExperiment(path);
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->PolicyCostModel("sd845").device().name, "mine");
  const int dsp = exp->PolicyCostModel("sd845").device().FindTarget("dsp");
  EXPECT_EQ(exp->PolicyCostModel("sd845").device().targets[dsp].levels[0].power_mw, 3000);
  EXPECT_EQ(exp->cost_models.at("sd845")->device().targets[dsp].levels[0].power_mw, 1000);
}

TEST(Experiment, ShippedMismatchExperimentBelievesTheWrongSd845) {
  auto exp = LoadExperiment(testing::ConfigRoot() + "/experiments/mismatch.yaml");
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->beliefs.at("sd845"), "sd845_believed");
  const DeviceProfile& truth = exp->cost_models.at("sd845")->device();
  const DeviceProfile& belief = exp->PolicyCostModel("sd845").device();
  EXPECT_EQ(ActionSpaceDifference(truth, belief), "");
  // Wrong by 2-3x where it matters: GPU and DSP rates and power, interference.
  for (const char* t : {"gpu", "dsp"}) {
    SCOPED_TRACE(t);
    const TargetProfile& w = truth.targets[truth.FindTarget(t)];
    const TargetProfile& b = belief.targets[belief.FindTarget(t)];
    const Precision p = w.precisions.back();
    const double rate =
        b.gmacs_per_s[0][static_cast<int>(p)] / w.gmacs_per_s[0][static_cast<int>(p)];
    const double power = b.levels[0].power_mw / w.levels[0].power_mw;
    EXPECT_TRUE((rate >= 2 && rate <= 3) || (rate >= 0.33 && rate <= 0.5)) << rate;
    EXPECT_TRUE((power >= 2 && power <= 3) || (power >= 0.33 && power <= 0.5)) << power;
  }
  const TargetProfile& wg = truth.targets[truth.FindTarget("gpu")];
  const TargetProfile& bg = belief.targets[belief.FindTarget("gpu")];
  EXPECT_NE(wg.interference_gpu, bg.interference_gpu);
}

}  // namespace
}  // namespace autoscale
