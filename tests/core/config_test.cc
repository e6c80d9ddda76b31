#include "core/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace autoscale {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

ConfigNode Load(const std::string& text, const std::string& name = "t.yaml") {
  auto r = ConfigNode::LoadString(text, name);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

// A per-process scratch folder under $AUTOSCALE_TEST_TMP (set by ctest) or the system temp dir.
fs::path TempDir() {
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  fs::path base = (env && *env) ? fs::path(env) : fs::temp_directory_path();
  fs::path dir = base / ("autoscale_core_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

fs::path WriteFile(const std::string& name, const std::string& text) {
  fs::path p = TempDir() / name;
  std::ofstream out(p);
  out << text;
  EXPECT_TRUE(out.good()) << p;
  return p;
}

// ---- Loading -----------------------------------------------------------------------------------

class ConfigLoadTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(TempDir(), ec);
  }
};

TEST_F(ConfigLoadTest, LoadStringParsesMap) {
  ConfigNode root = Load("a: 1\nb: two\n");
  EXPECT_TRUE(root.IsMap());
  EXPECT_FALSE(root.IsSequence());
  EXPECT_FALSE(root.IsNull());
  EXPECT_EQ(root.file(), "t.yaml");
  EXPECT_EQ(root.path(), "");
  EXPECT_EQ(root.Location(), "t.yaml:1:1");
}

TEST_F(ConfigLoadTest, SyntaxErrorNamesFileLineAndColumn) {
  // Line 2 is indented under a scalar; yaml-cpp trips on the ':' at column 4.
  auto r = ConfigNode::LoadString("a: 1\n  b: 2\n", "bad.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(StartsWith(r.status().message(), "bad.yaml:2:4: YAML syntax error: "))
      << r.status().message();
}

TEST_F(ConfigLoadTest, SyntaxErrorMidLine) {
  // "b: [1, 2}": the stray '}' is on line 2, column 9.
  auto r = ConfigNode::LoadString("a: 1\nb: [1, 2}\n", "flow.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(StartsWith(r.status().message(), "flow.yaml:2:9: YAML syntax error: "))
      << r.status().message();
  // An undefined alias on line 1 at column 4.
  auto a = ConfigNode::LoadString("a: *nope\n", "alias.yaml");
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(StartsWith(a.status().message(), "alias.yaml:1:4: YAML syntax error: "))
      << a.status().message();
}

TEST_F(ConfigLoadTest, SyntaxErrorDefaultName) {
  auto r = ConfigNode::LoadString("a: [1, 2\nb: 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(StartsWith(r.status().message(), "<string>:2:2: YAML syntax error: "))
      << r.status().message();
}

TEST_F(ConfigLoadTest, EmptyDocumentIsNull) {
  ConfigNode root = Load("");
  EXPECT_TRUE(root.IsNull());
  Status s = root.ExpectMap();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "expected a map of keys, got nothing")) << s.message();
}

TEST_F(ConfigLoadTest, LoadFileMissingIsNotFoundNamingPath) {
  fs::path p = TempDir() / "definitely_missing.yaml";
  fs::remove(p);
  auto r = ConfigNode::LoadFile(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), p.string())) << r.status().message();
}

TEST_F(ConfigLoadTest, LoadFileOnDirectoryIsAnError) {
  auto r = ConfigNode::LoadFile(TempDir().string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_TRUE(Contains(r.status().message(), TempDir().string())) << r.status().message();
}

TEST_F(ConfigLoadTest, LoadFileReadsAndReportsPath) {
  fs::path p = WriteFile("device.yaml", "name: big\nfreq_mhz: [300, fast]\n");
  auto r = ConfigNode::LoadFile(p.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->file(), p.string());
  EXPECT_EQ(r->Directory(), p.parent_path().string());
  auto name = r->GetString("name");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "big");
  auto freqs = r->Child("freq_mhz")->AsDoubleList();
  ASSERT_FALSE(freqs.ok());
  EXPECT_EQ(freqs.status().message(),
            p.string() + ":2:17: freq_mhz[1]: expected a number, got 'fast'");
}

