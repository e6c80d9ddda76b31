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
// conv 50 GMAC/s, fc 5, recurrent 4; INT8 rates twice those. Outputs are zeros.
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
    const double macs_ms = m.conv_macs() / 50e6 + m.fc_macs / 5e6 + m.recurrent_macs / 4e6;
    return m.layers() * 0.002 + (p == Precision::kInt8 ? macs_ms / 2 : macs_ms);
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

std::vector<FitRow> ZooRows(const std::vector<std::string>& names,
                            const std::vector<Precision>& precisions) {
  std::vector<FitRow> rows;
  for (const std::string& name : names) {
    auto g = BuildZooModel(name);
    EXPECT_TRUE(g.ok()) << name;
    const ModelProfile m = ProfileFromFeatures(ComputeFeatures(*g));
    for (Precision p : precisions) rows.push_back({m, p, FakeTarget::ExpectedMs(m, p)});
  }
  return rows;
}

TEST(Profiler, FitRecoversKnownRates) {
  const RateFit fit = FitRates(ZooRows(ZooModelNames(), {Precision::kFp32, Precision::kInt8}));
  EXPECT_EQ(fit.rows, 18);
  EXPECT_TRUE(fit.overhead_fitted);
  EXPECT_NEAR(fit.layer_overhead_us, 2, 0.01) << "one overhead for both precisions";
  EXPECT_LT(fit.mean_abs_rel_error, 1e-6);
  const double expected[kNumLayerClasses] = {50, 5, 4};
  for (Precision p : {Precision::kFp32, Precision::kInt8}) {
    const RateFit::PerPrecision& pp = fit.at(p);
    EXPECT_EQ(pp.models, 9);
    for (int c = 0; c < kNumLayerClasses; ++c) {
      const double want = expected[c] * (p == Precision::kInt8 ? 2 : 1);
      EXPECT_NEAR(pp.gmacs_per_s[c], want, 1e-3 * want) << PrecisionName(p) << " " << c;
      EXPECT_TRUE(pp.fitted[c]);
    }
    EXPECT_NE(pp.note[0].find("fitted over 9 models"), std::string::npos) << pp.note[0];
  }
  EXPECT_EQ(FitRates({}).rows, 0);
}

// Too few models for the unknowns: never a zero rate (the loader refuses one) and never a rate
// that only the layer overhead "explains"; what stands in says so.
TEST(Profiler, FitWithTooFewModelsSaysWhatItCouldNotIdentify) {
  // One CNN: no overhead, one rate for conv and fc (ResNet-18 has one fc layer), the conv rate
  // for recurrent; the rate reproduces the measurement.
  RateFit f = FitRates(ZooRows({"resnet18"}, {Precision::kFp32}));
  const RateFit::PerPrecision& one = f.at(Precision::kFp32);
  EXPECT_FALSE(f.overhead_fitted);
  EXPECT_EQ(f.layer_overhead_us, 0);
  for (int c = 0; c < kNumLayerClasses; ++c) {
    EXPECT_GT(one.gmacs_per_s[c], 0) << c;
    EXPECT_FALSE(one.fitted[c]) << c;
  }
  EXPECT_NE(one.note[0].find("one rate for conv and fc: 1 model cannot separate 2 classes"),
            std::string::npos)
      << one.note[0];
  EXPECT_NE(one.note[2].find("no recurrent layer among the measured models"), std::string::npos);
  EXPECT_LT(f.mean_abs_rel_error, 1e-9);
  // Only an LSTM model: conv takes the effective rate over its MACs.
  f = FitRates(ZooRows({"kws_lstm"}, {Precision::kInt8}));
  EXPECT_GT(f.at(Precision::kInt8).gmacs_per_s[0], 0);
  EXPECT_NE(f.at(Precision::kInt8).note[0].find("no convolution"), std::string::npos);
  EXPECT_EQ(f.at(Precision::kFp32).models, 0) << "nothing at fp32";
  // Two models, three classes, two precisions: one pooled rate per precision and the overhead
  // from the four rows.
  f = FitRates(ZooRows({"squeezenet_1_1", "kws_lstm"}, {Precision::kFp32, Precision::kInt8}));
  EXPECT_TRUE(f.overhead_fitted);
  for (Precision p : {Precision::kFp32, Precision::kInt8}) {
    for (int c = 0; c < kNumLayerClasses; ++c) EXPECT_GT(f.at(p).gmacs_per_s[c], 0);
  }
}

