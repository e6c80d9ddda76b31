#include "env/layer_predictor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/strings.h"
#include "env/profile_keys.h"

namespace autoscale {

namespace {

constexpr std::array<std::string_view, kNumLayerKinds> kKindNames = {
    "conv",        "pointwise_conv", "depthwise_conv", "grouped_conv", "linear",   "lstm", "pool",
    "global_pool", "elementwise",    "concat",         "reshape",      "avg_pool", "add",  "mul"};

constexpr std::array<std::string_view, kNumLayerFeatures> kFeatureNames = {
    "fixed_ms",      "ms_per_mmac",  "ms_per_minput", "ms_per_moutput",
    "ms_per_mparam", "ms_per_mrelu", "ms_per_mact"};

bool CheapActivation(const std::string& a) { return a == "relu" || a == "relu6"; }

// Solves the n x n system m x = b in place (Gaussian elimination, partial pivoting); false when
// singular.
bool Solve(std::vector<std::vector<double>>& m, std::vector<double>& b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(m[r][c]) > std::abs(m[p][c])) p = r;
    }
    if (std::abs(m[p][c]) < 1e-12) return false;
    std::swap(m[p], m[c]);
    std::swap(b[p], b[c]);
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = m[r][c] / m[c][c];
      if (f == 0) continue;
      for (size_t k = c; k < n; ++k) m[r][k] -= f * m[c][k];
      b[r] -= f * b[c];
    }
  }
  for (size_t c = 0; c < n; ++c) b[c] /= m[c][c];
  return true;
}

// Descriptor coordinates for the local correction, in log2 units.
std::array<double, 7> Coordinates(const LayerDescriptor& l) {
  auto lg = [](double v) { return std::log2(1.0 + std::max(0.0, v)); };
  return {lg(static_cast<double>(l.in_channels)),
          lg(static_cast<double>(l.out_channels)),
          lg(static_cast<double>(l.in_h)),
          lg(static_cast<double>(l.in_w)),
          lg(l.kernel_h),
          lg(l.kernel_w),
          lg(l.stride_h)};
}

double Dot(const std::vector<double>& c, const std::array<double, kNumLayerFeatures>& f) {
  double s = 0;
  for (size_t i = 0; i < c.size() && i < f.size(); ++i) s += c[i] * f[i];
  return s;
}

// Step 1 alone: the linear model of the layer's kind (the fallback when its kind has none).
double LinearMs(const LayerFit& fit, const LayerDescriptor& l) {
  const std::vector<double>* c = &fit.coefficients[static_cast<int>(l.kind())];
  if (c->empty()) c = &fit.coefficients[static_cast<int>(ParentKind(l.kind()))];
  const double ms = Dot(c->empty() ? fit.fallback : *c, LayerFeatures(l));
  return std::max(ms, 1e-6);
}

// The weighted median of (value, weight) pairs; 0 for none.
double WeightedMedian(std::vector<std::pair<double, double>> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double total = 0;
  for (const auto& [x, w] : v) total += w;
  double run = 0;
  for (const auto& [x, w] : v) {
    run += w;
    if (run >= 0.5 * total) return x;
  }
  return v.back().first;
}

std::vector<double> FitRows(const std::vector<const LayerSample*>& rows) {
  std::vector<std::vector<double>> a;
  std::vector<double> y, w;
  for (const LayerSample* s : rows) {
    auto f = LayerFeatures(s->layer);
    a.emplace_back(f.begin(), f.end());
    y.push_back(s->ms);
    w.push_back(1.0 / (s->ms * s->ms));  // relative errors
  }
  return NonNegativeLeastSquares(a, y, w);
}

}  // namespace

std::string_view LayerKindName(LayerKind k) { return kKindNames[static_cast<int>(k)]; }

LayerKind ParentKind(LayerKind k) {
  switch (k) {
    case LayerKind::kAvgPool:
      return LayerKind::kPool;
    case LayerKind::kAdd:
    case LayerKind::kMul:
      return LayerKind::kElementwise;
    default:
      return k;
  }
}

