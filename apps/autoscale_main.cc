// autoscale: the command-line front end. `autoscale sim` is the main job (DESIGN.md).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "apps/commands.h"
#include "apps/local_targets.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "env/profiles.h"
#include "policies/policy.h"
#include "sim/experiment.h"
#include "sim/report.h"
#include "sim/shard.h"

namespace autoscale {

std::string ConfigDir() {
  if (const char* env = std::getenv("AUTOSCALE_CONFIG_DIR")) return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto p : {exe.parent_path() / "configs", exe.parent_path() / "../configs",
                   exe.parent_path() / "../share/autoscale/configs"}) {
      if (std::filesystem::is_directory(p / "experiments")) return p.lexically_normal().string();
    }
  }
  return std::string(AUTOSCALE_SOURCE_DIR) + "/configs";
}

int Fail(const Status& s) {
  std::cerr << "autoscale: error: " << s.message() << "\n";
  return 1;
}

namespace {

constexpr const char* kUsage = R"(usage: autoscale <command> [options]

commands:
  sim [EXPERIMENT.yaml]   run a trace-driven experiment (default: configs/experiments/default.yaml)
  profile                 measure this machine's local targets and write a device profile
  models                  list the model zoo with its features (--layers NAME for one model)
  infer MODEL             send inference requests to autoscaled and show where they ran
  merge OUT SHARD...      join the runs.json of `sim --shard` slices into OUT's reports
  check-config [FILE...]  validate profiles and experiments (default: every shipped one)
  policies                list the policy names an experiment may use
  help                    show this text
  --version               print the version

Run `autoscale <command> --help` for a command's options.
)";

constexpr const char* kSimUsage = R"(usage: autoscale sim [EXPERIMENT.yaml] [options]

Replays the experiment's scenarios (devices x networks x loads x requests) for every policy and
seed: each run trains on a training episode and is scored on a held-out evaluation episode.
Prints a table, and writes to --out: runs.csv, summary.json, runs.json (every run in full, what
`merge` joins) and PNG plots through gnuplot (evaluation, heatmap, energy_over_time, training,
target_mix; each with its .dat file, and plots.gp to redraw them).

options:
  --json FILE   also write the machine-readable summary to FILE
  --out DIR     report folder (default: results/<experiment name>)
  --jobs N      worker threads (default: all cores)
  --save-tables DIR
                save each learning policy's table after its run, as
                DIR/LABEL/DEVICE_NETWORK_LOAD_REQUESTS_seedN.qtable; an experiment can start
                from one with `params: {table: FILE}` (and train_requests: 0 to only evaluate)
  --shard I/N   run only slice I of N (0 <= I < N) of the (scenario, seed) jobs and write its
                runs.json to --out (default: results/<experiment name>/shard-I-of-N); join the
                slices with `autoscale merge`
  --quiet       no progress display
  -h, --help    show this text

With no EXPERIMENT, runs the shipped default: three phones, nine models, strong and weak Wi-Fi
and LTE, no / moderate / heavy co-runner load, a real-time and a relaxed latency bound.
)";

int Sim(const std::vector<std::string>& args) {
  std::string experiment_path, json_path, out_dir, save_dir;
  Shard shard;
  int jobs = 0;
  bool quiet = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* dst) -> bool {
      if (i + 1 >= args.size()) {
        std::cerr << "autoscale sim: " << a << " needs a value\n" << kSimUsage;
        return false;
      }
      *dst = args[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::cout << kSimUsage;
      return 0;
    } else if (a == "--json") {
      if (!value(&json_path)) return 2;
    } else if (a == "--out") {
      if (!value(&out_dir)) return 2;
    } else if (a == "--save-tables") {
      if (!value(&save_dir)) return 2;
    } else if (a == "--jobs") {
      std::string v;
      long long n = 0;
      if (!value(&v)) return 2;
      if (!ParseInt64(v, &n) || n < 1 || n > 1024) {
        std::cerr << "autoscale sim: --jobs expects a number from 1 to 1024, got '" << v << "'\n";
        return 2;
      }
      jobs = static_cast<int>(n);
    } else if (a == "--shard") {
      std::string v;
      if (!value(&v)) return 2;
      auto parsed = ParseShard(v);
      if (!parsed.ok()) {
        std::cerr << "autoscale sim: " << parsed.status().message() << "\n";
        return 2;
      }
      shard = *parsed;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "autoscale sim: unknown option '" << a << "'\n" << kSimUsage;
      return 2;
    } else if (experiment_path.empty()) {
      experiment_path = a;
    } else {
      std::cerr << "autoscale sim: one experiment at a time (got '" << experiment_path << "' and '"
                << a << "')\n";
      return 2;
    }
  }
  if (experiment_path.empty()) experiment_path = ConfigDir() + "/experiments/default.yaml";
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

