#include "core/config_schema.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/strings.h"

namespace autoscale {

namespace {

// "in [0, 1]", ">= 0", "<= 5" or "" (unbounded).
std::string Bounds(double lo, double hi) {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi) return "[" + FormatDouble(lo) + ", " + FormatDouble(hi) + "]";
  // Appended rather than "literal" + string, which GCC 12 misreads as an overlapping copy.
  std::string out;
  if (has_lo) {
    out = ">= ";
    out += FormatDouble(lo);
  } else if (has_hi) {
    out = "<= ";
    out += FormatDouble(hi);
  }
  return out;
}

// "expected a number in [0, 1], got 2" (the message ConfigNode::GetDoubleIn gives).
std::string OutOfRange(const char* what, const KeySpec& spec, double got) {
  const std::string bounds = Bounds(spec.lo, spec.hi);
  return std::string("expected ") + what + (bounds[0] == '[' ? " in " : " ") + bounds + ", got " +
         FormatDouble(got);
}

std::string Cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    if (c == '\n') c = ' ';
    out += c;
  }
  return out;
}

[[noreturn]] void ProgrammerError(const std::string& what) {
  std::fprintf(stderr, "autoscale: internal error: %s\n", what.c_str());
  std::abort();
}

}  // namespace

KeySpec KeySpec::Required() const {
  KeySpec k = *this;
  k.required = true;
  return k;
}
KeySpec KeySpec::Range(double l, double h) const {
  KeySpec k = *this;
  k.lo = l;
  k.hi = h;
  return k;
}
KeySpec KeySpec::AtLeast(double l) const {
  KeySpec k = *this;
  k.lo = l;
  return k;
}
KeySpec KeySpec::Default(double v) const {
  KeySpec k = *this;
  k.def_number = v;
  return k;
}
KeySpec KeySpec::DefaultString(std::string v) const {
  KeySpec k = *this;
  k.def_string = std::move(v);
  return k;
}
KeySpec KeySpec::DefaultText(std::string text) const {
  KeySpec k = *this;
  k.default_text = std::move(text);
  return k;
}
KeySpec KeySpec::Type(std::string text) const {
  KeySpec k = *this;
  k.type_text = std::move(text);
  return k;
}
KeySpec KeySpec::Values(std::string text) const {
  KeySpec k = *this;
  k.range_text = std::move(text);
  return k;
}

KeySpec Key(std::string name, KeyType type, std::string meaning) {
  KeySpec k;
  k.name = std::move(name);
  k.type = type;
  k.meaning = std::move(meaning);
  return k;
}

KeyTable::KeyTable(std::string path, std::string meaning, std::vector<KeySpec> keys)
    : path_(std::move(path)), meaning_(std::move(meaning)), keys_(std::move(keys)) {
  for (const KeySpec& k : keys_) {
    for (const std::string& n : names_) {
      if (n == k.name) ProgrammerError("key table '" + path_ + "' lists '" + n + "' twice");
    }
    names_.push_back(k.name);
  }
}

const KeySpec& KeyTable::Spec(std::string_view key) const {
  for (const KeySpec& k : keys_) {
    if (k.name == key) return k;
  }
  ProgrammerError("key table '" + path_ + "' has no key '" + std::string(key) + "'");
}

Status KeyTable::CheckValue(const KeySpec& spec, const ConfigNode& v) const {
  switch (spec.type) {
    case KeyType::kString:
      return v.AsString().status();
    case KeyType::kNumber: {
      ASSIGN_OR_RETURN(double x, v.AsDouble());
      if (x < spec.lo || x > spec.hi) return v.Error(OutOfRange("a number", spec, x));
      return Status::Ok();
    }
    case KeyType::kInteger: {
      ASSIGN_OR_RETURN(int64_t i, v.AsInt());
      const double x = static_cast<double>(i);
      if (x < spec.lo || x > spec.hi) return v.Error(OutOfRange("an integer", spec, x));
      return Status::Ok();
    }
    case KeyType::kBool:
      return v.AsBool().status();
    case KeyType::kNames:
      return v.AsStringList().status();
    case KeyType::kNumbers:
      return v.AsDoubleList().status();
    case KeyType::kMap:
      return v.ExpectMap();
    case KeyType::kList:
      return v.ExpectSequence();
    case KeyType::kAny:
      return Status::Ok();
  }
  return Status::Ok();
}

