#include "zoo/sidecar_keys.h"

namespace autoscale {

namespace {
using enum KeyType;
}  // namespace

const KeyTable& ModelSidecarKeys() {
  static const KeyTable t(
      "",
      "NAME.yaml beside a user's TorchScript model NAME.pt (in an experiment's or the daemon's "
      "model_dir, or the worker's model folder).",
      {
          Key("input_shape", kList, "one input without the batch, e.g. [3, 224, 224]")
              .Type("list of integers")
              .Values("1 to 4 dimensions, each in [1, 2^20], at most 2^26 elements")
              .Required(),
          Key("accuracy", kMap, "stated accuracy (see `accuracy`)")
              .DefaultText("estimated (fp32: unknown)"),
          Key("samples", kString,
              "a folder of sample inputs (raw float32 files *.f32, one input each) for "
              "measuring precisions' agreement")
              .DefaultText("seeded inputs"),
      });
  return t;
}

const KeyTable& SidecarAccuracyKeys() {
  static const KeyTable t(
      "accuracy", "Top-1 accuracy (0..1) per precision, at least one, and where it comes from.",
      {
          Key("fp32", kNumber, "accuracy at fp32").Range(0, 1).DefaultText("not stated"),
          Key("fp16", kNumber, "accuracy at fp16").Range(0, 1).DefaultText("not stated"),
          Key("int8", kNumber, "accuracy at int8").Range(0, 1).DefaultText("not stated"),
          Key("source", kString, "where the numbers come from (a model card, a measurement)")
              .Required(),
      });
  return t;
}

std::vector<const KeyTable*> ModelSidecarTables() {
  return {&ModelSidecarKeys(), &SidecarAccuracyKeys()};
}

}  // namespace autoscale
