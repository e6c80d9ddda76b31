// Reports of an experiment: a table on the terminal, per-run CSV, a summary JSON, and plots
// (energy per inference over time per policy; the mix of targets chosen) through gnuplot.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/experiment.h"

namespace autoscale {

// Per-policy aggregate over all runs of an experiment.
struct PolicyAggregate {
  std::string policy;
  size_t runs = 0;
  uint64_t requests = 0;
  double energy_mj_per_inference = 0;             // mean over runs
  double energy_vs_oracle = 0;                    // mean over runs of the per-run ratio
  double energy_vs_oracle_total = 0;              // total energy / the oracle's total energy
  double latency_ms_p50 = 0, latency_ms_p99 = 0;  // mean over runs
  double qos_violation_rate = 0, accuracy_violation_rate = 0, oracle_agreement = 0;
  double satisfied_rate = 0, satisfaction = 0;  // over all requests (RunSummary)
  double efficiency_vs_cpu = 0, efficiency_vs_cloud = 0;  // mean over runs
};

std::vector<PolicyAggregate> Aggregate(const Experiment& exp, const ExperimentResult& result);

// The table people read: one row per policy, then q_learning-style breakdowns by device.
void PrintTable(std::ostream& os, const Experiment& exp, const ExperimentResult& result);

// {"experiment": ..., "runs": [...], "aggregate": [...]}: deterministic bytes for a given
// experiment and seeds (no times, no host names, fixed number formatting).
std::string SummaryJson(const Experiment& exp, const ExperimentResult& result);
std::string RunsCsv(const ExperimentResult& result);

// Writes runs.csv, summary.json, energy_over_time.{dat,png}, target_mix.{dat,png} into `dir`.
// Plots need gnuplot; without it the data files are still written and `plots_note` says why
// there are no pictures.
Status WriteReports(const std::string& dir, const Experiment& exp, const ExperimentResult& result,
                    std::string* plots_note);

}  // namespace autoscale
