// HttpRequestReader, the server's request parsing: the same requests whatever the read sizes,
// the caps (header in all, body as announced and as it arrives), pipelining, Connection: close,
// and requests cut short. Also the HTTP fuzzer's seed corpus (fuzz/corpus/http_request) through
// the fuzzer's own entry (fuzz/http_request_entry.h), so that CI replays it in the gcc build.
#include "targets/http/request_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/http_request_entry.h"

namespace autoscale {
namespace {

const std::string kPipelined =
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    "POST /b?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: Yes\r\nContent-Length: 5\r\n\r\nhello"
    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n"
    "GET /never HTTP/1.1\r\n\r\n";

TEST(HttpRequestReader, SameRequestsWhateverTheReadSizes) {
  const ParsedHttpStream whole = ParseHttpStream(kPipelined, {});
  ASSERT_EQ(whole.requests.size(), 4u);  // the one after Connection: close is never read
  EXPECT_EQ(whole.error_status, -1);
  EXPECT_FALSE(whole.incomplete);
  const auto& b = whole.requests[1].request;
  EXPECT_EQ(b.method, "POST");
  EXPECT_EQ(b.target, "/b?q=1");
  EXPECT_EQ(b.path(), "/b");
  EXPECT_EQ(b.body, "hello");
  ASSERT_NE(b.Header("x-test"), nullptr);
  EXPECT_EQ(*b.Header("x-test"), "Yes");
  EXPECT_EQ(b.headers[1].first, "x-test");  // names lower-cased
  EXPECT_EQ(whole.requests[2].request.body, "abcde");
  EXPECT_TRUE(whole.requests[2].keep_alive);
  EXPECT_FALSE(whole.requests[3].keep_alive);
  for (size_t chunk : {1, 2, 3, 7, 64, 1000}) {
    const ParsedHttpStream p = ParseHttpStream(kPipelined, {}, chunk);
    EXPECT_EQ(fuzz::CompareStreams(whole, p), "") << "chunk " << chunk;
  }
}

// Found by the fuzzer: Beast given part of a header parses the fields it has or waits for the
// end, by where earlier reads ended, so an unterminated malformed header was a 400 when it
// arrived in one read and a silent close when it arrived in pieces. The header is parsed once
// it is complete, so the outcome no longer depends on the reads.
TEST(HttpRequestReader, SameOutcomeWhereverTheReadsEnd) {
  const std::string bytes = "GET / HTTP/1.1\r\nBad Header\r\n-\n";
  const ParsedHttpStream whole = ParseHttpStream(bytes, {});
  for (size_t chunk : {1, 6, 7, 20}) {
    const ParsedHttpStream p = ParseHttpStream(bytes, {}, chunk);
    EXPECT_EQ(fuzz::CompareStreams(whole, p), "") << "chunk " << chunk;
  }
  EXPECT_TRUE(whole.incomplete);
  // Terminated, it is a 400 however it arrives.
  for (size_t chunk : {0, 1, 7}) {
    EXPECT_EQ(ParseHttpStream(bytes + "\r\n\r\n", {}, chunk).error_status, 400) << chunk;
  }
  // A version shorter than "HTTP/1.1": Beast waited for more when the header ended the data
  // but called it bad when a body followed. Either way now it is a 400.
  const std::string short_version = "POST /x 051\r\n\r\n";
  EXPECT_EQ(ParseHttpStream(short_version, {}).error_status, 400);
  EXPECT_EQ(ParseHttpStream(short_version + "aaaaaaaaaa", {}).error_status, 400);
  EXPECT_EQ(ParseHttpStream(short_version + "aaaaaaaaaa", {}, 10).error_status, 400);
}

// Beast checks its header limit on the request line and on the fields separately, so a
// request of nearly twice the cap got through; the cap is on the whole header.
TEST(HttpRequestReader, HeaderCapCoversRequestLineAndFieldsTogether) {
  HttpParseLimits l;
  l.max_header_bytes = 1024;
  const std::string req =
      "GET /" + std::string(700, 't') + " HTTP/1.1\r\nX-Big: " + std::string(700, 'h') + "\r\n\r\n";
  for (size_t chunk : {0, 1, 100, 5000}) {
    const ParsedHttpStream p = ParseHttpStream(req, l, chunk);
    EXPECT_EQ(p.requests.size(), 0u) << chunk;
    EXPECT_EQ(p.error_status, 431) << chunk;
    EXPECT_NE(p.error.find("limit of 1024 bytes"), std::string::npos) << p.error;
  }
  // Just under the cap is fine.
  const std::string ok =
      "GET /" + std::string(400, 't') + " HTTP/1.1\r\nX-Big: " + std::string(400, 'h') + "\r\n\r\n";
  EXPECT_EQ(ParseHttpStream(ok, l).requests.size(), 1u);
}

TEST(HttpRequestReader, BodyCapAsAnnouncedAndAsItArrives) {
  HttpParseLimits l;
  l.max_body_bytes = 100;
  const ParsedHttpStream announced =
      ParseHttpStream("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", l);
  EXPECT_EQ(announced.error_status, 413);  // before any of the body is read
  EXPECT_NE(announced.error.find("request body of 5000 bytes exceeds the limit of 100 bytes"),
            std::string::npos)
      << announced.error;
  std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "32\r\n" + std::string(50, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(ParseHttpStream(chunked, l, 17).error_status, 413);
}

TEST(HttpRequestReader, RequestsCutShortAndMalformedOnes) {
  ParsedHttpStream cut = ParseHttpStream("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123", {});
  EXPECT_TRUE(cut.incomplete);
  EXPECT_EQ(cut.error_status, 0);  // nobody to answer
  EXPECT_TRUE(cut.requests.empty());
  ParsedHttpStream nothing = ParseHttpStream("", {});
  EXPECT_FALSE(nothing.incomplete);
  EXPECT_EQ(nothing.error_status, -1);
  for (const std::string bad :
       {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    const ParsedHttpStream p = ParseHttpStream(bad, {});
    EXPECT_EQ(p.error_status, 400) << bad;
    EXPECT_NE(p.error.find("malformed HTTP request"), std::string::npos) << p.error;
  }
  // The reader itself: bytes it cannot use yet are left for the next call.
  HttpRequestReader r({});
  EXPECT_FALSE(r.got_some());
  const std::string head = "GET /x HTTP/1.1\r\nHo";
  const size_t used = r.Put(head);
  EXPECT_TRUE(r.got_some());
  EXPECT_FALSE(r.done());
  const std::string rest = head.substr(used) + "st: y\r\n\r\nGET /next";
  const size_t used2 = r.Put(rest);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(rest.substr(used2), "GET /next");
  EXPECT_EQ(r.TakeRequest().target, "/x");
}

std::vector<std::filesystem::path> CorpusFiles() {
  const std::filesystem::path dir =
      std::filesystem::path(AUTOSCALE_SOURCE_DIR) / "fuzz/corpus/http_request";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(HttpFuzzCorpus, EverySeedParsesAlikeInPiecesAndKeepsTheCaps) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 10u);
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const fuzz::HttpRunResult r =
        fuzz::RunHttpInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const std::string name = path.filename().string();
    EXPECT_EQ(r.mismatch, "") << name;
    // The file names say what the seed is.
    if (name.rfind("request_", 0) == 0) {
      EXPECT_GE(r.requests, 1u) << name;
      EXPECT_EQ(r.error_status, -1) << name;
      EXPECT_FALSE(r.incomplete) << name;
    }
    if (name.rfind("malformed_", 0) == 0) {
      EXPECT_GT(r.error_status, 0) << name;
    }
    if (name.rfind("incomplete_", 0) == 0) {
      EXPECT_TRUE(r.incomplete) << name;
    }
  }
}

}  // namespace
}  // namespace autoscale
