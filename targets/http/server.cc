// HttpServer on Boost.Beast: one strand per connection, HTTP/1.1 keep-alive, request size caps,
// a connection cap with accept back-off, and a drain on Stop() that answers every request already
// handed to the handler or being read.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/logging.h"
#include "core/strings.h"
#include "targets/http/beast.h"
#include "targets/http/http.h"
#include "targets/http/request_reader.h"

namespace autoscale {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;

namespace {

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection now.
  virtual void Close() = 0;
  // The server stops: a connection waiting for a request gets the grace, then closes.
  virtual void BeginStop() = 0;
};

// The connection cap that max_connections = 0 stands for.
int DefaultMaxConnections() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 65536;
  const long long soft = static_cast<long long>(rl.rlim_cur);
  return static_cast<int>(std::clamp<long long>(soft - 64, 16, 1 << 20));
}

bool OutOfResources(const beast::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  HttpHandler handler;
  Endpoint endpoint;
  asio::io_context ioc;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_proto::acceptor> unix_acceptor;
  std::vector<std::thread> threads;
  // Keeps run() going while no I/O is pending (a handler may still answer); released by Stop()
  // once the drain is over.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  // Accepting: the acceptor, its timer and these flags are used on accept_strand only.
  asio::strand<asio::io_context::executor_type> accept_strand;
  asio::steady_timer backoff_timer;
  int max_connections = 0;
  bool accept_pending = false;
  bool backoff_active = false;
  int backoff_ms = 0;
  bool out_of_resources_logged = false;
  std::chrono::steady_clock::time_point last_resource_log;
  std::atomic<int> connections{0};

  // The Unix socket this server bound (lstat right after bind).
  bool have_socket_id = false;
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;

  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::atomic<bool> acceptors_closed{false};
  std::mutex mu;
  std::condition_variable drained;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  bool joined = false;                                                    // guarded by mu

  explicit Impl(int threads)
      : ioc(threads), accept_strand(asio::make_strand(ioc)), backoff_timer(accept_strand) {}

  void Register(const std::shared_ptr<SessionBase>& s) {
    connections.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    sessions[s.get()] = s;
  }
  void Unregister(SessionBase* s) {
    connections.fetch_sub(1);
    {
      std::lock_guard<std::mutex> lock(mu);
      sessions.erase(s);
      if (sessions.empty()) drained.notify_all();
    }
    // A free slot (and a free descriptor): accept again if the cap or a back-off held it.
    asio::post(accept_strand, [w = weak_from_this()] {
      if (auto self = w.lock()) self->OnConnectionClosed();
    });
  }
  std::vector<std::shared_ptr<SessionBase>> LiveSessions() {
    std::vector<std::shared_ptr<SessionBase>> live;
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [p, w] : sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    return live;
  }
  void Answered() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu);
      drained.notify_all();
    }
  }

  // On accept_strand.
  void AcceptNext();
  template <class Protocol>
  void OnAccept(beast::error_code ec, typename Protocol::socket socket);
  void OnConnectionClosed();
  void CloseAcceptors();
  template <class Protocol, class Acceptor>
  void TakeBacklog(Acceptor& acceptor);
  template <class Protocol>
  void StartSession(typename Protocol::socket socket);
  void Log(const std::string& line) const { autoscale::Log().warn("{}", line); }
};

