// check-config's library: a file's kind from its content, every kind checked as its program
// loads it, and hostile files refused with an error rather than a crash.
#include "schema/config_check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace autoscale {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Status Check(const std::string& path, std::string* kind) {
  return CheckConfigFile(path, testing::ConfigRoot(), kind);
}

// Every shipped YAML file is recognised as the kind its folder holds, and passes.
TEST(ConfigCheck, EveryShippedFileIsRecognisedAndPasses) {
  const std::map<std::string, std::string> by_folder = {
      {"devices", "device profile"}, {"networks", "network profile"}, {"models", "model profile"},
      {"scenarios", "conditions"},   {"experiments", "experiment"},   {"mahimahi", "experiment"},
      {"daemon", "daemon config"}};
  int checked = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(testing::ConfigRoot())) {
    if (e.path().extension() != ".yaml") continue;
    const std::string folder = e.path().parent_path().filename().string();
    ASSERT_TRUE(by_folder.count(folder)) << e.path();
    std::string kind;
    Status st = Check(e.path().string(), &kind);
    EXPECT_EQ(kind, by_folder.at(folder)) << e.path();
    ++checked;
    // The Mahimahi experiments read ../shared traces and tables earlier runs write: their kind
    // is told, their loading is sim's business.
    if (folder == "mahimahi") continue;
    EXPECT_TRUE(st.ok()) << e.path() << ": " << st.message();
  }
  EXPECT_GE(checked, 30);
}

// A kind is told by content wherever the file lies, and each kind's own checks run.
TEST(ConfigCheck, KindsAreToldByContentNotFolder) {
  const std::string dir = testing::TempDir("config_check_kinds");
  struct Case {
    std::string file, text, kind;
  };
  const std::vector<Case> cases = {
      {"n.yaml",
       "name: n\nkind: wifi\nmin_signal_dbm: -90\ncurve: [{signal_dbm: -90, down_mbps: 1, "
       "up_mbps: 1, rtt_ms: 10}]\npower: {up_mw_per_mbps: 1, down_mw_per_mbps: 1, base_mw: 1}\n",
       "network profile"},
      {"m.yaml",
       "name: m\nlayers: {conv: 1}\nmacs: 1e6\ninput_bytes: 4\noutput_bytes: 4\n"
       "accuracy: {fp32: 0.5}\n",
       "model profile"},
      {"s.yaml", "loads: {busy: {cpu: 0.5}}\nrequests: {rt: {latency_bound_ms: 50}}\n",
       "conditions"},
      {"sidecar.yaml", "input_shape: [3, 8, 8]\naccuracy: {fp32: 0.5, source: test}\n",
       "model sidecar"},
      {"d.yaml",
       "models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\npolicy: model_greedy\n",
       "daemon config"},
  };
  for (const Case& c : cases) {
    const std::string path = testing::WriteFile(dir + "/" + c.file, c.text);
    std::string kind;
    Status st = Check(path, &kind);
    EXPECT_TRUE(st.ok()) << c.file << ": " << st.message();
    EXPECT_EQ(kind, c.kind) << c.file;
  }
  // The same model profile with a misspelt key is still a model profile, whose loader names it.
  const std::string bad =
      testing::WriteFile(dir + "/m2.yaml",
                         "name: m2\nlayers: {conv: 1}\nmacs: 1e6\ninput_bytes: 4\noutput_byte: 4\n"
                         "accuracy: {fp32: 0.5}\n");
  std::string kind;
  Status st = Check(bad, &kind);
  EXPECT_EQ(kind, "model profile");
  EXPECT_TRUE(Contains(st.message(),
                       "m2.yaml:5:1: output_byte: unknown key 'output_byte'; did "
                       "you mean 'output_bytes'?"))
      << st.message();
}

