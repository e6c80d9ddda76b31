// targets/cpufreq.h on fake sysfs trees: levels read and checked, a level written before and
// what was found restored after (also when what runs in between fails), no permission or no
// cpufreq as one level with a reason, garbage as a reason naming the file, leases on one policy
// serialised, and the mapping of a profile's levels onto the host's.
#include "targets/cpufreq.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>

#include "cpufreq_fakes.h"

namespace autoscale {
namespace {

using testing::Contents;
using testing::FakePolicy;
using testing::JournalingFiles;
using testing::MakeCpufreqTree;
using testing::PolicyDir;

std::unique_ptr<CpufreqControl> Open(const std::string& root, std::vector<int> cpus,
                                     std::shared_ptr<SysfsFiles> files = nullptr) {
  CpufreqOptions o;
  o.sysfs_root = root;
  o.cpus = std::move(cpus);
  o.files = std::move(files);
  return CpufreqControl::Open(o);
}

std::vector<std::string> Journal(const JournalingFiles& f) {
  std::vector<std::string> out;
  for (const auto& e : f.journal()) out.push_back(e.file + "=" + e.value);
  return out;
}

TEST(Cpufreq, LevelsAreTheAvailableFrequenciesHighestFirst) {
  FakePolicy p;
  p.available = "600000 2400000 1200000 1800000";  // kernels list them either way
  const std::string root = MakeCpufreqTree("cpufreq_levels", {p});
  auto c = Open(root, {0, 1});
  ASSERT_TRUE(c->settable()) << c->why_not();
  EXPECT_EQ(c->levels_khz(), (std::vector<int64_t>{2400000, 1800000, 1200000, 600000}));
  EXPECT_EQ(c->levels_mhz(), (std::vector<double>{2400, 1800, 1200, 600}));
  EXPECT_EQ(c->policy_dir(), PolicyDir(root, 0));
  EXPECT_NE(c->description().find("policy0 (CPUs 0-1): 4 levels, 2400 to 600 MHz"),
            std::string::npos)
      << c->description();
  EXPECT_NE(c->description().find("scaling_setspeed (userspace governor)"), std::string::npos);
}

TEST(Cpufreq, WithoutAnAvailableListTheCpuinfoRangeInSteps) {
  FakePolicy p;
  p.available = "";
  p.governor = "powersave";
  p.cpuinfo_max = "2050000";
  p.cpuinfo_min = "1800000";
  const std::string root = MakeCpufreqTree("cpufreq_range", {p});
  auto c = Open(root, {0});
  ASSERT_TRUE(c->settable()) << c->why_not();
  EXPECT_EQ(c->levels_khz(), (std::vector<int64_t>{2050000, 1950000, 1850000, 1800000}));
  EXPECT_NE(c->description().find("100 MHz steps"), std::string::npos) << c->description();
  EXPECT_NE(c->description().find("scaling_max_freq (powersave governor)"), std::string::npos);

  CpufreqOptions o;
  o.sysfs_root = root;
  o.cpus = {0};
  o.max_levels = 2;  // the highest ones are kept
  EXPECT_EQ(CpufreqControl::Open(o)->levels_khz(), (std::vector<int64_t>{2050000, 1950000}));
}

TEST(Cpufreq, UserspaceGovernorSetsScalingSetspeedAndRestoresIt) {
  const std::string root = MakeCpufreqTree("cpufreq_userspace", {FakePolicy{}});
  auto files = std::make_shared<JournalingFiles>();
  auto c = Open(root, {0, 1}, files);
  ASSERT_TRUE(c->settable()) << c->why_not();
  files->ClearJournal();  // Open wrote the current values back (its permission check)
  const std::string setspeed = PolicyDir(root, 0) + "/scaling_setspeed";
  {
    auto lease = c->Set(2);
    ASSERT_TRUE(lease.ok()) << lease.status().message();
    EXPECT_EQ(Contents(setspeed), "1200000");
    EXPECT_EQ(lease->setting().level, 2);
    EXPECT_EQ(lease->setting().asked_khz, 1200000);
    EXPECT_EQ(lease->setting().read_back_khz, 1200000);
    EXPECT_EQ(lease->setting().read_back_level, 2);
    EXPECT_TRUE(lease->Restore().ok());
    EXPECT_EQ(Contents(setspeed), "1800000");
    EXPECT_TRUE(lease->Restore().ok());  // idempotent: nothing written twice
  }
  EXPECT_EQ(Journal(*files),
            (std::vector<std::string>{"scaling_setspeed=1200000", "scaling_setspeed=1800000"}));
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_max_freq"), "2400000");  // untouched

  auto bad = c->Set(4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("levels 0..3; got 4"), std::string::npos);
}

TEST(Cpufreq, OtherGovernorsSetScalingMaxFreqAndMinWhenItIsAboveTheLevel) {
  FakePolicy p;
  p.governor = "schedutil";
  p.min = "1500000";
  const std::string root = MakeCpufreqTree("cpufreq_maxfreq", {p});
  auto files = std::make_shared<JournalingFiles>();
  auto c = Open(root, {1}, files);
  ASSERT_TRUE(c->settable()) << c->why_not();
  files->ClearJournal();
  const std::string dir = PolicyDir(root, 0);
  {
    auto lease = c->Set(1);  // 1800 MHz: above min, only max moves
    ASSERT_TRUE(lease.ok()) << lease.status().message();
    EXPECT_EQ(Contents(dir + "/scaling_max_freq"), "1800000");
    EXPECT_EQ(lease->setting().read_back_khz, 1800000);
  }  // destroyed: restores
  EXPECT_EQ(Contents(dir + "/scaling_max_freq"), "2400000");
  {
    auto lease = c->Set(3);  // 600 MHz: below min 1500, min is lowered first
    ASSERT_TRUE(lease.ok()) << lease.status().message();
    EXPECT_EQ(Contents(dir + "/scaling_max_freq"), "600000");
    EXPECT_EQ(Contents(dir + "/scaling_min_freq"), "600000");
  }
  EXPECT_EQ(Contents(dir + "/scaling_max_freq"), "2400000");
  EXPECT_EQ(Contents(dir + "/scaling_min_freq"), "1500000");
  EXPECT_EQ(Contents(dir + "/scaling_setspeed"), "<unsupported>");
  // Max raised before min on the way back, so that min never exceeds max.
  EXPECT_EQ(Journal(*files),
            (std::vector<std::string>{"scaling_max_freq=1800000", "scaling_max_freq=2400000",
                                      "scaling_min_freq=600000", "scaling_max_freq=600000",
                                      "scaling_max_freq=2400000", "scaling_min_freq=1500000"}));
}

// What runs under the lease throws: unwinding destroys the lease, which restores.
TEST(Cpufreq, AFailedRunRestoresWhatWasFound) {
  const std::string root = MakeCpufreqTree("cpufreq_throw", {FakePolicy{}});
  auto c = Open(root, {0});
  ASSERT_TRUE(c->settable()) << c->why_not();
  const std::string setspeed = PolicyDir(root, 0) + "/scaling_setspeed";
  auto run = [&]() -> Status {
    auto lease = c->Set(3);
    if (!lease.ok()) return lease.status();
    EXPECT_EQ(Contents(setspeed), "600000");
    throw std::runtime_error("forward pass failed");
  };
  EXPECT_THROW(static_cast<void>(run()), std::runtime_error);
  EXPECT_EQ(Contents(setspeed), "1800000");
}

// The kernel answers garbage when the setting is read back: Set fails naming the file, and
// what it wrote is undone.
TEST(Cpufreq, GarbageReadBackFailsTheSetAndRestores) {
  const std::string root = MakeCpufreqTree("cpufreq_readback", {FakePolicy{}});
  auto files = std::make_shared<JournalingFiles>();
  auto c = Open(root, {0}, files);
  ASSERT_TRUE(c->settable()) << c->why_not();
  files->ClearJournal();
  // Reads of setspeed give garbage once the level is written (the first read, what the lease
  // finds, is the real one).
  files->OnWrite([&](const std::string& f, const std::string& v) {
    if (f == "scaling_setspeed" && v == "600000") files->Garbage("scaling_setspeed", "fast\x01");
  });
  auto lease = c->Set(3);
  ASSERT_FALSE(lease.ok());
  EXPECT_NE(lease.status().message().find("scaling_setspeed holds 'fast?'"), std::string::npos)
      << lease.status().message();
  files->Garbage("scaling_setspeed", "", /*clear=*/true);
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_setspeed"), "1800000");
  EXPECT_EQ(Journal(*files),
            (std::vector<std::string>{"scaling_setspeed=600000", "scaling_setspeed=1800000"}));
}

TEST(Cpufreq, AWriteFailingHalfwayUndoesWhatWasWritten) {
  FakePolicy p;
  p.governor = "ondemand";
  p.min = "1500000";
  const std::string root = MakeCpufreqTree("cpufreq_halfway", {p});
  auto files = std::make_shared<JournalingFiles>();
  auto c = Open(root, {0}, files);
  ASSERT_TRUE(c->settable()) << c->why_not();
  files->ClearJournal();
  // Min goes down to 600, then max refuses 600: min goes back up.
  files->OnWrite([&](const std::string& f, const std::string& v) {
    if (f == "scaling_min_freq" && v == "600000") files->Refuse("scaling_max_freq", EINVAL);
    if (f == "scaling_min_freq" && v == "1500000") files->Refuse("scaling_max_freq", 0);
  });
  auto lease = c->Set(3);
  ASSERT_FALSE(lease.ok());
  EXPECT_NE(lease.status().message().find("writing 600000 to " + PolicyDir(root, 0) +
                                          "/scaling_max_freq failed: Invalid argument"),
            std::string::npos)
      << lease.status().message();
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_min_freq"), "1500000");
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_max_freq"), "2400000");
}

// A restore that fails is owed: the next Set on the policy, from any control, retries it first,
// and fails (changing nothing) while it cannot.
TEST(Cpufreq, AFailedRestoreIsRetriedBeforeTheNextSet) {
  const std::string root = MakeCpufreqTree("cpufreq_owed", {FakePolicy{}});
  auto files = std::make_shared<JournalingFiles>();
  auto c = Open(root, {0}, files);
  auto other = Open(root, {1}, files);
  ASSERT_TRUE(c->settable() && other->settable());
  const std::string setspeed = PolicyDir(root, 0) + "/scaling_setspeed";
  {
    auto lease = c->Set(2);
    ASSERT_TRUE(lease.ok());
    files->Refuse("scaling_setspeed", EIO);
    Status s = lease->Restore();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("restoring " + PolicyDir(root, 0)), std::string::npos)
        << s.message();
  }
  EXPECT_EQ(Contents(setspeed), "1200000");
  auto refused = other->Set(0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("still not restored"), std::string::npos);
  files->Refuse("scaling_setspeed", 0);
  files->ClearJournal();
  {
    auto lease = other->Set(0);
    ASSERT_TRUE(lease.ok()) << lease.status().message();
    EXPECT_EQ(Contents(setspeed), "2400000");
  }
  EXPECT_EQ(Contents(setspeed), "1800000");  // what the first lease found
  EXPECT_EQ(Journal(*files),
            (std::vector<std::string>{"scaling_setspeed=1800000", "scaling_setspeed=2400000",
                                      "scaling_setspeed=1800000"}));
}

TEST(Cpufreq, NoPermissionIsOneLevelWithTheReason) {
  for (int err : {EACCES, EPERM, EROFS}) {
    const std::string root = MakeCpufreqTree("cpufreq_perm", {FakePolicy{}});
    auto files = std::make_shared<JournalingFiles>();
    files->Refuse("scaling_setspeed", err);
    auto c = Open(root, {0}, files);
    EXPECT_FALSE(c->settable());
    EXPECT_TRUE(c->levels_khz().empty());
    EXPECT_NE(
        c->why_not().find("no permission to set the frequency: writing 1800000 to " +
                          PolicyDir(root, 0) + "/scaling_setspeed failed: " + std::strerror(err)),
        std::string::npos)
        << c->why_not();
    auto set = c->Set(0);
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.status().code(), StatusCode::kUnavailable);
  }
  // The real refusal, where this test is not root (root writes read-only files).
  if (::geteuid() != 0) {
    FakePolicy p;
    p.governor = "schedutil";
    const std::string root = MakeCpufreqTree("cpufreq_perm_real", {p});
    std::filesystem::permissions(PolicyDir(root, 0) + "/scaling_max_freq",
                                 std::filesystem::perms::owner_read);
    auto c = Open(root, {0});
    EXPECT_FALSE(c->settable());
    EXPECT_NE(c->why_not().find("Permission denied"), std::string::npos) << c->why_not();
  }
}

