// ConfigNode: a YAML node that knows its file, position and key path, so that every error about
// it reads "FILE:LINE:COL: KEY.PATH: what was expected" (DESIGN.md, "Configuration").
//
// Loaders walk a document with it: CheckKeys() rejects unknown keys and suggests the nearest valid
// one, the typed getters say what was expected when a value has the wrong type or range.
// A ConfigNode is a cheap value (it shares the parsed document); it is not thread-safe to mutate
// but is never mutated after loading.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace autoscale {

// Largest YAML file LoadFile reads. A parsed YAML document takes about 90 times its size in
// memory (a 60 MiB list took 5.4 GB and 47 s), so configuration files are capped well below
// ReadFile's general cap; the largest shipped one is under 8 KiB.
inline constexpr size_t kMaxConfigFileBytes = size_t{2} << 20;

class ConfigNode {
 public:
  // Parses a file: a regular file of at most kMaxConfigFileBytes (ReadFile refuses devices,
  // FIFOs and directories); a syntax error names file, line and column.
  static Result<ConfigNode> LoadFile(const std::string& path);
  // Parses text; `name` stands for the file in messages.
  static Result<ConfigNode> LoadString(std::string_view text, const std::string& name = "<string>");

  bool IsMap() const { return node_.IsMap(); }
  bool IsSequence() const { return node_.IsSequence(); }
  bool IsScalar() const { return node_.IsScalar(); }
  bool IsNull() const { return !node_ || node_.IsNull(); }

  const std::string& file() const { return *file_; }
  // Key path from the document root, e.g. "clusters[1].levels[0].power_mw"; "" at the root.
  const std::string& path() const { return path_; }
  // The folder of the file, for resolving relative paths ("." when the name has no folder,
  // as for strings).
  std::string Directory() const;
  // "FILE:LINE:COL" (1-based) of this node.
  std::string Location() const;
  // An InvalidArgument status "FILE:LINE:COL: PATH: what".
  Status Error(std::string_view what) const;

  // Fails unless this is a map whose every key is in `allowed`, each at most once; an unknown
  // key's error names the nearest allowed key ("did you mean 'power_mw'?") and lists them all.
  Status CheckKeys(std::initializer_list<std::string_view> allowed) const;
  Status CheckKeys(const std::vector<std::string>& allowed) const;
  Status ExpectMap() const;
  Status ExpectSequence() const;

  bool Has(std::string_view key) const;
  // A required child; missing is an error naming the key.
  Result<ConfigNode> Child(std::string_view key) const;
  // An optional child; nullopt when absent or null.
  std::optional<ConfigNode> Optional(std::string_view key) const;

  // Sequence access.
  size_t size() const { return node_.size(); }
  ConfigNode At(size_t i) const;
  // Map entries in document order.
  std::vector<std::pair<std::string, ConfigNode>> Entries() const;

  // Scalars.
  Result<double> AsDouble() const;
  Result<int64_t> AsInt() const;
  Result<bool> AsBool() const;
  Result<std::string> AsString() const;
  Result<std::vector<double>> AsDoubleList() const;
  Result<std::vector<std::string>> AsStringList() const;

  // Required typed children.
  Result<double> GetDouble(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  // Optional typed children: the default when absent, an error when present but malformed.
  Result<double> GetDouble(std::string_view key, double def) const;
  Result<int64_t> GetInt(std::string_view key, int64_t def) const;
  Result<std::string> GetString(std::string_view key, const std::string& def) const;
  Result<bool> GetBool(std::string_view key, bool def) const;

  // Range-checked doubles: error "expected a number in [lo, hi], got X".
  Result<double> GetDoubleIn(std::string_view key, double lo, double hi) const;
  Result<double> GetDoubleIn(std::string_view key, double lo, double hi, double def) const;

  const YAML::Node& raw() const { return node_; }

 private:
  ConfigNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path)
      : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}
  std::string ChildPath(std::string_view key) const;

  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

}  // namespace autoscale
