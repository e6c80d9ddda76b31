#include "core/strings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace autoscale {
namespace {

using Views = std::vector<std::string_view>;

TEST(EditDistanceTest, KnownValues) {
  EXPECT_EQ(EditDistance("", ""), 0);
  EXPECT_EQ(EditDistance("abc", ""), 3);
  EXPECT_EQ(EditDistance("", "abcd"), 4);
  EXPECT_EQ(EditDistance("same", "same"), 0);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("flaw", "lawn"), 2);
  EXPECT_EQ(EditDistance("powr_mw", "power_mw"), 1);   // one insertion
  EXPECT_EQ(EditDistance("power_mx", "power_mw"), 1);  // one substitution
  EXPECT_EQ(EditDistance("ab", "ba"), 2);              // no transposition move
  EXPECT_EQ(EditDistance("Power", "power"), 1);        // case-sensitive
}

TEST(EditDistanceTest, Symmetric) {
  const std::vector<std::string> words = {"", "a", "freq_mhz", "frequency", "q_learning", "qlearn"};
  for (const auto& a : words) {
    for (const auto& b : words) {
      EXPECT_EQ(EditDistance(a, b), EditDistance(b, a)) << a << " / " << b;
    }
  }
}

TEST(NearestNameTest, SuggestsClosest) {
  const std::vector<std::string> keys = {"name", "power_mw", "freq_mhz", "levels"};
  EXPECT_EQ(NearestName("powr_mw", keys), "power_mw");
  EXPECT_EQ(NearestName("freq_mz", keys), "freq_mhz");
  EXPECT_EQ(NearestName("level", keys), "levels");
  EXPECT_EQ(NearestName("name", keys), "name");  // exact match is distance 0
}

TEST(NearestNameTest, NothingWhenTooFar) {
  const std::vector<std::string> keys = {"name", "power_mw", "freq_mhz"};
  EXPECT_EQ(NearestName("completely_different", keys), "");
  // "xy" has limit max(2, 1) = 2 and every key is at least 4 away.
  EXPECT_EQ(NearestName("xy", keys), "");
  EXPECT_EQ(NearestName("anything", std::vector<std::string>{}), "");
}

TEST(NearestNameTest, ThresholdBoundary) {
  // |name| = 8 -> limit 4.
  const std::vector<std::string> four = {"abcdwxyz"};
  EXPECT_EQ(NearestName("abcdefgh", four), "abcdwxyz");  // distance 4: accepted
  const std::vector<std::string> five = {"abcvwxyz"};
  EXPECT_EQ(NearestName("abcdefgh", five), "");  // distance 5: rejected
  // Short names still get the floor of 2.
  const std::vector<std::string> two = {"xy"};
  EXPECT_EQ(NearestName("ab", two), "xy");
  const std::vector<std::string> three = {"xyz"};
  EXPECT_EQ(NearestName("ab", three), "");
}

TEST(NearestNameTest, TiesGoToFirstCandidate) {
  const std::vector<std::string> keys = {"cat", "bat"};
  EXPECT_EQ(NearestName("hat", keys), "cat");
  const std::vector<std::string> rev = {"bat", "cat"};
  EXPECT_EQ(NearestName("hat", rev), "bat");
}

TEST(JoinNamesTest, Joins) {
  EXPECT_EQ(JoinNames(std::vector<std::string>{}), "");
  EXPECT_EQ(JoinNames(std::vector<std::string>{"a"}), "a");
  EXPECT_EQ(JoinNames(std::vector<std::string>{"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(JoinNames(std::vector<std::string>{"a", "b"}, "|"), "a|b");
}

TEST(FormatDoubleTest, Formats) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(2.5), "2.5");
  EXPECT_EQ(FormatDouble(-3), "-3");
  EXPECT_EQ(FormatDouble(1e6), "1e+06");
  EXPECT_EQ(FormatDouble(3.14159265, 3), "3.14");
  EXPECT_EQ(FormatDouble(std::nan("")), "null");
}

TEST(SplitTest, KeepsEmptyFields) {
  EXPECT_EQ(Split("a,b,c", ','), (Views{"a", "b", "c"}));
  EXPECT_EQ(Split("a,,b", ','), (Views{"a", "", "b"}));
  EXPECT_EQ(Split("a,", ','), (Views{"a", ""}));
  EXPECT_EQ(Split(",a", ','), (Views{"", "a"}));
  EXPECT_EQ(Split("", ','), (Views{""}));
  EXPECT_EQ(Split("abc", ','), (Views{"abc"}));
}

TEST(SplitWhitespaceTest, SplitsOnRuns) {
  EXPECT_EQ(SplitWhitespace("  a \t b\r\n c  "), (Views{"a", "b", "c"}));
  EXPECT_EQ(SplitWhitespace("one"), (Views{"one"}));
  EXPECT_TRUE(SplitWhitespace("").empty());
  EXPECT_TRUE(SplitWhitespace(" \t\n ").empty());
}

TEST(TrimTest, Trims) {
  EXPECT_EQ(Trim("  x y \t\r\n"), "x y");
  EXPECT_EQ(Trim("x"), "x");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim(" \t "), "");
}

