// HTTP/1.1 request parsing, apart from any socket: the bytes a server session reads go into an
// HttpRequestReader, which says when a request is complete (method, target, lower-cased header
// names, body) or what is wrong with it (400, 413, 431), under the server's size caps. The server
// (server.cc) feeds it what each read returns; the HTTP fuzzer (fuzz/http_request_fuzz.cc) and
// tests feed it arbitrary bytes through ParseHttpRequests. No Boost types here.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "targets/http/http.h"

namespace autoscale {

struct HttpParseLimits {
  size_t max_body_bytes = 32u << 20;    // a larger body is 413
  size_t max_header_bytes = 16u << 10;  // a larger request line + header is 431
};

// Parses one request from bytes that arrive in pieces. Put() consumes a prefix of what it is
// given: bytes it did not use (an incomplete header, or the start of the next pipelined request)
// must be offered again, with more appended, on the next call, as a server's read buffer does.
// The header is parsed once it is here in full (up to the blank line), so that the outcome does
// not depend on how the bytes were split into reads.
class HttpRequestReader {
 public:
  explicit HttpRequestReader(const HttpParseLimits& limits);
  ~HttpRequestReader();
  HttpRequestReader(const HttpRequestReader&) = delete;
  HttpRequestReader& operator=(const HttpRequestReader&) = delete;

  // Parses what it can of `data`; returns the bytes used. Then check done() and failed().
  size_t Put(std::string_view data);
  // The peer closed its side: a request begun and not complete fails with status 0.
  void PutEof();

  // Whether any byte of this request has been offered (a session waiting for a request has none).
  bool got_some() const { return got_some_; }
  bool header_done() const;
  bool done() const;
  // The header is here, asks for "Expect: 100-continue" (HTTP/1.1) and the body is not: the
  // server should send "100 Continue" before waiting for it, or the client waits (curl: 1 s).
  bool expects_continue() const;
  bool failed() const { return error_status_ >= 0; }
  // When failed(): the status to answer (400, 413, 431), or 0 when there is nobody to answer (the
  // connection ended mid-request); and what was wrong.
  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }

  // When done(): the request (peer left empty), whether the client keeps the connection open,
  // and the HTTP version (11 for HTTP/1.1). TakeRequest moves the body out; call it once.
  HttpRequest TakeRequest();
  bool keep_alive() const;
  unsigned version() const;

  struct Impl;

 private:
  void Fail(int status, std::string message);

  std::unique_ptr<Impl> impl_;
  HttpParseLimits limits_;
  bool got_some_ = false;
  size_t header_scanned_ = 0;  // bytes searched for the header's end
  int error_status_ = -1;
  std::string error_;
};

// Everything a byte stream on one connection makes of it, as the server would see it: the
// requests in order, then how it ended.
struct ParsedHttpStream {
  struct Request {
    HttpRequest request;
    bool keep_alive = true;
    unsigned version = 11;
  };
  std::vector<Request> requests;
  int error_status = -1;  // -1: no error; else as HttpRequestReader::error_status()
  std::string error;
  bool incomplete = false;  // the bytes ended inside a request (the server would keep reading)
};

// Parses `bytes` as a server session does, offered `chunk` bytes per read (0: all at once),
// until the stream ends, a request fails, a request says Connection: close (the server answers
// it and closes), or `max_requests` have been parsed.
ParsedHttpStream ParseHttpStream(std::string_view bytes, const HttpParseLimits& limits,
                                 size_t chunk = 0, size_t max_requests = 64);

}  // namespace autoscale
