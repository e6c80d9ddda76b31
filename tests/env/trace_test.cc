#include "env/trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/random.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

// Three samples 0, 1, 3 s: period 3 + 2 = 5 s.
Trace Irregular() {
  return Trace("irr", {"a", "b"}, {0.0, 1.0, 3.0}, {{1.0, 2.0, 4.0}, {-1.0, -2.0, -3.0}});
}

fs::path TempDir() {
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  fs::path dir = env != nullptr ? fs::path(env) : fs::temp_directory_path();
  dir /= "trace_test_" + std::to_string(::getpid());
  fs::create_directories(dir);
  return dir;
}

std::string WriteTemp(const std::string& file, const std::string& text) {
  const fs::path path = TempDir() / file;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

std::string SharedMahimahi(const std::string& file) {
  return std::string(AUTOSCALE_SHARED_DATA_DIR) + "/traces/mahimahi/" + file;
}

// ---- Trace queries ----------------------------------------------------------------------------

TEST(TraceTest, SampleAndHoldAndLoop) {
  Trace t = Irregular();
  EXPECT_EQ(t.name(), "irr");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t.period_s(), 5.0);
  EXPECT_TRUE(t.loop());
  EXPECT_EQ(t.At(0, -3.0), 1.0);  // before the first sample: the first value, not wrapped
  EXPECT_EQ(t.At(0, 0.0), 1.0);
  EXPECT_EQ(t.At(0, 0.999), 1.0);
  EXPECT_EQ(t.At(0, 1.0), 2.0);
  EXPECT_EQ(t.At(0, 2.9), 2.0);
  EXPECT_EQ(t.At(0, 3.0), 4.0);
  EXPECT_EQ(t.At(0, 4.99), 4.0);
  EXPECT_EQ(t.At(0, 5.0), 1.0);  // wraps
  EXPECT_EQ(t.At(0, 6.5), 2.0);
  EXPECT_EQ(t.At(0, 5003.5), 4.0);  // 1000 periods later
  EXPECT_EQ(t.At(1, 6.5), -2.0);
  t.set_loop(false);
  EXPECT_FALSE(t.loop());
  EXPECT_EQ(t.At(0, 5.0), 4.0);
  EXPECT_EQ(t.At(0, 1e9), 4.0);
}

TEST(TraceTest, FirstSampleAfterZeroHoldsFromZero) {
  Trace t("late", {"x"}, {2.0, 4.0}, {{7.0, 9.0}});
  EXPECT_DOUBLE_EQ(t.period_s(), 6.0);
  EXPECT_EQ(t.At(0, 1.0), 7.0);
  EXPECT_EQ(t.At(0, 4.0), 9.0);
  EXPECT_EQ(t.At(0, 7.0), 7.0);   // local 1
  EXPECT_EQ(t.At(0, 10.5), 9.0);  // local 4.5
  // Time-weighted over [0, 6): 7 for 4 s, 9 for 2 s.
  EXPECT_DOUBLE_EQ(t.Mean(0), (7.0 * 4 + 9.0 * 2) / 6);
}

TEST(TraceTest, EqualTimesLastWinsAndPeriodUsesLastPositiveInterval) {
  Trace t("dup", {"x"}, {0.0, 1.0, 1.0, 2.0, 2.0}, {{1.0, 2.0, 3.0, 4.0, 5.0}});
  EXPECT_EQ(t.At(0, 1.0), 3.0);
  EXPECT_EQ(t.At(0, 2.0), 5.0);
  EXPECT_DOUBLE_EQ(t.period_s(), 3.0);
  EXPECT_EQ(t.At(0, 3.5), 1.0);
}

TEST(TraceTest, SingleSampleAndEmpty) {
  Trace one("one", {"x"}, {0.0}, {{42.0}});
  EXPECT_DOUBLE_EQ(one.period_s(), 1.0);
  EXPECT_EQ(one.At(0, 0.0), 42.0);
  EXPECT_EQ(one.At(0, 123.4), 42.0);
  EXPECT_DOUBLE_EQ(one.Mean(0), 42.0);

  Trace empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.empty());
  Trace::Cursor c = empty.MakeCursor(0);
  EXPECT_EQ(c.At(1.0), 0.0);
  Trace::Cursor def;
  EXPECT_EQ(def.At(1.0), 0.0);
}

