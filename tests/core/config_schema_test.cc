// KeyTable: the one description of a map that the loaders check against and the reference prints.
#include "core/config_schema.h"

#include <gtest/gtest.h>

namespace autoscale {
namespace {

using enum KeyType;

const KeyTable& Table() {
  static const KeyTable t("world", "The world.",
                          {
                              Key("noise", kNumber, "relative spread").Range(0, 2).Default(0.05),
                              Key("count", kInteger, "how many").AtLeast(1).Default(3),
                              Key("name", kString, "a name").Required(),
                              Key("mode", kString, "how").Values("a | b").DefaultString("a"),
                              Key("on", kBool, "whether").Default(true),
                              Key("edges", kNumbers, "edges"),
                              Key("sub", kMap, "a map"),
                          });
  return t;
}

Status Check(const std::string& yaml) {
  auto n = ConfigNode::LoadString(yaml, "w.yaml");
  if (!n.ok()) return n.status();
  return Table().Check(*n);
}

TEST(KeyTable, AcceptsAValidMapAndReadsValuesAndDefaults) {
  auto n = ConfigNode::LoadString("name: x\nnoise: 0.5\n", "w.yaml");
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(Table().Check(*n).ok());
  EXPECT_EQ(*Table().Number(*n, "noise"), 0.5);
  EXPECT_EQ(*Table().Integer(*n, "count"), 3);
  EXPECT_EQ(*Table().String(*n, "name"), "x");
  EXPECT_EQ(*Table().String(*n, "mode"), "a");
  EXPECT_TRUE(*Table().Bool(*n, "on"));
  // Null reads as absent.
  auto null = ConfigNode::LoadString("name: x\nnoise:\n", "w.yaml");
  ASSERT_TRUE(Table().Check(*null).ok());
  EXPECT_EQ(*Table().Number(*null, "noise"), 0.05);
}

TEST(KeyTable, RefusesUnknownDuplicateAndMissingKeysWithLocations) {
  EXPECT_EQ(Check("name: x\nnoize: 1\n").message(),
            "w.yaml:2:1: noize: unknown key 'noize'; did you mean 'noise'? (valid keys: noise, "
            "count, name, mode, on, edges, sub)");
  EXPECT_EQ(Check("name: x\nname: y\n").message(), "w.yaml:2:1: name: duplicate key 'name'");
  EXPECT_EQ(Check("noise: 1\n").message(), "w.yaml:1:1: missing required key 'name'");
  EXPECT_EQ(Check("- 1\n").message(), "w.yaml:1:1: expected a map of keys, got a list");
}

TEST(KeyTable, RefusesValuesOfTheWrongTypeOrOutOfRange) {
  EXPECT_EQ(Check("name: x\nnoise: lots\n").message(),
            "w.yaml:2:8: noise: expected a number, got 'lots'");
  EXPECT_EQ(Check("name: x\nnoise: 3\n").message(),
            "w.yaml:2:8: noise: expected a number in [0, 2], got 3");
  EXPECT_EQ(Check("name: x\ncount: 0\n").message(),
            "w.yaml:2:8: count: expected an integer >= 1, got 0");
  EXPECT_EQ(Check("name: x\ncount: 1.5\n").message(),
            "w.yaml:2:8: count: expected an integer, got '1.5'");
  EXPECT_EQ(Check("name: [a]\n").message(), "w.yaml:1:7: name: expected a string, got a list");
  EXPECT_EQ(Check("name: x\non: maybe\n").message(),
            "w.yaml:2:5: on: expected true or false, got 'maybe'");
  EXPECT_EQ(Check("name: x\nedges: [1, b]\n").message(),
            "w.yaml:2:12: edges[1]: expected a number, got 'b'");
  EXPECT_EQ(Check("name: x\nsub: 1\n").message(), "w.yaml:2:6: sub: expected a map of keys, got '1'");
  // A required key given as null is a value of the wrong type, not an absent key.
  EXPECT_NE(Check("name:\n").message().find("name: expected a string, got nothing"),
            std::string::npos);
}

TEST(KeyTable, PrintsItselfAsMarkdown) {
  const std::string md = Table().Markdown(3);
  EXPECT_EQ(md.rfind("### `world`\n\nThe world.\n\n| key | type | range | default | meaning |\n", 0),
            0u)
      << md;
  EXPECT_NE(md.find("| `noise` | number | [0, 2] | 0.05 | relative spread |\n"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| `count` | integer | >= 1 | 3 | how many |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| `name` | string |  | required | a name |\n"), std::string::npos) << md;
  // A '|' in a cell is escaped, or it would split the row.
  EXPECT_NE(md.find("| `mode` | string | a \\| b | `a` | how |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| `on` | bool |  | true | whether |\n"), std::string::npos) << md;
}

}  // namespace
}  // namespace autoscale
