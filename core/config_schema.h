// Key tables: one per YAML map a loader reads, listing each key's type, range, default and
// meaning. The loader checks a map against its table (unknown and duplicate keys with the nearest
// valid one suggested, missing required keys, every present value's type and range) and reads
// values and defaults through it; the configuration reference (docs/configuration.md) is printed
// from the same tables, so the two cannot drift.
//
// A table is built once (a function-local static) and never changed: reads are thread-safe.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace autoscale {

enum class KeyType {
  kString,   // a scalar read as text
  kNumber,   // a number; Check() enforces the spec's range
  kInteger,  // an integer; Check() enforces the spec's range
  kBool,     // true/false (yes/no, on/off)
  kNames,    // a name or a list of names
  kNumbers,  // a list of numbers
  kMap,      // a map, its keys described by another table or named freely
  kList,     // a list, its items described by another table
  kAny,      // one of several forms, checked by the loader; the spec's `type_text` says which
};

// One key of a map. Built with Key() and the chained setters, e.g.
//   Key("compute_noise", KeyType::kNumber, "relative spread of compute time").Range(0, 2)
//       .Default(0.05)
struct KeySpec {
  std::string name;
  KeyType type = KeyType::kAny;
  bool required = false;
  // kNumber, kInteger: the closed range Check() enforces (infinite: unbounded on that side).
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  // The value when the key is absent (or null): a number (kNumber, kInteger, kBool as 0/1) or a
  // string (kString). Neither: the loader decides, as `default_text` says.
  std::optional<double> def_number;
  std::optional<std::string> def_string;
  std::string type_text;     // the reference's type column, when not the type's own name
  std::string range_text;    // a range or set of values the loader checks itself
  std::string default_text;  // the reference's default column, when not the default's value
  std::string meaning;       // one line

  KeySpec Required() const;
  KeySpec Range(double lo, double hi) const;
  KeySpec AtLeast(double lo) const;
  KeySpec Default(double v) const;
  KeySpec DefaultString(std::string v) const;
  KeySpec DefaultText(std::string text) const;
  KeySpec Type(std::string text) const;
  KeySpec Values(std::string text) const;
};

KeySpec Key(std::string name, KeyType type, std::string meaning);

class KeyTable {
 public:
  // `path`: where the map sits in its file ("" for the top level, "world", "targets[]",
  // "networks.NAME"); `meaning`: one or two sentences for the reference.
  KeyTable(std::string path, std::string meaning, std::vector<KeySpec> keys);

  const std::string& path() const { return path_; }
  const std::string& meaning() const { return meaning_; }
  const std::vector<KeySpec>& keys() const { return keys_; }
  const std::vector<std::string>& names() const { return names_; }
  // The spec of `key`; a key the table lacks is a programmer error (aborts).
  const KeySpec& Spec(std::string_view key) const;

  // Checks that `node` is a map whose keys are all in the table, each at most once, that every
  // required key is present, and that every present value has its key's type and lies in its
  // range. Errors read "FILE:LINE:COL: KEY.PATH: what was expected".
  Status Check(const ConfigNode& node) const;

  // Reads of a key of `node` (which Check() passed): the value, or the table's default when the
  // key is absent or null. A required key that is absent is an error; an optional key without a
  // default in the table is a programmer error (use the overloads taking one).
  Result<double> Number(const ConfigNode& node, std::string_view key) const;
  Result<int64_t> Integer(const ConfigNode& node, std::string_view key) const;
  Result<std::string> String(const ConfigNode& node, std::string_view key) const;
  Result<bool> Bool(const ConfigNode& node, std::string_view key) const;
  // The same with the default the caller holds (a struct's own, when the table says so in words).
  Result<double> Number(const ConfigNode& node, std::string_view key, double def) const;
  Result<std::string> String(const ConfigNode& node, std::string_view key,
                             const std::string& def) const;

  // The table as Markdown: a heading at `level` (2 = "##") naming the path, the meaning, and a
  // table with the columns key, type, range, default, meaning.
  std::string Markdown(int level) const;

 private:
  Status CheckValue(const KeySpec& spec, const ConfigNode& value) const;

  std::string path_;
  std::string meaning_;
  std::vector<KeySpec> keys_;
  std::vector<std::string> names_;
};

// The reference's cell texts of one key (also used by tests).
std::string KeyTypeText(const KeySpec& spec);
std::string KeyRangeText(const KeySpec& spec);
std::string KeyDefaultText(const KeySpec& spec);

}  // namespace autoscale
