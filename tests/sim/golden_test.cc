// Golden run (STYLE.md 9): a fixed experiment and seed give a fixed summary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

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

// The same bits on every machine: the vectorised loops have clones for AVX-512 and AVX2
// (core/vector_clones.h), and GCC fuses a * b + c into one instruction, rounding once instead of
// twice, wherever the target has FMA, unless told not to (CMakeLists.txt: -ffp-contract=off).
// Checked on the code itself, as the machine running this may take another clone than the one
// that would differ: no fused multiply-add in any of the project's functions in this binary (the
// simulator's libraries, linked statically; GoogleTest's and the C library's code, built
// elsewhere, are not the project's to check).
TEST(Golden, NoFusedMultiplyAddInTheSimulatorsCode) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the check reads x86-64 mnemonics";
#else
  if (!testing::HaveProgram("objdump")) GTEST_SKIP() << "objdump (binutils) is not installed";
  // This test program's path (in the shell, /proc/self would be objdump), quoted for the shell.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  std::string quoted = "'";
  for (const char* c = self; *c != '\0'; ++c) {
    quoted += *c == '\'' ? std::string("'\\''") : std::string(1, *c);
  }
  quoted += "'";
  const testing::ShellResult dump = testing::RunShell("objdump -d --no-show-raw-insn " + quoted);
  std::set<std::string> fused;  // the project's functions holding one
  std::string function;
  bool ours = false;
  size_t functions = 0;  // the project's functions seen
  std::istringstream lines(dump.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > 3 && line[0] != ' ' && line.find(">:") != std::string::npos) {
      function = line + "\n";
      ours = line.find("autoscale") != std::string::npos;  // _ZN9autoscale...
      functions += ours;
    }
    if (!ours) continue;
    for (const char* m : {"\tvfmadd", "\tvfmsub", "\tvfnmadd", "\tvfnmsub"}) {
      if (line.find(m) != std::string::npos) fused.insert(function);
    }
  }
  ASSERT_EQ(dump.code, 0) << "objdump failed on " << self;
  // The disassembly reached the simulator's code (its vectorised loops among it).
  ASSERT_GT(functions, 100u);
  std::string list;
  for (const std::string& f : fused) list += f;
  EXPECT_TRUE(fused.empty()) << "fused multiply-adds in:\n" << list;
#endif
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
