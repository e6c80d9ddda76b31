// libFuzzer target for the KServe v2 message codec (targets/kserve): both parsers on arbitrary
// bodies, with and without a binary header length, and the encode/parse round trip of every
// message that parses (fuzz/kserve_request_entry.h). Built and run by scripts/fuzz.sh.
#include <cstdio>
#include <cstdlib>

#include "fuzz/kserve_request_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const autoscale::fuzz::KServeRunResult r = autoscale::fuzz::RunKServeInput(data, size);
  if (!r.mismatch.empty()) {
    std::fprintf(stderr, "kserve round trip broken: %s\n", r.mismatch.c_str());
    std::abort();
  }
  return 0;
}
