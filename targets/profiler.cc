#include "targets/profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "core/strings.h"
#include "zoo/features.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace {

double Percentile(std::vector<double> v, double q) {  // nearest rank
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

const char* kClassNames[kNumLayerClasses] = {"conv", "fc", "recurrent"};

// Warm-up and timed runs of one case into `c` (runs, median, p95, min, energy).
Status MeasureOnce(Target* target, const ModelSpec& spec, Precision p, const HostTensor& input,
                   const ProfileOptions& options, ProfileCase* c) {
  std::vector<double> ms, mj;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < options.warmup + options.repeats; ++i) {
    ASSIGN_OR_RETURN(InferenceResult r, target->Run(spec, p, 0, input));
    if (i < options.warmup) continue;
    ms.push_back(r.latency_ms);
    mj.push_back(r.energy_mj);
    c->energy_source = r.energy_source;
    c->latency_modelled = r.latency_modelled;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (ms.size() >= 3 && elapsed > options.max_seconds_per_case) break;
  }
  if (ms.empty()) return Status::Internal("no timed run");
  c->runs = static_cast<int>(ms.size());
  c->median_ms = Percentile(ms, 0.5);
  c->p95_ms = Percentile(ms, 0.95);
  c->min_ms = *std::min_element(ms.begin(), ms.end());
  c->energy_mj = Percentile(mj, 0.5);
  return Status::Ok();
}

double SpreadRatio(const ProfileCase& c) { return c.median_ms > 0 ? c.p95_ms / c.median_ms : 1; }

}  // namespace

std::string ProfileCase::Unsteadiness() const {
  if (unsteady_ratios.empty()) return "";
  const size_t n = unsteady_ratios.size();
  std::string s = "re-measured ";
  s += n == 1 ? "once" : n == 2 ? "twice" : std::to_string(n) + " times";
  s += " (p95 was ";
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += FormatDouble(unsteady_ratios[i], 3);
    s += "x";
  }
  s += " the median)";
  return s;
}

std::vector<ProfileCase> ProfileTargets(const std::vector<Target*>& targets, ModelStore& store,
                                        const ProfileOptions& options) {
  const std::vector<std::string> models = options.models.empty() ? store.Names() : options.models;
  size_t total = 0;
  for (Target* t : targets) total += models.size() * t->description().precisions.size();
  std::vector<ProfileCase> cases;
  auto head = [&](const ProfileCase& c, size_t index) {
    std::ostringstream line;
    line << "[" << index << "/" << total << "] " << c.target << " " << c.model << " "
         << PrecisionName(c.precision) << ": ";
    return line.str();
  };
  auto report = [&](const ProfileCase& c) {
    if (!options.progress) return;
    std::string line = head(c, cases.size());
    if (!c.status.ok()) {
      line += "skipped (" + c.status.message() + ")";
    } else {
      line += FormatDouble(c.median_ms, 4) + " ms median, " + FormatDouble(c.p95_ms, 4) +
              " ms p95, " + std::to_string(c.runs) + " runs";
      if (c.latency_modelled) line += " (modelled)";
      if (!c.unsteady_ratios.empty()) {
        line += ", ";
        line += c.Unsteadiness();
      }
    }
    options.progress(line);
  };
  for (Target* target : targets) {
    const TargetDescription& d = target->description();
    for (const std::string& name : models) {
      auto spec = store.Get(name);
      for (Precision p : d.precisions) {
        ProfileCase c;
        c.target = d.name;
        c.model = name;
        c.precision = p;
        if (!spec.ok()) {
          c.status = spec.status();
        } else if (!d.available) {
          c.status = Status::Unavailable(d.unavailable_reason);
        } else {
          c.model_file = (*spec)->torchscript_path;
          c.status = target->Supports(**spec, p);
          if (c.status.ok()) c.status = target->Prepare(**spec, p);
        }
        if (c.status.ok()) {
          const HostTensor input = MakeHostInput(**spec, options.input_seed);
          c.status = MeasureOnce(target, **spec, p, input, options, &c);
          // A p95 far above the median says something else ran meanwhile: measure again and
          // keep the steadiest measurement.
          for (int retry = 0; c.status.ok() && retry < options.max_remeasures &&
                              SpreadRatio(c) > options.unsteady_p95_ratio;
               ++retry) {
            c.unsteady_ratios.push_back(SpreadRatio(c));
            if (options.progress) {
              options.progress(head(c, cases.size() + 1) + "p95 " + FormatDouble(c.p95_ms, 4) +
                               " ms is " + FormatDouble(SpreadRatio(c), 3) + "x the median " +
                               FormatDouble(c.median_ms, 4) + " ms; measuring again");
            }
            ProfileCase again = c;
            const Status st = MeasureOnce(target, **spec, p, input, options, &again);
            if (!st.ok()) {
              c.status = st;
            } else if (SpreadRatio(again) < SpreadRatio(c)) {
              again.unsteady_ratios = c.unsteady_ratios;
              c = std::move(again);
            }
          }
        }
        cases.push_back(c);
        report(cases.back());
      }
    }
  }
  return cases;
}