TEST(ParseDoubleTest, Accepts) {
  double v = 0;
  ASSERT_TRUE(ParseDouble("1.5", &v));
  EXPECT_EQ(v, 1.5);
  ASSERT_TRUE(ParseDouble("-2", &v));
  EXPECT_EQ(v, -2.0);
  ASSERT_TRUE(ParseDouble("1e3", &v));
  EXPECT_EQ(v, 1000.0);
  ASSERT_TRUE(ParseDouble("2.5E-1", &v));
  EXPECT_EQ(v, 0.25);
  ASSERT_TRUE(ParseDouble(".5", &v));
  EXPECT_EQ(v, 0.5);
  ASSERT_TRUE(ParseDouble("  7.25\t", &v));  // surrounding whitespace is trimmed
  EXPECT_EQ(v, 7.25);
  ASSERT_TRUE(ParseDouble("0", &v));
  EXPECT_EQ(v, 0.0);
}

TEST(ParseDoubleTest, RejectsJunkEmptyAndNonFinite) {
  const std::vector<std::string> bad = {
      "",      "   ",    "abc",  "1.5x",     "1.5 x", "1 2", "x1.5", "1,5",
      "--1",   "inf",    "-inf", "infinity", "INF",   "nan", "NaN",  "-nan",
      "1e400", "-1e400", ".inf", "1e",       "e5",    ".",   "-",
  };
  for (const auto& s : bad) {
    double v = 123.0;
    EXPECT_FALSE(ParseDouble(s, &v)) << "'" << s << "'";
    EXPECT_EQ(v, 123.0) << "output must be untouched on failure for '" << s << "'";
  }
}

TEST(ParseDoubleTest, ParsesOnlyTheView) {
  // A string_view that is a prefix of a longer buffer: the rest must not be read.
  std::string buf = "12345";
  double v = 0;
  ASSERT_TRUE(ParseDouble(std::string_view(buf).substr(0, 2), &v));
  EXPECT_EQ(v, 12.0);
}

TEST(ParseInt64Test, Accepts) {
  long long v = 0;
  ASSERT_TRUE(ParseInt64("42", &v));
  EXPECT_EQ(v, 42);
  ASSERT_TRUE(ParseInt64("-17", &v));
  EXPECT_EQ(v, -17);
  ASSERT_TRUE(ParseInt64(" 8 ", &v));
  EXPECT_EQ(v, 8);
  ASSERT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_EQ(v, std::numeric_limits<long long>::max());
  ASSERT_TRUE(ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, std::numeric_limits<long long>::min());
}

TEST(ParseInt64Test, RejectsJunkEmptyAndOverflow) {
  const std::vector<std::string> bad = {
      "",
      "  ",
      "abc",
      "12abc",
      "1.0",
      "1e3",
      "0x10",
      "1 2",
      "--1",
      "9223372036854775808",
      "-9223372036854775809",
      "99999999999999999999",
      "-",
  };
  for (const auto& s : bad) {
    long long v = 123;
    EXPECT_FALSE(ParseInt64(s, &v)) << "'" << s << "'";
    EXPECT_EQ(v, 123) << "output must be untouched on failure for '" << s << "'";
  }
}

// ---- UTF-8, JSON and CSV (issue 10, item 5) -----------------------------------------------

TEST(Utf8Test, AcceptsWellFormedAndRejectsIllFormed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // e-acute, euro, emoji
  for (std::string_view bad : {
           std::string_view("\xff"), std::string_view("\xc3("),      // bad lead, missing trail
           std::string_view("\xc0\xaf"),                             // overlong '/'
           std::string_view("\xe0\x80\xaf"),                         // overlong, 3 bytes
           std::string_view("\xed\xa0\x80"),                         // UTF-16 surrogate
           std::string_view("\xf4\x90\x80\x80"),                     // past U+10FFFF
           std::string_view("\xe2\x82"),                             // truncated
       }) {
    EXPECT_FALSE(IsValidUtf8(bad)) << ::testing::PrintToString(std::string(bad));
    EXPECT_TRUE(IsValidUtf8(ToValidUtf8(bad)));
  }
  EXPECT_EQ(ToValidUtf8("a\xff" "b"), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(ToValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(JsonQuoteTest, EscapesAndRepairs) {
  EXPECT_EQ(JsonQuote("a\"b\\c\nd\te\r"), "\"a\\\"b\\\\c\\nd\\te\\r\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x7f", 2)), "\"\\u0001\\u007f\"");
  EXPECT_EQ(JsonQuote("x\xff"), "\"x\xef\xbf\xbd\"");
}

TEST(CsvFieldTest, QuotesPerRfc4180OnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField(" padded"), "\" padded\"");
}

TEST(CheckDisplayNameTest, RefusesEmptyLongInvalidAndControl) {
  EXPECT_EQ(CheckDisplayName("always cpu, fp32"), "");
  EXPECT_NE(CheckDisplayName(""), "");
  EXPECT_NE(CheckDisplayName(std::string(129, 'a')), "");
  EXPECT_NE(CheckDisplayName("a\xff"), "");
  EXPECT_NE(CheckDisplayName("a\tb"), "");
  EXPECT_NE(CheckDisplayName(std::string("a\0b", 3)), "");
}

}  // namespace
}  // namespace autoscale
