// The model store: a user's TorchScript file named like a zoo model is the user's model, never
// silently the zoo's seeded graph (issue 11, "no silent substitution").
#include "targets/model_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_util.h"

namespace autoscale {
namespace {

TEST(ModelStore, AUserFileNamedLikeAZooModelIsTheUsersModel) {
  const std::string dir = testing::TempDir("model_store_shadow");
  // Only the file's existence and the sidecar are read here: the store does not load torch.
  testing::WriteFile(dir + "/mobilenet_v2.pt", "a user's trained network");
  testing::WriteFile(dir + "/mobilenet_v2.yaml", "input_shape: [3, 224, 224]\n");
  ModelStore store(dir);
  EXPECT_TRUE(store.ShadowsZoo("mobilenet_v2"));
  EXPECT_FALSE(store.ShadowsZoo("resnet18"));
  auto spec = store.Get("mobilenet_v2");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_FALSE((*spec)->is_graph());
  EXPECT_EQ((*spec)->torchscript_path, dir + "/mobilenet_v2.pt");
  auto zoo = store.Get("resnet18");  // not shadowed: still the zoo's
  ASSERT_TRUE(zoo.ok());
  EXPECT_TRUE((*zoo)->is_graph());
  const std::vector<std::string> names = store.Names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "mobilenet_v2"), 1);

  ModelStore no_folder;
  EXPECT_FALSE(no_folder.ShadowsZoo("mobilenet_v2"));
  auto plain = no_folder.Get("mobilenet_v2");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->is_graph());
}

}  // namespace
}  // namespace autoscale