// ---- Fitting ---------------------------------------------------------------------------------

namespace {

// Least squares on the columns in `cols` (normal equations, Gaussian elimination with partial
// pivoting); false when singular.
bool SolveSubset(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
                 const std::vector<int>& cols, std::vector<double>* x) {
  const size_t k = cols.size();
  std::vector<std::vector<double>> m(k, std::vector<double>(k + 1, 0));
  for (size_t r = 0; r < a.size(); ++r) {
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) m[i][j] += a[r][cols[i]] * a[r][cols[j]];
      m[i][k] += a[r][cols[i]] * b[r];
    }
  }
  double scale = 0;
  for (size_t i = 0; i < k; ++i) scale = std::max(scale, std::abs(m[i][i]));
  for (size_t i = 0; i < k; ++i) {
    size_t piv = i;
    for (size_t r = i + 1; r < k; ++r) {
      if (std::abs(m[r][i]) > std::abs(m[piv][i])) piv = r;
    }
    if (std::abs(m[piv][i]) <= 1e-12 * scale) return false;
    std::swap(m[i], m[piv]);
    for (size_t r = 0; r < k; ++r) {
      if (r == i) continue;
      const double f = m[r][i] / m[i][i];
      for (size_t j = i; j <= k; ++j) m[r][j] -= f * m[i][j];
    }
  }
  x->assign(a.empty() ? 0 : a[0].size(), 0.0);
  for (size_t i = 0; i < k; ++i) (*x)[cols[i]] = m[i][k] / m[i][i];
  return true;
}

// A column of the fit: the MACs of `classes` at `precision` (several classes share one rate
// when the precision has fewer models than classes).
struct RateColumn {
  Precision precision;
  std::vector<int> classes;
};

std::string ClassList(const std::vector<int>& classes) {
  std::string s;
  for (size_t i = 0; i < classes.size(); ++i) {
    if (i) s += i + 1 == classes.size() ? " and " : ", ";
    s += kClassNames[classes[i]];
  }
  return s;
}

std::string Models(int n) { return std::to_string(n) + (n == 1 ? " model" : " models"); }

}  // namespace

