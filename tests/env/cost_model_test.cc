#include "env/cost_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "env/profiles.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

fs::path TempDir() {
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  fs::path base = (env && *env) ? fs::path(env) : fs::temp_directory_path();
  fs::path dir = base / ("autoscale_env_cost_model_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A small world whose costs can be worked out by hand (the numbers in the tests below).
//
// phone: cpu (2 levels, fp32/int8), gpu (fp16), cloud (srv over auto), nearby (srv over p2p).
// srv: its first target "accel" computes (fp32/fp16); the second, much faster one must be ignored.
// net: 10 conv + 2 fc layers, 28e6 conv MACs + 2e6 fc MACs; fp32 0.80, fp16 0.80, int8 0.75.
// rnn: 1 fc + 1 recurrent layer, 1e6 fc + 4e6 recurrent MACs; fp32 0.90 only.
constexpr const char* kPhone = R"(name: phone
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
  - name: gpu
    kind: gpu
    precisions: [fp16]
    gmacs_per_s:
      conv: {fp16: 50}
    layer_overhead_us: 100
    levels:
      - {freq_mhz: 500, power_mw: 800}
  - name: cloud
    kind: cloud
    server: srv
    network: auto
    precisions: [fp32, fp16, int8]
  - name: nearby
    kind: nearby
    server: srv
    network: p2p
)";

constexpr const char* kServer = R"(name: srv
role: server
queue_ms: 4
targets:
  - name: accel
    kind: gpu
    precisions: [fp32, fp16]
    gmacs_per_s:
      conv: {fp32: 100, fp16: 200}
      fc: {fp32: 10, fp16: 20}
    layer_overhead_us: 50
    memory_bound_fraction: 0.5
    levels:
      - {freq_mhz: 1000, power_mw: 0}
  - name: fast
    kind: cpu
    precisions: [fp32, fp16, int8]
    gmacs_per_s:
      conv: {fp32: 100000, fp16: 100000, int8: 100000}
    levels:
      - {freq_mhz: 1000, power_mw: 0}
)";

constexpr const char* kWifi = R"(name: wifi
kind: wifi
min_signal_dbm: -90
curve:
  - {signal_dbm: -90, down_mbps: 10, up_mbps: 5, rtt_ms: 40}
  - {signal_dbm: -50, down_mbps: 100, up_mbps: 50, rtt_ms: 10}
power: {up_mw_per_mbps: 300, down_mw_per_mbps: 100, base_mw: 200, tail_mw: 150, tail_s: 0.5,
        promotion_mw: 250, promotion_s: 0.1}
)";

constexpr const char* kLte = R"(name: lte
kind: cellular
min_signal_dbm: -120
curve:
  - {signal_dbm: -120, down_mbps: 1, up_mbps: 0.5, rtt_ms: 100}
  - {signal_dbm: -80, down_mbps: 21, up_mbps: 10.5, rtt_ms: 60}
power: {up_mw_per_mbps: 400, down_mw_per_mbps: 50, base_mw: 1000, tail_mw: 1000, tail_s: 10,
        promotion_mw: 1200, promotion_s: 0.25}
)";

constexpr const char* kP2p = R"(name: p2p
kind: wifi_direct
min_signal_dbm: -85
curve:
  - {signal_dbm: -85, down_mbps: 8, up_mbps: 8, rtt_ms: 20}
  - {signal_dbm: -45, down_mbps: 88, up_mbps: 88, rtt_ms: 4}
power: {up_mw_per_mbps: 250, down_mw_per_mbps: 120, base_mw: 150, tail_mw: 100, tail_s: 0.2,
        promotion_mw: 0, promotion_s: 0}
)";

constexpr const char* kNet = R"(name: net
layers: {conv: 10, fc: 2, recurrent: 0}
macs: 30e6
fc_macs: 2e6
input_bytes: 10000
output_bytes: 1000
accuracy: {fp32: 0.80, fp16: 0.80, int8: 0.75}
)";

constexpr const char* kRnn = R"(name: rnn
layers: {conv: 0, fc: 1, recurrent: 1}
macs: 5e6
fc_macs: 1e6
recurrent_macs: 4e6
input_bytes: 500
output_bytes: 50
accuracy: {fp32: 0.90}
)";

// Action ids in the phone's action space (targets in file order, then precisions, then levels;
// cloud/int8 is absent because the server cannot run int8).
enum : int {
  kCpuFp32L0 = 0,
  kCpuFp32L1,
  kCpuInt8L0,
  kCpuInt8L1,
  kGpuFp16,
  kCloudFp32,
  kCloudFp16,
  kNearbyFp32,
  kNumActions
};
enum : int { kNetModel = 0, kRnnModel = 1 };

// Relative tolerance for float results against hand-computed doubles.
void ExpectClose(double actual, double expected, const char* what) {
  EXPECT_NEAR(actual, expected, 1e-5 * std::abs(expected) + 1e-6) << what;
}

class CostModelTest : public ::testing::Test {
 protected:
  static fs::path Root() { return TempDir() / "root"; }

  static void SetUpTestSuite() {
    WriteFile(Root() / "devices" / "phone.yaml", kPhone);
    WriteFile(Root() / "devices" / "srv.yaml", kServer);
    WriteFile(Root() / "networks" / "wifi.yaml", kWifi);
    WriteFile(Root() / "networks" / "lte.yaml", kLte);
    WriteFile(Root() / "networks" / "p2p.yaml", kP2p);
    WriteFile(Root() / "models" / "net.yaml", kNet);
    WriteFile(Root() / "models" / "rnn.yaml", kRnn);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(TempDir(), ec);
  }