namespace {

template <class Protocol>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;
  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::Impl> server,
          std::string peer)
      : server_(std::move(server)),
        stream_(std::move(socket)),
        stop_timer_(stream_.get_executor()),
        peer_(std::move(peer)) {
    // At most 64 KB per read: a 600 KB tensor body arrives in ten reads.
    buffer_.reserve(64 * 1024);
  }
  ~Session() override { server_->Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Read(); });
  }

  void Close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Shutdown(); });
  }

  void BeginStop() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->state_ == State::kIdle) self->ArmStopTimer();
    });
  }

 private:
  // kIdle: waiting for the first byte of a request; kReading: some of it is in; kHandling: the
  // handler has it; kWriting: the response is going out; kClosed: closing or closed.
  enum class State { kIdle, kReading, kHandling, kWriting, kClosed };

  HttpParseLimits Limits() const {
    HttpParseLimits l;
    l.max_body_bytes = server_->options.max_body_bytes;
    l.max_header_bytes = server_->options.max_header_bytes;
    return l;
  }

  void Read() {
    reader_.emplace(Limits());
    state_ = State::kIdle;
    // Idle connections wait idle_timeout_ms for a request; from its first byte the header must
    // arrive within read_timeout_ms, and then the body within read_timeout_ms.
    stream_.expires_after(std::chrono::milliseconds(server_->options.idle_timeout_ms));
    if (server_->stopping) ArmStopTimer();
    Parse();
  }

  // Offers the read buffer to the reader (bytes left from a pipelined request first), then
  // reads more when it needs more.
  void Parse() {
    if (buffer_.size() > 0) {
      const bool had_some = reader_->got_some();
      const bool had_header = reader_->header_done();
      const auto data = buffer_.data();
      const size_t used =
          reader_->Put(std::string_view(static_cast<const char*>(data.data()), data.size()));
      buffer_.consume(used);
      if (reader_->failed()) return OnParseError();
      const bool header_now = !had_header && reader_->header_done();
      if (!had_some || header_now) {
        state_ = State::kReading;
        stream_.expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
      }
      if (reader_->done()) return OnRequest();
      if (header_now && reader_->expects_continue()) {
        // "Expect: 100-continue": the client waits for this before sending the body.
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        return asio::async_write(stream_, asio::buffer(kContinue, sizeof(kContinue) - 1),
                                 [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                   if (ec) return self->Shutdown();
                                   self->Parse();
                                 });
      }
    }
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnReadSome(ec, n);
                            });
  }

  void OnReadSome(beast::error_code ec, size_t n) {
    if (ec) {
      // A clean close between requests, an idle timeout, a reset, our own shutdown, or a
      // request not received in full in time (the stream has closed the socket then): nobody
      // to answer; the peer sees the connection close.
      return Shutdown();
    }
    buffer_.commit(n);
    Parse();
  }

  void OnParseError() {
    const int status = reader_->error_status();
    const std::string message = reader_->error();
    reader_.reset();
    if (status == 0) return Shutdown();
    WriteError(status, message);
  }

  void OnRequest() {
    state_ = State::kHandling;
    HttpRequest r = reader_->TakeRequest();
    r.peer = peer_;
    keep_alive_ = reader_->keep_alive();
    version_ = reader_->version();
    reader_.reset();
    stream_.expires_never();

    // A compressed body would reach the handler as garbage ("malformed JSON"): refused here, for
    // every service, with the status the protocol gives it.
    if (const std::string* enc = r.Header("content-encoding");
        enc != nullptr && AsciiLower(Trim(*enc)) != "identity") {
      return Write(ErrorResponse(415, "Content-Encoding '" + *enc +
                                          "' is not supported; send the body uncompressed"),
                   /*counted=*/false);
    }
    server_->in_flight.fetch_add(1);
    Responder respond([self = this->shared_from_this()](HttpResponse response) {
      if (self->server_->stopped) {  // the server is gone: nobody can send it
        self->server_->Answered();
        return;
      }
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response), /*counted=*/true);
      });
    });
    server_->handler(std::move(r), std::move(respond));
  }

  void WriteError(int status, const std::string& message) {
    keep_alive_ = false;
    Write(ErrorResponse(status, message), /*counted=*/false);
  }

  void Write(HttpResponse r, bool counted) {
    if (state_ == State::kClosed) {  // closed meanwhile (Stop's deadline passed)
      if (counted) server_->Answered();
      return;
    }
    state_ = State::kWriting;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(r.status));
    res->set(bhttp::field::server, server_->options.server_name);
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    const bool keep = keep_alive_ && !server_->stopping;
    res->keep_alive(keep);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
    bhttp::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, counted, keep](beast::error_code ec, size_t) {
          if (counted) self->server_->Answered();
          if (ec || !keep) return self->ShutdownGracefully();
          self->Read();
        });
  }

  // Stop(): a connection waiting for its next request gets stop_idle_grace_ms for one already
  // on its way; if none has begun to arrive by then, it is closed (cleanly: nothing unread).
  void ArmStopTimer() {
    if (stop_timer_armed_ || state_ == State::kClosed) return;
    stop_timer_armed_ = true;
    stop_timer_.expires_after(std::chrono::milliseconds(server_->options.stop_idle_grace_ms));
    stop_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->state_ != State::kIdle || self->buffer_.size() > 0) return;
      beast::error_code aec;
      const size_t available = self->stream_.socket().available(aec);
      if (!aec && available > 0) return;  // a request is arriving: it is read and answered
      self->Shutdown();
    });
  }

  // After a final response: stop sending, then discard what the peer still sends (for at most
  // a second) so that closing does not reset the connection before it reads our answer.
  void ShutdownGracefully() {
    state_ = State::kClosed;
    stop_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
    if (ec) return Shutdown();
    stream_.expires_after(std::chrono::seconds(1));
    Drain();
  }
  void Drain() {
    discard_.resize(16384);
    stream_.async_read_some(asio::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (64u << 20)) return self->Shutdown();
                              self->Drain();
                            });
  }

  void Shutdown() {
    state_ = State::kClosed;
    stop_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_both, ec);
    stream_.close();
  }

  // First, so that it goes last: a session can outlive its HttpServer (a handler answers after
  // Stop, through the Responder that holds the session), and then this is the io_context's last
  // owner, whose services the socket and the timer below still need while they are destroyed.
  std::shared_ptr<HttpServer::Impl> server_;
  Stream stream_;
  asio::steady_timer stop_timer_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<HttpRequestReader> reader_;
  std::vector<char> discard_;
  size_t drained_ = 0;
  State state_ = State::kIdle;
  bool stop_timer_armed_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

