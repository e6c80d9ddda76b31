#include "sim/shard.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "core/file_util.h"
#include "core/model_repository.h"
#include "core/random.h"
#include "core/strings.h"
#include "env/user_models.h"

namespace autoscale {

namespace {

using Json = nlohmann::ordered_json;

// A runs.json of a large sweep: every run's summary and series (a few kB per run).
constexpr size_t kMaxRunsJsonBytes = size_t{4} << 30;
constexpr size_t kMaxShards = 1'000'000;

class Hasher {
 public:
  void Add(std::string_view s) {
    h_ = Mix64(h_, HashString(s));
    h_ = Mix64(h_, s.size());
  }
  void Add(uint64_t v) { h_ = Mix64(h_, v); }
  void Add(double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    Add(bits);
  }
  // A file's bytes, read in chunks (a user's model file may be large); a missing file counts as
  // such, not as an error: loading already refused what the experiment needs and lacks.
  void AddFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Add(std::string_view("(absent)"));
      return;
    }
    std::string buf(1 << 20, '\0');
    uint64_t total = 0;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      Add(std::string_view(buf.data(), n));
      total += n;
    }
    Add(total);
  }
  void AddTrace(const Trace* t) {
    if (t == nullptr) {
      Add(uint64_t{0});
      return;
    }
    Add(static_cast<uint64_t>(t->size()));
    for (double v : t->times()) Add(v);
    for (size_t c = 0; c < t->columns().size(); ++c) {
      Add(t->columns()[c]);
      for (double v : t->values(static_cast<int>(c))) Add(v);
    }
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = HashString(kRunsJsonFormat);
};

// The catalogue's file for a profile name (ProfileCatalog::Resolve's rule).
std::string ProfilePath(const std::string& root, const std::string& folder,
                        const std::string& name) {
  if (name.find('/') != std::string::npos || name.ends_with(".yaml")) return name;
  return root + "/" + folder + "/" + name + ".yaml";
}

Json SpecJson(const ReportSpec& spec) {
  Json policies = Json::array();
  for (const ReportPolicy& p : spec.policies) {
    policies.push_back(Json{{"label", p.label}, {"name", p.name}, {"target", p.target}});
  }
  return Json{{"train_requests", spec.train_requests},
              {"eval_requests", spec.eval_requests},
              {"train_epochs", spec.train_epochs},
              {"series_bins", spec.series_bins},
              {"beliefs", spec.beliefs},
              {"policies", std::move(policies)},
              {"scenarios", spec.scenarios},
              {"seeds", spec.seeds}};
}

// Full precision (nlohmann writes the shortest text that reads back to the same double); NaN
// and infinities as null, read back as NaN.
Json Full(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }
Json FullVector(const std::vector<double>& v) {
  Json a = Json::array();
  for (double x : v) a.push_back(Full(x));
  return a;
}

double ReadDouble(const Json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}
std::vector<double> ReadDoubles(const Json& j) {
  std::vector<double> out;
  for (const Json& x : j) out.push_back(ReadDouble(x));
  return out;
}

// Shard "I/N" for messages.
std::string ShardName(const Shard& s) {
  return std::to_string(s.index) + "/" + std::to_string(s.count);
}

// A shard's runs are its jobs' runs, in RunExperiment's order: scenario, then policy, then seed.
std::vector<std::tuple<size_t, size_t, size_t>> ExpectedRuns(const ReportSpec& spec,
                                                             const Shard& shard) {
  std::vector<std::tuple<size_t, size_t, size_t>> out;  // (scenario, policy, seed) indices
  const size_t nseeds = spec.seeds.size();
  for (size_t s = 0; s < spec.scenarios.size(); ++s) {
    for (size_t p = 0; p < spec.policies.size(); ++p) {
      for (size_t k = 0; k < nseeds; ++k) {
        if (shard.Holds(s * nseeds + k)) out.emplace_back(s, p, k);
      }
    }
  }
  return out;
}

}  // namespace