  void SetUp() override {
    catalog_ = std::make_unique<ProfileCatalog>(Root().string());
    auto phone = catalog_->Device("phone");
    ASSERT_TRUE(phone.ok()) << phone.status().ToString();
    phone_ = **phone;
    for (const char* name : {"net", "rnn"}) {
      auto m = catalog_->Model(name);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      models_.push_back(**m);
    }
  }

  std::unique_ptr<CostModel> Build(const CostModelOptions& options = {}) {
    auto cm = CostModel::Create(phone_, models_, *catalog_, options);
    EXPECT_TRUE(cm.ok()) << cm.status().ToString();
    if (!cm.ok()) return nullptr;
    return std::move(cm).value();
  }

  // Every link up: Wi-Fi at -70 dBm (40/20 Mbit/s), LTE at -100 dBm (8/4), Wi-Fi Direct at -65.
  static Observation Obs(int model) {
    Observation obs;
    obs.model = model;
    obs.wifi_rssi_dbm = -70;
    obs.wifi_down_mbps = 40;
    obs.wifi_up_mbps = 20;
    obs.cell_rsrp_dbm = -100;
    obs.cell_down_mbps = 8;
    obs.cell_up_mbps = 4;
    obs.p2p_rssi_dbm = -65;
    return obs;
  }

  static std::vector<int> Feasible(const CostModel& cm, const Observation& obs) {
    std::vector<int> out(cm.actions().size(), -1);
    int n = cm.Feasible(obs, out);
    out.resize(n);
    return out;
  }

  std::unique_ptr<ProfileCatalog> catalog_;
  DeviceProfile phone_;
  std::vector<ModelProfile> models_;
};

// ---- Action space ----------------------------------------------------------------------------

TEST_F(CostModelTest, ActionSpaceListsTargetsPrecisionsAndLevels) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  const ActionSpace& s = cm->actions();
  ASSERT_EQ(s.size(), kNumActions);
  EXPECT_EQ(s.names,
            (std::vector<std::string>{"cpu/fp32/2000MHz", "cpu/fp32/1000MHz", "cpu/int8/2000MHz",
                                      "cpu/int8/1000MHz", "gpu/fp16/500MHz", "cloud/fp32",
                                      "cloud/fp16", "nearby/fp32"}));
  EXPECT_EQ(s.target_names, (std::vector<std::string>{"cpu", "gpu", "cloud", "nearby"}));
  EXPECT_EQ(s.target_kinds, (std::vector<TargetKind>{TargetKind::kCpu, TargetKind::kGpu,
                                                     TargetKind::kCloud, TargetKind::kNearby}));
  EXPECT_EQ(s.actions[kCpuFp32L1], (Action{0, Precision::kFp32, 1}));
  EXPECT_EQ(s.actions[kCpuInt8L0], (Action{0, Precision::kInt8, 0}));
  EXPECT_EQ(s.actions[kGpuFp16], (Action{1, Precision::kFp16, 0}));
  EXPECT_EQ(s.actions[kCloudFp16], (Action{2, Precision::kFp16, 0}));
  EXPECT_EQ(s.actions[kNearbyFp32], (Action{3, Precision::kFp32, 0}));

  EXPECT_EQ(cm->device().name, "phone");
  EXPECT_EQ(cm->num_models(), 2);
  EXPECT_EQ(cm->models()[kRnnModel].name, "rnn");
}

TEST_F(CostModelTest, FindAndOfKind) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  const ActionSpace& s = cm->actions();
  EXPECT_EQ(s.Find("cpu", Precision::kFp32), kCpuFp32L0);
  EXPECT_EQ(s.Find("cpu", Precision::kInt8, 1), kCpuInt8L1);
  EXPECT_EQ(s.Find("gpu", Precision::kFp16), kGpuFp16);
  EXPECT_EQ(s.Find("cloud", Precision::kFp16), kCloudFp16);
  EXPECT_EQ(s.Find("nearby", Precision::kFp32), kNearbyFp32);
  EXPECT_EQ(s.Find("cloud", Precision::kInt8), -1);  // the server has no int8
  EXPECT_EQ(s.Find("gpu", Precision::kFp32), -1);
  EXPECT_EQ(s.Find("cpu", Precision::kFp32, 2), -1);
  EXPECT_EQ(s.Find("dsp", Precision::kInt8), -1);

  EXPECT_EQ(s.OfKind(TargetKind::kCpu),
            (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCpuInt8L0, kCpuInt8L1}));
  EXPECT_EQ(s.OfKind(TargetKind::kGpu), std::vector<int>{kGpuFp16});
  EXPECT_EQ(s.OfKind(TargetKind::kCloud), (std::vector<int>{kCloudFp32, kCloudFp16}));
  EXPECT_EQ(s.OfKind(TargetKind::kNearby), std::vector<int>{kNearbyFp32});
  EXPECT_TRUE(s.OfKind(TargetKind::kDsp).empty());
}

// ---- Local execution -------------------------------------------------------------------------

TEST_F(CostModelTest, LocalTopLevel) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  // conv 28e6 / 10e6 + fc 2e6 / 2e6 = 3.8 ms; + 12 layers x 10 us = 3.92 ms.
  Outcome o = cm->Evaluate(kCpuFp32L0, Obs(kNetModel), Conditions{});
  ExpectClose(o.latency_ms, 3.92, "latency");
  ExpectClose(o.energy_mj, (1000 + 100) * 3.92 / 1000, "energy");  // (level + base) x latency
  ExpectClose(o.accuracy, 0.80, "accuracy");
  EXPECT_FALSE(o.failed);
}

TEST_F(CostModelTest, LocalLowerLevelScalesOnlyTheComputeBoundShare) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  // 3.8 ms x (0.25 + 0.75 x 2000 / 1000) = 6.65 ms; the per-layer overhead does not scale.
  Outcome o = cm->Evaluate(kCpuFp32L1, Obs(kNetModel), Conditions{});
  ExpectClose(o.latency_ms, 6.77, "latency");
  ExpectClose(o.energy_mj, (400 + 100) * 6.77 / 1000, "energy");
}