template <class Protocol>
std::string PeerName(const typename Protocol::socket& s) {
  if constexpr (std::is_same_v<Protocol, tcp>) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  } else {
    return "unix";
  }
}

}  // namespace

template <class Protocol>
void HttpServer::Impl::StartSession(typename Protocol::socket socket) {
  if (stopped) return;  // the drain is over: closed unread
  std::string peer = PeerName<Protocol>(socket);
  auto s = std::make_shared<Session<Protocol>>(std::move(socket), shared_from_this(), peer);
  Register(s);
  s->Start();
}

void HttpServer::Impl::AcceptNext() {
  if (stopping || accept_pending || backoff_active) return;
  if (connections.load() >= max_connections) return;  // OnConnectionClosed resumes
  accept_pending = true;
  if (tcp_acceptor) {
    tcp_acceptor->async_accept(
        asio::make_strand(ioc),
        asio::bind_executor(accept_strand,
                            [w = weak_from_this()](beast::error_code ec, auto socket) {
                              if (auto self = w.lock())
                                self->OnAccept<tcp>(ec, tcp::socket(std::move(socket)));
                            }));
  } else if (unix_acceptor) {
    unix_acceptor->async_accept(
        asio::make_strand(ioc),
        asio::bind_executor(
            accept_strand, [w = weak_from_this()](beast::error_code ec, auto socket) {
              if (auto self = w.lock()) {
                self->OnAccept<unix_proto>(ec, unix_proto::socket(std::move(socket)));
              }
            }));
  }
}

template <class Protocol>
void HttpServer::Impl::OnAccept(beast::error_code ec, typename Protocol::socket socket) {
  accept_pending = false;
  if (!ec) {
    // Accepted, even while stopping (a connection the kernel had queued): it is served.
    backoff_ms = 0;
    StartSession<Protocol>(std::move(socket));
    return AcceptNext();
  }
  if (ec == asio::error::operation_aborted || stopping) return;
  if (OutOfResources(ec)) {
    // Retrying at once would spin: the listening socket stays readable. Wait, or until a
    // connection closes and frees a descriptor.
    backoff_ms = backoff_ms == 0 ? 10 : std::min(backoff_ms * 2, 1000);
    // One line, not one per retry: at most every 10 s.
    const auto now = std::chrono::steady_clock::now();
    if (!out_of_resources_logged || now - last_resource_log >= std::chrono::seconds(10)) {
      Log("accept: " + ec.message() + " (" + std::to_string(connections.load()) +
          " connections open); pausing accepts, retrying after a back-off of up to 1 s or when a "
          "connection closes (logged at most every 10 s)");
      out_of_resources_logged = true;
      last_resource_log = now;
    }
    backoff_active = true;
    backoff_timer.expires_after(std::chrono::milliseconds(backoff_ms));
    backoff_timer.async_wait([w = weak_from_this()](beast::error_code) {
      auto self = w.lock();
      if (!self) return;
      self->backoff_active = false;
      self->AcceptNext();
    });
    return;
  }
  // An error of that one connection (ECONNABORTED, EPERM from a firewall): take the next.
  AcceptNext();
}

