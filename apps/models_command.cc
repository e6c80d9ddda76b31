// `autoscale models`: the zoo and a folder's TorchScript models with their features, or one
// model's layers; as a table or as JSON.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "core/model_repository.h"
#include "core/strings.h"
#include "env/layer_predictor.h"
#include "env/profiles.h"
#include "targets/layer_profiler.h"
#include "targets/model_store.h"
#include "zoo/features.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace {
constexpr const char* kModelsAbout =
    R"(Lists the model zoo and the TorchScript models of --model-dir (NAME.pt with a NAME.yaml sidecar
declaring input_shape): input shape, layer counts by class (conv / fc / recurrent), MACs and
parameters of one inference, and activation sizes (sum over layers, largest layer), computed
from each model's graph. MACs count as torchvision's do: a convolution's output elements x
kernel area x input channels / groups, a linear layer's outputs x inputs, plus LSTM gates.
A TorchScript model whose import could not map every operation is marked incomplete and its
uncounted operations are named; its figures are then null in --json (the counted part is under
"counted"), never silently low. configs/models holds the zoo's figures with their sources.
)";

struct ModelsOptions {
  std::string model_dir;
  std::string profile_path;  // --profile FILE
  std::string layers_of;  // --layers NAME
  bool json = false;
  bool shapes = false;  // --shapes: NAME's layers as a model profile's layer_shapes rows
  std::shared_ptr<const DeviceProfile> profile;  // --profile FILE
};

// What the command says about one model.
struct ModelEntry {
  std::string name;
  std::string source;  // "zoo" or "torchscript"
  std::string file;    // the user's .pt; empty for the zoo
  std::vector<int64_t> input_shape;
  bool has_graph = false;  // runs as the graph IR everywhere (else as TorchScript on libtorch)
  // Null when this build cannot read TorchScript (no libtorch): nothing could be counted.
  std::shared_ptr<const ModelFeatures> features;
  // As the executors run it (targets/layer_profiler.h); empty without a graph.
  std::vector<LayerDescriptor> layers;
  std::vector<std::string> layer_names;  // each layer's main graph node
  double input_elements = 0, output_elements = 0;
};

void SetLayers(const Graph& g, ModelEntry* e) {
  for (GraphLayer& l : GraphLayers(g)) {
    const GraphNode& n = g.node(l.nodes.front());
    e->layer_names.push_back(n.name.empty() ? "node " + std::to_string(l.nodes.front()) : n.name);
    e->layers.push_back(std::move(l.desc));
  }
  e->input_elements = static_cast<double>(NumElements(g.input_shape()));
  e->output_elements = static_cast<double>(NumElements(g.node(g.output()).out_shape));
}

bool Complete(const ModelEntry& e) { return e.features && e.features->complete; }

std::vector<std::string> Uncounted(const ModelEntry& e) {
  if (!e.features) return {"all: this build has no TorchScript importer (built without libtorch)"};
  return e.features->uncounted;
}

Result<ModelEntry> Describe(ModelStore& store, const std::string& name) {
  ModelEntry e;
  e.name = name;
  if (IsZooModel(name) && !store.ShadowsZoo(name)) {
    // The zoo's graph alone: its features need no weights.
    ASSIGN_OR_RETURN(Graph g, BuildZooModel(name));
    e.source = "zoo";
    e.input_shape = g.input_shape();
    e.has_graph = true;
    e.features = std::make_shared<const ModelFeatures>(ComputeFeatures(g));
    SetLayers(g, &e);
    return e;
  }
  auto spec = store.Get(name);
  if (!spec.ok()) {
    // Every error about a user's file names it.
    auto files = FindUserModelFiles(store.model_dir(), name);
    if (files.ok() && spec.status().message().find(files->model) == std::string::npos) {
      return spec.status().WithPrefix(files->model);
    }
    return spec.status();
  }
  const ModelSpec& s = **spec;
  e.source = s.torchscript_path.empty() ? "zoo" : "torchscript";
  e.file = s.torchscript_path;
  e.input_shape = s.input_shape;
  e.has_graph = s.is_graph();
  e.features = s.features;
  if (!e.features && s.graph) {
    e.features = std::make_shared<const ModelFeatures>(ComputeFeatures(s.graph->graph));
  }
  if (s.is_graph()) SetLayers(s.graph->graph, &e);
  return e;
}

