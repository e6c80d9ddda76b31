#include "env/profiles.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/config.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Returns `text` with the one occurrence of `from` replaced by `to` (the test fails if absent).
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << "'" << from << "' not in the test text";
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

ConfigNode Load(const std::string& text) {
  auto r = ConfigNode::LoadString(text);  // "<string>": no name/file check
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

Result<ModelProfile> ParseModel(const std::string& text) { return ParseModelProfile(Load(text)); }
Result<NetworkProfile> ParseNetwork(const std::string& text) {
  return ParseNetworkProfile(Load(text));
}
Result<DeviceProfile> ParseDevice(const std::string& text) {
  return ParseDeviceProfile(Load(text));
}

// Expects an InvalidArgument error whose message contains every part.
template <typename T>
void ExpectError(const Result<T>& r, const std::vector<std::string>& parts) {
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << parts.front() << "'";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  for (const auto& p : parts) {
    EXPECT_TRUE(Contains(r.status().message(), p))
        << "message '" << r.status().message() << "' lacks '" << p << "'";
  }
}

fs::path TempDir() {
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  fs::path base = (env && *env) ? fs::path(env) : fs::temp_directory_path();
  fs::path dir = base / ("autoscale_env_profiles_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

fs::path WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path);
  out << text;
  EXPECT_TRUE(out.good()) << path;
  return path;
}

class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(TempDir(), ec);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

// ---- Models ----------------------------------------------------------------------------------

// Line numbers matter: error tests check them.
const char* const kModel = R"(name: m
task: test
layers:
  conv: 10
  fc: 2
  recurrent: 1
macs: 30.0e6
fc_macs: 2.0e6
recurrent_macs: 3.0e6
params: 1.5e6
input_bytes: 10000
output_bytes: 1000
accuracy:
  fp32: 0.8
  fp16: 0.79
  int8: 0.75
)";

TEST(ModelProfileTest, ParsesEveryField) {
  auto r = ParseModel(kModel);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelProfile& m = *r;
  EXPECT_EQ(m.name, "m");
  EXPECT_EQ(m.task, "test");
  EXPECT_EQ(m.conv_layers, 10);
  EXPECT_EQ(m.fc_layers, 2);
  EXPECT_EQ(m.recurrent_layers, 1);
  EXPECT_EQ(m.layers(), 13);
  EXPECT_DOUBLE_EQ(m.macs, 30e6);
  EXPECT_DOUBLE_EQ(m.fc_macs, 2e6);
  EXPECT_DOUBLE_EQ(m.recurrent_macs, 3e6);
  EXPECT_DOUBLE_EQ(m.conv_macs(), 25e6);
  EXPECT_DOUBLE_EQ(m.params, 1.5e6);
  EXPECT_DOUBLE_EQ(m.input_bytes, 10000);
  EXPECT_DOUBLE_EQ(m.output_bytes, 1000);
  EXPECT_TRUE(m.HasPrecision(Precision::kFp32));
  EXPECT_TRUE(m.HasPrecision(Precision::kFp16));
  EXPECT_TRUE(m.HasPrecision(Precision::kInt8));
  EXPECT_DOUBLE_EQ(m.Accuracy(Precision::kFp32), 0.8);
  EXPECT_DOUBLE_EQ(m.Accuracy(Precision::kFp16), 0.79);
  EXPECT_DOUBLE_EQ(m.Accuracy(Precision::kInt8), 0.75);
}

TEST(ModelProfileTest, OptionalFieldsDefault) {
  auto r = ParseModel(R"(name: m
layers: {conv: 3}
macs: 1e6
input_bytes: 10
output_bytes: 4
accuracy: {fp32: 0.5}
)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->task, "");
  EXPECT_EQ(r->fc_layers, 0);
  EXPECT_EQ(r->recurrent_layers, 0);
  EXPECT_DOUBLE_EQ(r->fc_macs, 0);
  EXPECT_DOUBLE_EQ(r->recurrent_macs, 0);
  EXPECT_DOUBLE_EQ(r->conv_macs(), 1e6);
  EXPECT_DOUBLE_EQ(r->params, 0);
  // An omitted precision is absent, not zero accuracy.
  EXPECT_FALSE(r->HasPrecision(Precision::kFp16));
  EXPECT_FALSE(r->HasPrecision(Precision::kInt8));
  EXPECT_LT(r->Accuracy(Precision::kInt8), 0);
}