TEST(TraceTest, MeanIsTimeWeightedOverOnePeriod) {
  Trace t = Irregular();
  // 1 for [0,1), 2 for [1,3), 4 for [3,5).
  EXPECT_DOUBLE_EQ(t.Mean(0), (1.0 * 1 + 2.0 * 2 + 4.0 * 2) / 5);
  EXPECT_DOUBLE_EQ(t.Mean(1), (-1.0 * 1 - 2.0 * 2 - 3.0 * 2) / 5);
}

TEST(TraceTest, Columns) {
  Trace t = Irregular();
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.Column("b"), 1);
  EXPECT_EQ(t.Column("c"), -1);
  ASSERT_TRUE(t.RequireColumn("a").ok());
  EXPECT_EQ(*t.RequireColumn("a"), 0);
  EXPECT_EQ(t.times(), (std::vector<double>{0.0, 1.0, 3.0}));
  EXPECT_EQ(t.values(1), (std::vector<double>{-1.0, -2.0, -3.0}));

  Trace s("sig.csv", {"signal_dbm", "cpu_load"}, {0.0}, {{-80.0}, {0.5}});
  Result<int> r = s.RequireColumn("signl_dbm");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "sig.csv: no column 'signl_dbm' (did you mean 'signal_dbm'?); the columns are: "
            "signal_dbm, cpu_load");
}

TEST(TraceTest, ExtractKeepsTimesPeriodAndLoop) {
  Result<Trace> m = Trace::FromMahimahi("0\n0\n500\n1000\n1999\n2500\n", "m.down");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  m->set_loop(false);
  Trace e = m->Extract(0, "cell_down", 0.5);
  EXPECT_EQ(e.name(), "cell_down");
  EXPECT_EQ(e.columns(), (std::vector<std::string>{"mbps"}));
  EXPECT_EQ(e.times(), m->times());
  EXPECT_EQ(e.period_s(), 2.5);
  EXPECT_FALSE(e.loop());
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(e.values(0)[i], 0.5 * m->values(0)[i]);

  Trace b = Irregular().Extract(1, "b");
  EXPECT_EQ(b.columns(), (std::vector<std::string>{"b"}));
  EXPECT_EQ(b.values(0), (std::vector<double>{-1.0, -2.0, -3.0}));
  EXPECT_EQ(b.period_s(), 5.0);
}