TEST_F(ConfigLoadTest, LoadFileSyntaxErrorNamesPath) {
  fs::path p = WriteFile("broken.yaml", "ok: 1\nlist: [1, 2\n");
  auto r = ConfigNode::LoadFile(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(StartsWith(r.status().message(), p.string() + ":3:1: YAML syntax error: "))
      << r.status().message();
}

// Issue 10, item 4: a YAML file takes ~90x its size once parsed (a 60 MiB list took 5.4 GB),
// and /dev/zero was read until std::bad_alloc. Both are refused before parsing.
TEST_F(ConfigLoadTest, LoadFileRefusesOversizedAndNonRegularFiles) {
  std::string big = "name: x\nseeds:\n";
  while (big.size() <= kMaxConfigFileBytes) big += "  - 1\n";
  fs::path p = WriteFile("big.yaml", big);
  auto r = ConfigNode::LoadFile(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), p.string() + ": " + std::to_string(big.size()) +
                                                 " bytes, over the limit of 2097152 bytes"))
      << r.status().message();
  auto z = ConfigNode::LoadFile("/dev/zero");
  ASSERT_FALSE(z.ok());
  EXPECT_TRUE(Contains(z.status().message(), "/dev/zero: not a regular file"))
      << z.status().message();
}

TEST_F(ConfigLoadTest, Directory) {
  EXPECT_EQ(Load("a: 1", "configs/devices/x.yaml").Directory(), "configs/devices");
  EXPECT_EQ(Load("a: 1", "x.yaml").Directory(), ".");
  EXPECT_EQ(Load("a: 1").Directory(), ".");
}

// ---- Error positions and key paths
// ---------------------------------------------------------------

TEST(ConfigErrorTest, BlockDocumentLineColumnAndPath) {
  ConfigNode root = Load("a:\n  b:\n    - c: 1\n    - c: abc\n", "x.yaml");
  auto b = root.Child("a")->Child("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->path(), "a.b");
  EXPECT_EQ(b->At(1).path(), "a.b[1]");
  auto good = b->At(0).GetDouble("c");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 1.0);
  auto bad = b->At(1).GetDouble("c");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  // "    - c: abc": 'abc' starts at column 10 of line 4.
  EXPECT_EQ(bad.status().message(), "x.yaml:4:10: a.b[1].c: expected a number, got 'abc'");
}

TEST(ConfigErrorTest, FlowDocumentLineColumnAndPath) {
  // Line 3 is "  {c: abc}]": 'abc' starts at column 7.
  ConfigNode root = Load("a:\n b: [1,\n  {c: abc}]\n", "x.yaml");
  auto bad = root.Child("a")->Child("b")->At(1).GetDouble("c");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "x.yaml:3:7: a.b[1].c: expected a number, got 'abc'");
}

TEST(ConfigErrorTest, ErrorAtRootHasNoPath) {
  ConfigNode root = Load("- 1\n- 2\n", "list.yaml");
  Status s = root.Error("something");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "list.yaml:1:1: something");
  Status m = root.ExpectMap();
  EXPECT_EQ(m.message(), "list.yaml:1:1: expected a map of keys, got a list");
  EXPECT_TRUE(root.ExpectSequence().ok());
}

TEST(ConfigErrorTest, LocationOfNestedNode) {
  ConfigNode root = Load("top:\n  inner: 5\n", "loc.yaml");
  auto inner = root.Child("top")->Child("inner");
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->Location(), "loc.yaml:2:10");
  EXPECT_EQ(inner->Error("too big").message(), "loc.yaml:2:10: top.inner: too big");
}

// ---- CheckKeys ----------------------------------------------------------------------------------

TEST(CheckKeysTest, AcceptsKnownKeysAndSubsets) {
  ConfigNode root = Load("name: big\npower_mw: 5\n");
  EXPECT_TRUE(root.CheckKeys({"name", "power_mw", "freq_mhz"}).ok());
  EXPECT_TRUE(root.CheckKeys(std::vector<std::string>{"power_mw", "name"}).ok());
  EXPECT_TRUE(Load("{}").CheckKeys({"a"}).ok());
}

