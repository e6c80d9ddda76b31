// Leave-one-model-out check of the layer-level latency predictor (env/layer_predictor.h; issue
// 11, point 7), on the CPU target at a set thread count. A plain command, not Google Benchmark:
//
//   layer_lomo [--models LIST] [--model-dir DIR] [--precisions fp32,int8] [--threads 1]
//              [--cpus LIST] [--synthetic N] [--cache FILE] [--fit-only] [--model-seconds S]
//              [--use-min]   (time by the fastest run instead of the median: a loaded machine;
//                             node times from the fastest observed run, not per-node minima)
//              [--in-model | --single-layers] [--rounds N] [--explain | --explain-layers]
//              [--no-probes] [--runs N]   (timed runs per model per round, fixed: every model's
//                                          fastest run then comes from as many runs)
//
// 1. Measures, per precision: the target's run overhead, every distinct layer of the models as a
//    one-layer graph, N synthetic layers (targets/layer_profiler.h), and each whole model
//    (median; measured before and after the layers, the mean of the two medians is used).
//    --cache FILE writes these measurements; with --fit-only they are read back instead.
// 2. For each model M: fits on the synthetic layers, the layers seen in some other model and the
//    other whole models; predicts M from its layer descriptors; compares with M's measurement.
// Prints the table (and variants: no local correction, no model scale, synthetic layers only).
//
// Default since the single-layer result missed (layers timed alone do not run as inside a
// network, INT8 least of all): --in-model. Each model runs whole on the CPU target, timed node
// by node (CpuTarget::TimeNodes; median per node over the runs, at least --model-seconds of
// runs, taken in --rounds round-robin passes over the models, default 3; --use-min takes the
// fastest runs instead), its layers' in-model times are the samples; for each model M the fit uses
// the other models' runs only (FitLayerModelInModel) and predicts M from its descriptors; compared
// with M's median whole run. --single-layers restores the one-layer-graph method above. With
// --cache FILE the node times are written (and read back with --fit-only). The no_first_use
// column fits without the first uses' cold cost (LayerFitOptions::first_use); kind_prior_0.05
// with the kind scales' prior weight the default had before 2026-12-03. The in-model probes
// (InModelProbeGraphs: large fully connected layers, pooling, squeeze-and-excitation,
// ShuffleNet's unit, LSTM layers) are measured beside the models and trained on for every
// held-out model, as `autoscale profile` does; the no_probes column fits without them
// (--no-probes does not measure them; a cache written before they existed has none).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "env/layer_predictor.h"
#include "targets/cpu/cpu_target.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"
#include "zoo/zoo.h"
#ifdef AUTOSCALE_HAVE_TS_IMPORTER
#include "zoo/torchscript/torchscript_import.h"
#endif