TEST_F(CostModelTest, LocalPerPrecisionAndLayerClassRates) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  // int8: 28e6 / 20e6 + 2e6 / 4e6 = 1.9 ms + 0.12 ms.
  Outcome o = cm->Evaluate(kCpuInt8L0, Obs(kNetModel), Conditions{});
  ExpectClose(o.latency_ms, 2.02, "int8 latency");
  ExpectClose(o.accuracy, 0.75, "int8 accuracy");
  // rnn on fp32: fc 1e6 / 2e6 + recurrent 4e6 / 1e6 = 4.5 ms, + 2 layers x 10 us.
  o = cm->Evaluate(kCpuFp32L0, Obs(kRnnModel), Conditions{});
  ExpectClose(o.latency_ms, 4.52, "rnn latency");
  ExpectClose(o.energy_mj, 1.1 * 4.52, "rnn energy");
  ExpectClose(o.accuracy, 0.90, "rnn accuracy");
  // gpu fp16: fc defaults to the conv rate: 30e6 / 50e6 = 0.6 ms, + 12 x 100 us; mbf 0.
  o = cm->Evaluate(kGpuFp16, Obs(kNetModel), Conditions{});
  ExpectClose(o.latency_ms, 1.8, "gpu latency");
  ExpectClose(o.energy_mj, (800 + 100) * 1.8 / 1000, "gpu energy");
}

TEST_F(CostModelTest, LocalInterferenceAndComputeFactor) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.cpu_load = 0.4f;
  obs.gpu_load = 0.5f;
  obs.mem_load = 0.25f;
  // slowdown = 1 + 0.5 x 0.4 + 0.1 x 0.5 + 0.2 x 0.25 = 1.3, on compute only.
  Outcome o = cm->Evaluate(kCpuFp32L0, obs, Conditions{});
  ExpectClose(o.latency_ms, 3.8 * 1.3 + 0.12, "latency");
  ExpectClose(o.energy_mj, 1.1 * (3.8 * 1.3 + 0.12), "energy");
  o = cm->Evaluate(kCpuFp32L1, obs, Conditions{});
  ExpectClose(o.latency_ms, 6.65 * 1.3 + 0.12, "lower level");
  Conditions c;
  c.compute_factor = 2;
  o = cm->Evaluate(kCpuFp32L0, obs, c);
  ExpectClose(o.latency_ms, 3.8 * 2 * 1.3 + 0.12, "compute factor");
  // The gpu target has no interference coefficients.
  o = cm->Evaluate(kGpuFp16, obs, Conditions{});
  ExpectClose(o.latency_ms, 1.8, "gpu ignores co-runners");
  // Network and gap conditions do not touch local execution.
  c = Conditions{};
  c.network_factor = 0;
  c.drop = true;
  c.prev_gap_s = 100;
  c.next_gap_s = 100;
  o = cm->Evaluate(kCpuFp32L0, Obs(kNetModel), c);
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 3.92, "local ignores the network");
}

// ---- Remote execution ------------------------------------------------------------------------

TEST_F(CostModelTest, CloudOverWifiWithPromotionAndTail) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Conditions c;
  c.prev_gap_s = 1.0;  // > Wi-Fi tail 0.5 s: the radio is promoted (100 ms)
  c.next_gap_s = 0.3;  // tail energy for 0.3 s
  Outcome o = cm->Evaluate(kCloudFp32, Obs(kNetModel), c);
  EXPECT_FALSE(o.failed);
  // rtt at -70 dBm: halfway between 40 and 10 ms = 25 ms; upload 10000 B x 8 / 20 Mbit/s = 4 ms;
  // server (accel, fp32): 28e6 / 100e6 + 2e6 / 10e6 = 0.48 ms + 12 x 50 us + queue 4 = 5.08 ms;
  // download 1000 B x 8 / 40 Mbit/s = 0.2 ms.
  const double latency = 100 + 25 + 4 + 5.08 + 0.2;
  ExpectClose(o.latency_ms, latency, "latency");
  // Radio: (300 x 20 + 200) x 4 + (100 x 40 + 200) x 0.2 + 200 x (25 + 5.08) + 250 x 100 uJ,
  // tail 150 mW x min(0.5, 0.3) s, idle 50 mW x latency.
  const double radio_mj = (6200 * 4 + 4200 * 0.2 + 200 * 30.08 + 250 * 100) / 1000;
  ExpectClose(o.energy_mj, radio_mj + 150 * 0.3 + 50 * latency / 1000, "energy");
  ExpectClose(o.accuracy, 0.80, "accuracy");
}

TEST_F(CostModelTest, CloudOverWifiWithoutPromotion) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Conditions c;
  c.prev_gap_s = 0.5;  // not longer than the tail: no promotion
  c.next_gap_s = 2.0;  // the tail is capped at tail_s = 0.5 s
  Outcome o = cm->Evaluate(kCloudFp32, Obs(kNetModel), c);
  const double latency = 25 + 4 + 5.08 + 0.2;
  ExpectClose(o.latency_ms, latency, "latency");
  const double radio_mj = (6200 * 4 + 4200 * 0.2 + 200 * 30.08) / 1000;
  ExpectClose(o.energy_mj, radio_mj + 150 * 0.5 + 50 * latency / 1000, "energy");
}

