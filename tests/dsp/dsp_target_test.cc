// The DSP stub: real INT8 outputs (the CPU's), latency and energy from the DSP profile,
// marked modelled; devices without a DSP give an unavailable target.
#include "targets/dsp/dsp_target.h"

#include <gtest/gtest.h>

#include "env/cost_model.h"
#include "targets/model_store.h"
#include "test_util.h"
#include "zoo/features.h"

namespace autoscale {
namespace {

DeviceProfile Device(const std::string& name) {
  auto d = LoadDeviceProfile(testing::ConfigRoot() + "/devices/" + name + ".yaml");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

DspOptions Options(const std::string& device) {
  DspOptions o;
  o.device = Device(device);
  o.cpu.use_counters = false;
  return o;
}

TEST(DspTarget, RealOutputsModelledCosts) {
  ModelStore store;
  auto spec = store.Get("squeezenet_1_1");
  ASSERT_TRUE(spec.ok());
  auto dsp = DspTarget::Create(Options("sd845"));
  ASSERT_TRUE(dsp->available()) << dsp->description().unavailable_reason;
  const HostTensor in = MakeHostInput(**spec, 4);
  auto r = dsp->Run(**spec, Precision::kInt8, 0, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->latency_modelled);
  EXPECT_EQ(r->energy_source, EnergySource::kModelled);

  // Outputs: the CPU target's INT8 outputs for the same input.
  CpuOptions co;
  co.use_counters = false;
  auto cpu = CpuTarget::Create(co);
  auto c = cpu->Run(**spec, Precision::kInt8, 0, in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(r->output.data, c->output.data);

  // Latency and energy: the sd845 DSP entry through the cost model's formula.
  const DeviceProfile d = Device("sd845");
  const TargetProfile& t = d.targets[d.FindTarget("dsp")];
  const ModelProfile m = ProfileFromFeatures(ComputeFeatures((*spec)->graph->graph));
  const double ms = LocalComputeMs(t, 0, Precision::kInt8, m);
  EXPECT_DOUBLE_EQ(r->latency_ms, ms);
  EXPECT_DOUBLE_EQ(r->energy_mj, (t.levels[0].power_mw + d.base_power_mw) * ms / 1000.0);
}

TEST(DspTarget, RefusesWhatADspCannotDo) {
  ModelStore store;
  auto spec = store.Get("kws_lstm");
  ASSERT_TRUE(spec.ok());
  auto dsp = DspTarget::Create(Options("sd845"));
  EXPECT_EQ(dsp->Supports(**spec, Precision::kFp32).code(), StatusCode::kUnavailable);
  HostTensor in;
  in.shape = {1, 49, 10};
  in.data.assign(490, 0.5f);
  EXPECT_EQ(dsp->Run(**spec, Precision::kInt8, 7, in).status().code(),
            StatusCode::kInvalidArgument);
  in.shape = {1, 10, 49};
  EXPECT_FALSE(dsp->Run(**spec, Precision::kInt8, 0, in).ok());
}

TEST(DspTarget, MissingDeviceIsUnavailableNotACrash) {
  auto dsp = DspTarget::Create(Options("sd810"));  // Snapdragon 810: no Hexagon DSP in the profile
  EXPECT_FALSE(dsp->available());
  EXPECT_NE(dsp->description().unavailable_reason.find("no DSP"), std::string::npos);
  ModelStore store;
  auto spec = store.Get("kws_lstm");
  ASSERT_TRUE(spec.ok());
  HostTensor in;
  in.shape = {1, 49, 10};
  in.data.assign(490, 0.5f);
  EXPECT_EQ(dsp->Run(**spec, Precision::kInt8, 0, in).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(dsp->Prepare(**spec, Precision::kInt8).code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace autoscale