constexpr const char* kMergeUsage = R"(usage: autoscale merge OUT SHARD...

Joins the slices of a sweep run with `autoscale sim EXPERIMENT --shard I/N` (one for each I from
0 to N-1): each SHARD is a slice's output folder or its runs.json. Writes into OUT the reports an
unsharded `autoscale sim EXPERIMENT --out OUT` writes, the same bytes (summary.json, runs.csv,
runs.json, the plots' .dat files and plots.gp; the PNGs are drawn again), and prints its table.

Refuses, saying which files: slices of different experiments or configurations, of different N,
a slice given twice, a slice missing, a runs.json that is not a whole slice.

options:
  -h, --help    show this text
)";

int Merge(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << kMergeUsage;
      return 0;
    }
    if (!a.empty() && a[0] == '-') {
      std::cerr << "autoscale merge: unknown option '" << a << "'\n" << kMergeUsage;
      return 2;
    }
    positional.push_back(a);
  }
  if (positional.size() < 2) {
    std::cerr << "autoscale merge: expected an output folder and at least one shard\n"
              << kMergeUsage;
    return 2;
  }
  const std::string out_dir = positional[0];
  auto merged = MergeShards({positional.begin() + 1, positional.end()});
  if (!merged.ok()) return Fail(merged.status());
  PrintTable(std::cout, merged->spec, merged->result);
  std::string note;
  Status st = WriteReports(out_dir, merged->spec, merged->result, &note);
  if (!st.ok()) return Fail(st);
  std::cerr << "autoscale merge: " << positional.size() - 1 << " shards, "
            << merged->result.runs.size() << " runs; reports: " << out_dir << "\n";
  if (!note.empty()) std::cerr << "note: " << note << "\n";
  return 0;
}

// An experiment outside an experiments/ folder: a YAML map with a `grid` key (sim runs such
// files, so check-config checks them too).
bool LooksLikeExperiment(const std::string& path) {
  auto root = ConfigNode::LoadFile(path);
  return root.ok() && root->IsMap() && root->Has("grid");
}

int CheckConfig(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << "usage: autoscale check-config [FILE...]\n\nValidates device, network and "
                   "model profiles and experiments (by folder: devices/, networks/, models/,\n"
                   "experiments/; elsewhere, a file with a `grid` key is an experiment). An\n"
                   "experiment is loaded exactly as `sim` loads it (profiles, traces, tables,\n"
                   "ranges and size limits) short of running it. With no FILE, checks every\n"
                   "shipped one.\n";
      return 0;
    }
    files.push_back(a);
  }
  const std::string dir = ConfigDir();
  if (files.empty()) {
    for (const char* sub : {"devices", "networks", "models", "experiments"}) {
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
    const std::string folder = std::filesystem::path(f).parent_path().filename().string();
    Status st;
    if (folder == "devices") {
      st = LoadDeviceProfile(f).status();
    } else if (folder == "networks") {
      st = LoadNetworkProfile(f).status();
    } else if (folder == "models") {
      st = LoadModelProfile(f).status();
    } else if (folder == "experiments" || LooksLikeExperiment(f)) {
      // The same loading sim does: every profile, trace, table and size check, short of running.
      st = LoadExperiment(f).status();
    } else {
      st = Status::InvalidArgument(f +
                                   ": not under devices/, networks/, models/ or "
                                   "experiments/, so its kind is unknown");
    }
    if (st.ok()) {
      std::cout << "ok    " << f << "\n";
    } else {
      ++bad;
      std::cout << "FAIL  " << st.message() << "\n";
    }
  }
  std::cout << files.size() - bad << " passed, " << bad << " failed\n";
  return bad ? 1 : 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "autoscale " << AUTOSCALE_VERSION << "\n";
    return 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "sim") return Sim(args);
  if (cmd == "merge") return Merge(args);
  if (cmd == "check-config") return CheckConfig(args);
  if (cmd == "models") return ModelsCommand(args);
  if (cmd == "profile") return ProfileCommand(args);
  if (cmd == "infer") return InferCommand(args);
  if (cmd == "policies") {
    for (const auto& n : PolicyNames()) std::cout << n << "\n";
    return 0;
  }
  std::vector<std::string> cmds = {"sim",   "merge",        "profile",  "models",
                                   "infer", "check-config", "policies", "help"};
  std::string near = NearestName(cmd, cmds);
  std::cerr << "autoscale: unknown command '" << cmd << "'"
            << (near.empty() ? "" : "; did you mean '" + near + "'?") << "\n"
            << kUsage;
  return 2;
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