Result<LayerKind> ParseLayerKind(std::string_view name) {
  for (int k = 0; k < kNumLayerKinds; ++k) {
    if (kKindNames[k] == name) return static_cast<LayerKind>(k);
  }
  std::string valid;
  for (std::string_view n : kKindNames) {
    if (!valid.empty()) valid += ", ";
    valid += n;
  }
  return Status::InvalidArgument("unknown layer kind '" + std::string(name) + "' (valid: " + valid +
                                 ")");
}

LayerKind LayerDescriptor::kind() const {
  if (op == "conv") {
    if (groups > 1 && groups == in_channels) return LayerKind::kDepthwiseConv;
    if (groups > 1) return LayerKind::kGroupedConv;
    return kernel_h == 1 && kernel_w == 1 ? LayerKind::kPointwiseConv : LayerKind::kConv;
  }
  if (op == "linear") return LayerKind::kLinear;
  if (op == "lstm") return LayerKind::kLstm;
  if (op == "max_pool") return LayerKind::kPool;
  if (op == "avg_pool") return LayerKind::kAvgPool;
  if (op == "add") return LayerKind::kAdd;
  if (op == "mul") return LayerKind::kMul;
  if (op == "global_avg_pool" || op == "adaptive_avg_pool") return LayerKind::kGlobalPool;
  if (op == "concat") return LayerKind::kConcat;
  if (op == "flatten") return LayerKind::kReshape;
  return LayerKind::kElementwise;
}

std::string LayerDescriptor::Key() const {
  std::string k = op;
  k += '|';
  k += activation;
  for (double v :
       {static_cast<double>(in_channels), static_cast<double>(out_channels),
        static_cast<double>(kernel_h), static_cast<double>(kernel_w), static_cast<double>(stride_h),
        static_cast<double>(stride_w), static_cast<double>(groups), static_cast<double>(dilation_h),
        static_cast<double>(dilation_w), static_cast<double>(in_h), static_cast<double>(in_w),
        static_cast<double>(out_h), static_cast<double>(out_w), static_cast<double>(inputs), macs,
        params, input_elements, output_elements}) {
    k += '|';
    k += std::to_string(static_cast<long long>(v));
  }
  return k;
}

const std::array<std::string_view, kNumLayerFeatures>& LayerFeatureNames() {
  static const std::array<std::string_view, kNumLayerFeatures> names = kFeatureNames;
  return names;
}

std::array<double, kNumLayerFeatures> LayerFeatures(const LayerDescriptor& l) {
  const double act = l.activation.empty() ? 0.0 : l.output_elements / 1e6;
  const bool cheap = CheapActivation(l.activation);
  return {1.0,
          l.macs / 1e6,
          l.input_elements / 1e6,
          l.output_elements / 1e6,
          l.params / 1e6,
          cheap ? act : 0.0,
          cheap ? 0.0 : act};
}

