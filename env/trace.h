// Time-series traces (signal strength, link throughput, co-runner load) and request traces: the
// recorded or generated environment that the simulator replays (DESIGN.md, "Environment").
//
// Loaders validate everything and report "NAME:LINE: what was wrong", NAME being the file path
// (Load*) or the name passed in (From*/Parse*).
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoscale {

// Caps on what a trace file may hold, checked while loading (before anything grows past them),
// so that no trace, however long or dense, makes the simulator allocate without bound. Files
// themselves are read through ReadFile (core/file_util.h): regular files of at most 64 MiB.
inline constexpr size_t kMaxTraceSamples = size_t{1} << 20;  // rows, log lines or Mahimahi bins
inline constexpr size_t kMaxRequestTraceRows = size_t{1} << 20;
// Latest time a trace may name: about 317 years, so that times, periods and their sums over
// many loops stay finite and exact to well under a second.
inline constexpr double kMaxTraceTimeS = 1e10;

// A time series with one or more named columns sampled at nondecreasing times (seconds, >= 0).
// Queries hold the last sample at or before t (sample-and-hold; of equal times the last wins);
// before the first sample, the first value. With loop=true (default) a query at or past the
// period wraps modulo the period (exactly, with std::fmod); queries before 0 are not wrapped.
//
// The period is the last time plus the last positive sample interval (1 s when all times are
// equal, so a single sample at 0 has period 1 s); loaders of binned data may set it to the
// recorded duration instead (FromMahimahi). The period is always greater than the last time.
// An empty trace (no samples) answers 0 to every query.
class Trace {
 public:
  Trace() = default;
  // Precondition (a programmer error aborts with a message): values.size() == columns.size(),
  // values[c].size() == times.size() for every c, times finite, >= 0 and nondecreasing.
  // Use Make() for data that a user supplied.
  Trace(std::string name, std::vector<std::string> columns, std::vector<double> times,
        std::vector<std::vector<double>> values /* values[col][i] */);
  // The same, checked: an InvalidArgument naming `name` instead of an abort.
  static Result<Trace> Make(std::string name, std::vector<std::string> columns,
                            std::vector<double> times, std::vector<std::vector<double>> values);

  // CSV with a header row whose first column is time_s: "time_s,signal_dbm,cpu_load". Fields are
  // trimmed; no quoting. Blank lines and lines starting with # are skipped. Times in
  // [0, kMaxTraceTimeS]; at most kMaxTraceSamples rows. `name` is used in
  // errors: "NAME:LINE: what was wrong". The value columns are columns() in header order.
  static Result<Trace> FromCsv(std::string_view text, const std::string& name);
  static Result<Trace> LoadCsv(const std::string& path);

  // Mahimahi link trace (Winstein et al., NSDI 2013): one line per 1500-byte delivery
  // opportunity, integer milliseconds, nondecreasing. Converted to throughput in Mbit/s per
  // window_s bin (bin k starts at k * window_s), one column named "mbps"; an empty bin is
  // 0 Mbit/s. The recording lasts D = last timestamp (mm-link's loop period): the last bin is
  // cut at D and its throughput divided by its actual length, and period_s() is D, so Mean() is
  // exactly opportunities * 12000 bit / D. Timestamps at most kMaxTraceTimeS * 1000 ms; at most
  // kMaxTraceSamples bins (a longer trace needs a larger window_s). Opportunities are counted
  // into bins as they are read, so memory is bounded by the bins, not by the file's lines.
  static Result<Trace> FromMahimahi(std::string_view text, const std::string& name,
                                    double window_s = 1.0);
  static Result<Trace> LoadMahimahi(const std::string& path, double window_s = 1.0);

  // Bandwidth log: lines "time_s Mbps" (whitespace separated), one column "mbps". Blank lines
  // and # comments are skipped; throughput must be >= 0. Times and row count capped as for CSV.
  static Result<Trace> FromBandwidthLog(std::string_view text, const std::string& name);
  static Result<Trace> LoadBandwidthLog(const std::string& path);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& columns() const { return columns_; }
  int Column(std::string_view name) const;  // -1 when absent
  // NotFound when absent; the error names the nearest column and lists the columns there are.
  Result<int> RequireColumn(std::string_view name) const;
  size_t size() const { return times_.size(); }
  bool empty() const { return times_.empty(); }
  double period_s() const { return period_; }
  bool loop() const { return loop_; }
  void set_loop(bool loop) { loop_ = loop; }

  // The line of the source file sample i was read from (CSV, bandwidth log); 0 when unknown
  // (generated, Mahimahi bins, extracted traces).
  int SourceLine(size_t i) const { return i < lines_.size() ? lines_[i] : 0; }
  // Checks that every value of `column`, times `scale`, lies in [lo, hi] (finite). The error
  // names the trace and the sample: "NAME:LINE: ..." where the line is known, else the sample's
  // index and time; `what` names the quantity ("load", "throughput in Mbit/s").
  Status CheckRange(int column, double scale, double lo, double hi, std::string_view what) const;

  // The value of `column` (0 <= column < columns().size()) at time t. O(log n).
  double At(int column, double t) const;
  // Time-weighted mean over one period [0, period_s()), i.e. the mean of At over a period
  // (the first value holds from 0 to the second sample). 0 for an empty trace.
  double Mean(int column) const;

  // A single-column trace named `name` holding column `column` times `scale`, with the same
  // times, period and loop flag (a scaled Mahimahi trace keeps the recorded duration as period).
  Trace Extract(int column, std::string name, double scale = 1.0) const;

  const std::vector<double>& times() const { return times_; }
  const std::vector<double>& values(int column) const { return values_[column]; }

  // Fast sequential reader for nondecreasing query times: amortised O(1) per query, and one
  // pair of well-predicted compares while the value does not change. Returns exactly what
  // Trace::At(column, t) returns for every t (earlier times are answered too, just slower).
  // It points into the trace: the trace must outlive it, stay where it is and not change.
  class Cursor {
   public:
    Cursor() = default;
    Cursor(const Trace* trace, int column);
    double At(double t) {
      if (t >= lo_ && t < hi_) [[likely]]
        return value_;
      return Advance(t);
    }

   private:
    double Advance(double t);

    // The cached answer holds for every query time in [lo_, hi_).
    double lo_ = std::numeric_limits<double>::infinity();
    double hi_ = -std::numeric_limits<double>::infinity();
    double value_ = 0;
    const Trace* trace_ = nullptr;
    const double* values_ = nullptr;
    size_t index_ = 0;  // the sample answered last
  };
  Cursor MakeCursor(int column) const { return Cursor(this, column); }

 private:
  // The local time (in [0, period) once wrapped) that a query at t reads.
  double LocalTime(double t) const;
  // The index of the sample that holds at local time `local`.
  size_t IndexAt(double local) const;

  std::string name_;
  std::vector<std::string> columns_;
  std::vector<double> times_;
  std::vector<std::vector<double>> values_;
  std::vector<int> lines_;  // source line per sample, where known
  double period_ = 1.0;
  bool loop_ = true;
};

// The range of a latency bound, in a request trace as in an experiment's YAML.
inline constexpr double kMinLatencyBoundMs = 1e-3;
inline constexpr double kMaxLatencyBoundMs = 1e9;

// A request of a request trace: arrival time, model name, constraints.
struct RequestSpec {
  int line = 0;  // of the trace file, for errors about this request found later
  double time_s = 0;
  std::string model;
  double latency_bound_ms = 0;
  double min_accuracy = 0;
};

// CSV with header "time_s,model,latency_bound_ms,min_accuracy": time_s and model are required,
// the last two are optional (the header decides, in any order; an unknown column is an error
// that suggests the nearest known one). Missing columns, and empty cells in them, take the
// defaults passed in. Times in [0, kMaxTraceTimeS] and nondecreasing; bound in
// [kMinLatencyBoundMs, kMaxLatencyBoundMs]; accuracy in [0, 1]; model non-empty; at least one
// request and at most kMaxRequestTraceRows. Blank lines and # comments are skipped.
// Errors "NAME:LINE: ...".
Result<std::vector<RequestSpec>> ParseRequestTrace(std::string_view text, const std::string& name,
                                                   double default_bound_ms,
                                                   double default_min_accuracy);
Result<std::vector<RequestSpec>> LoadRequestTrace(const std::string& path, double default_bound_ms,
                                                  double default_min_accuracy);

}  // namespace autoscale