TEST(ModelProfileTest, AccuracyZeroAndOneAreValid) {
  auto r = ParseModel(Replace(Replace(kModel, "fp32: 0.8", "fp32: 1"), "int8: 0.75", "int8: 0"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->Accuracy(Precision::kFp32), 1.0);
  EXPECT_TRUE(r->HasPrecision(Precision::kInt8));
  EXPECT_DOUBLE_EQ(r->Accuracy(Precision::kInt8), 0.0);
}

TEST(ModelProfileTest, UnknownTopLevelKeySuggestsNearest) {
  ExpectError(ParseModel(Replace(kModel, "fc_macs:", "fc_mac:")),
              {"<string>:8:1: fc_mac: unknown key 'fc_mac'", "did you mean 'fc_macs'?",
               "valid keys: name, task, layers"});
}

TEST(ModelProfileTest, UnknownNestedKeySuggestsNearest) {
  ExpectError(
      ParseModel(Replace(kModel, "  recurrent: 1", "  recurent: 1")),
      {"<string>:6:3: layers.recurent: unknown key 'recurent'", "did you mean 'recurrent'?"});
  ExpectError(ParseModel(Replace(kModel, "  int8: 0.75", "  int4: 0.75")),
              {"<string>:16:3: accuracy.int4: unknown key 'int4'", "did you mean 'int8'?"});
}

TEST(ModelProfileTest, FcPlusRecurrentMacsMustNotExceedMacs) {
  // 2e6 + 3e6 = 5e6 > 4e6.
  ExpectError(ParseModel(Replace(kModel, "macs: 30.0e6", "macs: 4.0e6")),
              {"<string>:1:1: ", "fc_macs + recurrent_macs exceed macs"});
  // Equal is fine: no conv MACs.
  auto r = ParseModel(Replace(kModel, "macs: 30.0e6", "macs: 5.0e6"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->conv_macs(), 0);
}

TEST(ModelProfileTest, AccuracyOutsideUnitIntervalIsRejected) {
  ExpectError(ParseModel(Replace(kModel, "int8: 0.75", "int8: 1.2")),
              {"<string>:16:9: accuracy.int8: expected a number in [0, 1], got 1.2"});
  ExpectError(ParseModel(Replace(kModel, "fp16: 0.79", "fp16: -0.1")),
              {"<string>:15:9: accuracy.fp16: expected a number in [0, 1], got -0.1"});
}

TEST(ModelProfileTest, Fp32AccuracyIsRequired) {
  ExpectError(ParseModel(Replace(kModel, "  fp32: 0.8\n", "")),
              {"<string>:14:3: accuracy: missing required key 'fp32'"});
}

TEST(ModelProfileTest, LayerCountsAreChecked) {
  ExpectError(ParseModel(Replace(Replace(Replace(kModel, "conv: 10", "conv: 0"), "fc: 2", "fc: 0"),
                                 "recurrent: 1", "recurrent: 0")),
              {"<string>:4:3: layers: ", "at least one layer"});
  ExpectError(ParseModel(Replace(kModel, "fc: 2", "fc: -1")),
              {"<string>:5:7: layers.fc: expected an integer in [0, 100000], got -1"});
  ExpectError(ParseModel(Replace(kModel, "conv: 10", "conv: 2.5")),
              {"<string>:4:9: layers.conv: expected an integer, got '2.5'"});
}

TEST(ModelProfileTest, RequiredKeysAndRanges) {
  ExpectError(ParseModel(Replace(kModel, "macs: 30.0e6\n", "")),
              {"<string>:1:1: missing required key 'macs'"});
  ExpectError(ParseModel(Replace(kModel, "input_bytes: 10000", "input_bytes: 0")),
              {"<string>:11:14: input_bytes: expected a number in [1, "});
  ExpectError(ParseModel(Replace(kModel, "output_bytes: 1000", "output_bytes: lots")),
              {"<string>:12:15: output_bytes: expected a number, got 'lots'"});
}

TEST(ModelProfileTest, NameMustMatchFileStem) {
  fs::path bad = WriteFile(TempDir() / "mymodel.yaml", Replace(kModel, "name: m", "name: other"));
  auto r = LoadModelProfile(bad.string());
  ExpectError(
      r, {bad.string() + ":1:1: ", "name 'other' does not match the file name 'mymodel.yaml'"});

  fs::path good = WriteFile(TempDir() / "m.yaml", kModel);
  auto ok = LoadModelProfile(good.string());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->name, "m");
}

TEST(ModelProfileTest, ErrorsInFilesNameTheFile) {
  fs::path p = WriteFile(TempDir() / "m.yaml", Replace(kModel, "int8: 0.75", "int8: 7.5"));
  ExpectError(LoadModelProfile(p.string()), {p.string() + ":16:9: accuracy.int8: "});
  auto missing = LoadModelProfile((TempDir() / "absent.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// ---- Networks --------------------------------------------------------------------------------

const char* const kNetwork = R"(name: n
kind: wifi
min_signal_dbm: -90
curve:
  - {signal_dbm: -90, down_mbps: 10, up_mbps: 5, rtt_ms: 40}
  - {signal_dbm: -70, down_mbps: 50, up_mbps: 25, rtt_ms: 20}
  - {signal_dbm: -50, down_mbps: 100, up_mbps: 50, rtt_ms: 10}
power:
  up_mw_per_mbps: 300
  down_mw_per_mbps: 100
  base_mw: 200
  tail_mw: 150
  tail_s: 0.5
  promotion_mw: 250
  promotion_s: 0.1
)";

TEST(NetworkProfileTest, ParsesEveryField) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const NetworkProfile& n = *r;
  EXPECT_EQ(n.name, "n");
  EXPECT_EQ(n.kind, NetworkKind::kWifi);
  EXPECT_DOUBLE_EQ(n.min_signal_dbm, -90);
  ASSERT_EQ(n.curve.size(), 3u);
  EXPECT_DOUBLE_EQ(n.curve[1].signal_dbm, -70);
  EXPECT_DOUBLE_EQ(n.curve[1].down_mbps, 50);
  EXPECT_DOUBLE_EQ(n.curve[1].up_mbps, 25);
  EXPECT_DOUBLE_EQ(n.curve[1].rtt_ms, 20);
  EXPECT_DOUBLE_EQ(n.up_mw_per_mbps, 300);
  EXPECT_DOUBLE_EQ(n.down_mw_per_mbps, 100);
  EXPECT_DOUBLE_EQ(n.base_mw, 200);
  EXPECT_DOUBLE_EQ(n.tail_mw, 150);
  EXPECT_DOUBLE_EQ(n.tail_s, 0.5);
  EXPECT_DOUBLE_EQ(n.promotion_mw, 250);
  EXPECT_DOUBLE_EQ(n.promotion_s, 0.1);
}

TEST(NetworkProfileTest, KindsParse) {
  auto cell = ParseNetwork(Replace(kNetwork, "kind: wifi", "kind: cellular"));
  ASSERT_TRUE(cell.ok()) << cell.status().ToString();
  EXPECT_EQ(cell->kind, NetworkKind::kCellular);
  auto p2p = ParseNetwork(Replace(kNetwork, "kind: wifi", "kind: wifi_direct"));
  ASSERT_TRUE(p2p.ok()) << p2p.status().ToString();
  EXPECT_EQ(p2p->kind, NetworkKind::kWifiDirect);
}

TEST(NetworkProfileTest, TailAndPromotionAreOptional) {
  std::string text = kNetwork;
  for (const char* line :
       {"  tail_mw: 150\n", "  tail_s: 0.5\n", "  promotion_mw: 250\n", "  promotion_s: 0.1\n"}) {
    text = Replace(text, line, "");
  }
  auto r = ParseNetwork(text);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->tail_mw, 0);
  EXPECT_DOUBLE_EQ(r->tail_s, 0);
  EXPECT_DOUBLE_EQ(r->promotion_mw, 0);
  EXPECT_DOUBLE_EQ(r->promotion_s, 0);
}

TEST(NetworkProfileTest, AtInterpolatesLinearlyBetweenPoints) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  NetworkProfile::Point p = r->At(-80);  // halfway between -90 and -70
  EXPECT_DOUBLE_EQ(p.signal_dbm, -80);
  EXPECT_DOUBLE_EQ(p.down_mbps, 30);
  EXPECT_DOUBLE_EQ(p.up_mbps, 15);
  EXPECT_DOUBLE_EQ(p.rtt_ms, 30);
  p = r->At(-55);  // three quarters of the way from -70 to -50
  EXPECT_DOUBLE_EQ(p.down_mbps, 87.5);
  EXPECT_DOUBLE_EQ(p.up_mbps, 43.75);
  EXPECT_DOUBLE_EQ(p.rtt_ms, 12.5);
  p = r->At(-70);  // exactly on an inner point
  EXPECT_DOUBLE_EQ(p.down_mbps, 50);
  EXPECT_DOUBLE_EQ(p.up_mbps, 25);
  EXPECT_DOUBLE_EQ(p.rtt_ms, 20);
}

