// `autoscale profile`'s engine on a fake target whose latency is known: cases, skipped cases,
// the rate fit, and the round trip profile -> YAML -> device profile -> cost model.
#include "targets/profiler.h"

#include <gtest/gtest.h>

#include "core/strings.h"
#include "env/cost_model.h"
#include "test_util.h"
#include "zoo/features.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

// A target whose latency follows the cost model's formula with known rates: 2 us per layer,
// conv 50 GMAC/s, fc 5, recurrent 4; INT8 twice as fast. Outputs are zeros.
class FakeTarget final : public Target {
 public:
  explicit FakeTarget(std::string name, TargetKind kind = TargetKind::kCpu, bool available = true) {
    desc_.name = std::move(name);
    desc_.kind = kind;
    desc_.precisions = {Precision::kFp32, Precision::kInt8};
    desc_.available = available;
    if (!available) desc_.unavailable_reason = "no such device here";
  }
  const TargetDescription& description() const override { return desc_; }
  Status Supports(const ModelSpec& model, Precision p) const override {
    if (model.name == "vgg16" && p == Precision::kInt8) {
      return Status::Unavailable("no int8 vgg16 on the fake");
    }
    return Status::Ok();
  }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec& model, Precision p, int,
                              const HostTensor& input) override {
    RETURN_IF_ERROR(CheckInput(model, input));
    ++runs;
    const ModelProfile m = ProfileFromFeatures(ComputeFeatures(model.graph->graph));
    InferenceResult r;
    r.latency_ms = ExpectedMs(m, p);
    r.energy_mj = r.latency_ms;  // 1 W
    r.output.shape = {1, 1};
    r.output.data = {0};
    return r;
  }
  static double ExpectedMs(const ModelProfile& m, Precision p) {
    const double ms =
        m.layers() * 0.002 + m.conv_macs() / 50e6 + m.fc_macs / 5e6 + m.recurrent_macs / 4e6;
    return p == Precision::kInt8 ? ms / 2 : ms;
  }
  int runs = 0;

 private:
  TargetDescription desc_;
};