namespace autoscale {
namespace {

struct Measured {  // one precision
  double overhead_ms = 0, overhead_per_melement = 0;
  std::vector<LayerSample> layers;
  std::vector<std::vector<std::string>> origins;  // model names per layer; empty = synthetic
  std::map<std::string, double> model_ms;
  std::map<std::string, double> model_drift;  // second median / first - 1
};

struct ModelInfo {
  std::string name;
  std::vector<LayerDescriptor> layers;
  double in_elements = 0, out_elements = 0;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (std::string_view p : Split(s, ',')) {
    if (!p.empty()) out.emplace_back(p);
  }
  return out;
}

void WriteLayer(std::ostream& o, const LayerDescriptor& d) {
  o << d.op << ' ' << (d.activation.empty() ? "-" : d.activation) << ' ' << d.in_channels << ' '
    << d.out_channels << ' ' << d.kernel_h << ' ' << d.kernel_w << ' ' << d.stride_h << ' '
    << d.stride_w << ' ' << d.groups << ' ' << d.dilation_h << ' ' << d.dilation_w << ' ' << d.in_h
    << ' ' << d.in_w << ' ' << d.out_h << ' ' << d.out_w << ' ' << d.inputs << ' ' << d.macs << ' '
    << d.params << ' ' << d.input_elements << ' ' << d.output_elements;
}

bool ReadLayer(std::istream& in, LayerDescriptor* d) {
  in >> d->op >> d->activation >> d->in_channels >> d->out_channels >> d->kernel_h >> d->kernel_w >>
      d->stride_h >> d->stride_w >> d->groups >> d->dilation_h >> d->dilation_w >> d->in_h >>
      d->in_w >> d->out_h >> d->out_w >> d->inputs >> d->macs >> d->params >> d->input_elements >>
      d->output_elements;
  if (d->activation == "-") d->activation.clear();
  return static_cast<bool>(in);
}

void WriteCache(const std::string& path, const std::map<Precision, Measured>& all) {
  std::ofstream o(path);
  o.precision(17);
  for (const auto& [p, m] : all) {
    const std::string pn(PrecisionName(p));
    o << "O " << pn << ' ' << m.overhead_ms << ' ' << m.overhead_per_melement << '\n';
    for (const auto& [name, ms] : m.model_ms) {
      o << "M " << pn << ' ' << name << ' ' << ms << ' ' << m.model_drift.at(name) << '\n';
    }
    for (size_t i = 0; i < m.layers.size(); ++i) {
      std::string origins;
      for (const std::string& s : m.origins[i]) origins += (origins.empty() ? "" : ",") + s;
      o << "L " << pn << ' ' << (origins.empty() ? "-" : origins) << ' ';
      WriteLayer(o, m.layers[i].layer);
      o << ' ' << m.layers[i].ms << '\n';
    }
  }
}

bool ReadCache(const std::string& path, std::map<Precision, Measured>* all) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag, pn;
    in >> tag >> pn;
    auto p = ParsePrecision(pn);
    if (!p.ok()) return false;
    Measured& m = (*all)[*p];
    if (tag == "O") {
      in >> m.overhead_ms >> m.overhead_per_melement;
    } else if (tag == "M") {
      std::string name;
      double ms = 0, drift = 0;
      in >> name >> ms >> drift;
      m.model_ms[name] = ms;
      m.model_drift[name] = drift;
    } else if (tag == "L") {
      std::string origins;
      in >> origins;
      LayerSample s;
      if (!ReadLayer(in, &s.layer)) return false;
      in >> s.ms;
      m.layers.push_back(s);
      m.origins.push_back(origins == "-" ? std::vector<std::string>{} : SplitList(origins));
    }
  }
  return true;
}

struct Variant {
  const char* name;
  LayerFitOptions options;
  bool use_models;      // the model-level scale
  bool synthetic_only;  // no layers of other models
};

// Leave `held_out` out, fit, predict it. Returns the predicted ms.
double PredictHeldOut(const Measured& m, const std::vector<ModelInfo>& models,
                      const ModelInfo& held_out, const Variant& v) {
  std::vector<LayerSample> train;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& o = m.origins[i];
    const bool synthetic = o.empty();
    const bool other =
        std::any_of(o.begin(), o.end(), [&](const std::string& s) { return s != held_out.name; });
    if (synthetic || (!v.synthetic_only && other)) train.push_back(m.layers[i]);
  }
  std::vector<ModelSample> whole;
  if (v.use_models) {
    for (const ModelInfo& mi : models) {
      auto it = m.model_ms.find(mi.name);
      if (mi.name == held_out.name || it == m.model_ms.end()) continue;
      whole.push_back({mi.name, mi.layers, mi.in_elements, mi.out_elements, it->second});
    }
  }
  auto fit = FitLayerModel(train, whole, m.overhead_ms, m.overhead_per_melement, v.options);
  if (!fit.ok()) return -1;
  return PredictModelMs(*fit, held_out.layers, held_out.in_elements, held_out.out_elements);
}

struct InModelModel {
  std::string name;
  std::shared_ptr<const ModelSpec> spec;
  std::map<Precision, CpuTarget::NodeTimes> times;
  int runs = 0;        // per round, while measuring
  bool probe = false;  // an in-model probe (InModelProbeGraphs): always trained on, never held out
};

int DistinctOpsOf(const std::vector<LayerDescriptor>& layers) {
  std::set<std::string> ops;
  for (const LayerDescriptor& l : layers) ops.insert(l.op);
  return static_cast<int>(ops.size());
}

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// The same network twice (the zoo's resnet18 and torchvision's, squeezenet_1_1 and
// squeezenet1_1): half or more of `b`'s distinct layers are layers of `a`. Held out together.
bool Twins(const InModelModel& a, const InModelModel& b) {
  std::set<std::string> ka, kb;
  for (const LayerDescriptor& d : LayerDescriptors(a.spec->graph->graph)) ka.insert(d.Key());
  for (const LayerDescriptor& d : LayerDescriptors(b.spec->graph->graph)) kb.insert(d.Key());
  size_t shared = 0;
  for (const std::string& k : kb) shared += ka.count(k);
  return 2 * shared >= kb.size();
}

