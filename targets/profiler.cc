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

}  // namespace

std::vector<ProfileCase> ProfileTargets(const std::vector<Target*>& targets, ModelStore& store,
                                        const ProfileOptions& options) {
  const std::vector<std::string> models = options.models.empty() ? ZooModelNames() : options.models;
  size_t total = 0;
  for (Target* t : targets) total += models.size() * t->description().precisions.size();
  std::vector<ProfileCase> cases;
  auto report = [&](const ProfileCase& c) {
    if (!options.progress) return;
    std::ostringstream line;
    line << "[" << cases.size() << "/" << total << "] " << c.target << " " << c.model << " "
         << PrecisionName(c.precision) << ": ";
    if (!c.status.ok()) {
      line << "skipped (" << c.status.message() << ")";
    } else {
      line << FormatDouble(c.median_ms, 4) << " ms median, " << FormatDouble(c.p95_ms, 4)
           << " ms p95, " << c.runs << " runs" << (c.latency_modelled ? " (modelled)" : "");
    }
    options.progress(line.str());
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
          c.status = target->Supports(**spec, p);
          if (c.status.ok()) c.status = target->Prepare(**spec, p);
        }
        if (c.status.ok()) {
          const HostTensor input = MakeHostInput(**spec, options.input_seed);
          std::vector<double> ms, mj;
          const auto start = std::chrono::steady_clock::now();
          for (int i = 0; i < options.warmup + options.repeats; ++i) {
            auto r = target->Run(**spec, p, 0, input);
            if (!r.ok()) {
              c.status = r.status();
              break;
            }
            if (i < options.warmup) continue;
            ms.push_back(r->latency_ms);
            mj.push_back(r->energy_mj);
            c.energy_source = r->energy_source;
            c.latency_modelled = r->latency_modelled;
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (ms.size() >= 3 && elapsed > options.max_seconds_per_case) break;
          }
          if (c.status.ok() && !ms.empty()) {
            c.runs = static_cast<int>(ms.size());
            c.median_ms = Percentile(ms, 0.5);
            c.p95_ms = Percentile(ms, 0.95);
            c.min_ms = *std::min_element(ms.begin(), ms.end());
            c.energy_mj = Percentile(mj, 0.5);
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
bool SolveSubset(const std::vector<std::array<double, 4>>& a, const std::vector<double>& b,
                 const std::vector<int>& cols, std::array<double, 4>* x) {
  const size_t k = cols.size();
  std::vector<std::vector<double>> m(k, std::vector<double>(k + 1, 0));
  for (size_t r = 0; r < a.size(); ++r) {
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) m[i][j] += a[r][cols[i]] * a[r][cols[j]];
      m[i][k] += a[r][cols[i]] * b[r];
    }
  }
  for (size_t i = 0; i < k; ++i) {
    size_t piv = i;
    for (size_t r = i + 1; r < k; ++r) {
      if (std::abs(m[r][i]) > std::abs(m[piv][i])) piv = r;
    }
    if (std::abs(m[piv][i]) < 1e-300) return false;
    std::swap(m[i], m[piv]);
    for (size_t r = 0; r < k; ++r) {
      if (r == i) continue;
      const double f = m[r][i] / m[i][i];
      for (size_t j = i; j <= k; ++j) m[r][j] -= f * m[i][j];
    }
  }
  x->fill(0);
  for (size_t i = 0; i < k; ++i) (*x)[cols[i]] = m[i][k] / m[i][i];
  return true;
}

}  // namespace

RateFit FitRates(const std::vector<std::pair<ModelProfile, double>>& measured_ms) {
  // Unknowns: ms per layer, ms per conv / fc / recurrent MAC. Rows are scaled by 1/measured so
  // that every model weighs the same (relative error).
  std::vector<std::array<double, 4>> a;
  std::vector<double> b;
  bool present[4] = {false, false, false, false};
  for (const auto& [m, ms] : measured_ms) {
    if (ms <= 0) continue;
    std::array<double, 4> row = {static_cast<double>(m.layers()), m.conv_macs(), m.fc_macs,
                                 m.recurrent_macs};
    for (int j = 0; j < 4; ++j) {
      // Rescale columns to comparable magnitudes (MACs ~1e9, layers ~1e2).
      row[j] = row[j] / ms * (j == 0 ? 1.0 : 1e-6);
      if (row[j] > 0) present[j] = true;
    }
    a.push_back(row);
    b.push_back(1.0);
  }
  RateFit fit;
  fit.models = static_cast<int>(a.size());
  if (a.empty()) return fit;
  std::vector<int> usable;
  for (int j = 0; j < 4; ++j) {
    if (present[j]) usable.push_back(j);
  }
  double best = 1e300;
  std::array<double, 4> best_x{};
  // Non-negative least squares by enumerating the (at most 16) active sets.
  for (unsigned mask = 1; mask < (1u << usable.size()); ++mask) {
    std::vector<int> cols;
    for (size_t i = 0; i < usable.size(); ++i) {
      if (mask & (1u << i)) cols.push_back(usable[i]);
    }
    std::array<double, 4> x;
    if (!SolveSubset(a, b, cols, &x)) continue;
    if (std::any_of(cols.begin(), cols.end(), [&](int c) { return x[c] < 0; })) continue;
    double err = 0;
    for (size_t r = 0; r < a.size(); ++r) {
      double pred = 0;
      for (int j = 0; j < 4; ++j) pred += a[r][j] * x[j];
      err += (pred - b[r]) * (pred - b[r]);
    }
    if (err < best) {
      best = err;
      best_x = x;
    }
  }
  double abs_err = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    double pred = 0;
    for (int j = 0; j < 4; ++j) pred += a[r][j] * best_x[j];
    abs_err += std::abs(pred - 1.0);
  }
  fit.mean_abs_rel_error = abs_err / a.size();
  fit.layer_overhead_us = best_x[0] * 1000.0;  // ms -> us
  for (int c = 0; c < kNumLayerClasses; ++c) {
    // x = ms per 1e6 MACs  ->  GMAC/s = 1e6 MACs / (x ms) = 1 / x  (1e6 MAC/ms = 1 GMAC/s).
    if (best_x[c + 1] > 0) fit.gmacs_per_s[c] = 1.0 / best_x[c + 1];
  }
  return fit;
}