void HttpServer::Impl::OnConnectionClosed() {
  if (stopping) return;
  if (backoff_active) {
    backoff_timer.cancel();  // its handler accepts again
    return;
  }
  AcceptNext();
}

template <class Protocol, class Acceptor>
void HttpServer::Impl::TakeBacklog(Acceptor& acceptor) {
  beast::error_code ec;
  acceptor.non_blocking(true, ec);
  if (ec) return;
  // Bounded: the backlog is finite, and nothing new can queue once the socket is closed.
  for (int i = 0; i < 65536; ++i) {
    typename Protocol::socket socket(asio::make_strand(ioc));
    acceptor.accept(socket, ec);
    if (ec) return;  // would_block: empty; EMFILE and others: the rest are refused
    StartSession<Protocol>(std::move(socket));
  }
}

void HttpServer::Impl::CloseAcceptors() {
  // Connections the kernel has completed but we have not accepted would be reset by the close;
  // their clients may have written a request. Take them first, then close.
  beast::error_code ec;
  backoff_timer.cancel();
  if (tcp_acceptor && tcp_acceptor->is_open()) {
    TakeBacklog<tcp>(*tcp_acceptor);
    tcp_acceptor->close(ec);
  }
  if (unix_acceptor && unix_acceptor->is_open()) {
    TakeBacklog<unix_proto>(*unix_acceptor);
    unix_acceptor->close(ec);
  }
  acceptors_closed = true;
  std::lock_guard<std::mutex> lock(mu);
  drained.notify_all();
}

namespace {

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
};