TEST(TraceTest, MakeChecksShape) {
  EXPECT_TRUE(Trace::Make("m", {"x"}, {0.0, 1.0}, {{1.0, 2.0}}).ok());
  Result<Trace> r = Trace::Make("m", {"x"}, {0.0, 1.0}, {{1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m: column 'x' has 1 values for 2 times");
  r = Trace::Make("m", {"x", "y"}, {0.0}, {{1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m: 2 column names but 1 value columns");
  r = Trace::Make("m", {"x"}, {0.0, 2.0, 1.0}, {{1.0, 2.0, 3.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m: sample 2: time goes backwards (1 after 2)");
  r = Trace::Make("m", {"x"}, {-1.0}, {{1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m: sample 0: time must be finite and >= 0, got -1");
}

TEST(TraceDeathTest, ConstructorAbortsOnBadShape) {
  EXPECT_DEATH(Trace("m", {"x"}, {0.0, 1.0}, {{1.0}}), "column 'x' has 1 values for 2 times");
}

// ---- Cursor -----------------------------------------------------------------------------------

// Checks Cursor against Trace::At on `count` nondecreasing queries with random gaps up to
// max_gap (some zero), starting at t0.
void ExpectCursorMatches(const Trace& trace, int column, double t0, double max_gap, int count,
                         uint64_t seed) {
  Trace::Cursor c = trace.MakeCursor(column);
  Rng rng(seed);
  double t = t0;
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(c.At(t), trace.At(column, t)) << "query " << i << " at t=" << t;
    ASSERT_EQ(c.At(t), trace.At(column, t)) << "repeat query " << i << " at t=" << t;
    if (rng.Below(8) != 0) t += rng.Uniform(0, max_gap);
  }
}

TEST(TraceCursorTest, MatchesAtOnExactBoundaries) {
  Trace t = Irregular();
  Trace::Cursor c = t.MakeCursor(0);
  for (double q : {-1.0, 0.0, 0.5,  1.0,  1.0,  2.0,    3.0,    4.999,  5.0,    5.5,
                   6.0,  8.0, 10.0, 11.0, 15.0, 1000.0, 1001.0, 1003.0, 1004.0, 1005.0}) {
    EXPECT_EQ(c.At(q), t.At(0, q)) << "t=" << q;
  }
}

TEST(TraceCursorTest, MatchesAtOnRandomSequentialQueries) {
  Trace t = Irregular();
  ExpectCursorMatches(t, 0, -2.0, 0.7, 20000, 1);
  ExpectCursorMatches(t, 1, 0.0, 13.0, 20000, 2);  // jumps over whole periods
  t.set_loop(false);
  ExpectCursorMatches(t, 0, -2.0, 0.7, 2000, 3);

  // A long irregular trace with repeated times, queried with small and huge gaps.
  std::vector<double> times, values;
  Rng rng(7);
  double time = 0.25;
  for (int i = 0; i < 5000; ++i) {
    if (rng.Below(5) != 0) time += rng.Uniform(0.001, 0.1);
    times.push_back(time);
    values.push_back(static_cast<double>(i));
  }
  Trace big("big", {"i"}, times, {values});
  ExpectCursorMatches(big, 0, 0.0, 0.01, 50000, 4);
  ExpectCursorMatches(big, 0, 0.0, 3.0, 50000, 5);
  ExpectCursorMatches(big, 0, 1e6, 0.05, 50000, 6);  // far from 0: wrapped boundaries
  ExpectCursorMatches(big, 0, 0.0, 2000.0, 5000, 7);
}

TEST(TraceCursorTest, GoingBackwardsIsStillExact) {
  Trace t = Irregular();
  Trace::Cursor c = t.MakeCursor(0);
  EXPECT_EQ(c.At(3.5), 4.0);
  EXPECT_EQ(c.At(0.5), 1.0);
  EXPECT_EQ(c.At(12.0), 2.0);
  EXPECT_EQ(c.At(1.0), 2.0);
  EXPECT_EQ(c.At(0.0), 1.0);
}

// ---- CSV --------------------------------------------------------------------------------------

TEST(TraceCsvTest, ParsesHeaderCommentsBlanksAndCrlf) {
  const std::string text =
      "# recorded on a Pixel\r\n"
      "time_s, signal_dbm ,cpu_load\r\n"
      "\r\n"
      "0,-80,0.1\r\n"
      "  # a comment in between\n"
      "0.5, -85.5 , 0.25\n"
      "2,-90,1\n";
  Result<Trace> r = Trace::FromCsv(text, "x.csv");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Trace& t = *r;
  EXPECT_EQ(t.name(), "x.csv");
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"signal_dbm", "cpu_load"}));
  EXPECT_EQ(t.times(), (std::vector<double>{0.0, 0.5, 2.0}));
  EXPECT_EQ(t.values(0), (std::vector<double>{-80.0, -85.5, -90.0}));
  EXPECT_EQ(t.values(1), (std::vector<double>{0.1, 0.25, 1.0}));
  EXPECT_DOUBLE_EQ(t.period_s(), 3.5);
  EXPECT_EQ(t.At(1, 0.7), 0.25);
}

void ExpectCsvError(const std::string& text, const std::string& message) {
  Result<Trace> r = Trace::FromCsv(text, "traces/x.csv");
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), message);
}

TEST(TraceCsvTest, Errors) {
  ExpectCsvError("time_s,signal_dbm\n0,-80\n1,abc\n",
                 "traces/x.csv:3: expected a number in column 'signal_dbm', got 'abc'");
  ExpectCsvError("time_s,signal_dbm\n0,-80\n\n1,\n",
                 "traces/x.csv:4: expected a number in column 'signal_dbm', got ''");
  ExpectCsvError("time_s,signal_dbm\n6.0,-80\n5.2,-81\n",
                 "traces/x.csv:3: time goes backwards (5.2 after 6.0)");
  ExpectCsvError("time_s,a\nx,1\n",
                 "traces/x.csv:2: expected a number in column 'time_s', got 'x'");
  ExpectCsvError("time_s,a\n-1,1\n", "traces/x.csv:2: time must be in [0, 1e+10] s, got '-1'");
  ExpectCsvError("time_s,a\n0,nan\n", "traces/x.csv:2: expected a number in column 'a', got 'nan'");
  ExpectCsvError("time_s,a,b\n0,1\n", "traces/x.csv:2: expected 3 fields (time_s,a,b), got 2");
  ExpectCsvError("time_s,a,b\n0,1,2,3\n", "traces/x.csv:2: expected 3 fields (time_s,a,b), got 4");
  ExpectCsvError("", "traces/x.csv: no samples (no header row: the file is empty)");
  ExpectCsvError("# only\n\n", "traces/x.csv: no samples (no header row: the file is empty)");
  ExpectCsvError("time_s,a\n", "traces/x.csv: no samples after the header");
  ExpectCsvError("t,a\n0,1\n", "traces/x.csv:1: the header's first column must be time_s, got 't'");
  ExpectCsvError("\ntime_s\n0\n", "traces/x.csv:2: the header has no value columns after time_s");
  ExpectCsvError("time_s,a,,b\n", "traces/x.csv:1: the header's column 3 has no name");
  ExpectCsvError("time_s,a,a\n", "traces/x.csv:1: the header repeats column 'a'");
  ExpectCsvError("time_s,a,time_s\n", "traces/x.csv:1: the header repeats column 'time_s'");
}

TEST(TraceCsvTest, LoadFromFileAndMissingFile) {
  const std::string path = WriteTemp("sig.csv", "time_s,signal_dbm\n0,-70\n1,-75\n");
  Result<Trace> r = Trace::LoadCsv(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name(), path);
  EXPECT_EQ(r->At(0, 1.5), -75.0);

  const std::string bad = WriteTemp("bad.csv", "time_s,signal_dbm\n0,-70\n1,x\n");
  r = Trace::LoadCsv(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), bad + ":3: expected a number in column 'signal_dbm', got 'x'");

  const std::string missing = (TempDir() / "no_such.csv").string();
  r = Trace::LoadCsv(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), missing + ": cannot open file: No such file or directory");
}

// ---- Mahimahi ---------------------------------------------------------------------------------

TEST(TraceMahimahiTest, BinsOpportunitiesIntoMbps) {
  // 3 opportunities in [0,1) s, 2 in [1,2), 1 in the last half-second bin [2,2.5].
  Result<Trace> r = Trace::FromMahimahi("0\n0\n500\n1000\n1999\n2500\n", "m.down");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Trace& t = *r;
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"mbps"}));
  EXPECT_EQ(t.times(), (std::vector<double>{0.0, 1.0, 2.0}));
  ASSERT_EQ(t.values(0).size(), 3u);
  EXPECT_DOUBLE_EQ(t.values(0)[0], 3 * 12000 / 1e6);
  EXPECT_DOUBLE_EQ(t.values(0)[1], 2 * 12000 / 1e6);
  EXPECT_DOUBLE_EQ(t.values(0)[2], 1 * 12000 / 0.5 / 1e6);
  EXPECT_DOUBLE_EQ(t.period_s(), 2.5);
  EXPECT_DOUBLE_EQ(t.Mean(0), 6 * 12000 / 2.5 / 1e6);
  EXPECT_EQ(t.At(0, 2.6), t.values(0)[0]);  // loops with mm-link's period
}

TEST(TraceMahimahiTest, EmptyBinsAreZeroAndWindowIsHonoured) {
  Result<Trace> r = Trace::FromMahimahi("100\n3500\n", "gap.down", 1.0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->values(0), (std::vector<double>{0.012, 0.0, 0.0, 0.024}));

  r = Trace::FromMahimahi("100\n200\n300\n1000\n", "w.down", 0.25);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->times(), (std::vector<double>{0.0, 0.25, 0.5, 0.75}));
  EXPECT_DOUBLE_EQ(r->values(0)[0], 2 * 12000 / 0.25 / 1e6);
  EXPECT_DOUBLE_EQ(r->values(0)[1], 1 * 12000 / 0.25 / 1e6);
  EXPECT_DOUBLE_EQ(r->values(0)[2], 0.0);
  EXPECT_DOUBLE_EQ(r->values(0)[3], 1 * 12000 / 0.25 / 1e6);
}

