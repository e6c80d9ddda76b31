// `autoscale sim --shard I/N` and `autoscale merge` as a cluster runs them (issue 13, point 8);
// the library's side is tests/sim/shard_test.cc.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <utility>

#include "core/file_util.h"
#include "test_util.h"

namespace autoscale {
namespace {

// Output and exit status of a shell command (stderr with stdout).
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The same through the program: `sim --shard I/N` thrice, then `merge`.
TEST(Shard, CommandLineShardsAndMerge) {
  const std::string bin = AUTOSCALE_BINARY;
  const std::string exp = testing::TestData("golden.yaml");
  const std::string base = testing::TempDir("shard_cli");
  auto [code, out] = Shell(bin + " sim " + exp + " --quiet --out " + base + "/whole");
  ASSERT_EQ(code, 0) << out;
  for (int i = 0; i < 3; ++i) {
    std::tie(code, out) = Shell(bin + " sim " + exp + " --quiet --shard " + std::to_string(i) +
                                "/3 --out " + base + "/s" + std::to_string(i));
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("shard " + std::to_string(i) + "/3"), std::string::npos) << out;
    // A slice writes only what merge joins.
    EXPECT_FALSE(std::filesystem::exists(base + "/s" + std::to_string(i) + "/summary.json"));
  }
  std::tie(code, out) =
      Shell(bin + " merge " + base + "/merged " + base + "/s0 " + base + "/s1 " + base + "/s2");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("q_learning"), std::string::npos) << out;  // the table
  for (const char* file : {"summary.json", "runs.csv", "runs.json"}) {
    EXPECT_EQ(*ReadFile(base + "/whole/" + file), *ReadFile(base + "/merged/" + file)) << file;
  }
  std::tie(code, out) = Shell(bin + " merge " + base + "/m2 " + base + "/s0 " + base + "/s2");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("1 of 3 shards missing: 1"), std::string::npos) << out;
  std::tie(code, out) = Shell(bin + " sim " + exp + " --shard 3/3");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--shard expects I/N"), std::string::npos) << out;
  std::tie(code, out) = Shell(bin + " merge --help");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Usage: autoscale merge [OPTIONS] OUT SHARD..."), std::string::npos) << out;
}

}  // namespace
}  // namespace autoscale
