// docs/configuration.md is printed from the key tables the loaders check against; this test
// fails when the checked-in file differs, and says how to regenerate it.
#include "schema/config_reference.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "env/profile_keys.h"
#include "test_util.h"

namespace autoscale {
namespace {

TEST(ConfigReference, CheckedInDocumentMatchesTheKeyTables) {
  const std::string path = std::string(AUTOSCALE_SOURCE_DIR) + "/docs/configuration.md";
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string expected = ConfigReferenceMarkdown();
  if (ss.str() != expected) {
    const std::string fresh =
        testing::WriteFile(testing::TempDir("config_reference") + "/configuration.md", expected);
    FAIL() << path << " differs from the key tables the loaders check against (or is missing). "
           << "Regenerate it: `" << kConfigReferenceCommand << "` (or: cp " << fresh << " "
           << path << "), and commit it with the change to the tables.";
  }
}

// The reference lists every key a loader accepts, from the same table it checks with.
TEST(ConfigReference, ListsEveryKeyOfEveryTable) {
  const std::string md = ConfigReferenceMarkdown();
  for (const KeyTable* t : DeviceProfileTables()) {
    for (const std::string& key : t->names()) {
      EXPECT_NE(md.find("| `" + key + "` |"), std::string::npos) << key;
    }
  }
  for (const char* key : {"`compute_noise` | number | [0, 2] | 0.05", "`epsilon_start` | number",
                          "`assumed_wifi_rssi_dbm`", "`input_shape`", "`window_s`"}) {
    EXPECT_NE(md.find(key), std::string::npos) << key;
  }
}

// A table's own default must pass its own check: a default outside the range the loader enforces
// would be a value no file could write.
TEST(ConfigReference, EveryDefaultLiesInItsKeysRange) {
  int defaults = 0;
  for (const KeyTable* t : AllKeyTables()) {
    for (const KeySpec& k : t->keys()) {
      if (!k.def_number || (k.type != KeyType::kNumber && k.type != KeyType::kInteger)) continue;
      ++defaults;
      EXPECT_GE(*k.def_number, k.lo) << t->path() << "." << k.name;
      EXPECT_LE(*k.def_number, k.hi) << t->path() << "." << k.name;
      EXPECT_FALSE(k.required) << t->path() << "." << k.name << " is required and has a default";
    }
  }
  EXPECT_GE(defaults, 50);
}

}  // namespace
}  // namespace autoscale
