// `autoscale waves`: the GPU tail-effect model (env/gpu_waves.h) of one model on a device
// profile's GPU target, layer by layer or by batch size, beside the OpenCL target's kernels and
// their work-groups (planned, or as enqueued on the host's OpenCL device with --run).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/config_dir.h"
#include "core/strings.h"
#include "env/gpu_waves.h"
#include "env/profiles.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"

#if AUTOSCALE_HAVE_OPENCL
#include "targets/opencl/opencl_target.h"
#endif

namespace autoscale {

namespace {

constexpr const char* kWavesAbout =
    R"(The GPU tail effect (issue 14; env/gpu_waves.h): a GPU runs a layer's thread blocks (output
tiles, work-groups) in waves of units x blocks_per_unit (the device profile's `waves`), and a
convolution takes waves x the time of one full wave of its tiles at gmacs_per_s.conv, so latency
steps with the batch size and channel counts. Per layer: op, blocks under the profile's tiling,
waves, fill of the waves (blocks / (waves x capacity)) and the wave model's ms (convolutions;
other layers keep the MAC-rate formula and show '-').

--opencl adds, per layer, the blocks under the opencl tiling (this project's kernels) beside the
OpenCL target's kernels for that layer: name, global size, work-group size and work-groups, as
planned with the fixed work-group sizes it uses on CPU devices such as PoCL (no device needed);
with --run, as enqueued on the host's OpenCL device in a real run (on a GPU the driver picks
work-group sizes and the column shows '-'). A layer whose blocks differ from its kernels'
work-groups is marked '*' (a padded general convolution adds a pad2d kernel; a concatenation
whose inputs cannot be written in place adds copies).

--batches A-B prints the model's GPU time (convolutions by waves, fully-connected and recurrent
layers by the MAC-rate formula; no per-layer overhead or frequency scaling) per batch size, what
one more input adds, the time per input, and the convolutions' blocks, waves and fill; --layer
NAME restricts it to one layer, whose time is flat between wave boundaries and steps at them.
)";

struct WavesOptions {
  std::string model;
  std::string device = "cloud_gpu";
  std::string target;  // "" = the device's first gpu target
  std::string precision = "fp32";
  std::string model_dir;
  int batch = 1;
  std::string batches;  // "A-B"
  std::string layer;    // with batches: one layer only
  bool opencl = false;
  bool run = false;
  bool json = false;
};

[[maybe_unused]] std::string Dims(const std::vector<size_t>& v) {
  if (v.empty()) return "-";
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += "x";
    s += std::to_string(v[i]);
  }
  return s;
}

struct Layer {
  std::string name;
  int node = 0;
  LayerDescriptor desc;
};

#if AUTOSCALE_HAVE_OPENCL
// `device` receives where the launches come from, in words.
Result<std::vector<OpenClLaunch>> OpenClLaunches(const ModelSpec& spec, int batch, bool run,
                                                 std::string* device) {
  *device = "planned, fixed work-group sizes";
  if (!run) return PlannedLaunches(spec, batch);
  OpenClOptions o;
  auto target = OpenClTarget::Create(o);
  if (!target->description().available) {
    return Status::Unavailable("--run: no OpenCL device: " +
                               target->description().unavailable_reason);
  }
  HostTensor input;
  input.shape = {batch};
  for (int64_t d : spec.input_shape) input.shape.push_back(d);
  input.data.assign(static_cast<size_t>(NumElements(input.shape)), 0.5f);
  ASSIGN_OR_RETURN(InferenceResult r, target->Run(spec, Precision::kFp32, 0, input));
  (void)r;
  *device = "as enqueued on " + target->description().device;
  return target->LastLaunches(spec, Precision::kFp32);
}
#endif

