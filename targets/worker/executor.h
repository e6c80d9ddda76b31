// The worker's libtorch side: choosing the device, loading a model onto it, and running batched
// forward passes. The header is torch-free so the batcher and the routes compile without torch;
// only executor.cc includes it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "targets/cpu/host_memory.h"
#include "targets/target.h"

namespace autoscale {

// "auto" -> "cuda" when libtorch has a usable CUDA device, else "cpu"; "cpu" -> "cpu"; "cuda" ->
// "cuda", or Unavailable when there is none (this libtorch was built without CUDA, or no device
// is visible). Anything else is InvalidArgument listing the valid names.
Result<std::string> ResolveDevice(const std::string& requested);

// The intra-op thread count `threads` stands for (0: libtorch's default, one per CPU).
int EffectiveThreads(int threads);

// Where one forward pass's wall time went, in Triton's terms (compute input, infer, output).
struct PassTimes {
  double input_ms = 0;    // the batch's input onto the device (on the CPU, ~0: read in place)
  double compute_ms = 0;  // the forward pass itself (on a GPU, until its kernels have finished)
  double output_ms = 0;   // the output back to the host as float, copied out of the framework
  double total_ms() const { return input_ms + compute_ms + output_ms; }
};

// One model on one device. Forward is called by one thread at a time (the model's batcher).
class Executor {
 public:
  virtual ~Executor() = default;

  // Runs `input` ([B, input_shape...], float) and returns [B, output_shape...]. `*times` gets
  // where the pass's time went (waiting for the CPU's turn is not counted). Errors are Internal
  // naming the model.
  virtual Result<HostTensor> Forward(const HostTensor& input, PassTimes* times) = 0;

  // The output's shape without the batch dimension (learnt from a probe at load).
  virtual const std::vector<int64_t>& output_shape() const = 0;

  // False for a model that only takes batch 1 (a TorchScript module with the batch fixed inside,
  // found by a probe of batch 2 at load): the worker then runs its requests one by one.
  virtual bool batchable() const = 0;
};

// Builds the model of `spec` (zoo graph or TorchScript file), moves it to `device` ("cpu" or
// "cuda"), and runs one zero input of batch 1 to learn the output shape (and warm up; a
// TorchScript model is also probed with batch 2, see batchable()). Forward
// passes then use `threads` intra-op threads (0: libtorch's default). Errors name the model and
// what failed.
Result<std::unique_ptr<Executor>> LoadExecutor(const ModelSpec& spec, const std::string& device,
                                               int threads);

}  // namespace autoscale
