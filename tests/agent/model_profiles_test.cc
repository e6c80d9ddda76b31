// Profiles of users' models derived from their files (agent/model_profiles.h): features from the
// import, accuracy from the sidecar or estimated from measured top-1 agreement with FP32, an
// unknown FP32 accuracy never defaulted; and the daemon building its engine from them, a user's
// file named like a zoo model described as itself. Torch-free: a fake importer and targets
// (tests/agent/user_model_fakes.h); the real importer and targets are exercised in tests/e2e.
#include "agent/model_profiles.h"

#include <cstdio>
#include <fstream>
#include <future>
#include <set>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/model_store.h"
#include "test_util.h"
#include "user_model_fakes.h"

namespace autoscale {
namespace {

using testing::FakeImporter;
using testing::FlippingTarget;

constexpr int kI8 = static_cast<int>(Precision::kInt8);
constexpr int kF32 = static_cast<int>(Precision::kFp32);
constexpr int kF16 = static_cast<int>(Precision::kFp16);

// DIR/NAME.pt (any bytes: the fake importer does not read it) and DIR/NAME.yaml.
std::string UserModel(const std::string& dir, const std::string& name,
                      const std::string& sidecar_extra) {
  testing::WriteFile(dir + "/" + name + ".pt", "a user's network");
  testing::WriteFile(dir + "/" + name + ".yaml", "input_shape: [3, 224, 224]\n" + sidecar_extra);
  return dir;
}

// A raw float32 input whose first value is `first` (the FlippingTarget flips odd ones at INT8).
void WriteSample(const std::string& path, float first) {
  std::vector<float> v(3 * 224 * 224, 0.0f);
  v[0] = first;
  for (int i = 1; i < 10; ++i) v[i] = static_cast<float>(i);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

TEST(ModelProfiles, FeaturesFromTheFileAccuracyFromTheSidecarOrEstimated) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_derive");
  UserModel(dir, "net", "accuracy: {fp32: 0.8, source: \"the author's ImageNet run\"}\n");
  ModelStore store(dir);
  auto spec = store.Get("net");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  FlippingTarget cpu("cpu");
  ProfileMeasurers m{&cpu, {&cpu}};
  auto p = DeriveModelProfile(**spec, m);
  ASSERT_TRUE(p.ok()) << p.status().message();
  // Features: the import's (squeezenet_1_1's, here), not a hand-written profile.
  auto g = BuildZooModel("squeezenet_1_1");
  ASSERT_TRUE(g.ok());
  const ModelFeatures f = ComputeFeatures(*g);
  EXPECT_EQ(p->conv_layers, f.conv_layers);
  EXPECT_DOUBLE_EQ(p->macs, static_cast<double>(f.macs));
  EXPECT_DOUBLE_EQ(p->params, static_cast<double>(f.params));
  EXPECT_EQ(p->derived_from, dir + "/net.pt");
  // FP32 from the sidecar, INT8 estimated: seeded inputs never flip, so agreement 1.
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kFp32), 0.8);
  EXPECT_EQ(p->accuracy_source[kF32], "sidecar: the author's ImageNet run");
  EXPECT_FALSE(p->accuracy_estimated[kF32]);
  EXPECT_TRUE(p->accuracy_estimated[kI8]);
  EXPECT_DOUBLE_EQ(p->agreement[kI8], 1.0);
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kInt8), 0.8);
  EXPECT_NE(p->accuracy_source[kI8].find("32 seeded inputs"), std::string::npos)
      << p->accuracy_source[kI8];
  // No target here runs FP16 and the sidecar states none: not offered, and said so.
  EXPECT_FALSE(p->HasPrecision(Precision::kFp16));
  EXPECT_NE(p->accuracy_source[kF16].find("not offered"), std::string::npos);
  EXPECT_TRUE(p->accuracy_unknown.empty());
  EXPECT_EQ(cpu.fp32_runs, 4);  // 32 inputs, 8 at a time
  EXPECT_EQ(cpu.int8_runs, 4);
}