TEST(TraceMahimahiTest, OnePacketPerMillisecondIsTwelveMbps) {
  // mahimahi's README: a file holding just "1" is a 12 Mbit/s link.
  Result<Trace> r = Trace::FromMahimahi("1\n", "12mbps");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->At(0, 0.0), 12.0);
  EXPECT_DOUBLE_EQ(r->At(0, 77.7), 12.0);
  EXPECT_DOUBLE_EQ(r->Mean(0), 12.0);
}

TEST(TraceMahimahiTest, Errors) {
  auto error = [](const std::string& text, double window = 1.0) {
    Result<Trace> r = Trace::FromMahimahi(text, "m.down", window);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(error("1\n2\n1.5\n"),
            "m.down:3: expected an integer number of milliseconds, got '1.5'");
  EXPECT_EQ(error("1\n-2\n"), "m.down:2: time must be in [0, 10000000000000] ms, got '-2'");
  EXPECT_EQ(error("5\n\n7\n6\n"), "m.down:4: time goes backwards (6 after 7)");
  EXPECT_EQ(error(""), "m.down: no samples (no delivery opportunities)");
  EXPECT_EQ(error("0\n0\n"), "m.down: the trace lasts no time (its last timestamp is 0 ms)");
  EXPECT_EQ(error("1\n", 0.0), "m.down: window_s must be a positive number of seconds, got 0");
  EXPECT_EQ(error("1\n", -1.0), "m.down: window_s must be a positive number of seconds, got -1");
  EXPECT_EQ(error("100000\n", 1e-9), "m.down: window_s 1e-09 is too small for a trace of 100 s: 1e+11 bins, at most 1048576 are allowed");
}

TEST(TraceMahimahiTest, RealTMobileTrace) {
  const std::string path = SharedMahimahi("TMobile-LTE-short.down");
  if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
  Result<Trace> r = Trace::LoadMahimahi(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Trace& t = *r;
  // Count the opportunities independently: 194846 of them over 139.986 s, 16.7 Mbit/s.
  std::ifstream in(path);
  long long ms = 0, last_ms = 0, count = 0;
  while (in >> ms) {
    ++count;
    last_ms = ms;
  }
  ASSERT_GT(count, 1000);
  EXPECT_DOUBLE_EQ(t.period_s(), last_ms / 1000.0);
  EXPECT_EQ(t.size(), static_cast<size_t>(std::ceil(last_ms / 1000.0)));
  const double mean = t.Mean(0);
  EXPECT_NEAR(mean, count * 12000.0 / (last_ms / 1000.0) / 1e6, 1e-9);
  EXPECT_GT(mean, 1.0);
  EXPECT_LT(mean, 100.0);
  double peak = 0;
  for (double v : t.values(0)) {
    EXPECT_GE(v, 0.0);
    peak = std::max(peak, v);
  }
  EXPECT_GT(peak, mean);

  // Cursor matches At on 10k sequential queries (about 2.6 loops of the trace).
  Trace::Cursor c = t.MakeCursor(0);
  for (int i = 0; i < 10000; ++i) {
    const double q = i * 0.037;
    ASSERT_EQ(c.At(q), t.At(0, q)) << "t=" << q;
  }
  // And on a finer binning.
  Result<Trace> fine = Trace::LoadMahimahi(path, 0.1);
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(fine->size(), static_cast<size_t>(std::ceil(last_ms / 100.0)));
  EXPECT_NEAR(fine->Mean(0), mean, 1e-9);
  ExpectCursorMatches(*fine, 0, 0.0, 0.02, 10000, 11);
}

TEST(TraceMahimahiTest, AllSharedDownlinkTracesLoad) {
  for (const char* file :
       {"TMobile-LTE-short.down", "Verizon-LTE-short.down", "ATT-LTE-driving-2016.down"}) {
    const std::string path = SharedMahimahi(file);
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
    Result<Trace> r = Trace::LoadMahimahi(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->Mean(0), 0.5) << file;
    EXPECT_LT(r->Mean(0), 100.0) << file;
  }
}

TEST(TraceMahimahiTest, MissingFile) {
  Result<Trace> r = Trace::LoadMahimahi("/nonexistent/dir/x.down");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "/nonexistent/dir/x.down: cannot open file: No such file or directory");
}

// ---- Bandwidth log ----------------------------------------------------------------------------

TEST(TraceBandwidthLogTest, Parses) {
  Result<Trace> r = Trace::FromBandwidthLog("# t mbps\n0 10.5\n1\t20\n\n2.5   0\n", "bw.log");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->columns(), (std::vector<std::string>{"mbps"}));
  EXPECT_EQ(r->times(), (std::vector<double>{0.0, 1.0, 2.5}));
  EXPECT_EQ(r->values(0), (std::vector<double>{10.5, 20.0, 0.0}));
  EXPECT_DOUBLE_EQ(r->period_s(), 4.0);
  EXPECT_EQ(r->At(0, 1.7), 20.0);
}

