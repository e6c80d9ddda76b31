// libFuzzer target for the HTTP server's request parsing (targets/http/request_reader.h): one
// connection's bytes, parsed at once and in pieces, under small and default caps
// (fuzz/http_request_entry.h). Built and run by scripts/fuzz.sh.
#include <cstdio>
#include <cstdlib>

#include "fuzz/http_request_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const autoscale::fuzz::HttpRunResult r = autoscale::fuzz::RunHttpInput(data, size);
  if (!r.mismatch.empty()) {
    std::fprintf(stderr, "http request parsing broken: %s\n", r.mismatch.c_str());
    std::abort();
  }
  return 0;
}