TEST(ModelProfiles, AgreementIsMeasuredOnTheSidecarsSamplesWhenItNamesThem) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_samples");
  UserModel(dir, "net", "accuracy: {fp32: 0.8, source: \"test\"}\nsamples: calib\n");
  std::filesystem::create_directories(dir + "/calib");
  for (int i = 0; i < 4; ++i) WriteSample(dir + "/calib/net_" + std::to_string(i) + ".f32", i);
  testing::WriteFile(dir + "/calib/other.f32", "not this model's");  // not NAME*.f32: ignored
  ModelStore store(dir);
  auto spec = store.Get("net");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  FlippingTarget cpu("cpu");
  auto p = DeriveModelProfile(**spec, {&cpu, {&cpu}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_DOUBLE_EQ(p->agreement[kI8], 0.5);  // inputs 1 and 3 flip
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kInt8), 0.4);
  EXPECT_NE(p->accuracy_source[kI8].find("4 sample inputs from " + dir + "/calib"),
            std::string::npos)
      << p->accuracy_source[kI8];
  EXPECT_NE(p->accuracy_source[kI8].find("estimated: fp32 0.800 x top-1 agreement 0.500"),
            std::string::npos)
      << p->accuracy_source[kI8];

  // A sample of the wrong size is an error naming it.
  testing::WriteFile(dir + "/calib/net_9.f32", "short");
  ModelStore store2(dir);
  auto p2 = DeriveModelProfile(**store2.Get("net"), {&cpu, {&cpu}});
  ASSERT_FALSE(p2.ok());
  EXPECT_NE(p2.status().message().find("net_9.f32"), std::string::npos) << p2.status().message();
}

TEST(ModelProfiles, AStatedPrecisionIsTakenAsStatedNotMeasured) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_stated");
  UserModel(dir, "net", "accuracy: {fp32: 0.7, int8: 0.69, source: \"model card\"}\n");
  ModelStore store(dir);
  FlippingTarget cpu("cpu");
  auto p = DeriveModelProfile(**store.Get("net"), {&cpu, {&cpu}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kInt8), 0.69);
  EXPECT_FALSE(p->accuracy_estimated[kI8]);
  EXPECT_EQ(cpu.int8_runs, 0);
}

// No FP32 accuracy: never defaulted. Accuracy 0 everywhere (no floor above 0 is met) and the
// profile names the sidecar to complete; agreement is still measured and reported.
TEST(ModelProfiles, AnUnstatedFp32AccuracyIsUnknownNamingTheSidecar) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_unknown");
  UserModel(dir, "net", "");
  ModelStore store(dir);
  FlippingTarget cpu("cpu");
  auto p = DeriveModelProfile(**store.Get("net"), {&cpu, {&cpu}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_NE(p->accuracy_unknown.find(dir + "/net.yaml"), std::string::npos) << p->accuracy_unknown;
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kFp32), 0);
  EXPECT_DOUBLE_EQ(p->Accuracy(Precision::kInt8), 0);
  EXPECT_DOUBLE_EQ(p->agreement[kI8], 1.0);
}

TEST(ModelProfiles, NoImporterOrAnIncompleteImportIsAnErrorNamingTheFile) {
  const std::string dir = testing::TempDir("profiles_noimport");
  UserModel(dir, "net", "accuracy: {fp32: 0.8, source: test}\n");
  FlippingTarget cpu("cpu");
  {
    ModelStore store(dir);  // no importer installed: no features
    auto p = DeriveModelProfile(**store.Get("net"), {&cpu, {&cpu}});
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find(dir + "/net.pt"), std::string::npos);
    EXPECT_NE(p.status().message().find("cannot import TorchScript"), std::string::npos)
        << p.status().message();
  }
  ModelSpec partial;
  partial.name = "net";
  partial.torchscript_path = dir + "/net.pt";
  partial.input_shape = {3, 224, 224};
  auto f = std::make_shared<ModelFeatures>();
  f->complete = false;
  f->uncounted = {"aten::weird_op (node 3)"};
  partial.features = f;
  auto p = DeriveModelProfile(partial, {&cpu, {&cpu}});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("aten::weird_op"), std::string::npos) << p.status().message();
}

LocalTargetFactory Flipping() {
  return [](const TargetBinding& b, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
    return std::unique_ptr<Target>(new FlippingTarget(b.name));
  };
}

DaemonConfig UserConfig(const std::string& dir, std::vector<std::string> models) {
  DaemonConfig c;
  c.device = "sd845";
  c.models = std::move(models);
  c.model_dir = dir;
  c.engine.default_latency_bound_ms = 500;
  c.probes.interval_ms = 50;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  c.targets.push_back(cpu);
  TargetBinding dsp;
  dsp.name = "dsp";
  dsp.backend = "dsp";
  c.targets.push_back(dsp);
  return c;
}

