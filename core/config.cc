#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/file_util.h"
#include "core/strings.h"

namespace autoscale {

namespace {

std::string MarkString(const std::string& file, const YAML::Mark& m) {
  // yaml-cpp marks are 0-based; people count from 1. A null mark (-1) prints as 0.
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string Quote(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return "nothing";
}

}  // namespace

Result<ConfigNode> ConfigNode::LoadFile(const std::string& path) {
  // A directory opens as a stream but reads as empty, which would load as an empty document.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::IoError(path + ": is a directory, not a file");
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxConfigFileBytes));
  return LoadString(text, path);
}

Result<ConfigNode> ConfigNode::LoadString(std::string_view text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return ConfigNode(root, file, "");
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(MarkString(name, e.mark) + ": YAML syntax error: " + e.msg);
  }
}

std::string ConfigNode::Directory() const {
  auto slash = file_->rfind('/');
  if (slash == std::string::npos) return ".";
  return file_->substr(0, slash);
}

std::string ConfigNode::Location() const { return MarkString(*file_, node_.Mark()); }

Status ConfigNode::Error(std::string_view what) const {
  std::string msg = Location() + ": ";
  if (!path_.empty()) msg += path_ + ": ";
  msg += what;
  return Status::InvalidArgument(std::move(msg));
}

std::string ConfigNode::ChildPath(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

Status ConfigNode::ExpectMap() const {
  if (!node_.IsMap()) return Error("expected a map of keys, got " + Quote(node_));
  return Status::Ok();
}

Status ConfigNode::ExpectSequence() const {
  if (!node_.IsSequence()) return Error("expected a list, got " + Quote(node_));
  return Status::Ok();
}

Status ConfigNode::CheckKeys(std::initializer_list<std::string_view> allowed) const {
  std::vector<std::string> v;
  for (auto a : allowed) v.emplace_back(a);
  return CheckKeys(v);
}

Status ConfigNode::CheckKeys(const std::vector<std::string>& allowed) const {
  RETURN_IF_ERROR(ExpectMap());
  std::vector<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      return ConfigNode(it->first, file_, path_).Error("keys must be plain names");
    }
    const std::string key = it->first.Scalar();
    bool known = false;
    for (const auto& a : allowed) known = known || a == key;
    if (known) {
      // yaml-cpp accepts a repeated key, and lookups then see only one of its values.
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        return ConfigNode(it->first, file_, ChildPath(key)).Error("duplicate key '" + key + "'");
      }
      seen.push_back(key);
      continue;
    }
    std::string msg = "unknown key '" + key + "'";
    std::string near = NearestName(key, allowed);
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    msg += " (valid keys: " + JoinNames(allowed) + ")";
    return ConfigNode(it->first, file_, ChildPath(key)).Error(msg);
  }
  return Status::Ok();
}

bool ConfigNode::Has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

Result<ConfigNode> ConfigNode::Child(std::string_view key) const {
  RETURN_IF_ERROR(ExpectMap());
  YAML::Node c = node_[std::string(key)];
  if (!c.IsDefined()) return Error("missing required key '" + std::string(key) + "'");
  return ConfigNode(c, file_, ChildPath(key));
}

std::optional<ConfigNode> ConfigNode::Optional(std::string_view key) const {
  if (!node_.IsMap()) return std::nullopt;
  YAML::Node c = node_[std::string(key)];
  if (!c.IsDefined() || c.IsNull()) return std::nullopt;
  return ConfigNode(c, file_, ChildPath(key));
}

ConfigNode ConfigNode::At(size_t i) const {
  return ConfigNode(node_[i], file_, path_ + "[" + std::to_string(i) + "]");
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::Entries() const {
  std::vector<std::pair<std::string, ConfigNode>> out;
  if (!node_.IsMap()) return out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string k = it->first.Scalar();
    out.emplace_back(k, ConfigNode(it->second, file_, ChildPath(k)));
  }
  return out;
}