TEST_F(CostModelTest, CloudConditionsScaleComputeNetworkAndQueue) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Conditions c;
  c.compute_factor = 2;
  c.network_factor = 0.5;  // 20 / 10 Mbit/s
  c.server_queue_ms = 0;
  Outcome o = cm->Evaluate(kCloudFp32, Obs(kNetModel), c);
  // upload 8 ms, download 0.4 ms, server 0.48 x 2 + 0.6 + 0 = 1.56 ms.
  const double latency = 25 + 8 + 1.56 + 0.4;
  ExpectClose(o.latency_ms, latency, "latency");
  const double radio_mj =
      ((300 * 10 + 200) * 8 + (100 * 20 + 200) * 0.4 + 200 * (25 + 1.56)) / 1000;
  ExpectClose(o.energy_mj, radio_mj + 50 * latency / 1000, "energy");  // next_gap 0: no tail
  c = Conditions{};
  c.server_queue_ms = 10;
  o = cm->Evaluate(kCloudFp32, Obs(kNetModel), c);
  ExpectClose(o.latency_ms, 25 + 4 + 0.48 + 0.6 + 10 + 0.2, "queue override");
}

TEST_F(CostModelTest, CloudUsesTheServersFirstTargetAtThatPrecision) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  // accel fp16: 28e6 / 200e6 + 2e6 / 20e6 = 0.24 ms + 0.6 + 4.
  Outcome o = cm->Evaluate(kCloudFp16, Obs(kNetModel), Conditions{});
  ExpectClose(o.latency_ms, 25 + 4 + 0.24 + 0.6 + 4 + 0.2, "fp16");
  ExpectClose(o.accuracy, 0.80, "fp16 accuracy");
  // rnn: fc 1e6 / 10e6 + recurrent (defaults to conv) 4e6 / 100e6 = 0.14 ms + 2 x 50 us + 4;
  // upload 500 x 8 / 20e3 = 0.2 ms, download 50 x 8 / 40e3 = 0.01 ms.
  o = cm->Evaluate(kCloudFp32, Obs(kRnnModel), Conditions{});
  ExpectClose(o.latency_ms, 25 + 0.2 + 0.14 + 0.1 + 4 + 0.01, "rnn");
}

TEST_F(CostModelTest, CellularWhenWifiIsDisconnectedOrTooWeak) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Conditions c;
  c.prev_gap_s = 12;  // > LTE tail 10 s: promotion 250 ms
  c.next_gap_s = 3;
  // rtt at -100 dBm: halfway between 100 and 60 = 80 ms; upload 80000 / 4e3 = 20 ms; download
  // 8000 / 8e3 = 1 ms; server 5.08 ms.
  const double latency = 250 + 80 + 20 + 5.08 + 1;
  const double radio_mj =
      ((400 * 4 + 1000) * 20 + (50 * 8 + 1000) * 1 + 1000 * (80 + 5.08) + 1200 * 250) / 1000;
  const double energy = radio_mj + 1000 * 3 + 50 * latency / 1000;
  for (float wifi_rssi : {kNoSignalDbm, -95.0f}) {
    SCOPED_TRACE(wifi_rssi);
    Observation obs = Obs(kNetModel);
    obs.wifi_rssi_dbm = wifi_rssi;  // disconnected, or connected below min_signal_dbm (-90)
    Outcome o = cm->Evaluate(kCloudFp32, obs, c);
    EXPECT_FALSE(o.failed);
    ExpectClose(o.latency_ms, latency, "latency");
    ExpectClose(o.energy_mj, energy, "energy");
  }
}

TEST_F(CostModelTest, NearbyUsesTheP2pCurveForThroughput) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_down_mbps = 1000;  // ignored: the Wi-Fi Direct link's throughput comes from its curve
  obs.wifi_up_mbps = 1000;
  Conditions c;
  c.prev_gap_s = 5;  // promotion_s is 0: no promotion delay
  c.next_gap_s = 0.1;
  // At -65 dBm: 48 / 48 Mbit/s, rtt 12 ms. Upload 80000 / 48e3, download 8000 / 48e3.
  const double up = 80000.0 / 48000, down = 8000.0 / 48000;
  const double latency = 12 + up + 5.08 + down;
  Outcome o = cm->Evaluate(kNearbyFp32, obs, c);
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, latency, "latency");
  const double radio_mj =
      ((250 * 48 + 150) * up + (120 * 48 + 150) * down + 150 * (12 + 5.08)) / 1000;
  ExpectClose(o.energy_mj, radio_mj + 100 * 0.1 + 50 * latency / 1000, "energy");
}

// ---- The offload deadline and the fallback (the daemon's rule) -------------------------------

// The fallback here is the first local target, cpu, at FP32 and level 0: net runs there in
// 3.92 ms for 1100 mW x 3.92 ms = 4.312 mJ, rnn in 4.52 ms.
constexpr double kFallbackMs = 3.92, kFallbackMj = 1.1 * 3.92;

TEST_F(CostModelTest, DeadlineIsTheBoundLessTheFallbacksTimeAtMostTheTimeout) {
  CostModelOptions options;
  options.remote_timeout_ms = 1234;
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm->fallback_action(), kCpuFp32L0);
  Observation obs = Obs(kNetModel);
  // No bound: the remote timeout.
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs), 1234);
  obs.latency_bound_ms = 100;
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs), 100 - kFallbackMs, 1e-5);
  obs.model = kRnnModel;
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs), 100 - 4.52, 1e-5);
  obs.model = kNetModel;
  // Co-runners slow the fallback down (x1.3 on compute): the deadline moves earlier.
  obs.cpu_load = 0.4f;
  obs.gpu_load = 0.5f;
  obs.mem_load = 0.25f;
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs), 100 - (3.8 * 1.3 + 0.12), 1e-5);
  obs.cpu_load = obs.gpu_load = obs.mem_load = 0;
  // The fallback cannot meet the bound and leave the remote half of it: the remote gets the
  // whole bound, and at least the fallback's own time.
  obs.latency_bound_ms = 7.84f;  // F = B / 2 exactly: still reserved
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs), 3.92, 1e-5);
  obs.latency_bound_ms = 6;
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs), 6);
  obs.latency_bound_ms = 2;
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs), kFallbackMs, 1e-5);
  obs.latency_bound_ms = 2;
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs, kCpuFp32L0, 3), 3);  // never past the timeout
  obs.latency_bound_ms = 5000;
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs), 1234);
  // Another fallback action and timeout, as the daemon passes its own.
  obs.latency_bound_ms = 100;
  EXPECT_NEAR(cm->OffloadDeadlineMs(obs, kCpuFp32L1, 1234), 100 - 6.77, 1e-5);
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs, -1, 1234), 100);
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs, kCpuFp32L0, 40), 40);
  obs.latency_bound_ms = std::numeric_limits<float>::infinity();
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs, kCpuFp32L0, 40), 40);
}