std::string ExperimentFingerprint(const Experiment& exp) {
  Hasher h;
  if (!exp.file.empty()) {
    h.AddFile(exp.file);
    // Its conditions files, as it names them (relative to its folder).
    auto root = ConfigNode::LoadFile(exp.file);
    if (root.ok()) {
      if (auto c = root->Optional("conditions")) {
        auto files = c->AsStringList();
        if (files.ok()) {
          for (const std::string& f : *files) {
            h.AddFile(!f.empty() && f[0] == '/' ? f : root->Directory() + "/" + f);
          }
        }
      }
    }
  }
  const std::string root = exp.catalog ? exp.catalog->root() : exp.config_root;
  h.Add(exp.name);
  h.Add(static_cast<uint64_t>(exp.train_requests));
  h.Add(static_cast<uint64_t>(exp.eval_requests));
  h.Add(static_cast<uint64_t>(exp.train_epochs));
  h.Add(static_cast<uint64_t>(exp.series_bins));
  for (uint64_t s : exp.seeds) h.Add(s);
  for (const PolicySpec& p : exp.policies) {
    h.Add(p.name);
    h.Add(p.label);
  }
  for (const auto& [device, cm] : exp.cost_models) {
    h.Add(device);
    h.AddFile(ProfilePath(root, "devices", device));
  }
  for (const auto& [device, profile] : exp.beliefs) {
    h.Add(device);
    h.Add(profile);
  }
  for (const char* net : {"wifi", "lte"}) h.AddFile(ProfilePath(root, "networks", net));
  for (const ModelProfile& m : exp.models) {
    h.Add(m.name);
    if (HasUserModel(exp.model_dir, m.name)) {
      auto files = FindUserModelFiles(exp.model_dir, m.name);
      if (files.ok()) {
        h.AddFile(files->sidecar);
        h.AddFile(files->model);
      }
    } else {
      h.AddFile(ProfilePath(root, "models", m.name));
    }
  }
  // Traces the scenarios read (each once: scenarios share them).
  std::set<const void*> seen;
  auto quantity = [&](const QuantitySpec* q) {
    if (q == nullptr) return;
    h.Add(static_cast<uint64_t>(q->kind));
    if (q->kind == QuantitySpec::Kind::kTrace && seen.insert(q->trace.get()).second) {
      h.AddTrace(q->trace.get());
    }
  };
  for (const Scenario& sc : exp.scenarios) {
    h.Add(sc.name);
    for (const LinkSpec* l : {&sc.network.wifi, &sc.network.cell}) {
      quantity(&l->signal_dbm);
      quantity(l->down_mbps.get());
      quantity(l->up_mbps.get());
    }
    for (const QuantitySpec* q : {&sc.network.p2p_dbm, &sc.load.cpu, &sc.load.gpu, &sc.load.mem}) {
      quantity(q);
    }
    if (sc.requests.trace && seen.insert(sc.requests.trace.get()).second) {
      for (const RequestSpec& r : *sc.requests.trace) {
        h.Add(r.time_s);
        h.Add(r.model);
        h.Add(r.latency_bound_ms);
        h.Add(r.min_accuracy);
      }
    }
  }
  return h.Hex();
}

Result<Shard> ParseShard(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "--shard expects I/N, shard I of N counted from 0 (0 <= I < N <= " +
        std::to_string(kMaxShards) + "; e.g. 0/4 to 3/4), got '" + ToValidUtf8(text) + "'");
  };
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  long long i = 0, n = 0;
  if (!ParseInt64(text.substr(0, slash), &i) || !ParseInt64(text.substr(slash + 1), &n)) {
    return bad();
  }
  if (n < 1 || static_cast<unsigned long long>(n) > kMaxShards || i < 0 || i >= n) return bad();
  Shard s;
  s.index = static_cast<size_t>(i);
  s.count = static_cast<size_t>(n);
  return s;
}