std::vector<double> NonNegativeLeastSquares(const std::vector<std::vector<double>>& a,
                                            const std::vector<double>& y,
                                            const std::vector<double>& w) {
  const size_t n = a.empty() ? 0 : a[0].size();
  std::vector<double> best(n, 0.0);
  if (n == 0 || n > 16) return best;
  // Column scales (weighted RMS) for conditioning; all-zero columns stay out.
  std::vector<double> scale(n, 0.0);
  std::vector<size_t> live;
  for (size_t j = 0; j < n; ++j) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += w[i] * a[i][j] * a[i][j];
    scale[j] = std::sqrt(s);
    if (scale[j] > 0) live.push_back(j);
  }
  double best_err = std::numeric_limits<double>::infinity();
  // The empty subset: all zero.
  {
    double err = 0;
    for (size_t i = 0; i < y.size(); ++i) err += w[i] * y[i] * y[i];
    best_err = err;
  }
  const size_t m = live.size();
  for (uint32_t mask = 1; mask < (1u << m); ++mask) {
    std::vector<size_t> cols;
    for (size_t b = 0; b < m; ++b) {
      if (mask & (1u << b)) cols.push_back(live[b]);
    }
    const size_t k = cols.size();
    std::vector<std::vector<double>> ata(k, std::vector<double>(k, 0.0));
    std::vector<double> aty(k, 0.0);
    for (size_t i = 0; i < a.size(); ++i) {
      for (size_t p = 0; p < k; ++p) {
        const double ap = a[i][cols[p]] / scale[cols[p]];
        aty[p] += w[i] * ap * y[i];
        for (size_t q = 0; q < k; ++q) ata[p][q] += w[i] * ap * a[i][cols[q]] / scale[cols[q]];
      }
    }
    for (size_t p = 0; p < k; ++p) ata[p][p] += 1e-10;
    if (!Solve(ata, aty)) continue;
    if (std::any_of(aty.begin(), aty.end(), [](double v) { return v < 0; })) continue;
    std::vector<double> x(n, 0.0);
    for (size_t p = 0; p < k; ++p) x[cols[p]] = aty[p] / scale[cols[p]];
    double err = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      double r = -y[i];
      for (size_t j = 0; j < n; ++j) r += a[i][j] * x[j];
      err += w[i] * r * r;
    }
    if (err < best_err * (1 - 1e-12)) {
      best_err = err;
      best = x;
    }
  }
  return best;
}