void WriteInModelCache(const std::string& path, const std::vector<InModelModel>& models) {
  std::ofstream o(path);
  o.precision(17);
  for (const InModelModel& m : models) {
    for (const auto& [p, t] : m.times) {
      o << "N " << PrecisionName(p) << ' ' << m.name << ' ' << t.run_ms << ' ' << t.node_ms.size();
      for (double v : t.node_ms) o << ' ' << v;
      o << '\n';
    }
  }
}

bool ReadInModelCache(const std::string& path, std::vector<InModelModel>* models) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag, pn, name;
    size_t n = 0;
    CpuTarget::NodeTimes t;
    in >> tag >> pn >> name >> t.run_ms >> n;
    auto p = ParsePrecision(pn);
    if (tag != "N" || !p.ok()) return false;
    t.node_ms.resize(n);
    for (double& v : t.node_ms) in >> v;
    if (!in) return false;
    for (InModelModel& m : *models) {
      if (m.name == name && m.spec->graph->graph.nodes().size() == n) m.times[*p] = t;
    }
  }
  return true;
}

// The CPU target measured: `threads` threads pinned to `cpus`, no hardware counters.
std::unique_ptr<CpuTarget> MakeTarget(int threads, const std::vector<int>& cpus) {
  CpuOptions o;
  o.threads = threads;
  o.cpus = cpus;
  o.use_counters = false;
  auto target = CpuTarget::Create(o);
  std::cerr << "target: " << target->description().device << "\n";
  return target;
}

