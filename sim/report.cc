#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/strings.h"
#include "sim/plots.h"
#include "sim/shard.h"

namespace autoscale {

namespace {

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// A number of summary.json: to 6 significant digits, null when not finite.
nlohmann::ordered_json J(double v) {
  if (!std::isfinite(v)) return nullptr;
  return RoundSignificant(v);
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

ReportSpec ReportSpec::Of(const Experiment& exp) {
  ReportSpec s;
  s.name = exp.name;
  s.train_requests = exp.train_requests;
  s.eval_requests = exp.eval_requests;
  s.train_epochs = exp.train_epochs;
  s.series_bins = exp.series_bins;
  s.beliefs = exp.beliefs;
  for (const PolicySpec& p : exp.policies) {
    ReportPolicy rp;
    rp.label = p.label;
    rp.name = p.name;
    if (p.name == "static" && p.params && p.params->IsMap()) {
      auto t = p.params->GetString("target", "");
      if (t.ok()) rp.target = *t;
    }
    s.policies.push_back(std::move(rp));
  }
  for (const Scenario& sc : exp.scenarios) s.scenarios.push_back(sc.name);
  s.seeds = exp.seeds;
  s.fingerprint = ExperimentFingerprint(exp);
  return s;
}

int ReportSpec::StudiedPolicy() const {
  for (size_t i = 0; i < policies.size(); ++i) {
    if (policies[i].name == "q_learning") return static_cast<int>(i);
  }
  return policies.empty() ? -1 : 0;
}

double StudentT95(size_t df) {
  // Two-sided 95% (the 0.975 quantile), df 1..30, then 40, 60, 120 (any table of t).
  static constexpr double kT[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                  2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                  2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                  2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return kNaN;
  if (df <= 30) return kT[df - 1];
  if (df <= 40) return 2.042 + (2.021 - 2.042) * (df - 30) / 10.0;
  if (df <= 60) return 2.021 + (2.000 - 2.021) * (df - 40) / 20.0;
  if (df <= 120) return 2.000 + (1.980 - 2.000) * (df - 60) / 60.0;
  return 1.960;
}

SeedInterval IntervalOverSeeds(const std::vector<double>& values) {
  SeedInterval s;
  s.seeds = values.size();
  if (values.empty()) {
    s.mean = s.lo = s.hi = kNaN;
    return s;
  }
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / values.size();
  if (values.size() < 2) {
    s.lo = s.hi = kNaN;
    return s;
  }
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  const double sd = std::sqrt(ss / (values.size() - 1));
  const double half = StudentT95(values.size() - 1) * sd / std::sqrt(double(values.size()));
  s.lo = s.mean - half;
  s.hi = s.mean + half;
  return s;
}

std::vector<PolicyAggregate> Aggregate(const ReportSpec& spec, const ExperimentResult& result) {
  std::vector<PolicyAggregate> out;
  for (size_t pi = 0; pi < spec.policies.size(); ++pi) {
    const std::string& label = spec.policies[pi].label;
    PolicyAggregate a;
    a.policy = label;
    double total_e = 0, total_oracle_e = 0;
    // Per seed (experiment order): sum of energy_vs_oracle and runs; QoS violations and requests.
    std::vector<double> seed_vs(spec.seeds.size(), 0), seed_runs(spec.seeds.size(), 0);
    std::vector<double> seed_qos(spec.seeds.size(), 0), seed_requests(spec.seeds.size(), 0);
    for (const RunSummary& r : result.runs) {
      if (r.policy != label) continue;
      ++a.runs;
      a.requests += r.requests;
      a.energy_mj_per_inference += r.energy_mj_per_inference;
      a.energy_vs_oracle += r.energy_vs_oracle;
      a.qos_violation_rate += r.qos_violation_rate * r.requests;
      a.accuracy_violation_rate += r.accuracy_violation_rate * r.requests;
      a.oracle_agreement += r.oracle_agreement * r.requests;
      a.satisfied_rate += r.satisfied_rate * r.requests;
      a.satisfaction += r.satisfaction * r.requests;
      a.efficiency_vs_cpu += r.efficiency_vs_cpu;
      a.efficiency_vs_cloud += r.efficiency_vs_cloud;
      total_e += r.energy_mj_per_inference * r.requests;
      if (r.energy_vs_oracle > 0) {
        total_oracle_e += r.energy_mj_per_inference / r.energy_vs_oracle * r.requests;
      }
      const size_t k = std::find(spec.seeds.begin(), spec.seeds.end(), r.seed) - spec.seeds.begin();
      if (k < spec.seeds.size()) {
        seed_vs[k] += r.energy_vs_oracle;
        seed_runs[k] += 1;
        seed_qos[k] += r.qos_violation_rate * r.requests;
        seed_requests[k] += r.requests;
      }
    }
    if (a.runs) {
      const double n = static_cast<double>(a.runs);
      a.energy_mj_per_inference /= n;
      a.energy_vs_oracle /= n;
      a.efficiency_vs_cpu /= n;
      a.efficiency_vs_cloud /= n;
    }
    if (a.requests) {
      a.qos_violation_rate /= a.requests;
      a.accuracy_violation_rate /= a.requests;
      a.oracle_agreement /= a.requests;
      a.satisfied_rate /= a.requests;
      a.satisfaction /= a.requests;
    }
    a.energy_vs_oracle_total = total_oracle_e > 0 ? total_e / total_oracle_e : 0;
    if (pi < result.latencies.size()) {
      a.latency_ms_p50 = result.latencies[pi].Percentile(0.50);
      a.latency_ms_p99 = result.latencies[pi].Percentile(0.99);
    } else {
      a.latency_ms_p50 = a.latency_ms_p99 = kNaN;
    }
    std::vector<double> vs, qos;
    for (size_t k = 0; k < spec.seeds.size(); ++k) {
      if (seed_runs[k] > 0) vs.push_back(seed_vs[k] / seed_runs[k]);
      if (seed_requests[k] > 0) qos.push_back(seed_qos[k] / seed_requests[k]);
    }
    a.energy_vs_oracle_seeds = IntervalOverSeeds(vs);
    a.qos_violation_rate_seeds = IntervalOverSeeds(qos);
    out.push_back(a);
  }
  return out;
}

void PrintTable(std::ostream& os, const ReportSpec& spec, const ExperimentResult& result) {
  const auto agg = Aggregate(spec, result);
  char line[512];
  std::snprintf(line, sizeof(line),
                "%-16s %6s %10s %8s %8s %8s %8s %6s %6s %6s %6s %6s %7s %7s\n", "policy", "runs",
                "mJ/inf", "vs_orcl", "tot/orcl", "p50_ms", "p99_ms", "qos%", "acc%", "sat%",
                "satis", "agree%", "xCPU", "xCloud");
  os << line;
  for (const auto& a : agg) {
    std::snprintf(line, sizeof(line),
                  "%-16s %6zu %10.2f %8.3f %8.3f %8.1f %8.1f %6.2f %6.2f %6.2f %6.3f %6.1f %7.2f "
                  "%7.2f\n",
                  a.policy.c_str(), a.runs, a.energy_mj_per_inference, a.energy_vs_oracle,
                  a.energy_vs_oracle_total, a.latency_ms_p50, a.latency_ms_p99,
                  100 * a.qos_violation_rate, 100 * a.accuracy_violation_rate,
                  100 * a.satisfied_rate, a.satisfaction, 100 * a.oracle_agreement,
                  a.efficiency_vs_cpu, a.efficiency_vs_cloud);
    os << line;
  }
  // Breakdown of the policy under study by device and by network.
  if (spec.StudiedPolicy() >= 0 && spec.scenarios.size() > 1) {
    const std::string& label = spec.policies[spec.StudiedPolicy()].label;
    os << "\n" << label << " by condition (mean over runs):\n";
    std::snprintf(line, sizeof(line), "  %-20s %6s %8s %6s %6s %7s %7s\n", "condition", "runs",
                  "vs_orcl", "qos%", "sat%", "xCPU", "xCloud");
    os << line;
    for (int axis = 0; axis < 2; ++axis) {
      std::vector<std::string> keys;
      for (const RunSummary& r : result.runs) {
        const std::string& k = axis == 0 ? r.device : r.network;
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
      }
      for (const std::string& k : keys) {
        double n = 0, vs = 0, qos = 0, sat = 0, cpu = 0, cloud = 0;
        for (const RunSummary& r : result.runs) {
          if (r.policy != label || (axis == 0 ? r.device : r.network) != k) continue;
          ++n;
          vs += r.energy_vs_oracle;
          qos += r.qos_violation_rate;
          sat += r.satisfied_rate;
          cpu += r.efficiency_vs_cpu;
          cloud += r.efficiency_vs_cloud;
        }
        if (n == 0) continue;
        std::snprintf(line, sizeof(line), "  %-20s %6.0f %8.3f %6.2f %6.2f %7.2f %7.2f\n",
                      k.c_str(), n, vs / n, 100 * qos / n, 100 * sat / n, cpu / n, cloud / n);
        os << line;
      }
    }
  }
  os << "vs_orcl: mean over runs of energy per inference / the oracle's; tot/orcl: total energy /"
        " the oracle's;\np50_ms, p99_ms: over every evaluated request of the policy, pooled (to"
        " 0.4%);\nsat%: requests that met both their latency bound and accuracy floor;"
        " satis: mean satisfaction\n(1 within the bound, down to 0 at twice it; 0 under the"
        " accuracy floor; README.md, Reports);\nxCPU, xCloud: inferences per joule / those of"
        " always-CPU (fp32, top frequency) and always-cloud\n(AutoScale, MICRO 2020, reports 9.8x"
        " and 1.6x).\n";
  for (const auto& [device, profile] : spec.beliefs) {
    os << "beliefs: on " << device << " the policies decide with profile " << profile
       << "; the world and the oracle use " << device << "'s own.\n";
  }
}

std::string RunsCsv(const ExperimentResult& result) {
  std::string out =
      "scenario,device,network,load,requests_condition,policy,seed,requests,"
      "energy_mj_per_inference,latency_ms_p50,latency_ms_p99,qos_violation_rate,"
      "accuracy_violation_rate,failure_rate,satisfied_rate,satisfaction,oracle_agreement,"
      "energy_vs_oracle,efficiency_vs_cpu,efficiency_vs_cloud,targets\n";
  for (const RunSummary& r : result.runs) {
    std::string mix;
    for (size_t t = 0; t < r.target_names.size(); ++t) {
      if (t) mix += ";";
      mix += r.target_names[t] + "=" + std::to_string(r.target_counts[t]);
    }
    // Text fields per RFC 4180: names may hold commas or quotes.
    out += CsvField(r.scenario) + "," + CsvField(r.device) + "," + CsvField(r.network) + "," +
           CsvField(r.load) + "," + CsvField(r.requests_condition) + "," + CsvField(r.policy) +
           "," + std::to_string(r.seed) + "," + std::to_string(r.requests) + "," +
           Num(r.energy_mj_per_inference) + "," + Num(r.latency_ms_p50) + "," +
           Num(r.latency_ms_p99) + "," + Num(r.qos_violation_rate) + "," +
           Num(r.accuracy_violation_rate) + "," + Num(r.failure_rate) + "," +
           Num(r.satisfied_rate) + "," + Num(r.satisfaction) + "," + Num(r.oracle_agreement) + "," +
           Num(r.energy_vs_oracle) + "," + Num(r.efficiency_vs_cpu) + "," +
           Num(r.efficiency_vs_cloud) + "," + CsvField(mix) + "\n";
  }
  return out;
}

std::string SummaryJson(const ReportSpec& spec, const ExperimentResult& result) {
  using Json = nlohmann::ordered_json;
  Json doc = Json::object();
  doc["experiment"] = spec.name;
  doc["train_requests"] = spec.train_requests;
  doc["eval_requests"] = spec.eval_requests;
  // What the policies other than the oracle believed, per world device (as written).
  if (!spec.beliefs.empty()) doc["beliefs"] = spec.beliefs;
  Json runs = Json::array();
  for (const RunSummary& r : result.runs) {
    Json targets = Json::object();
    for (size_t t = 0; t < r.target_names.size() && t < r.target_counts.size(); ++t) {
      targets[r.target_names[t]] = r.target_counts[t];
    }
    runs.push_back(Json{{"scenario", r.scenario},
                        {"policy", r.policy},
                        {"seed", r.seed},
                        {"requests", r.requests},
                        {"energy_mj_per_inference", J(r.energy_mj_per_inference)},
                        {"latency_ms_p50", J(r.latency_ms_p50)},
                        {"latency_ms_p99", J(r.latency_ms_p99)},
                        {"qos_violation_rate", J(r.qos_violation_rate)},
                        {"accuracy_violation_rate", J(r.accuracy_violation_rate)},
                        {"satisfied_rate", J(r.satisfied_rate)},
                        {"satisfaction", J(r.satisfaction)},
                        {"oracle_agreement", J(r.oracle_agreement)},
                        {"energy_vs_oracle", J(r.energy_vs_oracle)},
                        {"efficiency_vs_cpu", J(r.efficiency_vs_cpu)},
                        {"efficiency_vs_cloud", J(r.efficiency_vs_cloud)},
                        {"targets", std::move(targets)}});
  }
  doc["runs"] = std::move(runs);
  auto interval = [](const SeedInterval& s) { return Json::array({J(s.lo), J(s.hi)}); };
  Json agg = Json::array();
  for (const PolicyAggregate& a : Aggregate(spec, result)) {
    agg.push_back(Json{{"policy", a.policy},
                       {"runs", a.runs},
                       {"requests", a.requests},
                       {"energy_mj_per_inference", J(a.energy_mj_per_inference)},
                       {"energy_vs_oracle", J(a.energy_vs_oracle)},
                       {"energy_vs_oracle_ci95", interval(a.energy_vs_oracle_seeds)},
                       {"energy_vs_oracle_total", J(a.energy_vs_oracle_total)},
                       {"latency_ms_p50", J(a.latency_ms_p50)},
                       {"latency_ms_p99", J(a.latency_ms_p99)},
                       {"qos_violation_rate", J(a.qos_violation_rate)},
                       {"qos_violation_rate_ci95", interval(a.qos_violation_rate_seeds)},
                       {"accuracy_violation_rate", J(a.accuracy_violation_rate)},
                       {"satisfied_rate", J(a.satisfied_rate)},
                       {"satisfaction", J(a.satisfaction)},
                       {"oracle_agreement", J(a.oracle_agreement)},
                       {"efficiency_vs_cpu", J(a.efficiency_vs_cpu)},
                       {"efficiency_vs_cloud", J(a.efficiency_vs_cloud)}});
  }
  doc["aggregate"] = std::move(agg);
  // Names are valid UTF-8 when loaded; anything else becomes U+FFFD rather than an exception.
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Status WriteReports(const std::string& dir, const ReportSpec& spec, const ExperimentResult& result,
                    std::string* plots_note) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/runs.csv", RunsCsv(result)));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/summary.json", SummaryJson(spec, result)));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + std::string(kRunsJsonFile), RunsJson(spec, result)));
  return WritePlots(dir, spec, result, plots_note);
}

}  // namespace autoscale