TEST(TraceBandwidthLogTest, Errors) {
  auto error = [](const std::string& text) {
    Result<Trace> r = Trace::FromBandwidthLog(text, "bw.log");
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(error("0 1\n1 2 3\n"), "bw.log:2: expected 2 fields 'time_s Mbps', got 3");
  EXPECT_EQ(error("0\n"), "bw.log:1: expected 2 fields 'time_s Mbps', got 1");
  EXPECT_EQ(error("a 1\n"), "bw.log:1: expected a number of seconds, got 'a'");
  EXPECT_EQ(error("0 fast\n"), "bw.log:1: expected a number of Mbit/s, got 'fast'");
  EXPECT_EQ(error("-1 1\n"), "bw.log:1: time must be in [0, 1e+10] s, got '-1'");
  EXPECT_EQ(error("2 1\n1.5 1\n"), "bw.log:2: time goes backwards (1.5 after 2)");
  EXPECT_EQ(error("0 -3\n"), "bw.log:1: throughput must be >= 0, got '-3'");
  EXPECT_EQ(error("# nothing\n"), "bw.log: no samples");
}

TEST(TraceBandwidthLogTest, LoadFile) {
  const std::string path = WriteTemp("bw.log", "0 5\n1 6\n");
  Result<Trace> r = Trace::LoadBandwidthLog(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->Mean(0), 5.5);
  EXPECT_FALSE(Trace::LoadBandwidthLog(path + ".missing").ok());
}

// ---- Request traces ---------------------------------------------------------------------------

TEST(TraceRequestTest, FullHeader) {
  Result<std::vector<RequestSpec>> r = ParseRequestTrace(
      "time_s,model,latency_bound_ms,min_accuracy\n"
      "0.0,mobilenet_v2,50,0.7\n"
      "# burst\n"
      "0.0, resnet50 ,100,0\n"
      "1.5,resnet50,,\n",
      "req.csv", 200, 0.5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  const auto& v = *r;
  EXPECT_EQ(v[0].time_s, 0.0);
  EXPECT_EQ(v[0].model, "mobilenet_v2");
  EXPECT_EQ(v[0].latency_bound_ms, 50.0);
  EXPECT_EQ(v[0].min_accuracy, 0.7);
  EXPECT_EQ(v[1].model, "resnet50");
  EXPECT_EQ(v[1].latency_bound_ms, 100.0);
  EXPECT_EQ(v[1].min_accuracy, 0.0);
  EXPECT_EQ(v[2].time_s, 1.5);
  EXPECT_EQ(v[2].latency_bound_ms, 200.0);  // empty cells take the defaults
  EXPECT_EQ(v[2].min_accuracy, 0.5);
}

TEST(TraceRequestTest, OptionalColumnsAndAnyOrder) {
  Result<std::vector<RequestSpec>> r =
      ParseRequestTrace("time_s,model\n1,a\n2,b\n", "req.csv", 80, 0.25);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].time_s, 2.0);
  EXPECT_EQ((*r)[1].model, "b");
  EXPECT_EQ((*r)[1].latency_bound_ms, 80.0);
  EXPECT_EQ((*r)[1].min_accuracy, 0.25);

  r = ParseRequestTrace("min_accuracy,model,time_s\n0.9,a,3\n", "req.csv", 80, 0.25);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].time_s, 3.0);
  EXPECT_EQ((*r)[0].model, "a");
  EXPECT_EQ((*r)[0].latency_bound_ms, 80.0);
  EXPECT_EQ((*r)[0].min_accuracy, 0.9);
}

