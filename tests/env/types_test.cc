#include "env/types.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace autoscale {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(TypesTest, PrecisionNamesRoundTrip) {
  EXPECT_EQ(PrecisionName(Precision::kFp32), "fp32");
  EXPECT_EQ(PrecisionName(Precision::kFp16), "fp16");
  EXPECT_EQ(PrecisionName(Precision::kInt8), "int8");
  for (int i = 0; i < kNumPrecisions; ++i) {
    const Precision p = static_cast<Precision>(i);
    auto r = ParsePrecision(PrecisionName(p));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, p);
  }
}

TEST(TypesTest, UnknownPrecisionSuggestsAndListsValidNames) {
  auto r = ParsePrecision("int4");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_TRUE(Contains(msg, "unknown precision 'int4'")) << msg;
  EXPECT_TRUE(Contains(msg, "did you mean 'int8'?")) << msg;
  EXPECT_TRUE(Contains(msg, "(valid: fp32, fp16, int8)")) << msg;

  // Matching is exact: no case folding, no trimming.
  EXPECT_FALSE(ParsePrecision("FP32").ok());
  EXPECT_FALSE(ParsePrecision(" fp32").ok());
  EXPECT_FALSE(ParsePrecision("").ok());
}

TEST(TypesTest, TargetKindNamesRoundTrip) {
  const char* names[] = {"cpu", "gpu", "dsp", "cloud", "nearby"};
  for (int i = 0; i < kNumTargetKinds; ++i) {
    const TargetKind k = static_cast<TargetKind>(i);
    EXPECT_EQ(TargetKindName(k), names[i]);
    auto r = ParseTargetKind(names[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, k);
  }
}

TEST(TypesTest, UnknownTargetKindSuggestsOnlyPlausibleNames) {
  auto near = ParseTargetKind("gpuu");
  ASSERT_FALSE(near.ok());
  EXPECT_EQ(near.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(near.status().message(), "unknown target kind 'gpuu'"))
      << near.status().message();
  EXPECT_TRUE(Contains(near.status().message(), "did you mean 'gpu'?")) << near.status().message();
  EXPECT_TRUE(Contains(near.status().message(), "(valid: cpu, gpu, dsp, cloud, nearby)"))
      << near.status().message();

  auto far = ParseTargetKind("quantum_annealer");
  ASSERT_FALSE(far.ok());
  EXPECT_FALSE(Contains(far.status().message(), "did you mean")) << far.status().message();
  EXPECT_TRUE(Contains(far.status().message(), "(valid: cpu, gpu, dsp, cloud, nearby)"))
      << far.status().message();
}

TEST(TypesTest, IsRemote) {
  EXPECT_FALSE(IsRemote(TargetKind::kCpu));
  EXPECT_FALSE(IsRemote(TargetKind::kGpu));
  EXPECT_FALSE(IsRemote(TargetKind::kDsp));
  EXPECT_TRUE(IsRemote(TargetKind::kCloud));
  EXPECT_TRUE(IsRemote(TargetKind::kNearby));
}

TEST(TypesTest, ActionDefaultsAndEquality) {
  Action a;
  EXPECT_EQ(a.target, 0);
  EXPECT_EQ(a.precision, Precision::kFp32);
  EXPECT_EQ(a.level, 0);
  Action b{1, Precision::kInt8, 2};
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(b == (Action{1, Precision::kInt8, 2}));
  EXPECT_FALSE(b == (Action{1, Precision::kInt8, 3}));
  EXPECT_FALSE(b == (Action{1, Precision::kFp16, 2}));
  EXPECT_FALSE(b == (Action{0, Precision::kInt8, 2}));
}

TEST(TypesTest, ObservationDefaultsMeanDisconnectedAndUnconstrained) {
  Observation obs;
  EXPECT_FALSE(obs.wifi_connected());
  EXPECT_FALSE(obs.cell_connected());
  EXPECT_EQ(obs.wifi_rssi_dbm, kNoSignalDbm);
  EXPECT_EQ(obs.cell_rsrp_dbm, kNoSignalDbm);
  EXPECT_EQ(obs.p2p_rssi_dbm, kNoSignalDbm);
  EXPECT_TRUE(std::isinf(obs.latency_bound_ms));
  EXPECT_GT(obs.latency_bound_ms, 0);
  EXPECT_EQ(obs.min_accuracy, 0);

  obs.wifi_rssi_dbm = -60;
  EXPECT_TRUE(obs.wifi_connected());
  EXPECT_FALSE(obs.cell_connected());
  obs.cell_rsrp_dbm = -199.5f;  // anything above the no-signal value counts as connected
  EXPECT_TRUE(obs.cell_connected());
}

TEST(TypesTest, MissesLatency) {
  Observation obs;
  Outcome o;
  o.latency_ms = 1e6;
  EXPECT_FALSE(MissesLatency(o, obs));  // no bound
  obs.latency_bound_ms = 50;
  o.latency_ms = 50;
  EXPECT_FALSE(MissesLatency(o, obs));  // meeting the bound exactly is not a miss
  o.latency_ms = 50.01f;
  EXPECT_TRUE(MissesLatency(o, obs));
  o.latency_ms = 10;
  o.failed = true;
  EXPECT_TRUE(MissesLatency(o, obs));  // a failed request misses whatever its latency
}

TEST(TypesTest, MissesAccuracy) {
  Observation obs;
  Outcome o;
  o.accuracy = 0;
  EXPECT_FALSE(MissesAccuracy(o, obs));
  obs.min_accuracy = 0.7f;
  o.accuracy = 0.7f;
  EXPECT_FALSE(MissesAccuracy(o, obs));
  o.accuracy = 0.69f;
  EXPECT_TRUE(MissesAccuracy(o, obs));
  o.accuracy = 0.9f;
  o.failed = true;
  EXPECT_TRUE(MissesAccuracy(o, obs));
}

}  // namespace
}  // namespace autoscale