TEST(NetworkProfileTest, AtClampsAtTheEnds) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (double s : {-90.0, -95.0, -150.0, -200.0}) {
    NetworkProfile::Point p = r->At(s);
    EXPECT_DOUBLE_EQ(p.down_mbps, 10) << s;
    EXPECT_DOUBLE_EQ(p.up_mbps, 5) << s;
    EXPECT_DOUBLE_EQ(p.rtt_ms, 40) << s;
  }
  for (double s : {-50.0, -49.0, -10.0, 0.0}) {
    NetworkProfile::Point p = r->At(s);
    EXPECT_DOUBLE_EQ(p.down_mbps, 100) << s;
    EXPECT_DOUBLE_EQ(p.up_mbps, 50) << s;
    EXPECT_DOUBLE_EQ(p.rtt_ms, 10) << s;
  }
}

TEST(NetworkProfileTest, AtOnASinglePointCurveIsConstant) {
  std::string text =
      Replace(kNetwork, "  - {signal_dbm: -90, down_mbps: 10, up_mbps: 5, rtt_ms: 40}\n", "");
  text = Replace(text, "  - {signal_dbm: -50, down_mbps: 100, up_mbps: 50, rtt_ms: 10}\n", "");
  auto r = ParseNetwork(text);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (double s : {-120.0, -70.0, -30.0}) {
    EXPECT_DOUBLE_EQ(r->At(s).down_mbps, 50) << s;
    EXPECT_DOUBLE_EQ(r->At(s).rtt_ms, 20) << s;
  }
}

TEST(NetworkProfileTest, AtIsMonotoneOnAMonotoneCurve) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  double prev_down = 0, prev_rtt = 1e9;
  for (double s = -100; s <= -40; s += 0.5) {
    NetworkProfile::Point p = r->At(s);
    EXPECT_GE(p.down_mbps, prev_down) << s;
    EXPECT_LE(p.rtt_ms, prev_rtt) << s;
    prev_down = p.down_mbps;
    prev_rtt = p.rtt_ms;
  }
}

TEST(NetworkProfileTest, RttAtIsAtsRoundTripBitForBit) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (double s = -200; s <= 10; s += 0.37) {
    EXPECT_EQ(r->RttAt(s), r->At(s).rtt_ms) << s;  // exactly, not nearly
  }
  for (double s : {-90.0, -70.0, -50.0, -69.999999, -70.000001}) {
    EXPECT_EQ(r->RttAt(s), r->At(s).rtt_ms) << s;
  }
}

TEST(NetworkProfileTest, ASignalThatIsNotANumberReadsTheFirstPoint) {
  auto r = ParseNetwork(kNetwork);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(r->At(nan).down_mbps, 10);
  EXPECT_DOUBLE_EQ(r->At(nan).rtt_ms, 40);
  EXPECT_DOUBLE_EQ(r->RttAt(nan), 40);
}

TEST(NetworkProfileTest, UnknownKindListsValidKinds) {
  ExpectError(
      ParseNetwork(Replace(kNetwork, "kind: wifi", "kind: wlan")),
      {"<string>:2:7: kind: unknown network kind 'wlan'", "(valid: wifi, cellular, wifi_direct)"});
}

TEST(NetworkProfileTest, UnsortedCurveIsRejected) {
  ExpectError(ParseNetwork(Replace(kNetwork, "signal_dbm: -70", "signal_dbm: -95")),
              {"<string>:6:5: curve[1]: ", "sorted by increasing signal_dbm"});
  // A repeated signal strength is not increasing either.
  ExpectError(ParseNetwork(Replace(kNetwork, "signal_dbm: -50", "signal_dbm: -70")),
              {"<string>:7:5: curve[2]: ", "sorted by increasing signal_dbm"});
}

TEST(NetworkProfileTest, CurveErrors) {
  ExpectError(ParseNetwork(Replace(kNetwork, "up_mbps: 25,", "upload_mbps: 25,")),
              {"<string>:6:", "curve[1].upload_mbps: unknown key 'upload_mbps'",
               "did you mean 'up_mbps'?"});
  ExpectError(ParseNetwork(Replace(kNetwork, "down_mbps: 50,", "down_mbps: 0,")),
              {"<string>:6:", "curve[1].down_mbps: expected a number in ["});
  ExpectError(ParseNetwork(Replace(kNetwork, "signal_dbm: -90, down", "signal_dbm: 5, down")),
              {"<string>:5:", "curve[0].signal_dbm: expected a number in [-199, 0], got 5"});
  std::string empty = kNetwork;
  empty =
      empty.substr(0, empty.find("curve:")) + "curve: []\n" + empty.substr(empty.find("power:"));
  ExpectError(ParseNetwork(empty), {"<string>:4:8: curve: expected at least one point"});
}

