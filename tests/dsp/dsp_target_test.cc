// The DSP stub: real INT8 outputs (the CPU's), latency and energy from the DSP profile,
// marked modelled; devices without a DSP give an unavailable target.
#include "targets/dsp/dsp_target.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cpu/graph_builders.h"
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

// libtorch's intra-op thread count and quantized engine are process-wide. The shipped daemon
// demo (configs/daemon/loopback.yaml) has a CPU target with one thread and a DSP stub with the
// default (one per CPU), each run from its own thread: every INT8 run on the DSP failed with
// oneDNN's "could not create a primitive descriptor for a reorder primitive". Each target's runs
// must not depend on what another target set.
TEST(DspTarget, RunsBesideACpuTargetWithOtherThreadSettings) {
  ModelStore store;
  std::vector<std::shared_ptr<const ModelSpec>> specs;
  for (const char* name : {"mobilenet_v2", "squeezenet_1_1"}) {
    auto spec = store.Get(name);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    specs.push_back(*spec);
  }
  CpuOptions co;
  co.name = "cpu_big";
  co.threads = 1;
  co.use_counters = false;
  auto cpu = CpuTarget::Create(co);
  DspOptions dopt = Options("sd845");  // cpu.threads 0: one per CPU
  auto dsp = DspTarget::Create(dopt);
  ASSERT_TRUE(dsp->available());
  // As the daemon does: prepare everything on one thread, then run each target on its own.
  for (const auto& s : specs) {
    ASSERT_TRUE(cpu->Prepare(*s, Precision::kInt8).ok());
    ASSERT_TRUE(cpu->Prepare(*s, Precision::kFp32).ok());
    ASSERT_TRUE(dsp->Prepare(*s, Precision::kInt8).ok());
  }
  constexpr int kRuns = 12;
  std::vector<std::string> errors;
  std::mutex mu;
  auto loop = [&](Target* t, bool alternate_precision) {
    for (int i = 0; i < kRuns; ++i) {
      const ModelSpec& s = *specs[i % specs.size()];
      const Precision p = alternate_precision && i % 2 ? Precision::kFp32 : Precision::kInt8;
      // Each model at batch 1 and 2: oneDNN's packed weights must serve both.
      auto r = t->Run(s, p, 0, MakeHostInput(s, i, 1 + (i / 2) % 2));
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok()) errors.push_back(t->description().name + ": " + r.status().ToString());
    }
  };
  std::thread a(loop, cpu.get(), true);
  std::thread b(loop, dsp.get(), false);
  a.join();
  b.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " runs failed; first: " << errors.front();
}

// A user's model imported with its own weights: the stub's INT8 outputs are the CPU target's,
// its costs come from the spec's features (the import's) through the DSP profile.
TEST(DspTarget, RunsAnImportedGraphLikeTheCpuTarget) {
  auto spec = std::make_shared<ModelSpec>();
  spec->name = "user_mixed";
  spec->graph = std::make_shared<const WeightedGraph>(
      FoldBatchNorm(testing_graphs::Imported(testing_graphs::TinyMixedNet("user_mixed"), 43)));
  ASSERT_FALSE(spec->graph->graph.seeded_weights());
  spec->input_shape = spec->graph->graph.input_shape();
  ModelFeatures features = ComputeFeatures(spec->graph->graph);
  features.macs *= 3;  // as if the import counted differently: the stub must use these
  spec->features = std::make_shared<const ModelFeatures>(features);
  auto dsp = DspTarget::Create(Options("sd845"));
  ASSERT_TRUE(dsp->available());
  ASSERT_TRUE(dsp->Supports(*spec, Precision::kInt8).ok());
  CpuOptions co;
  co.use_counters = false;
  auto cpu = CpuTarget::Create(co);
  for (int seed = 0; seed < 3; ++seed) {
    const HostTensor in = MakeHostInput(*spec, seed, 2);
    auto r = dsp->Run(*spec, Precision::kInt8, 0, in);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto c = cpu->Run(*spec, Precision::kInt8, 0, in);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(r->output.shape, (std::vector<int64_t>{2, 10}));
    EXPECT_EQ(r->output.data, c->output.data);
    const DeviceProfile d = Device("sd845");
    const TargetProfile& t = d.targets[d.FindTarget("dsp")];
    EXPECT_DOUBLE_EQ(r->latency_ms,
                     2 * LocalComputeMs(t, 0, Precision::kInt8, ProfileFromFeatures(features)));
    EXPECT_TRUE(r->latency_modelled);
  }
}

TEST(DspTarget, RefusesATorchScriptOnlyModelNamingWhatDidNotMap) {
  ModelSpec spec;
  spec.name = "erfnet";
  spec.torchscript_path = "/nonexistent/erfnet.pt";
  spec.input_shape = {3, 8, 8};
  spec.unmapped = {"aten::erf (node 2: %y = aten::erf(%x))"};
  auto dsp = DspTarget::Create(Options("sd845"));
  const Status s = dsp->Supports(spec, Precision::kInt8);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("aten::erf (node 2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'erfnet'"), std::string::npos) << s.message();
  EXPECT_EQ(dsp->Prepare(spec, Precision::kInt8).code(), StatusCode::kInvalidArgument);
  HostTensor in;
  in.shape = {1, 3, 8, 8};
  in.data.assign(192, 0.f);
  EXPECT_FALSE(dsp->Run(spec, Precision::kInt8, 0, in).ok());
}

// A failure inside the DSP stub names the DSP target, not "the CPU".
TEST(DspTarget, ErrorsNameTheDspTarget) {
  ModelStore store;
  auto spec = store.Get("squeezenet_1_1");
  ASSERT_TRUE(spec.ok());
  auto dsp = DspTarget::Create(Options("sd845"));
  HostTensor in;
  in.shape = {1, 3, 224, 224};
  in.data.assign(3 * 224 * 224 - 1, 0.f);  // one value short
  auto r = dsp->Run(**spec, Precision::kInt8, 0, in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("dsp"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace autoscale
