// The daemon's machine probes on fake /proc and /sys trees: CPU load between two /proc/stat
// samples, meminfo with and without MemAvailable, Adreno/amdgpu/Jetson GPU busy files, the
// formats of /proc/net/wireless, signal traces replayed on a fake clock, located errors for
// malformed files, the background thread, and one look at the real /proc.
#include "agent/probes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "test_util.h"

namespace autoscale {
namespace {

constexpr char kMeminfo[] =
    "MemTotal:        1000000 kB\n"
    "MemFree:          100000 kB\n"
    "MemAvailable:     250000 kB\n"
    "Buffers:           50000 kB\n"
    "Cached:           150000 kB\n"
    "Active(anon):      10000 kB\n"
    "HugePages_Total:       0\n";

constexpr char kWirelessHeader[] =
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n";

// A fake /proc (stat, meminfo) and an empty /sys under one temp folder.
struct FakeRoots {
  explicit FakeRoots(const std::string& name) : root(testing::TempDir(name)) {
    options.proc_root = root + "/proc";
    options.sys_root = root + "/sys";
    Stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\nintr 1 2 3\n");
    testing::WriteFile(options.proc_root + "/meminfo", kMeminfo);
    std::filesystem::create_directories(options.sys_root);
  }
  // Replaced by a rename, so that a background sample never reads a half-written file.
  void Stat(const std::string& text) {
    const std::string path = options.proc_root + "/stat";
    testing::WriteFile(path + ".new", text);
    std::filesystem::rename(path + ".new", path);
  }
  void Sys(const std::string& rel, const std::string& text) {
    testing::WriteFile(options.sys_root + "/" + rel, text);
  }
  void Wireless(const std::string& rows) {
    testing::WriteFile(options.proc_root + "/net/wireless", kWirelessHeader + rows);
  }
  std::unique_ptr<SystemProbe> Probe() {
    auto p = SystemProbe::Create(options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::string root;
  ProbeOptions options;
};

TEST(SystemProbe, CpuLoadIsBusyShareOfTheDeltaBetweenSamples) {
  FakeRoots f("probe_cpu");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Latest().cpu_load, 0.0f);  // one sample: no delta yet
  // +300 user, +100 system, +50 idle, +50 iowait, +100 steal; guest columns are not added.
  f.Stat("cpu  400 0 200 850 50 0 0 100 999 999\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_NEAR(p->Latest().cpu_load, 1.0 - 100.0 / 600.0, 1e-6);
  // No time passed (identical counters): the last figure stays.
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_NEAR(p->Latest().cpu_load, 1.0 - 100.0 / 600.0, 1e-6);
  // Fully idle interval; a four-counter line from an old kernel.
  f.Stat("cpu  400 0 200 1850\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_NEAR(p->Latest().cpu_load, 0.0, 1e-6);
}

TEST(SystemProbe, MemLoadUsesMemAvailableOrFreeBuffersCached) {
  FakeRoots f("probe_mem");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_NEAR(p->Latest().mem_load, 0.75, 1e-6);
  testing::WriteFile(f.options.proc_root + "/meminfo",
                     "MemTotal: 1000000 kB\nMemFree: 100000 kB\nBuffers: 50000 kB\n"
                     "Cached: 150000 kB\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_NEAR(p->Latest().mem_load, 0.7, 1e-6);
}

TEST(SystemProbe, NoGpuGivesZeroAndSaysNone) {
  FakeRoots f("probe_nogpu");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->gpu_source(), "none");
  EXPECT_EQ(p->Latest().gpu_load, 0.0f);
  EXPECT_EQ(p->Describe(), "cpu: " + f.options.proc_root + "/stat, mem: " + f.options.proc_root +
                               "/meminfo, gpu: none, wifi: none, cell: none, p2p: none");
}

TEST(SystemProbe, AdrenoBusyPercentageWithOrWithoutPercentSign) {
  FakeRoots f("probe_kgsl");
  f.Sys("class/kgsl/kgsl-3d0/gpu_busy_percentage", "37 %\n");
  f.Sys("class/kgsl/kgsl-3d0/gpubusy", "1 2\n");  // the percentage file is preferred
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->gpu_source(), f.options.sys_root + "/class/kgsl/kgsl-3d0/gpu_busy_percentage");
  EXPECT_NEAR(p->Latest().gpu_load, 0.37, 1e-6);
  f.Sys("class/kgsl/kgsl-3d0/gpu_busy_percentage", "5\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_NEAR(p->Latest().gpu_load, 0.05, 1e-6);
}

TEST(SystemProbe, AdrenoGpubusyIsBusyOverTotal) {
  FakeRoots f("probe_gpubusy");
  f.Sys("class/kgsl/kgsl-3d0/gpubusy", "  250     1000\n");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_NEAR(p->Latest().gpu_load, 0.25, 1e-6);
  f.Sys("class/kgsl/kgsl-3d0/gpubusy", "0 0\n");  // idle window
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().gpu_load, 0.0f);
}

TEST(SystemProbe, AmdgpuTakesTheBusiestCard) {
  FakeRoots f("probe_amdgpu");
  f.Sys("class/drm/card0/device/gpu_busy_percent", "12\n");
  f.Sys("class/drm/card1/device/gpu_busy_percent", "64\n");
  f.Sys("class/drm/card0-HDMI-A-1/device/gpu_busy_percent", "99\n");  // a connector: ignored
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_NEAR(p->Latest().gpu_load, 0.64, 1e-6);
  EXPECT_NE(p->gpu_source().find("card0/device/gpu_busy_percent"), std::string::npos);
  EXPECT_EQ(p->gpu_source().find("HDMI"), std::string::npos);
}

TEST(SystemProbe, JetsonLoadIsPerMille) {
  FakeRoots f("probe_jetson");
  f.Sys("devices/gpu.0/load", "455\n");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_NEAR(p->Latest().gpu_load, 0.455, 1e-6);
}

TEST(SystemProbe, WirelessStrongestInterfaceTrailingDotsAndUnsignedLevels) {
  FakeRoots f("probe_wifi");
  f.Wireless(
      " wlan0: 0000   40.  -71.  -256        0      0      0      0      0        0\n"
      " wlan1: 0000   60.  -52.  -256        0      0      0      0      0        0\n");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -52.0f);
  EXPECT_NE(p->Describe().find("wifi: " + f.options.proc_root + "/net/wireless"),
            std::string::npos);
  // A driver reporting 0..255 (level - 256), without dots.
  f.Wireless("  eth1: 0001 45 196 0 0 0 0 0 0 0\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -60.0f);
  // Only the header: not connected.
  f.Wireless("");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, kNoSignalDbm);
}

TEST(SystemProbe, WirelessNamedInterface) {
  FakeRoots f("probe_wifi_named");
  f.Wireless(
      " wlan0: 0000   40.  -71.  -256        0      0      0      0      0        0\n"
      " wlan1: 0000   60.  -52.  -256        0      0      0      0      0        0\n");
  f.options.wifi_interface = "wlan0";
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -71.0f);
  EXPECT_NE(p->Describe().find("(wlan0)"), std::string::npos);
  f.options.wifi_interface = "wlan7";  // absent: not connected, not an error
  auto q = f.Probe();
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->Latest().wifi_rssi_dbm, kNoSignalDbm);
}

TEST(SystemProbe, WifiDirectInterfacesGiveTheP2pSignalNotTheWifiOne) {
  FakeRoots f("probe_p2p");
  f.Wireless(
      " wlan0: 0000   40.  -71.  -256        0      0      0      0      0        0\n"
      " p2p-wlan0-0: 0000 60. -45. -256 0 0 0 0 0 0\n"
      " p2p0: 0000 30. -80. -256 0 0 0 0 0 0\n");
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -71.0f);  // the stronger p2p group is not the AP link
  EXPECT_EQ(p->Latest().p2p_rssi_dbm, -45.0f);   // the strongest p2p* interface
  EXPECT_NE(p->Describe().find("p2p: " + f.options.proc_root + "/net/wireless (p2p*)"),
            std::string::npos)
      << p->Describe();
  f.options.p2p_interface = "p2p0";
  auto named = f.Probe();
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->Latest().p2p_rssi_dbm, -80.0f);
  // No group: no nearby link.
  f.Wireless(" wlan0: 0000 40. -71. -256 0 0 0 0 0 0\n");
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().p2p_rssi_dbm, kNoSignalDbm);
  // A trace for the p2p link; Wi-Fi still from the file.
  f.options.p2p_interface = "";
  f.options.p2p_trace = testing::WriteFile(f.root + "/p2p.csv", "time_s,signal_dbm\n0,-55\n");
  auto traced = f.Probe();
  ASSERT_NE(traced, nullptr);
  EXPECT_EQ(traced->Latest().p2p_rssi_dbm, -55.0f);
  EXPECT_EQ(traced->Latest().wifi_rssi_dbm, -71.0f);
  EXPECT_NE(traced->Describe().find("p2p: trace " + f.options.p2p_trace), std::string::npos);
  f.options.p2p_trace = f.root + "/missing.csv";
  auto bad = SystemProbe::Create(f.options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("p2p trace"), std::string::npos);
}