TEST(NetworkProfileTest, PowerErrors) {
  ExpectError(ParseNetwork(Replace(kNetwork, "tail_s:", "tail_sec:")),
              {"<string>:13:3: power.tail_sec: unknown key 'tail_sec'", "did you mean 'tail_s'?"});
  ExpectError(ParseNetwork(Replace(kNetwork, "  base_mw: 200\n", "")),
              {"<string>:9:3: power: missing required key 'base_mw'"});
  ExpectError(ParseNetwork(Replace(kNetwork, "min_signal_dbm: -90", "min_signal_dbm: -250")),
              {"<string>:3:17: min_signal_dbm: expected a number in [-199, 0], got -250"});
}

TEST(NetworkProfileTest, NameMustMatchFileStem) {
  fs::path bad = WriteFile(TempDir() / "net_file.yaml", kNetwork);
  ExpectError(LoadNetworkProfile(bad.string()),
              {bad.string() + ":1:1: ", "name 'n' does not match the file name 'net_file.yaml'"});
  fs::path good = WriteFile(TempDir() / "n.yaml", kNetwork);
  auto ok = LoadNetworkProfile(good.string());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->curve.size(), 3u);
}

// ---- Devices ---------------------------------------------------------------------------------

const char* const kDevice = R"(name: d
description: "test phone"
role: phone
base_power_mw: 100
idle_power_mw: 50
targets:
  - name: cpu
    kind: cpu
    cores: 4
    precisions: [fp32, int8]
    gmacs_per_s:
      conv: {fp32: 10, int8: 20}
      fc: {fp32: 2, int8: 4}
      recurrent: {fp32: 1}
    layer_overhead_us: 10
    memory_bound_fraction: 0.25
    levels:
      - {freq_mhz: 2000, power_mw: 1000}
      - {freq_mhz: 1000, power_mw: 400}
    interference: {cpu: 0.5, gpu: 0.1, mem: 0.2}
  - name: cloud
    kind: cloud
    server: srv
    network: auto
)";

TEST(DeviceProfileTest, ParsesEveryField) {
  auto r = ParseDevice(kDevice);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const DeviceProfile& d = *r;
  EXPECT_EQ(d.name, "d");
  EXPECT_EQ(d.description, "test phone");
  EXPECT_EQ(d.role, "phone");
  EXPECT_DOUBLE_EQ(d.base_power_mw, 100);
  EXPECT_DOUBLE_EQ(d.idle_power_mw, 50);
  EXPECT_DOUBLE_EQ(d.queue_ms, 0);
  ASSERT_EQ(d.targets.size(), 2u);

  const TargetProfile& cpu = d.targets[0];
  EXPECT_EQ(cpu.name, "cpu");
  EXPECT_EQ(cpu.kind, TargetKind::kCpu);
  EXPECT_EQ(cpu.cores, 4);
  EXPECT_EQ(cpu.precisions, (std::vector<Precision>{Precision::kFp32, Precision::kInt8}));
  EXPECT_TRUE(cpu.Supports(Precision::kFp32));
  EXPECT_TRUE(cpu.Supports(Precision::kInt8));
  EXPECT_FALSE(cpu.Supports(Precision::kFp16));
  const int conv = static_cast<int>(LayerClass::kConv), fc = static_cast<int>(LayerClass::kFc),
            rec = static_cast<int>(LayerClass::kRecurrent);
  const int f32 = static_cast<int>(Precision::kFp32), f16 = static_cast<int>(Precision::kFp16),
            i8 = static_cast<int>(Precision::kInt8);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[conv][f32], 10);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[conv][i8], 20);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[fc][f32], 2);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[fc][i8], 4);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[rec][f32], 1);
  // A listed precision without an fc/recurrent rate takes its conv rate.
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[rec][i8], 20);
  // An unlisted precision stays unsupported.
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[conv][f16], 0);
  EXPECT_DOUBLE_EQ(cpu.gmacs_per_s[fc][f16], 0);
  EXPECT_DOUBLE_EQ(cpu.layer_overhead_us, 10);
  EXPECT_DOUBLE_EQ(cpu.memory_bound_fraction, 0.25);
  ASSERT_EQ(cpu.levels.size(), 2u);
  EXPECT_DOUBLE_EQ(cpu.levels[0].freq_mhz, 2000);
  EXPECT_DOUBLE_EQ(cpu.levels[0].power_mw, 1000);
  EXPECT_DOUBLE_EQ(cpu.levels[1].freq_mhz, 1000);
  EXPECT_DOUBLE_EQ(cpu.levels[1].power_mw, 400);
  EXPECT_DOUBLE_EQ(cpu.interference_cpu, 0.5);
  EXPECT_DOUBLE_EQ(cpu.interference_gpu, 0.1);
  EXPECT_DOUBLE_EQ(cpu.interference_mem, 0.2);

  const TargetProfile& cloud = d.targets[1];
  EXPECT_EQ(cloud.kind, TargetKind::kCloud);
  EXPECT_EQ(cloud.server, "srv");
  EXPECT_EQ(cloud.network, "auto");
  // A remote target defaults to fp32 and has exactly one level.
  EXPECT_EQ(cloud.precisions, std::vector<Precision>{Precision::kFp32});
  EXPECT_EQ(cloud.levels.size(), 1u);

  EXPECT_EQ(d.FindTarget("cpu"), 0);
  EXPECT_EQ(d.FindTarget("cloud"), 1);
  EXPECT_EQ(d.FindTarget("gpu"), -1);
}

