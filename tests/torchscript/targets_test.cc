// Every target runs users' networks with their real weights: torchvision's eight, scripted at
// test time (scripts/torchvision_models.py), looked up through the model store as the daemon and
// the worker do, and run on the CPU at FP32 and INT8, through the pipelined CPU target (FP32),
// on the DSP stub (INT8) and on OpenCL (FP32), each compared with torch running the TorchScript
// file itself. FP32 must agree within 1e-4 of the largest logit; INT8 top-1 agreement with
// torch's FP32 is reported per model (and must be above chance), since post-training
// quantisation changes some answers by design.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "targets/cpu/cpu_target.h"
#include "targets/cpu/pipeline_target.h"
#include "targets/cpu/torch_model.h"
#include "targets/dsp/dsp_target.h"
#include "targets/model_store.h"
#include "test_util.h"
#include "zoo/torchscript/torchscript_import.h"
#ifdef AUTOSCALE_HAVE_OPENCL
#include "targets/opencl/opencl_target.h"
#endif

namespace autoscale {
namespace {

const std::vector<std::string> kTorchvision = {
    "mobilenet_v2", "resnet18", "resnet50",           "squeezenet1_1",
    "googlenet",    "vgg16",    "mobilenet_v3_small", "shufflenet_v2_x1_0"};

int ArgMax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct Diff {
  double max_abs = 0, scale = 0;
};
Diff Compare(const std::vector<float>& got, const std::vector<float>& want) {
  Diff d;
  for (size_t i = 0; i < want.size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::abs(static_cast<double>(got[i]) - want[i]));
    d.scale = std::max(d.scale, std::abs(static_cast<double>(want[i])));
  }
  return d;
}

class TorchvisionTargets : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionTargets, EveryTargetRunsTheUsersNetworkAsTorchDoes) {
  const std::string name = GetParam();
  const std::string dir = testing::TorchvisionModels({name});
  if (dir.empty()) GTEST_SKIP() << "python3-torchvision is not installed";
  InstallTorchScriptImporter();
  ModelStore store(dir);
  auto spec = store.Get(name);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_TRUE((*spec)->is_graph()) << "the import should map every op of " << name;

  // Torch itself, on the TorchScript file.
  auto torch_model = TorchScriptModel::Load((*spec)->torchscript_path, (*spec)->input_shape);
  ASSERT_TRUE(torch_model.ok()) << torch_model.status().ToString();
  constexpr int kInputs = 6;
  std::vector<HostTensor> inputs;
  std::vector<std::vector<float>> want;
  for (int k = 0; k < kInputs; ++k) {
    inputs.push_back(MakeHostInput(**spec, 100 + k));
    torch::NoGradGuard no_grad;
    torch::Tensor y = (*torch_model)
                          ->Forward(WrapFloat(inputs.back().data.data(), inputs.back().shape))
                          .contiguous();
    want.emplace_back(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
  }

  CpuOptions co;
  co.threads = 1;
  co.use_counters = false;
  auto cpu = CpuTarget::Create(co);
  // FP32 on the CPU.
  for (int k = 0; k < 2; ++k) {
    auto r = cpu->Run(**spec, Precision::kFp32, 0, inputs[k]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Diff d = Compare(r->output.data, want[k]);
    EXPECT_LE(d.max_abs, 1e-4 * d.scale) << "cpu fp32, input " << k;
    if (k == 0) {
      std::printf("[ targets ] %-19s cpu fp32   max|diff| %.2g (largest logit %.3g)\n",
                  name.c_str(), d.max_abs, d.scale);
    }
  }
  // FP32 through the pipelined CPU target (two one-thread stages): the same answers at whatever
  // split its measured node times chose.
  {
    PipelineOptions po;
    po.profile_warmup = 0;
    po.profile_runs = 1;
    po.refine_requests = 0;
    po.stages = {{{}, 1, 0}, {{}, 1, 0}};
    auto pipe = PipelinedCpuTarget::Create(po);
    ASSERT_TRUE(pipe.ok()) << pipe.status().ToString();
    auto r = (*pipe)->Run(**spec, Precision::kFp32, 0, inputs[2]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Diff d = Compare(r->output.data, want[2]);
    EXPECT_LE(d.max_abs, 1e-4 * d.scale) << "cpu_pipeline fp32";
    auto plan = (*pipe)->Plan(**spec, Precision::kFp32);
    ASSERT_TRUE(plan.ok());
    std::printf("[ targets ] %-19s pipeline   max|diff| %.2g, stage 1 from node %d of %zu\n",
                name.c_str(), d.max_abs, plan->split.begin[1], plan->node_names.size());
  }
  // INT8 on the CPU (post-training quantisation calibrated on seeded inputs) and on the DSP
  // stub, which computes with the same engine.
  int agree = 0;
  std::vector<int> int8_top1;
  for (int k = 0; k < kInputs; ++k) {
    auto r = cpu->Run(**spec, Precision::kInt8, 0, inputs[k]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    int8_top1.push_back(ArgMax(r->output.data));
    agree += int8_top1.back() == ArgMax(want[k]);
  }
  std::printf("[ targets ] %-19s cpu int8   top-1 agreement with torch fp32 %d/%d\n", name.c_str(),
              agree, kInputs);
  EXPECT_GE(agree, 1) << "INT8 should agree with FP32 at least once in " << kInputs;

  DspOptions dopt;
  auto device = LoadDeviceProfile(testing::ConfigRoot() + "/devices/sd845.yaml");
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  dopt.device = *device;
  dopt.cpu = co;
  auto dsp = DspTarget::Create(dopt);
  ASSERT_TRUE(dsp->available()) << dsp->description().unavailable_reason;
  int dsp_agree = 0;
  for (int k = 0; k < 2; ++k) {
    auto r = dsp->Run(**spec, Precision::kInt8, 0, inputs[k]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    dsp_agree += ArgMax(r->output.data) == ArgMax(want[k]);
    EXPECT_EQ(ArgMax(r->output.data), int8_top1[k]) << "the DSP stub computes the CPU's INT8";
  }
  std::printf("[ targets ] %-19s dsp int8   top-1 agreement with torch fp32 %d/2\n", name.c_str(),
              dsp_agree);

#ifdef AUTOSCALE_HAVE_OPENCL
  OpenClOptions oo;
  auto gpu = OpenClTarget::Create(oo);
  if (!gpu->available()) {
    std::printf("[ targets ] %-19s opencl     unavailable: %s\n", name.c_str(),
                gpu->description().unavailable_reason.c_str());
    return;
  }
  ASSERT_TRUE(gpu->Supports(**spec, Precision::kFp32).ok())
      << gpu->Supports(**spec, Precision::kFp32).ToString();
  auto r = gpu->Run(**spec, Precision::kFp32, 0, inputs[0]);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Diff d = Compare(r->output.data, want[0]);
  EXPECT_LE(d.max_abs, 1e-4 * d.scale) << "opencl fp32";
  std::printf("[ targets ] %-19s opencl fp32 max|diff| %.2g (largest logit %.3g)\n", name.c_str(),
              d.max_abs, d.scale);
#endif
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionTargets, ::testing::ValuesIn(kTorchvision),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace autoscale
