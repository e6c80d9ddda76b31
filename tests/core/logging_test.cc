#include "core/logging.h"

#include <gtest/gtest.h>

namespace autoscale {
namespace {

TEST(Logging, LevelsAreCheckedAndSet) {
  EXPECT_TRUE(SetUpLogging("autoscale-test", "warning").ok());
  EXPECT_EQ(Log().name(), "autoscale-test");
  EXPECT_EQ(Log().level(), spdlog::level::warn);
  EXPECT_FALSE(Log().should_log(spdlog::level::info));
  EXPECT_TRUE(Log().should_log(spdlog::level::err));
  Status bad = SetUpLogging("autoscale-test", "loud");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("unknown log level 'loud'"), std::string::npos) << bad.message();
  EXPECT_EQ(Log().level(), spdlog::level::warn);  // unchanged by a refused level
  for (const std::string& name : LogLevelNames()) {
    ASSERT_TRUE(SetUpLogging("autoscale-test", name).ok()) << name;
    EXPECT_EQ(spdlog::level::to_string_view(Log().level()), name);
  }
}

}  // namespace
}  // namespace autoscale