TEST(DeviceProfileTest, LocalDefaults) {
  auto r = ParseDevice(R"(name: d
targets:
  - name: g
    kind: gpu
    precisions: fp16
    gmacs_per_s:
      conv: {fp16: 50}
    levels:
      - {freq_mhz: 500, power_mw: 800}
)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->role, "phone");
  EXPECT_DOUBLE_EQ(r->base_power_mw, 0);
  const TargetProfile& g = r->targets[0];
  EXPECT_EQ(g.cores, 1);
  EXPECT_EQ(g.precisions, std::vector<Precision>{Precision::kFp16});  // a scalar is a list of one
  EXPECT_DOUBLE_EQ(g.layer_overhead_us, 0);
  EXPECT_DOUBLE_EQ(g.memory_bound_fraction, 0);
  EXPECT_DOUBLE_EQ(g.interference_cpu, 0);
  EXPECT_DOUBLE_EQ(g.interference_gpu, 0);
  EXPECT_DOUBLE_EQ(g.interference_mem, 0);
  EXPECT_DOUBLE_EQ(g.gmacs_per_s[static_cast<int>(LayerClass::kFc)][1], 50);
}

// Target names reach reports and gnuplot scripts: a line break in one could end a plot
// command and start a shell one (`!cmd`). Control characters are refused where they are read.
TEST(DeviceProfileTest, TargetNamesAreCheckedText) {
  auto r = ParseDevice(R"(name: d
targets:
  - name: "g\n!touch /tmp/x"
    kind: gpu
    precisions: fp16
    gmacs_per_s:
      conv: {fp16: 50}
    levels:
      - {freq_mhz: 500, power_mw: 800}
)");
  ExpectError(r, {"<string>:3:11: targets[0].name: target name", "holds a control character"});
}