RateFit FitRates(const std::vector<FitRow>& all_rows) {
  RateFit fit;
  std::vector<const FitRow*> rows;
  for (const FitRow& r : all_rows) {
    if (r.ms > 0 && r.model.macs > 0) rows.push_back(&r);
  }
  fit.rows = static_cast<int>(rows.size());
  if (rows.empty()) return fit;
  auto class_macs = [](const ModelProfile& m, int c) {
    return c == 0 ? m.conv_macs() : c == 1 ? m.fc_macs : m.recurrent_macs;
  };
  // Columns: the per-layer overhead (shared by every precision), then per precision either
  // one column per class its models have, or one pooled column when it has fewer models than
  // classes (so that nothing is fitted from fewer equations than unknowns).
  std::vector<RateColumn> columns;
  for (int pi = 0; pi < kNumPrecisions; ++pi) {
    const Precision p = static_cast<Precision>(pi);
    std::vector<int> present;
    int n = 0;
    for (const FitRow* r : rows) {
      if (r->precision != p) continue;
      ++n;
      for (int c = 0; c < kNumLayerClasses; ++c) {
        if (class_macs(r->model, c) > 0 &&
            std::find(present.begin(), present.end(), c) == present.end()) {
          present.push_back(c);
        }
      }
    }
    std::sort(present.begin(), present.end());
    fit.precision[pi].models = n;
    if (n == 0) continue;
    if (n >= static_cast<int>(present.size())) {
      for (int c : present) columns.push_back({p, {c}});
    } else {
      columns.push_back({p, present});
    }
  }
  const bool with_overhead = rows.size() > columns.size();
  const int offset = with_overhead ? 1 : 0;
  const size_t ncols = columns.size() + offset;
  // Rows scaled by 1/measured so that every model weighs the same (relative error); MACs in
  // millions so that the columns have comparable magnitudes (MACs ~1e9, layers ~1e2).
  std::vector<std::vector<double>> a;
  std::vector<double> b(rows.size(), 1.0);
  for (const FitRow* r : rows) {
    std::vector<double> row(ncols, 0.0);
    if (with_overhead) row[0] = r->model.layers() / r->ms;
    for (size_t j = 0; j < columns.size(); ++j) {
      if (columns[j].precision != r->precision) continue;
      double macs = 0;
      for (int c : columns[j].classes) macs += class_macs(r->model, c);
      row[j + offset] = macs * 1e-6 / r->ms;
    }
    a.push_back(std::move(row));
  }
  // Non-negative least squares by enumerating the active sets (at most 2^10).
  double best = 1e300;
  std::vector<double> x(ncols, 0.0);
  for (unsigned mask = 1; mask < (1u << ncols); ++mask) {
    std::vector<int> cols;
    for (size_t i = 0; i < ncols; ++i) {
      if (mask & (1u << i)) cols.push_back(static_cast<int>(i));
    }
    std::vector<double> sol;
    if (!SolveSubset(a, b, cols, &sol)) continue;
    if (std::any_of(cols.begin(), cols.end(), [&](int c) { return sol[c] < 0; })) continue;
    double err = 0;
    for (size_t r = 0; r < a.size(); ++r) {
      double pred = 0;
      for (size_t j = 0; j < ncols; ++j) pred += a[r][j] * sol[j];
      err += (pred - b[r]) * (pred - b[r]);
    }
    if (err < best * (1 - 1e-12)) {  // on a tie, the first (fewest columns) wins
      best = err;
      x = sol;
    }
  }
  fit.overhead_fitted = with_overhead;
  fit.layer_overhead_us = with_overhead ? x[0] * 1000.0 : 0.0;  // ms -> us
  double total_err = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    double pred = 0;
    for (size_t j = 0; j < ncols; ++j) pred += a[r][j] * x[j];
    const double e = std::abs(pred - 1.0);
    total_err += e;
    fit.precision[static_cast<int>(rows[r]->precision)].mean_abs_rel_error += e;
  }
  fit.mean_abs_rel_error = total_err / a.size();
  for (int pi = 0; pi < kNumPrecisions; ++pi) {
    RateFit::PerPrecision& pp = fit.precision[pi];
    if (pp.models == 0) continue;
    pp.mean_abs_rel_error /= pp.models;
    const Precision p = static_cast<Precision>(pi);
    // The effective rate: all MACs over all time left after the layer overhead.
    double macs = 0, ms = 0, ms_all = 0;
    for (const FitRow* r : rows) {
      if (r->precision != p) continue;
      macs += r->model.macs;
      ms += r->ms - r->model.layers() * fit.layer_overhead_us / 1000.0;
      ms_all += r->ms;
    }
    const double effective = macs * 1e-6 / (ms > 0 ? ms : ms_all);
    const std::string fitted_note = "fitted over " + Models(pp.models) + ", mean |error| " +
                                    FormatDouble(100 * pp.mean_abs_rel_error, 2) + "%";
    bool have[kNumLayerClasses] = {false, false, false};
    for (size_t j = 0; j < columns.size(); ++j) {
      const RateColumn& col = columns[j];
      if (col.precision != p) continue;
      const double coef = x[j + offset];
      for (int c : col.classes) {
        have[c] = true;
        if (coef <= 0) {
          pp.note[c] =
              "not identifiable from the measured models (the fit gives its MACs no "
              "time)";
          continue;
        }
        pp.gmacs_per_s[c] = 1.0 / coef;  // ms per 1e6 MACs -> GMAC/s
        if (col.classes.size() == 1) {
          pp.fitted[c] = true;
          pp.note[c] = fitted_note;
        } else {
          pp.note[c] = "one rate for " + ClassList(col.classes) + ": " + Models(pp.models) +
                       " cannot separate " + std::to_string(col.classes.size()) + " classes";
        }
      }
    }
    if (pp.gmacs_per_s[0] <= 0) {
      pp.gmacs_per_s[0] = effective;
      pp.note[0] = (have[0] ? pp.note[0] + "; "
                            : std::string("no convolution among the measured models; ")) +
                   "the effective rate over all their MACs";
    }
    for (int c = 1; c < kNumLayerClasses; ++c) {
      if (pp.gmacs_per_s[c] > 0) continue;
      pp.gmacs_per_s[c] = pp.gmacs_per_s[0];
      pp.note[c] =
          (have[c] ? pp.note[c] + "; "
                   : "no " + std::string(kClassNames[c]) + " layer among the measured models; ") +
          "the conv rate";
    }
  }
  return fit;
}