std::string RunsJson(const ReportSpec& spec, const ExperimentResult& result) {
  Json doc = Json::object();
  doc["format"] = kRunsJsonFormat;
  doc["experiment"] = spec.name;
  doc["fingerprint"] = spec.fingerprint;
  doc["shard"] = Json{{"index", result.shard.index}, {"count", result.shard.count}};
  doc["spec"] = SpecJson(spec);
  Json runs = Json::array();
  for (const RunSummary& r : result.runs) {
    runs.push_back(Json{{"scenario", r.scenario},
                        {"device", r.device},
                        {"network", r.network},
                        {"load", r.load},
                        {"requests_condition", r.requests_condition},
                        {"policy", r.policy},
                        {"seed", r.seed},
                        {"requests", r.requests},
                        {"energy_mj_per_inference", Full(r.energy_mj_per_inference)},
                        {"latency_ms_p50", Full(r.latency_ms_p50)},
                        {"latency_ms_p99", Full(r.latency_ms_p99)},
                        {"qos_violation_rate", Full(r.qos_violation_rate)},
                        {"accuracy_violation_rate", Full(r.accuracy_violation_rate)},
                        {"failure_rate", Full(r.failure_rate)},
                        {"satisfied_rate", Full(r.satisfied_rate)},
                        {"satisfaction", Full(r.satisfaction)},
                        {"oracle_agreement", Full(r.oracle_agreement)},
                        {"energy_vs_oracle", Full(r.energy_vs_oracle)},
                        {"efficiency_vs_cpu", Full(r.efficiency_vs_cpu)},
                        {"efficiency_vs_cloud", Full(r.efficiency_vs_cloud)},
                        {"target_names", r.target_names},
                        {"target_counts", r.target_counts},
                        {"train_series", FullVector(r.train_series)},
                        {"eval_vs_oracle_series", FullVector(r.eval_vs_oracle_series)}});
  }
  doc["runs"] = std::move(runs);
  Json latencies = Json::array();
  for (size_t p = 0; p < result.latencies.size() && p < spec.policies.size(); ++p) {
    Json buckets = Json::array();
    for (const auto& [b, n] : result.latencies[p].buckets()) buckets.push_back(Json::array({b, n}));
    latencies.push_back(Json{{"policy", spec.policies[p].label}, {"buckets", std::move(buckets)}});
  }
  doc["latencies"] = std::move(latencies);
  // Compact: the file is for `merge`, and may hold many thousands of runs.
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Result<RunsFile> ReadRunsJson(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxRunsJsonBytes));
  const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(path + ": " + what); };
  if (doc.is_discarded()) return bad("not valid JSON (a runs.json of `autoscale sim`?)");
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != kRunsJsonFormat) {
    return bad("not a runs.json of `autoscale sim` (expected \"format\": \"" +
               std::string(kRunsJsonFormat) + "\")");
  }
  RunsFile f;
  try {
    f.spec.name = doc.at("experiment").get<std::string>();
    f.spec.fingerprint = doc.at("fingerprint").get<std::string>();
    f.result.shard.index = doc.at("shard").at("index").get<size_t>();
    f.result.shard.count = doc.at("shard").at("count").get<size_t>();
    const Json& spec = doc.at("spec");
    f.spec.train_requests = spec.at("train_requests").get<size_t>();
    f.spec.eval_requests = spec.at("eval_requests").get<size_t>();
    f.spec.train_epochs = spec.at("train_epochs").get<int>();
    f.spec.series_bins = spec.at("series_bins").get<int>();
    f.spec.beliefs = spec.at("beliefs").get<std::map<std::string, std::string>>();
    for (const Json& p : spec.at("policies")) {
      f.spec.policies.push_back({p.at("label").get<std::string>(), p.at("name").get<std::string>(),
                                 p.at("target").get<std::string>()});
    }
    f.spec.scenarios = spec.at("scenarios").get<std::vector<std::string>>();
    f.spec.seeds = spec.at("seeds").get<std::vector<uint64_t>>();
    for (const Json& j : doc.at("runs")) {
      RunSummary r;
      r.scenario = j.at("scenario").get<std::string>();
      r.device = j.at("device").get<std::string>();
      r.network = j.at("network").get<std::string>();
      r.load = j.at("load").get<std::string>();
      r.requests_condition = j.at("requests_condition").get<std::string>();
      r.policy = j.at("policy").get<std::string>();
      r.seed = j.at("seed").get<uint64_t>();
      r.requests = j.at("requests").get<uint64_t>();
      r.energy_mj_per_inference = ReadDouble(j.at("energy_mj_per_inference"));
      r.latency_ms_p50 = ReadDouble(j.at("latency_ms_p50"));
      r.latency_ms_p99 = ReadDouble(j.at("latency_ms_p99"));
      r.qos_violation_rate = ReadDouble(j.at("qos_violation_rate"));
      r.accuracy_violation_rate = ReadDouble(j.at("accuracy_violation_rate"));
      r.failure_rate = ReadDouble(j.at("failure_rate"));
      r.satisfied_rate = ReadDouble(j.at("satisfied_rate"));
      r.satisfaction = ReadDouble(j.at("satisfaction"));
      r.oracle_agreement = ReadDouble(j.at("oracle_agreement"));
      r.energy_vs_oracle = ReadDouble(j.at("energy_vs_oracle"));
      r.efficiency_vs_cpu = ReadDouble(j.at("efficiency_vs_cpu"));
      r.efficiency_vs_cloud = ReadDouble(j.at("efficiency_vs_cloud"));
      r.target_names = j.at("target_names").get<std::vector<std::string>>();
      r.target_counts = j.at("target_counts").get<std::vector<uint64_t>>();
      r.train_series = ReadDoubles(j.at("train_series"));
      r.eval_vs_oracle_series = ReadDoubles(j.at("eval_vs_oracle_series"));
      f.result.runs.push_back(std::move(r));
    }
    for (const Json& l : doc.at("latencies")) {
      LatencyHistogram h;
      for (const Json& b : l.at("buckets")) {
        h.AddBucket(b.at(0).get<uint16_t>(), b.at(1).get<uint64_t>());
      }
      f.result.latencies.push_back(std::move(h));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("malformed runs.json: ") + e.what());
  }
  if (f.result.shard.count < 1 || f.result.shard.index >= f.result.shard.count) {
    return bad("shard " + ShardName(f.result.shard) + " is not a shard I/N with 0 <= I < N");
  }
  if (f.result.latencies.size() != f.spec.policies.size()) {
    return bad("holds " + std::to_string(f.result.latencies.size()) + " latency histograms for " +
               std::to_string(f.spec.policies.size()) + " policies");
  }
  // The runs must be exactly its shard's jobs' runs, in order.
  const auto expected = ExpectedRuns(f.spec, f.result.shard);
  if (expected.size() != f.result.runs.size()) {
    return bad("shard " + ShardName(f.result.shard) + " should hold " +
               std::to_string(expected.size()) + " runs, holds " +
               std::to_string(f.result.runs.size()) + " (an interrupted or edited run?)");
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto [s, p, k] = expected[i];
    const RunSummary& r = f.result.runs[i];
    if (r.scenario != f.spec.scenarios[s] || r.policy != f.spec.policies[p].label ||
        r.seed != f.spec.seeds[k]) {
      return bad("run " + std::to_string(i + 1) + " is (" + r.scenario + ", " + r.policy +
                 ", seed " + std::to_string(r.seed) + ") where shard " + ShardName(f.result.shard) +
                 " has (" + f.spec.scenarios[s] + ", " + f.spec.policies[p].label + ", seed " +
                 std::to_string(f.spec.seeds[k]) + ")");
    }
  }
  return f;
}