TEST(Cpufreq, NoCpufreqOrNoPolicyForTheCpusIsOneLevelWithTheReason) {
  auto none = Open(testing::TempDir("cpufreq_none"), {0});
  EXPECT_FALSE(none->settable());
  EXPECT_NE(none->why_not().find("no cpufreq at"), std::string::npos) << none->why_not();

  FakePolicy little, big;
  little.related_cpus = "0 1";
  big.index = 2;
  big.related_cpus = "2 3";
  const std::string root = MakeCpufreqTree("cpufreq_clusters", {little, big});
  auto span = Open(root, {1, 2});
  EXPECT_FALSE(span->settable());
  EXPECT_NE(span->why_not().find(
                "CPUs 1-2 span policy0 (CPUs 0-1) and policy2 (CPUs 2-3): pin the target"),
            std::string::npos)
      << span->why_not();
  auto uncovered = Open(root, {7});
  EXPECT_FALSE(uncovered->settable());
  EXPECT_NE(uncovered->why_not().find("covers CPUs 7"), std::string::npos);
  auto one = Open(root, {2, 3});
  ASSERT_TRUE(one->settable()) << one->why_not();
  EXPECT_EQ(one->policy_dir(), PolicyDir(root, 2));
}

// Garbage in any file read is a reason naming the file, never a crash or a wrong level.
TEST(Cpufreq, GarbageInAFileIsAReasonNamingIt) {
  struct Case {
    std::string file, text, expect;
  };
  const std::vector<Case> cases = {
      {"scaling_available_frequencies", "2400000 fast 600000", "holds 'fast' among"},
      {"scaling_available_frequencies", " \n", "lists no frequencies"},
      {"scaling_available_frequencies", "-1200000", "holds '-1200000'"},
      {"scaling_available_frequencies", "999999999999999999999", "not kHz"},
      {"related_cpus", "zero one", "holds 'zero', not a CPU number"},
      {"related_cpus", "", "lists no CPUs"},
      {"scaling_governor", "user space\x7f", "not a governor name"},
      {"scaling_setspeed", "<unsupported>", "holds '<unsupported>', not a frequency in kHz"},
      {"scaling_setspeed",
       std::string("12\0"
                   "34",
                   5),
       "holds '12?34'"},
  };
  for (const Case& k : cases) {
    const std::string root = MakeCpufreqTree("cpufreq_garbage", {FakePolicy{}});
    testing::WriteFile(PolicyDir(root, 0) + "/" + k.file, k.text);
    auto c = Open(root, {0});
    EXPECT_FALSE(c->settable()) << k.file << " = " << k.text;
    EXPECT_NE(c->why_not().find(k.file), std::string::npos) << c->why_not();
    EXPECT_NE(c->why_not().find(k.expect), std::string::npos) << c->why_not();
  }
  // Without the available list, the cpuinfo range is checked.
  FakePolicy p;
  p.available = "";
  p.cpuinfo_min = "3000000";
  auto inverted = Open(MakeCpufreqTree("cpufreq_garbage_range", {p}), {0});
  EXPECT_FALSE(inverted->settable());
  EXPECT_NE(inverted->why_not().find("cpuinfo_min_freq (3000 MHz) is above"), std::string::npos)
      << inverted->why_not();
}