// Makes `path` free for a new socket: absent, or a socket nobody listens on (then removed).
// Anything else there is an error and is left alone.
Status PrepareSocketPath(const Endpoint& ep, asio::io_context& ioc) {
  const std::string& path = ep.host;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IoError("listen on " + ep.ToString() + ": " + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    return Status::InvalidArgument("listen on " + ep.ToString() +
                                   ": the path is a symbolic link; refusing to replace it");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument("listen on " + ep.ToString() +
                                   ": the path exists and is not a socket; refusing to replace it");
  }
  // A stale socket from a previous run is replaced; a live one is an error.
  beast::error_code ec;
  unix_proto::socket probe(ioc);
  probe.connect(unix_proto::endpoint(path), ec);
  if (!ec) return Status::Unavailable("listen on " + ep.ToString() + ": a server answers there");
  if (ec != asio::error::connection_refused) {
    return Status::IoError(
        "listen on " + ep.ToString() +
        ": cannot tell whether a server listens on the socket there: " + ec.message());
  }
  // Remove it only if it is still the file looked at.
  struct stat again {};
  if (::lstat(path.c_str(), &again) != 0 || !S_ISSOCK(again.st_mode) || again.st_dev != st.st_dev ||
      again.st_ino != st.st_ino) {
    return Status::Unavailable("listen on " + ep.ToString() +
                               ": the path changed while it was being checked");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("listen on " + ep.ToString() +
                           ": removing the stale socket: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  ASSIGN_OR_RETURN(Endpoint ep, Endpoint::Parse(options.listen));
  if (!ep.IsLocal() && !options.allow_remote) {
    return Status::InvalidArgument("refusing to listen on " + ep.ToString() +
                                   ": not a loopback address or Unix socket (servers listen on "
                                   "loopback unless remote access is asked for explicitly)");
  }
  if (options.threads < 1) return Status::InvalidArgument("server threads must be >= 1");
  if (options.max_connections < 0) {
    return Status::InvalidArgument("max_connections must be >= 0 (0: from RLIMIT_NOFILE)");
  }
  auto shared = std::make_shared<Impl>(options.threads);
  Impl& impl = *shared;
  impl.options = options;
  impl.handler = std::move(handler);
  impl.max_connections =
      options.max_connections > 0 ? options.max_connections : DefaultMaxConnections();
  beast::error_code ec;
  if (ep.unix_socket) {
    RETURN_IF_ERROR(PrepareSocketPath(ep, impl.ioc));
    impl.unix_acceptor.emplace(impl.ioc);
    impl.unix_acceptor->open(unix_proto(), ec);
    // The socket file is created with the requested mode (no window with wider permissions).
    const mode_t old_mask = ::umask(0777 & ~options.unix_socket_mode);
    if (!ec) impl.unix_acceptor->bind(unix_proto::endpoint(ep.host), ec);
    ::umask(old_mask);
    if (!ec) {
      // What this server created, so that Stop removes that and nothing else.
      struct stat st {};
      if (::lstat(ep.host.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        impl.have_socket_id = true;
        impl.socket_dev = st.st_dev;
        impl.socket_ino = st.st_ino;
      }
      impl.unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) return Status::IoError("listen on " + ep.ToString() + ": " + ec.message());
  } else {
    tcp::resolver resolver(impl.ioc);
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("listen on " + ep.ToString() + ": cannot resolve '" + ep.host +
                                     "': " + ec.message());
    }
    tcp::endpoint bind_ep = results.begin()->endpoint();
    impl.tcp_acceptor.emplace(impl.ioc);
    impl.tcp_acceptor->open(bind_ep.protocol(), ec);
    if (!ec) impl.tcp_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl.tcp_acceptor->bind(bind_ep, ec);
    if (!ec) impl.tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::IoError("listen on " + ep.ToString() + ": " + ec.message());
    ep.port = impl.tcp_acceptor->local_endpoint().port();
  }
  impl.endpoint = ep;
  impl.work.emplace(impl.ioc.get_executor());
  asio::post(impl.accept_strand, [s = shared.get()] { s->AcceptNext(); });
  for (int i = 0; i < options.threads; ++i) {
    impl.threads.emplace_back([s = shared.get()] { s->ioc.run(); });
  }
  // The HttpServer owns one reference; sessions and responders own the others.
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(shared)));
}

const Endpoint& HttpServer::endpoint() const { return impl_->endpoint; }

int64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

int HttpServer::connections() const { return impl_->connections.load(); }

void HttpServer::Stop(std::chrono::milliseconds drain) {
  Impl& impl = *impl_;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.joined) return;
  }
  const auto deadline = std::chrono::steady_clock::now() + drain;
  impl.stopping = true;
  asio::post(impl.accept_strand, [s = impl_] { s->CloseAcceptors(); });
  for (auto& s : impl.LiveSessions()) s->BeginStop();
  {
    // Until every request is answered and every connection has closed (idle ones after the
    // grace), or the drain is over.
    std::unique_lock<std::mutex> lock(impl.mu);
    impl.drained.wait_until(lock, deadline, [&] {
      return impl.acceptors_closed.load() && impl.in_flight.load() == 0 && impl.sessions.empty();
    });
  }
  impl.stopped = true;
  for (auto& s : impl.LiveSessions()) s->Close();
  impl.work.reset();
  // run() returns once every connection has closed; a handler still holding a Responder keeps
  // nothing pending, so the join does not wait for it.
  for (auto& t : impl.threads) t.join();
  impl.threads.clear();
  if (impl.endpoint.unix_socket && impl.have_socket_id) {
    // Only the socket this server created: a file put there since is someone else's.
    struct stat st {};
    const std::string& path = impl.endpoint.host;
    if (::lstat(path.c_str(), &st) == 0) {
      if (S_ISSOCK(st.st_mode) && st.st_dev == impl.socket_dev && st.st_ino == impl.socket_ino) {
        ::unlink(path.c_str());
      } else {
        impl.Log("not removing " + path + ": it is no longer the socket this server created");
      }
    }
  }
  std::lock_guard<std::mutex> lock(impl.mu);
  impl.joined = true;
}

HttpServer::~HttpServer() {
  if (impl_) Stop(std::chrono::milliseconds(0));
}

}  // namespace autoscale