// The figures of `f` as JSON numbers.
void PutFigures(const ModelFeatures& f, nlohmann::json* j) {
  (*j)["conv_layers"] = f.conv_layers;
  (*j)["fc_layers"] = f.fc_layers;
  (*j)["recurrent_layers"] = f.recurrent_layers;
  (*j)["ops"] = f.layers.size();
  (*j)["macs"] = f.macs;
  (*j)["conv_macs"] = f.macs - f.fc_macs - f.recurrent_macs;
  (*j)["fc_macs"] = f.fc_macs;
  (*j)["recurrent_macs"] = f.recurrent_macs;
  (*j)["params"] = f.params;
  (*j)["input_elements"] = f.input_elements;
  (*j)["output_elements"] = f.output_elements;
  (*j)["activation_elements"] = f.activation_elements;
  (*j)["peak_activation_elements"] = f.peak_activation_elements;
}

// One model's JSON object. Figures are null unless every operation was counted; a partial
// import's counted part is under "counted" (lower bounds). Later additions (a latency
// prediction per target and precision) belong here.
nlohmann::json ModelJson(const ModelEntry& e) {
  nlohmann::json j;
  j["name"] = e.name;
  j["source"] = e.source;
  if (!e.file.empty()) j["file"] = e.file;
  j["input_shape"] = e.input_shape;
  j["graph"] = e.has_graph;
  j["complete"] = Complete(e);
  j["uncounted"] = Uncounted(e);
  nlohmann::json figures;
  if (e.features) PutFigures(*e.features, &figures);
  if (Complete(e)) {
    j.update(figures);
  } else {
    for (const char* k : {"conv_layers", "fc_layers", "recurrent_layers", "ops", "macs",
                          "conv_macs", "fc_macs", "recurrent_macs", "params", "input_elements",
                          "output_elements", "activation_elements", "peak_activation_elements"}) {
      j[k] = nullptr;
    }
    if (e.features) j["counted"] = figures;
  }
  return j;
}

// {TARGET: {PRECISION: ms}} from the profile's layer models; null without a graph.
nlohmann::json PredictedJson(const ModelEntry& e, const DeviceProfile& d) {
  if (!e.has_graph || e.layers.empty()) return nullptr;
  nlohmann::json out = nlohmann::json::object();
  for (const TargetProfile& t : d.targets) {
    for (int p = 0; p < kNumPrecisions; ++p) {
      const LayerFit* fit = t.layer_model[p].get();
      if (fit == nullptr || fit->empty()) continue;
      out[t.name][std::string(PrecisionName(static_cast<Precision>(p)))] =
          PredictModelMs(*fit, e.layers, e.input_elements, e.output_elements);
    }
  }
  return out;
}

nlohmann::json LayersJson(const ModelFeatures& f) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerInfo& l : f.layers) {
    layers.push_back({{"name", l.name},
                      {"type", l.type},
                      {"in_channels", l.in_channels},
                      {"out_channels", l.out_channels},
                      {"kernel", {l.kernel_h, l.kernel_w}},
                      {"stride", {l.stride_h, l.stride_w}},
                      {"dilation", {l.dilation_h, l.dilation_w}},
                      {"groups", l.groups},
                      {"in_hw", {l.in_h, l.in_w}},
                      {"out_hw", {l.out_h, l.out_w}},
                      {"macs", l.macs},
                      {"params", l.params},
                      {"output_elements", l.output_elements}});
  }
  return layers;
}