Status KeyTable::Check(const ConfigNode& node) const {
  RETURN_IF_ERROR(node.CheckKeys(names_));
  for (const KeySpec& k : keys_) {
    if (k.required && !node.Has(k.name)) {
      return node.Error("missing required key '" + k.name + "'");
    }
  }
  for (const auto& [key, value] : node.Entries()) {
    const KeySpec& spec = Spec(key);
    // An optional key given as null (`key:` or `key: ~`) reads as absent.
    if (!spec.required && value.IsNull()) continue;
    RETURN_IF_ERROR(CheckValue(spec, value));
  }
  return Status::Ok();
}

Result<double> KeyTable::Number(const ConfigNode& node, std::string_view key) const {
  const KeySpec& k = Spec(key);
  if (!k.required && !k.def_number) {
    ProgrammerError("key '" + k.name + "' of '" + path_ + "' has no default to read");
  }
  if (k.required) {
    ASSIGN_OR_RETURN(ConfigNode c, node.Child(key));
    RETURN_IF_ERROR(CheckValue(k, c));
    return c.AsDouble();
  }
  return Number(node, key, *k.def_number);
}

Result<double> KeyTable::Number(const ConfigNode& node, std::string_view key, double def) const {
  const KeySpec& k = Spec(key);
  auto c = node.Optional(key);
  if (!c) return def;
  RETURN_IF_ERROR(CheckValue(k, *c));
  return c->AsDouble();
}

Result<int64_t> KeyTable::Integer(const ConfigNode& node, std::string_view key) const {
  const KeySpec& k = Spec(key);
  std::optional<ConfigNode> c;
  if (k.required) {
    ASSIGN_OR_RETURN(c, node.Child(key));
  } else {
    if (!k.def_number) ProgrammerError("key '" + k.name + "' of '" + path_ + "' has no default");
    c = node.Optional(key);
    if (!c) return static_cast<int64_t>(*k.def_number);
  }
  RETURN_IF_ERROR(CheckValue(k, *c));
  return c->AsInt();
}

Result<std::string> KeyTable::String(const ConfigNode& node, std::string_view key) const {
  const KeySpec& k = Spec(key);
  if (k.required) {
    ASSIGN_OR_RETURN(ConfigNode c, node.Child(key));
    return c.AsString();
  }
  if (!k.def_string) ProgrammerError("key '" + k.name + "' of '" + path_ + "' has no default");
  return String(node, key, *k.def_string);
}

Result<std::string> KeyTable::String(const ConfigNode& node, std::string_view key,
                                     const std::string& def) const {
  Spec(key);
  return node.GetString(key, def);
}

Result<bool> KeyTable::Bool(const ConfigNode& node, std::string_view key) const {
  const KeySpec& k = Spec(key);
  if (k.required) return node.GetBool(key);
  if (!k.def_number) ProgrammerError("key '" + k.name + "' of '" + path_ + "' has no default");
  return node.GetBool(key, *k.def_number != 0);
}

std::string KeyTypeText(const KeySpec& k) {
  if (!k.type_text.empty()) return k.type_text;
  switch (k.type) {
    case KeyType::kString:
      return "string";
    case KeyType::kNumber:
      return "number";
    case KeyType::kInteger:
      return "integer";
    case KeyType::kBool:
      return "bool";
    case KeyType::kNames:
      return "name or list of names";
    case KeyType::kNumbers:
      return "list of numbers";
    case KeyType::kMap:
      return "map";
    case KeyType::kList:
      return "list";
    case KeyType::kAny:
      return "see meaning";
  }
  return "";
}

std::string KeyRangeText(const KeySpec& k) {
  std::string out = Bounds(k.lo, k.hi);
  if (!k.range_text.empty()) out += (out.empty() ? "" : "; ") + k.range_text;
  return out;
}

std::string KeyDefaultText(const KeySpec& k) {
  if (k.required) return "required";
  if (!k.default_text.empty()) return k.default_text;
  if (k.def_string) return k.def_string->empty() ? "\"\"" : "`" + *k.def_string + "`";
  if (k.def_number) {
    if (k.type == KeyType::kBool) return *k.def_number != 0 ? "true" : "false";
    return FormatDouble(*k.def_number);
  }
  return "none";
}

std::string KeyTable::Markdown(int level) const {
  std::string out(static_cast<size_t>(level), '#');
  out += " ";
  out += path_.empty() ? "top level" : "`" + path_ + "`";
  out += "\n\n";
  if (!meaning_.empty()) out += meaning_ + "\n\n";
  out += "| key | type | range | default | meaning |\n|---|---|---|---|---|\n";
  for (const KeySpec& k : keys_) {
    out += "| `" + k.name + "` | " + Cell(KeyTypeText(k)) + " | " + Cell(KeyRangeText(k)) +
           " | " + Cell(KeyDefaultText(k)) + " | " + Cell(k.meaning) + " |\n";
  }
  return out;
}

}  // namespace autoscale
