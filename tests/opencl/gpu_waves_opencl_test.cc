// The GPU tail-effect model's block counts (env/gpu_waves.h, opencl tiling) against the OpenCL
// target's work-groups, layer by layer over the zoo: as planned (no device needed), and as the
// executor enqueued them on the host's OpenCL device (PoCL on a CPU), where there is one.
//
// Exact wherever a layer runs as one kernel. The documented differences: a general convolution
// with padding runs a pad2d kernel before its own (the model counts the convolution's blocks,
// the work that carries its MACs); a concatenation whose inputs cannot be written in place
// copies them (the model counts none).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "env/gpu_waves.h"
#include "targets/layer_profiler.h"
#include "targets/opencl/opencl_target.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

ModelSpec ZooSpec(const std::string& name) {
  Result<Graph> g = BuildZooModel(name);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  Result<WeightedGraph> wg = PrepareForInference(*g);
  EXPECT_TRUE(wg.ok()) << wg.status().ToString();
  ModelSpec m;
  m.name = name;
  m.graph = std::make_shared<const WeightedGraph>(std::move(wg).value());
  m.input_shape = g->input_shape();
  return m;
}

GpuWaveParams OpenClTiling() {
  GpuWaveParams p;
  p.units = 2;
  p.blocks_per_unit = 16;
  p.tiling = GpuTiling::kOpenCl;
  return p;
}

struct Comparison {
  int layers = 0, exact = 0, padded = 0, copied = 0;
  int64_t blocks = 0, work_groups = 0;
};

// Compares every layer of `spec` with the launches of its node; fails on any difference other
// than the documented ones.
Comparison Compare(const ModelSpec& spec, int batch, const std::vector<OpenClLaunch>& launches) {
  std::map<int, std::vector<const OpenClLaunch*>> by_node;
  for (const OpenClLaunch& l : launches) {
    if (l.node >= 0) by_node[l.node].push_back(&l);
  }
  Comparison c;
  for (const GraphLayer& layer : GraphLayers(spec.graph->graph)) {
    const LayerDescriptor& d = layer.desc;
    SCOPED_TRACE(spec.name + " batch " + std::to_string(batch) + " node " +
                 std::to_string(layer.nodes.front()) + " " + d.op);
    const int64_t blocks = LayerGpuBlocks(d, batch, OpenClTiling()).blocks;
    const std::vector<const OpenClLaunch*>& ks = by_node[layer.nodes.front()];
    ++c.layers;
    c.blocks += blocks;
    for (const OpenClLaunch* k : ks) c.work_groups += k->work_groups;
    if (d.op == "concat") {
      EXPECT_EQ(blocks, 0);
      for (const OpenClLaunch* k : ks) EXPECT_EQ(k->kernel, "copy_view");
      if (ks.empty()) {
        ++c.exact;
      } else {
        ++c.copied;
      }
      continue;
    }
    if (ks.empty()) {
      EXPECT_EQ(blocks, 0) << "no kernel, but the model counts blocks";
      ++c.exact;
      continue;
    }
    if (ks.size() == 2) {
      EXPECT_EQ(d.op, "conv");
      EXPECT_EQ(ks[0]->kernel, "pad2d");
      ++c.padded;
    } else {
      EXPECT_EQ(ks.size(), 1u);
      ++c.exact;
    }
    EXPECT_EQ(blocks, ks.back()->work_groups) << ks.back()->kernel;
  }
  return c;
}

TEST(GpuWavesOpenClTest, BlocksEqualPlannedWorkGroupsOverTheZoo) {
  for (const std::string& name : ZooModelNames()) {
    if (name == "kws_lstm") continue;  // the OpenCL target runs no LSTM
    const ModelSpec spec = ZooSpec(name);
    for (int batch : {1, 3}) {
      auto launches = PlannedLaunches(spec, batch);
      ASSERT_TRUE(launches.ok()) << launches.status().ToString();
      const Comparison c = Compare(spec, batch, *launches);
      EXPECT_EQ(c.exact + c.padded + c.copied, c.layers);
      EXPECT_GT(c.exact, 0);
      if (batch == 1) {
        std::printf(
            "%-16s layers %3d: exact %3d, conv + pad2d %2d, concat copies %d; blocks "
            "%lld, work-groups %lld\n",
            name.c_str(), c.layers, c.exact, c.padded, c.copied, static_cast<long long>(c.blocks),
            static_cast<long long>(c.work_groups));
      }
    }
  }
}

TEST(GpuWavesOpenClTest, ResNet50AndMobileNetV2ConvolutionsMatchExactly) {
  // The networks the report quotes: every convolution's blocks are its kernel's work-groups.
  for (const char* name : {"resnet50", "mobilenet_v2"}) {
    const ModelSpec spec = ZooSpec(name);
    auto launches = PlannedLaunches(spec, 1);
    ASSERT_TRUE(launches.ok());
    const Comparison c = Compare(spec, 1, *launches);
    EXPECT_EQ(c.copied, 0) << name;
    EXPECT_EQ(c.exact + c.padded, c.layers) << name;
  }
}

TEST(GpuWavesOpenClTest, EnqueuedWorkGroupsOnTheDeviceAreThePlanned) {
  OpenClOptions o;
  auto target = OpenClTarget::Create(o);
  if (!target->available()) {
    GTEST_SKIP() << "no OpenCL device: " << target->description().unavailable_reason;
  }
  for (const char* name : {"mobilenet_v2", "resnet50"}) {
    const ModelSpec spec = ZooSpec(name);
    EXPECT_EQ(target->LastLaunches(spec, Precision::kFp32).status().code(), StatusCode::kNotFound);
    const int batch = 2;
    const HostTensor input = MakeHostInput(spec, 7, batch);
    auto r = target->Run(spec, Precision::kFp32, 0, input);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto run = target->LastLaunches(spec, Precision::kFp32);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    auto planned = PlannedLaunches(spec, batch);
    ASSERT_TRUE(planned.ok());
    ASSERT_EQ(run->size(), planned->size()) << name;
    const bool fixed = !run->front().local.empty();
    for (size_t i = 0; i < run->size(); ++i) {
      EXPECT_EQ((*run)[i].kernel, (*planned)[i].kernel) << i;
      EXPECT_EQ((*run)[i].node, (*planned)[i].node) << i;
      if (fixed) {
        EXPECT_EQ((*run)[i].work_groups, (*planned)[i].work_groups) << i;
      }
    }
    if (!fixed) continue;  // a GPU: the driver chose the work-group sizes
    const Comparison c = Compare(spec, batch, *run);
    EXPECT_EQ(c.exact + c.padded, c.layers) << name;
  }
}

}  // namespace
}  // namespace autoscale