int PrintLayers(ModelStore& store, const ModelsOptions& o) {
  auto e = Describe(store, o.layers_of);
  if (!e.ok()) return Fail(e.status());
  if (o.shapes) {
    if (!e->has_graph) {
      return Fail(Status::InvalidArgument("model '" + e->name +
                                          "' has no graph: its layers cannot be described"));
    }
    std::printf("layer_shapes:  # derived from the %s graph by `autoscale models --layers %s "
                "--shapes`; columns: op, activation, in_channels, out_channels, kernel_h, "
                "kernel_w, stride_h, stride_w, groups, dilation_h, dilation_w, in_h, in_w, out_h, "
                "out_w, inputs, macs, params, input_elements, output_elements\n",
                e->source == "zoo" ? "zoo" : e->file.c_str(), e->name.c_str());
    for (size_t i = 0; i < e->layers.size(); ++i) {
      std::printf("  - %s  # %s\n", LayerDescriptorRow(e->layers[i]).c_str(),
                  e->layer_names[i].c_str());
    }
    return 0;
  }
  if (o.json) {
    nlohmann::json j = ModelJson(*e);
    j["layers"] = e->features ? LayersJson(*e->features) : nlohmann::json::array();
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (!e->features) {
    return Fail(Status::Unavailable(e->file + ": " + Uncounted(*e).front()));
  }
  const ModelFeatures& f = *e->features;
  std::printf("%-4s %-26s %-15s %6s %6s %7s %6s %5s %11s %11s %13s %11s\n", "#", "layer", "type",
              "in_c", "out_c", "kernel", "stride", "group", "in_hw", "out_hw", "MACs", "params");
  for (size_t i = 0; i < f.layers.size(); ++i) {
    const LayerInfo& l = f.layers[i];
    auto hw = [](int64_t h, int64_t w) {
      return h ? std::to_string(h) + "x" + std::to_string(w) : std::string("-");
    };
    const std::string kernel =
        l.kernel_h ? std::to_string(l.kernel_h) + "x" + std::to_string(l.kernel_w) : "-";
    const std::string stride =
        l.stride_h ? std::to_string(l.stride_h) + "x" + std::to_string(l.stride_w) : "-";
    std::printf("%-4zu %-26s %-15s %6lld %6lld %7s %6s %5d %11s %11s %13lld %11lld\n", i + 1,
                l.name.c_str(), l.type.c_str(), static_cast<long long>(l.in_channels),
                static_cast<long long>(l.out_channels), kernel.c_str(), stride.c_str(), l.groups,
                hw(l.in_h, l.in_w).c_str(), hw(l.out_h, l.out_w).c_str(),
                static_cast<long long>(l.macs), static_cast<long long>(l.params));
  }
  std::printf("%s (%s%s%s): %zu layers, %.2f M MACs, %.3f M parameters\n", e->name.c_str(),
              e->source.c_str(), e->file.empty() ? "" : " ", e->file.c_str(), f.layers.size(),
              f.macs / 1e6, f.params / 1e6);
  if (!f.complete) {
    std::printf("incomplete: these operations were not counted, so the totals are lower bounds:\n");
    for (const std::string& u : f.uncounted) std::printf("  %s\n", u.c_str());
  }
  return 0;
}

// Files in the folder that look like models but cannot be (names a request could not use).
void WarnUnusable(const std::string& dir) {
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.path().extension() == ".pt" && !IsSafeModelName(f.path().stem().string())) {
      std::cerr << "autoscale models: ignored " << f.path().string()
                << ": model names are letters, digits, '_', '-' and '.', not starting with '.'\n";
    }
  }
}

