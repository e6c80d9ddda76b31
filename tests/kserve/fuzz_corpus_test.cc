// The KServe fuzzer's seed corpus (fuzz/corpus/kserve_request), run through the fuzzer's own
// entry (fuzz/kserve_request_entry.h) in the ordinary gcc build: no crash, and every message
// that parses survives encode + parse. Also the two bugs the fuzz harness found, as unit tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "fuzz/kserve_request_entry.h"

namespace autoscale {
namespace {

std::vector<std::filesystem::path> CorpusFiles() {
  const std::filesystem::path dir =
      std::filesystem::path(AUTOSCALE_SOURCE_DIR) / "fuzz/corpus/kserve_request";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

fuzz::KServeRunResult RunBytes(const std::string& bytes) {
  return fuzz::RunKServeInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(KServeFuzzCorpus, EverySeedParsesOrFailsCleanlyAndRoundTrips) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 10u);
  int requests = 0, responses = 0;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const fuzz::KServeRunResult r = RunBytes(bytes);
    EXPECT_EQ(r.mismatch, "") << path.filename();
    requests += r.request_parsed;
    responses += r.response_parsed;
    // The file names say what the seed is.
    const std::string name = path.filename().string();
    if (name.rfind("request_", 0) == 0 && name.find("truncated") == std::string::npos) {
      EXPECT_TRUE(r.request_parsed) << name;
    }
    if (name.rfind("response_", 0) == 0) {
      EXPECT_TRUE(r.response_parsed) << name;
    }
    if (name.rfind("malformed_", 0) == 0 || name.rfind("regression_", 0) == 0) {
      EXPECT_FALSE(r.request_parsed) << name;
    }
  }
  EXPECT_GE(requests, 4);
  EXPECT_GE(responses, 2);
}

TEST(KServeFuzzCorpus, InputLayoutChoosesTheHeaderLength) {
  const std::string body = "{}xyz";
  auto in = fuzz::SplitKServeInput(reinterpret_cast<const uint8_t*>("0{}"), 3);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->body, "{}");
  EXPECT_FALSE(in->header_length.has_value());
  const std::string bytes = std::string("1\x02\x00", 3) + body;
  in = fuzz::SplitKServeInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->body, body);
  EXPECT_EQ(in->header_length, 2u);
  const std::string wraps = std::string("1\x08\x00", 3) + body;  // 8 % (5 + 1)
  in = fuzz::SplitKServeInput(reinterpret_cast<const uint8_t*>(wraps.data()), wraps.size());
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->header_length, 2u);
  EXPECT_FALSE(fuzz::SplitKServeInput(reinterpret_cast<const uint8_t*>("1\x02"), 2).has_value());
}

// Found by the fuzzer: a number beyond double's range made the error-locating second parse
// throw json::out_of_range, which escaped ParseInferRequest and terminated the process.
TEST(KServeFuzzRegression, NumberBeyondDoubleIsAnErrorNotAnException) {
  auto r = ParseInferRequest(R"({"id": "r", "inputs": [], "x": 22331e3972})", std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("malformed JSON"), std::string::npos);
  EXPECT_NE(r.status().message().find("number overflow"), std::string::npos)
      << r.status().message();
  auto resp = ParseInferResponse(R"({"outputs": [-1e400]})", std::nullopt);
  ASSERT_FALSE(resp.ok());
  EXPECT_NE(resp.status().message().find("malformed JSON"), std::string::npos);
}

// Found by the round-trip check: an FP32 value beyond float's range parsed to infinity, which
// the encoder writes as null, so the re-encoded request no longer parsed.
TEST(KServeFuzzRegression, Fp32BeyondFloatRangeIsRejected) {
  auto r = ParseInferRequest(
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, -1e39]}]})",
      std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("inputs[0].data[1]: beyond the FP32 range"),
            std::string::npos)
      << r.status().message();
  // The largest float is still accepted and round-trips.
  InferRequestMsg m;
  WireTensor t;
  t.name = "x";
  t.shape = {2};
  t.fp32 = {std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  m.inputs.push_back(t);
  EXPECT_EQ(fuzz::RequestRoundTripMismatch(m), "");
}

}  // namespace
}  // namespace autoscale
