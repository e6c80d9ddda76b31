#include "env/profile_keys.h"

#include "env/layer_predictor.h"
#include "env/profiles.h"

namespace autoscale {

namespace {
constexpr double kHuge = 1e18;
using enum KeyType;
}  // namespace

// ---- Devices ---------------------------------------------------------------------------------

const KeyTable& DeviceProfileKeys() {
  static const KeyTable t(
      "", "A device: its processors (targets), their frequency levels and power, and how it "
          "reaches remote ones.",
      {
          Key("name", kString, "the profile's name; must equal the file name without .yaml")
              .Required(),
          Key("description", kString, "free text").DefaultString(""),
          Key("role", kString, "a phone runs requests and may offload; a server is offloaded to")
              .Values("phone | server")
              .DefaultString("phone"),
          Key("base_power_mw", kNumber, "platform power outside the processors while computing")
              .Range(0, 1e7)
              .Default(0),
          Key("idle_power_mw", kNumber, "device draw while waiting for a remote result")
              .Range(0, 1e7)
              .Default(0),
          Key("queue_ms", kNumber, "servers: mean queueing delay per request")
              .Range(0, 1e6)
              .Default(0),
          Key("targets", kList, "the processors and remote targets (see `targets[]`), 1 to 64")
              .Required(),
          Key("layer_models", kMap,
              "`{TARGET: {PRECISION: fit}}`: layer-level latency models of local targets, as "
              "`autoscale profile` fits them"),
      });
  return t;
}

const KeyTable& TargetProfileKeys() {
  static const KeyTable t(
      "targets[]",
      "One target: a local processor (kind cpu, gpu, dsp) or a remote one (kind cloud, nearby), "
      "whose processors are those of its `server` profile. Local-only keys are errors on a "
      "remote target and the reverse.",
      {
          Key("name", kString, "unique in the profile; names the target in actions and reports")
              .Required(),
          Key("kind", kString, "the kind of processor")
              .Values("cpu | gpu | dsp | cloud | nearby")
              .Required(),
          Key("cores", kInteger, "local: cores the target uses").Range(1, 256).Default(1),
          Key("precisions", kNames, "precisions the target runs")
              .Type("precision or list of precisions")
              .Values("fp32 | fp16 | int8")
              .DefaultText("local: required; remote: `[fp32]`"),
          Key("gmacs_per_s", kMap,
              "local: effective GMAC/s at the highest level per layer class (see "
              "`targets[].gmacs_per_s`)")
              .DefaultText("local: required"),
          Key("layer_overhead_us", kNumber, "local: fixed cost per layer").Range(0, 1e6).Default(0),
          Key("memory_bound_fraction", kNumber,
              "local: share of compute time that does not scale with frequency")
              .Range(0, 1)
              .Default(0),
          Key("levels", kList,
              "local: frequency levels, highest first, 1 to 32 (see `targets[].levels[]`)")
              .DefaultText("local: required"),
          Key("interference", kMap,
              "local: slowdown per unit of co-runner load (see `targets[].interference`)"),
          Key("measured_ms", kMap,
              "local: `{MODEL: {PRECISION: ms}}` measured at the highest level, used instead of "
              "the MAC-rate formula for those models"),
          Key("waves", kMap,
              "gpu only: the GPU's concurrency for the tail-effect latency model (see "
              "`targets[].waves`); without it the gpu keeps the MAC-rate formula")
              .DefaultText("none: MAC-rate formula"),
          Key("server", kString, "remote: the server's device profile")
              .DefaultText("remote: required"),
          Key("network", kString,
              "remote: the network that reaches it, `auto` (Wi-Fi when connected, else cellular) "
              "or a network profile name")
              .DefaultText("remote: required"),
          Key("pipeline", kMap,
              "cpu only: a pipelined target whose stages run on other local targets of this "
              "profile (see `targets[].pipeline`); it then takes no rates, levels, interference "
              "or measurements of its own, and `precisions` defaults to `[fp32]`")
              .DefaultText("none: the target is a processor"),
      });
  return t;
}

const KeyTable& PipelineKeys() {
  static const HandOffModel d;
  static const KeyTable t(
      "targets[].pipeline",
      "Pipe-it's pipelined CPU (issue 14; targets/cpu/pipeline_target.h runs it): a model's "
      "layers split into contiguous stages, one per listed target, requests streaming through "
      "them. Per model, the split whose slowest stage is fastest (env/pipeline.h) from each "
      "layer's time on each stage's processor (its layer model, else its MAC-rate formula layer "
      "by layer); the model profile must carry `layer_shapes`, else the target cannot run it. "
      "Latency: the stages plus hand-offs; energy: each stage's time at its processor's "
      "highest-level power, plus the device's base power; with the simulator's queue model "
      "(world.queueing) each stage occupies its processor only for its own time. One level.",
      {
          Key("stages", kNames, "the local processor targets running the stages, in order")
              .Type("list of 2 to 8 target names")
              .Required(),
          Key("handoff_fixed_ms", kNumber, "fixed cost of handing a request to the next stage")
              .Range(0, 1e3)
              .Default(d.fixed_ms),
          Key("handoff_gb_per_s", kNumber,
              "rate at which the next stage's cores read the handed-on tensors (4 bytes each)")
              .Range(1e-3, 1e4)
              .Default(d.gb_per_s),
      });
  return t;
}

const KeyTable& GmacsKeys() {
  static const KeyTable t(
      "targets[].gmacs_per_s",
      "Effective multiply-accumulate rate at the highest level, per layer class; each class maps "
      "precisions to GMAC/s (see `targets[].gmacs_per_s.CLASS`).",
      {
          Key("conv", kMap, "convolution layers; every listed precision needs a rate > 0"),
          Key("fc", kMap, "fully-connected layers").DefaultText("conv's rates"),
          Key("recurrent", kMap, "recurrent cells").DefaultText("conv's rates"),
      });
  return t;
}

const KeyTable& PrecisionRateKeys() {
  static const KeyTable t("targets[].gmacs_per_s.CLASS", "GMAC/s per precision (0: none).",
                          {
                              Key("fp32", kNumber, "GMAC/s at fp32").Range(0, kHuge).Default(0),
                              Key("fp16", kNumber, "GMAC/s at fp16").Range(0, kHuge).Default(0),
                              Key("int8", kNumber, "GMAC/s at int8").Range(0, kHuge).Default(0),
                          });
  return t;
}

const KeyTable& LevelKeys() {
  static const KeyTable t("targets[].levels[]", "One DVFS level.",
                          {
                              Key("freq_mhz", kNumber, "clock frequency")
                                  .Range(1e-3, 1e6)
                                  .Required(),
                              Key("power_mw", kNumber, "active power of the target at this level")
                                  .Range(0, 1e7)
                                  .Required(),
                          });
  return t;
}

const KeyTable& InterferenceKeys() {
  static const KeyTable t(
      "targets[].interference",
      "Slowdown = 1 + cpu x cpu_load + gpu x gpu_load + mem x mem_load (loads in [0, 1]).",
      {
          Key("cpu", kNumber, "slowdown per unit of CPU load").Range(0, 100).Default(0),
          Key("gpu", kNumber, "slowdown per unit of GPU load").Range(0, 100).Default(0),
          Key("mem", kNumber, "slowdown per unit of memory load").Range(0, 100).Default(0),
      });
  return t;
}

const KeyTable& WaveKeys() {
  static const KeyTable t(
      "targets[].waves",
      "The GPU tail effect (env/gpu_waves.h): a convolution's blocks (output tiles) run in waves "
      "of units x blocks_per_unit; its time is waves x the time of one full wave of its tiles at "
      "gmacs_per_s.conv, batch 1. Used for models whose profile has `layer_shapes` and that "
      "neither measured_ms nor a layer_models fit covers; fully-connected and recurrent layers, "
      "models without shapes and gpu targets without `waves` keep the MAC-rate formula. "
      "gmacs_per_s.conv is then the rate of full waves.",
      {
          Key("units", kInteger, "compute units: streaming multiprocessors, Adreno SPs")
              .Range(1, 100000)
              .Required(),
          Key("blocks_per_unit", kInteger,
              "thread blocks (work-groups) one unit holds at once for a convolution kernel")
              .Range(1, 100000)
              .Required(),
          Key("tiling", kString,
              "how a layer is cut into blocks: `opencl`, the work-groups of this project's OpenCL "
              "kernels; `gemm`, implicit-GEMM tiles of tile_m pixels x tile_n channels")
              .Values("opencl | gemm")
              .DefaultString("opencl"),
          Key("tile_m", kInteger, "gemm: output pixels (batch x height x width) per block")
              .Range(1, 4096)
              .Default(128),
          Key("tile_n", kInteger, "gemm: output channels per block").Range(1, 4096).Default(128),
      });
  return t;
}

const KeyTable& MeasuredMsKeys() {
  static const KeyTable t(
      "targets[].measured_ms.MODEL",
      "Measured latency of one model at the highest level, per precision the target lists.",
      {
          Key("fp32", kNumber, "ms at fp32").Range(1e-6, 1e9).DefaultText("not measured"),
          Key("fp16", kNumber, "ms at fp16").Range(1e-6, 1e9).DefaultText("not measured"),
          Key("int8", kNumber, "ms at int8").Range(1e-6, 1e9).DefaultText("not measured"),
      });
  return t;
}

const KeyTable& LayerModelKeys() {
  static const KeyTable t(
      "layer_models.TARGET",
      "A local target's layer-level latency models, per precision it lists (see "
      "`layer_models.TARGET.PRECISION`).",
      {
          Key("fp32", kMap, "the fit at fp32").DefaultText("none"),
          Key("fp16", kMap, "the fit at fp16").DefaultText("none"),
          Key("int8", kMap, "the fit at int8").DefaultText("none"),
      });
  return t;
}

const KeyTable& LayerFitKeys() {
  static const LayerFitOptions d;
  static const KeyTable t(
      "layer_models.TARGET.PRECISION",
      "A layer-level latency fit (env/layer_predictor.h), as `autoscale profile` writes it.",
      {
          Key("overhead_ms", kNumber, "per run (input in, output out, dispatch)")
              .Range(0, 1e6)
              .Required(),
          Key("overhead_ms_per_melement", kNumber, "per million input + output elements of a run")
              .Range(0, 1e6)
              .Required(),
          Key("first_use_ms", kNumber,
              "per distinct op in a run: its first layer's cold code (0 in fits written before "
              "it was learned)")
              .Range(0, 1e3)
              .Default(0),
          Key("first_use_ms_by_op", kMap,
              "`{OP: ms}`: the same per op the fit saw first in its runs; others take "
              "`first_use_ms`"),
          Key("scale", kNumber, "common whole-model correction").Range(1e-3, 1e3).Default(1),
          Key("kind_scale", kMap, "`{LAYER_KIND: scale}`, each in [0.001, 1000]")
              .DefaultText("`scale`"),
          Key("bandwidth", kNumber,
              "kernel width of the local correction, in log2 units (0: no correction)")
              .Range(0, 100)
              .Default(d.bandwidth),
          Key("shrink", kNumber, "pseudo-weight of \"no correction\"")
              .Range(0, 1e6)
              .Default(d.shrink),
          Key("kind_prior", kNumber, "weight pulling each kind's scale to the common one")
              .Range(0, 1e6)
              .Default(d.kind_prior),
          Key("coefficients", kMap,
              "`{LAYER_KIND or fallback: [c0..c6]}` of the linear model; `fallback` required")
              .Required(),
          Key("layers", kList, "the measured layers, 1 to 20000 rows").Required(),
      });
  return t;
}

std::vector<const KeyTable*> DeviceProfileTables() {
  return {&DeviceProfileKeys(), &TargetProfileKeys(), &GmacsKeys(),   &PrecisionRateKeys(),
          &LevelKeys(),         &InterferenceKeys(),  &WaveKeys(),    &PipelineKeys(),
          &MeasuredMsKeys(),    &LayerModelKeys(),    &LayerFitKeys()};
}

// ---- Networks --------------------------------------------------------------------------------

const KeyTable& NetworkProfileKeys() {
  static const KeyTable t(
      "", "A radio link: signal strength to throughput and round-trip time, and radio power.",
      {
          Key("name", kString, "the profile's name; must equal the file name without .yaml")
              .Required(),
          Key("kind", kString, "the kind of link").Values("wifi | cellular | wifi_direct")
              .Required(),
          Key("min_signal_dbm", kNumber,
              "weaker than this, the link is unusable and remote targets are not offered")
              .Range(-199, 0)
              .Required(),
          Key("curve", kList,
              "points sorted by signal_dbm, interpolated linearly and clamped at the ends (see "
              "`curve[]`)")
              .Required(),
          Key("power", kMap, "the radio power model (see `power`)").Required(),
      });
  return t;
}

const KeyTable& CurvePointKeys() {
  static const KeyTable t("curve[]", "One point of the link curve.",
                          {
                              Key("signal_dbm", kNumber, "signal strength (RSSI, RSRP)")
                                  .Range(-199, 0)
                                  .Required(),
                              Key("down_mbps", kNumber, "downlink throughput")
                                  .Range(1e-6, 1e6)
                                  .Required(),
                              Key("up_mbps", kNumber, "uplink throughput")
                                  .Range(1e-6, 1e6)
                                  .Required(),
                              Key("rtt_ms", kNumber, "round-trip time").Range(0, 1e6).Required(),
                          });
  return t;
}

const KeyTable& RadioPowerKeys() {
  static const KeyTable t(
      "power",
      "Huang et al. (MobiSys 2012): P = up_mw_per_mbps x up + down_mw_per_mbps x down + base_mw, "
      "plus a tail after each transfer and a promotion before one from idle.",
      {
          Key("up_mw_per_mbps", kNumber, "power per Mbit/s sent").Range(0, 1e6).Required(),
          Key("down_mw_per_mbps", kNumber, "power per Mbit/s received").Range(0, 1e6).Required(),
          Key("base_mw", kNumber, "power while the radio is active").Range(0, 1e6).Required(),
          Key("tail_mw", kNumber, "power of the tail after a transfer").Range(0, 1e6).Default(0),
          Key("tail_s", kNumber, "length of the tail").Range(0, 1e4).Default(0),
          Key("promotion_mw", kNumber, "power of the promotion from idle").Range(0, 1e6).Default(0),
          Key("promotion_s", kNumber, "length of the promotion").Range(0, 1e4).Default(0),
      });
  return t;
}

std::vector<const KeyTable*> NetworkProfileTables() {
  return {&NetworkProfileKeys(), &CurvePointKeys(), &RadioPowerKeys()};
}

// ---- Models ----------------------------------------------------------------------------------

const KeyTable& ModelProfileKeys() {
  static const KeyTable t(
      "", "A shipped neural network: layer counts, work, bytes on the wire and accuracy.",
      {
          Key("name", kString, "the profile's name; must equal the file name without .yaml")
              .Required(),
          Key("task", kString, "free text").DefaultString(""),
          Key("layers", kMap, "layer counts (see `layers`)").Required(),
          Key("macs", kNumber, "multiply-accumulates of one inference, all layers")
              .Range(1, kHuge)
              .Required(),
          Key("fc_macs", kNumber, "of which in fully-connected layers").Range(0, kHuge).Default(0),
          Key("recurrent_macs", kNumber, "of which in recurrent cells").Range(0, kHuge).Default(0),
          Key("params", kNumber, "parameters").Range(0, kHuge).Default(0),
          Key("input_bytes", kNumber, "bytes sent when offloading one request")
              .Range(1, kHuge)
              .Required(),
          Key("output_bytes", kNumber, "bytes received back").Range(1, kHuge).Required(),
          Key("accuracy", kMap, "accuracy per precision (see `accuracy`)").Required(),
          Key("layer_shapes", kList,
              "the layers as executors run them, one row each: `[op, activation, in_channels, "
              "out_channels, kernel_h, kernel_w, stride_h, stride_w, groups, dilation_h, "
              "dilation_w, in_h, in_w, out_h, out_w, inputs, macs, params, input_elements, "
              "output_elements]` (activation `-` for none), as `autoscale models --layers NAME "
              "--shapes` prints them; GPU targets with `waves` time the model from them")
              .DefaultText("none"),
      });
  return t;
}

const KeyTable& LayerCountKeys() {
  static const KeyTable t(
      "layers", "Layer counts; at least one layer in all.",
      {
          Key("conv", kInteger, "convolution layers (depthwise and pointwise count apart)")
              .Range(0, 100000)
              .Default(0),
          Key("fc", kInteger, "fully-connected layers").Range(0, 100000).Default(0),
          Key("recurrent", kInteger, "recurrent cells (an LSTM layer counts as one)")
              .Range(0, 100000)
              .Default(0),
      });
  return t;
}

const KeyTable& ModelAccuracyKeys() {
  static const KeyTable t(
      "accuracy", "Top-1 accuracy (0..1) per precision; omit a precision the model has no "
                  "variant for.",
      {
          Key("fp32", kNumber, "accuracy at fp32").Range(0, 1).Required(),
          Key("fp16", kNumber, "accuracy at fp16").Range(0, 1).DefaultText("no fp16 variant"),
          Key("int8", kNumber, "accuracy at int8").Range(0, 1).DefaultText("no int8 variant"),
      });
  return t;
}

std::vector<const KeyTable*> ModelProfileTables() {
  return {&ModelProfileKeys(), &LayerCountKeys(), &ModelAccuracyKeys()};
}

}  // namespace autoscale