TEST(CheckKeysTest, UnknownKeySuggestsNearestAndListsValid) {
  ConfigNode root = Load("clusters:\n  - name: big\n    powr_mw: 5\n", "dev.yaml");
  ConfigNode cluster = root.Child("clusters")->At(0);
  Status s = cluster.CheckKeys({"name", "power_mw", "freq_mhz"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // The error points at the key itself (line 3, column 5).
  EXPECT_EQ(s.message(),
            "dev.yaml:3:5: clusters[0].powr_mw: unknown key 'powr_mw'; did you mean "
            "'power_mw'? (valid keys: name, power_mw, freq_mhz)");
}

TEST(CheckKeysTest, VectorOverloadSameMessage) {
  ConfigNode root = Load("powr_mw: 5\n", "v.yaml");
  Status a = root.CheckKeys({"name", "power_mw"});
  Status b = root.CheckKeys(std::vector<std::string>{"name", "power_mw"});
  EXPECT_FALSE(a.ok());
  EXPECT_EQ(a.message(), b.message());
  EXPECT_EQ(a.message(),
            "v.yaml:1:1: powr_mw: unknown key 'powr_mw'; did you mean 'power_mw'? (valid keys: "
            "name, power_mw)");
}

TEST(CheckKeysTest, UnknownKeyWithoutCloseMatch) {
  ConfigNode root = Load("name: a\nbandwidth_mbps: 3\n", "n.yaml");
  Status s = root.CheckKeys({"name", "power_mw"});
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(Contains(s.message(), "did you mean")) << s.message();
  EXPECT_EQ(s.message(),
            "n.yaml:2:1: bandwidth_mbps: unknown key 'bandwidth_mbps' (valid keys: name, "
            "power_mw)");
}

TEST(CheckKeysTest, RejectsNonMapsAndComplexKeys) {
  Status list = Load("[1, 2]", "l.yaml").CheckKeys({"a"});
  EXPECT_EQ(list.message(), "l.yaml:1:1: expected a map of keys, got a list");
  Status scalar = Load("a: 7", "s.yaml").Child("a")->CheckKeys({"a"});
  EXPECT_EQ(scalar.message(), "s.yaml:1:4: a: expected a map of keys, got '7'");
  Status complex = Load("? [a, b]\n: 1\n", "k.yaml").CheckKeys({"a"});
  EXPECT_FALSE(complex.ok());
  EXPECT_TRUE(Contains(complex.message(), "keys must be plain names")) << complex.message();
}

TEST(CheckKeysTest, RejectsDuplicateKeys) {
  // yaml-cpp accepts a repeated key; CheckKeys must not let the second value vanish.
  ConfigNode root = Load("power_mw: 1\nname: x\npower_mw: 2\n", "d.yaml");
  Status s = root.CheckKeys({"name", "power_mw"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "d.yaml:3:1: power_mw: duplicate key 'power_mw'");
}

// ---- Children -----------------------------------------------------------------------------------

TEST(ChildTest, RequiredAndOptional) {
  ConfigNode root = Load("a: 1\nn: ~\ne:\nm: {x: 2}\n", "c.yaml");
  EXPECT_TRUE(root.Has("a"));
  EXPECT_TRUE(root.Has("n"));  // present, though null
  EXPECT_FALSE(root.Has("zz"));
  EXPECT_FALSE(Load("[1]").Has("a"));

  auto missing = root.Child("zz");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "c.yaml:1:1: missing required key 'zz'");
  auto nested_missing = root.Child("m")->Child("y");
  ASSERT_FALSE(nested_missing.ok());
  EXPECT_EQ(nested_missing.status().message(), "c.yaml:4:4: m: missing required key 'y'");

  EXPECT_FALSE(root.Optional("zz").has_value());
  EXPECT_FALSE(root.Optional("n").has_value());  // null counts as absent
  EXPECT_FALSE(root.Optional("e").has_value());
  auto m = root.Optional("m");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->path(), "m");
  EXPECT_TRUE(m->IsMap());
  EXPECT_FALSE(Load("7").Optional("a").has_value());  // not a map

  auto child_of_scalar = root.Child("a")->Child("b");
  ASSERT_FALSE(child_of_scalar.ok());
  EXPECT_EQ(child_of_scalar.status().message(), "c.yaml:1:4: a: expected a map of keys, got '1'");
}

TEST(ChildTest, EntriesInDocumentOrderWithPaths) {
  ConfigNode root = Load("zeta: 1\nalpha: 2\nmid: 3\n", "e.yaml");
  auto entries = root.Entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].first, "zeta");
  EXPECT_EQ(entries[1].first, "alpha");
  EXPECT_EQ(entries[2].first, "mid");
  EXPECT_EQ(entries[1].second.path(), "alpha");
  EXPECT_EQ(*entries[2].second.AsInt(), 3);
  EXPECT_TRUE(Load("[1, 2]").Entries().empty());
}