int PrintBatches(const std::vector<Layer>& layers, const TargetProfile& t, Precision p,
                 const WavesOptions& o) {
  int lo = 0, hi = 0;
  if (std::sscanf(o.batches.c_str(), "%d-%d", &lo, &hi) != 2 || lo < 1 || hi < lo || hi > 4096) {
    return Fail(Status::InvalidArgument("--batches '" + o.batches +
                                        "': expected A-B with 1 <= A <= B <= 4096"));
  }
  std::vector<LayerDescriptor> descs;
  for (const Layer& l : layers) {
    if (o.layer.empty() || l.name == o.layer) descs.push_back(l.desc);
  }
  if (descs.empty()) {
    std::vector<std::string> names;
    for (const Layer& l : layers) names.push_back(l.name);
    return Fail(Status::NotFound("no layer '" + o.layer + "' in " + o.model +
                                 " (its layers: " + JoinNames(names) + ")"));
  }
  const int pi = static_cast<int>(p);
  nlohmann::json rows = nlohmann::json::array();
  if (!o.json) {
    std::printf(
        "%s%s on %s/%s (%s, %d units x %d blocks, %s tiling): GPU compute by batch size; "
        "dms: the time one more input adds\n",
        o.model.c_str(), o.layer.empty() ? "" : (" layer " + o.layer).c_str(), o.device.c_str(),
        t.name.c_str(), std::string(PrecisionName(p)).c_str(), t.waves.units,
        t.waves.blocks_per_unit, std::string(GpuTilingName(t.waves.tiling)).c_str());
    std::printf("%6s %10s %9s %11s %9s %8s %6s\n", "batch", "ms", "dms", "ms/input", "blocks",
                "waves", "fill");
  }
  double prev_ms = 0;
  for (int b = lo; b <= hi; ++b) {
    const double ms = ModelGpuMs(descs, b, t.waves, t.gmacs_per_s[0][pi], t.gmacs_per_s[1][pi],
                                 t.gmacs_per_s[2][pi]);
    int64_t waves = 0, blocks = 0, slots = 0;
    for (const LayerDescriptor& d : descs) {
      if (!WaveTimed(d)) continue;
      const GpuWaves w = LayerGpuWaves(d, b, t.waves);
      waves += w.waves;
      blocks += w.blocks;
      slots += w.waves * w.capacity;
    }
    const double fill = slots > 0 ? static_cast<double>(blocks) / slots : 0.0;
    if (o.json) {
      rows.push_back({{"batch", b},
                      {"ms", ms},
                      {"ms_per_input", ms / b},
                      {"blocks", blocks},
                      {"waves", waves},
                      {"fill", fill}});
    } else {
      std::printf("%6d %10.4f %9s %11.5f %9lld %8lld %6.3f\n", b, ms,
                  b == lo ? "-" : FormatDouble(ms - prev_ms, 4).c_str(), ms / b,
                  static_cast<long long>(blocks), static_cast<long long>(waves), fill);
    }
    prev_ms = ms;
  }
  if (o.json) std::cout << rows.dump(2) << "\n";
  return 0;
}

