// Endpoint parsing, header lookups, error responses and the Responder (no Boost here).
#include "targets/http/http.h"

#include <charconv>

#include "targets/kserve/kserve.h"

namespace autoscale {

namespace {

const std::string* FindHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view lower_name) {
  for (const auto& [k, v] : headers) {
    if (k.size() != lower_name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i) {
      char c = k[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      eq = c == lower_name[i];
    }
    if (eq) return &v;
  }
  return nullptr;
}

}  // namespace

Result<Endpoint> Endpoint::Parse(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("endpoint '" + original + "': " + why +
                                   " (expected HOST:PORT, [IPv6]:PORT or unix:/PATH)");
  };
  Endpoint e;
  if (text.starts_with("unix:")) {
    text.remove_prefix(5);
    if (text.starts_with("//")) text.remove_prefix(2);
    if (text.empty()) return bad("empty socket path");
    if (text.size() > 107) return bad("socket path longer than 107 bytes");
    e.unix_socket = true;
    e.host = std::string(text);
    return e;
  }
  if (text.starts_with("http://")) text.remove_prefix(7);
  if (text.starts_with("https://")) return bad("https is not supported");
  while (text.ends_with("/")) text.remove_suffix(1);
  if (text.empty()) return bad("empty");
  size_t colon;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("unterminated '['");
    e.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("missing ':PORT'");
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing ':PORT'");
    e.host = std::string(text.substr(0, colon));
  }
  if (e.host.empty()) return bad("empty host");
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || port.empty() || value > 65535) {
    return bad("port '" + std::string(port) + "' is not a number in 0..65535");
  }
  e.port = static_cast<uint16_t>(value);
  return e;
}

std::string Endpoint::ToString() const {
  if (unix_socket) return "unix:" + host;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool Endpoint::IsLocal() const {
  return unix_socket || host == "localhost" || host == "::1" || host.starts_with("127.");
}

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  return FindHeader(headers, lower_name);
}

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  const size_t q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

const std::string* HttpResponse::Header(std::string_view lower_name) const {
  return FindHeader(headers, lower_name);
}

HttpResponse ErrorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorBody(message);
  return r;
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

namespace {

Result<std::optional<size_t>> ParseHeaderLength(const std::string* value) {
  if (value == nullptr) return std::optional<size_t>();
  size_t n = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size() || value->empty()) {
    return Status::InvalidArgument("Inference-Header-Content-Length: expected a byte count, got '" +
                                   *value + "'");
  }
  return std::optional<size_t>(n);
}

}  // namespace

Result<std::optional<size_t>> InferenceHeaderLength(const HttpRequest& request) {
  return ParseHeaderLength(request.Header("inference-header-content-length"));
}

Result<std::optional<size_t>> InferenceHeaderLength(const HttpResponse& response) {
  return ParseHeaderLength(response.Header("inference-header-content-length"));
}

void SetInferenceBody(std::string body, std::optional<size_t> header_length, HttpRequest* request) {
  request->body = std::move(body);
  if (!header_length) return;
  request->headers.emplace_back("inference-header-content-length", std::to_string(*header_length));
  request->headers.emplace_back("content-type", "application/octet-stream");
}

void SetInferenceBody(std::string body, std::optional<size_t> header_length,
                      HttpResponse* response) {
  response->body = std::move(body);
  if (!header_length) return;
  response->content_type = "application/octet-stream";
  response->headers.emplace_back("inference-header-content-length", std::to_string(*header_length));
}

Responder::Responder(std::function<void(HttpResponse)> send) : send_(std::move(send)) {}

Responder::~Responder() {
  if (send_) {
    auto send = std::move(send_);
    send_ = nullptr;
    send(ErrorResponse(500, "internal error: the request was dropped without an answer"));
  }
}

void Responder::operator()(HttpResponse response) {
  if (!send_) return;  // answered already
  auto send = std::move(send_);
  send_ = nullptr;
  send(std::move(response));
}

}  // namespace autoscale
