// Small string helpers shared by the loaders: nearest-name suggestions and joined lists.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace autoscale {

// Levenshtein distance between a and b.
int EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `name` by edit distance, or "" when none is close enough to be a
// plausible typo (distance more than max(2, |name|/2), and not a prefix of at least 3 characters
// of a candidate, as "signal" is of "signal_dbm").
std::string NearestName(std::string_view name, std::span<const std::string> candidates);

// "a, b, c".
std::string JoinNames(std::span<const std::string> names, std::string_view sep = ", ");

// Formats a double with the shortest representation that round-trips ("%.17g"-free, stable).
std::string FormatDouble(double v, int precision = 6);

// Splits on any run of whitespace.
std::vector<std::string_view> SplitWhitespace(std::string_view s);
// Splits on one character, keeping empty fields.
std::vector<std::string_view> Split(std::string_view s, char sep);
std::string_view Trim(std::string_view s);

// Strict full-field numeric parses; false on any trailing junk, empty input or overflow.
bool ParseDouble(std::string_view s, double* out);
// ASCII lower case (HTTP header names, keys); other bytes unchanged.
std::string AsciiLower(std::string_view s);
bool ParseInt64(std::string_view s, long long* out);

// UTF-8 (RFC 3629): well-formed sequences only (no overlong forms, surrogates or code points
// past U+10FFFF).
bool IsValidUtf8(std::string_view s);
// `s` with every ill-formed byte sequence replaced by U+FFFD, so that it is valid UTF-8.
std::string ToValidUtf8(std::string_view s);
// A JSON string literal of `s`: quoted, escaped, ill-formed UTF-8 replaced by U+FFFD.
std::string JsonQuote(std::string_view s);
// One CSV field per RFC 4180: as is, or, when it holds a comma, a double quote, CR or LF (or
// starts or ends with a space), in double quotes with inner quotes doubled.
std::string CsvField(std::string_view s);
// Checks a user-chosen name (a policy label, a condition name): 1 to 128 bytes of valid UTF-8
// without control characters. Returns "" when fine, else what is wrong.
std::string CheckDisplayName(std::string_view s);

}  // namespace autoscale
