#include "env/trace.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/file_util.h"
#include "core/strings.h"

namespace autoscale {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Bits per Mahimahi delivery opportunity (one 1500-byte packet).
constexpr double kMahimahiBitsPerOpportunity = 1500.0 * 8.0;
// Latest Mahimahi timestamp, in ms.
constexpr long long kMaxMahimahiMs = static_cast<long long>(kMaxTraceTimeS * 1000);

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

Status LineError(const std::string& name, int line, std::string_view what) {
  return Status::InvalidArgument(name + ":" + std::to_string(line) + ": " + std::string(what));
}

Status NameError(const std::string& name, std::string_view what) {
  return Status::InvalidArgument(name + ": " + std::string(what));
}

// The whole file as text, through the bounded reader every loader uses: a regular file of at
// most kMaxReadFileBytes (a device such as /dev/zero, a FIFO or a directory is refused).
Result<std::string> ReadWholeFile(const std::string& path) { return ReadFile(path); }

// Calls fn(line_number, trimmed_line) for every line that is neither blank nor a # comment;
// stops at the first error.
template <typename Fn>
Status ForEachDataLine(std::string_view text, Fn&& fn) {
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;
    RETURN_IF_ERROR(fn(line_no, line));
  }
  return Status::Ok();
}

// Checks the samples' times: finite, >= 0, nondecreasing.
Status CheckTimes(const std::string& name, const std::vector<double>& times) {
  for (size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i]) || times[i] < 0) {
      return NameError(name, "sample " + std::to_string(i) +
                                 ": time must be finite and >= 0, got " +
                                 FormatDouble(times[i], 17));
    }
    if (i > 0 && times[i] < times[i - 1]) {
      return NameError(name, "sample " + std::to_string(i) + ": time goes backwards (" +
                                 FormatDouble(times[i], 17) + " after " +
                                 FormatDouble(times[i - 1], 17) + ")");
    }
  }
  return Status::Ok();
}

Status CheckShape(const std::string& name, const std::vector<std::string>& columns,
                  const std::vector<double>& times,
                  const std::vector<std::vector<double>>& values) {
  if (values.size() != columns.size()) {
    return NameError(name, std::to_string(columns.size()) + " column names but " +
                               std::to_string(values.size()) + " value columns");
  }
  for (size_t c = 0; c < values.size(); ++c) {
    if (values[c].size() != times.size()) {
      return NameError(name, "column " + Quote(columns[c]) + " has " +
                                 std::to_string(values[c].size()) + " values for " +
                                 std::to_string(times.size()) + " times");
    }
  }
  return CheckTimes(name, times);
}

// Last time plus the last positive interval; 1 s past the last time when there is none.
double DefaultPeriod(const std::vector<double>& times) {
  if (times.empty()) return 1.0;
  for (size_t j = times.size() - 1; j > 0; --j) {
    if (times[j] > times[j - 1]) return times.back() + (times[j] - times[j - 1]);
  }
  return times.back() + 1.0;
}

}  // namespace

// ---- Trace ------------------------------------------------------------------------------------

Trace::Trace(std::string name, std::vector<std::string> columns, std::vector<double> times,
             std::vector<std::vector<double>> values)
    : name_(std::move(name)),
      columns_(std::move(columns)),
      times_(std::move(times)),
      values_(std::move(values)) {
  Status st = CheckShape(name_, columns_, times_, values_);
  if (!st.ok()) {
    std::fprintf(stderr, "autoscale::Trace: invalid trace: %s\n", st.message().c_str());
    std::abort();
  }
  period_ = DefaultPeriod(times_);
}

Result<Trace> Trace::Make(std::string name, std::vector<std::string> columns,
                          std::vector<double> times, std::vector<std::vector<double>> values) {
  RETURN_IF_ERROR(CheckShape(name, columns, times, values));
  return Trace(std::move(name), std::move(columns), std::move(times), std::move(values));
}