TEST(TraceRequestTest, Errors) {
  auto error = [](const std::string& text) {
    Result<std::vector<RequestSpec>> r = ParseRequestTrace(text, "req.csv", 100, 0);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
    return r.ok() ? std::string() : r.status().message();
  };
  const std::string h = "time_s,model,latency_bound_ms,min_accuracy\n";
  EXPECT_EQ(error(h + "0,a,50,0.5\nx,a,50,0.5\n"),
            "req.csv:3: expected a number in column 'time_s', got 'x'");
  EXPECT_EQ(error(h + "2,a,50,0.5\n1,a,50,0.5\n"), "req.csv:3: time goes backwards (1 after 2)");
  EXPECT_EQ(error(h + "-1,a,50,0.5\n"), "req.csv:2: time must be in [0, 1e+10] s, got '-1'");
  EXPECT_EQ(error(h + "0,a,0,0.5\n"), "req.csv:2: latency_bound_ms must be in [0.001, 1e+09], got '0'");
  EXPECT_EQ(error(h + "0,a,-5,0.5\n"), "req.csv:2: latency_bound_ms must be in [0.001, 1e+09], got '-5'");
  EXPECT_EQ(error(h + "0,a,fast,0.5\n"),
            "req.csv:2: expected a number in column 'latency_bound_ms', got 'fast'");
  EXPECT_EQ(error(h + "0,a,50,1.5\n"), "req.csv:2: min_accuracy must be in [0, 1], got '1.5'");
  EXPECT_EQ(error(h + "0,a,50,-0.1\n"), "req.csv:2: min_accuracy must be in [0, 1], got '-0.1'");
  EXPECT_EQ(error(h + "0,,50,0.5\n"), "req.csv:2: empty model name");
  EXPECT_EQ(error(h + "0,a,50\n"),
            "req.csv:2: expected 4 fields (time_s,model,latency_bound_ms,min_accuracy), got 3");
  EXPECT_EQ(error("time_s,model,latncy_bound_ms\n"),
            "req.csv:1: unknown column 'latncy_bound_ms' (did you mean 'latency_bound_ms'?); the "
            "columns are: time_s, model, latency_bound_ms, min_accuracy");
  EXPECT_EQ(error("time_s,latency_bound_ms\n"),
            "req.csv:1: the header lacks column 'model' "
            "(expected time_s,model[,latency_bound_ms][,min_accuracy])");
  EXPECT_EQ(error("model\n"),
            "req.csv:1: the header lacks column 'time_s' "
            "(expected time_s,model[,latency_bound_ms][,min_accuracy])");
  EXPECT_EQ(error("time_s,model,model\n"), "req.csv:1: the header repeats column 'model'");
  EXPECT_EQ(error(h), "req.csv: no requests after the header");
  EXPECT_EQ(error(""), "req.csv: no requests (no header row: the file is empty)");
}

TEST(TraceRequestTest, LoadFile) {
  const std::string path = WriteTemp("req.csv", "time_s,model\n0.5,yolo\n");
  Result<std::vector<RequestSpec>> r = LoadRequestTrace(path, 33, 0.1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].model, "yolo");
  EXPECT_EQ((*r)[0].latency_bound_ms, 33.0);

  const std::string bad = WriteTemp("req_bad.csv", "time_s,model\n0.5,yolo\n0.1,yolo\n");
  r = LoadRequestTrace(bad, 33, 0.1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), bad + ":3: time goes backwards (0.1 after 0.5)");
  r = LoadRequestTrace(path + ".missing", 33, 0.1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace autoscale