int InModelLomo(std::vector<InModelModel> models, const std::vector<std::string>& precisions,
                int threads, const std::vector<int>& cpus, const std::string& cache, bool fit_only,
                double model_seconds, bool explain, bool explain_layers, int rounds, bool use_min,
                int fixed_runs) {
  if (fit_only) {
    if (!ReadInModelCache(cache, &models)) {
      std::cerr << "cannot read " << cache << "\n";
      return 1;
    }
  } else {
    auto target = MakeTarget(threads, cpus);
    for (const std::string& pn : precisions) {
      auto p = ParsePrecision(pn);
      if (!p.ok()) return 2;
      for (InModelModel& m : models) {
        auto probe = target->TimeNodes(*m.spec, *p, 2, 1);
        if (!probe.ok()) {
          std::cerr << m.name << " " << pn << ": " << probe.status().message() << "\n";
          continue;
        }
        // Each timed run runs the model twice (whole, then observed).
        m.runs = std::clamp(
            static_cast<int>(model_seconds / rounds / std::max(2 * probe->run_ms, 1e-3) * 1e3), 5,
            300);
        if (fixed_runs > 0) m.runs = fixed_runs;
      }
      // Round-robin over the models, `rounds` times: a slow spell of a shared machine then
      // spreads over all the models rather than falling on one. Per node, the median of the
      // rounds' medians (or the least of their minima with --use-min).
      std::vector<std::vector<CpuTarget::NodeTimes>> per(models.size());
      for (int r = 0; r < rounds; ++r) {
        for (size_t i = 0; i < models.size(); ++i) {
          if (models[i].runs == 0) continue;
          auto t = target->TimeNodes(*models[i].spec, *p, 1, models[i].runs);
          if (t.ok()) per[i].push_back(std::move(*t));
        }
      }
      for (size_t i = 0; i < models.size(); ++i) {
        if (per[i].empty()) continue;
        CpuTarget::NodeTimes agg;
        const size_t n = per[i][0].node_ms.size();
        std::vector<double> whole;
        for (const auto& t : per[i]) whole.push_back(use_min ? t.run_min_ms : t.run_ms);
        agg.run_ms = use_min ? *std::min_element(whole.begin(), whole.end()) : MedianOf(whole);
        agg.node_ms.resize(n);
        if (use_min) {
          // The node times of the fastest observed run of all the rounds.
          const auto best = std::min_element(
              per[i].begin(), per[i].end(),
              [](const auto& a, const auto& b) { return a.observed_min_ms < b.observed_min_ms; });
          agg.node_ms = best->node_min_ms;
        } else {
          for (size_t k = 0; k < n; ++k) {
            std::vector<double> v;
            for (const auto& t : per[i]) v.push_back(t.node_ms[k]);
            agg.node_ms[k] = MedianOf(v);
          }
        }
        double sum = 0;
        for (double v : agg.node_ms) sum += v;
        std::cerr << models[i].name << " " << pn << ": " << rounds << " x " << models[i].runs
                  << " runs, whole " << agg.run_ms << " ms, nodes " << sum << " ms\n";
        models[i].times[*p] = std::move(agg);
      }
      for (InModelModel& m : models) m.runs = 0;
    }
    if (!cache.empty()) WriteInModelCache(cache, models);
  }
  struct Variant {
    const char* name;
    LayerFitOptions options;
    bool probes = true;  // train on the in-model probes too
  };
  LayerFitOptions no_first_use;
  no_first_use.first_use = false;
  const Variant variants[] = {
      {"full", {}},
      {"no_correction", {0.0, 0.5, 0.05}},
      {"common_scale", {1.0, 0.5, 0.0}},
      {"no_first_use", no_first_use},
      {"kind_prior_0.05", {1.0, 0.5, 0.05}},  // the default before 2026-12-03
      {"no_probes", {}, false},               // as fitted before 2026-12-03
  };
  for (const std::string& pn : precisions) {
    auto p = ParsePrecision(pn);
    if (!p.ok()) return 2;
    std::printf("\n%s (in-model layer times, leave one model out)\n", pn.c_str());
    std::printf("%-20s %10s %10s %8s %10s", "model", "measured", "predicted", "error%", "own_sum%");
    for (size_t v = 1; v < std::size(variants); ++v) std::printf(" %14s", variants[v].name);
    std::printf("\n");
    double worst = 0;
    int within10 = 0, count = 0;
    for (const InModelModel& held : models) {
      auto it = held.times.find(*p);
      if (held.probe || it == held.times.end()) continue;
      std::vector<InModelRun> train, train_no_probes;
      for (const InModelModel& m : models) {
        auto jt = m.times.find(*p);
        if (&m == &held || jt == m.times.end() || Twins(m, held)) {
          continue;  // the model itself and its twin (the zoo's resnet18 and torchvision's)
        }
        train.push_back(
            {m.name, &m.spec->graph->graph, jt->second.node_ms, jt->second.run_ms, m.probe});
        if (!m.probe) train_no_probes.push_back(train.back());
      }
      const InModelRun self{held.name, &held.spec->graph->graph, it->second.node_ms,
                            it->second.run_ms};
      const ModelSample ms = InModelModelSample(self);
      double own = 0;  // its own in-model layers summed: what the method could reach at best
      for (const LayerSample& l : InModelLayerSamples(*self.graph, self.node_ms)) own += l.ms;
      double preds[std::size(variants)];
      for (size_t v = 0; v < std::size(variants); ++v) {
        auto fit =
            FitLayerModelInModel(variants[v].probes ? train : train_no_probes, variants[v].options);
        preds[v] =
            fit.ok() ? PredictModelMs(*fit, ms.layers, ms.input_elements, ms.output_elements) : -1;
      }
      if (explain) {
        // Per layer kind: the held-out model's own in-model time vs the prediction (each op's
        // first layer with the op's first-use cost, as PredictModelMs charges it).
        auto fit = FitLayerModelInModel(train, variants[0].options);
        std::map<std::string, std::pair<double, double>> by;
        const std::vector<LayerSample> own_layers = InModelLayerSamples(*self.graph, self.node_ms);
        const std::vector<double> in_run =
            fit.ok() ? PredictLayersInRunMs(*fit, ms.layers) : std::vector<double>();
        for (size_t i = 0; i < own_layers.size(); ++i) {
          const LayerSample& l = own_layers[i];
          std::string k(LayerKindName(l.layer.kind()));
          k += l.layer.activation.empty() ? "" : "+act";
          by[k].first += l.ms;
          if (i < in_run.size()) by[k].second += in_run[i];
        }
        for (const auto& [k, v] : by) {
          std::fprintf(stderr, "  %s %s %s: own %.3f ms, predicted %.3f ms (%+.1f%%)\n", pn.c_str(),
                       held.name.c_str(), k.c_str(), v.first, v.second,
                       100 * (v.second / std::max(v.first, 1e-9) - 1));
        }
        if (fit.ok() && explain_layers) {
          // Layer by layer: what the held-out model measured against the prediction.
          for (size_t i = 0; i < own_layers.size() && i < in_run.size(); ++i) {
            const LayerSample& l = own_layers[i];
            std::fprintf(stderr, "    %s %s %-60s own %.4f predicted %.4f (%+.0f%%)%s\n",
                         pn.c_str(), held.name.c_str(), l.layer.Key().c_str(), l.ms, in_run[i],
                         100 * (in_run[i] / std::max(l.ms, 1e-9) - 1),
                         l.first_use ? " first use" : "");
          }
        }
        if (fit.ok()) {
          std::fprintf(stderr,
                       "  %s %s overhead: %.3f ms + %.3f ms/Melement, first uses %.4f ms (%d ops), "
                       "scale %.3f\n",
                       pn.c_str(), held.name.c_str(), fit->overhead_ms,
                       fit->overhead_ms_per_melement, FirstUsesMs(*fit, ms.layers),
                       DistinctOpsOf(ms.layers), fit->scale);
        }
      }
      const double err = 100 * (preds[0] / self.run_ms - 1);
      worst = std::max(worst, std::abs(err));
      within10 += std::abs(err) <= 10;
      ++count;
      std::printf("%-20s %10.3f %10.3f %+8.1f %+9.1f%%", held.name.c_str(), self.run_ms, preds[0],
                  err, 100 * (own / self.run_ms - 1));
      for (size_t v = 1; v < std::size(variants); ++v) {
        std::printf(" %+13.1f%%", 100 * (preds[v] / self.run_ms - 1));
      }
      std::printf("\n");
    }
    std::printf("%s: %d of %d models within +-10%%, worst %.1f%%\n", pn.c_str(), within10, count,
                worst);
    // The measurement's own floor: twins (the same architecture, other weights) measured in the
    // same run. No descriptor-based prediction can be nearer to both than half their gap.
    double worst_gap = 0;
    for (size_t i = 0; i < models.size(); ++i) {
      for (size_t j = i + 1; j < models.size(); ++j) {
        auto a = models[i].times.find(*p), b = models[j].times.find(*p);
        if (models[i].probe || models[j].probe || a == models[i].times.end() ||
            b == models[j].times.end() || !Twins(models[i], models[j])) {
          continue;
        }
        const double gap = 100 * (b->second.run_ms / a->second.run_ms - 1);
        worst_gap = std::max(worst_gap, std::abs(gap));
        std::printf("  twins %s %.3f ms, %s %.3f ms: %+.1f%%\n", models[i].name.c_str(),
                    a->second.run_ms, models[j].name.c_str(), b->second.run_ms, gap);
      }
    }
    std::printf("%s: largest gap between twins measured in this run %.1f%%\n", pn.c_str(),
                worst_gap);
  }
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> model_names, precisions = {"fp32", "int8"};
  std::string model_dir, cache;
  int threads = 1, synthetic = 150, rounds = 3;
  std::vector<int> cpus;
  bool fit_only = false, use_min = false, single_layers = false, explain = false,
       explain_layers = false, probes = true;
  double model_seconds = 3;
  int fixed_runs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models") {
      model_names = SplitList(next());
    } else if (a == "--model-dir") {
      model_dir = next();
    } else if (a == "--precisions") {
      precisions = SplitList(next());
    } else if (a == "--threads") {
      threads = std::atoi(next().c_str());
    } else if (a == "--cpus") {
      auto c = ParseCpuList(next());
      if (!c.ok()) {
        std::cerr << c.status().message() << "\n";
        return 2;
      }
      cpus = *c;
    } else if (a == "--synthetic") {
      synthetic = std::atoi(next().c_str());
    } else if (a == "--cache") {
      cache = next();
    } else if (a == "--use-min") {
      use_min = true;
    } else if (a == "--rounds") {
      rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--explain") {
      explain = true;
    } else if (a == "--explain-layers") {
      explain = explain_layers = true;
    } else if (a == "--single-layers") {
      single_layers = true;
    } else if (a == "--in-model") {
      single_layers = false;
    } else if (a == "--fit-only") {
      fit_only = true;
    } else if (a == "--runs") {
      fixed_runs = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--no-probes") {
      probes = false;
    } else if (a == "--model-seconds") {
      model_seconds = std::atof(next().c_str());
    } else {
      std::cerr << "usage: layer_lomo [--models LIST] [--model-dir DIR] [--precisions LIST] "
                   "[--threads N] [--cpus LIST] [--synthetic N] [--cache FILE] [--fit-only] "
                   "[--model-seconds S] [--use-min] [--in-model | --single-layers] [--rounds N] "
                   "[--explain | --explain-layers] [--no-probes] [--runs N]\n";
      return 2;
    }
  }
