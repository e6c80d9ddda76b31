// HttpServer on Boost.Beast: one strand per connection, HTTP/1.1 keep-alive, request size caps,
// and a drain on Stop() that answers every request already handed to the handler.
#include <sys/stat.h>
#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/strings.h"
#include "targets/http/beast.h"
#include "targets/http/http.h"

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
  // Closes the connection now when it waits for a request (idle keep-alive) or always (`force`).
  virtual void Close(bool force) = 0;
};

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

  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::mutex mu;
  std::condition_variable drained;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  bool joined = false;                                                    // guarded by mu

  explicit Impl(int threads) : ioc(threads) {}

  void Register(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions[s.get()] = s;
  }
  void Unregister(SessionBase* s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.erase(s);
  }
  void CloseSessions(bool force) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [p, w] : sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->Close(force);
  }
  void Answered() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu);
      drained.notify_all();
    }
  }

  void Accept();
};

namespace {

template <class Protocol>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;
  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::Impl> server,
          std::string peer)
      : stream_(std::move(socket)), server_(std::move(server)), peer_(std::move(peer)) {
    // Beast reads at most the buffer's free capacity (at least 512 bytes) per call: without room
    // a 600 KB tensor body arrives in ~1 KB reads. 64 KB per read takes it in ten.
    buffer_.reserve(64 * 1024);
  }
  ~Session() override { server_->Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Read(); });
  }

  void Close(bool force) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), force] {
      if (force || self->reading_) self->Shutdown();
    });
  }

 private:
  void Read() {
    if (server_->stopping) return Shutdown();
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
    // Idle connections wait idle_timeout_ms for a request; then it must arrive within
    // read_timeout_ms (re-armed once the header is in).
    stream_.expires_after(std::chrono::milliseconds(server_->options.idle_timeout_ms));
    reading_ = true;
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    stream_.expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnReadError(beast::error_code ec) {
    reading_ = false;
    if (ec == bhttp::error::body_limit) {
      std::string what = "request body exceeds the limit of " +
                         std::to_string(server_->options.max_body_bytes) + " bytes";
      if (parser_ && parser_->content_length()) {
        what = "request body of " + std::to_string(*parser_->content_length()) + " bytes " +
               what.substr(13);
      }
      return WriteError(413, what);
    }
    if (ec == bhttp::error::header_limit) {
      return WriteError(431, "request header exceeds the limit of " +
                                 std::to_string(server_->options.max_header_bytes) + " bytes");
    }
    // A clean close between requests, an idle timeout, or our own shutdown: just close.
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::eof || ec == asio::error::connection_reset) {
      return Shutdown();
    }
    // A request not received in full in time: the stream has closed the socket already, so
    // there is nobody to answer; the peer sees the connection close.
    if (ec == beast::error::timeout || ec == bhttp::error::partial_message) return Shutdown();
    return WriteError(400, "malformed HTTP request: " + ec.message());
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    reading_ = false;
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string().data(), req.method_string().size());
    r.target = std::string(req.target().data(), req.target().size());
    for (const auto& field : req) {
      const auto name = field.name_string();
      r.headers.emplace_back(AsciiLower(std::string_view(name.data(), name.size())),
                             std::string(field.value()));
    }
    r.body = std::move(req.body());
    r.peer = peer_;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    parser_.reset();
    stream_.expires_never();

    server_->in_flight.fetch_add(1);
    std::weak_ptr<HttpServer::Impl> weak_server = server_;
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

  // After a final response: stop sending, then discard what the peer still sends (for at most
  // a second) so that closing does not reset the connection before it reads our answer.
  void ShutdownGracefully() {
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
    reading_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_both, ec);
    stream_.close();
  }

  Stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::vector<char> discard_;
  size_t drained_ = 0;
  bool keep_alive_ = true;
  bool reading_ = false;
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