Result<double> ConfigNode::AsDouble() const {
  double v = 0;
  if (!node_.IsScalar() || !ParseDouble(node_.Scalar(), &v)) {
    return Error("expected a number, got " + Quote(node_));
  }
  return v;
}

Result<int64_t> ConfigNode::AsInt() const {
  long long v = 0;
  if (!node_.IsScalar() || !ParseInt64(node_.Scalar(), &v)) {
    return Error("expected an integer, got " + Quote(node_));
  }
  return static_cast<int64_t>(v);
}

Result<bool> ConfigNode::AsBool() const {
  if (node_.IsScalar()) {
    const std::string& s = node_.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return Error("expected true or false, got " + Quote(node_));
}

Result<std::string> ConfigNode::AsString() const {
  if (!node_.IsScalar()) return Error("expected a string, got " + Quote(node_));
  return node_.Scalar();
}

Result<std::vector<double>> ConfigNode::AsDoubleList() const {
  RETURN_IF_ERROR(ExpectSequence());
  std::vector<double> out;
  for (size_t i = 0; i < size(); ++i) {
    ASSIGN_OR_RETURN(double v, At(i).AsDouble());
    out.push_back(v);
  }
  return out;
}

Result<std::vector<std::string>> ConfigNode::AsStringList() const {
  if (node_.IsScalar()) return std::vector<std::string>{node_.Scalar()};
  RETURN_IF_ERROR(ExpectSequence());
  std::vector<std::string> out;
  for (size_t i = 0; i < size(); ++i) {
    ASSIGN_OR_RETURN(std::string v, At(i).AsString());
    out.push_back(std::move(v));
  }
  return out;
}

Result<double> ConfigNode::GetDouble(std::string_view key) const {
  ASSIGN_OR_RETURN(ConfigNode c, Child(key));
  return c.AsDouble();
}
Result<int64_t> ConfigNode::GetInt(std::string_view key) const {
  ASSIGN_OR_RETURN(ConfigNode c, Child(key));
  return c.AsInt();
}
Result<std::string> ConfigNode::GetString(std::string_view key) const {
  ASSIGN_OR_RETURN(ConfigNode c, Child(key));
  return c.AsString();
}
Result<bool> ConfigNode::GetBool(std::string_view key) const {
  ASSIGN_OR_RETURN(ConfigNode c, Child(key));
  return c.AsBool();
}
Result<double> ConfigNode::GetDouble(std::string_view key, double def) const {
  auto c = Optional(key);
  return c ? c->AsDouble() : Result<double>(def);
}
Result<int64_t> ConfigNode::GetInt(std::string_view key, int64_t def) const {
  auto c = Optional(key);
  return c ? c->AsInt() : Result<int64_t>(def);
}
Result<std::string> ConfigNode::GetString(std::string_view key, const std::string& def) const {
  auto c = Optional(key);
  return c ? c->AsString() : Result<std::string>(def);
}
Result<bool> ConfigNode::GetBool(std::string_view key, bool def) const {
  auto c = Optional(key);
  return c ? c->AsBool() : Result<bool>(def);
}

namespace {
Result<double> InRange(const ConfigNode& c, double v, double lo, double hi) {
  if (v < lo || v > hi) {
    return c.Error("expected a number in [" + FormatDouble(lo) + ", " + FormatDouble(hi) +
                   "], got " + FormatDouble(v));
  }
  return v;
}
}  // namespace

Result<double> ConfigNode::GetDoubleIn(std::string_view key, double lo, double hi) const {
  ASSIGN_OR_RETURN(ConfigNode c, Child(key));
  ASSIGN_OR_RETURN(double v, c.AsDouble());
  return InRange(c, v, lo, hi);
}

Result<double> ConfigNode::GetDoubleIn(std::string_view key, double lo, double hi,
                                       double def) const {
  auto c = Optional(key);
  if (!c) return def;
  ASSIGN_OR_RETURN(double v, c->AsDouble());
  return InRange(*c, v, lo, hi);
}

}  // namespace autoscale
