#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/file_util.h"
#include "core/strings.h"

namespace autoscale {

namespace {

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// Valid UTF-8 whatever the names hold (ill-formed bytes become U+FFFD), escaped.
std::string JsonString(const std::string& s) { return JsonQuote(s); }

// A label as one field of a whitespace-separated gnuplot data file: in double quotes (gnuplot
// reads a quoted string as one column), with any double quote in it made a single quote.
std::string DatLabel(const std::string& s) {
  std::string out = "\"";
  for (char c : ToValidUtf8(s)) {
    const bool control = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    out += c == '"' ? '\'' : control ? ' ' : c;
  }
  return out + "\"";
}

// Policies in the experiment's order.
std::vector<std::string> PolicyOrder(const Experiment& exp) {
  std::vector<std::string> out;
  for (const auto& p : exp.policies) out.push_back(p.label);
  return out;
}

}  // namespace

std::vector<PolicyAggregate> Aggregate(const Experiment& exp, const ExperimentResult& result) {
  std::vector<PolicyAggregate> out;
  // The oracle's energy per run, for total ratios: energy / energy_vs_oracle.
  for (const std::string& label : PolicyOrder(exp)) {
    PolicyAggregate a;
    a.policy = label;
    double total_e = 0, total_oracle_e = 0;
    for (const RunSummary& r : result.runs) {
      if (r.policy != label) continue;
      ++a.runs;
      a.requests += r.requests;
      a.energy_mj_per_inference += r.energy_mj_per_inference;
      a.energy_vs_oracle += r.energy_vs_oracle;
      a.latency_ms_p50 += r.latency_ms_p50;
      a.latency_ms_p99 += r.latency_ms_p99;
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
    }
    if (a.runs) {
      const double n = static_cast<double>(a.runs);
      a.energy_mj_per_inference /= n;
      a.energy_vs_oracle /= n;
      a.latency_ms_p50 /= n;
      a.latency_ms_p99 /= n;
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
    out.push_back(a);
  }
  return out;
}

void PrintTable(std::ostream& os, const Experiment& exp, const ExperimentResult& result) {
  const auto agg = Aggregate(exp, result);
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
  // Breakdown of the first policy (the one under study) by device and by network.
  if (!exp.policies.empty() && exp.scenarios.size() > 1) {
    const std::string& label = exp.policies.front().label;
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
        " the oracle's;\nsat%: requests that met both their latency bound and accuracy floor;"
        " satis: mean satisfaction\n(1 within the bound, down to 0 at twice it; 0 under the"
        " accuracy floor; README.md, Reports);\nxCPU, xCloud: inferences per joule / those of"
        " always-CPU (fp32, top frequency) and always-cloud\n(AutoScale, MICRO 2020, reports 9.8x"
        " and 1.6x).\n";
  for (const auto& [device, profile] : exp.beliefs) {
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

std::string SummaryJson(const Experiment& exp, const ExperimentResult& result) {
  std::ostringstream os;
  os << "{\n  \"experiment\": " << JsonString(exp.name) << ",\n";
  os << "  \"train_requests\": " << exp.train_requests
     << ",\n  \"eval_requests\": " << exp.eval_requests << ",\n";
  if (!exp.beliefs.empty()) {
    // What the policies other than the oracle believed, per world device (as written).
    os << "  \"beliefs\": {";
    size_t i = 0;
    for (const auto& [device, profile] : exp.beliefs) {
      os << (i++ ? ", " : "") << JsonString(device) << ": " << JsonString(profile);
    }
    os << "},\n";
  }
  os << "  \"runs\": [\n";
  for (size_t i = 0; i < result.runs.size(); ++i) {
    const RunSummary& r = result.runs[i];
    os << "    {\"scenario\": " << JsonString(r.scenario)
       << ", \"policy\": " << JsonString(r.policy) << ", \"seed\": " << r.seed
       << ", \"requests\": " << r.requests
       << ", \"energy_mj_per_inference\": " << Num(r.energy_mj_per_inference)
       << ", \"latency_ms_p50\": " << Num(r.latency_ms_p50)
       << ", \"latency_ms_p99\": " << Num(r.latency_ms_p99)
       << ", \"qos_violation_rate\": " << Num(r.qos_violation_rate)
       << ", \"accuracy_violation_rate\": " << Num(r.accuracy_violation_rate)
       << ", \"satisfied_rate\": " << Num(r.satisfied_rate)
       << ", \"satisfaction\": " << Num(r.satisfaction)
       << ", \"oracle_agreement\": " << Num(r.oracle_agreement)
       << ", \"energy_vs_oracle\": " << Num(r.energy_vs_oracle)
       << ", \"efficiency_vs_cpu\": " << Num(r.efficiency_vs_cpu)
       << ", \"efficiency_vs_cloud\": " << Num(r.efficiency_vs_cloud) << ", \"targets\": {";
    for (size_t t = 0; t < r.target_names.size(); ++t) {
      os << (t ? ", " : "") << JsonString(r.target_names[t]) << ": " << r.target_counts[t];
    }
    os << "}}" << (i + 1 < result.runs.size() ? "," : "") << "\n";
  }
  os << "  ],\n  \"aggregate\": [\n";
  const auto agg = Aggregate(exp, result);
  for (size_t i = 0; i < agg.size(); ++i) {
    const PolicyAggregate& a = agg[i];
    os << "    {\"policy\": " << JsonString(a.policy) << ", \"runs\": " << a.runs
       << ", \"requests\": " << a.requests
       << ", \"energy_mj_per_inference\": " << Num(a.energy_mj_per_inference)
       << ", \"energy_vs_oracle\": " << Num(a.energy_vs_oracle)
       << ", \"energy_vs_oracle_total\": " << Num(a.energy_vs_oracle_total)
       << ", \"latency_ms_p50\": " << Num(a.latency_ms_p50)
       << ", \"latency_ms_p99\": " << Num(a.latency_ms_p99)
       << ", \"qos_violation_rate\": " << Num(a.qos_violation_rate)
       << ", \"accuracy_violation_rate\": " << Num(a.accuracy_violation_rate)
       << ", \"satisfied_rate\": " << Num(a.satisfied_rate)
       << ", \"satisfaction\": " << Num(a.satisfaction)
       << ", \"oracle_agreement\": " << Num(a.oracle_agreement)
       << ", \"efficiency_vs_cpu\": " << Num(a.efficiency_vs_cpu)
       << ", \"efficiency_vs_cloud\": " << Num(a.efficiency_vs_cloud) << "}"
       << (i + 1 < agg.size() ? "," : "") << "\n";
  }
  os << "  ]\n}\n";
  return os.str();
}

namespace {

// A gnuplot single-quoted string. A line break would end the command and start another (and
// gnuplot runs `!command` lines in a shell), so control characters become spaces.
std::string PlotQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

Status WriteReports(const std::string& dir, const Experiment& exp, const ExperimentResult& result,
                    std::string* plots_note) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/runs.csv", RunsCsv(result)));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/summary.json", SummaryJson(exp, result)));

  // Energy over time: per policy, the mean over runs of each series bin.
  const auto order = PolicyOrder(exp);
  const size_t bins = static_cast<size_t>(exp.series_bins);
  const double total =
      static_cast<double>(exp.train_requests * exp.train_epochs + exp.eval_requests);
  std::string dat = "# request_index";
  for (const auto& p : order) {
    dat += ' ';
    dat += DatLabel(p);
  }
  dat += "\n";
  std::vector<std::vector<double>> sum(order.size(), std::vector<double>(bins, 0));
  std::vector<std::vector<int>> cnt(order.size(), std::vector<int>(bins, 0));
  for (const RunSummary& r : result.runs) {
    size_t pi = std::find(order.begin(), order.end(), r.policy) - order.begin();
    for (size_t b = 0; b < bins && b < r.series.size(); ++b) {
      if (std::isfinite(r.series[b])) {
        sum[pi][b] += r.series[b];
        ++cnt[pi][b];
      }
    }
  }
  for (size_t b = 0; b < bins; ++b) {
    dat += Num((b + 0.5) * total / bins);
    for (size_t pi = 0; pi < order.size(); ++pi) {
      dat += ' ';
      dat += cnt[pi][b] ? Num(sum[pi][b] / cnt[pi][b]) : std::string("NaN");
    }
    dat += "\n";
  }
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/energy_over_time.dat", dat));

  // Target mix: per policy, the share of evaluated requests on each target name.
  std::vector<std::string> targets;
  for (const RunSummary& r : result.runs) {
    for (const auto& t : r.target_names) {
      if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
    }
  }
  std::string mix = "# policy";
  for (const auto& t : targets) {
    mix += ' ';
    mix += DatLabel(t);
  }
  mix += "\n";
  for (const auto& p : order) {
    std::vector<double> counts(targets.size(), 0);
    double all = 0;
    for (const RunSummary& r : result.runs) {
      if (r.policy != p) continue;
      for (size_t t = 0; t < r.target_names.size(); ++t) {
        size_t ti = std::find(targets.begin(), targets.end(), r.target_names[t]) - targets.begin();
        counts[ti] += r.target_counts[t];
        all += r.target_counts[t];
      }
    }
    mix += DatLabel(p);
    for (double c : counts) {
      mix += ' ';
      mix += Num(all > 0 ? c / all : 0);
    }
    mix += "\n";
  }
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/target_mix.dat", mix));

  std::string gp = "set terminal pngcairo size 1100,560 background rgb 'white'\n";
  gp += "set datafile missing 'NaN'\nset termoption noenhanced\n";
  gp += "set output " + PlotQuote(dir + "/energy_over_time.png") + "\n";
  gp += "set title " + PlotQuote("Energy per inference over the run: " + exp.name) + "\n";
  gp += "set xlabel 'request (training, then evaluation from the dashed line)'\n";
  gp += "set ylabel 'mJ per inference (mean over runs)'\nset logscale y\nset key outside right\n";
  gp += "set arrow from " + Num(static_cast<double>(exp.train_requests * exp.train_epochs)) +
        ", graph 0 to " + Num(static_cast<double>(exp.train_requests * exp.train_epochs)) +
        ", graph 1 nohead dt 2\n";
  gp += "plot ";
  for (size_t pi = 0; pi < order.size(); ++pi) {
    gp += (pi ? ", " : "") + PlotQuote(dir + "/energy_over_time.dat") +
          " using 1:" + std::to_string(pi + 2) + " with linespoints title " + PlotQuote(order[pi]);
  }
  gp += "\nunset arrow\nunset logscale y\n";
  gp += "set output " + PlotQuote(dir + "/target_mix.png") + "\n";
  gp += "set title " + PlotQuote("Targets chosen (evaluation): " + exp.name) + "\n";
  gp += "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.8\n";
  gp += "set boxwidth 0.7\nset yrange [0:1]\nset ylabel 'share of requests'\nset xlabel ''\n";
  gp += "set xtics rotate by -30\n";
  gp += "plot ";
  for (size_t t = 0; t < targets.size(); ++t) {
    gp += (t ? ", " : "") + PlotQuote(dir + "/target_mix.dat") + " using " + std::to_string(t + 2) +
          (t == 0 ? ":xtic(1)" : "") + " title " + PlotQuote(targets[t]);
  }
  gp += "\n";
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/plots.gp", gp));
  plots_note->clear();
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    *plots_note =
        "gnuplot not found: wrote the .dat files and plots.gp, but no pictures "
        "(apt-get install gnuplot-nox)";
    return Status::Ok();
  }
  auto shell_quote = [](const std::string& x) {
    std::string q = "'";
    for (char c : x) q += (c == '\'' ? std::string("'\\''") : std::string(1, c));
    return q + "'";
  };
  const std::string cmd =
      "gnuplot " + shell_quote(dir + "/plots.gp") + " 2>" + shell_quote(dir + "/gnuplot.log");
  if (std::system(cmd.c_str()) != 0) {
    *plots_note = "gnuplot failed; see " + dir + "/gnuplot.log";
  }
  return Status::Ok();
}

}  // namespace autoscale
