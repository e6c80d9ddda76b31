// HttpRequestReader on Beast's request parser (one parser per request, eager, with the caps).
#include "targets/http/request_reader.h"

#include <algorithm>
#include <optional>

#include "core/strings.h"
#include "targets/http/beast.h"

namespace autoscale {

namespace bhttp = boost::beast::http;

struct HttpRequestReader::Impl {
  bhttp::request_parser<bhttp::string_body> parser;
};

HttpRequestReader::HttpRequestReader(const HttpParseLimits& limits)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
  impl_->parser.eager(true);
  impl_->parser.body_limit(limits.max_body_bytes);
  // Put() checks the whole header against the cap before Beast sees it.
  impl_->parser.header_limit(static_cast<uint32_t>(
      std::min<size_t>(std::max<size_t>(limits.max_header_bytes, 1), UINT32_MAX)));
}

HttpRequestReader::~HttpRequestReader() = default;

void HttpRequestReader::Fail(int status, std::string message) {
  if (failed()) return;
  error_status_ = status;
  error_ = std::move(message);
}

bool HttpRequestReader::header_done() const { return impl_->parser.is_header_done(); }
bool HttpRequestReader::done() const { return !failed() && impl_->parser.is_done(); }

bool HttpRequestReader::expects_continue() const {
  const auto& p = impl_->parser;
  if (failed() || !p.is_header_done() || p.is_done() || p.get().version() < 11) return false;
  const auto expect = p.get()[bhttp::field::expect];
  return AsciiLower(Trim(std::string_view(expect.data(), expect.size()))) == "100-continue";
}

size_t HttpRequestReader::Put(std::string_view data) {
  if (failed() || impl_->parser.is_done() || data.empty()) return 0;
  got_some_ = true;
  auto& p = impl_->parser;
  if (!p.is_header_done()) {
    // The header goes to Beast whole, once its end is here: Beast given part of a header parses
    // what it can of it or waits for the end depending on where earlier reads ended, so the
    // same bytes could be a 400 or a silent close by how they were split. Its size is checked
    // here, in all (Beast checks the request line and the fields apart).
    // The bytes offered again are the same (Put used none of them): search only the new ones.
    const size_t end = data.find("\r\n\r\n", header_scanned_ > 3 ? header_scanned_ - 3 : 0);
    header_scanned_ = data.size();
    const size_t header = end == std::string_view::npos ? data.size() : end + 4;
    if (header > limits_.max_header_bytes) {
      Fail(431, "request header exceeds the limit of " + std::to_string(limits_.max_header_bytes) +
                    " bytes");
      return 0;
    }
    if (end == std::string_view::npos) return 0;  // need more
  }
  size_t used = 0;
  while (used < data.size() && !p.is_done()) {
    boost::beast::error_code ec;
    const size_t n = p.put(boost::asio::const_buffer(data.data() + used, data.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) {
      // The whole header was given: Beast asking for more of it (a version shorter than
      // "HTTP/1.1" at the end of the data, say) means it is malformed, however it arrived.
      if (!p.is_header_done())
        Fail(400, "malformed HTTP request: incomplete request line or field");
      break;
    }
    if (ec == bhttp::error::body_limit) {
      std::string what =
          "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes";
      // The limit is checked as the header ends, before Beast marks it done: the length is in
      // the fields it has stored.
      const auto length = p.get()[bhttp::field::content_length];
      if (!length.empty() && length.size() <= 20 &&
          std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        what = "request body of " + std::string(length) + " bytes " + what.substr(13);
      }
      Fail(413, what);
      return used;
    }
    if (ec == bhttp::error::header_limit) {
      Fail(431, "request header exceeds the limit of " + std::to_string(limits_.max_header_bytes) +
                    " bytes");
      return used;
    }
    if (ec) {
      Fail(400, "malformed HTTP request: " + ec.message());
      return used;
    }
    if (n == 0) break;  // nothing more it can take now
  }
  return used;
}

void HttpRequestReader::PutEof() {
  if (failed() || impl_->parser.is_done() || !got_some_) return;
  boost::beast::error_code ec;
  impl_->parser.put_eof(ec);
  if (ec || !impl_->parser.is_done()) {
    Fail(0, "the connection ended inside a request");
  }
}

HttpRequest HttpRequestReader::TakeRequest() {
  HttpRequest r;
  if (!done()) return r;
  auto& req = impl_->parser.get();
  r.method = std::string(req.method_string().data(), req.method_string().size());
  r.target = std::string(req.target().data(), req.target().size());
  for (const auto& field : req) {
    const auto name = field.name_string();
    r.headers.emplace_back(AsciiLower(std::string_view(name.data(), name.size())),
                           std::string(field.value()));
  }
  r.body = std::move(req.body());
  return r;
}

bool HttpRequestReader::keep_alive() const {
  return impl_->parser.is_header_done() && impl_->parser.get().keep_alive();
}

unsigned HttpRequestReader::version() const {
  return impl_->parser.is_header_done() ? impl_->parser.get().version() : 11;
}

ParsedHttpStream ParseHttpStream(std::string_view bytes, const HttpParseLimits& limits,
                                 size_t chunk, size_t max_requests) {
  ParsedHttpStream out;
  if (chunk == 0) chunk = bytes.size() + 1;
  std::string buffer;  // what the session's read buffer holds: read and not yet used
  size_t offset = 0;   // of `bytes` read so far
  auto reader = std::make_unique<HttpRequestReader>(limits);
  while (out.requests.size() < max_requests) {
    // Offer the buffer first (pipelined bytes left by the previous request), then read more.
    if (!buffer.empty()) {
      const size_t used = reader->Put(buffer);
      buffer.erase(0, used);
      if (reader->failed()) break;
      if (reader->done()) {
        ParsedHttpStream::Request r;
        r.keep_alive = reader->keep_alive();
        r.version = reader->version();
        r.request = reader->TakeRequest();
        out.requests.push_back(std::move(r));
        if (!out.requests.back().keep_alive) return out;
        reader = std::make_unique<HttpRequestReader>(limits);
        continue;
      }
    }
    if (offset >= bytes.size()) {
      out.incomplete = reader->got_some() && !reader->failed();
      reader->PutEof();
      break;
    }
    const size_t n = std::min(chunk, bytes.size() - offset);
    buffer.append(bytes.substr(offset, n));
    offset += n;
  }
  if (reader->failed()) {
    out.error_status = reader->error_status();
    out.error = reader->error();
    if (out.error_status != 0) out.incomplete = false;
  }
  return out;
}

}  // namespace autoscale