TEST_F(CostModelTest, FallbackTargetCanBeNamed) {
  CostModelOptions options;
  options.fallback = "cpu";
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm->fallback_action(), kCpuFp32L0);
  options.fallback = "gpu";  // fp16 only: no FP32 action, so no fallback and no reserve
  cm = Build(options);
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm->fallback_action(), -1);
  Observation obs = Obs(kNetModel);
  obs.latency_bound_ms = 100;
  EXPECT_DOUBLE_EQ(cm->OffloadDeadlineMs(obs), 100);

  for (const char* bad : {"cloud", "tpu"}) {
    options.fallback = bad;
    auto r = CostModel::Create(phone_, models_, *catalog_, options);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "fallback target '" + std::string(bad) +
                                        "' is not a local target of device 'phone' (its local "
                                        "targets: cpu, gpu)");
  }
}

// The issue's case: an upload at 0.12 Mbit/s would take 667 ms; with a 100 ms bound the phone
// gives up at the deadline and runs the request on the CPU.
TEST_F(CostModelTest, SlowUploadGivesUpAtTheDeadlineAndRunsTheFallback) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_up_mbps = 0.12f;
  obs.latency_bound_ms = 100;
  const double deadline = 100 - kFallbackMs;
  ASSERT_NEAR(cm->OffloadDeadlineMs(obs), deadline, 1e-5);
  Conditions c;
  c.next_gap_s = 0.3;  // tail 150 mW x 0.3 s
  Outcome o = cm->Evaluate(kCloudFp32, obs, c);
  EXPECT_FALSE(o.failed);  // the fallback answered
  ExpectClose(o.latency_ms, deadline + kFallbackMs, "latency: deadline + fallback run");
  EXPECT_LE(o.latency_ms, deadline + kFallbackMs + 1e-4);
  ExpectClose(o.accuracy, 0.80, "the fallback's fp32 accuracy");
  // Radio: uploading (300 x 0.12 + 200 mW) until the deadline, then its tail; idle power until
  // the deadline; the fallback's run.
  const double radio_mj = 236 * deadline / 1000;
  ExpectClose(o.energy_mj, radio_mj + 150 * 0.3 + 50 * deadline / 1000 + kFallbackMj, "energy");
  // Far less than uploading for 667 ms.
  Observation unbounded = obs;
  unbounded.latency_bound_ms = std::numeric_limits<float>::infinity();
  const Outcome full = cm->Evaluate(kCloudFp32, unbounded, c);
  EXPECT_GT(full.latency_ms, 667);
  EXPECT_LT(o.energy_mj, full.energy_mj);

  // The fallback runs under the same co-runners and compute noise; the deadline reserved its
  // predicted (noise-free) time.
  obs.cpu_load = 0.4f;
  obs.gpu_load = 0.5f;
  obs.mem_load = 0.25f;
  c.compute_factor = 2;
  const double loaded_deadline = 100 - (3.8 * 1.3 + 0.12);
  const double run = 3.8 * 2 * 1.3 + 0.12;
  o = cm->Evaluate(kCloudFp32, obs, c);
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, loaded_deadline + run, "noisy fallback latency");
  ExpectClose(o.energy_mj,
              (236 * loaded_deadline + 50 * loaded_deadline) / 1000 + 150 * 0.3 + 1.1 * run,
              "noisy fallback energy");

  // With a promotion (100 ms, longer than the deadline) the radio never left it.
  obs = Obs(kNetModel);
  obs.wifi_up_mbps = 0.12f;
  obs.latency_bound_ms = 100;
  c = Conditions{};
  c.prev_gap_s = 1;
  o = cm->Evaluate(kCloudFp32, obs, c);
  ExpectClose(o.latency_ms, deadline + kFallbackMs, "promoted latency");
  ExpectClose(o.energy_mj, (250 * deadline + 50 * deadline) / 1000 + kFallbackMj,
              "promoted energy");

  // Predict is Evaluate without noise: the same rule, with the expected gap's tail (0.2 s).
  Outcome p = cm->Predict(kCloudFp32, obs);
  ExpectClose(p.latency_ms, deadline + kFallbackMs, "predicted latency");
  ExpectClose(p.energy_mj, (236 * deadline + 50 * deadline) / 1000 + 150 * 0.2 + kFallbackMj,
              "predicted energy");
  EXPECT_FALSE(p.failed);
}

TEST_F(CostModelTest, GivenUpWhileWaitingChargesEachPhaseUntilTheDeadline) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  // The fast link needs 34.28 ms (rtt 25, upload 4, server 5.08, download 0.2); a 30 ms bound
  // gives up at 26.08 ms, 22.08 ms into the wait for the server.
  Observation obs = Obs(kNetModel);
  obs.latency_bound_ms = 30;
  const double deadline = 30 - kFallbackMs;
  Outcome o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 30, "latency");
  const double radio_mj = (6200 * 4 + 200 * (deadline - 4)) / 1000;
  ExpectClose(o.energy_mj, radio_mj + 50 * deadline / 1000 + kFallbackMj, "energy");
}