TEST(SystemProbe, SignalTracesReplayOnTheProbeClockAndLoop) {
  FakeRoots f("probe_trace");
  f.Wireless(" wlan0: 0000 60. -40. -256 0 0 0 0 0 0\n");  // the trace takes precedence
  f.options.wifi_trace = testing::WriteFile(f.root + "/wifi.csv",
                                            "time_s,signal_dbm\n0,-50\n"
                                            "1,-60\n2,-70\n");
  f.options.cell_trace = testing::WriteFile(f.root + "/cell.csv",
                                            "time_s,down_mbps,rsrp_dbm\n"
                                            "0,10,-90\n5,3,-110\n");
  f.options.cell_trace_column = "rsrp_dbm";
  auto now = std::make_shared<double>(100.0);
  f.options.clock_s = [now] { return *now; };
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -50.0f);
  EXPECT_EQ(p->Latest().cell_rsrp_dbm, -90.0f);
  EXPECT_EQ(p->Latest().sampled_at_s, 0.0);
  *now = 101.5;
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -60.0f);
  EXPECT_EQ(p->Latest().sampled_at_s, 1.5);
  *now = 100.0 + 3.0 + 2.2;  // the wifi trace's period is 3 s
  ASSERT_TRUE(p->SampleNow().ok());
  EXPECT_EQ(p->Latest().wifi_rssi_dbm, -70.0f);
  EXPECT_EQ(p->Latest().cell_rsrp_dbm, -110.0f);
  EXPECT_NE(p->Describe().find("wifi: trace " + f.options.wifi_trace), std::string::npos);
  EXPECT_NE(p->Describe().find("cell: trace " + f.options.cell_trace), std::string::npos);
}