Result<LayerFit> FitLayerModel(const std::vector<LayerSample>& samples,
                               const std::vector<ModelSample>& models, double overhead_ms,
                               double overhead_ms_per_melement, const LayerFitOptions& options) {
  if (samples.empty()) return Status::InvalidArgument("no measured layers to fit");
  LayerFit fit;
  fit.overhead_ms = overhead_ms;
  fit.overhead_ms_per_melement = overhead_ms_per_melement;
  fit.options = options;
  // Measured layers by kind: warm ones and first uses apart.
  std::array<std::vector<const LayerSample*>, kNumLayerKinds> warm, first;
  for (const LayerSample& s : samples) {
    if (!(s.ms > 0) || !std::isfinite(s.ms)) {
      return Status::InvalidArgument("layer '" + s.layer.Key() + "': time must be positive");
    }
    (s.first_use ? first : warm)[static_cast<int>(s.layer.kind())].push_back(&s);
  }
  // Step 0: the first uses' cold cost. Per kind with at least 3 warm layers, a model of those
  // alone predicts the kind's first uses; what they measured above it is their op's cold cost:
  // per op, the weighted median (weight 1 / prediction^2: a small layer shows the cost plainly,
  // a large one buries it in its own spread), and over every op the default for ops whose kind
  // had no warm layers to learn from. First uses then lose their op's cost (never below 10% of
  // the measurement) before the fit proper.
  if (options.first_use) {
    std::map<std::string, std::vector<std::pair<double, double>>> by_op;
    std::vector<std::pair<double, double>> pooled;
    for (int k = 0; k < kNumLayerKinds; ++k) {
      if (warm[k].size() < 3 || first[k].empty()) continue;
      const std::vector<double> c = FitRows(warm[k]);
      for (const LayerSample* s : first[k]) {
        const double pred = std::max(Dot(c, LayerFeatures(s->layer)), 1e-6);
        by_op[s->layer.op].emplace_back(s->ms - pred, 1.0 / (pred * pred));
        pooled.emplace_back(s->ms - pred, 1.0 / (pred * pred));
      }
    }
    fit.first_use_ms = std::max(0.0, WeightedMedian(pooled));
    for (auto& [op, excess] : by_op) {
      fit.first_use_by_op[op] = std::max(0.0, WeightedMedian(excess));
    }
    // An op seen first but never warm takes the default, at most 90% of its fastest first use:
    // what its samples lose is what its runs are charged.
    std::map<std::string, double> fastest;
    for (const auto& kind : first) {
      for (const LayerSample* s : kind) {
        auto [it, fresh] = fastest.emplace(s->layer.op, s->ms);
        if (!fresh) it->second = std::min(it->second, s->ms);
      }
    }
    for (const auto& [op, ms] : fastest) {
      if (!fit.first_use_by_op.count(op)) {
        fit.first_use_by_op[op] = std::min(fit.first_use_ms, 0.9 * ms);
      }
    }
  }
  std::vector<LayerSample> adjusted = samples;
  for (LayerSample& s : adjusted) {
    if (s.first_use) s.ms = std::max(s.ms - FirstUseMs(fit, s.layer.op), 0.1 * s.ms);
    s.first_use = false;  // warm now, as the local correction sees it
  }
  std::array<std::vector<const LayerSample*>, kNumLayerKinds> by_kind;
  std::vector<const LayerSample*> all;
  for (const LayerSample& s : adjusted) {
    by_kind[static_cast<int>(s.layer.kind())].push_back(&s);
    all.push_back(&s);
  }
  fit.fallback = FitRows(all);
  for (int k = 0; k < kNumLayerKinds; ++k) {
    if (!by_kind[k].empty()) fit.coefficients[k] = FitRows(by_kind[k]);
  }
  fit.samples = std::move(adjusted);
  // Step 3: the common scale (median measured/predicted over the whole models), then one scale
  // per kind, least squares on the models' relative errors with a prior pulling each towards
  // the common scale (weight options.kind_prior: a kind the models hardly exercise stays there).
  fit.scale = 1;
  fit.kind_scale.fill(1.0);
  std::vector<std::array<double, kNumLayerKinds>> sums;
  std::vector<double> targets, ratios;
  for (const ModelSample& m : models) {
    std::array<double, kNumLayerKinds> by_kind{};
    double layers_ms = 0;
    for (const LayerDescriptor& l : m.layers) {
      const double ms = PredictLayerMs(fit, l);
      by_kind[static_cast<int>(l.kind())] += ms;
      layers_ms += ms;
    }
    const double run_ms = overhead_ms +
                          overhead_ms_per_melement * (m.input_elements + m.output_elements) / 1e6 +
                          FirstUsesMs(fit, m.layers);
    if (m.ms > run_ms && layers_ms > 0) {
      ratios.push_back((m.ms - run_ms) / layers_ms);
      sums.push_back(by_kind);
      targets.push_back(m.ms - run_ms);
    }
  }
  if (!ratios.empty()) {
    std::vector<double> sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    const size_t h = sorted.size() / 2;
    fit.scale = sorted.size() % 2 ? sorted[h] : 0.5 * (sorted[h - 1] + sorted[h]);
    fit.kind_scale.fill(fit.scale);
    if (options.kind_prior > 0) {
      // Kinds that carry a share of some model's time; the others keep the common scale.
      std::vector<int> kinds;
      for (int k = 0; k < kNumLayerKinds; ++k) {
        for (size_t i = 0; i < sums.size(); ++i) {
          if (sums[i][k] > 0.02 * targets[i]) {
            kinds.push_back(k);
            break;
          }
        }
      }
      std::vector<std::vector<double>> a;
      std::vector<double> y, w;
      for (size_t i = 0; i < sums.size(); ++i) {
        std::vector<double> row;
        double rest = 0;  // kinds kept at the common scale
        for (int k = 0; k < kNumLayerKinds; ++k) {
          if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) rest += sums[i][k];
        }
        for (int k : kinds) row.push_back(sums[i][k]);
        a.push_back(row);
        y.push_back(targets[i] - fit.scale * rest);
        w.push_back(1.0 / (targets[i] * targets[i]));
      }
      for (size_t j = 0; j < kinds.size(); ++j) {
        std::vector<double> row(kinds.size(), 0.0);
        row[j] = 1;
        a.push_back(row);
        y.push_back(fit.scale);
        w.push_back(options.kind_prior);
      }
      const std::vector<double> x = NonNegativeLeastSquares(a, y, w);
      for (size_t j = 0; j < kinds.size(); ++j) {
        if (x[j] > 0) fit.kind_scale[kinds[j]] = x[j];
      }
    }
  }
  return fit;
}