TEST_F(CostModelTest, FastLinkWithinTheDeadlineIsUnchanged) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Conditions c;
  c.prev_gap_s = 1.0;
  c.next_gap_s = 0.3;
  Observation obs = Obs(kNetModel);
  const Outcome free = cm->Evaluate(kCloudFp32, obs, c);  // no bound
  ExpectClose(free.latency_ms, 134.28, "unbounded latency");
  for (float bound : {270.0f, 150.0f, 138.21f}) {  // deadlines 266.08, 146.08, 134.29 ms
    SCOPED_TRACE(bound);
    obs.latency_bound_ms = bound;
    const Outcome o = cm->Evaluate(kCloudFp32, obs, c);
    EXPECT_EQ(o.latency_ms, free.latency_ms);
    EXPECT_EQ(o.energy_mj, free.energy_mj);
    EXPECT_EQ(o.accuracy, free.accuracy);
    EXPECT_FALSE(o.failed);
  }
  // Just past the deadline, it is given up.
  obs.latency_bound_ms = 138.19f;
  EXPECT_NEAR(cm->Evaluate(kCloudFp32, obs, c).latency_ms, 138.19, 1e-3);
}

TEST_F(CostModelTest, NoBoundWaitsUntilTheRemoteTimeout) {
  CostModelOptions options;
  options.remote_timeout_ms = 1234;
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_up_mbps = 0.02f;  // 4 s to upload
  Outcome o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 1234 + kFallbackMs, "latency");
  ExpectClose(o.energy_mj, (300 * 0.02 + 200 + 50) * 1.234 + kFallbackMj, "energy");
  // A bound far above the timeout changes nothing.
  obs.latency_bound_ms = 1e6;
  EXPECT_EQ(cm->Evaluate(kCloudFp32, obs, Conditions{}).latency_ms, o.latency_ms);
}

TEST_F(CostModelTest, DeadOrDroppedLinkWaitsUntilTheDeadlineThenFallsBack) {
  CostModelOptions options;
  options.remote_timeout_ms = 1234;
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_up_mbps = 0;
  Outcome o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 1234 + kFallbackMs, "latency");
  ExpectClose(o.energy_mj, (50 + 200) * 1.234 + kFallbackMj, "energy: idle + Wi-Fi base power");
  ExpectClose(o.accuracy, 0.80, "accuracy");

  obs = Obs(kRnnModel);
  obs.wifi_rssi_dbm = kNoSignalDbm;
  obs.cell_down_mbps = 0;
  obs.latency_bound_ms = 500;  // deadline 500 - 4.52
  o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 500, "cellular latency");
  ExpectClose(o.energy_mj, (50 + 1000) * (500 - 4.52) / 1000 + 1.1 * 4.52, "cellular energy");
  ExpectClose(o.accuracy, 0.90, "rnn accuracy");

  Conditions c;
  c.network_factor = 0;
  o = cm->Evaluate(kNearbyFp32, Obs(kNetModel), c);
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 1234 + kFallbackMs, "nearby latency");
  c = Conditions{};
  c.drop = true;
  c.prev_gap_s = 1;     // promotion 100 ms, then base power
  c.next_gap_s = 0.25;  // and the tail
  o = cm->Evaluate(kCloudFp32, Obs(kNetModel), c);
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 1234 + kFallbackMs, "dropped");
  ExpectClose(o.energy_mj, (250 * 100 + 200 * 1134 + 50 * 1234) / 1000.0 + 150 * 0.25 + kFallbackMj,
              "dropped energy");
  // A good link does not time out.
  o = cm->Evaluate(kCloudFp32, Obs(kNetModel), Conditions{});
  EXPECT_FALSE(o.failed);
  ExpectClose(o.latency_ms, 34.28, "good link");
}

TEST_F(CostModelTest, GivenUpWithoutAFallbackFails) {
  CostModelOptions options;
  options.remote_timeout_ms = 1234;
  options.fallback = "gpu";  // no FP32 there: nothing to fall back to
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_up_mbps = 0;
  Outcome o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_TRUE(o.failed);
  ExpectClose(o.latency_ms, 1234, "latency: the deadline");
  ExpectClose(o.energy_mj, (50 + 200) * 1.234, "energy until the deadline");
  obs.latency_bound_ms = 100;  // no reserve: the whole bound
  o = cm->Evaluate(kCloudFp32, obs, Conditions{});
  EXPECT_TRUE(o.failed);
  ExpectClose(o.latency_ms, 100, "bounded");
  EXPECT_TRUE(MissesLatency(o, obs));
}

// ---- Predict ---------------------------------------------------------------------------------

TEST_F(CostModelTest, PredictIsEvaluateWithNeutralConditionsAndExpectedGaps) {
  CostModelOptions options;
  options.expected_gap_s = 0.7;
  auto cm = Build(options);
  ASSERT_NE(cm, nullptr);
  EXPECT_DOUBLE_EQ(cm->options().expected_gap_s, 0.7);
  Conditions c;
  c.prev_gap_s = 0.7f;
  c.next_gap_s = 0.7f;
  for (int model : {kNetModel, kRnnModel}) {
    for (int wifi : {0, 1}) {
      Observation obs = Obs(model);
      obs.cpu_load = 0.3f;
      obs.mem_load = 0.6f;
      if (!wifi) obs.wifi_rssi_dbm = kNoSignalDbm;
      for (int a = 0; a < cm->actions().size(); ++a) {
        SCOPED_TRACE(cm->actions().names[a] + " model " + std::to_string(model));
        Outcome p = cm->Predict(a, obs);
        Outcome e = cm->Evaluate(a, obs, c);
        EXPECT_EQ(p.latency_ms, e.latency_ms);
        EXPECT_EQ(p.energy_mj, e.energy_mj);
        EXPECT_EQ(p.accuracy, e.accuracy);
        EXPECT_EQ(p.failed, e.failed);
      }
    }
  }
  // The gaps matter: 0.7 s > the Wi-Fi tail, so Predict includes the promotion and a full tail.
  Outcome p = cm->Predict(kCloudFp32, Obs(kNetModel));
  const double latency = 100 + 34.28;
  ExpectClose(p.latency_ms, latency, "predicted latency");
  ExpectClose(p.energy_mj, 56.656 + 150 * 0.5 + 50 * latency / 1000, "predicted energy");
}

