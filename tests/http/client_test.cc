// HttpClient against a real HttpServer (and, for the retry case, a scripted POSIX-socket server):
// keep-alive reuse, concurrency, deadlines, refused connections, idle connections the server
// closed, Unix sockets, response size limits and shutdown with requests in flight.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "targets/http/http.h"

namespace autoscale {
namespace {

using namespace std::chrono_literals;

// Threads that answer requests later; joined before the server they answer for stops.
class Later {
 public:
  ~Later() { JoinAll(); }
  void After(std::chrono::milliseconds delay, Responder respond, HttpResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(
        [delay, r = std::move(respond), response = std::move(response)]() mutable {
          std::this_thread::sleep_for(delay);
          r(std::move(response));
        });
  }
  void JoinAll() {
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

HttpResponse Text(std::string body) {
  HttpResponse r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

// Answers "/echo" with the request body and what the server saw, "/slow?ms=N" after N ms,
// "/big?n=N" with N bytes, "/hold" never until Release() (or the server stops).
class TestServer {
 public:
  explicit TestServer(std::string listen = "127.0.0.1:0", int idle_timeout_ms = 30000) {
    HttpServerOptions o;
    o.listen = std::move(listen);
    o.idle_timeout_ms = idle_timeout_ms;
    o.threads = 2;
    auto s = HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
      Handle(std::move(req), std::move(respond));
    });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) server_ = std::move(s).value();
  }
  ~TestServer() {
    Release();
    later_.JoinAll();
    if (server_) server_->Stop(0ms);
  }
  Endpoint endpoint() const { return server_->endpoint(); }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : held_) r(Text("released"));
    held_.clear();
  }
  int requests() const { return requests_; }

 private:
  void Handle(HttpRequest&& req, Responder respond) {
    ++requests_;
    const std::string path(req.path());
    const std::string query =
        req.target.size() > path.size() ? req.target.substr(path.size() + 1) : std::string();
    auto arg = [&](const std::string& key) {
      return query.starts_with(key + "=") ? std::stoi(query.substr(key.size() + 1)) : 0;
    };
    if (path == "/echo") {
      HttpResponse r = Text(req.body);
      const std::string* ct = req.Header("content-type");
      const std::string* host = req.Header("host");
      r.headers.emplace_back("X-Seen-Content-Type", ct ? *ct : "");
      r.headers.emplace_back("X-Seen-Host", host ? *host : "");
      r.headers.emplace_back("X-Seen-Method", req.method);
      respond(std::move(r));
    } else if (path == "/slow") {
      later_.After(std::chrono::milliseconds(arg("ms")), std::move(respond), Text("late"));
    } else if (path == "/big") {
      respond(Text(std::string(arg("n"), 'x')));
    } else if (path == "/gather") {  // held until n requests are in, then all answered
      std::lock_guard<std::mutex> lock(mu_);
      gathered_.push_back(std::move(respond));
      if (static_cast<int>(gathered_.size()) == arg("n")) {
        for (auto& r : gathered_) r(Text("late"));
        gathered_.clear();
      }
    } else if (path == "/hold") {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(respond));
    } else {
      respond(ErrorResponse(404, "no route " + path));
    }
  }

  std::unique_ptr<HttpServer> server_;
  Later later_;
  std::mutex mu_;
  std::vector<Responder> held_;      // guarded by mu_
  std::vector<Responder> gathered_;  // guarded by mu_
  std::atomic<int> requests_{0};
};

