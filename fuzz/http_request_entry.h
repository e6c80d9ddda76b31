// The one body of code behind the HTTP request fuzzer (fuzz/http_request_fuzz.cc) and its
// gcc-built corpus regression test (tests/http/http_fuzz_corpus_test.cc): the server's request
// parsing (targets/http/request_reader.h) on arbitrary bytes.
//
// Input layout: byte 0 picks how the bytes arrive: read sizes of (byte 0 % 64) + 1 bytes, as a
// server's reads might return them. Byte 1 picks the caps: bit 0 set, a 256-byte header cap
// (else 16 KiB, the server's default); bit 1 set, a 64-byte body cap (else 1 MiB). The rest is
// what a client sends on one connection. An input shorter than 2 bytes is ignored.
//
// The bytes are parsed twice, all at once and in those pieces. Both must agree (the same
// requests, field for field, and the same outcome), every request must respect the caps, and a
// failure must be one the server answers (400, 413, 431) or a connection ending mid-request (0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "targets/http/request_reader.h"

namespace autoscale::fuzz {

struct HttpRunResult {
  std::string mismatch;  // empty when every check held
  size_t requests = 0;   // parsed (all at once)
  int error_status = -1;
  bool incomplete = false;
};

inline std::string CompareStreams(const ParsedHttpStream& a, const ParsedHttpStream& b) {
  if (a.requests.size() != b.requests.size()) {
    return "requests: " + std::to_string(a.requests.size()) + " at once, " +
           std::to_string(b.requests.size()) + " in pieces";
  }
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const auto& x = a.requests[i];
    const auto& y = b.requests[i];
    const std::string at = "request " + std::to_string(i) + ": ";
    if (x.request.method != y.request.method) return at + "method";
    if (x.request.target != y.request.target) return at + "target";
    if (x.request.headers != y.request.headers) return at + "headers";
    if (x.request.body != y.request.body) return at + "body";
    if (x.keep_alive != y.keep_alive) return at + "keep_alive";
    if (x.version != y.version) return at + "version";
  }
  if (a.error_status != b.error_status) {
    return "outcome: status " + std::to_string(a.error_status) + " (" + a.error + ") at once, " +
           std::to_string(b.error_status) + " (" + b.error + ") in pieces";
  }
  if (a.incomplete != b.incomplete) return "incomplete differs";
  return "";
}

inline std::string CheckCaps(const ParsedHttpStream& s, const HttpParseLimits& limits) {
  for (size_t i = 0; i < s.requests.size(); ++i) {
    const HttpRequest& r = s.requests[i].request;
    if (r.body.size() > limits.max_body_bytes) {
      return "request " + std::to_string(i) + ": body of " + std::to_string(r.body.size()) +
             " bytes over the cap";
    }
    size_t header = r.method.size() + r.target.size();
    for (const auto& [k, v] : r.headers) header += k.size() + v.size();
    if (header > limits.max_header_bytes) {
      return "request " + std::to_string(i) + ": header of " + std::to_string(header) +
             " bytes over the cap";
    }
    for (const auto& [k, v] : r.headers) {
      for (char c : k) {
        if (c >= 'A' && c <= 'Z') return "request " + std::to_string(i) + ": upper-case name";
      }
    }
  }
  const int e = s.error_status;
  if (e != -1 && e != 0 && e != 400 && e != 413 && e != 431) {
    return "unexpected status " + std::to_string(e);
  }
  if (e > 0 && s.error.empty()) return "an error without a message";
  return "";
}

inline HttpRunResult RunHttpInput(const uint8_t* data, size_t size) {
  HttpRunResult result;
  if (size < 2) return result;
  const size_t chunk = static_cast<size_t>(data[0] % 64) + 1;
  HttpParseLimits limits;
  limits.max_header_bytes = (data[1] & 1) ? 256 : 16u << 10;
  limits.max_body_bytes = (data[1] & 2) ? 64 : 1u << 20;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const ParsedHttpStream whole = ParseHttpStream(bytes, limits, 0);
  const ParsedHttpStream pieces = ParseHttpStream(bytes, limits, chunk);
  result.requests = whole.requests.size();
  result.error_status = whole.error_status;
  result.incomplete = whole.incomplete;
  result.mismatch = CheckCaps(whole, limits);
  if (result.mismatch.empty()) result.mismatch = CheckCaps(pieces, limits);
  if (result.mismatch.empty()) result.mismatch = CompareStreams(whole, pieces);
  return result;
}

}  // namespace autoscale::fuzz
