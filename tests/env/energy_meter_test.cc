// Energy counters on a fake sysfs tree: RAPL package domains (sub-zones ignored, wrap-around),
// a battery's power or current x voltage, and hosts with neither.
#include "env/energy_meter.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace autoscale {
namespace {

TEST(EnergyMeter, RaplSumsPackagesAndHandlesWrap) {
  const std::string root = testing::TempDir("rapl");
  const std::string pc = root + "/class/powercap/";
  testing::WriteFile(pc + "intel-rapl:0/energy_uj", "1000\n");
  testing::WriteFile(pc + "intel-rapl:0/max_energy_range_uj", "10000\n");
  testing::WriteFile(pc + "intel-rapl:1/energy_uj", "500\n");
  testing::WriteFile(pc + "intel-rapl:1/max_energy_range_uj", "10000\n");
  testing::WriteFile(pc + "intel-rapl:0:0/energy_uj", "999999\n");  // a sub-zone: not summed
  auto m = EnergyMeter::Detect(root);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->kind(), EnergyMeter::Kind::kRapl);
  auto a = m->Read();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value, 1500);
  testing::WriteFile(pc + "intel-rapl:0/energy_uj", "4000\n");
  auto b = m->Read();
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(m->EnergyMj(*a, *b), 3.0);                  // 3000 uJ
  testing::WriteFile(pc + "intel-rapl:0/energy_uj", "100\n");  // wrapped past 10000
  auto c = m->Read();
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(m->EnergyMj(*b, *c), (100 + 500 + 20000 - 4500) / 1000.0);
}

TEST(EnergyMeter, BatteryPowerOrCurrentTimesVoltage) {
  const std::string root = testing::TempDir("battery");
  const std::string ps = root + "/class/power_supply/";
  testing::WriteFile(ps + "AC/type", "Mains\n");
  testing::WriteFile(ps + "BAT0/type", "Battery\n");
  testing::WriteFile(ps + "BAT0/current_now", "-500000\n");  // 0.5 A discharging
  testing::WriteFile(ps + "BAT0/voltage_now", "4000000\n");  // 4 V
  auto m = EnergyMeter::Detect(root);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->kind(), EnergyMeter::Kind::kBattery);
  EXPECT_EQ(m->description(), "battery: BAT0");
  auto a = m->Read();
  ASSERT_TRUE(a.ok());
  EXPECT_DOUBLE_EQ(a->value, 2e6);  // 2 W in uW
  EnergyMeter::Sample b = *a;
  b.time += std::chrono::milliseconds(100);
  EXPECT_NEAR(m->EnergyMj(*a, b), 200.0, 1e-6);  // 2 W x 100 ms
}

TEST(EnergyMeter, NoneSaysWhatWasLookedFor) {
  std::string why;
  EXPECT_EQ(EnergyMeter::Detect(testing::TempDir("nothing"), &why), nullptr);
  EXPECT_NE(why.find("RAPL"), std::string::npos);
  EXPECT_NE(why.find("battery"), std::string::npos);
}

}  // namespace
}  // namespace autoscale
