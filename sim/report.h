// Reports of an experiment: a table on the terminal, per-run CSV, a summary JSON, and plots
// through gnuplot (sim/plots.h). Reports are computed from a ReportSpec (what they need to know
// of the experiment) and the runs alone, so that `autoscale merge` can write them from shards'
// runs.json files (sim/shard.h) byte for byte as an unsharded `sim` does.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/experiment.h"

namespace autoscale {

// A policy as reports show it: its label, its registry name, and for a static policy the target
// it pins (which gives it that target's colour in every plot); "" otherwise.
struct ReportPolicy {
  std::string label, name, target;
  bool operator==(const ReportPolicy&) const = default;
};

// What reports need to know of an experiment.
struct ReportSpec {
  std::string name;
  size_t train_requests = 0, eval_requests = 0;
  int train_epochs = 1, series_bins = 1;
  std::map<std::string, std::string> beliefs;
  std::vector<ReportPolicy> policies;  // experiment order
  std::vector<std::string> scenarios;  // experiment order
  std::vector<uint64_t> seeds;         // experiment order
  std::string fingerprint;             // ExperimentFingerprint (sim/shard.h)
  bool operator==(const ReportSpec&) const = default;

  static ReportSpec Of(const Experiment& exp);
  // The policy under study: the first q_learning one, else the first policy; -1 when none.
  int StudiedPolicy() const;
};

// A mean over seeds with its 95% confidence interval (Student's t over the per-seed values);
// lo and hi are NaN with fewer than two seeds.
struct SeedInterval {
  double mean = 0, lo = 0, hi = 0;
  size_t seeds = 0;
};

// Per-policy aggregate over all runs of an experiment.
struct PolicyAggregate {
  std::string policy;
  size_t runs = 0;
  uint64_t requests = 0;
  double energy_mj_per_inference = 0;  // mean over runs
  double energy_vs_oracle = 0;         // mean over runs of the per-run ratio
  double energy_vs_oracle_total = 0;   // total energy / the oracle's total energy
  // Percentiles of the latencies of every evaluated request of the policy, pooled over runs
  // (LatencyHistogram: within 0.4% of the exact nearest-rank value); NaN when the result has
  // no histogram for the policy.
  double latency_ms_p50 = 0, latency_ms_p99 = 0;
  double qos_violation_rate = 0, accuracy_violation_rate = 0, oracle_agreement = 0;
  double satisfied_rate = 0, satisfaction = 0;  // over all requests (RunSummary)
  double efficiency_vs_cpu = 0, efficiency_vs_cloud = 0;  // mean over runs
  // Over seeds: each seed's mean over its runs of energy_vs_oracle, and its QoS violation rate
  // over its requests.
  SeedInterval energy_vs_oracle_seeds, qos_violation_rate_seeds;
};

std::vector<PolicyAggregate> Aggregate(const ReportSpec& spec, const ExperimentResult& result);

// The two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1).
double StudentT95(size_t df);
// Mean and 95% interval of `values` (one per seed).
SeedInterval IntervalOverSeeds(const std::vector<double>& values);

// The table people read: one row per policy, then the studied policy's breakdowns by device and
// by network.
void PrintTable(std::ostream& os, const ReportSpec& spec, const ExperimentResult& result);

// {"experiment": ..., "runs": [...], "aggregate": [...]}, through nlohmann-json: deterministic
// bytes for a given experiment and seeds (no times, no host names, numbers to 6 significant
// digits, null for NaN and infinities).
std::string SummaryJson(const ReportSpec& spec, const ExperimentResult& result);
std::string RunsCsv(const ExperimentResult& result);

// Writes every report into `dir`: runs.csv, summary.json, runs.json (what `merge` joins:
// sim/shard.h), and the plots of sim/plots.h. Plots need gnuplot; without it the data files and
// plots.gp are still written and `plots_note` says why there are no pictures.
Status WriteReports(const std::string& dir, const ReportSpec& spec, const ExperimentResult& result,
                    std::string* plots_note);

// The same from the experiment itself.
inline std::vector<PolicyAggregate> Aggregate(const Experiment& exp, const ExperimentResult& r) {
  return Aggregate(ReportSpec::Of(exp), r);
}
inline void PrintTable(std::ostream& os, const Experiment& exp, const ExperimentResult& r) {
  PrintTable(os, ReportSpec::Of(exp), r);
}
inline std::string SummaryJson(const Experiment& exp, const ExperimentResult& r) {
  return SummaryJson(ReportSpec::Of(exp), r);
}
inline Status WriteReports(const std::string& dir, const Experiment& exp, const ExperimentResult& r,
                           std::string* plots_note) {
  return WriteReports(dir, ReportSpec::Of(exp), r, plots_note);
}

}  // namespace autoscale
