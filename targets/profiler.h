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
  std::vector<std::string> models;  // empty: the whole zoo
  int warmup = 2;
  int repeats = 10;
  // Stop repeating a case after this long (at least 3 timed runs are kept), so a slow target
  // (VGG-16 on PoCL) does not dominate.
  double max_seconds_per_case = 15;
  uint64_t input_seed = 1;
  // Called with one line per finished case ("[3/27] cpu mobilenet_v2 fp32: 12.3 ms ...").
  std::function<void(const std::string&)> progress;
};

struct ProfileCase {
  std::string target, model;
  Precision precision = Precision::kFp32;
  Status status;  // why the case did not run, when it did not
  int runs = 0;
  double median_ms = 0, p95_ms = 0, min_ms = 0;
  double energy_mj = 0;  // median
  EnergySource energy_source = EnergySource::kModelled;
  bool latency_modelled = false;
};

// Runs the cases. Targets that are unavailable, and (target, model, precision) combinations a
// target does not support, are recorded with their reason and skipped.
std::vector<ProfileCase> ProfileTargets(const std::vector<Target*>& targets, ModelStore& store,
                                        const ProfileOptions& options);

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

// Fitted per-class rates of one target and precision: latency ~ layers x overhead +
// sum(MACs_c / rate_c), non-negative least squares on relative errors over the measured models.
struct RateFit {
  double gmacs_per_s[kNumLayerClasses] = {0, 0, 0};  // 0 = not identifiable from the models run
  double layer_overhead_us = 0;
  double mean_abs_rel_error = 0;  // of the fit over the models it was fitted on
  int models = 0;
};
RateFit FitRates(const std::vector<std::pair<ModelProfile, double>>& measured_ms);

// The device profile YAML for the measured cases: one target per measured local target (kind
// from its description), measured_ms per model and precision (real measurements only: the DSP
// stub's modelled latency is not written as measured; the reference's DSP entry is copied
// instead), fitted rates, and the reference's remote targets. Fails when nothing was measured.
Result<std::string> WriteDeviceProfileYaml(const std::vector<ProfileCase>& cases,
                                           const std::vector<const Target*>& targets,
                                           ModelStore& store,
                                           const DeviceProfileWriteOptions& options);

}  // namespace autoscale
