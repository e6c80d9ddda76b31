// The plots of an experiment's reports, drawn by gnuplot from data files written beside them:
//   evaluation.png       energy vs the oracle and QoS violations per policy, 95% intervals over
//                        seeds;
//   heatmap.png          the studied policy's energy vs the oracle per condition (device x
//                        network rows, load x requests columns);
//   energy_over_time.png the evaluation phase: each window's energy per inference / the oracle's
//                        on the same requests, all policies, then those near the oracle;
//   training.png         learning policies' energy per inference over training;
//   target_mix.png       the share of evaluated requests on each target, per policy.
// Every target and policy keeps one colour in every experiment (chosen by name).
#pragma once

#include <string>

#include "core/status.h"
#include "sim/experiment.h"
#include "sim/report.h"

namespace autoscale {

// "#rrggbb". Shipped targets and policies have fixed colours; a static policy takes its
// target's; any other name gets one from a fixed palette chosen by a hash of the name.
std::string TargetColour(const std::string& target);
std::string PolicyColour(const ReportPolicy& policy);

// Writes the .dat files and plots.gp into `dir` (file names in plots.gp are relative to `dir`,
// so the script's bytes do not depend on where the reports go), then runs gnuplot there. Without
// gnuplot, or when it fails, returns Ok and says so in `note`.
Status WritePlots(const std::string& dir, const ReportSpec& spec, const ExperimentResult& result,
                  std::string* note);

}  // namespace autoscale