int Trace::Column(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Result<int> Trace::RequireColumn(std::string_view name) const {
  const int c = Column(name);
  if (c >= 0) return c;
  std::string msg = name_ + ": no column " + Quote(name);
  const std::string nearest = NearestName(name, columns_);
  if (!nearest.empty()) msg += " (did you mean " + Quote(nearest) + "?)";
  msg += "; the columns are: " + (columns_.empty() ? std::string("(none)") : JoinNames(columns_));
  return Status::NotFound(std::move(msg));
}

double Trace::LocalTime(double t) const {
  return (loop_ && t >= period_) ? std::fmod(t, period_) : t;
}

size_t Trace::IndexAt(double local) const {
  const size_t i =
      static_cast<size_t>(std::upper_bound(times_.begin(), times_.end(), local) - times_.begin());
  return i == 0 ? 0 : i - 1;
}

double Trace::At(int column, double t) const {
  if (times_.empty()) return 0.0;
  return values_[column][IndexAt(LocalTime(t))];
}

double Trace::Mean(int column) const {
  if (times_.empty()) return 0.0;
  const std::vector<double>& v = values_[column];
  const size_t n = times_.size();
  double sum = 0;
  double start = 0;  // the first value holds from 0
  for (size_t i = 0; i < n; ++i) {
    const double end = i + 1 < n ? times_[i + 1] : period_;
    sum += v[i] * (end - start);
    start = end;
  }
  return sum / period_;
}

Trace Trace::Extract(int column, std::string name, double scale) const {
  std::vector<double> v = values_[column];
  if (scale != 1.0) {
    for (double& x : v) x *= scale;
  }
  Trace out(std::move(name), {columns_[column]}, times_, {std::move(v)});
  out.period_ = period_;
  out.loop_ = loop_;
  return out;
}

Status Trace::CheckRange(int column, double scale, double lo, double hi,
                         std::string_view what) const {
  const std::vector<double>& v = values_[column];
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i] * scale;
    if (x >= lo && x <= hi) continue;  // false for NaN
    std::string msg = std::string(what) + " in column " + Quote(columns_[column]) + " must be in [" +
                      FormatDouble(lo) + ", " + FormatDouble(hi) + "], got " + FormatDouble(v[i]);
    if (scale != 1.0) msg += " (times scale " + FormatDouble(scale) + " = " + FormatDouble(x) + ")";
    const int line = SourceLine(i);
    if (line > 0) return LineError(name_, line, msg);
    return NameError(name_, "sample " + std::to_string(i) + " (t = " + FormatDouble(times_[i]) +
                                " s): " + msg);
  }
  return Status::Ok();
}

// ---- Cursor -----------------------------------------------------------------------------------

Trace::Cursor::Cursor(const Trace* trace, int column)
    : trace_(trace), values_(trace->values_.empty() ? nullptr : trace->values_[column].data()) {}

double Trace::Cursor::Advance(double t) {
  if (trace_ == nullptr || trace_->times_.empty()) {
    lo_ = -kInf;
    hi_ = kInf;
    value_ = 0;
    return 0;
  }
  const std::vector<double>& times = trace_->times_;
  const size_t n = times.size();
  const double period = trace_->period_;
  const double local = trace_->LocalTime(t);  // exactly what Trace::At reads

  // The largest index with times[i] <= local (0 when there is none), as Trace::IndexAt; from the
  // last answer walk forward a few samples, then binary search the rest.
  size_t i = index_;
  if (local >= times[i]) {
    constexpr int kWalk = 8;
    int steps = 0;
    while (i + 1 < n && times[i + 1] <= local && steps < kWalk) {
      ++i;
      ++steps;
    }
    if (i + 1 < n && times[i + 1] <= local) {
      i = static_cast<size_t>(
              std::upper_bound(times.begin() + static_cast<ptrdiff_t>(i) + 1, times.end(), local) -
              times.begin()) -
          1;
    }
  } else {
    i = trace_->IndexAt(local);
  }
  index_ = i;
  value_ = values_[i];

  // The local time at which the answer next changes, and the absolute query time of it.
  lo_ = t;
  if (i + 1 < n) {
    hi_ = times[i + 1];
  } else {
    hi_ = trace_->loop_ ? period : kInf;
  }
  if (local != t) {
    // Wrapped: the exact boundary is (t - local) + hi_ in real arithmetic; the two roundings of
    // computing it are within 2^-52 of it, so pull it in by 1e-15 (about 4.5 ulp) to never
    // answer past it from the cache. Queries in that sliver take this slow path (still exact).
    const double boundary = (t - local) + hi_;
    hi_ = boundary - std::fabs(boundary) * 1e-15;
  }
  return value_;
}

// ---- Loaders ----------------------------------------------------------------------------------