int ListModels(ModelStore& store, const ModelsOptions& o) {
  if (!o.model_dir.empty()) WarnUnusable(o.model_dir);
  int errors = 0;
  nlohmann::json all = nlohmann::json::array();
  std::vector<std::string> notes;
  if (!o.json) {
    std::printf("%-20s %-12s %-10s %5s %3s %4s %10s %9s %10s %7s %11s %10s\n", "model", "source",
                "input", "conv", "fc", "rec", "MACs(M)", "fc(M)", "params(M)", "layers",
                "act.sum(K)", "act.peak(K)");
  }
  for (const std::string& name : store.Names()) {
    auto e = Describe(store, name);
    if (!e.ok()) {
      ++errors;
      Fail(e.status());
      continue;
    }
    if (o.json) {
      all.push_back(ModelJson(*e));
      if (o.profile) all.back()["predicted_ms"] = PredictedJson(*e, *o.profile);
      continue;
    }
    const std::string shape = ShapeString(e->input_shape);
    if (!e->features) {
      std::printf("%-20s %-12s %-10s %s\n", name.c_str(), e->source.c_str(), shape.c_str(),
                  Uncounted(*e).front().c_str());
      continue;
    }
    const ModelFeatures& f = *e->features;
    std::string shown = name;
    if (!f.complete) {
      shown += "*";
      notes.push_back(name + ": " + JoinNames(f.uncounted));
    }
    std::printf("%-20s %-12s %-10s %5d %3d %4d %10.2f %9.3f %10.3f %7zu %11.1f %10.1f\n",
                shown.c_str(), e->source.c_str(), shape.c_str(), f.conv_layers, f.fc_layers,
                f.recurrent_layers, f.macs / 1e6, f.fc_macs / 1e6, f.params / 1e6, f.layers.size(),
                f.activation_elements / 1e3, f.peak_activation_elements / 1e3);
  }
  if (o.json) std::cout << all.dump(2) << "\n";
  if (!notes.empty()) {
    std::printf("* incomplete import: figures count only the mapped operations; not counted:\n");
    for (const std::string& n : notes) std::printf("  %s\n", n.c_str());
  }
  return errors ? 1 : 0;
}
int RunModels(ModelsOptions& o) {
  if (!o.profile_path.empty()) {
    auto d = LoadDeviceProfile(o.profile_path);
    if (!d.ok()) return Fail(d.status());
    o.profile = std::make_shared<const DeviceProfile>(std::move(*d));
  }
  std::error_code ec;
  if (!o.model_dir.empty() && !std::filesystem::is_directory(o.model_dir, ec)) {
    return Fail(
        Status::NotFound("model folder '" + o.model_dir + "' does not exist or is not a folder"));
  }
  ModelStore store(o.model_dir);
  return o.layers_of.empty() ? ListModels(store, o) : PrintLayers(store, o);
}

}  // namespace

cli::Command AddModelsCommand(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "models", "list the model zoo and a folder's TorchScript models with their features");
  sub->footer(kModelsAbout);
  auto o = std::make_shared<ModelsOptions>();
  sub->add_option("--model-dir", o->model_dir,
                  "TorchScript models; a user's NAME.pt is listed as itself even where the zoo "
                  "has a model of that name")
      ->type_name("DIR");
  sub->add_flag("--json", o->json,
                "print a JSON array, one object per model: name, source (\"zoo\" or "
                "\"torchscript\"), file, input_shape, complete, uncounted, conv_layers, "
                "fc_layers, recurrent_layers, ops, macs, conv_macs, fc_macs, recurrent_macs, "
                "params, input_elements, output_elements, activation_elements, "
                "peak_activation_elements");
  sub->add_option("--layers", o->layers_of,
                  "print NAME's per-layer descriptor (type, channels, kernel, stride, spatial "
                  "size, MACs, parameters); with --json, NAME's object with a \"layers\" array")
      ->type_name("NAME");
  sub->add_flag("--shapes", o->shapes,
                "with --layers: print NAME's layers as the `layer_shapes` rows of a model "
                "profile (configs/models), one commented row per layer as the executors run it");
  sub->add_option("--profile", o->profile_path,
                  "with --json: a device profile (configs/devices, or one `autoscale profile` "
                  "wrote); each model with a graph gets \"predicted_ms\": {TARGET: {PRECISION: "
                  "ms}} from the profile's layer_models (the sum of its layers' predicted times, "
                  "env/layer_predictor.h), {} when the profile has none; null for a model "
                  "without a graph")
      ->type_name("FILE");
  return {sub, [o] { return RunModels(*o); }};
}

}  // namespace autoscale