TEST(SystemProbe, TraceErrorsNameTheTrace) {
  FakeRoots f("probe_trace_err");
  f.options.wifi_trace = f.root + "/missing.csv";
  auto p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("wifi trace"), std::string::npos);
  EXPECT_NE(p.status().message().find("missing.csv"), std::string::npos);

  f.options.wifi_trace = "";
  f.options.cell_trace = testing::WriteFile(f.root + "/bad.csv", "time_s,rsrp\n0,-90\nx,1\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("cell trace"), std::string::npos);
  EXPECT_NE(p.status().message().find("bad.csv:3"), std::string::npos) << p.status().message();

  f.options.cell_trace = testing::WriteFile(f.root + "/ok.csv", "time_s,rsrp\n0,-90\n");
  f.options.cell_trace_column = "rsrq";
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("rsrq"), std::string::npos) << p.status().message();
}

TEST(SystemProbe, MissingOrMalformedFilesGiveLocatedErrors) {
  FakeRoots f("probe_errors");
  std::filesystem::remove(f.options.proc_root + "/stat");
  auto p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kIoError);
  EXPECT_NE(p.status().message().find(f.options.proc_root + "/stat"), std::string::npos);

  f.Stat("intr 1 2\ncpu  1 2 x 4 5\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find(f.options.proc_root + "/stat:2: counter 3"),
            std::string::npos)
      << p.status().message();

  f.Stat("cpu0 1 2 3 4\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("no aggregate 'cpu' line"), std::string::npos);

  f.Stat("cpu 1 2 3 4 5\n");
  testing::WriteFile(f.options.proc_root + "/meminfo", "MemTotal: 100 kB\nMemFree 7 kB\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find(f.options.proc_root + "/meminfo:2:"), std::string::npos)
      << p.status().message();

  testing::WriteFile(f.options.proc_root + "/meminfo", kMeminfo);
  f.Wireless(" wlan0: 0000 60. -4x. -256\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find(f.options.proc_root + "/net/wireless:3: level"),
            std::string::npos)
      << p.status().message();

  f.Wireless("");
  f.Sys("class/kgsl/kgsl-3d0/gpubusy", "busy\n");
  p = SystemProbe::Create(f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("gpubusy:1: expected 'busy total'"), std::string::npos)
      << p.status().message();
}

TEST(SystemProbe, BackgroundThreadRefreshesAndKeepsTheLastGoodReading) {
  FakeRoots f("probe_thread");
  f.options.interval_ms = 1;
  auto p = f.Probe();
  ASSERT_NE(p, nullptr);
  f.Stat("cpu  400 0 200 850 50 0 0 100\n");
  p->Start();
  p->Start();  // a no-op
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (p->Latest().cpu_load == 0.0f && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Readers see whole readings while the thread writes.
  for (int i = 0; i < 10000; ++i) {
    const SystemProbe::Reading r = p->Latest();
    ASSERT_NEAR(r.cpu_load, 1.0 - 100.0 / 600.0, 1e-6);
    ASSERT_NEAR(r.mem_load, 0.75, 1e-6);
  }
  // A broken file: the error is kept, the last good reading stays.
  f.Stat("cpu  oops\n");
  while (p->last_error().ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_NE(p->last_error().message().find("/stat:1:"), std::string::npos);
  f.Stat("cpu  400 0 200 850 50 0 0 100\n");
  const double broken_at = p->Latest().sampled_at_s;
  while (p->Latest().sampled_at_s == broken_at && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GT(p->Latest().sampled_at_s, broken_at);  // refreshing again
  p->Stop();
  p->Stop();  // a no-op
  const SystemProbe::Reading a = p->Latest();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(p->Latest().sampled_at_s, a.sampled_at_s);  // stopped: nothing refreshes
  EXPECT_NEAR(a.cpu_load, 1.0 - 100.0 / 600.0, 1e-6);
  p->Start();  // restartable; the destructor stops it
}

TEST(SystemProbe, RealProcGivesFiguresInRange) {
  ProbeOptions options;
  options.interval_ms = 5;
  auto p = SystemProbe::Create(options);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  p.value()->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const SystemProbe::Reading r = p.value()->Latest();
  p.value()->Stop();
  EXPECT_TRUE(p.value()->last_error().ok()) << p.value()->last_error().ToString();
  for (float v : {r.cpu_load, r.gpu_load, r.mem_load}) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  EXPECT_GT(r.mem_load, 0.0f);
  EXPECT_GE(r.wifi_rssi_dbm, kNoSignalDbm);
  EXPECT_LE(r.wifi_rssi_dbm, 0.0f);
  EXPECT_EQ(r.cell_rsrp_dbm, kNoSignalDbm);
  EXPECT_GT(r.sampled_at_s, 0.0);
  // Latest() is a cheap copy.
  const auto t0 = std::chrono::steady_clock::now();
  float sink = 0;
  for (int i = 0; i < 100000; ++i) sink += p.value()->Latest().cpu_load;
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
      100000;
  EXPECT_LT(ns, 1000.0) << sink;
  std::cout << "real probe: " << p.value()->Describe() << "; Latest() " << ns << " ns\n";
}

}  // namespace
}  // namespace autoscale
