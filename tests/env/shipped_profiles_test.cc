// Checks of the profiles shipped under configs/: they load, they fit together, their numbers are
// in the published ranges, and every number carries a comment naming its source.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "env/cost_model.h"
#include "env/profiles.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

std::string ConfigRoot() { return std::string(AUTOSCALE_SOURCE_DIR) + "/configs"; }

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<ModelProfile> AllModels(ProfileCatalog& catalog) {
  std::vector<ModelProfile> out;
  for (const std::string& name : catalog.Available("models")) {
    auto m = catalog.Model(name);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (m.ok()) out.push_back(**m);
  }
  return out;
}

// An observation with every link up and no co-runners.
Observation GoodLinks(int model) {
  Observation obs;
  obs.model = model;
  obs.wifi_rssi_dbm = -60;
  obs.wifi_down_mbps = 100;
  obs.wifi_up_mbps = 50;
  obs.cell_rsrp_dbm = -90;
  obs.cell_down_mbps = 20;
  obs.cell_up_mbps = 8;
  obs.p2p_rssi_dbm = -60;
  return obs;
}

TEST(ShippedProfilesTest, EveryProfileLoads) {
  ProfileCatalog catalog(ConfigRoot());
  const std::vector<std::string> devices = catalog.Available("devices");
  const std::vector<std::string> networks = catalog.Available("networks");
  const std::vector<std::string> models = catalog.Available("models");
  for (const char* d : {"sd810", "sd845", "sd855", "cloud_gpu", "tablet"}) {
    EXPECT_TRUE(Has(devices, d)) << d;
  }
  for (const char* n : {"wifi", "lte", "wifi_direct"}) EXPECT_TRUE(Has(networks, n)) << n;
  for (const char* m : {"mobilenet_v1", "mobilenet_v2", "resnet50", "vgg16", "inception_v3"}) {
    EXPECT_TRUE(Has(models, m)) << m;
  }
  for (const std::string& name : devices) {
    auto p = catalog.Device(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ((*p)->name, name);
  }
  for (const std::string& name : networks) {
    auto p = catalog.Network(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ((*p)->name, name);
  }
  for (const std::string& name : models) {
    auto p = catalog.Model(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ((*p)->name, name);
  }
}

TEST(ShippedProfilesTest, EveryPhoneBuildsACostModelWithEveryModel) {
  ProfileCatalog catalog(ConfigRoot());
  const std::vector<ModelProfile> models = AllModels(catalog);
  ASSERT_FALSE(models.empty());
  int phones = 0;
  for (const std::string& name : catalog.Available("devices")) {
    auto d = catalog.Device(name);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    if ((*d)->role != "phone") continue;
    ++phones;
    SCOPED_TRACE(name);
    auto cm = CostModel::Create(**d, models, catalog);
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
    const CostModel& c = **cm;
    EXPECT_GT(c.actions().size(), 0);
    // Both kinds of offloading are offered.
    EXPECT_FALSE(c.actions().OfKind(TargetKind::kCloud).empty());
    EXPECT_FALSE(c.actions().OfKind(TargetKind::kNearby).empty());
    std::vector<int> ids(c.actions().size());
    for (int m = 0; m < c.num_models(); ++m) {
      SCOPED_TRACE(models[m].name);
      const Observation obs = GoodLinks(m);
      const int n = c.Feasible(obs, ids);
      EXPECT_GT(n, 0);
      for (int i = 0; i < n; ++i) {
        Outcome o = c.Predict(ids[i], obs);
        EXPECT_FALSE(o.failed) << c.actions().names[ids[i]];
        EXPECT_TRUE(std::isfinite(o.latency_ms) && o.latency_ms > 0) << c.actions().names[ids[i]];
        EXPECT_TRUE(std::isfinite(o.energy_mj) && o.energy_mj > 0) << c.actions().names[ids[i]];
        EXPECT_GT(o.accuracy, 0) << c.actions().names[ids[i]];
      }
    }
  }
  EXPECT_GE(phones, 3);
}

TEST(ShippedProfilesTest, PhoneTargets) {
  ProfileCatalog catalog(ConfigRoot());
  auto sd810 = catalog.Device("sd810");
  ASSERT_TRUE(sd810.ok()) << sd810.status().ToString();
  EXPECT_EQ((*sd810)->FindTarget("dsp"), -1);
  for (const TargetProfile& t : (*sd810)->targets) EXPECT_NE(t.kind, TargetKind::kDsp) << t.name;

  const std::map<std::string, TargetKind> expected = {
      {"cpu_big", TargetKind::kCpu}, {"cpu_little", TargetKind::kCpu},
      {"gpu", TargetKind::kGpu},     {"dsp", TargetKind::kDsp},
      {"cloud", TargetKind::kCloud}, {"nearby", TargetKind::kNearby}};
  for (const char* name : {"sd845", "sd855"}) {
    SCOPED_TRACE(name);
    auto d = catalog.Device(name);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    for (const auto& [target, kind] : expected) {
      const int i = (*d)->FindTarget(target);
      ASSERT_GE(i, 0) << target;
      EXPECT_EQ((*d)->targets[i].kind, kind) << target;
    }
    const TargetProfile& cloud = (*d)->targets[(*d)->FindTarget("cloud")];
    EXPECT_EQ(cloud.server, "cloud_gpu");
    EXPECT_EQ(cloud.network, "auto");
    const TargetProfile& nearby = (*d)->targets[(*d)->FindTarget("nearby")];
    EXPECT_EQ(nearby.server, "tablet");
    EXPECT_EQ(nearby.network, "wifi_direct");
  }
}

TEST(ShippedProfilesTest, LevelPowerFallsWithFrequency) {
  ProfileCatalog catalog(ConfigRoot());
  for (const std::string& name : catalog.Available("devices")) {
    auto d = catalog.Device(name);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    for (const TargetProfile& t : (*d)->targets) {
      for (size_t l = 1; l < t.levels.size(); ++l) {
        EXPECT_LT(t.levels[l].power_mw, t.levels[l - 1].power_mw)
            << name << " " << t.name << " level " << l;
      }
    }
  }
}

struct ModelRange {
  const char* name;
  double macs_lo, macs_hi;  // published MACs (multiply-accumulates) at the usual input size
  double params_lo, params_hi;
  double fp32_lo, fp32_hi;  // published top-1 (or keyword-spotting) accuracy
};

TEST(ShippedProfilesTest, ModelNumbersAreInPublishedRanges) {
  const ModelRange ranges[] = {
      {"resnet50", 3.9e9, 4.2e9, 25.0e6, 26.0e6, 0.75, 0.77},        // ~4.1 GMACs, 25.6 M
      {"resnet18", 1.7e9, 1.9e9, 11.5e6, 11.9e6, 0.69, 0.71},        // 1.8 GMACs, 11.7 M
      {"mobilenet_v1", 560e6, 580e6, 4.1e6, 4.3e6, 0.69, 0.72},      // 569 M, 4.2 M
      {"mobilenet_v2", 290e6, 310e6, 3.4e6, 3.6e6, 0.70, 0.73},      // ~300 M, 3.5 M
      {"vgg16", 15.3e9, 15.6e9, 138e6, 139e6, 0.70, 0.73},           // ~15.5 G, 138 M
      {"inception_v1", 1.4e9, 1.6e9, 6.5e6, 7.0e6, 0.68, 0.71},      // 1.5 G, 6.6 M
      {"inception_v3", 5.6e9, 5.8e9, 23.5e6, 27.5e6, 0.77, 0.79},    // 5.7 G, 23.8 M (27 M w/ aux)
      {"squeezenet_1_1", 0.33e9, 0.37e9, 1.2e6, 1.3e6, 0.57, 0.60},  // 0.35 G, 1.24 M
      {"kws_lstm", 10e6, 50e6, 0.3e6, 1.0e6, 0.90, 0.96},            // Hello Edge LSTM
  };
  ProfileCatalog catalog(ConfigRoot());
  for (const ModelRange& r : ranges) {
    SCOPED_TRACE(r.name);
    auto m = catalog.Model(r.name);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_GE((*m)->macs, r.macs_lo);
    EXPECT_LE((*m)->macs, r.macs_hi);
    EXPECT_GE((*m)->params, r.params_lo);
    EXPECT_LE((*m)->params, r.params_hi);
    EXPECT_GE((*m)->Accuracy(Precision::kFp32), r.fp32_lo);
    EXPECT_LE((*m)->Accuracy(Precision::kFp32), r.fp32_hi);
  }
  // Every shipped model, listed above or not: sane shapes and accuracies.
  for (const ModelProfile& m : AllModels(catalog)) {
    SCOPED_TRACE(m.name);
    EXPECT_GT(m.layers(), 0);
    EXPECT_GE(m.conv_macs(), 0);
    EXPECT_GT(m.input_bytes, 0);
    EXPECT_GT(m.output_bytes, 0);
    if (m.fc_layers == 0) {
      EXPECT_EQ(m.fc_macs, 0);
    }
    if (m.recurrent_layers == 0) {
      EXPECT_EQ(m.recurrent_macs, 0);
    }
    if (m.conv_layers == 0) {
      EXPECT_EQ(m.conv_macs(), 0);
    }
    for (int p = 0; p < kNumPrecisions; ++p) {
      const Precision prec = static_cast<Precision>(p);
      if (!m.HasPrecision(prec)) continue;
      EXPECT_GT(m.Accuracy(prec), 0.5);
      EXPECT_LE(m.Accuracy(prec), 1.0);
      // Reduced precision costs at most a couple of points.
      EXPECT_NEAR(m.Accuracy(prec), m.Accuracy(Precision::kFp32), 0.02) << PrecisionName(prec);
    }
  }
}

// Each phone rate was derived from one published MobileNet v1 latency; the latency formula must
// give that latency back at the top level.
struct Anchor {
  const char* device;
  const char* target;
  Precision precision;
  double published_ms;
};

TEST(ShippedProfilesTest, MobilenetV1LatencyMatchesThePublishedMeasurements) {
  const Anchor anchors[] = {
      {"sd845", "cpu_big", Precision::kFp32, 23.9},  // TFLite benchmarks, Pixel 3, 4 threads
      {"sd845", "cpu_big", Precision::kInt8, 13.4},  // same page, quant
      {"sd845", "gpu", Precision::kFp16, 6.45},      // same page, GPU delegate
      {"sd845", "dsp", Precision::kInt8, 6.0},       // same page, NNAPI quant
      {"sd855", "cpu_big", Precision::kFp32, 14.0},  // TFLite benchmarks, Pixel 4
      {"sd855", "cpu_big", Precision::kInt8, 5.0},
      {"sd855", "gpu", Precision::kFp16, 9.0},
      {"sd855", "dsp", Precision::kInt8, 3.2},
      {"sd810", "cpu_big", Precision::kFp32, 34.44},  // ncnn benchmark, Nexus 6P
      {"sd810", "cpu_big", Precision::kInt8, 25.46},
      {"sd810", "gpu", Precision::kFp32, 60.88},
  };
  ProfileCatalog catalog(ConfigRoot());
  auto mobilenet = catalog.Model("mobilenet_v1");
  ASSERT_TRUE(mobilenet.ok()) << mobilenet.status().ToString();
  for (const Anchor& a : anchors) {
    SCOPED_TRACE(std::string(a.device) + " " + a.target + " " +
                 std::string(PrecisionName(a.precision)));
    auto d = catalog.Device(a.device);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    auto cm = CostModel::Create(**d, {**mobilenet}, catalog);
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
    const int action = (*cm)->actions().Find(a.target, a.precision, 0);
    ASSERT_GE(action, 0);
    Outcome o = (*cm)->Predict(action, GoodLinks(0));
    EXPECT_NEAR(o.latency_ms, a.published_ms, 0.10 * a.published_ms);
  }
}

// ---- Every number names its source -----------------------------------------------------------

// 1-based numbers of the lines that carry a number but no '#' comment: a `key: number` (also
// inside a flow map), a `- number` list item, or a flow list of numbers.
std::vector<int> UncommentedNumberLines(const std::string& text) {
  static const std::regex key_number(R"([A-Za-z_][A-Za-z0-9_]*\s*:\s*[-+]?\.?[0-9])");
  static const std::regex item_number(R"(^\s*-\s+[-+]?\.?[0-9])");
  static const std::regex list_number(R"(\[\s*[-+]?\.?[0-9])");
  std::vector<int> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) continue;
    if (std::regex_search(line, key_number) || std::regex_search(line, item_number) ||
        std::regex_search(line, list_number)) {
      out.push_back(n);
    }
  }
  return out;
}

TEST(ShippedProfilesTest, UncommentedNumberScannerFindsEachForm) {
  const std::string text =
      "# header 12: 3\n"                    // 1: a comment
      "a: 1   # sourced\n"                  // 2
      "b: 2\n"                              // 3: bare number
      "c: {x: 3}\n"                         // 4: flow map
      "d: {x: -3.5}  # sourced\n"           // 5
      "name: sd845\n"                       // 6: digits inside a name are not a number
      "description: \"v 2: 3\"\n"           // 7: quoted text
      "f:\n"                                // 8
      "  - .5\n"                            // 9: list item
      "list: [1, 2]\n"                      // 10: flow list
      "precisions: [fp32, int8]\n"          // 11
      "  - {signal_dbm: -90, rtt_ms: 4}\n"  // 12
      "g: 1e6 # ok\n";                      // 13
  EXPECT_EQ(UncommentedNumberLines(text), (std::vector<int>{3, 4, 9, 10, 12}));
}

TEST(ShippedProfilesTest, EveryNumberNamesItsSource) {
  int files = 0;
  for (const char* folder : {"devices", "networks", "models"}) {
    for (const auto& entry : fs::directory_iterator(ConfigRoot() + "/" + folder)) {
      if (entry.path().extension() != ".yaml") continue;
      ++files;
      std::ifstream in(entry.path());
      std::stringstream ss;
      ss << in.rdbuf();
      ASSERT_FALSE(ss.str().empty()) << entry.path();
      for (int line : UncommentedNumberLines(ss.str())) {
        ADD_FAILURE() << entry.path().string() << ":" << line
                      << ": a number without a '#' comment naming its source";
      }
    }
  }
  EXPECT_GE(files, 15);
}

}  // namespace
}  // namespace autoscale
