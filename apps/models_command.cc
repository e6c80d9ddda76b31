// `autoscale models`: the zoo with its features, or one model's layers.
#include <cstdio>
#include <iostream>

#include "apps/commands.h"
#include "core/strings.h"
#include "zoo/features.h"
#include "zoo/zoo.h"

namespace autoscale {

namespace {
constexpr const char* kModelsUsage = R"(usage: autoscale models [--layers NAME]

Lists the model zoo: input shape, layer counts by class (conv / fc / recurrent), MACs and
parameters of one inference, and activation sizes (sum over layers, largest layer), computed
from each model's graph. configs/models holds the same figures with their sources.

options:
  --layers NAME   print NAME's per-layer descriptor (type, channels, kernel, stride, spatial
                  size, MACs, parameters)
  -h, --help      show this text
)";

int PrintLayers(const std::string& name) {
  auto g = BuildZooModel(name);
  if (!g.ok()) return Fail(g.status());
  const ModelFeatures f = ComputeFeatures(*g);
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
  std::printf("%s: %zu layers, %.2f M MACs, %.3f M parameters\n", name.c_str(), f.layers.size(),
              f.macs / 1e6, f.params / 1e6);
  return 0;
}
}  // namespace

int ModelsCommand(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::cout << kModelsUsage;
      return 0;
    }
    if (args[i] == "--layers") {
      if (i + 1 >= args.size()) {
        std::cerr << "autoscale models: --layers needs a model name\n" << kModelsUsage;
        return 2;
      }
      return PrintLayers(args[i + 1]);
    }
    std::cerr << "autoscale models: unknown argument '" << args[i] << "'\n" << kModelsUsage;
    return 2;
  }
  std::printf("%-15s %-10s %5s %3s %4s %10s %9s %10s %9s %11s %10s\n", "model", "input", "conv",
              "fc", "rec", "MACs(M)", "fc(M)", "params(M)", "layers", "act.sum(K)", "act.peak(K)");
  for (const std::string& name : ZooModelNames()) {
    auto g = BuildZooModel(name);
    if (!g.ok()) return Fail(g.status());
    const ModelFeatures f = ComputeFeatures(*g);
    std::printf("%-15s %-10s %5d %3d %4d %10.2f %9.3f %10.3f %9zu %11.1f %10.1f\n", name.c_str(),
                ShapeString(g->input_shape()).c_str(), f.conv_layers, f.fc_layers,
                f.recurrent_layers, f.macs / 1e6, f.fc_macs / 1e6, f.params / 1e6, f.layers.size(),
                f.activation_elements / 1e3, f.peak_activation_elements / 1e3);
  }
  return 0;
}

}  // namespace autoscale