HttpRequest Get(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

HttpRequest Post(std::string target, std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

std::unique_ptr<HttpClient> Client(const Endpoint& ep, HttpClientOptions o = {}) {
  auto c = HttpClient::Create(ep, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(HttpClient, KeepAliveReusesTheConnection) {
  TestServer server;
  auto client = Client(server.endpoint());
  auto a = client->Send(Post("/echo", "{\"x\": 1}"), 2s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "{\"x\": 1}");
  EXPECT_EQ(a->content_type, "text/plain");
  ASSERT_NE(a->Header("x-seen-content-type"), nullptr);  // names lower-cased
  EXPECT_EQ(*a->Header("x-seen-content-type"), "application/json");
  EXPECT_EQ(*a->Header("x-seen-host"), server.endpoint().ToString());
  EXPECT_FALSE(a->reused_connection);
  EXPECT_GT(a->connect_ms, 0);
  EXPECT_GE(a->elapsed_ms, a->connect_ms + a->write_ms);

  HttpRequest custom = Post("/echo", "raw");
  custom.headers.emplace_back("Content-Type", "application/octet-stream");
  auto b = client->Send(std::move(custom), 2s);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->reused_connection);
  EXPECT_EQ(b->connect_ms, 0);
  EXPECT_EQ(*b->Header("x-seen-content-type"), "application/octet-stream");

  auto c = client->Send(Get("/nowhere"), 2s);  // any status is a response
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->status, 404);
  EXPECT_TRUE(c->reused_connection);
}

// Sends `n` requests at once that the server answers only when all are in (requests that did
// not overlap would time out); returns how many went on reused connections, or -1 on a failure.
int ConcurrentRound(HttpClient& client, int n) {
  std::atomic<int> ok{0}, calls{0}, reused{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    client.Async(Get("/gather?n=" + std::to_string(n)), std::chrono::steady_clock::now() + 5s,
                 [&](Result<HttpResponse> r) {
                   if (r.ok() && r->body == "late") ++ok;
                   if (r.ok() && r->reused_connection) ++reused;
                   if (++calls == n) all.set_value();
                 });
  }
  if (all.get_future().wait_for(10s) != std::future_status::ready) return -1;
  std::this_thread::sleep_for(20ms);
  return ok == n && calls == n ? reused.load() : -1;
}

TEST(HttpClient, ConcurrentRequestsEachGetOneAnswer) {
  TestServer server;
  auto client = Client(server.endpoint());
  EXPECT_EQ(ConcurrentRound(*client, 16), 0);
  EXPECT_EQ(ConcurrentRound(*client, 16), 16);  // the pool kept all of them
  HttpClientOptions small;
  small.max_idle_connections = 4;
  auto capped = Client(server.endpoint(), small);
  EXPECT_EQ(ConcurrentRound(*capped, 8), 0);
  EXPECT_EQ(ConcurrentRound(*capped, 8), 4);
}

TEST(HttpClient, DeadlineExpiryClosesTheConnection) {
  TestServer server;
  auto client = Client(server.endpoint());
  ASSERT_TRUE(client->Send(Get("/echo"), 2s).ok());  // connected: the wait is for the answer
  auto r = client->Send(Get("/slow?ms=600"), 100ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("deadline of 100 ms passed while reading the response"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("GET /slow?ms=600 to 127.0.0.1:"), std::string::npos);
  // The timed-out connection is not reused.
  auto next = client->Send(Get("/echo"), 2s);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_FALSE(next->reused_connection);

  auto past = client->Send(Get("/echo"), -1ms);
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("deadline passed before the request was sent"),
            std::string::npos)
      << past.status().message();
}

TEST(HttpClient, ConnectionRefusedSaysWhere) {
  // A port that was free a moment ago.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  auto ep = Endpoint::Parse("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(ep.ok());
  auto client = Client(*ep);
  auto r = client->Send(Get("/"), 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST(HttpClient, IdleConnectionClosedByTheServerIsNotUsed) {
  TestServer server("127.0.0.1:0", /*idle_timeout_ms=*/100);
  auto client = Client(server.endpoint());
  ASSERT_TRUE(client->Send(Get("/echo"), 2s).ok());
  std::this_thread::sleep_for(400ms);
  auto r = client->Send(Get("/echo"), 2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->reused_connection);
}

// A server that answers the first request on each connection with keep-alive, then closes the
// connection when the next request arrives, without answering it: the client's second request
// fails on the reused connection before any response byte and must be retried.
class CloseOnSecondRequestServer {
 public:
  CloseOnSecondRequestServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CloseOnSecondRequestServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  static bool ReadRequest(int c) {
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, n);
    }
    return true;
  }
  void Serve() {
    for (int i = 0; i < 2; ++i) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      if (ReadRequest(c)) {
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
        EXPECT_EQ(::write(c, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
        char b;
        [[maybe_unused]] ssize_t n = ::read(c, &b, 1);  // the next request's first byte
      }
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(HttpClient, RetriesOnceWhenAReusedConnectionWasClosed) {
  CloseOnSecondRequestServer server;
  auto ep = Endpoint::Parse("127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(ep.ok());
  auto client = Client(*ep);
  auto a = client->Send(Get("/a"), 2s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = client->Send(Get("/b"), 2s);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->body, "ok");
  EXPECT_FALSE(b->reused_connection);  // answered on the fresh connection
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClient, UnixSocketRoundTrip) {
  const std::string path = "/tmp/autoscale_client_test_" + std::to_string(::getpid()) + ".sock";
  TestServer server("unix:" + path);
  auto client = Client(server.endpoint());
  for (int i = 0; i < 2; ++i) {
    auto r = client->Send(Post("/echo", "hello"), 2s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->body, "hello");
    EXPECT_EQ(*r->Header("x-seen-host"), "localhost");
    EXPECT_EQ(r->reused_connection, i == 1);
  }
}

TEST(HttpClient, OversizedResponseIsAnError) {
  TestServer server;
  HttpClientOptions o;
  o.max_response_bytes = 1000;
  auto client = Client(server.endpoint(), o);
  ASSERT_TRUE(client->Send(Get("/big?n=1000"), 2s).ok());
  auto r = client->Send(Get("/big?n=5000"), 2s);
  ASSERT_FALSE(r.ok()) << r->body.size();
  EXPECT_NE(r.status().message().find("response body over the limit of 1000 bytes"),
            std::string::npos)
      << r.status().message();
}

TEST(HttpClient, DestructorCancelsOutstandingRequests) {
  TestServer server;
  auto client = Client(server.endpoint());
  std::atomic<int> calls{0};
  std::string message;
  client->Async(Get("/hold"), std::chrono::steady_clock::now() + 30s, [&](Result<HttpResponse> r) {
    ++calls;
    message = r.ok() ? "ok" : r.status().message();
  });
  while (server.requests() == 0) std::this_thread::sleep_for(1ms);
  client.reset();
  EXPECT_EQ(calls, 1);
  EXPECT_NE(message.find("canceled, the client was shut down"), std::string::npos) << message;
}

TEST(HttpClient, DestroyedFromItsOwnCallback) {
  TestServer server;
  auto client = Client(server.endpoint());
  std::atomic<int> held_calls{0};
  client->Async(Get("/hold"), std::chrono::steady_clock::now() + 30s,
                [&](Result<HttpResponse> r) { ++held_calls; });
  while (server.requests() == 0) std::this_thread::sleep_for(1ms);
  std::promise<void> destroyed;
  client->Async(Get("/echo"), std::chrono::steady_clock::now() + 2s, [&](Result<HttpResponse> r) {
    EXPECT_TRUE(r.ok());
    client.reset();  // on the client's own thread
    EXPECT_EQ(held_calls, 1);
    destroyed.set_value();
  });
  ASSERT_EQ(destroyed.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(held_calls, 1);
}

}  // namespace
}  // namespace autoscale
