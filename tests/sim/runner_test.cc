// EpisodeRunner offers each request the feasible actions CostModel::Feasible gives it, also
// when it reuses a model's last set (the link states and the accuracy floor unchanged).
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <vector>

#include "env/cost_model.h"
#include "policies/policy.h"
#include "sim/simulation.h"
#include "sim/world.h"
#include "test_util.h"

namespace autoscale {
namespace {

// Checks every offered set against the cost model's, and counts the requests offered a
// remote action.
class CheckingPolicy : public Policy {
 public:
  explicit CheckingPolicy(const CostModel& cm) : cm_(cm), want_(cm.actions().size()) {}
  std::string_view name() const override { return "checking"; }
  int Decide(const Observation& obs, std::span<const int> feasible) override {
    const int n = cm_.Feasible(obs, want_);
    EXPECT_EQ(std::vector<int>(feasible.begin(), feasible.end()),
              std::vector<int>(want_.begin(), want_.begin() + n))
        << "request at " << obs.time_s << " s, model " << obs.model;
    ++decisions_;
    for (const int a : feasible) {
      if (IsRemote(cm_.actions().target_kinds[cm_.actions().actions[a].target])) {
        ++remote_;
        break;
      }
    }
    return feasible.back();
  }
  int decisions_ = 0, remote_ = 0;

 private:
  const CostModel& cm_;
  std::vector<int> want_;
};

TEST(EpisodeRunner, OffersEachRequestTheFeasibleActionsAsTheLinksAndFloorsChange) {
  ProfileCatalog catalog{testing::ConfigRoot()};
  auto dev = catalog.Device("sd845");
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  std::vector<ModelProfile> models;
  for (const char* m : {"mobilenet_v1", "resnet50"}) models.push_back(**catalog.Model(m));
  auto cm = CostModel::Create(**dev, models, catalog);
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  auto wifi = catalog.Network("wifi");
  ASSERT_TRUE(wifi.ok()) << wifi.status().ToString();

  // Wi-Fi (usable from -90 dBm) and Wi-Fi Direct (the nearby device) come and go, in steps the
  // requests fall between; two models alternate; the accuracy floor changes every 7 requests.
  Episode ep;
  const int n = 400;
  std::vector<double> times, wifi_dbm, p2p_dbm, zero;
  for (int k = 0; k < 40; ++k) {
    times.push_back(k * 1.0);
    wifi_dbm.push_back(k % 3 == 0 ? -95.0 : k % 3 == 1 ? -60.0 : -89.5);
    p2p_dbm.push_back(k % 4 == 0 ? -100.0 : -50.0);
    zero.push_back(0.0);
  }
  ep.wifi_dbm = Trace("wifi", {"signal_dbm"}, times, {wifi_dbm});
  ep.p2p_dbm = Trace("p2p", {"signal_dbm"}, times, {p2p_dbm});
  ep.cpu = ep.gpu = ep.mem = Trace("load", {"load"}, times, {zero});
  ep.wifi_connected = true;
  ep.wifi_profile = *wifi;
  for (int i = 0; i < n; ++i) {
    ep.time_s.push_back(i * 0.1);
    ep.model.push_back(i % 2);
    ep.latency_bound_ms.push_back(100);
    // Floors that every, some and no action meets.
    ep.min_accuracy.push_back((i / 7) % 3 == 0 ? 0.0f : (i / 7) % 3 == 1 ? 0.7f : 0.99f);
  }
  ep.mean_gap_s = 0.1;

  CheckingPolicy policy(**cm);
  WorldOptions opt;
  World world(**cm, ep, opt, 3);
  RunEpisode(policy, **cm, ep, world, /*training=*/false, EpisodeRecording{});
  // Requests no action can serve (the 0.99 floor) are not offered to the policy.
  EXPECT_GT(policy.decisions_, n / 2);
  EXPECT_LT(policy.decisions_, n);
  // Remote actions were offered to some requests only: the links really changed.
  EXPECT_GT(policy.remote_, 0);
  EXPECT_LT(policy.remote_, policy.decisions_);
}

}  // namespace
}  // namespace autoscale