double PredictLayerMs(const LayerFit& fit, const LayerDescriptor& layer) {
  const double base = LinearMs(fit, layer);
  if (fit.options.bandwidth <= 0) return base;
  const LayerKind kind = layer.kind();
  const auto q = Coordinates(layer);
  const double inv2bw2 = 1.0 / (2 * fit.options.bandwidth * fit.options.bandwidth);
  double wsum = 0, rsum = 0;
  for (const LayerSample& s : fit.samples) {
    if (s.layer.kind() != kind || s.layer.op != layer.op) continue;
    const auto z = Coordinates(s.layer);
    double d2 = 0;
    for (size_t i = 0; i < q.size(); ++i) d2 += (q[i] - z[i]) * (q[i] - z[i]);
    const double wt = std::exp(-d2 * inv2bw2);
    if (wt < 1e-6) continue;
    wsum += wt;
    rsum += wt * std::log(s.ms / LinearMs(fit, s.layer));
  }
  if (wsum <= 0) return base;
  return base * std::exp(rsum / (wsum + fit.options.shrink));
}

double FirstUseMs(const LayerFit& fit, const std::string& op) {
  auto it = fit.first_use_by_op.find(op);
  return it == fit.first_use_by_op.end() ? fit.first_use_ms : it->second;
}

double FirstUsesMs(const LayerFit& fit, const std::vector<LayerDescriptor>& layers) {
  std::vector<std::string_view> ops;
  double ms = 0;
  for (const LayerDescriptor& l : layers) {
    if (std::find(ops.begin(), ops.end(), l.op) != ops.end()) continue;
    ops.push_back(l.op);
    ms += FirstUseMs(fit, l.op);
  }
  return ms;
}

std::vector<double> PredictLayersInRunMs(const LayerFit& fit,
                                         const std::vector<LayerDescriptor>& layers) {
  std::vector<double> ms;
  std::vector<std::string_view> ops;
  for (const LayerDescriptor& l : layers) {
    ms.push_back(fit.kind_scale[static_cast<int>(l.kind())] * PredictLayerMs(fit, l));
    if (std::find(ops.begin(), ops.end(), l.op) == ops.end()) {
      ops.push_back(l.op);
      ms.back() += FirstUseMs(fit, l.op);
    }
  }
  return ms;
}

double PredictModelMs(const LayerFit& fit, const std::vector<LayerDescriptor>& layers,
                      double input_elements, double output_elements) {
  double ms = 0;
  for (double v : PredictLayersInRunMs(fit, layers)) ms += v;
  return ms + fit.overhead_ms +
         fit.overhead_ms_per_melement * (input_elements + output_elements) / 1e6;
}