// A user's mobilenet_v2.pt is the user's model in the daemon too: described from its file (not
// by configs/models/mobilenet_v2.yaml, which describes the zoo's graph), beside a zoo model.
TEST(ModelProfiles, TheDaemonDescribesAUserModelNamedLikeTheZoosFromItsFile) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_daemon");
  UserModel(dir, "mobilenet_v2", "accuracy: {fp32: 0.5, source: test}\n");
  auto engine =
      BuildEngine(UserConfig(dir, {"mobilenet_v2", "resnet18"}), testing::ConfigRoot(), Flipping());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const EngineModel& user = (*engine)->models()[(*engine)->ModelIndex("mobilenet_v2")];
  EXPECT_EQ(user.spec.torchscript_path, dir + "/mobilenet_v2.pt");
  EXPECT_EQ(user.profile.derived_from, dir + "/mobilenet_v2.pt");
  EXPECT_DOUBLE_EQ(user.profile.Accuracy(Precision::kFp32), 0.5);  // not the zoo's 0.718
  auto g = BuildZooModel("squeezenet_1_1");                        // what the fake importer "read"
  EXPECT_DOUBLE_EQ(user.profile.macs, static_cast<double>(ComputeFeatures(*g).macs));
  const EngineModel& zoo = (*engine)->models()[(*engine)->ModelIndex("resnet18")];
  EXPECT_TRUE(zoo.spec.torchscript_path.empty());
  EXPECT_TRUE(zoo.profile.derived_from.empty());
  // Every bound target that can run it is offered: cpu_big at fp32 and int8, the dsp at int8.
  Observation obs;
  std::vector<int> feasible;
  (*engine)->ObserveAndDecide((*engine)->ModelIndex("mobilenet_v2"), 500, 0, &obs, &feasible);
  std::set<std::string> offered;
  for (int a : feasible) {
    const std::string& name = (*engine)->cost_model().actions().names[a];
    offered.insert(name.substr(0, name.find('/', name.find('/') + 1)));
  }
  EXPECT_EQ(offered, (std::set<std::string>{"cpu_big/fp32", "cpu_big/int8", "dsp/int8"}));
  std::promise<Engine::Reply> done;
  Engine::Request r;
  r.model = "mobilenet_v2";
  r.input = MakeHostInput(user.spec, 1);
  (*engine)->Submit(std::move(r), [&](Engine::Reply reply) { done.set_value(reply); });
  Engine::Reply reply = done.get_future().get();
  EXPECT_TRUE(reply.status.ok()) << reply.status.message();
}

TEST(ModelProfiles, TheDaemonRefusesFloorsOnAModelOfUnknownAccuracy) {
  FakeImporter importer;
  const std::string dir = testing::TempDir("profiles_daemon_unknown");
  UserModel(dir, "net", "");
  DaemonConfig c = UserConfig(dir, {"net"});
  c.file = dir + "/daemon.yaml";
  c.engine.default_min_accuracy = 0.5;  // would apply to every request for 'net': refused
  auto refused = BuildEngine(c, testing::ConfigRoot(), Flipping());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("defaults.min_accuracy"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find(dir + "/net.yaml"), std::string::npos)
      << refused.status().message();

  c.engine.default_min_accuracy = 0;
  auto engine = BuildEngine(c, testing::ConfigRoot(), Flipping());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const ModelSpec& spec = (*engine)->models()[0].spec;
  for (float floor : {0.0f, 0.3f}) {
    std::promise<Engine::Reply> done;
    Engine::Request r;
    r.model = "net";
    r.input = MakeHostInput(spec, 1);
    r.min_accuracy = floor;
    (*engine)->Submit(std::move(r), [&](Engine::Reply reply) { done.set_value(reply); });
    Engine::Reply reply = done.get_future().get();
    if (floor == 0) {
      EXPECT_TRUE(reply.status.ok()) << reply.status.message();
    } else {
      EXPECT_EQ(reply.status.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(reply.status.message().find(dir + "/net.yaml"), std::string::npos)
          << reply.status.message();
    }
  }
}

}  // namespace
}  // namespace autoscale