TEST(Cpufreq, NothingOutsideTheSysfsRootIsWritten) {
  const std::string outside = MakeCpufreqTree("cpufreq_outside_target", {FakePolicy{}});
  const std::string root = testing::TempDir("cpufreq_outside");
  std::filesystem::create_directories(root + "/devices/system/cpu/cpufreq");
  std::filesystem::create_directory_symlink(PolicyDir(outside, 0),
                                            root + "/devices/system/cpu/cpufreq/policy0");
  auto c = Open(root, {0});
  EXPECT_FALSE(c->settable());
  EXPECT_NE(c->why_not().find("resolves outside the sysfs root"), std::string::npos)
      << c->why_not();
}

// Two controls on one policy (two targets on one cluster, on two threads): the second Set waits
// until the first lease has restored, so neither restores under the other's run.
TEST(Cpufreq, LeasesOnOnePolicyAreSerialised) {
  const std::string root = MakeCpufreqTree("cpufreq_serial", {FakePolicy{}});
  auto files = std::make_shared<JournalingFiles>();
  auto a = Open(root, {0}, files);
  auto b = Open(root, {1}, files);
  ASSERT_TRUE(a->settable() && b->settable());
  files->ClearJournal();
  auto first = a->Set(0);
  ASSERT_TRUE(first.ok());
  std::promise<void> b_set;
  std::thread other([&] {
    auto second = b->Set(3);
    ASSERT_TRUE(second.ok()) << second.status().message();
    files->Mark("b running", testing::Contents(PolicyDir(root, 0) + "/scaling_setspeed"));
    b_set.set_value();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Journal(*files), (std::vector<std::string>{"scaling_setspeed=2400000"}));
  ASSERT_TRUE(first->Restore().ok());
  b_set.get_future().wait();
  other.join();
  EXPECT_EQ(Journal(*files),
            (std::vector<std::string>{"scaling_setspeed=2400000", "scaling_setspeed=1800000",
                                      "scaling_setspeed=600000", "b running=600000",
                                      "scaling_setspeed=1800000"}));
}

TEST(Cpufreq, ProfileLevelsMapToTheNearestHostFrequencies) {
  // Pixel 3's big cluster (scaling_available_frequencies) and the sd845 profile's cpu_big.
  const std::vector<double> host = {2649.6, 2553.6, 2476.8, 2400,   2323.2, 2246.4, 2169.6, 2092.8,
                                    1996.8, 1920,   1843.2, 1766.4, 1689.6, 1612.8, 1536,   1459.2,
                                    1363.2, 1286.4, 1209.6, 1056,   979.2,  902.4,  825.6};
  auto m = MapLevelsByFrequency({2649.6, 2092.8, 1612.8, 1209.6, 825.6}, host);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, (std::vector<int>{0, 7, 13, 18, 22}));
  auto coarse = MapLevelsByFrequency({2649.6, 1612.8, 825.6}, {2400, 1800, 1200, 600});
  ASSERT_TRUE(coarse.ok()) << coarse.status().message();
  EXPECT_EQ(*coarse, (std::vector<int>{0, 1, 3}));
  // A host narrower than the profile: two profile levels would run at one frequency.
  auto narrow = MapLevelsByFrequency({2649.6, 2092.8, 1612.8}, {1500, 1200, 600});
  ASSERT_FALSE(narrow.ok());
  EXPECT_NE(narrow.status().message().find(
                "profile levels 2649.6 and 2092.8 MHz would both run at 1500 MHz"),
            std::string::npos)
      << narrow.status().message();
  EXPECT_NE(narrow.status().message().find("cpufreq: off"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