DeviceProfile Reference() {
  auto d = LoadDeviceProfile(testing::ConfigRoot() + "/devices/sd845.yaml");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

TEST(Profiler, MeasuresCasesAndSaysWhySomeAreSkipped) {
  FakeTarget cpu("cpu"), gone("gpu0", TargetKind::kGpu, /*available=*/false);
  ModelStore store;
  ProfileOptions o;
  o.models = {"kws_lstm", "vgg16", "no_such_model"};
  o.warmup = 1;
  o.repeats = 4;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& l) { lines.push_back(l); };
  const auto cases = ProfileTargets({&cpu, &gone}, store, o);
  ASSERT_EQ(cases.size(), 12u);  // 2 targets x 3 models x 2 precisions
  EXPECT_EQ(lines.size(), 12u);
  EXPECT_NE(lines[0].find("[1/12] cpu kws_lstm fp32"), std::string::npos) << lines[0];
  EXPECT_EQ(cpu.runs, 3 * 5) << "kws fp32, kws int8, vgg fp32: 1 warm-up + 4 timed each";
  int ok = 0;
  for (const auto& c : cases) {
    if (c.status.ok()) {
      ++ok;
      EXPECT_EQ(c.runs, 4);
      EXPECT_GT(c.median_ms, 0);
      EXPECT_EQ(c.median_ms, c.p95_ms) << "the fake is deterministic";
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(cases[3].status.code(), StatusCode::kUnavailable) << "vgg16 int8";
  EXPECT_EQ(cases[4].status.code(), StatusCode::kNotFound) << "no_such_model";
  EXPECT_NE(cases[6].status.message().find("no such device here"), std::string::npos);
}

TEST(Profiler, FitRecoversKnownRates) {
  std::vector<std::pair<ModelProfile, double>> rows;
  for (const std::string& name : ZooModelNames()) {
    auto g = BuildZooModel(name);
    ASSERT_TRUE(g.ok());
    const ModelProfile m = ProfileFromFeatures(ComputeFeatures(*g));
    rows.emplace_back(m, FakeTarget::ExpectedMs(m, Precision::kFp32));
  }
  const RateFit fit = FitRates(rows);
  EXPECT_EQ(fit.models, 9);
  EXPECT_NEAR(fit.gmacs_per_s[0], 50, 0.01);
  EXPECT_NEAR(fit.gmacs_per_s[1], 5, 0.01);
  EXPECT_NEAR(fit.gmacs_per_s[2], 4, 0.01);
  EXPECT_NEAR(fit.layer_overhead_us, 2, 0.01);
  EXPECT_LT(fit.mean_abs_rel_error, 1e-6);
  EXPECT_EQ(FitRates({}).models, 0);
}

TEST(Profiler, WrittenProfileLoadsAndTheCostModelUsesTheMeasurements) {
  FakeTarget cpu("cpu");
  ModelStore store;
  ProfileOptions o;
  o.models = {"mobilenet_v2", "squeezenet_1_1", "kws_lstm", "resnet18", "inception_v1"};
  o.warmup = 0;
  o.repeats = 3;
  const auto cases = ProfileTargets({&cpu}, store, o);
  DeviceProfileWriteOptions w;
  w.name = "measured";
  w.host = "test host";
  w.date = "2026-11-21";
  w.reference = Reference();
  w.reference_file = "configs/devices/sd845.yaml";
  w.host_freq_mhz = 2500;
  auto yaml = WriteDeviceProfileYaml(cases, {&cpu}, store, w);
  ASSERT_TRUE(yaml.ok()) << yaml.status().ToString();
  // Every number carries its source, like the shipped profiles.
  for (std::string_view line : Split(*yaml, '\n')) {
    if (line.find_first_of("0123456789") != std::string_view::npos && line[0] != '#' &&
        line.find("name:") == std::string_view::npos &&
        line.find("description") == std::string_view::npos &&
        line.find("precisions:") == std::string_view::npos) {
      EXPECT_NE(line.find('#'), std::string_view::npos) << line;
    }
  }
  const std::string path =
      testing::WriteFile(testing::TempDir("profile") + "/measured.yaml", *yaml);
  auto device = LoadDeviceProfile(path);
  ASSERT_TRUE(device.ok()) << device.status().ToString() << "\n" << *yaml;
  const int t = device->FindTarget("cpu");
  ASSERT_GE(t, 0);
  const TargetProfile& cp = device->targets[t];
  EXPECT_EQ(cp.levels.size(), 1u);
  EXPECT_EQ(cp.levels[0].freq_mhz, 2500);
  EXPECT_EQ(cp.levels[0].power_mw, 3908) << "no counters: the reference's top level";
  ASSERT_EQ(cp.measured_ms.size(), 5u);
  EXPECT_GE(device->FindTarget("dsp"), -1);
  EXPECT_GE(device->FindTarget("cloud"), 0) << "remote targets come from the reference";
  // The cost model predicts the measured latency for a measured model (no load, level 0) and
  // the fitted formula for one that was not measured.
  ProfileCatalog catalog(testing::ConfigRoot());
  std::vector<ModelProfile> models;
  for (const char* m : {"mobilenet_v2", "resnet50"}) models.push_back(**catalog.Model(m));
  auto cm = CostModel::Create(*device, models, catalog);
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  for (int mi = 0; mi < 2; ++mi) {
    const ModelProfile& m = models[mi];
    const double expected = FakeTarget::ExpectedMs(m, Precision::kFp32);
    EXPECT_NEAR(LocalComputeMs(cp, 0, Precision::kFp32, m), expected, 1e-3 * expected) << m.name;
  }
}

TEST(Profiler, NothingMeasuredIsAnError) {
  FakeTarget gone("cpu", TargetKind::kCpu, false);
  ModelStore store;
  ProfileOptions o;
  o.models = {"kws_lstm"};
  const auto cases = ProfileTargets({&gone}, store, o);
  DeviceProfileWriteOptions w;
  w.reference = Reference();
  auto yaml = WriteDeviceProfileYaml(cases, {&gone}, store, w);
  EXPECT_EQ(yaml.status().code(), StatusCode::kUnavailable);
}

TEST(DeviceProfile, MeasuredLatencyErrorsAreLocated) {
  const std::string base = R"(name: x
role: phone
base_power_mw: 1   # test
idle_power_mw: 1   # test
targets:
  - name: cpu
    kind: cpu
    precisions: [fp32]
    gmacs_per_s: {conv: {fp32: 1}}
    levels: [{freq_mhz: 1, power_mw: 1}]
)";
  auto ok = ParseDeviceProfile(
      *ConfigNode::LoadString(base + "    measured_ms: {resnet18: {fp32: 12.5}}\n", "x.yaml"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->targets[0].measured_ms.at("resnet18")[0], 12.5);
  auto bad = ParseDeviceProfile(
      *ConfigNode::LoadString(base + "    measured_ms: {resnet18: {int8: 3}}\n", "x.yaml"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("x.yaml:11:"), std::string::npos) << bad.status().message();
  auto neg = ParseDeviceProfile(
      *ConfigNode::LoadString(base + "    measured_ms: {resnet18: {fp32: -1}}\n", "x.yaml"));
  EXPECT_FALSE(neg.ok());
}

}  // namespace
}  // namespace autoscale
