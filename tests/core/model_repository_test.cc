#include "core/model_repository.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

// Triton's own example configuration for a TorchScript model (its docs, "Model Configuration"),
// with the comments, enum values, nested messages and lists it is written with.
constexpr const char* kTritonConfig = R"cfg(
# densenet from Triton's model repository docs, as a TorchScript model
name: "resnet"
platform: "pytorch_libtorch"
max_batch_size: 8
input [
  {
    name: "INPUT__0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    label_filename: "labels.txt"
  }
]
instance_group [ { count: 1, kind: KIND_CPU } ]
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
version_policy: { latest { num_versions: 1 } }
parameters: { key: "DISABLE_OPTIMIZED_EXECUTION" value: { string_value: "true" } }
)cfg";

TEST(TritonModelConfig, ReadsTritonsOwnExample) {
  auto c = ParseTritonModelConfig(kTritonConfig, "resnet/config.pbtxt");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "resnet");
  EXPECT_EQ(c->platform, "pytorch_libtorch");
  EXPECT_EQ(c->max_batch_size, 8);
  ASSERT_EQ(c->input.size(), 1u);
  EXPECT_EQ(c->input[0].name, "INPUT__0");
  EXPECT_EQ(c->input[0].data_type, "TYPE_FP32");
  EXPECT_EQ(c->input[0].dims, (std::vector<int64_t>{3, 224, 224}));
  ASSERT_EQ(c->output.size(), 1u);
  EXPECT_EQ(c->output[0].dims, (std::vector<int64_t>{1000}));
  auto shape = TritonInputShape(*c, "resnet/config.pbtxt");
  ASSERT_TRUE(shape.ok()) << shape.status().ToString();
  EXPECT_EQ(*shape, (std::vector<int64_t>{3, 224, 224}));
  // Without Triton's batching the dims carry the batch, which is dropped; repeated `dims:`
  // fields are a list too.
  auto nobatch = ParseTritonModelConfig(
      "platform: \"pytorch_libtorch\"\ninput { name: \"x\" dims: 1 dims: 3 dims: 32 dims: 32 }\n",
      "f");
  ASSERT_TRUE(nobatch.ok()) << nobatch.status().ToString();
  auto s = TritonInputShape(*nobatch, "f");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (std::vector<int64_t>{3, 32, 32}));
}

TEST(TritonModelConfig, BadConfigsSayWhatAndWhere) {
  struct Case {
    std::string text, error;
  } cases[] = {
      {"name: \"m\"\ninput [ { dims: [3, x] } ]",
       "f:2:21: 'input.dims' must be an integer, got 'x'"},
      {"input [ { name: \"a\" ", "f:1:21: missing '}'"},
      {"name \"m\"", "f:1:6: expected ':' after 'name'"},
      {"name: \"m", "unterminated string"},
      {"max_batch_size: -2", "'max_batch_size' must be >= 0"},
      {"max_batch_size: 1\nmax_batch_size: 2", "f:2:17: 'max_batch_size' given twice"},
      {"a " + std::string(40, '{'), "f:1:4: unexpected '{'"},
      {[] {
         std::string deep;
         for (int i = 0; i < 100; ++i) deep += "a { ";
         return deep;
       }(),
       "nested deeper than 32"},
      {std::string("name: \"m\"\0", 10), "not text"},
  };
  for (const Case& c : cases) {
    auto r = ParseTritonModelConfig(c.text, "f");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.text << "\n"
                                                                     << r.status().message();
  }
  const std::string big(size_t{2} << 20, ' ');
  EXPECT_FALSE(ParseTritonModelConfig(big, "f").ok());

  struct ShapeCase {
    std::string text, error;
  } shapes[] = {
      {"platform: \"onnxruntime_onnx\" input { dims: [3] }", "is not TorchScript"},
      {"max_batch_size: 4 input { dims: [3, -1, -1] }", "variable dims are not served"},
      {"max_batch_size: 4", "0 inputs"},
      {"max_batch_size: 4 input { dims: [3] } input { dims: [3] }", "2 inputs"},
      {"max_batch_size: 4 input { data_type: TYPE_STRING dims: [1] }", "TYPE_STRING"},
      {"max_batch_size: 0 input { dims: [8, 3] }", "must start with a batch of 1"},
  };
  for (const ShapeCase& c : shapes) {
    auto r = ParseTritonModelConfig(c.text, "f");
    ASSERT_TRUE(r.ok()) << c.text << r.status().ToString();
    auto s = TritonInputShape(*r, "f");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.status().message().find(c.error), std::string::npos) << c.text << "\n"
                                                                     << s.status().message();
  }
}

