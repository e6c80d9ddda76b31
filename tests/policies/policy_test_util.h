// Fixtures shared by the policy tests: cost models of shipped profiles and observations on them.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "env/cost_model.h"
#include "env/profiles.h"
#include "test_util.h"

namespace autoscale::testing {

// Whether `s` contains `sub`, printing both when not.
inline ::testing::AssertionResult Contains(const std::string& s, const std::string& sub) {
  if (s.find(sub) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << sub << "\"";
}

// A cost model for a shipped device and shipped models; null (with a test failure) on error.
inline std::unique_ptr<CostModel> MakeCostModel(const std::string& device,
                                                const std::vector<std::string>& models) {
  ProfileCatalog catalog(ConfigRoot());
  auto dev = catalog.Device(device);
  EXPECT_TRUE(dev.ok()) << dev.status().ToString();
  if (!dev.ok()) return nullptr;
  std::vector<ModelProfile> profiles;
  for (const auto& m : models) {
    auto p = catalog.Model(m);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return nullptr;
    profiles.push_back(**p);
  }
  auto cm = CostModel::Create(**dev, profiles, catalog);
  EXPECT_TRUE(cm.ok()) << cm.status().ToString();
  if (!cm.ok()) return nullptr;
  return std::move(cm).value();
}

// An observation of model `model` on strong Wi-Fi, no cellular, no co-runners.
inline Observation ObsFor(const CostModel& cm, int model) {
  const ModelProfile& m = cm.models()[model];
  Observation o;
  o.model = model;
  o.conv_layers = m.conv_layers;
  o.fc_layers = m.fc_layers;
  o.recurrent_layers = m.recurrent_layers;
  o.macs = m.macs;
  o.wifi_rssi_dbm = -58;
  o.wifi_down_mbps = 60;
  o.wifi_up_mbps = 25;
  return o;
}

inline std::vector<int> FeasibleOf(const CostModel& cm, const Observation& obs) {
  std::vector<int> out(cm.actions().size());
  out.resize(cm.Feasible(obs, out));
  return out;
}

}  // namespace autoscale::testing