int RunWaves(const WavesOptions& o) {
  auto shipped = ShippedConfigDir();
  if (!shipped.ok()) return Fail(shipped.status());
  ProfileCatalog catalog(*shipped);
  auto device = catalog.Device(o.device);
  if (!device.ok()) return Fail(device.status());
  const TargetProfile* t = nullptr;
  for (const TargetProfile& c : (*device)->targets) {
    if (c.kind == TargetKind::kGpu && (o.target.empty() || c.name == o.target)) {
      t = &c;
      break;
    }
  }
  if (t == nullptr) {
    return Fail(Status::NotFound("device '" + o.device + "' has no gpu target" +
                                 (o.target.empty() ? "" : " named '" + o.target + "'")));
  }
  if (!t->waves.enabled()) {
    return Fail(Status::InvalidArgument(
        "target '" + t->name + "' of device '" + o.device +
        "' has no `waves` in its profile: the cost model keeps the MAC-rate formula there"));
  }
  auto p = ParsePrecision(o.precision);
  if (!p.ok()) return Fail(p.status());
  if (!t->Supports(*p)) {
    return Fail(Status::InvalidArgument("target '" + t->name + "' does not run " + o.precision));
  }
  if (o.batch < 1) return Fail(Status::InvalidArgument("--batch must be at least 1"));
  ModelStore store(o.model_dir);
  auto spec = store.Get(o.model);
  if (!spec.ok()) return Fail(spec.status());
  if (!(*spec)->is_graph()) {
    return Fail(Status::InvalidArgument("model '" + o.model + "' has no graph: no layers"));
  }
  const Graph& g = (*spec)->graph->graph;
  std::vector<Layer> layers;
  for (GraphLayer& l : GraphLayers(g)) {
    const GraphNode& n = g.node(l.nodes.front());
    layers.push_back({n.name.empty() ? "node" + std::to_string(l.nodes.front()) : n.name,
                      l.nodes.front(), std::move(l.desc)});
  }
  if (!o.batches.empty()) return PrintBatches(layers, *t, *p, o);

  // The OpenCL kernels of each layer, by the graph node of their step.
  std::map<int, std::vector<std::pair<std::string, int64_t>>> kernels;  // node -> (text, groups)
  std::map<int, std::vector<nlohmann::json>> kernels_json;
  bool driver_sizes = false;
  std::string where;  // where the launches come from
  if (o.opencl) {
#if AUTOSCALE_HAVE_OPENCL
    auto launches = OpenClLaunches(**spec, o.batch, o.run, &where);
    if (!launches.ok()) return Fail(launches.status());
    for (const OpenClLaunch& k : *launches) {
      if (k.node < 0) continue;  // FP16 input/output conversions
      driver_sizes = driver_sizes || k.local.empty();
      kernels[k.node].push_back(
          {k.kernel + " " + Dims(k.global) + "/" + Dims(k.local), k.work_groups});
      kernels_json[k.node].push_back({{"kernel", k.kernel},
                                      {"global", k.global},
                                      {"local", k.local},
                                      {"work_groups", k.work_groups}});
    }
#else
    return Fail(
        Status::Unavailable("--opencl: this build has no OpenCL target "
                            "(configure with -DAUTOSCALE_WITH_OPENCL=ON)"));
#endif
  }
  GpuWaveParams ocl = t->waves;
  ocl.tiling = GpuTiling::kOpenCl;
  const int pi = static_cast<int>(*p);
  const double rate = t->gmacs_per_s[0][pi];
  nlohmann::json rows = nlohmann::json::array();
  if (!o.json) {
    std::printf("%s batch %d on %s/%s (%s): %d units x %d blocks = capacity %lld, %s tiling\n",
                o.model.c_str(), o.batch, o.device.c_str(), t->name.c_str(), o.precision.c_str(),
                t->waves.units, t->waves.blocks_per_unit,
                static_cast<long long>(t->waves.capacity()),
                std::string(GpuTilingName(t->waves.tiling)).c_str());
    std::printf("%-4s %-28s %-15s %9s %6s %6s %9s", "#", "layer", "op", "blocks", "waves", "fill",
                "ms");
    if (o.opencl) std::printf(" %10s %10s  %s", "ocl_blocks", "work_grps", "kernels");
    std::printf("\n");
  }
  double total_ms = 0;
  int64_t total_ocl = 0, total_groups = 0, same = 0, compared = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    const GpuWaves w = LayerGpuWaves(l.desc, o.batch, t->waves);
    const bool timed = WaveTimed(l.desc);
    const double ms = timed ? LayerWaveMs(l.desc, o.batch, t->waves, rate) : 0.0;
    total_ms += ms;
    const int64_t ob = LayerGpuBlocks(l.desc, o.batch, ocl).blocks;
    int64_t groups = 0;
    std::string ktext;
    for (const auto& [text, wg] : kernels[l.node]) {
      groups += std::max<int64_t>(wg, 0);
      if (!ktext.empty()) ktext += ", ";
      ktext += text;
    }
    // The layer's own kernel: a padded convolution's conv kernel is its last.
    const auto& ks = kernels[l.node];
    const int64_t main_groups = ks.empty() ? 0 : std::max<int64_t>(ks.back().second, 0);
    const bool match = ob == main_groups && (ks.size() <= 1 || l.desc.op == "conv");
    if (o.opencl && !driver_sizes) {
      total_ocl += ob;
      total_groups += groups;
      ++compared;
      if (match) ++same;
    }
    if (o.json) {
      nlohmann::json r = {{"layer", l.name},
                          {"op", l.desc.op},
                          {"blocks", w.blocks},
                          {"waves", w.waves},
                          {"fill", w.fill},
                          {"capacity", w.capacity},
                          {"ms", timed ? nlohmann::json(ms) : nlohmann::json(nullptr)}};
      if (o.opencl) {
        r["opencl_blocks"] = ob;
        r["kernels"] = kernels_json[l.node];
      }
      rows.push_back(std::move(r));
      continue;
    }
    std::printf("%-4zu %-28s %-15s %9lld %6lld %6.3f %9s", i + 1, l.name.c_str(), l.desc.op.c_str(),
                static_cast<long long>(w.blocks), static_cast<long long>(w.waves), w.fill,
                timed ? FormatDouble(ms, 4).c_str() : "-");
    if (o.opencl) {
      std::printf(" %10lld %10s  %s%s", static_cast<long long>(ob),
                  driver_sizes ? "-" : std::to_string(groups).c_str(),
                  ktext.empty() ? "(none)" : ktext.c_str(), !driver_sizes && !match ? " *" : "");
    }
    std::printf("\n");
  }
  if (o.json) {
    std::cout << rows.dump(2) << "\n";
    return 0;
  }
  std::printf("convolutions by waves: %.4f ms at %.6g GMAC/s (batch %d)\n", total_ms, rate,
              o.batch);
  if (o.opencl && !driver_sizes) {
    std::printf(
        "OpenCL (%s): %lld of %lld layers' blocks equal their kernel's work-groups; "
        "blocks %lld, work-groups %lld (all kernels)\n",
        where.c_str(), static_cast<long long>(same), static_cast<long long>(compared),
        static_cast<long long>(total_ocl), static_cast<long long>(total_groups));
  }
  return 0;
}

}  // namespace