TEST(DeviceProfileTest, RemotePrecisionsMayBeListed) {
  auto r = ParseDevice(Replace(kDevice, "    network: auto\n",
                               "    network: wifi_direct\n    precisions: [fp32, fp16]\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->targets[1].network, "wifi_direct");
  EXPECT_EQ(r->targets[1].precisions, (std::vector<Precision>{Precision::kFp32, Precision::kFp16}));
}

TEST(DeviceProfileTest, UnknownKeySuggestsNearest) {
  ExpectError(ParseDevice(Replace(kDevice, "power_mw: 400", "powr_mw: 400")),
              {"<string>:19:26: targets[0].levels[1].powr_mw: unknown key 'powr_mw'",
               "did you mean 'power_mw'?", "(valid keys: freq_mhz, power_mw)"});
  ExpectError(ParseDevice(Replace(kDevice, "base_power_mw", "base_powr_mw")),
              {"<string>:4:1: base_powr_mw: unknown key", "did you mean 'base_power_mw'?"});
  ExpectError(ParseDevice(Replace(kDevice, "memory_bound_fraction", "memory_bound_fractoin")),
              {"<string>:16:5: targets[0].memory_bound_fractoin: unknown key",
               "did you mean 'memory_bound_fraction'?"});
  ExpectError(ParseDevice(Replace(kDevice, "mem: 0.2", "memory: 0.2")),
              {"<string>:20:", "targets[0].interference.memory: unknown key"});
  ExpectError(ParseDevice(Replace(kDevice, "      recurrent: {fp32: 1}", "      rnn: {fp32: 1}")),
              {"<string>:14:7: targets[0].gmacs_per_s.rnn: unknown key 'rnn'"});
}

TEST(DeviceProfileTest, LevelsMustDescend) {
  ExpectError(ParseDevice(Replace(kDevice, "freq_mhz: 1000", "freq_mhz: 2500")),
              {"<string>:19:9: targets[0].levels[1]: ",
               "levels must be listed from the highest frequency down"});
  ExpectError(ParseDevice(Replace(kDevice, "freq_mhz: 1000", "freq_mhz: 2000")),
              {"<string>:19:9: targets[0].levels[1]: ", "highest frequency down"});
}

TEST(DeviceProfileTest, LevelErrors) {
  std::string no_levels = Replace(kDevice,
                                  "    levels:\n      - {freq_mhz: 2000, power_mw: 1000}\n"
                                  "      - {freq_mhz: 1000, power_mw: 400}\n",
                                  "    levels: []\n");
  ExpectError(ParseDevice(no_levels), {"<string>:17:13: targets[0].levels: expected 1 to 32"});
  ExpectError(ParseDevice(Replace(kDevice, "freq_mhz: 2000", "freq_mhz: 0")),
              {"<string>:18:", "targets[0].levels[0].freq_mhz: expected a number in ["});
  ExpectError(ParseDevice(Replace(kDevice, "power_mw: 400", "power_mw: -4")),
              {"<string>:19:", "targets[0].levels[1].power_mw: expected a number in [0, "});
}

TEST(DeviceProfileTest, PrecisionWithoutConvRateIsRejected) {
  ExpectError(
      ParseDevice(Replace(kDevice, "precisions: [fp32, int8]", "precisions: [fp32, fp16, int8]")),
      {"<string>:12:7: targets[0].gmacs_per_s: ",
       "precision fp16 is listed but gmacs_per_s.conv.fp16 is missing or zero"});
  ExpectError(
      ParseDevice(Replace(kDevice, "conv: {fp32: 10, int8: 20}", "conv: {fp32: 10, int8: 0}")),
      {"targets[0].gmacs_per_s: ", "precision int8 is listed but gmacs_per_s.conv.int8"});
  // An fc rate alone does not make a precision supported.
  ExpectError(
      ParseDevice(Replace(Replace(kDevice, "conv: {fp32: 10, int8: 20}", "conv: {fp32: 10}"),
                          "fc: {fp32: 2, int8: 4}", "fc: {fp32: 2, int8: 4}")),
      {"precision int8 is listed but gmacs_per_s.conv.int8 is missing or zero"});
}

TEST(DeviceProfileTest, UnknownPrecisionListsValidOnes) {
  ExpectError(ParseDevice(Replace(kDevice, "precisions: [fp32, int8]", "precisions: [fp32, int4]")),
              {"<string>:10:24: targets[0].precisions[1]: unknown precision 'int4'",
               "did you mean 'int8'?", "(valid: fp32, fp16, int8)"});
  ExpectError(
      ParseDevice(Replace(kDevice, "conv: {fp32: 10, int8: 20}", "conv: {fp64: 10, int8: 20}")),
      {"<string>:12:14: targets[0].gmacs_per_s.conv.fp64: unknown key 'fp64'",
       "(valid keys: fp32, fp16, int8)"});
  ExpectError(ParseDevice(Replace(kDevice, "precisions: [fp32, int8]", "precisions: []")),
              {"<string>:10:17: targets[0].precisions: expected at least one precision"});
}

TEST(DeviceProfileTest, UnknownKindListsValidOnes) {
  ExpectError(ParseDevice(Replace(kDevice, "kind: cpu", "kind: npu")),
              {"<string>:8:11: targets[0].kind: unknown target kind 'npu'", "did you mean 'cpu'?",
               "(valid: cpu, gpu, dsp, cloud, nearby)"});
  ExpectError(ParseDevice(Replace(kDevice, "kind: cloud", "kind: edge_server")),
              {"<string>:22:11: targets[1].kind: unknown target kind 'edge_server'",
               "(valid: cpu, gpu, dsp, cloud, nearby)"});
}

TEST(DeviceProfileTest, RemoteTargetRejectsLocalOnlyKeys) {
  const std::string cases[][2] = {
      {"    cores: 2\n", "'cores'"},
      {"    gmacs_per_s: {conv: {fp32: 1}}\n", "'gmacs_per_s'"},
      {"    levels: [{freq_mhz: 1, power_mw: 1}]\n", "'levels'"},
      {"    layer_overhead_us: 3\n", "'layer_overhead_us'"},
      {"    memory_bound_fraction: 0.5\n", "'memory_bound_fraction'"},
      {"    interference: {cpu: 1}\n", "'interference'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c[1]);
    // The key goes on line 25, after the cloud target's other keys.
    ExpectError(ParseDevice(std::string(kDevice) + c[0]),
                {"<string>:25:", "targets[1]", c[1] + " does not apply to a remote target"});
  }
}

TEST(DeviceProfileTest, LocalTargetRejectsRemoteOnlyKeys) {
  ExpectError(ParseDevice(Replace(kDevice, "    cores: 4\n", "    cores: 4\n    server: srv\n")),
              {"<string>:10:13: targets[0].server: ", "'server'", "remote target"});
  ExpectError(ParseDevice(Replace(kDevice, "    cores: 4\n", "    cores: 4\n    network: lte\n")),
              {"<string>:10:14: targets[0].network: ", "'network'", "remote target"});
}

TEST(DeviceProfileTest, RemoteTargetNeedsServerAndNetwork) {
  ExpectError(ParseDevice(Replace(kDevice, "    server: srv\n", "")),
              {"<string>:21:5: targets[1]: missing required key 'server'"});
  ExpectError(ParseDevice(Replace(kDevice, "    network: auto\n", "")),
              {"<string>:21:5: targets[1]: missing required key 'network'"});
}

TEST(DeviceProfileTest, ServerCannotOffload) {
  ExpectError(ParseDevice(Replace(kDevice, "role: phone", "role: server")),
              {"<string>:21:5: targets[1]: a server profile cannot itself offload"});
  // Without the remote target a server parses.
  std::string server = Replace(kDevice, "role: phone", "role: server");
  server = server.substr(0, server.find("  - name: cloud"));
  auto r = ParseDevice(server);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->role, "server");
}

TEST(DeviceProfileTest, DuplicateTargetNamesAreRejected) {
  ExpectError(ParseDevice(Replace(kDevice, "name: cloud", "name: cpu")),
              {"<string>:21:5: targets[1]: duplicate target name 'cpu'"});
}

// kDevice with a second CPU (little) and a pipelined target over both, appended.
std::string PipelinedDevice(const std::string& pipeline_target) {
  std::string cpu2 =
      "  - name: little\n"
      "    kind: cpu\n"
      "    cores: 4\n"
      "    precisions: [fp32]\n"
      "    gmacs_per_s: {conv: {fp32: 4}}\n"
      "    levels: [{freq_mhz: 1500, power_mw: 200}]\n";
  return std::string(kDevice) + cpu2 + pipeline_target;
}

TEST(DeviceProfileTest, PipelinedTargetTakesItsStagesProcessors) {
  auto r = ParseDevice(
      PipelinedDevice("  - name: pipe\n    kind: cpu\n    pipeline: {stages: [cpu, little], "
                      "handoff_fixed_ms: 0.1, handoff_gb_per_s: 5}\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TargetProfile& t = r->targets.back();
  EXPECT_TRUE(t.is_pipeline());
  EXPECT_EQ(t.pipeline_stages, (std::vector<std::string>{"cpu", "little"}));
  EXPECT_DOUBLE_EQ(t.handoff.fixed_ms, 0.1);
  EXPECT_DOUBLE_EQ(t.handoff.gb_per_s, 5);
  EXPECT_EQ(t.precisions, (std::vector<Precision>{Precision::kFp32}));  // the default
  ASSERT_EQ(t.levels.size(), 1u);                // one level: every stage at its highest
  EXPECT_DOUBLE_EQ(t.levels[0].freq_mhz, 2000);  // named after the first stage's
  EXPECT_EQ(t.cores, 8);
  EXPECT_DOUBLE_EQ(t.interference_cpu, 0.5);  // the first stage's
  EXPECT_FALSE(r->targets[0].is_pipeline());
  // A pipeline is not a processor: the first CPU is still `cpu`, even listed after it.
  auto first = ParseDevice(Replace(PipelinedDevice(""), "  - name: cpu\n",
                                   "  - name: pipe\n    kind: cpu\n    pipeline: {stages: [cpu, "
                                   "little]}\n  - name: cpu\n"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->targets[0].is_pipeline());
  EXPECT_EQ(first->FirstOfKind(TargetKind::kCpu)->name, "cpu");
}

TEST(DeviceProfileTest, PipelinedTargetErrorsSayWhatIsWrongAndWhere) {
  const std::string head = "  - name: pipe\n    kind: cpu\n";
  // Line 33 holds the pipelined target's keys after `name` and `kind` (lines 31-32).
  const std::string cases[][2] = {
      {"    pipeline: {stages: [cpu, nope]}\n",
       "<string>:33:30: targets[3].pipeline.stages[1]: no target 'nope': a stage runs on one of "
       "this "
       "profile's local processors (cpu, little)"},
      {"    pipeline: {stages: [cpu, cloud]}\n", "'cloud' is remote"},
      {"    pipeline: {stages: [cpu, cpu]}\n", "'cpu' is listed twice"},
      {"    pipeline: {stages: [cpu]}\n", "expected 2 to 8 stage targets, got 1"},
      {"    pipeline: {stages: [cpu, little]}\n    precisions: [int8]\n",
       "stage target 'little' does not run int8, which pipelined target 'pipe' lists"},
      {"    pipeline: {stages: [cpu, little]}\n    cores: 2\n",
       "'cores' does not apply to a pipelined target"},
      {"    pipeline: {stages: [cpu, little]}\n    levels: [{freq_mhz: 1, power_mw: 1}]\n",
       "'levels' does not apply to a pipelined target"},
      {"    pipeline: {stages: [cpu, little], handoff_gb_per_s: 0}\n", "handoff_gb_per_s"},
      {"    pipeline: {stages: [cpu, little], stage: 1}\n", "did you mean 'stages'"},
      {"    pipeline: {}\n", "missing required key 'stages'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c[0]);
    ExpectError(ParseDevice(PipelinedDevice(head + c[0])), {c[1]});
  }
  ExpectError(ParseDevice(PipelinedDevice("  - name: pipe\n    kind: gpu\n    pipeline: {stages: "
                                          "[cpu, little]}\n")),
              {"'pipeline' applies only to a cpu target (this one is kind gpu)"});
  // A pipeline of pipelines is refused, as is a layer model on one.
  ExpectError(ParseDevice(PipelinedDevice(head + "    pipeline: {stages: [cpu, little]}\n" +
                                          "  - name: p2\n    kind: cpu\n    pipeline: {stages: "
                                          "[pipe, little]}\n")),
              {"'pipe' is itself pipelined"});
}

TEST(DeviceProfileTest, DeviceLevelErrors) {
  ExpectError(ParseDevice(Replace(kDevice, "role: phone", "role: tablet")),
              {"<string>:3:7: role: unknown role 'tablet' (valid: phone, server)"});
  ExpectError(
      ParseDevice(Replace(kDevice, "memory_bound_fraction: 0.25", "memory_bound_fraction: 1.5")),
      {"<string>:16:28: targets[0].memory_bound_fraction: expected a number in [0, 1], got 1.5"});
  ExpectError(ParseDevice(Replace(kDevice, "cores: 4", "cores: 0")),
              {"<string>:9:12: targets[0].cores: expected an integer in [1, 256], got 0"});
  ExpectError(ParseDevice(Replace(kDevice, "idle_power_mw: 50", "idle_power_mw: -1")),
              {"<string>:5:16: idle_power_mw: expected a number in [0, "});
  std::string no_targets = kDevice;
  no_targets = no_targets.substr(0, no_targets.find("targets:")) + "targets: []\n";
  ExpectError(ParseDevice(no_targets), {"<string>:6:10: targets: expected 1 to 64 targets"});
  ExpectError(ParseDevice(Replace(kDevice, "name: d\n", "")),
              {"<string>:1:1: missing required key 'name'"});
}

TEST(DeviceProfileTest, NameMustMatchFileStem) {
  fs::path bad = WriteFile(TempDir() / "phone.yaml", kDevice);
  ExpectError(LoadDeviceProfile(bad.string()),
              {bad.string() + ":1:1: ", "name 'd' does not match the file name 'phone.yaml'"});
  fs::path good = WriteFile(TempDir() / "d.yaml", kDevice);
  auto ok = LoadDeviceProfile(good.string());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->targets.size(), 2u);
}

// ---- Catalogue -------------------------------------------------------------------------------

std::string ShippedRoot() { return std::string(AUTOSCALE_SOURCE_DIR) + "/configs"; }

TEST(ProfileCatalogTest, FindsShippedProfilesByName) {
  ProfileCatalog catalog(ShippedRoot());
  EXPECT_EQ(catalog.root(), ShippedRoot());
  auto d = catalog.Device("sd845");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)->name, "sd845");
  EXPECT_EQ((*d)->role, "phone");
  auto n = catalog.Network("lte");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ((*n)->kind, NetworkKind::kCellular);
  auto m = catalog.Model("mobilenet_v1");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->name, "mobilenet_v1");
}

TEST(ProfileCatalogTest, UnknownNameIsNotFoundWithSuggestionAndList) {
  ProfileCatalog catalog(ShippedRoot());
  auto d = catalog.Device("sd845x");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  const std::string& msg = d.status().message();
  EXPECT_TRUE(Contains(msg, "no device profile 'sd845x'")) << msg;
  EXPECT_TRUE(Contains(msg, "/devices/sd845x.yaml")) << msg;
  EXPECT_TRUE(Contains(msg, "did you mean 'sd845'?")) << msg;
  EXPECT_TRUE(Contains(msg, "(available: ")) << msg;
  EXPECT_TRUE(Contains(msg, "cloud_gpu, ")) << msg;
  EXPECT_TRUE(Contains(msg, "sd810, sd845, sd845_believed, sd855")) << msg;

  auto n = catalog.Network("wify");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(n.status().message(), "did you mean 'wifi'?")) << n.status().message();
  EXPECT_TRUE(Contains(n.status().message(), "lte, wifi, wifi_direct")) << n.status().message();

  auto m = catalog.Model("completely_unrelated_name");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Contains(m.status().message(), "did you mean")) << m.status().message();
  EXPECT_TRUE(Contains(m.status().message(), "mobilenet_v1")) << m.status().message();
}

