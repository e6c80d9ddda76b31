// The CPU target's frequency levels on a fake cpufreq tree (tests/cpufreq_fakes.h): the
// policy's frequencies as levels, each run's level written before the forward pass and what was
// found restored after (also when the forward pass fails), the frequency that ran reported, and
// one level with the reason where the host does not allow setting it.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "cpufreq_fakes.h"
#include "targets/cpu/cpu_target.h"
#include "targets/model_store.h"
#include "test_util.h"

namespace autoscale {
namespace {

using testing::Contents;
using testing::FakePolicy;
using testing::JournalingFiles;
using testing::PolicyDir;

std::shared_ptr<const ModelSpec> Zoo(const std::string& name) {
  static ModelStore* store = new ModelStore();
  auto spec = store->Get(name);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

// One policy holding every CPU this process may run on (the target is not pinned).
std::string Tree(const std::string& name, FakePolicy p = {}) {
  std::string cpus;
  for (int c : AllowedCpus()) cpus += std::to_string(c) + " ";
  p.related_cpus = cpus;
  return testing::MakeCpufreqTree(name, {p});
}

CpuOptions OnTree(const std::string& root, std::shared_ptr<SysfsFiles> files) {
  CpuOptions o;
  o.threads = 1;
  o.use_counters = false;
  o.sysfs_root = root;
  o.sysfs_files = std::move(files);
  o.power.level_power_mw = {4000, 1000};
  o.power.level_freq_mhz = {2400, 1200};
  o.power.base_power_mw = 0;
  o.power.source = "test";
  return o;
}

std::vector<std::string> Journal(const JournalingFiles& f) {
  std::vector<std::string> out;
  for (const auto& e : f.journal()) out.push_back(e.file + "=" + e.value);
  return out;
}

TEST(CpuTargetFrequency, RunsAtEachLevelOfThePolicyAndRestores) {
  const std::string root = Tree("cpu_freq_levels");
  auto files = std::make_shared<JournalingFiles>();
  auto target = CpuTarget::Create(OnTree(root, files));
  const TargetDescription& d = target->description();
  ASSERT_EQ(d.levels, 4) << d.notes;
  EXPECT_EQ(d.level_freq_mhz, (std::vector<double>{2400, 1800, 1200, 600}));
  EXPECT_NE(d.notes.find("frequency set for each run and restored after: cpufreq policy0"),
            std::string::npos)
      << d.notes;
  files->ClearJournal();
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 1);
  const std::string setspeed = PolicyDir(root, 0) + "/scaling_setspeed";
  std::vector<std::string> want;
  for (int level = 0; level < 4; ++level) {
    auto r = target->Run(*spec, Precision::kFp32, level, in);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->level, level);
    EXPECT_DOUBLE_EQ(r->freq_mhz, d.level_freq_mhz[level]);
    // Modelled energy: the power of the profile level nearest the frequency that ran (2400 and
    // 1800 MHz: 4000 mW, a tie going to the higher level; 1200 and 600 MHz: 1000 mW).
    const double power = level <= 1 ? 4000 : 1000;
    EXPECT_DOUBLE_EQ(r->energy_mj, power * r->latency_ms / 1000.0) << level;
    EXPECT_EQ(Contents(setspeed), "1800000");
    want.push_back("scaling_setspeed=" +
                   std::to_string(static_cast<int>(d.level_freq_mhz[level]) * 1000));
    want.push_back("scaling_setspeed=1800000");
  }
  EXPECT_EQ(Journal(*files), want);
  auto bad = target->Run(*spec, Precision::kFp32, 4, in);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("frequency levels 0..3; got level 4"), std::string::npos)
      << bad.status().message();
}

// A TorchScript model that raises on inputs it was not made for: the run fails inside the
// lease, and the setting is restored all the same.
TEST(CpuTargetFrequency, AFailingForwardPassRestoresTheSetting) {
  const std::string dir = testing::TempDir("cpu_freq_raise");
  if (!testing::ScriptModule(dir, "picky",
                             "class M(torch.nn.Module):\n"
                             "    def forward(self, x):\n"
                             "        if bool(x.abs().max() > 1000.0):\n"
                             "            raise RuntimeError('input out of range')\n"
                             "        return x.flatten(1) * 2\n"
                             "model = M()\nshape = [3, 4, 4]\n")) {
    GTEST_SKIP() << "python3-torch cannot script modules here";
  }
  ModelSpec spec;
  spec.name = "picky";
  spec.torchscript_path = dir + "/picky.pt";
  spec.input_shape = {3, 4, 4};
  FakePolicy p;
  p.governor = "schedutil";
  p.min = "1500000";
  const std::string root = Tree("cpu_freq_raise_tree", p);
  auto files = std::make_shared<JournalingFiles>();
  auto target = CpuTarget::Create(OnTree(root, files));
  ASSERT_EQ(target->description().levels, 4) << target->description().notes;
  files->ClearJournal();
  HostTensor in;
  in.shape = {1, 3, 4, 4};
  in.data.assign(48, 0.5f);
  auto ok = target->Run(spec, Precision::kFp32, 3, in);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_FLOAT_EQ(ok->output.data[0], 1.0f);
  in.data[5] = 1e6f;
  auto failed = target->Run(spec, Precision::kFp32, 3, in);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("model 'picky' failed on target 'cpu'"),
            std::string::npos)
      << failed.status().message();
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_max_freq"), "2400000");
  EXPECT_EQ(Contents(PolicyDir(root, 0) + "/scaling_min_freq"), "1500000");
  const std::vector<std::string> one_run = {"scaling_min_freq=600000", "scaling_max_freq=600000",
                                            "scaling_max_freq=2400000", "scaling_min_freq=1500000"};
  std::vector<std::string> want = one_run;
  want.insert(want.end(), one_run.begin(), one_run.end());
  EXPECT_EQ(Journal(*files), want);
}

TEST(CpuTargetFrequency, WithoutPermissionOrCpufreqOneLevelAndTheNotesSayWhy) {
  auto spec = Zoo("squeezenet_1_1");
  const HostTensor in = MakeHostInput(*spec, 1);
  const std::string root = Tree("cpu_freq_perm");
  auto files = std::make_shared<JournalingFiles>();
  files->Refuse("scaling_setspeed", EROFS);
  auto target = CpuTarget::Create(OnTree(root, files));
  EXPECT_EQ(target->description().levels, 1);
  EXPECT_TRUE(target->description().level_freq_mhz.empty());
  EXPECT_NE(target->description().notes.find("the host's frequency is not set (one level): no "
                                             "permission to set the frequency"),
            std::string::npos)
      << target->description().notes;
  EXPECT_NE(target->description().notes.find("Read-only file system"), std::string::npos);
  auto r = target->Run(*spec, Precision::kFp32, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->freq_mhz, 0);
  EXPECT_TRUE(files->journal().empty());
  EXPECT_FALSE(target->Run(*spec, Precision::kFp32, 1, in).ok());

  auto none = CpuTarget::Create(OnTree(testing::TempDir("cpu_freq_none"), nullptr));
  EXPECT_EQ(none->description().levels, 1);
  EXPECT_NE(none->description().notes.find("one level): no cpufreq at"), std::string::npos)
      << none->description().notes;

  CpuOptions off = OnTree(root, std::make_shared<JournalingFiles>());
  off.set_frequency = false;
  auto disabled = CpuTarget::Create(off);
  EXPECT_EQ(disabled->description().levels, 1);
  EXPECT_NE(disabled->description().notes.find("frequency setting is off"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