TEST(ChildTest, SequenceAccess) {
  ConfigNode root = Load("xs: [10, 20, 30]\n");
  auto xs = root.Child("xs");
  ASSERT_TRUE(xs.ok());
  EXPECT_TRUE(xs->IsSequence());
  ASSERT_EQ(xs->size(), 3u);
  EXPECT_EQ(*xs->At(2).AsInt(), 30);
  EXPECT_EQ(xs->At(2).path(), "xs[2]");
}

// ---- Scalars ------------------------------------------------------------------------------------

TEST(ScalarTest, TypedGetters) {
  ConfigNode root = Load(
      "d: 2.5\ni: -7\nid: 3\ns: hello\nq: '12'\nb1: true\nb2: no\nb3: on\nb4: off\nb5: yes\n"
      "b6: false\n");
  EXPECT_EQ(*root.GetDouble("d"), 2.5);
  EXPECT_EQ(*root.GetDouble("id"), 3.0);  // an integer is a number
  EXPECT_EQ(*root.GetInt("i"), -7);
  EXPECT_EQ(*root.GetString("s"), "hello");
  EXPECT_EQ(*root.GetString("q"), "12");
  EXPECT_EQ(*root.GetDouble("q"), 12.0);  // quoting does not change the scalar text
  EXPECT_TRUE(*root.GetBool("b1"));
  EXPECT_FALSE(*root.GetBool("b2"));
  EXPECT_TRUE(*root.GetBool("b3"));
  EXPECT_FALSE(*root.GetBool("b4"));
  EXPECT_TRUE(*root.GetBool("b5"));
  EXPECT_FALSE(*root.GetBool("b6"));
}

TEST(ScalarTest, WrongTypesSayWhatWasExpected) {
  ConfigNode root = Load("d: 2.5\nm: {a: 1}\nl: [1]\nn:\nw: maybe\nx: 1.5x\ninf: .inf\n", "w.yaml");
  EXPECT_EQ(root.GetInt("d").status().message(), "w.yaml:1:4: d: expected an integer, got '2.5'");
  EXPECT_EQ(root.GetDouble("m").status().message(), "w.yaml:2:4: m: expected a number, got a map");
  EXPECT_EQ(root.GetDouble("l").status().message(), "w.yaml:3:4: l: expected a number, got a list");
  EXPECT_TRUE(Contains(root.GetDouble("n").status().message(), "n: expected a number, got nothing"))
      << root.GetDouble("n").status().message();
  EXPECT_EQ(root.GetBool("w").status().message(),
            "w.yaml:5:4: w: expected true or false, got 'maybe'");
  EXPECT_EQ(root.GetBool("d").status().message(),
            "w.yaml:1:4: d: expected true or false, got '2.5'");
  EXPECT_EQ(root.GetString("m").status().message(), "w.yaml:2:4: m: expected a string, got a map");
  EXPECT_EQ(root.GetDouble("x").status().message(), "w.yaml:6:4: x: expected a number, got '1.5x'");
  EXPECT_FALSE(root.GetDouble("inf").ok());  // non-finite numbers are rejected
  auto missing = root.GetDouble("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "w.yaml:1:1: missing required key 'nope'");
}

TEST(ScalarTest, Lists) {
  ConfigNode root =
      Load("ds: [1, 2.5, -3]\nss: [a, b]\none: solo\nbad: [1, x]\nnest: [[1]]\n", "lists.yaml");
  auto ds = root.Child("ds")->AsDoubleList();
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(*ds, (std::vector<double>{1, 2.5, -3}));
  auto ss = root.Child("ss")->AsStringList();
  ASSERT_TRUE(ss.ok());
  EXPECT_EQ(*ss, (std::vector<std::string>{"a", "b"}));
  auto one = root.Child("one")->AsStringList();  // a lone scalar is a one-element list
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (std::vector<std::string>{"solo"}));
  auto bad = root.Child("bad")->AsDoubleList();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "lists.yaml:4:10: bad[1]: expected a number, got 'x'");
  auto not_list = root.Child("one")->AsDoubleList();
  ASSERT_FALSE(not_list.ok());
  EXPECT_EQ(not_list.status().message(), "lists.yaml:3:6: one: expected a list, got 'solo'");
  auto nest = root.Child("nest")->AsStringList();
  ASSERT_FALSE(nest.ok());
  EXPECT_EQ(nest.status().message(), "lists.yaml:5:8: nest[0]: expected a string, got a list");
}

