#include "core/registry.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace autoscale {
namespace {

using IntFactory = std::function<int()>;

Registry<IntFactory> MakePolicies() {
  Registry<IntFactory> r("policy");
  r.Register("q_learning", [] { return 1; });
  r.Register("ondemand", [] { return 2; });
  r.Register("performance", [] { return 3; });
  return r;
}

TEST(RegistryTest, FindsRegistered) {
  auto reg = MakePolicies();
  auto f = reg.Find("ondemand");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((**f)(), 2);
  auto g = reg.Find("q_learning");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((**g)(), 1);
}

TEST(RegistryTest, NamesAreSorted) {
  auto reg = MakePolicies();
  EXPECT_EQ(reg.Names(), (std::vector<std::string>{"ondemand", "performance", "q_learning"}));
  Registry<IntFactory> empty("target");
  EXPECT_TRUE(empty.Names().empty());
}

TEST(RegistryTest, ReRegisterReplaces) {
  auto reg = MakePolicies();
  reg.Register("ondemand", [] { return 20; });
  EXPECT_EQ(reg.Names().size(), 3u);
  auto f = reg.Find("ondemand");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((**f)(), 20);
}

TEST(RegistryTest, UnknownNameSuggestsNearestAndListsValid) {
  auto reg = MakePolicies();
  auto f = reg.Find("q_learnig");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.status().message(),
            "unknown policy 'q_learnig'; did you mean 'q_learning'? "
            "(valid policy names: ondemand, performance, q_learning)");
}

TEST(RegistryTest, UnknownNameWithNoCloseMatch) {
  auto reg = MakePolicies();
  auto f = reg.Find("zzzzzzzzzzzzzzzz");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  const std::string msg = f.status().message();
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
  EXPECT_EQ(msg,
            "unknown policy 'zzzzzzzzzzzzzzzz' (valid policy names: ondemand, performance, "
            "q_learning)");
}

TEST(RegistryTest, LookupIsCaseSensitive) {
  auto reg = MakePolicies();
  auto f = reg.Find("OnDemand");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("did you mean 'ondemand'?"), std::string::npos)
      << f.status().message();
}

TEST(RegistryTest, EmptyRegistry) {
  Registry<IntFactory> empty("target");
  auto f = empty.Find("cpu");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "unknown target 'cpu' (valid target names: )");
}

}  // namespace
}  // namespace autoscale