cli::Command AddWavesCommand(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "waves",
      "a model's GPU waves and tails per layer or per batch size (the tail-effect model), "
      "beside the OpenCL target's work-groups");
  sub->footer(kWavesAbout);
  auto o = std::make_shared<WavesOptions>();
  sub->add_option("MODEL", o->model, "a zoo model, or a model of --model-dir")->required();
  sub->add_option("--device", o->device, "the device profile whose gpu target is modelled")
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_option("--target", o->target, "the gpu target (default: the device's first)")
      ->type_name("NAME");
  sub->add_option("--precision", o->precision, "the rate's precision")->capture_default_str();
  sub->add_option("--model-dir", o->model_dir, "TorchScript models (NAME.pt + NAME.yaml)")
      ->type_name("DIR");
  sub->add_option("--batch", o->batch, "batch size of the per-layer listing")
      ->capture_default_str();
  sub->add_option("--batches", o->batches,
                  "instead of layers: the model's GPU time for each batch size A..B")
      ->type_name("A-B");
  sub->add_option("--layer", o->layer,
                  "with --batches: that layer alone (a name the listing shows)")
      ->type_name("NAME");
  sub->add_flag("--opencl", o->opencl,
                "add the OpenCL target's kernels and work-groups per layer (planned)");
  sub->add_flag("--run", o->run,
                "with --opencl: run once on the host's OpenCL device (PoCL on a CPU) and report "
                "the kernels as enqueued");
  sub->add_flag("--json", o->json, "print JSON rows instead of a table");
  return {sub, [o] { return RunWaves(*o); }};
}

}  // namespace autoscale