// A user's folder beside their file is searched before the shipped configs; names not there
// fall through to the shipped ones; a path-like name is relative to the file's folder, not to
// wherever the program was started.
TEST(ProfileCatalogTest, SearchesBesideTheFileThenTheShippedConfigs) {
  const fs::path dir = TempDir() / "search_roots";
  fs::remove_all(dir);
  std::ifstream in(ShippedRoot() + "/devices/sd855.yaml");
  const std::string shipped((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteFile(dir / "devices" / "sd855.yaml",
            Replace(shipped, "description:", "description: \"the user's own\" #"));
  WriteFile(dir / "mine" / "phone.yaml", Replace(shipped, "name: sd855", "name: phone"));
  ProfileCatalog catalog({dir.string(), ShippedRoot()}, dir.string());
  auto own = catalog.Device("sd855");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ((*own)->description, "the user's own");
  auto fallthrough = catalog.Device("sd845");
  ASSERT_TRUE(fallthrough.ok()) << fallthrough.status().ToString();
  EXPECT_EQ((*fallthrough)->name, "sd845");
  auto by_path = catalog.Device("mine/phone.yaml");
  ASSERT_TRUE(by_path.ok()) << by_path.status().ToString();
  EXPECT_EQ((*by_path)->name, "phone");
  auto scenario = catalog.Find("scenarios", "standard");
  ASSERT_TRUE(scenario.ok()) << scenario.status().ToString();
  EXPECT_EQ(*scenario, ShippedRoot() + "/scenarios/standard.yaml");
  auto missing = catalog.Find("scenarios", "standrd");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(Contains(missing.status().message(), "no scenario file 'standrd' (looked for " +
                                                       dir.string() + "/scenarios/standrd.yaml, " +
                                                       ShippedRoot() + "/scenarios/standrd.yaml)"))
      << missing.status().message();
  EXPECT_TRUE(Contains(missing.status().message(), "did you mean 'standard'?"))
      << missing.status().message();
  // Names from every root, once each.
  const std::vector<std::string> names = catalog.Available("devices");
  EXPECT_EQ(std::count(names.begin(), names.end(), "sd855"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "tablet"), 1);

  // The roots a file sees: its folder when it holds profile folders, its parent (the shipped
  // layout, experiments/X.yaml), then the shipped configs, each once.
  const std::vector<std::string> beside = ConfigSearchRoots(dir.string());
  ASSERT_GE(beside.size(), 2u);
  EXPECT_EQ(beside.front(), dir.string());
  EXPECT_EQ(fs::weakly_canonical(beside.back()), fs::weakly_canonical(ShippedRoot()));
  const std::vector<std::string> shipped_layout = ConfigSearchRoots(ShippedRoot() + "/experiments");
  ASSERT_EQ(shipped_layout.size(), 1u);
  EXPECT_EQ(fs::weakly_canonical(shipped_layout.front()), fs::weakly_canonical(ShippedRoot()));
  const std::vector<std::string> bare = ConfigSearchRoots((dir / "mine").string());
  ASSERT_EQ(bare.size(), 2u);  // mine/ holds no profile folders; its parent does
  EXPECT_EQ(fs::path(bare.front()), dir);
}

TEST(ProfileCatalogTest, CachesProfiles) {
  ProfileCatalog catalog(ShippedRoot());
  auto a = catalog.Device("sd855");
  auto b = catalog.Device("sd855");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  // A path to the same file shares the cache entry.
  auto c = catalog.Device(ShippedRoot() + "/devices/sd855.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->get(), a->get());
  auto n1 = catalog.Network("wifi"), n2 = catalog.Network("wifi");
  ASSERT_TRUE(n1.ok() && n2.ok());
  EXPECT_EQ(n1->get(), n2->get());
  auto m1 = catalog.Model("resnet50"), m2 = catalog.Model("resnet50");
  ASSERT_TRUE(m1.ok() && m2.ok());
  EXPECT_EQ(m1->get(), m2->get());
  // A second catalogue has its own cache.
  ProfileCatalog other(ShippedRoot());
  auto o = other.Device("sd855");
  ASSERT_TRUE(o.ok());
  EXPECT_NE(o->get(), a->get());
}

TEST(ProfileCatalogTest, AvailableListsSortedStems) {
  ProfileCatalog catalog(ShippedRoot());
  std::vector<std::string> nets = catalog.Available("networks");
  EXPECT_EQ(nets, (std::vector<std::string>{"lte", "wifi", "wifi_direct"}));
  std::vector<std::string> devices = catalog.Available("devices");
  EXPECT_TRUE(std::is_sorted(devices.begin(), devices.end()));
  EXPECT_NE(std::find(devices.begin(), devices.end(), "sd810"), devices.end());
  EXPECT_TRUE(catalog.Available("no_such_folder").empty());
}

TEST(ProfileCatalogTest, LoadsFromAPathAndReportsInvalidFiles) {
  fs::path root = TempDir() / "catalog_root";
  WriteFile(root / "models" / "m.yaml", kModel);
  WriteFile(root / "models" / "broken.yaml",
            Replace(Replace(kModel, "name: m", "name: broken"), "fp32: 0.8", "fp32: 80"));
  WriteFile(root / "models" / "notes.txt", "not a profile");
  ProfileCatalog catalog(root.string());
  EXPECT_EQ(catalog.Available("models"), (std::vector<std::string>{"broken", "m"}));
  auto m = catalog.Model("m");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto by_path = catalog.Model((root / "models" / "m.yaml").string());
  ASSERT_TRUE(by_path.ok()) << by_path.status().ToString();
  EXPECT_EQ((*by_path)->name, "m");

  auto broken = catalog.Model("broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(broken.status().message(), "broken.yaml:14:9: accuracy.fp32: "))
      << broken.status().message();
  // Not cached as a success: it fails again.
  EXPECT_FALSE(catalog.Model("broken").ok());

  auto missing_path = catalog.Model((root / "models" / "absent.yaml").string());
  ASSERT_FALSE(missing_path.ok());
  EXPECT_EQ(missing_path.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace autoscale