DeviceProfileWriteOptions WriteOptions() {
  DeviceProfileWriteOptions w;
  w.name = "measured";
  w.host = "test host";
  w.date = "2026-11-21";
  w.reference = Reference();
  w.reference_file = "configs/devices/sd845.yaml";
  w.host_freq_mhz = 2500;
  return w;
}

// The profile `autoscale profile` writes on every subset of one or two zoo models (the issue:
// one or two models wrote a profile that failed its own validation).
TEST(Profiler, EverySmallSubsetWritesAValidProfile) {
  FakeTarget cpu("cpu");
  ModelStore store;
  const std::vector<std::string> zoo = ZooModelNames();
  ProfileOptions o;
  o.models = zoo;
  o.warmup = 0;
  o.repeats = 1;
  const std::vector<ProfileCase> all = ProfileTargets({&cpu}, store, o);
  const DeviceProfileWriteOptions w = WriteOptions();
  int checked = 0;
  for (size_t i = 0; i < zoo.size(); ++i) {
    for (size_t j = i; j < zoo.size(); ++j) {
      std::vector<ProfileCase> cases;
      for (const ProfileCase& c : all) {
        if (c.model == zoo[i] || c.model == zoo[j]) cases.push_back(c);
      }
      auto fits = FitTargets(cases, {&cpu}, store, w);
      ASSERT_TRUE(fits.ok()) << fits.status().ToString();
      auto yaml = WriteDeviceProfileYaml(cases, {&cpu}, *fits, w);
      ASSERT_TRUE(yaml.ok()) << yaml.status().ToString();
      auto node = ConfigNode::LoadString(*yaml, "measured.yaml");
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      auto device = ParseDeviceProfile(*node);
      ASSERT_TRUE(device.ok()) << zoo[i] << "," << zoo[j] << ": " << device.status().ToString()
                               << "\n"
                               << *yaml;
      // What the measured models cannot identify is listed, and the measured ones predict
      // their own latency through measured_ms.
      const TargetProfile& t = device->targets[device->FindTarget("cpu")];
      EXPECT_EQ(t.measured_ms.size(), i == j ? 1u : 2u);
      if (i == j) {
        EXPECT_FALSE((*fits)[0].unfitted.empty()) << zoo[i];
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 45);
}

// A target whose first measurement of each case has one slow run in four: p95 far above the
// median, so the case is measured again and the steady measurement kept.
class SpikyTarget final : public Target {
 public:
  SpikyTarget() {
    desc_.name = "cpu";
    desc_.precisions = {Precision::kFp32};
  }
  const TargetDescription& description() const override { return desc_; }
  Status Supports(const ModelSpec&, Precision) const override { return Status::Ok(); }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec&, Precision, int, const HostTensor&) override {
    InferenceResult r;
    r.latency_ms = (++runs == 2) ? 40 : 10;
    r.output.shape = {1, 1};
    r.output.data = {0};
    return r;
  }
  int runs = 0;

 private:
  TargetDescription desc_;
};

TEST(Profiler, ReMeasuresACaseWhoseP95IsFarAboveItsMedian) {
  SpikyTarget spiky;
  ModelStore store;
  ProfileOptions o;
  o.models = {"kws_lstm"};
  o.warmup = 0;
  o.repeats = 4;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& l) { lines.push_back(l); };
  const auto cases = ProfileTargets({&spiky}, store, o);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(spiky.runs, 8) << "measured twice";
  ASSERT_EQ(cases[0].unsteady_ratios.size(), 1u);
  EXPECT_EQ(cases[0].unsteady_ratios[0], 4);
  EXPECT_EQ(cases[0].p95_ms, 10);
  EXPECT_EQ(cases[0].median_ms, 10);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("p95 40 ms is 4x the median 10 ms; measuring again"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("re-measured once (p95 was 4x the median)"), std::string::npos)
      << lines[1];
  // The profile says so beside the measurement.
  auto yaml = WriteDeviceProfileYaml(cases, {&spiky}, store, WriteOptions());
  ASSERT_TRUE(yaml.ok()) << yaml.status().ToString();
  EXPECT_NE(yaml->find("re-measured once"), std::string::npos) << *yaml;
}

TEST(Profiler, WrittenProfileLoadsAndTheCostModelUsesTheMeasurements) {
  FakeTarget cpu("cpu");
  ModelStore store;
  ProfileOptions o;
  o.models = {"mobilenet_v2", "squeezenet_1_1", "kws_lstm", "resnet18", "inception_v1"};
  o.warmup = 0;
  o.repeats = 3;
  const auto cases = ProfileTargets({&cpu}, store, o);
  const DeviceProfileWriteOptions w = WriteOptions();
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