// ---- Optional getters ---------------------------------------------------------------------------

TEST(OptionalGetterTest, DefaultsWhenAbsentOrNull) {
  ConfigNode root = Load("present: 4\nnul: ~\n");
  EXPECT_EQ(*root.GetDouble("absent", 1.25), 1.25);
  EXPECT_EQ(*root.GetDouble("nul", 1.25), 1.25);
  EXPECT_EQ(*root.GetDouble("present", 1.25), 4.0);
  EXPECT_EQ(*root.GetInt("absent", int64_t{9}), 9);
  EXPECT_EQ(*root.GetInt("present", int64_t{9}), 4);
  EXPECT_EQ(*root.GetString("absent", std::string("dflt")), "dflt");
  EXPECT_EQ(*root.GetString("present", std::string("dflt")), "4");
  EXPECT_TRUE(*root.GetBool("absent", true));
  EXPECT_FALSE(*root.GetBool("nul", false));
}

TEST(OptionalGetterTest, MalformedPresentValueIsAnError) {
  ConfigNode root = Load("d: abc\ni: 1.5\nb: perhaps\ns: [1]\n", "o.yaml");
  auto d = root.GetDouble("d", 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "o.yaml:1:4: d: expected a number, got 'abc'");
  auto i = root.GetInt("i", int64_t{2});
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.status().message(), "o.yaml:2:4: i: expected an integer, got '1.5'");
  auto b = root.GetBool("b", true);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "o.yaml:3:4: b: expected true or false, got 'perhaps'");
  auto s = root.GetString("s", std::string("x"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "o.yaml:4:4: s: expected a string, got a list");
}

// ---- Range-checked doubles ----------------------------------------------------------------------

TEST(GetDoubleInTest, InRangeInclusive) {
  ConfigNode root = Load("lo: 0\nhi: 1\nmid: 0.5\n");
  EXPECT_EQ(*root.GetDoubleIn("lo", 0, 1), 0.0);
  EXPECT_EQ(*root.GetDoubleIn("hi", 0, 1), 1.0);
  EXPECT_EQ(*root.GetDoubleIn("mid", 0, 1), 0.5);
}

TEST(GetDoubleInTest, OutOfRangeErrors) {
  ConfigNode root = Load("p:\n  above: 1.5\n  below: -0.25\n  word: high\n", "r.yaml");
  ConfigNode p = *root.Child("p");
  auto above = p.GetDoubleIn("above", 0, 1);
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(above.status().message(), "r.yaml:2:10: p.above: expected a number in [0, 1], got 1.5");
  auto below = p.GetDoubleIn("below", 0, 100);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().message(),
            "r.yaml:3:10: p.below: expected a number in [0, 100], got -0.25");
  auto word = p.GetDoubleIn("word", 0, 1);
  ASSERT_FALSE(word.ok());
  EXPECT_EQ(word.status().message(), "r.yaml:4:9: p.word: expected a number, got 'high'");
  auto missing = p.GetDoubleIn("none", 0, 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(Contains(missing.status().message(), "missing required key 'none'"));
}

TEST(GetDoubleInTest, WithDefault) {
  ConfigNode root = Load("x: 5\ny: 0.5\nz: ~\n", "rd.yaml");
  EXPECT_EQ(*root.GetDoubleIn("absent", 0, 1, 0.75), 0.75);
  EXPECT_EQ(*root.GetDoubleIn("z", 0, 1, 0.75), 0.75);
  EXPECT_EQ(*root.GetDoubleIn("y", 0, 1, 0.75), 0.5);
  auto x = root.GetDoubleIn("x", 0, 1, 0.75);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().message(), "rd.yaml:1:4: x: expected a number in [0, 1], got 5");
}

}  // namespace
}  // namespace autoscale