Result<std::vector<TargetFit>> FitTargets(const std::vector<ProfileCase>& cases,
                                          const std::vector<const Target*>& targets,
                                          ModelStore& store, const DeviceProfileWriteOptions& o) {
  const DeviceProfile& ref = o.reference;
  const std::string refname = o.reference_file.empty() ? ref.name : o.reference_file;
  std::vector<TargetFit> fits;
  for (const Target* target : targets) {
    const TargetDescription& d = target->description();
    std::vector<const ProfileCase*> mine;
    for (const ProfileCase& c : cases) {
      if (c.target == d.name && c.status.ok() && c.runs > 0) mine.push_back(&c);
    }
    if (mine.empty() || mine.front()->latency_modelled) continue;
    TargetFit tf;
    tf.target = target;
    for (Precision p : d.precisions) {
      if (std::any_of(mine.begin(), mine.end(), [&](auto* c) { return c->precision == p; })) {
        tf.precisions.push_back(p);
      }
    }
    std::vector<FitRow> rows;
    std::vector<std::string> incomplete;
    for (const ProfileCase* c : mine) {
      auto spec = store.Get(c->model);
      if (!spec.ok()) continue;
      const ModelFeatures* f = (*spec)->features.get();
      if (!f || !f->complete) {
        if (std::find(incomplete.begin(), incomplete.end(), c->model) == incomplete.end()) {
          incomplete.push_back(c->model);
        }
        continue;
      }
      rows.push_back({ProfileFromFeatures(*f), c->precision, c->median_ms});
    }
    tf.rates = FitRates(rows);
    const TargetProfile* rt = ref.FirstOfKind(d.kind);
    for (Precision p : tf.precisions) {
      RateFit::PerPrecision& pp = tf.rates.precision[static_cast<int>(p)];
      const std::string pname(PrecisionName(p));
      if (pp.models == 0) {
        // Nothing countable measured at this precision: the reference's rates, said so.
        if (!rt) {
          return Status::InvalidArgument(
              "no model measured on " + d.name + " at " + pname +
              " has complete features, and the reference profile '" + ref.name + "' has no " +
              std::string(TargetKindName(d.kind)) +
              " target to take rates from; choose another with "
              "--reference or measure a model whose layers can be counted");
        }
        Precision from = rt->gmacs_per_s[0][static_cast<int>(p)] > 0 ? p : Precision::kFp32;
        for (int c = 0; c < kNumLayerClasses; ++c) {
          pp.gmacs_per_s[c] = rt->gmacs_per_s[c][static_cast<int>(from)];
          if (pp.gmacs_per_s[c] <= 0)
            pp.gmacs_per_s[c] = rt->gmacs_per_s[0][static_cast<int>(from)];
          pp.note[c] =
              "copied from " + refname + " " + rt->name + " " + std::string(PrecisionName(from)) +
              ": no model measured at " + pname + " has countable layers" +
              (incomplete.empty() ? "" : " (" + JoinNames(incomplete) + " not fully imported)");
        }
        if (pp.gmacs_per_s[0] <= 0) {
          return Status::InvalidArgument("reference " + refname + " " + rt->name +
                                         " has no conv rate to copy for " + pname);
        }
      }
      // One line per precision; classes with the same reason together.
      std::vector<std::pair<std::string, std::vector<int>>> reasons;
      for (int c = 0; c < kNumLayerClasses; ++c) {
        if (pp.fitted[c]) continue;
        auto it = std::find_if(reasons.begin(), reasons.end(),
                               [&](const auto& r) { return r.first == pp.note[c]; });
        if (it == reasons.end()) {
          reasons.push_back({pp.note[c], {c}});
        } else {
          it->second.push_back(c);
        }
      }
      std::string line;
      for (const auto& [note, classes] : reasons) {
        line += line.empty() ? pname + ": " : std::string("; ");
        line += ClassList(classes);
        line += " (";
        line += note;
        line += ")";
      }
      if (!line.empty()) tf.unfitted.push_back(line);
    }
    fits.push_back(std::move(tf));
  }
  return fits;
}