TEST(ConfigCheck, DaemonConfigsAreCheckedAgainstTheirDeviceModelsAndPolicy) {
  const std::string dir = testing::TempDir("config_check_daemon");
  auto check = [&](const std::string& text) {
    const std::string path = testing::WriteFile(dir + "/d.yaml", text);
    return CheckDaemonConfig(path, testing::ConfigRoot());
  };
  EXPECT_TRUE(check("models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\n").ok());
  Status st = check("models: [mobilenet_v2]\ntargets: {cpu_bgi: {backend: cpu}}\n");
  EXPECT_TRUE(Contains(st.message(),
                       "targets.cpu_bgi: device 'sd845' has no such target; did "
                       "you mean 'cpu_big'?"))
      << st.message();
  st = check("models: [no_such_model]\ntargets: {cpu_big: {backend: cpu}}\n");
  EXPECT_TRUE(Contains(st.message(), "models: 'no_such_model'")) << st.message();
  st = check("device: nowhere\nmodels: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\n");
  EXPECT_TRUE(Contains(st.message(), "d.yaml: device")) << st.message();
  st = check(
      "models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\n"
      "policy: {name: q_learning, params: {epsilon_start: 2}}\n");
  EXPECT_TRUE(Contains(st.message(),
                       "d.yaml:3:52: policy.params.epsilon_start: expected a number in [0, 1], "
                       "got 2"))
      << st.message();
  st = check("models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\nfallback: gpu\n");
  EXPECT_TRUE(Contains(st.message(), "fallback: 'gpu' is not a local target bound"))
      << st.message();
  st = check("models: [mobilenet_v2]\ntargets: {cpu_big: {backend: cpu}}\nio_threads: 100\n");
  EXPECT_EQ(st.message(),
            dir + "/d.yaml:3:13: io_threads: expected an integer in [1, 64], got 100");
}

// Files no kind fits, or two equally, and hostile ones: an error naming what was seen.
TEST(ConfigCheck, UnknownAmbiguousAndHostileFilesGetAClearError) {
  const std::string dir = testing::TempDir("config_check_hostile");
  auto check = [&](const std::string& name, const std::string& text) {
    const std::string path = testing::WriteFile(dir + "/" + name, text);
    std::string kind = "unset";
    Status st = Check(path, &kind);
    EXPECT_FALSE(st.ok()) << name;
    return std::pair{st.message(), kind};
  };
  auto [empty, k0] = check("empty.yaml", "");
  EXPECT_TRUE(Contains(empty,
                       "empty.yaml:1:1: cannot tell which kind of configuration this is: "
                       "expected a map of keys at the top level, got nothing"))
      << empty;
  EXPECT_EQ(k0, "");
  auto [list, k1] = check("list.yaml", "- grid\n- policies\n");
  EXPECT_TRUE(Contains(list,
                       "list.yaml:1:1: cannot tell which kind of configuration this is: "
                       "expected a map of keys at the top level, got a list"))
      << list;
  auto [unknown, k2] = check("unknown.yaml", "colour: red\nsize: 3\n");
  EXPECT_TRUE(Contains(unknown,
                       "unknown.yaml:1:1: cannot tell which kind of configuration this "
                       "is: its top-level keys (colour, size) are none of any kind's own"))
      << unknown;
  EXPECT_TRUE(Contains(unknown, "an experiment has grid, policies, config_root")) << unknown;
  EXPECT_TRUE(Contains(unknown, "a network profile has kind, min_signal_dbm, curve, power"))
      << unknown;
  auto [both, k3] = check("both.yaml", "grid: {}\ncurve: []\n");
  EXPECT_TRUE(Contains(both,
                       "both.yaml:1:1: cannot tell which kind of configuration this is: its "
                       "top-level keys (grid, curve) fit an experiment and a network "
                       "profile equally"))
      << both;
  // The bytes of an ELF header, NULs included (14 bytes; the literal's own NUL is not one).
  constexpr char kElf[] =
      "\x7f"
      "ELF\x02\x01\x01\0\0\0\xff\xfe{[";
  auto [garbage, k4] = check("garbage.yaml", std::string(kElf, sizeof(kElf) - 1));
  EXPECT_TRUE(Contains(garbage, "garbage.yaml:")) << garbage;
  // Deep nesting is refused by the parser or read as a map of no kind, without a crash.
  std::string deep(100000, '[');
  auto [nested, k5] = check("deep.yaml", "a: " + deep + "\n");
  EXPECT_TRUE(Contains(nested, "deep.yaml:")) << nested.substr(0, 300);
  // A billion-laughs alias bomb: aliases are shared, not expanded; no kind has these keys.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    const char prev = static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
  }
  auto [laughs, k6] = check("bomb.yaml", bomb);
  EXPECT_TRUE(Contains(laughs, "bomb.yaml:1:1: cannot tell which kind")) << laughs;
  // A folder is not a file.
  std::string kind;
  EXPECT_TRUE(Contains(Check(dir, &kind).message(), "is a directory"))
      << Check(dir, &kind).message();
}

}  // namespace
}  // namespace autoscale
