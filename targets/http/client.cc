// HttpClient on Boost.Beast: one connection per request in flight, an idle keep-alive pool, a
// deadline timer per request, one retry on a fresh connection when a reused one turns out to be
// closed. TCP and Unix sockets share one socket type (asio::generic::stream_protocol).
//
// Threading: each request (Op) runs on its own strand; its timer, resolver and socket handlers
// are bound to that strand, so an Op's state needs no lock. The pool and the set of live Ops are
// guarded by Impl::mu.
#include <sys/socket.h>

// clang-format off: Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>
// clang-format on
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "core/strings.h"
#include "targets/http/http.h"

namespace autoscale {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Socket = asio::generic::stream_protocol::socket;
using GenericEndpoint = asio::generic::stream_protocol::endpoint;
using Clock = HttpClient::Clock;
using Strand = asio::strand<asio::io_context::executor_type>;

constexpr uint32_t kMaxResponseHeaderBytes = 64u << 10;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// "connection refused" rather than "Connection refused"; end-of-stream errors in words.
std::string Describe(const beast::error_code& ec, size_t max_response_bytes) {
  if (ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == http::error::partial_message) {
    return "the server closed the connection";
  }
  if (ec == http::error::body_limit) {
    return "response body over the limit of " + std::to_string(max_response_bytes) + " bytes";
  }
  if (ec == http::error::header_limit) {
    return "response header over the limit of " + std::to_string(kMaxResponseHeaderBytes) +
           " bytes";
  }
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

// An idle keep-alive connection the server has closed (or that holds unexpected bytes) is not
// worth a request: peek without blocking.
bool LooksAlive(Socket& socket) {
  if (!socket.is_open()) return false;
  char c;
  const ssize_t n = ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return false;  // 0: the peer closed it; > 0: bytes nobody asked for
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

struct Conn {
  explicit Conn(asio::io_context& ioc) : socket(ioc) {}
  void Close() {
    beast::error_code ignored;
    socket.shutdown(Socket::shutdown_both, ignored);
    socket.close(ignored);
  }
  Socket socket;
};

struct Op;

}  // namespace

struct HttpClient::Impl {
  Impl(Endpoint ep, HttpClientOptions opts)
      : endpoint(std::move(ep)), options(opts), where(endpoint.ToString()) {
    if (endpoint.unix_socket) {
      host_header = "localhost";
    } else if (endpoint.host.find(':') != std::string::npos) {
      host_header = "[" + endpoint.host + "]:" + std::to_string(endpoint.port);
    } else {
      host_header = endpoint.host + ":" + std::to_string(endpoint.port);
    }
  }

  // `budget`: the timeout Send() was given, for messages; Async's is deadline - now.
  void Start(HttpRequest request, Clock::time_point deadline, Callback done,
             std::optional<std::chrono::milliseconds> budget = std::nullopt);
  void Shutdown();
  bool OnIoThread() const;
  std::shared_ptr<Conn> TakeIdle();
  void ReturnIdle(std::shared_ptr<Conn> conn);
  void Forget(const std::shared_ptr<Op>& op);

  // Declared first so that it is destroyed last: sockets and timers below refer to it.
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(ioc)};
  const Endpoint endpoint;
  const HttpClientOptions options;
  const std::string where;  // "127.0.0.1:8000"
  std::string host_header;
  std::vector<std::thread> threads;

  std::mutex mu;
  bool shut_down = false;                        // guarded by mu
  std::vector<std::shared_ptr<Conn>> idle;       // guarded by mu; most recent last
  std::unordered_set<std::shared_ptr<Op>> live;  // guarded by mu; requests not yet answered
};

namespace {

// One request, from Async to its callback. Runs on `strand`.
struct Op : std::enable_shared_from_this<Op> {
  Op(HttpClient::Impl* owner, Clock::time_point dl, HttpClient::Callback cb)
      : impl(owner),
        strand(asio::make_strand(owner->ioc)),
        timer(strand),
        resolver(strand),
        start(Clock::now()),
        deadline(dl),
        done(std::move(cb)) {}

