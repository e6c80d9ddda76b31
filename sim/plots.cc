#include "sim/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>

#include "core/file_util.h"
#include "core/random.h"
#include "core/strings.h"

namespace autoscale {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A number of a data file or script: %.6g; NaN for what is not finite.
std::string Num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

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

std::string ShellQuote(const std::string& x) {
  std::string q = "'";
  for (char c : x) q += (c == '\'' ? std::string("'\\''") : std::string(1, c));
  return q + "'";
}

// Colours for names no table knows: distinct from the fixed ones, picked by a hash of the name
// (FNV-1a: the same on every platform and in every experiment).
constexpr const char* kSpare[] = {"#e377c2", "#bcbd22", "#393b79", "#637939", "#8c6d31",
                                  "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1"};
std::string Spare(const std::string& name) {
  return kSpare[HashString(name) % (sizeof(kSpare) / sizeof(kSpare[0]))];
}

// 0xRRGGBB as a number, for gnuplot's `lc rgb variable`.
long ColourNumber(const std::string& hex) { return std::strtol(hex.c_str() + 1, nullptr, 16); }

// A line's look beyond its colour: the policy under study thick and solid, the other policies
// that choose per request dashed or dotted so that lines lying on each other stay apart.
std::string LineStyle(const ReportPolicy& p) {
  std::string style = "lc rgb '" + PolicyColour(p) + "'";
  if (p.name == "q_learning") return style + " lw 3 dt 1";
  if (p.name == "model_greedy") return style + " lw 2 dt 2";
  if (p.name == "oracle") return style + " lw 2 dt 3";
  if (p.name == "random") return style + " lw 1.5 dt 4";
  return style + " lw 1.5 dt 1";
}

struct Plot {
  std::string dat;  // file name, relative to the report folder
  std::string text;
};

// evaluation.{dat}: per policy, its colour, energy vs the oracle and QoS violations (%), each
// with its interval over seeds.
std::string EvaluationPlot(const ReportSpec& spec, const std::vector<PolicyAggregate>& agg,
                           std::string* gp) {
  std::string dat =
      "# policy colour energy_vs_oracle lo95 hi95 qos_violation_pct lo95 hi95 "
      "(means over seeds; intervals: Student's t over seeds)\n";
  for (size_t p = 0; p < agg.size() && p < spec.policies.size(); ++p) {
    const PolicyAggregate& a = agg[p];
    dat += DatLabel(a.policy) + " " + std::to_string(ColourNumber(PolicyColour(spec.policies[p])));
    for (const SeedInterval* s : {&a.energy_vs_oracle_seeds, &a.qos_violation_rate_seeds}) {
      const double k = s == &a.qos_violation_rate_seeds ? 100 : 1;
      for (double v : {s->mean, s->lo, s->hi}) {
        dat += ' ';
        dat += Num(k * v);
      }
    }
    dat += "\n";
  }
  const size_t seeds = spec.seeds.size();
  std::string& g = *gp;
  g += "\n# Evaluation per policy\nreset\n";
  g += "set terminal pngcairo size 1200,560 background rgb 'white' font ',10'\n";
  g += "set termoption noenhanced\nset output 'evaluation.png'\n";
  g += "set multiplot layout 1,2 title " +
       PlotQuote("Evaluation: " + spec.name + " (" + std::to_string(seeds) +
                 (seeds == 1 ? " seed: no interval" : " seeds; whiskers: 95% interval over seeds") +
                 ")") +
       "\n";
  g += "set style fill solid 0.85 border rgb 'black'\nset boxwidth 0.7\nunset key\n";
  g += "set xtics rotate by -35 nomirror\nset grid ytics\nset yrange [0:*]\n";
  g += "set xrange [-0.6:" + Num(agg.size() - 0.4) + "]\n";
  g += "set title 'Energy per inference / the oracle''s (mean over runs)'\n";
  g += "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'black'\n";
  const std::string label_y = "(($5==$5) ? $5 : $3)";
  g += "plot 'evaluation.dat' using 0:3:(0.7):2:xtic(1) with boxes lc rgb variable, \\\n"
       "     '' using 0:4:(0):($5-$4) with vectors heads size 0.08,90 lc rgb 'black' lw 1.5, "
       "\\\n"
       "     '' using 0:" +
       label_y + ":(sprintf('%.3g', $3)) with labels offset 0,0.7\n";
  g += "unset arrow 1\n";
  g += "set title 'Requests over their latency bound (%)'\n";
  const std::string qos_y = "(($8==$8) ? $8 : $6)";
  g += "plot 'evaluation.dat' using 0:6:(0.7):2:xtic(1) with boxes lc rgb variable, \\\n"
       "     '' using 0:7:(0):($8-$7) with vectors heads size 0.08,90 lc rgb 'black' lw 1.5, "
       "\\\n"
       "     '' using 0:" +
       qos_y + ":(sprintf('%.3g', $6)) with labels offset 0,0.7\n";
  g += "unset multiplot\n";
  return dat;
}

// heatmap.dat: the studied policy's energy vs the oracle per scenario (mean over its runs),
// rows device/network, columns load/requests, in the grid's order.
std::string HeatmapPlot(const ReportSpec& spec, const ExperimentResult& result, std::string* gp) {
  const int studied = spec.StudiedPolicy();
  if (studied < 0) return "";
  const std::string& label = spec.policies[studied].label;
  std::vector<std::string> rows, cols;
  std::map<std::pair<size_t, size_t>, std::pair<double, int>> cells;
  auto index = [](std::vector<std::string>& v, const std::string& k) {
    auto it = std::find(v.begin(), v.end(), k);
    if (it != v.end()) return static_cast<size_t>(it - v.begin());
    v.push_back(k);
    return v.size() - 1;
  };
  for (const RunSummary& r : result.runs) {
    if (r.policy != label || !std::isfinite(r.energy_vs_oracle)) continue;
    const size_t row = index(rows, r.device + "/" + r.network);
    const size_t col = index(cols, r.load + "/" + r.requests_condition);
    auto& c = cells[{row, col}];
    c.first += r.energy_vs_oracle;
    c.second += 1;
  }
  if (cells.empty()) return "";
  std::string dat = "# column row energy_vs_oracle (" + DatLabel(label) +
                    ", mean over seeds); columns: load/requests, rows: device/network\n";
  double lo = 1, hi = 1.05;
  for (size_t row = 0; row < rows.size(); ++row) {
    for (size_t col = 0; col < cols.size(); ++col) {
      auto it = cells.find({row, col});
      const double v = it == cells.end() ? kNaN : it->second.first / it->second.second;
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      dat += std::to_string(col) + " " + std::to_string(row) + " " + Num(v) + "\n";
    }
    dat += "\n";
  }
  auto tics = [](const std::vector<std::string>& names) {
    std::string t = "(";
    for (size_t i = 0; i < names.size(); ++i) {
      t += (i ? ", " : "") + PlotQuote(names[i]) + " " + std::to_string(i);
    }
    return t + ")";
  };
  const int height = std::clamp(static_cast<int>(rows.size()) * 42 + 220, 420, 2400);
  const int width = std::clamp(static_cast<int>(cols.size()) * 130 + 420, 760, 3200);
  std::string& g = *gp;
  g += "\n# The studied policy per condition\nreset\n";
  g += "set terminal pngcairo size " + std::to_string(width) + "," + std::to_string(height) +
       " background rgb 'white' font ',10'\n";
  g += "set termoption noenhanced\nset output 'heatmap.png'\n";
  g += "set title " +
       PlotQuote(label + ": energy per inference / the oracle's, per condition (mean over " +
                 std::to_string(spec.seeds.size()) + " seeds): " + spec.name) +
       "\n";
  g += "set xtics " + tics(cols) + " rotate by -30 nomirror\n";
  g += "set ytics " + tics(rows) + " nomirror\n";
  g += "set xlabel 'load / requests'\nset ylabel 'device / network'\n";
  g += "set xrange [-0.5:" + Num(cols.size() - 0.5) + "]\n";
  g += "set yrange [" + Num(rows.size() - 0.5) + ":-0.5]\n";
  g += "set cbrange [" + Num(lo) + ":" + Num(hi) + "]\nset cblabel 'x the oracle''s energy'\n";
  g += "set palette defined (0 '#ffffff', 0.3 '#fee08b', 0.65 '#fc8d59', 1 '#d73027')\n";
  g += "set datafile missing 'NaN'\nunset key\n";
  g += "plot 'heatmap.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fc palette fs solid 1 "
       "noborder, \\\n"
       "     '' using 1:2:(sprintf('%.3f', $3)) with labels font ',9'\n";
  return dat;
}

// energy_over_time.dat: per evaluation window, each policy's mean over runs of its energy /
// the oracle's on the same requests.
std::string EvalSeriesPlot(const ReportSpec& spec, const ExperimentResult& result,
                           const std::vector<PolicyAggregate>& agg, std::string* gp) {
  const size_t bins = static_cast<size_t>(std::max(1, spec.series_bins));
  const size_t np = spec.policies.size();
  std::vector<std::vector<double>> sum(np, std::vector<double>(bins, 0));
  std::vector<std::vector<int>> cnt(np, std::vector<int>(bins, 0));
  for (const RunSummary& r : result.runs) {
    size_t pi = 0;
    while (pi < np && spec.policies[pi].label != r.policy) ++pi;
    if (pi == np) continue;
    for (size_t b = 0; b < bins && b < r.eval_vs_oracle_series.size(); ++b) {
      if (std::isfinite(r.eval_vs_oracle_series[b])) {
        sum[pi][b] += r.eval_vs_oracle_series[b];
        ++cnt[pi][b];
      }
    }
  }
  std::string dat = "# evaluation_request";
  for (const auto& p : spec.policies) dat += " " + DatLabel(p.label);
  dat += "  (energy per inference / the oracle's in each window, mean over runs)\n";
  const double n = static_cast<double>(spec.eval_requests);
  double lo = 1, hi = 1;  // the range of every line, for the log-scale panel
  for (size_t b = 0; b < bins; ++b) {
    dat += Num((b + 0.5) * n / bins);
    for (size_t pi = 0; pi < np; ++pi) {
      dat += ' ';
      if (cnt[pi][b] == 0) {
        dat += "NaN";
        continue;
      }
      const double v = sum[pi][b] / cnt[pi][b];
      dat += Num(v);
      if (v > 0 && std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    dat += "\n";
  }
  // Near the oracle: within 25% of it over the whole evaluation.
  std::vector<size_t> near;
  for (size_t pi = 0; pi < np && pi < agg.size(); ++pi) {
    if (agg[pi].energy_vs_oracle > 0 && agg[pi].energy_vs_oracle <= 1.25) near.push_back(pi);
  }
  auto lines = [&](const std::vector<size_t>& which) {
    std::string s = "plot ";
    for (size_t i = 0; i < which.size(); ++i) {
      const size_t pi = which[i];
      s += (i ? ", \\\n     " : "") + std::string("'energy_over_time.dat' using 1:") +
           std::to_string(pi + 2) + " with lines " + LineStyle(spec.policies[pi]) + " title " +
           PlotQuote(spec.policies[pi].label);
    }
    return s + "\n";
  };
  std::vector<size_t> all(np);
  for (size_t i = 0; i < np; ++i) all[i] = i;
  const size_t window = std::max<size_t>(1, spec.eval_requests / bins);
  std::string& g = *gp;
  g += "\n# Evaluation over time\nreset\n";
  g += "set terminal pngcairo size 1100," + std::string(near.empty() ? "480" : "880") +
       " background rgb 'white' font ',10'\n";
  g += "set termoption noenhanced\nset output 'energy_over_time.png'\n";
  g += "set datafile missing 'NaN'\nset key outside right\nset grid\n";
  g += "set xlabel 'evaluation request (windows of " + std::to_string(window) + ")'\n";
  g += "set ylabel 'energy / the oracle''s (mean over runs)'\n";
  g += "set xrange [0:" + Num(n) + "]\n";
  if (!near.empty()) {
    g += "set multiplot layout 2,1 title " +
         PlotQuote("Evaluation phase: " + spec.name +
                   " (each window's energy per inference / the oracle's on the same requests)") +
         "\n";
  }
  g += "set logscale y\nset yrange [" + Num(lo / 1.2) + ":" + Num(hi * 1.2) + "]\n";
  g += "set title 'every policy (log scale)'\n" + lines(all);
  if (!near.empty()) {
    g += "unset logscale y\nset autoscale y\n";
    g += "set offsets 0, 0, graph 0.05, graph 0.05\n";  // the oracle's line off the border
    g += "set title 'policies within 25% of the oracle (linear scale)'\n" + lines(near);
    g += "unset multiplot\n";
  }
  return dat;
}

// training.dat: learning policies' energy per inference over training (mean over runs), and the
// oracle's energy per inference over evaluation for scale.
std::string TrainingPlot(const ReportSpec& spec, const ExperimentResult& result, std::string* gp) {
  const size_t bins = static_cast<size_t>(std::max(1, spec.series_bins));
  const size_t np = spec.policies.size();
  std::vector<std::vector<double>> sum(np, std::vector<double>(bins, 0));
  std::vector<std::vector<int>> cnt(np, std::vector<int>(bins, 0));
  std::vector<bool> trained(np, false);
  double oracle_sum = 0;
  int oracle_n = 0;
  for (const RunSummary& r : result.runs) {
    size_t pi = 0;
    while (pi < np && spec.policies[pi].label != r.policy) ++pi;
    if (pi == np || r.train_series.empty()) continue;
    trained[pi] = true;
    for (size_t b = 0; b < bins && b < r.train_series.size(); ++b) {
      if (std::isfinite(r.train_series[b])) {
        sum[pi][b] += r.train_series[b];
        ++cnt[pi][b];
      }
    }
    if (r.energy_vs_oracle > 0 && std::isfinite(r.energy_mj_per_inference)) {
      oracle_sum += r.energy_mj_per_inference / r.energy_vs_oracle;
      ++oracle_n;
    }
  }
  std::vector<size_t> which;
  for (size_t pi = 0; pi < np; ++pi) {
    if (trained[pi]) which.push_back(pi);
  }
  if (which.empty()) return "";
  const double total = static_cast<double>(spec.train_requests) * spec.train_epochs;
  std::string dat = "# training_request";
  for (size_t pi : which) dat += " " + DatLabel(spec.policies[pi].label);
  dat += "  (mJ per inference, mean over runs)\n";
  for (size_t b = 0; b < bins; ++b) {
    dat += Num((b + 0.5) * total / bins);
    for (size_t pi : which) {
      dat += ' ';
      dat += cnt[pi][b] ? Num(sum[pi][b] / cnt[pi][b]) : std::string("NaN");
    }
    dat += "\n";
  }
  std::string& g = *gp;
  g += "\n# Training\nreset\n";
  g += "set terminal pngcairo size 1100,480 background rgb 'white' font ',10'\n";
  g += "set termoption noenhanced\nset output 'training.png'\n";
  g += "set datafile missing 'NaN'\nset key outside right\nset grid\n";
  g += "set title " +
       PlotQuote("Training: energy per inference of the learning policies: " + spec.name) + "\n";
  g += "set xlabel " +
       PlotQuote("training request (windows of " +
                 std::to_string(static_cast<size_t>(std::max(1.0, total / bins))) + ")" +
                 (spec.train_epochs > 1 ? ", " + std::to_string(spec.train_epochs) + " epochs"
                                        : std::string())) +
       "\n";
  g += "set ylabel 'mJ per inference (mean over runs)'\nset xrange [0:" + Num(total) +
       "]\nset yrange [0:*]\n";
  g += "plot ";
  for (size_t i = 0; i < which.size(); ++i) {
    g += (i ? ", \\\n     " : "") + std::string("'training.dat' using 1:") + std::to_string(i + 2) +
         " with lines " + LineStyle(spec.policies[which[i]]) + " title " +
         PlotQuote(spec.policies[which[i]].label);
  }
  if (oracle_n > 0) {
    g += ", \\\n     " + Num(oracle_sum / oracle_n) +
         " with lines lc rgb 'black' dt 3 lw 2 title 'the oracle, evaluation (mean)'";
  }
  g += "\n";
  return dat;
}

// target_mix.dat: per policy, the share of evaluated requests on each target.
std::string TargetMixPlot(const ReportSpec& spec, const ExperimentResult& result, std::string* gp) {
  std::vector<std::string> targets;
  for (const RunSummary& r : result.runs) {
    for (const auto& t : r.target_names) {
      if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
    }
  }
  std::string mix = "# policy";
  for (const auto& t : targets) mix += " " + DatLabel(t);
  mix += "\n";
  for (const auto& p : spec.policies) {
    std::vector<double> counts(targets.size(), 0);
    double all = 0;
    for (const RunSummary& r : result.runs) {
      if (r.policy != p.label) continue;
      for (size_t t = 0; t < r.target_names.size() && t < r.target_counts.size(); ++t) {
        size_t ti = std::find(targets.begin(), targets.end(), r.target_names[t]) - targets.begin();
        counts[ti] += r.target_counts[t];
        all += r.target_counts[t];
      }
    }
    mix += DatLabel(p.label);
    for (double c : counts) {
      mix += ' ';
      mix += Num(all > 0 ? c / all : 0);
    }
    mix += "\n";
  }
  std::string& g = *gp;
  g += "\n# Targets chosen\nreset\n";
  g += "set terminal pngcairo size 1100,560 background rgb 'white' font ',10'\n";
  g += "set termoption noenhanced\nset output 'target_mix.png'\n";
  g += "set title " + PlotQuote("Targets chosen (evaluation): " + spec.name) + "\n";
  g += "set style data histograms\nset style histogram rowstacked\n";
  g += "set style fill solid 0.85 border rgb 'black'\nset key outside right\n";
  g += "set boxwidth 0.7\nset yrange [0:1]\nset ylabel 'share of requests'\n";
  g += "set xtics rotate by -30 nomirror\n";
  g += "plot ";
  for (size_t t = 0; t < targets.size(); ++t) {
    g += (t ? ", \\\n     " : "") + std::string("'target_mix.dat' using ") + std::to_string(t + 2) +
         (t == 0 ? ":xtic(1)" : "") + " lc rgb '" + TargetColour(targets[t]) + "' title " +
         PlotQuote(targets[t]);
  }
  g += "\n";
  return mix;
}

}  // namespace

std::string TargetColour(const std::string& target) {
  static const std::map<std::string, std::string> kFixed = {
      {"cpu_big", "#d62728"}, {"cpu_little", "#ff9896"}, {"gpu", "#2ca02c"},
      {"dsp", "#9467bd"},     {"cloud", "#1f77b4"},      {"nearby", "#17becf"}};
  auto it = kFixed.find(target);
  return it != kFixed.end() ? it->second : Spare("target:" + target);
}

std::string PolicyColour(const ReportPolicy& policy) {
  static const std::map<std::string, std::string> kFixed = {{"q_learning", "#ff7f0e"},
                                                            {"model_greedy", "#8c564b"},
                                                            {"oracle", "#000000"},
                                                            {"random", "#7f7f7f"}};
  if (!policy.target.empty()) return TargetColour(policy.target);
  // A registry policy under its own name; a relabelled one (two q_learning variants, say) by its
  // label, so that the two differ.
  if (policy.label == policy.name) {
    auto it = kFixed.find(policy.name);
    if (it != kFixed.end()) return it->second;
  }
  return Spare("policy:" + policy.label);
}

Status WritePlots(const std::string& dir, const ReportSpec& spec, const ExperimentResult& result,
                  std::string* note) {
  note->clear();
  const auto agg = Aggregate(spec, result);
  std::string gp =
      "# Plots of autoscale sim's reports; run in this folder: gnuplot plots.gp\n"
      "# (file names are relative to it).\n";
  struct Out {
    const char* file;
    std::string text;
  };
  std::vector<Out> outs;
  outs.push_back({"evaluation.dat", EvaluationPlot(spec, agg, &gp)});
  outs.push_back({"heatmap.dat", HeatmapPlot(spec, result, &gp)});
  outs.push_back({"energy_over_time.dat", EvalSeriesPlot(spec, result, agg, &gp)});
  outs.push_back({"training.dat", TrainingPlot(spec, result, &gp)});
  outs.push_back({"target_mix.dat", TargetMixPlot(spec, result, &gp)});
  for (const Out& o : outs) {
    if (o.text.empty()) continue;  // no plot of that kind for this experiment
    RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + o.file, o.text));
  }
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/plots.gp", gp));
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    *note =
        "gnuplot not found: wrote the .dat files and plots.gp, but no pictures "
        "(apt-get install gnuplot-nox)";
    return Status::Ok();
  }
  const std::string cmd = "cd -- " + ShellQuote(dir) + " && gnuplot plots.gp 2>gnuplot.log";
  if (std::system(cmd.c_str()) != 0) *note = "gnuplot failed; see " + dir + "/gnuplot.log";
  return Status::Ok();
}

}  // namespace autoscale
