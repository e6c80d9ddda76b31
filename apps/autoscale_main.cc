// autoscale: the command-line front end. `autoscale sim` is the main job (DESIGN.md).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "apps/commands.h"
#include "apps/local_targets.h"
#include "core/config_dir.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "env/profiles.h"
#include "policies/policy.h"
#include "schema/config_check.h"
#include "schema/config_reference.h"
#include "sim/experiment.h"
#include "sim/report.h"
#include "sim/shard.h"

namespace autoscale {

int Fail(const Status& s) {
  std::cerr << "autoscale: error: " << s.message() << "\n";
  return 1;
}

namespace {

constexpr const char* kAbout = R"(autoscale: execution scaling of DL inference at the edge. A Q-learning agent picks, per
request, where it runs (a CPU cluster at a frequency level, the mobile GPU, the DSP, a cloud
worker, a nearby device) to save energy within the latency bound and accuracy floor.
Run `autoscale COMMAND --help` for a command's options.
)";

constexpr const char* kSimAbout = R"(Replays the experiment's scenarios (devices x networks x loads x requests) for every policy and
seed: each run trains on a training episode and is scored on a held-out evaluation episode.
Prints a table, and writes to --out: runs.csv, summary.json, runs.json (every run in full, what
`merge` joins) and PNG plots through gnuplot (evaluation, heatmap, energy_over_time, training,
target_mix; each with its .dat file, and plots.gp to redraw them).
With no EXPERIMENT, runs the shipped default: three phones, nine models, strong and weak Wi-Fi
and LTE, no / moderate / heavy co-runner load, a real-time and a relaxed latency bound.
)";

struct SimArgs {
  std::string experiment_path, json_path, out_dir, save_dir;
  Shard shard;
  int jobs = 0;
  bool quiet = false;
};

int Sim(const SimArgs& args) {
  std::string experiment_path = args.experiment_path, out_dir = args.out_dir;
  const std::string &json_path = args.json_path, &save_dir = args.save_dir;
  const int jobs = args.jobs;
  const bool quiet = args.quiet;
  const Shard& shard = args.shard;

  if (experiment_path.empty()) {
    auto shipped = ShippedConfigDir();
    if (!shipped.ok()) return Fail(shipped.status());
    experiment_path = *shipped + "/experiments/default.yaml";
  }
  auto exp = LoadExperiment(experiment_path);
  if (!exp.ok()) return Fail(exp.status());
  if (out_dir.empty()) {
    out_dir = "results/" + exp->name;
    if (!shard.whole()) {
      out_dir += "/shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
    }
  }

  const size_t runs = exp->scenarios.size() * exp->seeds.size() * exp->policies.size();
  std::cerr << "autoscale sim: " << exp->name << ": " << exp->scenarios.size() << " scenarios x "
            << exp->policies.size() << " policies x " << exp->seeds.size() << " seeds = " << runs
            << " runs\n";
  const bool tty = ::isatty(STDERR_FILENO);
  RunOptions opts;
  opts.threads = jobs;
  opts.save_dir = save_dir;
  opts.shard = shard;
  if (!quiet) {
    opts.progress = [tty](size_t done, size_t total, const std::string& scenario) {
      if (tty) {
        std::fprintf(stderr, "\r[%zu/%zu] %3zu%% %-48s", done, total, done * 100 / total,
                     scenario.c_str());
        if (done == total) std::fprintf(stderr, "\n");
      } else if (done * 10 / total != (done - 1) * 10 / total || done == total) {
        std::fprintf(stderr, "[%zu/%zu] %zu%%\n", done, total, done * 100 / total);
      }
    };
  }
  auto result = RunExperiment(*exp, opts);
  if (!result.ok()) return Fail(result.status());
  const ReportSpec spec = ReportSpec::Of(*exp);
  if (!shard.whole()) {
    // A slice's reports would be partial: it writes what `merge` joins.
    Status st = MakeDirs(out_dir);
    if (st.ok()) st = WriteFileAtomic(out_dir + "/runs.json", RunsJson(spec, *result));
    if (!st.ok()) return Fail(st);
    std::cerr << "autoscale sim: shard " << shard.index << "/" << shard.count << ": "
              << result->runs.size() << " runs in " << out_dir
              << "/runs.json; join every shard with `autoscale merge OUT DIR...`\n";
    return 0;
  }
  PrintTable(std::cout, spec, *result);
  std::string note;
  Status st = WriteReports(out_dir, spec, *result, &note);
  if (!st.ok()) return Fail(st);
  if (!json_path.empty()) {
    st = WriteFileAtomic(json_path, SummaryJson(spec, *result));
    if (!st.ok()) return Fail(st);
  }
  std::fprintf(stderr, "simulated %zu requests in %.2f s (%.2f M requests/s on %d threads)\n",
               result->simulated_requests, result->wall_seconds,
               result->simulated_requests / result->wall_seconds / 1e6,
               jobs > 0 ? jobs : static_cast<int>(std::thread::hardware_concurrency()));
  std::cerr << "reports: " << out_dir << "/{summary.json,runs.csv,runs.json,evaluation.png,"
            << "heatmap.png,energy_over_time.png,training.png,target_mix.png}"
            << (json_path.empty() ? "" : ", " + json_path) << "\n";
  if (!note.empty()) std::cerr << "note: " << note << "\n";
  return 0;
}