  void Begin();
  void Connect();
  void OnConnected(const beast::error_code& ec);
  void Write();
  void OnWritten(const beast::error_code& ec);
  void Read();
  void OnHeader(const beast::error_code& ec);
  void OnRead(const beast::error_code& ec);
  void OnDeadline();
  void Retry();
  void FailTransport(const beast::error_code& ec);
  void Finish(Result<HttpResponse> result);

  template <typename F>
  auto Bind(F f) {
    return asio::bind_executor(strand, std::move(f));
  }

  HttpClient::Impl* const impl;  // outlives every Op: Shutdown() ends them before it returns
  Strand strand;
  asio::steady_timer timer;
  asio::ip::tcp::resolver resolver;
  http::request<http::string_body> req;
  std::string what;  // "POST /v2/models/m/infer to 127.0.0.1:8000"
  const Clock::time_point start, deadline;
  std::optional<std::chrono::milliseconds> budget;
  Clock::time_point phase_start;
  const char* phase = "waiting to be sent";
  HttpClient::Callback done;
  std::shared_ptr<Conn> conn;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  double connect_ms = 0, write_ms = 0;
  bool reused = false, retried = false, finished = false;
};

void Op::Begin() {
  if (finished) return;
  if (deadline <= Clock::now()) {
    Finish(Status::Unavailable(what + ": the deadline passed before the request was sent"));
    return;
  }
  timer.expires_at(deadline);
  timer.async_wait(Bind([self = shared_from_this()](const beast::error_code& ec) {
    if (!ec) self->OnDeadline();
  }));
  conn = impl->TakeIdle();
  if (conn) {
    reused = true;
    Write();
  } else {
    Connect();
  }
}

void Op::Connect() {
  phase_start = Clock::now();
  conn = std::make_shared<Conn>(impl->ioc);
  if (impl->endpoint.unix_socket) {
    phase = "connecting";
    conn->socket.async_connect(
        GenericEndpoint(asio::local::stream_protocol::endpoint(impl->endpoint.host)),
        Bind([self = shared_from_this()](const beast::error_code& ec) { self->OnConnected(ec); }));
    return;
  }
  phase = "resolving the host";
  resolver.async_resolve(
      impl->endpoint.host, std::to_string(impl->endpoint.port),
      Bind([self = shared_from_this()](const beast::error_code& ec,
                                       asio::ip::tcp::resolver::results_type results) {
        if (self->finished) return;
        if (ec) {
          self->Finish(Status::Unavailable("resolve " + self->impl->where + ": " +
                                           Describe(ec, self->impl->options.max_response_bytes)));
          return;
        }
        std::vector<GenericEndpoint> eps;
        for (const auto& r : results) eps.emplace_back(r.endpoint());
        self->phase = "connecting";
        asio::async_connect(self->conn->socket, eps,
                            self->Bind([self](const beast::error_code& ec2,
                                              const GenericEndpoint&) { self->OnConnected(ec2); }));
      }));
}

void Op::OnConnected(const beast::error_code& ec) {
  if (finished) return;
  if (ec) {
    Finish(Status::Unavailable("connect to " + impl->where + ": " +
                               Describe(ec, impl->options.max_response_bytes)));
    return;
  }
  if (!impl->endpoint.unix_socket) {
    beast::error_code ignored;
    conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  connect_ms = MsBetween(phase_start, Clock::now());
  Write();
}

void Op::Write() {
  phase = "writing the request";
  phase_start = Clock::now();
  http::async_write(conn->socket, req,
                    Bind([self = shared_from_this()](const beast::error_code& ec, size_t) {
                      self->OnWritten(ec);
                    }));
}

void Op::OnWritten(const beast::error_code& ec) {
  if (finished) return;
  if (ec) {
    if (reused && !retried) return Retry();
    return FailTransport(ec);
  }
  write_ms = MsBetween(phase_start, Clock::now());
  Read();
}

void Op::Read() {
  phase = "reading the response";
  phase_start = Clock::now();
  buffer.clear();
  parser.emplace();
  parser->body_limit(impl->options.max_response_bytes);
  // Beast reads at most the buffer's free capacity (>= 512 bytes) at a time: give it room.
  if (buffer.capacity() < (64u << 10)) buffer.reserve(64u << 10);
  parser->header_limit(kMaxResponseHeaderBytes);
  if (req.method() == http::verb::head) parser->skip(true);
  // The header first, on its own: Beast 1.74 skips the body limit when a whole message is
  // parsed eagerly in one go (header and body in the same read).
  http::async_read_header(conn->socket, buffer, *parser,
                          Bind([self = shared_from_this()](const beast::error_code& ec, size_t) {
                            self->OnHeader(ec);
                          }));
}

void Op::OnHeader(const beast::error_code& ec) {
  if (finished) return;
  if (ec || parser->is_done()) return OnRead(ec);
  http::async_read(conn->socket, buffer, *parser,
                   Bind([self = shared_from_this()](const beast::error_code& ec2, size_t) {
                     self->OnRead(ec2);
                   }));
}

void Op::OnRead(const beast::error_code& ec) {
  if (finished) return;
  if (ec) {
    // A reused connection that the server closed while it sat idle fails before any byte of a
    // response; the request never reached the application, so it is safe to send again.
    if (reused && !retried && !parser->got_some() && buffer.size() == 0) return Retry();
    return FailTransport(ec);
  }
  const Clock::time_point now = Clock::now();
  auto& msg = parser->get();
  HttpResponse r;
  r.status = static_cast<int>(msg.result_int());
  r.content_type = std::string(msg[http::field::content_type]);
  for (const auto& f : msg)
    r.headers.emplace_back(AsciiLower(std::string(f.name_string())), f.value());
  r.body = std::move(msg.body());
  r.elapsed_ms = MsBetween(start, now);
  r.connect_ms = connect_ms;
  r.write_ms = write_ms;
  r.response_ms = MsBetween(phase_start, now);
  r.reused_connection = reused;
  if (msg.keep_alive() && buffer.size() == 0) impl->ReturnIdle(std::move(conn));
  Finish(std::move(r));
}

void Op::OnDeadline() {
  if (finished) return;
  const long long ms =
      budget ? budget->count()
             : std::llround(std::chrono::duration<double, std::milli>(deadline - start).count());
  Finish(Status::Unavailable(what + ": deadline of " + std::to_string(ms) + " ms passed while " +
                             phase));
}

void Op::Retry() {
  conn->Close();
  conn.reset();
  retried = true;
  reused = false;
  Connect();
}

void Op::FailTransport(const beast::error_code& ec) {
  Finish(Status::Unavailable(what + ": " + Describe(ec, impl->options.max_response_bytes) +
                             " while " + phase));
}

// Ends the request: the connection (unless handed back to the pool) is closed, never reused.
void Op::Finish(Result<HttpResponse> result) {
  if (finished) return;
  finished = true;
  timer.cancel();
  resolver.cancel();
  if (conn) {
    conn->Close();
    conn.reset();
  }
  impl->Forget(shared_from_this());
  HttpClient::Callback cb = std::move(done);
  cb(std::move(result));
}

}  // namespace

void HttpClient::Impl::Start(HttpRequest request, Clock::time_point deadline, Callback done,
                             std::optional<std::chrono::milliseconds> budget) {
  auto op = std::make_shared<Op>(this, deadline, std::move(done));
  op->budget = budget;
  op->what = request.method + " " + request.target + " to " + where;
  auto& req = op->req;
  req.version(11);
  req.method_string(request.method);
  req.target(request.target);
  req.set(http::field::host, host_header);
  req.set(http::field::user_agent, "autoscale");
  bool has_content_type = false;
  for (auto& [name, value] : request.headers) {
    if (beast::iequals(name, "content-length") || beast::iequals(name, "host")) continue;
    has_content_type |= beast::iequals(name, "content-type");
    req.insert(name, value);
  }
  if (!has_content_type && !request.body.empty()) {
    req.set(http::field::content_type, "application/json");
  }
  req.body() = std::move(request.body);
  req.prepare_payload();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!shut_down) {
      live.insert(op);
      asio::post(op->strand, [op] { op->Begin(); });
      return;
    }
  }
  // Asked from a callback while the client shuts down: answer on a client thread all the same.
  asio::post(ioc, [op] {
    Callback cb = std::move(op->done);
    cb(Status::Unavailable(op->what + ": the client is shutting down"));
  });
}