// ---- Writing ---------------------------------------------------------------------------------

namespace {

std::string Num(double v) { return FormatDouble(v, 5); }

std::string FitNote(const RateFit& f) {
  if (f.models <= 4) {
    return "fitted to " + std::to_string(f.models) +
           " models (no more models than unknowns: an interpolation, not a check)";
  }
  return "fitted over " + std::to_string(f.models) + " models, mean |error| " +
         FormatDouble(100 * f.mean_abs_rel_error, 2) + "%";
}

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
                                           ModelStore& store, const DeviceProfileWriteOptions& o) {
  const DeviceProfile& ref = o.reference;
  const std::string refname = o.reference_file.empty() ? ref.name : o.reference_file;
  const std::string where = "autoscale profile on " + o.host + ", " + o.date;
  std::ostringstream out;
  out << "# Device profile measured by `autoscale profile` on this machine (" << o.host << ", "
      << o.date << ").\n"
      << "# Latencies are medians of repeated runs after warm-up (measured_ms); per-class rates\n"
      << "# are a non-negative least-squares fit over the measured models (used for models not\n"
      << "# measured). What cannot be measured here is copied from the reference profile\n"
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
    const TargetProfile* rt = ref.FirstOfKind(d.kind);
    if (!rt) {
      return Status::InvalidArgument("reference profile '" + ref.name + "' has no " +
                                     std::string(TargetKindName(d.kind)) +
                                     " target to take power and interference from; choose "
                                     "another with --reference");
    }
    const std::string rtname = refname + " " + rt->name;
    std::vector<Precision> precisions;
    for (Precision p : d.precisions) {
      if (std::any_of(mine.begin(), mine.end(), [&](auto* c) { return c->precision == p; })) {
        precisions.push_back(p);
      }
    }
    out << "  - name: " << d.name << "    # " << d.device << "\n";
    out << "    kind: " << TargetKindName(d.kind) << "\n";
    out << "    cores: " << std::max(1, rt->cores) << "   # copied from " << rtname
        << " (not used by the cost model)\n";
    std::string plist;
    for (Precision p : precisions)
      plist += (plist.empty() ? "" : ", ") + std::string(PrecisionName(p));
    out << "    precisions: [" << plist << "]   # those measured\n";
    // Fit per precision.
    std::vector<RateFit> fits;
    for (Precision p : precisions) {
      std::vector<std::pair<ModelProfile, double>> rows;
      for (const ProfileCase* c : mine) {
        if (c->precision != p) continue;
        auto spec = store.Get(c->model);
        if (!spec.ok() || !(*spec)->is_graph()) continue;
        rows.emplace_back(ProfileFromFeatures(ComputeFeatures((*spec)->graph->graph)),
                          c->median_ms);
      }
      fits.push_back(FitRates(rows));
    }
    out << "    gmacs_per_s:\n";
    const char* classes[kNumLayerClasses] = {"conv", "fc", "recurrent"};
    for (int c = 0; c < kNumLayerClasses; ++c) {
      std::string entries, notes;
      for (size_t i = 0; i < precisions.size(); ++i) {
        double rate = fits[i].gmacs_per_s[c];
        std::string note = FitNote(fits[i]);
        if (rate <= 0 && c != 0) continue;  // absent: the loader uses the conv rate
        if (rate <= 0) {
          // No conv-heavy model measured at this precision: the largest identified rate.
          rate = std::max(fits[i].gmacs_per_s[1], fits[i].gmacs_per_s[2]);
          note = "not identifiable (no convolution measured): the largest fitted rate";
          if (rate <= 0) continue;
        }
        entries += (entries.empty() ? "" : ", ") + std::string(PrecisionName(precisions[i])) +
                   ": " + Num(rate);
        notes +=
            (notes.empty() ? "" : "; ") + std::string(PrecisionName(precisions[i])) + " " + note;
      }
      if (entries.empty()) continue;
      out << "      " << classes[c] << ": {" << entries << "}   # " << where << ": " << notes
          << "\n";
    }
    out << "    layer_overhead_us: " << Num(fits.empty() ? 0 : fits[0].layer_overhead_us) << "   # "
        << where << ": fitted with the " << PrecisionName(precisions[0]) << " rates\n";
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
      std::string entries, notes;
      for (const ProfileCase* c : mine) {
        if (c->model != m) continue;
        entries += (entries.empty() ? "" : ", ") + std::string(PrecisionName(c->precision)) + ": " +
                   Num(c->median_ms);
        notes += (notes.empty() ? "" : "; ") + std::string(PrecisionName(c->precision)) + " p95 " +
                 Num(c->p95_ms) + " ms over " + std::to_string(c->runs) + " runs";
      }
      out << "      " << m << ": {" << entries << "}   # " << where << ": median; " << notes
          << "\n";
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

}  // namespace autoscale