constexpr const char* kMergeAbout = R"(Joins the slices of a sweep run with `autoscale sim EXPERIMENT --shard I/N` (one for each I from
0 to N-1): each SHARD is a slice's output folder or its runs.json. Writes into OUT the reports an
unsharded `autoscale sim EXPERIMENT --out OUT` writes, the same bytes (summary.json, runs.csv,
runs.json, the plots' .dat files and plots.gp; the PNGs are drawn again), and prints its table.
Refuses, saying which files: slices of different experiments or configurations, of different N,
a slice given twice, a slice missing, a runs.json that is not a whole slice.
)";

int Merge(const std::string& out_dir, const std::vector<std::string>& shards) {
  auto merged = MergeShards(shards);
  if (!merged.ok()) return Fail(merged.status());
  PrintTable(std::cout, merged->spec, merged->result);
  std::string note;
  Status st = WriteReports(out_dir, merged->spec, merged->result, &note);
  if (!st.ok()) return Fail(st);
  std::cerr << "autoscale merge: " << shards.size() << " shards, " << merged->result.runs.size()
            << " runs; reports: " << out_dir << "\n";
  if (!note.empty()) std::cerr << "note: " << note << "\n";
  return 0;
}

// Each file's kind told from its content (schema/config_check.h) and checked as its program
// loads it; with no files, every shipped one (experiments/mahimahi/ needs ../shared traces and
// tables from earlier runs, so it is left out).
int CheckConfig(std::vector<std::string> files) {
  if (files.empty()) {
    auto shipped = ShippedConfigDir();
    if (!shipped.ok()) return Fail(shipped.status());
    const std::string& dir = *shipped;
    for (const char* sub : {"devices", "networks", "models", "scenarios", "experiments", "daemon"}) {
      std::vector<std::string> found;
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir + "/" + sub, ec)) {
        if (e.path().extension() == ".yaml") found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    }
  }
  int bad = 0;
  for (const auto& f : files) {
    std::string kind;
    const Status st = CheckConfigFile(f, "", &kind);
    const std::string as = kind.empty() ? "" : " (" + kind + ")";
    if (st.ok()) {
      std::cout << "ok    " << f << as << "\n";
    } else {
      ++bad;
      std::cout << "FAIL  " << st.message() << as << "\n";
    }
  }
  std::cout << files.size() - bad << " passed, " << bad << " failed\n";
  return bad ? 1 : 0;
}

