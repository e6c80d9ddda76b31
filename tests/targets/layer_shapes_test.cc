// The shipped model profiles' `layer_shapes` (configs/models) against the zoo graphs they were
// derived from (`autoscale models --layers NAME --shapes`): row for row the descriptors the
// executors run, so that the simulator's GPU wave model times the networks the targets run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "env/profiles.h"
#include "targets/layer_profiler.h"
#include "zoo/zoo.h"

namespace autoscale {
namespace {

TEST(LayerShapesTest, ShippedModelProfilesMatchTheZooGraphs) {
  for (const std::string& name : ZooModelNames()) {
    SCOPED_TRACE(name);
    auto profile =
        LoadModelProfile(std::string(AUTOSCALE_SOURCE_DIR) + "/configs/models/" + name + ".yaml");
    ASSERT_TRUE(profile.ok()) << profile.status().ToString();
    auto graph = BuildZooModel(name);
    ASSERT_TRUE(graph.ok()) << graph.status().ToString();
    const std::vector<LayerDescriptor> zoo = LayerDescriptors(*graph);
    ASSERT_EQ(profile->layer_descriptors.size(), zoo.size())
        << "regenerate with `autoscale models --layers " << name << " --shapes`";
    for (size_t i = 0; i < zoo.size(); ++i) {
      EXPECT_EQ(profile->layer_descriptors[i].Key(), zoo[i].Key()) << "row " << i;
    }
    EXPECT_EQ(profile->input_elements, static_cast<double>(NumElements(graph->input_shape())));
  }
}

}  // namespace
}  // namespace autoscale