Result<RunsFile> MergeShards(const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::InvalidArgument("merge: no shards given");
  std::vector<RunsFile> files;
  std::vector<std::string> names;
  for (const std::string& p : paths) {
    std::error_code ec;
    const std::string file =
        std::filesystem::is_directory(p, ec) ? p + "/" + std::string(kRunsJsonFile) : p;
    ASSIGN_OR_RETURN(RunsFile f, ReadRunsJson(file));
    files.push_back(std::move(f));
    names.push_back(file);
  }
  const RunsFile& first = files[0];
  const size_t count = first.result.shard.count;
  std::vector<int> holder(count, -1);  // which file holds each shard index
  for (size_t i = 0; i < files.size(); ++i) {
    const RunsFile& f = files[i];
    if (f.spec.fingerprint != first.spec.fingerprint || f.spec.name != first.spec.name) {
      return Status::InvalidArgument("merge: " + names[i] + " (experiment '" + f.spec.name +
                                     "', fingerprint " + f.spec.fingerprint + ") and " + names[0] +
                                     " (experiment '" + first.spec.name + "', fingerprint " +
                                     first.spec.fingerprint +
                                     ") were run from different experiments or configurations");
    }
    if (!(f.spec == first.spec)) {
      return Status::InvalidArgument("merge: " + names[i] + " and " + names[0] +
                                     " have the same fingerprint but describe different "
                                     "experiments (edited by hand?)");
    }
    if (f.result.shard.count != count) {
      return Status::InvalidArgument("merge: " + names[i] + " is shard " +
                                     ShardName(f.result.shard) + " but " + names[0] + " is shard " +
                                     ShardName(first.result.shard) +
                                     ": all shards of a sweep must use the same N");
    }
    int& h = holder[f.result.shard.index];
    if (h >= 0) {
      return Status::InvalidArgument("merge: shard " + ShardName(f.result.shard) +
                                     " given twice: " + names[h] + " and " + names[i]);
    }
    h = static_cast<int>(i);
  }
  std::string missing;
  size_t nmissing = 0;
  for (size_t s = 0; s < count; ++s) {
    if (holder[s] >= 0) continue;
    if (++nmissing <= 20) missing += (missing.empty() ? "" : ", ") + std::to_string(s);
  }
  if (nmissing > 0) {
    return Status::InvalidArgument(
        "merge: " + std::to_string(nmissing) + " of " + std::to_string(count) +
        " shards missing: " + missing + (nmissing > 20 ? ", ..." : "") + " (of 0.." +
        std::to_string(count - 1) + "); every shard's runs.json must be given");
  }

  // Every run in the unsharded order: scenario, then policy, then seed.
  const ReportSpec& spec = first.spec;
  const size_t nseeds = spec.seeds.size();
  std::vector<size_t> next(files.size(), 0);  // each file's next run
  RunsFile out;
  out.spec = spec;
  out.result.shard = Shard{};
  for (size_t s = 0; s < spec.scenarios.size(); ++s) {
    for (size_t p = 0; p < spec.policies.size(); ++p) {
      for (size_t k = 0; k < nseeds; ++k) {
        const size_t i = static_cast<size_t>(holder[(s * nseeds + k) % count]);
        // ReadRunsJson checked each file's runs are its jobs' runs in this same order.
        out.result.runs.push_back(std::move(files[i].result.runs[next[i]++]));
      }
    }
  }
  out.result.latencies.resize(spec.policies.size());
  for (const RunsFile& f : files) {
    for (size_t p = 0; p < spec.policies.size(); ++p) {
      out.result.latencies[p].Merge(f.result.latencies[p]);
    }
  }
  return out;
}

}  // namespace autoscale
