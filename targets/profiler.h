// `autoscale profile`: measures every available local target x model x precision on this
// machine (warm-up, repeats, median and p95) and writes a device profile YAML in the schema of
// configs/devices, so `autoscale sim` can run an experiment on measured numbers. Works on the
// Target interface only: no torch or OpenCL here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/profiles.h"
#include "targets/model_store.h"
#include "targets/target.h"

namespace autoscale {

struct ProfileOptions {
  std::vector<std::string> models;  // empty: every model of the store (zoo, then user files)
  int warmup = 2;
  int repeats = 10;
  // Stop repeating a case after this long (at least 3 timed runs are kept), so a slow target
  // (VGG-16 on PoCL) does not dominate.
  double max_seconds_per_case = 15;
  // A case whose p95 exceeds this multiple of its median (something else ran meanwhile) is
  // measured again, up to `max_remeasures` times; the steadiest measurement is kept.
  double unsteady_p95_ratio = 1.5;
  int max_remeasures = 2;
  uint64_t input_seed = 1;
  // Called with one line per finished case ("[3/27] cpu mobilenet_v2 fp32: 12.3 ms ...") and
  // one per re-measurement.
  std::function<void(const std::string&)> progress;
};

struct ProfileCase {
  std::string target, model;
  std::string model_file;  // the user's TorchScript file; empty for a zoo model
  Precision precision = Precision::kFp32;
  Status status;  // why the case did not run, when it did not
  int runs = 0;
  double median_ms = 0, p95_ms = 0, min_ms = 0;
  double energy_mj = 0;  // median
  EnergySource energy_source = EnergySource::kModelled;
  bool latency_modelled = false;
  // Re-measurements for an unsteady p95 (ProfileOptions::unsteady_p95_ratio), each with the
  // p95 / median ratio it had; empty when the first measurement was steady.
  std::vector<double> unsteady_ratios;
  std::string Unsteadiness() const;  // "re-measured twice (p95 was 2.1x, 1.7x the median)" or ""
};

// Measures the cases. Targets that are unavailable, and (target, model, precision) combinations
// a target does not support, are recorded with their reason and skipped.
std::vector<ProfileCase> ProfileTargets(const std::vector<Target*>& targets, ModelStore& store,
                                        const ProfileOptions& options);

// ---- Fitting: the per-class rates the cost model uses for models that were not measured ------

// One measured latency of a model whose features are complete.
struct FitRow {
  ModelProfile model;
  Precision precision = Precision::kFp32;
  double ms = 0;
};

// Per-class rates of one target, for every precision it measured: latency ~ layers x overhead +
// sum(MACs_c / rate_c[precision]), one overhead shared by all precisions (as the cost model
// reads it), non-negative least squares on relative errors. Every precision with a measured
// model gets a positive rate for every class; a class the measurements cannot identify gets a
// stated substitute instead of a fitted value (note says which).
struct RateFit {
  struct PerPrecision {
    int models = 0;                                         // rows at this precision
    double gmacs_per_s[kNumLayerClasses] = {0, 0, 0};       // > 0 for every class when models > 0
    bool fitted[kNumLayerClasses] = {false, false, false};  // identified by the fit itself
    std::string note[kNumLayerClasses];                     // where the rate comes from
    double mean_abs_rel_error = 0;                          // of the fit at this precision
  };
  PerPrecision precision[kNumPrecisions];
  double layer_overhead_us = 0;
  bool overhead_fitted = false;  // false: too few measurements to separate it (then 0)
  int rows = 0;
  double mean_abs_rel_error = 0;

  const PerPrecision& at(Precision p) const { return precision[static_cast<int>(p)]; }
};
RateFit FitRates(const std::vector<FitRow>& rows);

// One measured local target, ready to write: the precisions it measured and its rates.
struct TargetFit {
  const Target* target = nullptr;
  std::vector<Precision> precisions;  // those measured, in the target's order
  RateFit rates;  // each listed precision has positive rates (fitted, substituted or copied)
  // Classes whose rate was not fitted, one line per precision ("int8 recurrent: no recurrent
  // layer among the measured models; the conv rate"), for the command's output.
  std::vector<std::string> unfitted;
};

struct DeviceProfileWriteOptions {
  std::string name = "host";
  std::string description;  // the host, in words
  std::string host;         // "CPU model, N threads" for the source comments
  std::string date;         // YYYY-MM-DD, for the source comments
  // The shipped profile that supplies what cannot be measured here (power when the host has no
  // energy counters, base and idle power, interference, frequency-scaling share) and the remote
  // targets (cloud, nearby); every copied number says so.
  DeviceProfile reference;
  std::string reference_file;  // e.g. "configs/devices/sd845.yaml"
  double host_freq_mhz = 0;    // the host's current clock (one level); 0 = unknown
};

// Fits every measured local target whose latency is measured (the DSP stub's modelled latency
// is not fitted; the writer copies the reference's entry). Rows come from models whose features
// are complete; a precision with none takes the reference target's rates, noted as copied.
Result<std::vector<TargetFit>> FitTargets(const std::vector<ProfileCase>& cases,
                                          const std::vector<const Target*>& targets,
                                          ModelStore& store,
                                          const DeviceProfileWriteOptions& options);

// The device profile YAML for the measured cases and their fits: one target per fitted local
// target (kind from its description), measured_ms per model and precision (real measurements
// only: the DSP stub's modelled latency is not written as measured; the reference's DSP entry is
// copied instead), the rates, and the reference's remote targets. Fails when nothing was
// measured. The result still has to be validated by loading it (ParseDeviceProfile).
Result<std::string> WriteDeviceProfileYaml(const std::vector<ProfileCase>& cases,
                                           const std::vector<const Target*>& targets,
                                           const std::vector<TargetFit>& fits,
                                           const DeviceProfileWriteOptions& options);
// FitTargets, then the above.
Result<std::string> WriteDeviceProfileYaml(const std::vector<ProfileCase>& cases,
                                           const std::vector<const Target*>& targets,
                                           ModelStore& store,
                                           const DeviceProfileWriteOptions& options);

}  // namespace autoscale
