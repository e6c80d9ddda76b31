// Sweeps over many machines: `autoscale sim EXP --shard I/N` runs one slice of the experiment's
// (scenario, seed) jobs (Shard, sim/experiment.h) and writes its runs.json; `autoscale merge OUT
// DIR...` joins the slices' runs.json files into the reports an unsharded `sim` writes, byte for
// byte (summary.json, runs.csv, runs.json, the plots' data and script).
//
// runs.json holds everything the reports are computed from: the ReportSpec, the experiment's
// fingerprint, which shard it is, every run's summary at full precision (numbers read back
// exactly) and each policy's pooled latency histogram (counts add exactly).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/experiment.h"
#include "sim/report.h"

namespace autoscale {

inline constexpr std::string_view kRunsJsonFile = "runs.json";
inline constexpr std::string_view kRunsJsonFormat = "autoscale-runs 1";

// 16 hex digits that change when the experiment would give other results: the experiment file,
// its conditions files, the device, network and model profiles it names (shipped or the user's
// model files), the content of every trace its scenarios read, and its grid, seeds, sizes and
// policies as loaded. Contents, never paths: the same files anywhere give the same fingerprint.
// (The program's own version is not part of it: run every shard from one build.)
std::string ExperimentFingerprint(const Experiment& exp);

// "I/N" with 0 <= I < N (as Kubernetes' JOB_COMPLETION_INDEX and a Slurm array 0..N-1 number
// them); N at most 1,000,000.
Result<Shard> ParseShard(std::string_view text);

// The runs.json of `result` (a shard's or a whole run's).
std::string RunsJson(const ReportSpec& spec, const ExperimentResult& result);

struct RunsFile {
  ReportSpec spec;
  ExperimentResult result;  // runs, latencies and shard; no times
};
// Reads a runs.json; errors name the file and what is wrong in it.
Result<RunsFile> ReadRunsJson(const std::string& path);

// Joins shards (each a runs.json, or a folder holding one) into the result an unsharded run of
// the same experiment gives. Refuses, naming the files: shards of different experiments or
// configurations (fingerprints differ), of different shard counts, a shard given twice, a shard
// missing, or a file whose runs are not its shard's jobs.
Result<RunsFile> MergeShards(const std::vector<std::string>& paths);

}  // namespace autoscale