template <class Protocol, class Acceptor>
void AcceptLoop(std::shared_ptr<HttpServer::Impl> server, Acceptor& acceptor) {
  acceptor.async_accept(
      asio::make_strand(server->ioc),
      [server, &acceptor](beast::error_code ec, typename Protocol::socket socket) {
        if (ec == asio::error::operation_aborted || server->stopping) return;
        if (!ec) {
          std::string peer = PeerName<Protocol>(socket);
          auto s = std::make_shared<Session<Protocol>>(std::move(socket), server, peer);
          server->Register(s);
          s->Start();
        }
        AcceptLoop<Protocol>(server, acceptor);
      });
}

}  // namespace

void HttpServer::Impl::Accept() {
  if (tcp_acceptor) AcceptLoop<tcp>(shared_from_this(), *tcp_acceptor);
  if (unix_acceptor) AcceptLoop<unix_proto>(shared_from_this(), *unix_acceptor);
}

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
  auto shared = std::make_shared<Impl>(options.threads);
  Impl& impl = *shared;
  impl.options = options;
  impl.handler = std::move(handler);
  beast::error_code ec;
  if (ep.unix_socket) {
    namespace fs = std::filesystem;
    std::error_code fec;
    if (fs::is_socket(ep.host, fec)) {
      // A stale socket from a previous run is replaced; a live one is an error.
      unix_proto::socket probe(impl.ioc);
      probe.connect(unix_proto::endpoint(ep.host), ec);
      if (!ec)
        return Status::Unavailable("listen on " + ep.ToString() + ": a server answers there");
      fs::remove(ep.host, fec);
    } else if (fs::exists(ep.host, fec)) {
      return Status::InvalidArgument("listen on " + ep.ToString() +
                                     ": the path exists and is not a socket");
    }
    impl.unix_acceptor.emplace(impl.ioc);
    impl.unix_acceptor->open(unix_proto(), ec);
    // The socket file is created with the requested mode (no window with wider permissions).
    const mode_t old_mask = ::umask(0777 & ~options.unix_socket_mode);
    if (!ec) impl.unix_acceptor->bind(unix_proto::endpoint(ep.host), ec);
    ::umask(old_mask);
    if (!ec) ::chmod(ep.host.c_str(), options.unix_socket_mode);
    if (!ec) impl.unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
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
  impl.Accept();
  for (int i = 0; i < options.threads; ++i) {
    impl.threads.emplace_back([s = shared.get()] { s->ioc.run(); });
  }
  // The HttpServer owns one reference; sessions and responders own the others.
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(shared)));
}

const Endpoint& HttpServer::endpoint() const { return impl_->endpoint; }

int64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

void HttpServer::Stop(std::chrono::milliseconds drain) {
  Impl& impl = *impl_;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.joined) return;
  }
  impl.stopping = true;
  asio::post(impl.ioc, [s = impl_] {
    beast::error_code ec;
    if (s->tcp_acceptor) s->tcp_acceptor->close(ec);
    if (s->unix_acceptor) s->unix_acceptor->close(ec);
  });
  impl.CloseSessions(/*force=*/false);  // idle keep-alive connections
  {
    std::unique_lock<std::mutex> lock(impl.mu);
    impl.drained.wait_for(lock, drain, [&] { return impl.in_flight.load() == 0; });
  }
  impl.stopped = true;
  impl.CloseSessions(/*force=*/true);
  impl.work.reset();
  // run() returns once every connection has closed; a handler still holding a Responder keeps
  // nothing pending, so the join does not wait for it.
  for (auto& t : impl.threads) t.join();
  impl.threads.clear();
  if (impl.endpoint.unix_socket) {
    std::error_code fec;
    std::filesystem::remove(impl.endpoint.host, fec);
  }
  std::lock_guard<std::mutex> lock(impl.mu);
  impl.joined = true;
}

HttpServer::~HttpServer() {
  if (impl_) Stop(std::chrono::milliseconds(0));
}

}  // namespace autoscale