void Touch(const fs::path& p, const std::string& text = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(ModelRepository, FlatAndTritonLayoutsSideBySide) {
  const fs::path dir = testing::TempDir("model_repo");
  Touch(dir / "flat.pt");
  Touch(dir / "flat.yaml");
  Touch(dir / "tri" / "config.pbtxt");
  Touch(dir / "tri" / "1" / "model.pt");
  Touch(dir / "tri" / "3" / "model.pt");
  Touch(dir / "tri" / "12" / "other.pt");  // a version without model.pt is not a version
  Touch(dir / "tri" / "latest" / "model.pt");
  Touch(dir / "noconfig" / "1" / "model.pt");
  Touch(dir / "noversion" / "config.pbtxt");
  Touch(dir / "both.pt");
  Touch(dir / "both" / "config.pbtxt");
  fs::create_directories(dir / "empty");

  auto flat = FindUserModelFiles(dir.string(), "flat");
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_FALSE(flat->triton);
  EXPECT_EQ(flat->model, (dir / "flat.pt").string());
  EXPECT_EQ(flat->sidecar, (dir / "flat.yaml").string());
  auto tri = FindUserModelFiles(dir.string(), "tri");
  ASSERT_TRUE(tri.ok()) << tri.status().ToString();
  EXPECT_TRUE(tri->triton);
  EXPECT_EQ(tri->version, 3);  // the highest version, as Triton serves by default
  EXPECT_EQ(tri->model, (dir / "tri" / "3" / "model.pt").string());
  EXPECT_EQ(tri->sidecar, (dir / "tri" / "config.pbtxt").string());

  auto noconfig = FindUserModelFiles(dir.string(), "noconfig");
  ASSERT_FALSE(noconfig.ok());
  EXPECT_NE(noconfig.status().message().find("has no config.pbtxt"), std::string::npos);
  auto noversion = FindUserModelFiles(dir.string(), "noversion");
  ASSERT_FALSE(noversion.ok());
  EXPECT_NE(noversion.status().message().find("no version folder with a model.pt"),
            std::string::npos);
  auto both = FindUserModelFiles(dir.string(), "both");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("keep one layout"), std::string::npos);
  EXPECT_EQ(FindUserModelFiles(dir.string(), "nothing").status().code(), StatusCode::kNotFound);
  for (const char* hostile : {"..", "../flat", "tri/3", ".hidden", "a b", ""}) {
    EXPECT_FALSE(FindUserModelFiles(dir.string(), hostile).ok()) << hostile;
    EXPECT_FALSE(HasUserModel(dir.string(), hostile)) << hostile;
  }

  // Listed: both layouts (a folder only with its config), each once.
  EXPECT_EQ(UserModelNamesIn(dir.string()),
            (std::vector<std::string>{"both", "flat", "noversion", "tri"}));
  EXPECT_TRUE(HasUserModel(dir.string(), "tri"));
  EXPECT_FALSE(HasUserModel(dir.string(), "noconfig"));
  EXPECT_FALSE(HasUserModel(dir.string(), "empty"));
  EXPECT_TRUE(UserModelNamesIn("").empty());
}

}  // namespace
}  // namespace autoscale