std::shared_ptr<Conn> HttpClient::Impl::TakeIdle() {
  std::lock_guard<std::mutex> lock(mu);
  while (!idle.empty()) {
    std::shared_ptr<Conn> c = std::move(idle.back());
    idle.pop_back();
    if (LooksAlive(c->socket)) return c;
    c->Close();
  }
  return nullptr;
}

void HttpClient::Impl::ReturnIdle(std::shared_ptr<Conn> conn) {
  std::lock_guard<std::mutex> lock(mu);
  if (shut_down || static_cast<int>(idle.size()) >= options.max_idle_connections) {
    conn->Close();
    return;
  }
  idle.push_back(std::move(conn));
}

void HttpClient::Impl::Forget(const std::shared_ptr<Op>& op) {
  std::lock_guard<std::mutex> lock(mu);
  live.erase(op);
}

bool HttpClient::Impl::OnIoThread() const {
  const auto me = std::this_thread::get_id();
  return std::any_of(threads.begin(), threads.end(),
                     [&](const std::thread& t) { return t.get_id() == me; });
}

// Every live request ends with Unavailable, on a client thread, before this returns; so do
// requests that callbacks start meanwhile. Called from a callback (a client thread, which cannot
// join itself), the other threads are stopped and joined and the remaining requests are ended on
// this thread; the thread itself finishes its current callback and exits.
void HttpClient::Impl::Shutdown() {
  std::vector<std::shared_ptr<Op>> ops;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (shut_down) return;
    shut_down = true;
    ops.assign(live.begin(), live.end());
    for (auto& c : idle) c->Close();
    idle.clear();
  }
  auto cancel = [](const std::shared_ptr<Op>& op) {
    op->Finish(Status::Unavailable(op->what + ": canceled, the client was shut down"));
  };
  if (!OnIoThread()) {
    for (auto& op : ops) asio::post(op->strand, [op, cancel] { cancel(op); });
    work.reset();
    for (auto& t : threads) t.join();
    return;
  }
  ioc.stop();
  for (auto& t : threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
  // No other thread runs handlers now: end what is left here.
  {
    std::lock_guard<std::mutex> lock(mu);
    ops.assign(live.begin(), live.end());
  }
  for (auto& op : ops) cancel(op);
}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const Endpoint& endpoint,
                                                       const HttpClientOptions& options) {
  if (endpoint.host.empty()) {
    return Status::InvalidArgument("HTTP client: the endpoint has no " +
                                   std::string(endpoint.unix_socket ? "socket path" : "host"));
  }
  if (!endpoint.unix_socket && endpoint.port == 0) {
    return Status::InvalidArgument("HTTP client for " + endpoint.ToString() +
                                   ": port 0 names no server");
  }
  if (options.threads < 1) {
    return Status::InvalidArgument("HTTP client: threads must be at least 1, got " +
                                   std::to_string(options.threads));
  }
  auto impl = std::make_shared<Impl>(endpoint, options);
  for (int i = 0; i < options.threads; ++i) {
    // Each thread keeps the Impl alive until its run() returns: a client destroyed from one of
    // its own callbacks is freed by that thread, after the callback.
    impl->threads.emplace_back([impl] { impl->ioc.run(); });
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() { impl_->Shutdown(); }

const Endpoint& HttpClient::endpoint() const { return impl_->endpoint; }

void HttpClient::Async(HttpRequest request, Clock::time_point deadline, Callback done) {
  impl_->Start(std::move(request), deadline, std::move(done));
}

Result<HttpResponse> HttpClient::Send(HttpRequest request, std::chrono::milliseconds timeout) {
  if (impl_->OnIoThread()) {
    return Status::Internal("HttpClient::Send called from one of the client's own threads (" +
                            request.method + " " + request.target +
                            "); it would wait on itself: use Async");
  }
  std::promise<Result<HttpResponse>> promise;
  auto future = promise.get_future();
  impl_->Start(
      std::move(request), Clock::now() + timeout,
      [&promise](Result<HttpResponse> r) { promise.set_value(std::move(r)); }, timeout);
  return future.get();
}

}  // namespace autoscale
