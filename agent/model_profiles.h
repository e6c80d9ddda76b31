// Cost-model profiles of users' models, derived from their files rather than written by hand
// (issue 11, point 5). A user's model is NAME.pt with its sidecar NAME.yaml in a model folder
// (zoo/model_import.h); targets/model_store.h reads both into a ModelSpec.
//
// - Features (layer counts, MACs by class, parameters, bytes on the wire) come from the import
//   of the file (ModelSpec::features). A build that cannot import TorchScript, or an import that
//   could not count every operation, is an error naming the file (never a silently short count).
// - Accuracy per precision comes from the sidecar (`accuracy: {fp32: 0.677, source: ...}`), or,
//   for a precision it does not state, is estimated: the FP32 accuracy times the measured top-1
//   agreement of that precision with FP32 on sample inputs (the sidecar's `samples` folder when
//   it names one, else seeded inputs; the profile's accuracy_source says which, and how many).
//   A precision that no measuring target can run and the sidecar does not state is not offered.
// - A sidecar without an FP32 accuracy: the model's accuracy is unknown, never defaulted. Each
//   precision it runs at gets accuracy 0 (so no floor above 0 is ever met by it) and
//   ModelProfile::accuracy_unknown names the sidecar to complete; the simulator refuses such
//   floors at load, the daemon refuses such requests (and a configured default floor above 0).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "env/profiles.h"
#include "targets/target.h"
#include "zoo/model_import.h"

namespace autoscale {

struct AgreementOptions {
  int max_samples = 32;  // sample inputs compared (the first of the folder's, sorted by name)
  uint64_t seed = 1;     // of the seeded inputs, when the sidecar names no samples folder
  int batch = 8;         // inputs per inference
};

// Where precisions are measured: `reference` runs FP32 (the libtorch CPU target); each reduced
// precision runs on the first of `targets` that supports it for the model. Not owned.
struct ProfileMeasurers {
  Target* reference = nullptr;
  std::vector<Target*> targets;
};

// The sample inputs of `spec`: the sidecar's samples folder (files NAME*.f32, sorted, each the
// raw little-endian float32 of one input of input_shape), else o.max_samples seeded ones. `which`
// receives where they came from, in words ("32 sample inputs from DIR", "32 seeded inputs
// (seed 1)"). A file of the wrong size is an error naming it and the size expected.
Result<std::vector<HostTensor>> LoadSampleInputs(const ModelSpec& spec, const ModelSidecar& sidecar,
                                                 const AgreementOptions& o, std::string* which);

// Index of the largest value of each row of `output` (shape [N, ...]: a row is one input's
// output, flattened); ties go to the lowest index.
std::vector<int64_t> Top1(const HostTensor& output);

// Top-1 of `spec` at `precision` on `target` for each input, run o.batch at a time.
Result<std::vector<int64_t>> RunTop1(Target& target, const ModelSpec& spec, Precision precision,
                                     const std::vector<HostTensor>& inputs,
                                     const AgreementOptions& o = {});

// The profile of the user's model `spec` (a TorchScript model of a ModelStore): see above.
Result<ModelProfile> DeriveModelProfile(const ModelSpec& spec, const ProfileMeasurers& measurers,
                                        const AgreementOptions& o = {});

// One line per precision saying what the profile states and where from: for start-up logs.
std::string DescribeAccuracy(const ModelProfile& profile);

}  // namespace autoscale