#ifdef AUTOSCALE_HAVE_TS_IMPORTER
  InstallTorchScriptImporter();
#endif
  // --models names zoo models (all of them by default); every model file of --model-dir is added
  // as "user:NAME" (torchvision's resnet18 beside the zoo's).
  ModelStore zoo_store, user_store(model_dir);
  if (model_names.empty()) model_names = zoo_store.Names();
  std::vector<std::pair<std::string, ModelStore*>> wanted;
  for (const std::string& name : model_names) wanted.push_back({name, &zoo_store});
  if (!model_dir.empty()) {
    for (const std::string& name : user_store.Names()) {
      if (std::filesystem::exists(std::filesystem::path(model_dir) / (name + ".pt"))) {
        wanted.push_back({"user:" + name, &user_store});
      }
    }
  }
  std::vector<ModelInfo> models;
  std::vector<std::shared_ptr<const ModelSpec>> specs;
  for (const auto& [name, store] : wanted) {
    const bool user = name.rfind("user:", 0) == 0;
    auto spec = store->Get(user ? name.substr(5) : name);
    if (!spec.ok()) {
      std::cerr << "skipping " << name << ": " << spec.status().message() << "\n";
      continue;
    }
    if (!(*spec)->is_graph()) {
      std::cerr << "skipping " << name << ": no graph (the import could not map every op)\n";
      continue;
    }
    const Graph& g = (*spec)->graph->graph;
    models.push_back({name, LayerDescriptors(g), static_cast<double>(NumElements(g.input_shape())),
                      static_cast<double>(NumElements(g.node(g.output()).out_shape))});
    specs.push_back(*spec);
  }
  if (!single_layers) {
    std::vector<InModelModel> im;
    for (size_t i = 0; i < specs.size(); ++i) im.push_back({models[i].name, specs[i], {}, 0});
    if (probes) {
      auto probe_specs = InModelProbeSpecs();
      if (!probe_specs.ok()) {
        std::cerr << probe_specs.status().message() << "\n";
        return 1;
      }
      for (auto& spec : *probe_specs) {
        const std::string name = "probe:" + spec->name;
        im.push_back({name, std::move(spec), {}, 0, true});
      }
    }
    return InModelLomo(std::move(im), precisions, threads, cpus, cache, fit_only, model_seconds,
                       explain, explain_layers, rounds, use_min, fixed_runs);
  }

  std::map<Precision, Measured> all;
  if (fit_only) {
    if (!ReadCache(cache, &all)) {
      std::cerr << "cannot read " << cache << "\n";
      return 1;
    }
  } else {
    auto target = MakeTarget(threads, cpus);
    std::vector<const Graph*> graphs;
    for (const auto& s : specs) graphs.push_back(&s->graph->graph);
    DistinctLayers distinct = DistinctLayerGraphs(graphs);
    for (const std::string& s : distinct.skipped) std::cerr << "no single layer: " << s << "\n";
    std::vector<Graph> layer_graphs = distinct.graphs;
    const size_t n_model_layers = layer_graphs.size();
    for (Graph& g : SyntheticLayerGraphs(synthetic)) layer_graphs.push_back(std::move(g));
    std::cerr << n_model_layers << " distinct model layers, " << synthetic << " synthetic\n";
    for (const std::string& pn : precisions) {
      auto p = ParsePrecision(pn);
      if (!p.ok()) return 2;
      Measured& m = all[*p];
      LayerProfileOptions lo;
      lo.use_min = use_min;
      LayerProfileOptions mo = lo;
      mo.min_seconds = model_seconds;
      mo.min_repeats = 15;
      mo.max_seconds = 4 * model_seconds;
      std::map<std::string, double> first;
      for (size_t i = 0; i < specs.size(); ++i) {
        auto st = MeasureLatency(*target, *specs[i], *p, mo);
        if (!st.ok()) {
          std::cerr << models[i].name << " " << pn << ": " << st.status().message() << "\n";
          continue;
        }
        const double* ms = use_min ? &st->min_ms : &st->median_ms;
        first[models[i].name] = *ms;
        std::cerr << models[i].name << " " << pn << ": " << FormatDouble(*ms, 4) << " ms\n";
      }
      auto prof = ProfileLayers(*target, *p, layer_graphs, lo);
      if (!prof.ok()) {
        std::cerr << pn << ": " << prof.status().message() << "\n";
        continue;
      }
      std::cerr << pn << ": overhead " << prof->overhead_ms << " ms + "
                << prof->overhead_ms_per_melement << " ms/Melement; " << prof->samples.size()
                << " layers measured, " << prof->skipped.size() << " skipped\n";
      for (const std::string& s : prof->skipped) std::cerr << "  skipped " << s << "\n";
      m.overhead_ms = prof->overhead_ms;
      m.overhead_per_melement = prof->overhead_ms_per_melement;
      size_t si = 0;
      for (size_t i = 0; i < layer_graphs.size() && si < prof->samples.size(); ++i) {
        // ProfileLayers keeps graph order and skips some; match by descriptor.
        const std::vector<LayerDescriptor> d = LayerDescriptors(layer_graphs[i]);
        if (d.size() != 1 || d[0].Key() != prof->samples[si].layer.Key()) continue;
        m.layers.push_back(prof->samples[si++]);
        std::vector<std::string> origins;
        if (i < n_model_layers) {
          for (int gi : distinct.origins[i]) origins.push_back(models[gi].name);
        }
        m.origins.push_back(origins);
      }
      for (size_t i = 0; i < specs.size(); ++i) {
        auto it = first.find(models[i].name);
        if (it == first.end()) continue;
        auto st = MeasureLatency(*target, *specs[i], *p, mo);
        if (!st.ok()) continue;
        const double* ms = use_min ? &st->min_ms : &st->median_ms;
        m.model_ms[models[i].name] = 0.5 * (it->second + *ms);
        m.model_drift[models[i].name] = *ms / it->second - 1;
      }
    }
    if (!cache.empty()) WriteCache(cache, all);
  }

  const Variant variants[] = {
      {"full", {}, true, false},
      {"no_correction", {0.0, 0.5, 0.05}, true, false},
      {"common_scale", {1.0, 0.5, 0.0}, true, false},
      {"no_scale", {}, false, false},
      {"synthetic_only", {}, true, true},
  };
  for (const auto& [p, m] : all) {
    std::printf("\n%s: overhead %.4f ms + %.4f ms/Melement, %zu layers\n",
                std::string(PrecisionName(p)).c_str(), m.overhead_ms, m.overhead_per_melement,
                m.layers.size());
    std::map<std::string, double> by_key;
    for (const LayerSample& l : m.layers) by_key[l.layer.Key()] = l.ms;
    std::printf("%-20s %10s %10s %8s %7s %9s", "model", "measured", "predicted", "error%", "drift%",
                "layers%");
    for (size_t v = 1; v < std::size(variants); ++v) std::printf(" %15s", variants[v].name);
    std::printf("\n");
    for (const ModelInfo& mi : models) {
      auto it = m.model_ms.find(mi.name);
      if (it == m.model_ms.end()) continue;
      const double pred = PredictHeldOut(m, models, mi, variants[0]);
      // The model's own layers as measured alone, summed (what the method can reach at best).
      double own =
          m.overhead_ms + m.overhead_per_melement * (mi.in_elements + mi.out_elements) / 1e6;
      for (const LayerDescriptor& l : mi.layers) {
        auto k = by_key.find(l.Key());
        own += k == by_key.end() ? 0.0 : k->second;
      }
      std::printf("%-20s %10.3f %10.3f %+8.1f %+7.1f %+8.1f%%", mi.name.c_str(), it->second, pred,
                  100 * (pred / it->second - 1), 100 * m.model_drift.at(mi.name),
                  100 * (own / it->second - 1));
      for (size_t v = 1; v < std::size(variants); ++v) {
        const double pv = PredictHeldOut(m, models, mi, variants[v]);
        std::printf(" %+14.1f%%", 100 * (pv / it->second - 1));
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace
}  // namespace autoscale

int main(int argc, char** argv) { return autoscale::Main(argc, argv); }
