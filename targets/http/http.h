// HTTP/1.1 for the worker, the daemon and the remote target: a server (TCP or Unix socket) and
// a keep-alive client, both on Boost.Asio/Beast. This header carries no Boost types, so the
// services that plug into the server (targets/worker, agent/) and their tests compile without
// Beast; only targets/http/*.cc include it (DESIGN.md: Boost only in remote, worker, daemon).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace autoscale {

// Where a server listens or a client connects: "127.0.0.1:8000", "[::1]:8000", "localhost:0"
// (port 0: the kernel picks one) or "unix:/run/autoscaled.sock". Clients also accept an
// "http://" prefix and a trailing "/".
struct Endpoint {
  bool unix_socket = false;
  std::string host;  // TCP: address or name; Unix: the socket path
  uint16_t port = 0;

  static Result<Endpoint> Parse(std::string_view text);
  std::string ToString() const;  // the form Parse() reads
  // Loopback addresses (127.0.0.0/8, ::1, "localhost") and Unix sockets.
  bool IsLocal() const;
};

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string target;  // path and query: "/v2/models/resnet18/infer"
  // Header fields, names lower-cased ("inference-header-content-length").
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;  // "127.0.0.1:53122" or "unix" (server side)

  // The first header with this (lower-case) name, or null.
  const std::string* Header(std::string_view lower_name) const;
  // The path without the query string.
  std::string_view path() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
  std::string body;

  const std::string* Header(std::string_view lower_name) const;

  // Client side: what the exchange cost.
  double elapsed_ms = 0;   // from the call to the last byte of the response
  double connect_ms = 0;   // connection set-up (0 on a reused keep-alive connection)
  double write_ms = 0;     // writing the request (its share of the upload)
  double response_ms = 0;  // from the request written to the response read
  bool reused_connection = false;
};

// {"error": "..."} with `status`.
HttpResponse ErrorResponse(int status, std::string_view message);
// The HTTP status for a failed Status: 400 InvalidArgument, 404 NotFound, 503 Unavailable, else
// 500 (200 for OK).
int HttpStatusFor(const Status& s);

// The binary tensor extension's Inference-Header-Content-Length of a request or response:
// nullopt when absent (the body is all JSON), InvalidArgument when it is not a byte count.
Result<std::optional<size_t>> InferenceHeaderLength(const HttpRequest& request);
Result<std::optional<size_t>> InferenceHeaderLength(const HttpResponse& response);
// The writing side: `body` (an encoded KServe message) as the message's body and, when it has a
// binary part (`header_length` set, as the encoders set it), the Inference-Header-Content-Length
// field and the application/octet-stream content type.
void SetInferenceBody(std::string body, std::optional<size_t> header_length, HttpRequest* request);
void SetInferenceBody(std::string body, std::optional<size_t> header_length,
                      HttpResponse* response);

// Sends the response for one request. Call exactly once, from any thread. A responder that is
// destroyed without being called answers 500, so every accepted request gets one response.
class Responder {
 public:
  Responder() = default;
  explicit Responder(std::function<void(HttpResponse)> send);
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept = default;
  ~Responder();
  void operator()(HttpResponse response);
  explicit operator bool() const { return static_cast<bool>(send_); }

 private:
  std::function<void(HttpResponse)> send_;
};

// The application behind a server. Called on a server thread; it may answer at once or keep the
// Responder and answer later from another thread. It must not block for long (hand long work to
// a thread of its own).
using HttpHandler = std::function<void(HttpRequest&& request, Responder respond)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8000";
  // Binding a TCP address other than loopback must be asked for (servers default to loopback).
  bool allow_remote = false;
  int threads = 2;                        // threads running the I/O
  size_t max_body_bytes = 32u << 20;      // larger bodies get 413
  size_t max_header_bytes = 16u << 10;    // larger headers get 431
  int idle_timeout_ms = 30000;            // a keep-alive connection idle this long is closed
  int read_timeout_ms = 10000;            // a request must arrive in full within this
  unsigned unix_socket_mode = 0600;       // permissions of a Unix socket
  std::string server_name = "autoscale";  // the Server header (and the prefix of its log lines)
  // Open connections at most. At the cap the server stops accepting: further connections wait
  // in the listen backlog (they are not closed) until one closes. 0: the soft RLIMIT_NOFILE less
  // 64 descriptors for the rest of the process (at least 16). When accept() fails for lack of
  // descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server logs it once and retries
  // after a back-off (10 ms doubling to 1 s, or as soon as a connection closes), never at once.
  int max_connections = 0;
  // On Stop, a keep-alive connection that waits for its next request is kept this long for a
  // request that may already be on its way (it is answered, then closed), then closed cleanly.
  int stop_idle_grace_ms = 200;
};

// Malformed HTTP gets 400, a body over the cap 413, headers over the cap 431; each with an
// {"error"} body, after which that connection is closed. The server keeps serving others.
// Requests are parsed by HttpRequestReader (targets/http/request_reader.h).
// A Unix socket path is only taken over when it is a socket (not a link, not a regular file)
// that no server answers on; anything else there is an error, and is left alone.
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Stop(0)

  // The bound endpoint (with the port the kernel chose for port 0).
  const Endpoint& endpoint() const;
  // Requests handed to the handler and not yet answered.
  int64_t in_flight() const;
  // Stops accepting connections (those already in the listen backlog are taken and served),
  // then, for up to `drain`: requests handed to the handler are answered; requests being read
  // are read in full (within read_timeout_ms) and handed to the handler; connections waiting
  // for a request get stop_idle_grace_ms for one, then close cleanly. Every response from then
  // on says Connection: close. When `drain` is over, what is left is closed and the threads
  // join. A Unix socket file is removed if it is still the socket this server created.
  // Idempotent.
  void Stop(std::chrono::milliseconds drain);
  // Connections open now.
  int connections() const;

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

struct HttpClientOptions {
  int max_idle_connections = 64;  // keep-alive connections kept per client
  int threads = 1;                // threads running the client's I/O
  size_t max_response_bytes = 256u << 20;
};

// A keep-alive HTTP/1.1 client for one endpoint. Thread-safe; requests run concurrently, each
// on its own connection (reused from an idle pool when one is open). A request that fails on a
// reused connection before any response byte arrives is retried once on a fresh connection.
class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;
  using Clock = std::chrono::steady_clock;

  static Result<std::unique_ptr<HttpClient>> Create(const Endpoint& endpoint,
                                                    const HttpClientOptions& options = {});
  ~HttpClient();  // cancels outstanding requests (their callbacks get Unavailable) and joins

  const Endpoint& endpoint() const;

  // Sends `request`; `done` is called exactly once on a client thread with the response (any
  // status) or Unavailable saying what failed (connect refused, reset, deadline passed).
  void Async(HttpRequest request, Clock::time_point deadline, Callback done);
  // Blocking form of Async.
  Result<HttpResponse> Send(HttpRequest request, std::chrono::milliseconds timeout);

  struct Impl;

 private:
  explicit HttpClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace autoscale