TEST_F(CostModelTest, PredictWithTheDefaultGap) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  EXPECT_DOUBLE_EQ(cm->options().expected_gap_s, 0.2);
  Outcome p = cm->Predict(kCloudFp32, Obs(kNetModel));
  ExpectClose(p.latency_ms, 34.28, "latency: no promotion");
  ExpectClose(p.energy_mj, 31.656 + 150 * 0.2 + 50 * 34.28 / 1000, "energy: 0.2 s of tail");
  Outcome local = cm->Predict(kCpuFp32L0, Obs(kNetModel));
  ExpectClose(local.latency_ms, 3.92, "local");
}

// ---- Feasibility -----------------------------------------------------------------------------

TEST_F(CostModelTest, FeasibleWithEveryLinkUp) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(Feasible(*cm, Obs(kNetModel)),
            (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCpuInt8L0, kCpuInt8L1, kGpuFp16, kCloudFp32,
                              kCloudFp16, kNearbyFp32}));
  // rnn has only fp32: no int8 on the cpu, no fp16 on the gpu or the cloud.
  EXPECT_EQ(Feasible(*cm, Obs(kRnnModel)),
            (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCloudFp32, kNearbyFp32}));
}

TEST_F(CostModelTest, FeasibleAppliesTheAccuracyFloor) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.min_accuracy = 0.76f;  // int8 (0.75) is out
  EXPECT_EQ(Feasible(*cm, obs), (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kGpuFp16, kCloudFp32,
                                                  kCloudFp16, kNearbyFp32}));
  obs.min_accuracy = 0.75f;  // meeting the floor exactly is enough
  EXPECT_EQ(Feasible(*cm, obs).size(), 8u);
  obs.min_accuracy = 0.81f;
  EXPECT_TRUE(Feasible(*cm, obs).empty());
}

TEST_F(CostModelTest, FeasibleFallsBackToCellularAndDropsDeadLinks) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  Observation obs = Obs(kNetModel);
  obs.wifi_rssi_dbm = kNoSignalDbm;  // cellular still carries the cloud
  EXPECT_EQ(Feasible(*cm, obs).size(), 8u);
  obs.cell_rsrp_dbm = kNoSignalDbm;  // no Wi-Fi, no cellular: no cloud
  EXPECT_EQ(Feasible(*cm, obs), (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCpuInt8L0, kCpuInt8L1,
                                                  kGpuFp16, kNearbyFp32}));
  obs.p2p_rssi_dbm = kNoSignalDbm;  // and no nearby device: no remote actions at all
  EXPECT_EQ(Feasible(*cm, obs),
            (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCpuInt8L0, kCpuInt8L1, kGpuFp16}));

  obs = Obs(kNetModel);
  obs.wifi_rssi_dbm = -95;   // connected but below Wi-Fi's -90 dBm minimum
  obs.cell_rsrp_dbm = -125;  // below LTE's -120 dBm minimum
  obs.p2p_rssi_dbm = -86;    // below Wi-Fi Direct's -85 dBm minimum
  EXPECT_EQ(Feasible(*cm, obs),
            (std::vector<int>{kCpuFp32L0, kCpuFp32L1, kCpuInt8L0, kCpuInt8L1, kGpuFp16}));
  obs.p2p_rssi_dbm = -85;  // at the minimum is usable
  obs.cell_rsrp_dbm = -120;
  EXPECT_EQ(Feasible(*cm, obs).size(), 8u);
}