// ---- Writing ---------------------------------------------------------------------------------

namespace {

std::string Num(double v) { return FormatDouble(v, 5); }

void WriteInterference(std::ostream& out, const TargetProfile& t, const std::string& note) {
  out << "    interference: {cpu: " << Num(t.interference_cpu)
      << ", gpu: " << Num(t.interference_gpu) << ", mem: " << Num(t.interference_mem) << "}   # "
      << note << "\n";
}

// A target copied from the reference profile, numbers unchanged.
void WriteCopiedTarget(std::ostream& out, const TargetProfile& t, const std::string& note) {
  out << "  - name: " << t.name << "    # " << note << "\n";
  out << "    kind: " << TargetKindName(t.kind) << "\n";
  std::string precisions;
  for (Precision p : t.precisions) {
    precisions += (precisions.empty() ? "" : ", ") + std::string(PrecisionName(p));
  }
  if (IsRemote(t.kind)) {
    out << "    server: " << t.server << "   # " << note << "\n";
    out << "    network: " << t.network << "   # " << note << "\n";
    out << "    precisions: [" << precisions << "]\n";
    return;
  }
  out << "    cores: " << t.cores << "   # " << note << "\n";
  out << "    precisions: [" << precisions << "]\n";
  out << "    gmacs_per_s:\n";
  const char* classes[kNumLayerClasses] = {"conv", "fc", "recurrent"};
  for (int c = 0; c < kNumLayerClasses; ++c) {
    out << "      " << classes[c] << ": {";
    bool first = true;
    for (Precision p : t.precisions) {
      out << (first ? "" : ", ") << PrecisionName(p) << ": "
          << Num(t.gmacs_per_s[c][static_cast<int>(p)]);
      first = false;
    }
    out << "}   # " << note << "\n";
  }
  out << "    layer_overhead_us: " << Num(t.layer_overhead_us) << "   # " << note << "\n";
  out << "    memory_bound_fraction: " << Num(t.memory_bound_fraction) << "   # " << note << "\n";
  out << "    levels:\n";
  for (const auto& l : t.levels) {
    out << "      - {freq_mhz: " << Num(l.freq_mhz) << ", power_mw: " << Num(l.power_mw) << "}   # "
        << note << "\n";
  }
  WriteInterference(out, t, note);
}

}  // namespace