namespace {

constexpr int kDescriptorColumns = 20;  // descriptor fields, in the order below
constexpr int kLayerColumns = 21;       // descriptor fields + ms

std::string Num(double v) { return FormatDouble(v, 9); }

Result<double> NonNegative(const ConfigNode& n) {
  ASSIGN_OR_RETURN(double v, n.AsDouble());
  if (!std::isfinite(v) || v < 0 || v > 1e18) {
    return n.Error("expected a finite number >= 0, got " + FormatDouble(v));
  }
  return v;
}

Result<std::vector<double>> Coefficients(const ConfigNode& n) {
  RETURN_IF_ERROR(n.ExpectSequence());
  if (n.size() != kNumLayerFeatures) {
    return n.Error("expected " + std::to_string(kNumLayerFeatures) + " coefficients (" +
                   [] {
                     std::string s;
                     for (std::string_view f : kFeatureNames) {
                       if (!s.empty()) s += ", ";
                       s += f;
                     }
                     return s;
                   }() +
                   "), got " + std::to_string(n.size()));
  }
  std::vector<double> c;
  for (size_t i = 0; i < n.size(); ++i) {
    ASSIGN_OR_RETURN(double v, NonNegative(n.At(i)));
    c.push_back(v);
  }
  return c;
}

constexpr const char* kDescriptorColumnNames =
    "op, activation, in_channels, out_channels, kernel_h, kernel_w, stride_h, stride_w, groups, "
    "dilation_h, dilation_w, in_h, in_w, out_h, out_w, inputs, macs, params, input_elements, "
    "output_elements";

// The descriptor in the first kDescriptorColumns columns of `row`, which has `columns` in all.
Result<LayerDescriptor> ParseDescriptorColumns(const ConfigNode& row, int columns,
                                               const std::string& names) {
  RETURN_IF_ERROR(row.ExpectSequence());
  if (row.size() != static_cast<size_t>(columns)) {
    return row.Error("expected " + std::to_string(columns) + " columns (" + names + "), got " +
                     std::to_string(row.size()));
  }
  LayerDescriptor d;
  ASSIGN_OR_RETURN(d.op, row.At(0).AsString());
  ASSIGN_OR_RETURN(d.activation, row.At(1).AsString());
  auto plain = [](const std::string& v) {
    return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  if (!plain(d.op)) return row.At(0).Error("op must be a plain name such as conv or max_pool");
  if (d.activation == "-") d.activation.clear();
  if (!d.activation.empty() && !plain(d.activation)) {
    return row.At(1).Error("activation must be '-' or a plain name such as relu");
  }
  double v[kDescriptorColumns];
  for (int i = 2; i < kDescriptorColumns; ++i) {
    ASSIGN_OR_RETURN(v[i], NonNegative(row.At(i)));
    if (i < 16 && (v[i] > 1e9 || v[i] != std::floor(v[i]))) {
      return row.At(i).Error("expected a whole number below 1e9");
    }
  }
  d.in_channels = static_cast<int64_t>(v[2]);
  d.out_channels = static_cast<int64_t>(v[3]);
  d.kernel_h = static_cast<int>(v[4]);
  d.kernel_w = static_cast<int>(v[5]);
  d.stride_h = static_cast<int>(v[6]);
  d.stride_w = static_cast<int>(v[7]);
  d.groups = static_cast<int>(v[8]);
  d.dilation_h = static_cast<int>(v[9]);
  d.dilation_w = static_cast<int>(v[10]);
  d.in_h = static_cast<int64_t>(v[11]);
  d.in_w = static_cast<int64_t>(v[12]);
  d.out_h = static_cast<int64_t>(v[13]);
  d.out_w = static_cast<int64_t>(v[14]);
  d.inputs = static_cast<int>(v[15]);
  d.macs = v[16];
  d.params = v[17];
  d.input_elements = v[18];
  d.output_elements = v[19];
  if (d.groups < 1) return row.At(8).Error("groups must be at least 1");
  return d;
}

Result<LayerSample> ParseLayerRow(const ConfigNode& row) {
  LayerSample s;
  ASSIGN_OR_RETURN(s.layer, ParseDescriptorColumns(row, kLayerColumns,
                                                   std::string(kDescriptorColumnNames) + ", ms"));
  ASSIGN_OR_RETURN(s.ms, NonNegative(row.At(kDescriptorColumns)));
  if (!(s.ms > 0)) return row.At(kDescriptorColumns).Error("ms must be positive");
  return s;
}

// "[op, activation, n, n, ...": the descriptor's columns, without the closing bracket; whole
// numbers in full (a VGG-16 layer's 1,849,688,064 MACs would lose digits to Num).
std::string DescriptorColumns(const LayerDescriptor& d) {
  std::string t = "[" + d.op + ", " + (d.activation.empty() ? "\"-\"" : d.activation);
  for (double v :
       {static_cast<double>(d.in_channels), static_cast<double>(d.out_channels),
        static_cast<double>(d.kernel_h), static_cast<double>(d.kernel_w),
        static_cast<double>(d.stride_h), static_cast<double>(d.stride_w),
        static_cast<double>(d.groups), static_cast<double>(d.dilation_h),
        static_cast<double>(d.dilation_w), static_cast<double>(d.in_h), static_cast<double>(d.in_w),
        static_cast<double>(d.out_h), static_cast<double>(d.out_w), static_cast<double>(d.inputs),
        d.macs, d.params, d.input_elements, d.output_elements}) {
    t += ", ";
    t += v == std::floor(v) && std::fabs(v) < 1e15 ? std::to_string(static_cast<long long>(v))
                                                   : Num(v);
  }
  return t;
}

}  // namespace

std::string LayerFitYaml(const LayerFit& fit, int indent, const std::string& source) {
  const std::string pad(indent, ' ');
  std::string y;
  auto line = [&](const std::string& text) {
    y += pad;
    y += text;
    y += '\n';
  };
  line("overhead_ms: " + Num(fit.overhead_ms) + "  # per run; " + source);
  line("overhead_ms_per_melement: " + Num(fit.overhead_ms_per_melement) +
       "  # per million input + output elements; " + source);
  line("first_use_ms: " + Num(fit.first_use_ms) +
       "  # per distinct op in a run, its first layer's cold code; " + source);
  if (!fit.first_use_by_op.empty()) {
    std::string t = "first_use_ms_by_op: {";
    bool first = true;
    for (const auto& [op, ms] : fit.first_use_by_op) {
      if (!first) t += ", ";
      first = false;
      t += op + ": " + Num(ms);
    }
    line(t + "}  # the same, per op seen first in the runs; " + source);
  }
  line("scale: " + Num(fit.scale) + "  # whole models measured / predicted, median; " + source);
  std::string ks = "kind_scale: {";
  for (int k = 0; k < kNumLayerKinds; ++k) {
    if (k > 0) ks += ", ";
    ks += std::string(kKindNames[k]);
    ks += ": ";
    ks += Num(fit.kind_scale[k]);
  }
  line(ks + "}  # per layer kind, fitted on the whole models; " + source);
  line("bandwidth: " + Num(fit.options.bandwidth) +
       "  # local correction's kernel width, log2 units (a modelling choice)");
  line("shrink: " + Num(fit.options.shrink) +
       "  # local correction's shrinkage (a modelling choice)");
  line("kind_prior: " + Num(fit.options.kind_prior) +
       "  # pull of each kind's scale to the common one (a modelling choice)");
  std::string names;
  for (std::string_view f : kFeatureNames) {
    if (!names.empty()) names += ", ";
    names += f;
  }
  line("coefficients:  # " + names + "; fitted on the layers below");
  auto coef = [&](std::string_view name, const std::vector<double>& c) {
    std::string t = "  ";
    t += name;
    t += ": [";
    for (size_t i = 0; i < c.size(); ++i) {
      if (i > 0) t += ", ";
      t += Num(c[i]);
    }
    line(t + "]");
  };
  for (int k = 0; k < kNumLayerKinds; ++k) {
    if (!fit.coefficients[k].empty()) coef(kKindNames[k], fit.coefficients[k]);
  }
  coef("fallback", fit.fallback);
  line("layers:  # single layers (first uses less first_use_ms) " + source +
       ": op, activation, in_channels, out_channels, kernel_h, kernel_w, stride_h, stride_w, "
       "groups, dilation_h, dilation_w, in_h, in_w, out_h, out_w, inputs, macs, params, "
       "input_elements, output_elements, ms");
  for (const LayerSample& s : fit.samples) {
    line("  - " + DescriptorColumns(s.layer) + ", " + Num(s.ms) + "]");
  }
  return y;
}

std::string LayerDescriptorRow(const LayerDescriptor& d) { return DescriptorColumns(d) + "]"; }

Result<LayerDescriptor> ParseLayerDescriptorRow(const ConfigNode& row) {
  return ParseDescriptorColumns(row, kDescriptorColumns, kDescriptorColumnNames);
}

Result<LayerFit> ParseLayerFit(const ConfigNode& node) {
  const KeyTable& keys = LayerFitKeys();
  RETURN_IF_ERROR(keys.Check(node));
  LayerFit fit;
  ASSIGN_OR_RETURN(fit.overhead_ms, keys.Number(node, "overhead_ms"));
  ASSIGN_OR_RETURN(fit.overhead_ms_per_melement, keys.Number(node, "overhead_ms_per_melement"));
  ASSIGN_OR_RETURN(fit.first_use_ms, keys.Number(node, "first_use_ms"));
  if (auto by_op = node.Optional("first_use_ms_by_op")) {
    RETURN_IF_ERROR(by_op->ExpectMap());
    for (const auto& [op, value] : by_op->Entries()) {
      if (op.empty() || op.size() > 64 || !std::all_of(op.begin(), op.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
          })) {
        return value.Error("an op must be a plain name such as conv or global_avg_pool");
      }
      ASSIGN_OR_RETURN(double v, NonNegative(value));
      if (v > 1e3) return value.Error("a first use's cost must be at most 1000 ms");
      fit.first_use_by_op[op] = v;
    }
  }
  ASSIGN_OR_RETURN(fit.scale, keys.Number(node, "scale"));
  fit.kind_scale.fill(fit.scale);
  if (auto ks = node.Optional("kind_scale")) {
    RETURN_IF_ERROR(ks->ExpectMap());
    std::array<bool, kNumLayerKinds> given{};
    for (const auto& [name, value] : ks->Entries()) {
      auto k = ParseLayerKind(name);
      if (!k.ok()) return value.Error(k.status().message());
      ASSIGN_OR_RETURN(double v, NonNegative(value));
      if (v < 1e-3 || v > 1e3) return value.Error("a kind's scale must be in [0.001, 1000]");
      fit.kind_scale[static_cast<int>(*k)] = v;
      given[static_cast<int>(*k)] = true;
    }
    // A profile written before a kind was split from its parent: the parent's scale.
    for (int k = 0; k < kNumLayerKinds; ++k) {
      if (!given[k])
        fit.kind_scale[k] = fit.kind_scale[static_cast<int>(ParentKind(static_cast<LayerKind>(k)))];
    }
  }
  ASSIGN_OR_RETURN(fit.options.bandwidth, keys.Number(node, "bandwidth"));
  ASSIGN_OR_RETURN(fit.options.shrink, keys.Number(node, "shrink"));
  ASSIGN_OR_RETURN(fit.options.kind_prior, keys.Number(node, "kind_prior"));
  ASSIGN_OR_RETURN(ConfigNode coef, node.Child("coefficients"));
  RETURN_IF_ERROR(coef.ExpectMap());
  for (const auto& [name, value] : coef.Entries()) {
    if (name == "fallback") {
      ASSIGN_OR_RETURN(fit.fallback, Coefficients(value));
      continue;
    }
    auto k = ParseLayerKind(name);
    if (!k.ok()) return value.Error(k.status().message() + " or fallback");
    ASSIGN_OR_RETURN(fit.coefficients[static_cast<int>(*k)], Coefficients(value));
  }
  if (fit.fallback.empty()) return coef.Error("missing required key 'fallback'");
  ASSIGN_OR_RETURN(ConfigNode layers, node.Child("layers"));
  RETURN_IF_ERROR(layers.ExpectSequence());
  if (layers.size() == 0 || layers.size() > 20000) {
    return layers.Error("expected 1 to 20000 measured layers");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    ASSIGN_OR_RETURN(LayerSample s, ParseLayerRow(layers.At(i)));
    fit.samples.push_back(std::move(s));
  }
  return fit;
}

}  // namespace autoscale