int Main(int argc, char** argv) {
  CLI::App app(kAbout);
  cli::Setup(app, "autoscale");
  std::vector<cli::Command> commands;

  auto sim = std::make_shared<SimArgs>();
  CLI::App* sub = app.add_subcommand("sim", "run a trace-driven experiment");
  sub->footer(kSimAbout);
  sub->add_option("EXPERIMENT", sim->experiment_path,
                  "experiment file (default: the shipped configs/experiments/default.yaml)")
      ->type_name("FILE");
  sub->add_option("--json", sim->json_path, "also write the machine-readable summary to FILE")
      ->type_name("FILE");
  sub->add_option("--out", sim->out_dir, "report folder (default: results/<experiment name>)")
      ->type_name("DIR");
  sub->add_option("--jobs", sim->jobs, "worker threads (default: all cores)")
      ->check(cli::IntegerIn(1, 1024))
      ->type_name("N");
  sub->add_option("--save-tables", sim->save_dir,
                  "save each learning policy's table after its run, as "
                  "DIR/LABEL/DEVICE_NETWORK_LOAD_REQUESTS_seedN.qtable; an experiment can start "
                  "from one with `params: {table: FILE}` (and train_requests: 0 to only evaluate)")
      ->type_name("DIR");
  sub->add_option_function<std::string>(
         "--shard",
         [sim](const std::string& v) {
           auto parsed = ParseShard(v);
           if (!parsed.ok()) throw CLI::ValidationError(parsed.status().message());
           sim->shard = *parsed;
         },
         "run only slice I of N (0 <= I < N) of the (scenario, seed) jobs and write its "
         "runs.json to --out (default: results/<experiment name>/shard-I-of-N); join the slices "
         "with `autoscale merge`")
      ->type_name("I/N");
  sub->add_flag("--quiet", sim->quiet, "no progress display");
  commands.push_back({sub, [sim] { return Sim(*sim); }});

  auto merge_out = std::make_shared<std::string>();
  auto merge_shards = std::make_shared<std::vector<std::string>>();
  sub = app.add_subcommand("merge", "join the runs.json of `sim --shard` slices into reports");
  sub->footer(kMergeAbout);
  sub->add_option("OUT", *merge_out, "report folder to write")->type_name("DIR")->required();
  sub->add_option("SHARD", *merge_shards, "a slice's output folder or its runs.json")
      ->type_name("PATH...")
      ->required();
  commands.push_back({sub, [merge_out, merge_shards] { return Merge(*merge_out, *merge_shards); }});

  commands.push_back(AddProfileCommand(app));
  commands.push_back(AddModelsCommand(app));
  commands.push_back(AddInferCommand(app));
  commands.push_back(AddPipelineCommand(app));
  commands.push_back(AddWavesCommand(app));

  auto files = std::make_shared<std::vector<std::string>>();
  sub = app.add_subcommand("check-config",
                           "validate configuration files of any kind (default: every shipped one)");
  sub->footer(
      "Validates configuration files of every kind: experiments, condition (scenario) files,\n"
      "device, network and model profiles, model sidecars and the daemon's config. A file's kind\n"
      "is told from its keys, wherever it is, and printed beside it. Each is loaded as the\n"
      "program that reads it would (an experiment exactly as `sim` loads it: profiles, traces,\n"
      "tables, ranges and size limits) short of running anything. With no FILE, checks every\n"
      "shipped one. The keys of every kind: docs/configuration.md (`autoscale config-reference`).\n");
  sub->add_option("FILE", *files, "files to check")->type_name("FILE...");
  commands.push_back({sub, [files] { return CheckConfig(*files); }});

  sub = app.add_subcommand("config-reference",
                           "print the configuration reference (docs/configuration.md) as Markdown");
  sub->footer(std::string("Printed from the key tables the loaders check files against; the "
                          "shipped docs/configuration.md is this output (") +
              kConfigReferenceCommand + ").\n");
  commands.push_back({sub, [] {
                        std::cout << ConfigReferenceMarkdown();
                        return 0;
                      }});

  sub = app.add_subcommand("policies", "list the policy names an experiment may use");
  commands.push_back({sub, [] {
                        for (const auto& n : PolicyNames()) std::cout << n << "\n";
                        return 0;
                      }});
  auto shipped = ShippedConfigDir();
  app.footer("Shipped configs: " + (shipped.ok() ? *shipped : shipped.status().message()) +
             "\n(AUTOSCALE_CONFIG_DIR overrides where they are.)");
  return cli::Run(app, "autoscale", argc, argv, commands);
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) {
  // Users' TorchScript files become graphs (zoo/model_import.h) for `models` and `profile`, and
  // an experiment's model_dir is profiled from its files (env/user_models.h); without libtorch,
  // both say that this build cannot read them.
  autoscale::InstallModelReaders();
  return autoscale::Main(argc, argv);
}