Result<std::string> WriteDeviceProfileYaml(const std::vector<ProfileCase>& cases,
                                           const std::vector<const Target*>& targets,
                                           const std::vector<TargetFit>& fits,
                                           const DeviceProfileWriteOptions& o) {
  const DeviceProfile& ref = o.reference;
  const std::string refname = o.reference_file.empty() ? ref.name : o.reference_file;
  const std::string where = "autoscale profile on " + o.host + ", " + o.date;
  std::ostringstream out;
  out << "# Device profile measured by `autoscale profile` on this machine (" << o.host << ", "
      << o.date << ").\n"
      << "# Latencies are medians of repeated runs after warm-up (measured_ms); per-class rates\n"
      << "# are a non-negative least-squares fit over the measured models (used for models not\n"
      << "# measured); a rate the measurements cannot identify says what stands in for it. What\n"
      << "# cannot be measured here is copied from the reference profile\n"
      << "# " << refname << " and says so beside each number.\n";
  out << "name: " << o.name << "\n";
  out << "description: \"" << (o.description.empty() ? o.host : o.description) << "\"\n";
  out << "role: phone\n";
  out << "base_power_mw: " << Num(ref.base_power_mw) << "   # copied from " << refname << "\n";
  out << "idle_power_mw: " << Num(ref.idle_power_mw) << "   # copied from " << refname << "\n";
  out << "queue_ms: 0                   # phones do not queue requests\n";
  out << "targets:\n";

  int written = 0;
  bool dsp_copied = false;
  for (const Target* target : targets) {
    const TargetDescription& d = target->description();
    std::vector<const ProfileCase*> mine;
    for (const ProfileCase& c : cases) {
      if (c.target == d.name && c.status.ok() && c.runs > 0) mine.push_back(&c);
    }
    if (mine.empty()) continue;
    if (mine.front()->latency_modelled) {
      // The DSP stub: its latency comes from the reference already; copy that entry.
      if (const TargetProfile* t = ref.FirstOfKind(d.kind); t && !dsp_copied) {
        WriteCopiedTarget(out, *t,
                          "copied from " + refname + ": the " + d.name +
                              " here is a stub whose latency is modelled from that profile");
        dsp_copied = d.kind == TargetKind::kDsp;
        ++written;
      }
      continue;
    }
    auto fit = std::find_if(fits.begin(), fits.end(),
                            [&](const TargetFit& f) { return f.target == target; });
    if (fit == fits.end() || fit->precisions.empty()) continue;
    const TargetProfile* rt = ref.FirstOfKind(d.kind);
    if (!rt) {
      return Status::InvalidArgument("reference profile '" + ref.name + "' has no " +
                                     std::string(TargetKindName(d.kind)) +
                                     " target to take power and interference from; choose "
                                     "another with --reference");
    }
    const std::string rtname = refname + " " + rt->name;
    const std::vector<Precision>& precisions = fit->precisions;
    out << "  - name: " << d.name << "    # " << d.device << "\n";
    out << "    kind: " << TargetKindName(d.kind) << "\n";
    out << "    cores: " << std::max(1, rt->cores) << "   # copied from " << rtname
        << " (not used by the cost model)\n";
    std::string plist;
    for (Precision p : precisions) {
      if (!plist.empty()) plist += ", ";
      plist += PrecisionName(p);
    }
    out << "    precisions: [" << plist << "]   # those measured\n";
    out << "    gmacs_per_s:\n";
    for (int c = 0; c < kNumLayerClasses; ++c) {
      std::string entries, notes;
      for (Precision p : precisions) {
        const RateFit::PerPrecision& pp = fit->rates.at(p);
        if (!entries.empty()) entries += ", ";
        entries += PrecisionName(p);
        entries += ": ";
        entries += Num(pp.gmacs_per_s[c]);
        if (!notes.empty()) notes += "; ";
        notes += PrecisionName(p);
        notes += " ";
        notes += pp.note[c];
      }
      out << "      " << kClassNames[c] << ": {" << entries << "}   # " << where << ": " << notes
          << "\n";
    }
    out << "    layer_overhead_us: " << Num(fit->rates.layer_overhead_us) << "   # " << where
        << ": "
        << (fit->rates.overhead_fitted
                ? "fitted with the rates, shared by every precision"
                : "not fitted (" + std::to_string(fit->rates.rows) +
                      " measurements are too few to separate it from the rates)")
        << "\n";
    out << "    memory_bound_fraction: " << Num(rt->memory_bound_fraction) << "   # copied from "
        << rtname << " (one level here, so it does not matter)\n";
    // Power: measured when the host has counters, else the reference's top level.
    std::vector<double> mw;
    for (const ProfileCase* c : mine) {
      if (c->energy_source != EnergySource::kModelled && c->median_ms > 0) {
        mw.push_back(c->energy_mj / c->median_ms * 1000.0);
      }
    }
    out << "    levels:\n";
    out << "      - {freq_mhz: "
        << Num(o.host_freq_mhz > 0 ? o.host_freq_mhz : rt->levels[0].freq_mhz) << ", power_mw: ";
    if (!mw.empty()) {
      std::sort(mw.begin(), mw.end());
      out << Num(mw[mw.size() / 2])
          << "}   # freq: " << (o.host_freq_mhz > 0 ? "/proc/cpuinfo" : "copied from " + rtname)
          << "; power: " << where << ", " << EnergySourceName(mine.front()->energy_source)
          << " energy / latency, median over " << mw.size() << " cases\n";
    } else {
      out << Num(rt->levels[0].power_mw) << "}   # freq: "
          << (o.host_freq_mhz > 0 ? "/proc/cpuinfo \"cpu MHz\" on this host"
                                  : "copied from " + rtname)
          << "; power: modelling assumption, copied from " << rtname
          << " level 0 (this host exposes no energy counters)\n";
    }
    WriteInterference(out, *rt, "copied from " + rtname);
    out << "    measured_ms:\n";
    std::vector<std::string> model_names;
    for (const ProfileCase* c : mine) {
      if (std::find(model_names.begin(), model_names.end(), c->model) == model_names.end()) {
        model_names.push_back(c->model);
      }
    }
    for (const std::string& m : model_names) {
      std::string entries, notes, file;
      for (const ProfileCase* c : mine) {
        if (c->model != m) continue;
        if (!entries.empty()) entries += ", ";
        entries += PrecisionName(c->precision);
        entries += ": ";
        entries += Num(c->median_ms);
        if (!notes.empty()) notes += "; ";
        notes += PrecisionName(c->precision);
        notes += " p95 ";
        notes += Num(c->p95_ms);
        notes += " ms over " + std::to_string(c->runs) + " runs";
        if (!c->unsteady_ratios.empty()) {
          notes += ", ";
          notes += c->Unsteadiness();
        }
        file = c->model_file;
      }
      // Names in YAML keys: IsSafeModelName keeps them plain.
      out << "      " << m << ": {" << entries << "}   # " << where << ": median; " << notes
          << (file.empty() ? "" : "; the user's TorchScript file " + file) << "\n";
    }
    ++written;
  }
  if (written == 0) {
    return Status::Unavailable("nothing was measured: no available target ran any model");
  }
  for (const TargetProfile& t : ref.targets) {
    if (IsRemote(t.kind)) WriteCopiedTarget(out, t, "copied from " + refname);
  }
  return out.str();
}

Result<std::string> WriteDeviceProfileYaml(const std::vector<ProfileCase>& cases,
                                           const std::vector<const Target*>& targets,
                                           ModelStore& store, const DeviceProfileWriteOptions& o) {
  ASSIGN_OR_RETURN(std::vector<TargetFit> fits, FitTargets(cases, targets, store, o));
  return WriteDeviceProfileYaml(cases, targets, fits, o);
}

}  // namespace autoscale
