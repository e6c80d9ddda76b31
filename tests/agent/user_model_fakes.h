// Fakes for the daemon's user-model tests, torch-free: an importer that "reads" NAME.pt as the
// zoo's squeezenet_1_1 features (no graph: the fake targets do not need one), and a target whose
// INT8 answers flip the top-1 of some inputs, as a model with nearly tied logits does.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include "targets/target.h"
#include "zoo/model_import.h"
#include "zoo/zoo.h"

namespace autoscale::testing {

// Installs the fake importer for the lifetime of this object (then none again).
struct FakeImporter {
  FakeImporter() {
    SetTorchScriptImporter([](const std::string& name, const std::string&,
                              const std::vector<int64_t>& shape) -> Result<ImportedModel> {
      ASSIGN_OR_RETURN(Graph g, BuildZooModel("squeezenet_1_1"));
      ImportedModel m;
      m.name = name;
      m.input_shape = shape;
      m.features = ComputeFeatures(g);
      m.features.name = name;
      return m;
    });
  }
  ~FakeImporter() { SetTorchScriptImporter(nullptr); }
};

// 1000 logits: input values 0..9 (plus 10 + i), the rest 0; top-1 is 9 for inputs that rise.
// At INT8, an input whose first value is odd (1, 3, ...) answers with top-1 0 instead: every
// other input of a counting sequence disagrees with FP32.
class FlippingTarget : public Target {
 public:
  explicit FlippingTarget(std::string name) {
    d_.name = std::move(name);
    d_.precisions = {Precision::kFp32, Precision::kInt8};
  }
  const TargetDescription& description() const override { return d_; }
  Status Supports(const ModelSpec&, Precision p) const override {
    return p == Precision::kFp16 ? Status::InvalidArgument("no fp16") : Status::Ok();
  }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec&, Precision p, int, const HostTensor& in) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !held_; });
    }
    if (p == Precision::kFp32) ++fp32_runs;
    if (p == Precision::kInt8) ++int8_runs;
    InferenceResult r;
    const int64_t n = in.shape[0], per = in.elements() / n;
    r.output.shape = {n, 1000};
    r.output.data.assign(static_cast<size_t>(n) * 1000, 0.0f);
    for (int64_t b = 0; b < n; ++b) {
      float* out = r.output.data.data() + b * 1000;
      const float* x = in.data.data() + b * per;
      for (int i = 0; i < 10; ++i) out[i] = 10 + x[i] + static_cast<float>(i);
      const long first = static_cast<long>(x[0]);
      if (p == Precision::kInt8 && (first % 2 + 2) % 2 == 1) out[0] = 1000;
    }
    r.latency_ms = 1;
    r.energy_mj = p == Precision::kInt8 ? 1 : 4;
    return r;
  }
  std::atomic<int> fp32_runs{0}, int8_runs{0};
  // While held, Run waits (requests queue up behind the one running).
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }

 private:
  TargetDescription d_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;  // guarded by mu_
};

}  // namespace autoscale::testing
