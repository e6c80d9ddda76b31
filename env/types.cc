#include "env/types.h"

#include <string>

#include "core/strings.h"

namespace autoscale {

namespace {
constexpr std::array<std::string_view, kNumPrecisions> kPrecisionNames = {"fp32", "fp16", "int8"};
constexpr std::array<std::string_view, kNumTargetKinds> kKindNames = {"cpu", "gpu", "dsp", "cloud",
                                                                      "nearby"};

template <size_t N>
Result<int> ParseName(std::string_view name, const std::array<std::string_view, N>& names,
                      std::string_view what) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  std::vector<std::string> all(names.begin(), names.end());
  std::string msg = "unknown " + std::string(what) + " '" + std::string(name) + "'";
  std::string near = NearestName(name, all);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  return Status::InvalidArgument(msg + " (valid: " + JoinNames(all) + ")");
}
}  // namespace

std::string_view PrecisionName(Precision p) { return kPrecisionNames[static_cast<int>(p)]; }

Result<Precision> ParsePrecision(std::string_view name) {
  ASSIGN_OR_RETURN(int i, ParseName(name, kPrecisionNames, "precision"));
  return static_cast<Precision>(i);
}

std::string_view TargetKindName(TargetKind k) { return kKindNames[static_cast<int>(k)]; }

Result<TargetKind> ParseTargetKind(std::string_view name) {
  ASSIGN_OR_RETURN(int i, ParseName(name, kKindNames, "target kind"));
  return static_cast<TargetKind>(i);
}

}  // namespace autoscale