// PredictFeasible is the batch form of Predict: for every feasible action the same latency,
// energy and miss flags, bit for bit, whatever the loads, links, bound and floor (local actions
// through its vectorised pass, remote ones through the deadline and fallback rule).
TEST_F(CostModelTest, PredictFeasibleEqualsPredictBitForBit) {
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  const int n = cm->actions().size();
  std::vector<float> latency(n), energy(n);
  std::vector<int32_t> flags(n);
  uint64_t x = 12345;
  auto uniform = [&x] {  // 53-bit LCG draw in [0, 1)
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((x >> 11) * (1.0 / 9007199254740992.0));
  };
  int remote_checked = 0, fell_back = 0;
  for (int i = 0; i < 2000; ++i) {
    Observation obs = Obs(i % 2 == 0 ? kNetModel : kRnnModel);
    obs.cpu_load = uniform();
    obs.gpu_load = uniform();
    obs.mem_load = uniform();
    obs.wifi_rssi_dbm = uniform() < 0.2f ? kNoSignalDbm : -95 + 50 * uniform();
    obs.cell_rsrp_dbm = uniform() < 0.2f ? kNoSignalDbm : -130 + 50 * uniform();
    obs.p2p_rssi_dbm = -95 + 40 * uniform();
    // Throughputs down to 0.001 Mbit/s: an upload that misses its deadline and falls back.
    obs.wifi_up_mbps = std::pow(10.0f, -3 + 5 * uniform());
    obs.wifi_down_mbps = std::pow(10.0f, -3 + 5 * uniform());
    obs.cell_up_mbps = std::pow(10.0f, -3 + 4 * uniform());
    obs.cell_down_mbps = std::pow(10.0f, -3 + 4 * uniform());
    obs.latency_bound_ms = uniform() < 0.1f ? std::numeric_limits<float>::infinity()
                                            : 1 + 500 * uniform();
    obs.min_accuracy = uniform() < 0.5f ? 0.0f : 0.7f + 0.1f * uniform();
    const std::vector<int> feasible = Feasible(*cm, obs);
    if (feasible.empty()) continue;
    cm->PredictFeasible(obs, feasible, latency.data(), energy.data(), flags.data());
    for (const int a : feasible) {
      const Outcome o = cm->Predict(a, obs);
      const int32_t want = (o.failed ? 1 : 0) | (MissesAccuracy(o, obs) ? 2 : 0);
      ASSERT_EQ(latency[a], o.latency_ms) << "action " << cm->actions().names[a] << ", draw " << i;
      ASSERT_EQ(energy[a], o.energy_mj) << "action " << cm->actions().names[a] << ", draw " << i;
      ASSERT_EQ(flags[a], want) << "action " << cm->actions().names[a] << ", draw " << i;
      const bool remote = IsRemote(cm->actions().target_kinds[cm->actions().actions[a].target]);
      remote_checked += remote;
      fell_back += remote && o.accuracy == cm->Predict(cm->fallback_action(), obs).accuracy &&
                   o.latency_ms > obs.latency_bound_ms / 2;
    }
  }
  // The draws reached the remote path, including offloads given up at their deadline.
  EXPECT_GT(remote_checked, 1000);
  EXPECT_GT(fell_back, 10);
}

TEST_F(CostModelTest, ServerLackingAPrecisionRemovesThatAction) {
  // The phone lists cloud int8, but srv's computing target has no int8.
  ASSERT_TRUE(phone_.targets[2].Supports(Precision::kInt8));
  auto cm = Build();
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm->actions().Find("cloud", Precision::kInt8), -1);
  for (const std::string& name : cm->actions().names) EXPECT_NE(name, "cloud/int8");
}

// ---- Create errors ---------------------------------------------------------------------------

DeviceProfile ParsedDevice(const std::string& text) {
  auto root = ConfigNode::LoadString(text);
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  auto d = ParseDeviceProfile(*root);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : DeviceProfile{};
}

std::string WithTarget(std::string text, const std::string& from, const std::string& to) {
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

TEST_F(CostModelTest, RejectsAServerDevice) {
  auto srv = catalog_->Device("srv");
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  auto cm = CostModel::Create(**srv, models_, *catalog_);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(cm.status().message(), "device 'srv'")) << cm.status().message();
  EXPECT_TRUE(Contains(cm.status().message(), "server")) << cm.status().message();
}

TEST_F(CostModelTest, RejectsNoModels) {
  auto cm = CostModel::Create(phone_, {}, *catalog_);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CostModelTest, MissingServerNamesDeviceAndTarget) {
  DeviceProfile d = ParsedDevice(
      WithTarget(kPhone, "server: srv\n    network: auto", "server: srvr\n    network: auto"));
  auto cm = CostModel::Create(d, models_, *catalog_);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kNotFound);
  const std::string& msg = cm.status().message();
  EXPECT_TRUE(Contains(msg, "device 'phone', target 'cloud': ")) << msg;
  EXPECT_TRUE(Contains(msg, "'srvr'")) << msg;
  EXPECT_TRUE(Contains(msg, "did you mean 'srv'?")) << msg;
}

TEST_F(CostModelTest, RemoteServerMustBeAServer) {
  DeviceProfile d = ParsedDevice(
      WithTarget(kPhone, "server: srv\n    network: p2p", "server: phone\n    network: p2p"));
  auto cm = CostModel::Create(d, models_, *catalog_);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(cm.status().message(),
                       "device 'phone', target 'nearby': 'phone' is not a "
                       "server profile"))
      << cm.status().message();
}

TEST_F(CostModelTest, MissingNetworkNamesDeviceAndTarget) {
  DeviceProfile d = ParsedDevice(WithTarget(kPhone, "network: p2p", "network: p2q"));
  auto cm = CostModel::Create(d, models_, *catalog_);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kNotFound);
  const std::string& msg = cm.status().message();
  EXPECT_TRUE(Contains(msg, "device 'phone', target 'nearby': ")) << msg;
  EXPECT_TRUE(Contains(msg, "no network profile 'p2q'")) << msg;
  EXPECT_TRUE(Contains(msg, "did you mean 'p2p'?")) << msg;
}

TEST_F(CostModelTest, AutoNetworkNeedsWifiAndLte) {
  fs::path root = TempDir() / "root_without_lte";
  WriteFile(root / "devices" / "srv.yaml", kServer);
  WriteFile(root / "networks" / "wifi.yaml", kWifi);
  WriteFile(root / "networks" / "p2p.yaml", kP2p);
  ProfileCatalog catalog(root.string());
  auto cm = CostModel::Create(phone_, models_, catalog);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), StatusCode::kNotFound);
  const std::string& msg = cm.status().message();
  EXPECT_TRUE(Contains(msg, "device 'phone', target 'cloud': ")) << msg;
  EXPECT_TRUE(Contains(msg, "'lte'")) << msg;

  // A phone without the auto target needs neither.
  DeviceProfile no_cloud = phone_;
  no_cloud.targets.erase(no_cloud.targets.begin() + 2);
  auto ok = CostModel::Create(no_cloud, models_, catalog);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->actions().names.back(), "nearby/fp32");
  EXPECT_EQ((*ok)->actions().size(), 6);
}

}  // namespace
}  // namespace autoscale