Result<Trace> Trace::FromCsv(std::string_view text, const std::string& name) {
  std::vector<std::string> columns;
  std::vector<double> times;
  std::vector<std::vector<double>> values;
  std::vector<int> lines;
  bool have_header = false;
  std::string_view prev_time_text;
  std::vector<std::string_view> fields;

  Status st = ForEachDataLine(text, [&](int line_no, std::string_view line) -> Status {
    fields = Split(line, ',');
    for (auto& f : fields) f = Trim(f);
    if (!have_header) {
      have_header = true;
      if (fields[0] != "time_s") {
        return LineError(name, line_no,
                         "the header's first column must be time_s, got " + Quote(fields[0]));
      }
      if (fields.size() < 2) {
        return LineError(name, line_no, "the header has no value columns after time_s");
      }
      for (size_t c = 1; c < fields.size(); ++c) {
        if (fields[c].empty()) {
          return LineError(name, line_no,
                           "the header's column " + std::to_string(c + 1) + " has no name");
        }
        for (const std::string& seen : columns) {
          if (seen == fields[c]) {
            return LineError(name, line_no, "the header repeats column " + Quote(fields[c]));
          }
        }
        if (fields[c] == "time_s") {
          return LineError(name, line_no, "the header repeats column 'time_s'");
        }
        columns.emplace_back(fields[c]);
      }
      values.resize(columns.size());
      return Status::Ok();
    }
    if (fields.size() != columns.size() + 1) {
      return LineError(name, line_no,
                       "expected " + std::to_string(columns.size() + 1) + " fields (time_s," +
                           JoinNames(columns, ",") + "), got " + std::to_string(fields.size()));
    }
    double t;
    if (!ParseDouble(fields[0], &t)) {
      return LineError(name, line_no,
                       "expected a number in column 'time_s', got " + Quote(fields[0]));
    }
    if (t < 0 || t > kMaxTraceTimeS) {
      return LineError(name, line_no,
                       "time must be in [0, " + FormatDouble(kMaxTraceTimeS) + "] s, got " +
                           Quote(fields[0]));
    }
    if (!times.empty() && t < times.back()) {
      return LineError(name, line_no,
                       "time goes backwards (" + std::string(fields[0]) + " after " +
                           std::string(prev_time_text) + ")");
    }
    if (times.size() >= kMaxTraceSamples) {
      return LineError(name, line_no,
                       "more than " + std::to_string(kMaxTraceSamples) + " samples in one trace");
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      double v;
      if (!ParseDouble(fields[c + 1], &v)) {
        return LineError(
            name, line_no,
            "expected a number in column " + Quote(columns[c]) + ", got " + Quote(fields[c + 1]));
      }
      values[c].push_back(v);
    }
    times.push_back(t);
    lines.push_back(line_no);
    prev_time_text = fields[0];
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  if (!have_header) return NameError(name, "no samples (no header row: the file is empty)");
  if (times.empty()) return NameError(name, "no samples after the header");
  Trace trace(name, std::move(columns), std::move(times), std::move(values));
  trace.lines_ = std::move(lines);
  return trace;
}

Result<Trace> Trace::LoadCsv(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return FromCsv(text, path);
}

Result<Trace> Trace::FromMahimahi(std::string_view text, const std::string& name, double window_s) {
  if (!(window_s > 0) || !std::isfinite(window_s)) {
    return NameError(
        name, "window_s must be a positive number of seconds, got " + FormatDouble(window_s));
  }
  // Pass 1: validate every line and find the recording's length, holding nothing per line (an
  // hour of a fast link is tens of millions of opportunities).
  long long last_ms = -1;
  std::string_view prev_text;
  RETURN_IF_ERROR(ForEachDataLine(text, [&](int line_no, std::string_view line) -> Status {
    long long ms;
    if (!ParseInt64(line, &ms)) {
      return LineError(name, line_no,
                       "expected an integer number of milliseconds, got " + Quote(line));
    }
    if (ms < 0 || ms > kMaxMahimahiMs) {
      return LineError(name, line_no,
                       "time must be in [0, " + std::to_string(kMaxMahimahiMs) + "] ms, got " +
                           Quote(line));
    }
    if (ms < last_ms) {
      return LineError(
          name, line_no,
          "time goes backwards (" + std::string(line) + " after " + std::string(prev_text) + ")");
    }
    last_ms = ms;
    prev_text = line;
    return Status::Ok();
  }));
  if (last_ms < 0) return NameError(name, "no samples (no delivery opportunities)");
  if (last_ms <= 0) {
    return NameError(name, "the trace lasts no time (its last timestamp is 0 ms)");
  }
  const double window_ms = window_s * 1000.0;
  const double bins_real = std::ceil(static_cast<double>(last_ms) / window_ms);
  if (bins_real > static_cast<double>(kMaxTraceSamples)) {
    return NameError(name, "window_s " + FormatDouble(window_s) + " is too small for a trace of " +
                               FormatDouble(static_cast<double>(last_ms) / 1000.0) + " s: " +
                               FormatDouble(bins_real) + " bins, at most " +
                               std::to_string(kMaxTraceSamples) + " are allowed");
  }
  const double duration_s = static_cast<double>(last_ms) / 1000.0;
  size_t bins = std::max<size_t>(1, static_cast<size_t>(bins_real));
  // Rounding may leave a last bin of (nearly) no length; fold it into the one before.
  while (bins > 1 && static_cast<double>(bins - 1) * window_s >= duration_s * (1 - 1e-12)) --bins;
  // Pass 2: count opportunities per bin (the lines are known to be valid).
  std::vector<double> counts(bins, 0.0);
  RETURN_IF_ERROR(ForEachDataLine(text, [&](int, std::string_view line) -> Status {
    long long ms = 0;
    ParseInt64(line, &ms);
    size_t b = static_cast<size_t>(static_cast<double>(ms) / window_ms);
    counts[std::min(b, bins - 1)] += 1.0;  // the opportunity at the very end joins the last bin
    return Status::Ok();
  }));
  std::vector<double> times(bins), mbps(bins);
  for (size_t k = 0; k < bins; ++k) {
    times[k] = static_cast<double>(k) * window_s;
    const double end = k + 1 < bins ? static_cast<double>(k + 1) * window_s : duration_s;
    mbps[k] = counts[k] * kMahimahiBitsPerOpportunity / (end - times[k]) / 1e6;
  }
  Trace trace(name, {"mbps"}, std::move(times), {std::move(mbps)});
  trace.period_ = duration_s;
  return trace;
}

Result<Trace> Trace::LoadMahimahi(const std::string& path, double window_s) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return FromMahimahi(text, path, window_s);
}

Result<Trace> Trace::FromBandwidthLog(std::string_view text, const std::string& name) {
  std::vector<double> times, mbps;
  std::vector<int> lines;
  std::string_view prev_text;
  RETURN_IF_ERROR(ForEachDataLine(text, [&](int line_no, std::string_view line) -> Status {
    std::vector<std::string_view> f = SplitWhitespace(line);
    if (f.size() != 2) {
      return LineError(name, line_no,
                       "expected 2 fields 'time_s Mbps', got " + std::to_string(f.size()));
    }
    double t, v;
    if (!ParseDouble(f[0], &t)) {
      return LineError(name, line_no, "expected a number of seconds, got " + Quote(f[0]));
    }
    if (!ParseDouble(f[1], &v)) {
      return LineError(name, line_no, "expected a number of Mbit/s, got " + Quote(f[1]));
    }
    if (t < 0 || t > kMaxTraceTimeS) {
      return LineError(name, line_no,
                       "time must be in [0, " + FormatDouble(kMaxTraceTimeS) + "] s, got " +
                           Quote(f[0]));
    }
    if (!times.empty() && t < times.back()) {
      return LineError(
          name, line_no,
          "time goes backwards (" + std::string(f[0]) + " after " + std::string(prev_text) + ")");
    }
    if (v < 0) return LineError(name, line_no, "throughput must be >= 0, got " + Quote(f[1]));
    if (times.size() >= kMaxTraceSamples) {
      return LineError(name, line_no,
                       "more than " + std::to_string(kMaxTraceSamples) + " samples in one trace");
    }
    times.push_back(t);
    mbps.push_back(v);
    lines.push_back(line_no);
    prev_text = f[0];
    return Status::Ok();
  }));
  if (times.empty()) return NameError(name, "no samples");
  Trace trace(name, {"mbps"}, std::move(times), {std::move(mbps)});
  trace.lines_ = std::move(lines);
  return trace;
}

Result<Trace> Trace::LoadBandwidthLog(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return FromBandwidthLog(text, path);
}

// ---- Request traces ---------------------------------------------------------------------------

Result<std::vector<RequestSpec>> ParseRequestTrace(std::string_view text, const std::string& name,
                                                   double default_bound_ms,
                                                   double default_min_accuracy) {
  enum Field { kTime = 0, kModel, kBound, kAccuracy, kNumFields };
  static const std::vector<std::string> kKnown = {"time_s", "model", "latency_bound_ms",
                                                  "min_accuracy"};
  std::vector<int> field_of_column;  // header position -> Field
  bool have_header = false;
  std::vector<RequestSpec> out;
  std::string_view prev_time_text;

  RETURN_IF_ERROR(ForEachDataLine(text, [&](int line_no, std::string_view line) -> Status {
    std::vector<std::string_view> fields = Split(line, ',');
    for (auto& f : fields) f = Trim(f);
    if (!have_header) {
      have_header = true;
      bool seen[kNumFields] = {};
      for (std::string_view f : fields) {
        auto it = std::find(kKnown.begin(), kKnown.end(), f);
        if (it == kKnown.end()) {
          std::string msg = "unknown column " + Quote(f);
          const std::string nearest = NearestName(f, kKnown);
          if (!nearest.empty()) msg += " (did you mean " + Quote(nearest) + "?)";
          msg += "; the columns are: " + JoinNames(kKnown);
          return LineError(name, line_no, msg);
        }
        const int k = static_cast<int>(it - kKnown.begin());
        if (seen[k]) return LineError(name, line_no, "the header repeats column " + Quote(f));
        seen[k] = true;
        field_of_column.push_back(k);
      }
      for (int k : {kTime, kModel}) {
        if (!seen[k]) {
          return LineError(name, line_no,
                           "the header lacks column " + Quote(kKnown[k]) +
                               " (expected time_s,model[,latency_bound_ms][,min_accuracy])");
        }
      }
      return Status::Ok();
    }
    if (fields.size() != field_of_column.size()) {
      std::vector<std::string> header;
      for (int k : field_of_column) header.push_back(kKnown[k]);
      return LineError(name, line_no,
                       "expected " + std::to_string(header.size()) + " fields (" +
                           JoinNames(header, ",") + "), got " + std::to_string(fields.size()));
    }
    if (out.size() >= kMaxRequestTraceRows) {
      return LineError(name, line_no,
                       "more than " + std::to_string(kMaxRequestTraceRows) +
                           " requests in one trace");
    }
    RequestSpec r;
    r.line = line_no;
    r.latency_bound_ms = default_bound_ms;
    r.min_accuracy = default_min_accuracy;
    for (size_t c = 0; c < fields.size(); ++c) {
      const std::string_view f = fields[c];
      const int k = field_of_column[c];
      if (k == kModel) {
        if (f.empty()) return LineError(name, line_no, "empty model name");
        r.model = std::string(f);
        continue;
      }
      if (k != kTime && f.empty()) continue;  // optional cell left empty: the default
      double v;
      if (!ParseDouble(f, &v)) {
        return LineError(name, line_no,
                         "expected a number in column " + Quote(kKnown[k]) + ", got " + Quote(f));
      }
      if (k == kTime) {
        if (v < 0 || v > kMaxTraceTimeS) {
          return LineError(name, line_no,
                           "time must be in [0, " + FormatDouble(kMaxTraceTimeS) + "] s, got " +
                               Quote(f));
        }
        if (!out.empty() && v < out.back().time_s) {
          return LineError(name, line_no,
                           "time goes backwards (" + std::string(f) + " after " +
                               std::string(prev_time_text) + ")");
        }
        r.time_s = v;
        prev_time_text = f;
      } else if (k == kBound) {
        if (!(v >= kMinLatencyBoundMs && v <= kMaxLatencyBoundMs)) {
          return LineError(name, line_no,
                           "latency_bound_ms must be in [" + FormatDouble(kMinLatencyBoundMs) +
                               ", " + FormatDouble(kMaxLatencyBoundMs) + "], got " + Quote(f));
        }
        r.latency_bound_ms = v;
      } else {
        if (v < 0 || v > 1) {
          return LineError(name, line_no, "min_accuracy must be in [0, 1], got " + Quote(f));
        }
        r.min_accuracy = v;
      }
    }
    out.push_back(std::move(r));
    return Status::Ok();
  }));
  if (!have_header) return NameError(name, "no requests (no header row: the file is empty)");
  if (out.empty()) return NameError(name, "no requests after the header");
  return out;
}

Result<std::vector<RequestSpec>> LoadRequestTrace(const std::string& path, double default_bound_ms,
                                                  double default_min_accuracy) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return ParseRequestTrace(text, path, default_bound_ms, default_min_accuracy);
}

}  // namespace autoscale
